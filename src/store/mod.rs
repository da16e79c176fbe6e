//! The token store: users and tokens, behind the [`TokenStore`] trait.
//!
//! [`SledStore`] (the default) keeps them in an embedded sled database with
//! seeds and PINs encrypted at rest under a [`StoreKey`]; [`MemoryStore`]
//! serves tests. The only state that changes on the request path — the last
//! accepted step/counter — changes by compare-and-swap ([`TokenStore::commit_use`])
//! and is made durable by [`TokenStore::sync`], which concurrent callers share.

pub mod key;
pub mod memory;
pub mod sled;

use serde::{Deserialize, Serialize};

use crate::otp::{Algorithm, Kind};
use crate::secret::Secret;

pub use self::key::StoreKey;
pub use self::memory::MemoryStore;
pub use self::sled::SledStore;

/// A user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The login name, as the NAS sends it in User-Name.
    pub name: String,
    /// The PIN typed before the code; encrypted at rest.
    pub pin: Option<Secret>,
    /// A disabled user is always rejected.
    pub enabled: bool,
    /// Always ask for the code in a second step (PAP Access-Challenge).
    pub challenge: bool,
    /// Consecutive failed attempts.
    pub failures: u32,
    /// Locked until this Unix time.
    pub locked_until: Option<u64>,
    /// Creation time.
    pub created: u64,
    /// Last successful authentication.
    pub last_success: Option<u64>,
}

impl User {
    /// A new enabled user without PIN.
    pub fn new(name: impl Into<String>, now: u64) -> Self {
        User {
            name: name.into(),
            pin: None,
            enabled: true,
            challenge: false,
            failures: 0,
            locked_until: None,
            created: now,
            last_success: None,
        }
    }

    /// Is the user locked at `now`?
    pub fn locked_at(&self, now: u64) -> bool {
        self.locked_until.is_some_and(|t| now < t)
    }
}

/// A token's life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenState {
    /// Enrolled, waiting for its first code to confirm the user scanned it.
    Pending,
    /// Usable.
    Active,
    /// Kept but refused.
    Disabled,
}

impl TokenState {
    /// `pending`, `active` or `disabled`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenState::Pending => "pending",
            TokenState::Active => "active",
            TokenState::Disabled => "disabled",
        }
    }
}

/// A token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Unique id (e.g. `t-` + 12 hex digits).
    pub id: String,
    /// The owning user's name.
    pub owner: String,
    /// TOTP or HOTP.
    pub kind: Kind,
    /// The HMAC hash.
    pub algorithm: Algorithm,
    /// 6, 7 or 8.
    pub digits: u32,
    /// TOTP period in seconds.
    pub period: u32,
    /// The seed; encrypted at rest.
    pub seed: Secret,
    /// The last accepted step (TOTP) or counter (HOTP).
    pub last: Option<u64>,
    /// TOTP drift in steps.
    pub drift: i64,
    /// Life-cycle state.
    pub state: TokenState,
    /// Free text.
    pub description: String,
    /// Creation time.
    pub created: u64,
    /// Last accepted use.
    pub last_used: Option<u64>,
}

impl Token {
    /// The view the OTP engine needs.
    pub fn view(&self) -> crate::otp::TokenView<'_> {
        crate::otp::TokenView {
            kind: self.kind,
            algorithm: self.algorithm,
            digits: self.digits,
            period: self.period,
            seed: self.seed.expose(),
            last: self.last,
            drift: self.drift,
        }
    }
}

/// Store failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("user '{0}' already exists")]
    UserExists(String),
    #[error("no user '{0}'")]
    NoSuchUser(String),
    #[error("token '{0}' already exists")]
    TokenExists(String),
    #[error("no token '{0}'")]
    NoSuchToken(String),
    #[error("key file {path}: {why}")]
    Key { path: String, why: String },
    #[error("record {0} cannot be decrypted: wrong key file or damaged store")]
    Decrypt(String),
    #[error("record {0} is damaged: {1}")]
    Corrupt(String, String),
    #[error("store at {path}: {why}")]
    Open { path: String, why: String },
    #[error("store I/O: {0}")]
    Io(String),
}

/// Users and tokens. Every method is safe to call from many threads.
pub trait TokenStore: Send + Sync {
    /// One user.
    fn user(&self, name: &str) -> Result<Option<User>, StoreError>;
    /// All users, sorted by name.
    fn users(&self) -> Result<Vec<User>, StoreError>;
    /// Adds a user; [`StoreError::UserExists`] if the name is taken.
    fn insert_user(&self, user: &User) -> Result<(), StoreError>;
    /// Replaces a user's record; [`StoreError::NoSuchUser`] if absent.
    fn update_user(&self, user: &User) -> Result<(), StoreError>;
    /// Deletes a user and all their tokens.
    fn delete_user(&self, name: &str) -> Result<(), StoreError>;

    /// One token.
    fn token(&self, id: &str) -> Result<Option<Token>, StoreError>;
    /// All tokens, sorted by id.
    fn tokens(&self) -> Result<Vec<Token>, StoreError>;
    /// The tokens of one user, sorted by id.
    fn tokens_of(&self, owner: &str) -> Result<Vec<Token>, StoreError>;
    /// Adds a token; the owner must exist.
    fn insert_token(&self, token: &Token) -> Result<(), StoreError>;
    /// Replaces a token's record (admin changes, resync).
    fn update_token(&self, token: &Token) -> Result<(), StoreError>;
    /// Deletes a token.
    fn delete_token(&self, id: &str) -> Result<(), StoreError>;

    /// Compare-and-swap of a token's replay state: succeeds (true) only if
    /// its stored `last` still equals `expected_last`; then sets `last` to
    /// `new_last`, `drift`, `last_used = now`, and a pending token becomes
    /// active when `activate`. False when another request got there first.
    /// Not yet durable: call [`TokenStore::sync`] before acknowledging.
    fn commit_use(
        &self,
        id: &str,
        expected_last: Option<u64>,
        new_last: u64,
        drift: i64,
        now: u64,
        activate: bool,
    ) -> Result<bool, StoreError>;

    /// Atomically counts one failure; at `threshold` consecutive failures
    /// (0 = never) sets `locked_until = now + lock_secs`. Returns the user
    /// after the change, or `None` if there is no such user.
    fn record_failure(
        &self,
        name: &str,
        now: u64,
        threshold: u32,
        lock_secs: u64,
    ) -> Result<Option<User>, StoreError>;

    /// Atomically clears failures and lock and sets `last_success = now`.
    fn record_success(&self, name: &str, now: u64) -> Result<(), StoreError>;

    /// Makes every change so far durable. Concurrent callers share one
    /// flush (group commit): a caller returns once a flush that started
    /// after its call has finished.
    fn sync(&self) -> Result<(), StoreError>;

    /// (users, tokens) counts.
    fn counts(&self) -> Result<(usize, usize), StoreError>;
}
