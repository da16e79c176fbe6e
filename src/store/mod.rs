//! The token store: users and tokens, behind the [`TokenStore`] trait.
//!
//! [`SqliteStore`] (the default: one database file) and [`PgStore`]
//! (PostgreSQL, shared by several servers) keep them on one schema
//! ([`sql`]), seeds and PINs encrypted under a [`StoreKey`]; [`MemoryStore`]
//! serves tests. The request path's one write is [`TokenStore::commit`]: a
//! batch of Accepts, each a conditional update of its token's last used
//! step that wins only while the step is still ahead, and the failures to
//! count, in one transaction committed before any of the Accepts is sent.
//! The directory stores of radotp 0.1 (sled) and 0.2 (the file store) are
//! no engines any more: [`legacy`] only reads them, without writing, for
//! `radotp store migrate`.

pub mod key;
pub mod legacy;
pub mod memory;
pub mod open;
pub mod postgres;
pub mod sql;
pub mod sqlite;

use serde::{Deserialize, Serialize};

use crate::otp::{Algorithm, Kind};
use crate::secret::Secret;

pub use self::key::StoreKey;
pub use self::memory::MemoryStore;
pub use self::postgres::PgStore;
pub use self::sqlite::SqliteStore;

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
    /// Groups, most specific first: a single-valued reply attribute comes
    /// from the first group that sets it (see `radius::dictionary::merge`).
    pub groups: Vec<String>,
    /// The user's own reply attributes as `(attribute, value)` text, in
    /// order; checked against the dictionary when set, compiled per Accept.
    pub replies: Vec<(String, String)>,
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
            groups: Vec::new(),
            replies: Vec::new(),
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
    /// The owning user's name; empty for an unassigned token (a hardware
    /// token imported before it is handed out, see `radotp token assign`).
    pub owner: String,
    /// The hardware token's serial number (printed on it), unique when set.
    pub serial: Option<String>,
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

/// What an API key of the HTTP API may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiScope {
    /// Everything: the admin API under `/api/v1/` and `/validate/*`.
    Admin,
    /// Only `/validate/*` (where `[api] validate_requires_key` asks for a key).
    Validate,
}

impl ApiScope {
    /// `admin` or `validate`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::Admin => "admin",
            ApiScope::Validate => "validate",
        }
    }

    /// The scope of a stored name.
    pub fn parse(s: &str) -> Option<ApiScope> {
        match s {
            "admin" => Some(ApiScope::Admin),
            "validate" => Some(ApiScope::Validate),
            _ => None,
        }
    }

    /// May a key of this scope do what `needed` asks?
    pub fn allows(self, needed: ApiScope) -> bool {
        self == ApiScope::Admin || self == needed
    }
}

/// An API key of the HTTP API. The key itself is shown once, when it is
/// made; only its SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// A name for logs and the audit trail.
    pub name: String,
    /// SHA-256 of the key.
    pub hash: Vec<u8>,
    /// What it may do.
    pub scope: ApiScope,
    /// Creation time.
    pub created: u64,
    /// Last use (kept to the minute).
    pub last_used: Option<u64>,
}

/// One Accept's change to the store: the matched step or counter becomes the
/// token's `last`, if it is still ahead of the stored one. Decided and made
/// durable by [`TokenStore::commit`], before the Accept is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseCommit {
    /// The token that matched.
    pub token: String,
    /// Its owner.
    pub user: String,
    /// The `last` the verifier read (the compare-and-swap of stores that
    /// keep no conditional update of their own).
    pub expected_last: Option<u64>,
    /// The matched step (TOTP) or counter (HOTP).
    pub counter: u64,
    /// The drift to remember.
    pub drift: i64,
    /// Unix time of the Accept.
    pub now: u64,
    /// A pending token becomes active (first code of an enrolment).
    pub activate: bool,
    /// Also clear the user's failures and lock and set `last_success`.
    pub clear_user: bool,
    /// Also clear this source's failures and lock of the user (`[lockout]
    /// scope = "user+source"`; see [`SourceLock`]).
    pub clear_source: Option<String>,
}

/// One failed attempt to count towards the user's lockout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The user.
    pub user: String,
    /// Unix time of the attempt.
    pub now: u64,
    /// When the failures lock the user, and for how long.
    pub rule: LockRule,
    /// `None`: the failure counts against the user's own row; `Some`:
    /// against the user from this source only (`[lockout] scope =
    /// "user+source"`; see [`SourceLock`]).
    pub source: Option<String>,
}

/// The lockout state of one user from one source (`[lockout] scope =
/// "user+source"`: the client name, and `/` and the Calling-Station-Id
/// where the NAS sends one). Counted and locked by the rule of the user's
/// own row ([`LockRule`], [`count_failure`]), kept in its own table so that
/// servers on one database share it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLock {
    /// The source.
    pub source: String,
    /// Consecutive failed attempts from this source.
    pub failures: u32,
    /// This source is refused the user until this Unix time.
    pub locked_until: Option<u64>,
}

impl SourceLock {
    /// Is the user locked from this source at `now`?
    pub fn locked_at(&self, now: u64) -> bool {
        self.locked_until.is_some_and(|t| now < t)
    }
}

/// The lockout rule: every `threshold` consecutive failures (0: never) lock
/// the user; the first lock lasts `lock_secs`, each further one twice the
/// one before, up to `max_lock_secs`. A success clears the count, so the
/// next lock is a first one again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockRule {
    /// Consecutive failures per lock (0: never lock).
    pub threshold: u32,
    /// The first lock, seconds.
    pub lock_secs: u64,
    /// The longest lock, seconds (below `lock_secs`: no escalation).
    pub max_lock_secs: u64,
}

impl LockRule {
    /// A rule that never locks.
    pub const NEVER: LockRule = LockRule {
        threshold: 0,
        lock_secs: 0,
        max_lock_secs: 0,
    };

    /// How long the `n`-th lock since the last success lasts (n >= 1).
    pub fn duration(&self, n: u32) -> u64 {
        let max = self.max_lock_secs.max(self.lock_secs);
        let doublings = n.saturating_sub(1).min(63);
        self.lock_secs
            .checked_mul(1u64 << doublings)
            .map_or(max, |d| d.min(max))
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
    #[error("a token with serial '{0}' already exists")]
    SerialExists(String),
    #[error("key file {path}: {why}")]
    Key { path: String, why: String },
    #[error("record {0} cannot be decrypted: wrong key file or damaged store")]
    Decrypt(String),
    #[error("record {0} is damaged: {1}")]
    Corrupt(String, String),
    #[error("store at {0} is in use by another radotp process (a running or starting daemon, or another admin command)")]
    InUse(String),
    #[error("store at {path}: {why}")]
    Open { path: String, why: String },
    #[error("store I/O: {0}")]
    Io(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Invalid(String),
    #[error("API key '{0}' already exists")]
    ApiKeyExists(String),
    #[error("no API key '{0}'")]
    NoSuchApiKey(String),
}

fn no_source_locks() -> StoreError {
    StoreError::Invalid(
        "this store keeps no per-source locks (a store of radotp 0.1 or 0.2: `radotp store migrate` it)"
            .into(),
    )
}

fn no_api_keys() -> StoreError {
    StoreError::Invalid(
        "this store keeps no API keys (a store of radotp 0.1 or 0.2: `radotp store migrate` it)"
            .into(),
    )
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
    /// One user and their tokens (sorted by id) in one call: the request
    /// path's look-up. A store that keeps both in one record answers it with
    /// one read.
    fn user_with_tokens(&self, name: &str) -> Result<Option<(User, Vec<Token>)>, StoreError> {
        match self.user(name)? {
            None => Ok(None),
            Some(u) => Ok(Some((u, self.tokens_of(name)?))),
        }
    }
    /// [`TokenStore::user_with_tokens`] and the user's lockout state from
    /// `source` (`None`: no failure counted from there since the last
    /// success): the request path's look-up under `[lockout] scope =
    /// "user+source"`. The default adds one query to the look-up.
    #[allow(clippy::type_complexity)]
    fn user_with_tokens_from(
        &self,
        name: &str,
        source: &str,
    ) -> Result<Option<(User, Vec<Token>, Option<SourceLock>)>, StoreError> {
        match self.user_with_tokens(name)? {
            None => Ok(None),
            Some((u, t)) => {
                let l = self.source_lock(name, source)?;
                Ok(Some((u, t, l)))
            }
        }
    }
    /// The user's lockout state from one source, if any is kept.
    fn source_lock(&self, user: &str, source: &str) -> Result<Option<SourceLock>, StoreError> {
        let _ = (user, source);
        Ok(None)
    }
    /// Every source with a failure count or lock of the user, sorted by
    /// source (`radotp user show`).
    fn source_locks(&self, user: &str) -> Result<Vec<SourceLock>, StoreError> {
        let _ = user;
        Ok(Vec::new())
    }
    /// Atomically counts one failure of `user` from `source` (the rule of
    /// [`TokenStore::record_failure`], on the source's row). Returns the
    /// row after the change, or `None` if there is no such user.
    fn record_source_failure(
        &self,
        user: &str,
        source: &str,
        now: u64,
        rule: LockRule,
    ) -> Result<Option<SourceLock>, StoreError> {
        let _ = (user, source, now, rule);
        Err(no_source_locks())
    }
    /// Forgets the user's failures and lock from `source` (a success from
    /// there), or from every source (`None`: `radotp user unlock`).
    fn clear_source_locks(&self, user: &str, source: Option<&str>) -> Result<(), StoreError> {
        let _ = (user, source);
        Ok(())
    }
    /// Every user with the number of their tokens, handed to `f` a page
    /// (at most `page` users) at a time, in the store's own order (not
    /// sorted): a listing that holds one page in memory, not the store.
    /// No lock is held while `f` runs, so a slow reader of the listing
    /// holds up no request and `f` may call the store. An unchanged user is
    /// handed over exactly once; one changed during the listing at least
    /// once, and if twice the later is the newer; one added during the
    /// listing may be missed.
    /// An error from `f` stops the listing and is returned.
    fn each_user_page(
        &self,
        page: usize,
        f: &mut dyn FnMut(Vec<(User, usize)>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut owned: std::collections::HashMap<String, usize> = Default::default();
        for t in self.tokens()? {
            *owned.entry(t.owner).or_default() += 1;
        }
        let mut users = self.users()?.into_iter().peekable();
        while users.peek().is_some() {
            let part = users
                .by_ref()
                .take(page.max(1))
                .map(|u| {
                    let n = owned.get(&u.name).copied().unwrap_or(0);
                    (u, n)
                })
                .collect();
            f(part)?;
        }
        Ok(())
    }

    /// Every token, a page at a time, as [`TokenStore::each_user_page`].
    fn each_token_page(
        &self,
        page: usize,
        f: &mut dyn FnMut(Vec<Token>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut tokens = self.tokens()?.into_iter().peekable();
        while tokens.peek().is_some() {
            f(tokens.by_ref().take(page.max(1)).collect())?;
        }
        Ok(())
    }

    /// The token with this hardware serial. The default reads every token
    /// (the old formats); the SQL stores use their unique index.
    fn token_by_serial(&self, serial: &str) -> Result<Option<Token>, StoreError> {
        Ok(self
            .tokens()?
            .into_iter()
            .find(|t| t.serial.as_deref() == Some(serial)))
    }

    /// The token named by `id_or_serial`: its id, else its hardware serial.
    fn find_token(&self, id_or_serial: &str) -> Result<Option<Token>, StoreError> {
        match self.token(id_or_serial)? {
            Some(t) => Ok(Some(t)),
            None => self.token_by_serial(id_or_serial),
        }
    }

    /// Adds a token; the owner must exist (or be empty: unassigned) and a
    /// serial must be new ([`StoreError::SerialExists`]).
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

    /// The request path's one write: in one durable transaction, each
    /// use in `uses` wins (true) when its counter is still ahead of the
    /// token's stored `last` (or nothing was used yet) and then sets it,
    /// and every failure in `failures` is counted. Durable when it returns
    /// `Ok`; on `Err` nothing may be assumed written and no Accept may be
    /// sent. A use of a deleted token loses. Concurrent calls, from this
    /// process or from another server on the same database, never let
    /// two uses of one token with the same counter both win.
    ///
    /// The default serves stores without transactions (memory, the old
    /// formats): compare-and-swap per use, then [`TokenStore::sync`].
    fn commit(&self, uses: &[UseCommit], failures: &[Failure]) -> Result<Vec<bool>, StoreError> {
        let mut won = Vec::with_capacity(uses.len());
        for u in uses {
            let mut expected = u.expected_last;
            let mut ok = false;
            for _ in 0..4 {
                if expected.is_some_and(|l| l >= u.counter) {
                    break;
                }
                match self.commit_use(&u.token, expected, u.counter, u.drift, u.now, u.activate) {
                    Ok(true) => {
                        ok = true;
                        break;
                    }
                    Ok(false) => match self.token(&u.token)? {
                        Some(t) => expected = t.last,
                        None => break,
                    },
                    Err(StoreError::NoSuchToken(_)) => break,
                    Err(e) => return Err(e),
                }
            }
            if ok && u.clear_user {
                match self.record_success(&u.user, u.now) {
                    Ok(()) | Err(StoreError::NoSuchUser(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            if let (true, Some(src)) = (ok, &u.clear_source) {
                self.clear_source_locks(&u.user, Some(src))?;
            }
            won.push(ok);
        }
        for f in failures {
            match &f.source {
                None => self.record_failure(&f.user, f.now, f.rule).map(drop)?,
                Some(src) => self
                    .record_source_failure(&f.user, src, f.now, f.rule)
                    .map(drop)?,
            }
        }
        self.sync()?;
        Ok(won)
    }

    /// Atomically counts one failure; at each multiple of the rule's
    /// threshold sets `locked_until` (see [`LockRule`]). Returns the user
    /// after the change, or `None` if there is no such user.
    fn record_failure(
        &self,
        name: &str,
        now: u64,
        rule: LockRule,
    ) -> Result<Option<User>, StoreError>;

    /// Atomically clears failures and lock and sets `last_success = now`.
    fn record_success(&self, name: &str, now: u64) -> Result<(), StoreError>;

    /// Makes every change so far durable. Concurrent callers share one
    /// flush (group commit): a caller returns once a flush that started
    /// after its call has finished.
    fn sync(&self) -> Result<(), StoreError>;

    /// Flushes to disk done by [`TokenStore::sync`] so far (group commit:
    /// fewer than its callers), where the store counts them.
    fn flushes(&self) -> Option<u64> {
        None
    }

    /// (users, tokens) counts.
    fn counts(&self) -> Result<(usize, usize), StoreError>;

    /// Bulk import: adds the `users` that do not exist yet (existing ones
    /// are left untouched), then the `tokens`. Everything is checked before
    /// anything is written: [`StoreError::TokenExists`] if a token id is
    /// already stored or repeated, [`StoreError::NoSuchUser`] if an owner is
    /// neither stored nor among `users`. Written in large batches without a
    /// flush per record; call [`TokenStore::sync`] afterwards.
    fn import(&self, users: &[User], tokens: &[Token]) -> Result<(), StoreError>;

    /// Every API key, sorted by name. Stores without the table (the old
    /// formats) refuse every API-key call.
    fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        Err(no_api_keys())
    }
    /// Adds an API key; [`StoreError::ApiKeyExists`] if the name is taken.
    fn insert_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        let _ = key;
        Err(no_api_keys())
    }
    /// Deletes an API key; [`StoreError::NoSuchApiKey`] if absent.
    fn delete_api_key(&self, name: &str) -> Result<(), StoreError> {
        let _ = name;
        Err(no_api_keys())
    }
    /// Records a use: `last_used = now` (a key deleted meanwhile: nothing).
    fn touch_api_key(&self, name: &str, now: u64) -> Result<(), StoreError> {
        let _ = (name, now);
        Err(no_api_keys())
    }
}

/// `prefix` followed by `name`: the associated data of a sealed PIN or seed.
pub(crate) fn aad(prefix: &[u8], name: &str) -> Vec<u8> {
    let mut a = Vec::with_capacity(prefix.len() + name.len());
    a.extend_from_slice(prefix);
    a.extend_from_slice(name.as_bytes());
    a
}

/// `f` over `items` on up to 4 threads (sealing dominates bulk imports),
/// results in order.
pub(crate) fn par_map<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> R + Sync,
) -> Result<Vec<R>, StoreError> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if workers < 2 || items.len() < 1024 {
        return Ok(items.iter().map(f).collect());
    }
    let f = &f;
    std::thread::scope(|sc| {
        let parts: Vec<_> = items
            .chunks(items.len().div_ceil(workers))
            .map(|part| sc.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for p in parts {
            out.extend(
                p.join()
                    .map_err(|_| StoreError::Io("a sealing thread panicked".into()))?,
            );
        }
        Ok(out)
    })
}

/// The failure-counting rule shared by the stores: one more consecutive
/// failure; each time the count reaches a multiple of the threshold
/// (0 = never) the user is locked, the `n`-th time for
/// [`LockRule::duration`]`(n)`. Counting on after a lock expires therefore
/// allows another `threshold` attempts before the next, longer lock.
pub(crate) fn count_failure(
    failures: &mut u32,
    locked_until: &mut Option<u64>,
    now: u64,
    rule: LockRule,
) {
    *failures = failures.saturating_add(1);
    if rule.threshold != 0 && (*failures).is_multiple_of(rule.threshold) {
        let n = *failures / rule.threshold;
        *locked_until = Some(now.saturating_add(rule.duration(n)));
    }
}

/// The behaviour every [`TokenStore`] must have, run against each engine
/// (here, and by tests/postgres.rs against a real PostgreSQL).
#[doc(hidden)]
pub mod conformance {

    use super::*;
    use std::sync::Barrier;

    /// A rule without escalation.
    fn rule(threshold: u32, lock_secs: u64) -> LockRule {
        LockRule {
            threshold,
            lock_secs,
            max_lock_secs: lock_secs,
        }
    }

    /// A factory of fresh, empty stores.
    pub type MakeStore<'a> = &'a dyn Fn() -> Box<dyn TokenStore>;

    pub fn token(id: &str, owner: &str, seed: &[u8]) -> Token {
        Token {
            id: id.to_string(),
            owner: owner.to_string(),
            serial: None,
            kind: Kind::Totp,
            algorithm: Algorithm::Sha1,
            digits: 6,
            period: 30,
            seed: Secret::new(seed.to_vec()),
            last: None,
            drift: 0,
            state: TokenState::Pending,
            description: format!("token {id}"),
            created: 1_700_000_000,
            last_used: None,
        }
    }

    /// Runs every shared check, each on a fresh store.
    pub fn suite(make: MakeStore<'_>) {
        suite_without_api_keys(make);
        api_keys_are_kept_by_name_and_deleted(&*make());
        groups_and_replies_keep_their_order_through_every_read(&*make());
        hardware_serials_are_unique_and_tokens_may_be_unassigned(&*make());
        source_locks_count_per_user_and_source_and_clear_apart(&*make());
    }

    /// Every check but the API keys', for the 0.1 and 0.2 formats: they
    /// keep none (and refuse every API-key call), being only read by
    /// `radotp store migrate`.
    pub fn suite_without_api_keys(make: MakeStore<'_>) {
        crud_and_errors(&*make());
        tokens_of_lists_one_users_tokens_sorted(&*make());
        pages_hand_over_every_user_and_token_with_counts(&*make());
        delete_user_removes_their_tokens(&*make());
        commit_use_is_compare_and_swap(&*make());
        commit_use_race_has_exactly_one_winner(&*make());
        commit_decides_each_use_once_and_counts_failures(&*make());
        commit_race_of_one_code_has_exactly_one_winner(&*make());
        record_failure_locks_at_threshold_until_expiry(&*make());
        lock_escalates_by_doubling_to_the_cap_and_success_resets(&*make());
        import_adds_new_users_and_tokens(&*make());
        sync_from_many_threads_returns(&*make());
    }

    fn api_keys_are_kept_by_name_and_deleted(s: &dyn TokenStore) {
        assert!(s.api_keys().unwrap().is_empty());
        let key = |name: &str, scope| ApiKey {
            name: name.into(),
            hash: vec![name.len() as u8; 32],
            scope,
            created: 1_700_000_000,
            last_used: None,
        };
        s.insert_api_key(&key("ops", ApiScope::Admin)).unwrap();
        s.insert_api_key(&key("portal", ApiScope::Validate))
            .unwrap();
        s.insert_api_key(&key("b", ApiScope::Admin)).unwrap();
        assert!(matches!(
            s.insert_api_key(&key("ops", ApiScope::Validate)),
            Err(StoreError::ApiKeyExists(n)) if n == "ops"
        ));
        let all = s.api_keys().unwrap();
        let names: Vec<&str> = all.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(names, ["b", "ops", "portal"], "sorted by name");
        assert_eq!(all[1], key("ops", ApiScope::Admin), "the first one kept");
        assert_eq!(all[2].scope, ApiScope::Validate);
        s.touch_api_key("portal", 1_700_000_500).unwrap();
        s.touch_api_key("gone", 1).unwrap();
        let portal = s.api_keys().unwrap().pop().unwrap();
        assert_eq!(portal.last_used, Some(1_700_000_500));
        assert_eq!(portal.hash, vec![6u8; 32]);
        s.delete_api_key("ops").unwrap();
        assert!(matches!(
            s.delete_api_key("ops"),
            Err(StoreError::NoSuchApiKey(n)) if n == "ops"
        ));
        assert_eq!(s.api_keys().unwrap().len(), 2);
        // Keys are not users or tokens.
        assert_eq!(s.counts().unwrap(), (0, 0));
    }

    /// Groups and reply attributes survive insert, update, import and
    /// every way a user is read, in their order; bad names are refused.
    fn groups_and_replies_keep_their_order_through_every_read(s: &dyn TokenStore) {
        let mut u = User::new("alice", 1);
        u.groups = vec!["vpn".into(), "admins".into(), "b".into()];
        u.replies = vec![
            ("Cisco-AVPair".into(), "shell:priv-lvl=15".into()),
            ("Cisco-AVPair".into(), "shell:roles=network-admin".into()),
            ("Class".into(), String::new()),
        ];
        s.insert_user(&u).unwrap();
        s.insert_token(&token("t-a", "alice", b"0123456789abcdef0123"))
            .unwrap();
        assert_eq!(s.user("alice").unwrap().as_ref(), Some(&u));
        let (got, tokens) = s.user_with_tokens("alice").unwrap().unwrap();
        assert_eq!((got, tokens.len()), (u.clone(), 1));
        assert_eq!(s.users().unwrap(), vec![u.clone()]);
        let mut paged = Vec::new();
        s.each_user_page(10, &mut |p| {
            paged.extend(p);
            Ok(())
        })
        .unwrap();
        assert_eq!(paged, vec![(u.clone(), 1)]);
        // Reordered, shortened, emptied: the store follows.
        u.groups = vec!["b".into(), "vpn".into()];
        u.replies.truncate(1);
        s.update_user(&u).unwrap();
        assert_eq!(s.user("alice").unwrap().as_ref(), Some(&u));
        u.groups.clear();
        u.replies.clear();
        s.update_user(&u).unwrap();
        assert_eq!(s.user("alice").unwrap().as_ref(), Some(&u));
        // A lock keeps them.
        u.groups = vec!["ops".into()];
        s.update_user(&u).unwrap();
        let locked = s.record_failure("alice", 5, rule(1, 60)).unwrap().unwrap();
        assert_eq!(locked.groups, u.groups);
        // Import carries them.
        let mut bob = User::new("bob", 2);
        bob.groups = vec!["vpn".into()];
        bob.replies = vec![("Filter-Id".into(), "staff".into())];
        s.import(&[bob.clone()], &[]).unwrap();
        assert_eq!(s.user("bob").unwrap().as_ref(), Some(&bob));
        // Names the aggregated read could not give back are refused.
        for bad in [
            vec!["a\u{1f}b".to_string()],
            vec![String::new()],
            vec!["x".into(), "x".into()],
        ] {
            let mut c = User::new("carol", 3);
            c.groups = bad;
            assert!(matches!(s.insert_user(&c), Err(StoreError::Invalid(_))));
        }
        let mut c = User::new("carol", 3);
        c.replies = vec![("Class".into(), "a\u{1e}b".into())];
        assert!(matches!(s.insert_user(&c), Err(StoreError::Invalid(_))));
        assert!(s.user("carol").unwrap().is_none());
        // Deleting the user deletes them; a new user of that name has none.
        s.delete_user("bob").unwrap();
        s.insert_user(&User::new("bob", 4)).unwrap();
        assert!(s.user("bob").unwrap().unwrap().groups.is_empty());
    }

    fn crud_and_errors(s: &dyn TokenStore) {
        assert_eq!(s.counts().unwrap(), (0, 0));
        assert!(s.user("alice").unwrap().is_none());
        let mut alice = User::new("alice", 100);
        alice.pin = Some(Secret::from("1234"));
        alice.challenge = true;
        s.insert_user(&alice).unwrap();
        assert!(matches!(
            s.insert_user(&User::new("alice", 5)),
            Err(StoreError::UserExists(n)) if n == "alice"
        ));
        assert_eq!(s.user("alice").unwrap().as_ref(), Some(&alice));
        s.insert_user(&User::new("bob", 200)).unwrap();
        let names: Vec<String> = s.users().unwrap().into_iter().map(|u| u.name).collect();
        assert_eq!(names, ["alice", "bob"]);

        alice.enabled = false;
        alice.pin = Some(Secret::from("9999"));
        alice.locked_until = Some(77);
        alice.last_success = Some(66);
        alice.failures = 3;
        s.update_user(&alice).unwrap();
        assert_eq!(s.user("alice").unwrap().as_ref(), Some(&alice));
        alice.pin = None;
        s.update_user(&alice).unwrap();
        assert_eq!(s.user("alice").unwrap().unwrap().pin, None);
        assert!(matches!(
            s.update_user(&User::new("carol", 1)),
            Err(StoreError::NoSuchUser(n)) if n == "carol"
        ));
        assert!(s.user("carol").unwrap().is_none());

        let mut t = token("t-1", "alice", b"seed-one-0123456789");
        t.kind = Kind::Hotp;
        t.algorithm = Algorithm::Sm3;
        t.digits = 8;
        t.period = 60;
        // The largest values every engine holds (SQL integers are signed).
        t.last = Some(i64::MAX as u64);
        t.drift = -3;
        t.last_used = Some(i64::MAX as u64 - 1);
        t.state = TokenState::Disabled;
        s.insert_token(&t).unwrap();
        assert_eq!(s.token("t-1").unwrap().as_ref(), Some(&t));
        assert!(matches!(
            s.insert_token(&token("t-1", "bob", b"x")),
            Err(StoreError::TokenExists(i)) if i == "t-1"
        ));
        assert!(matches!(
            s.insert_token(&token("t-2", "nobody", b"x")),
            Err(StoreError::NoSuchUser(n)) if n == "nobody"
        ));
        assert!(s.token("t-2").unwrap().is_none());
        s.insert_token(&token("t-0", "bob", b"seed-zero")).unwrap();
        let ids: Vec<String> = s.tokens().unwrap().into_iter().map(|t| t.id).collect();
        assert_eq!(ids, ["t-0", "t-1"]);
        assert_eq!(s.counts().unwrap(), (2, 2));

        t.description = "changed".into();
        t.seed = Secret::new(b"another seed".to_vec());
        t.drift = i64::MIN;
        t.owner = "bob".into();
        s.update_token(&t).unwrap();
        assert_eq!(s.token("t-1").unwrap().as_ref(), Some(&t));
        assert_eq!(
            s.tokens_of("bob").unwrap().len(),
            2,
            "owner change moves the token"
        );
        assert!(s.tokens_of("alice").unwrap().is_empty());
        assert!(matches!(
            s.update_token(&token("t-9", "bob", b"x")),
            Err(StoreError::NoSuchToken(i)) if i == "t-9"
        ));
        assert!(matches!(
            s.update_token(&token("t-1", "nobody", b"x")),
            Err(StoreError::NoSuchUser(_))
        ));

        s.delete_token("t-1").unwrap();
        assert!(s.token("t-1").unwrap().is_none());
        assert!(matches!(
            s.delete_token("t-1"),
            Err(StoreError::NoSuchToken(_))
        ));
        assert_eq!(s.tokens_of("bob").unwrap().len(), 1);
        assert!(matches!(
            s.delete_user("carol"),
            Err(StoreError::NoSuchUser(_))
        ));
        assert!(matches!(
            s.record_success("carol", 1),
            Err(StoreError::NoSuchUser(_))
        ));
        assert!(s.record_failure("carol", 1, rule(3, 60)).unwrap().is_none());
        assert!(matches!(
            s.commit_use("t-9", None, 1, 0, 1, false),
            Err(StoreError::NoSuchToken(_))
        ));
        assert_eq!(s.counts().unwrap(), (2, 1));
    }

    fn tokens_of_lists_one_users_tokens_sorted(s: &dyn TokenStore) {
        for name in ["al", "alice", "alicex", "b"] {
            s.insert_user(&User::new(name, 1)).unwrap();
        }
        for (id, owner) in [
            ("t-3", "alice"),
            ("t-1", "alice"),
            ("t-2", "al"),
            ("t-4", "alicex"),
            ("t-0", "alice"),
        ] {
            s.insert_token(&token(id, owner, id.as_bytes())).unwrap();
        }
        let ids = |o: &str| -> Vec<String> {
            s.tokens_of(o).unwrap().into_iter().map(|t| t.id).collect()
        };
        assert_eq!(ids("alice"), ["t-0", "t-1", "t-3"]);
        assert_eq!(ids("al"), ["t-2"]);
        assert_eq!(ids("alicex"), ["t-4"]);
        assert!(ids("b").is_empty());
        assert!(ids("nobody").is_empty());
        assert!(ids("").is_empty());
        assert_eq!(s.tokens_of("alice").unwrap()[1].seed.expose(), b"t-1");
    }

    fn pages_hand_over_every_user_and_token_with_counts(s: &dyn TokenStore) {
        // 23 users; user i has i % 3 tokens; two deleted afterwards, one token
        // deleted: neither may show up.
        for i in 0..23 {
            s.insert_user(&User::new(format!("p{i:02}"), 1)).unwrap();
            for k in 0..i % 3 {
                let id = format!("t{i:02}-{k}");
                s.insert_token(&token(&id, &format!("p{i:02}"), b"x"))
                    .unwrap();
            }
        }
        s.delete_user("p04").unwrap();
        s.delete_user("p20").unwrap();
        s.delete_token("t05-1").unwrap();
        let counts = |name: &str| -> usize {
            let i: usize = name[1..].parse().unwrap();
            i % 3 - usize::from(name == "p05")
        };
        for page in [1, 4, 1000] {
            let mut names = Vec::new();
            s.each_user_page(page, &mut |p| {
                assert!(
                    !p.is_empty() && p.len() <= page,
                    "page of {page}: {}",
                    p.len()
                );
                for (u, n) in p {
                    assert_eq!(n, counts(&u.name), "{}'s tokens", u.name);
                    names.push(u.name);
                }
                Ok(())
            })
            .unwrap();
            names.sort();
            let want: Vec<String> = (0..23)
                .filter(|i| ![4, 20].contains(i))
                .map(|i| format!("p{i:02}"))
                .collect();
            assert_eq!(names, want, "pages of {page}: every user once");

            let mut ids = Vec::new();
            s.each_token_page(page, &mut |p| {
                // A page may run over by the tokens of its last user.
                assert!(
                    !p.is_empty() && p.len() <= page + 1,
                    "page of {page}: {}",
                    p.len()
                );
                ids.extend(p.into_iter().map(|t| t.id));
                Ok(())
            })
            .unwrap();
            ids.sort();
            let want: Vec<String> = s.tokens().unwrap().into_iter().map(|t| t.id).collect();
            assert_eq!(ids.len(), 18, "{ids:?}");
            assert_eq!(ids, want, "pages of {page}: every token once");
        }

        // The store may be changed between pages (no lock is held): a user
        // changed during the listing is still handed over; an error from the
        // reader stops the listing.
        let mut seen: Vec<User> = Vec::new();
        s.each_user_page(5, &mut |p| {
            if seen.is_empty() {
                let mut u = s.user("p22").unwrap().unwrap();
                u.enabled = false;
                s.update_user(&u).unwrap();
                let mut u = s.user(&p[0].0.name).unwrap().unwrap();
                u.challenge = true;
                s.update_user(&u).unwrap();
            }
            seen.extend(p.into_iter().map(|(u, _)| u));
            Ok(())
        })
        .unwrap();
        let mut names: Vec<&str> = seen.iter().map(|u| u.name.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 21, "every user at least once");

        let mut calls = 0;
        let r = s.each_user_page(2, &mut |_| {
            calls += 1;
            Err(StoreError::Io("reader went away".into()))
        });
        assert!(matches!(r, Err(StoreError::Io(m)) if m == "reader went away"));
        assert_eq!(calls, 1, "the first error stops the listing");
    }

    fn delete_user_removes_their_tokens(s: &dyn TokenStore) {
        s.insert_user(&User::new("u1", 1)).unwrap();
        s.insert_user(&User::new("u2", 1)).unwrap();
        for i in 0..5 {
            s.insert_token(&token(&format!("a{i}"), "u1", b"s"))
                .unwrap();
        }
        s.insert_token(&token("b0", "u2", b"s")).unwrap();
        s.delete_user("u1").unwrap();
        assert!(s.user("u1").unwrap().is_none());
        assert!(s.tokens_of("u1").unwrap().is_empty());
        assert!((0..5).all(|i| s.token(&format!("a{i}")).unwrap().is_none()));
        assert_eq!(s.tokens().unwrap().len(), 1);
        assert_eq!(s.counts().unwrap(), (1, 1));
        // The name can be reused with no leftover tokens.
        s.insert_user(&User::new("u1", 2)).unwrap();
        assert!(s.tokens_of("u1").unwrap().is_empty());
        s.insert_token(&token("a0", "u1", b"s")).unwrap();
        assert_eq!(s.tokens_of("u1").unwrap().len(), 1);
    }

    fn commit_use_is_compare_and_swap(s: &dyn TokenStore) {
        s.insert_user(&User::new("u", 1)).unwrap();
        s.insert_token(&token("t", "u", b"seed")).unwrap();
        // Wrong expectation: nothing changes.
        assert!(!s.commit_use("t", Some(5), 6, 1, 10, true).unwrap());
        let t = s.token("t").unwrap().unwrap();
        assert_eq!(
            (t.last, t.state, t.last_used),
            (None, TokenState::Pending, None)
        );
        // Without activation a pending token stays pending.
        assert!(s.commit_use("t", None, 100, -1, 11, false).unwrap());
        let t = s.token("t").unwrap().unwrap();
        assert_eq!(
            (t.last, t.drift, t.last_used, t.state),
            (Some(100), -1, Some(11), TokenState::Pending)
        );
        // A replay of the same transition fails.
        assert!(!s.commit_use("t", None, 100, -1, 12, true).unwrap());
        assert!(s.commit_use("t", Some(100), 101, 2, 13, true).unwrap());
        let t = s.token("t").unwrap().unwrap();
        assert_eq!(
            (t.last, t.drift, t.last_used, t.state),
            (Some(101), 2, Some(13), TokenState::Active)
        );
        assert_eq!(t.seed.expose(), b"seed", "the seed survives");
        // Activation never revives a disabled token.
        let mut d = t.clone();
        d.state = TokenState::Disabled;
        s.update_token(&d).unwrap();
        assert!(s.commit_use("t", Some(101), 102, 0, 14, true).unwrap());
        assert_eq!(s.token("t").unwrap().unwrap().state, TokenState::Disabled);
    }

    fn commit_use_race_has_exactly_one_winner(s: &dyn TokenStore) {
        s.insert_user(&User::new("u", 1)).unwrap();
        s.insert_token(&token("t", "u", b"seed")).unwrap();
        assert!(s.commit_use("t", None, 1000, 0, 1, true).unwrap());
        for round in 0..20u64 {
            let expected = 1000 + round;
            let barrier = Barrier::new(8);
            let wins: usize = std::thread::scope(|sc| {
                let hs: Vec<_> = (0..8u64)
                    .map(|i| {
                        let b = &barrier;
                        sc.spawn(move || {
                            b.wait();
                            s.commit_use("t", Some(expected), expected + 1, i as i64, i, false)
                                .unwrap()
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| usize::from(h.join().unwrap())).sum()
            });
            assert_eq!(wins, 1, "round {round}");
            assert_eq!(s.token("t").unwrap().unwrap().last, Some(expected + 1));
        }
    }

    pub fn use_of(token: &str, user: &str, expected: Option<u64>, counter: u64) -> UseCommit {
        UseCommit {
            token: token.into(),
            user: user.into(),
            expected_last: expected,
            counter,
            drift: 1,
            now: 5_000,
            activate: false,
            clear_user: false,
            clear_source: None,
        }
    }

    /// RFC 6238 §5.2 (one use per code), decided by the commit itself.
    fn commit_decides_each_use_once_and_counts_failures(s: &dyn TokenStore) {
        s.insert_user(&User::new("u", 1)).unwrap();
        s.insert_user(&User::new("v", 1)).unwrap();
        s.insert_token(&token("t", "u", b"seed")).unwrap();
        s.insert_token(&token("w", "v", b"seed")).unwrap();
        let fail = |user: &str| Failure {
            user: user.into(),
            now: 4_000,
            rule: rule(3, 60),
            source: None,
        };
        // Two failures and a first use in one batch.
        let won = s
            .commit(&[use_of("t", "u", None, 100)], &[fail("u"), fail("u")])
            .unwrap();
        assert_eq!(won, [true]);
        let t = s.token("t").unwrap().unwrap();
        assert_eq!((t.last, t.drift, t.last_used), (Some(100), 1, Some(5_000)));
        assert_eq!(t.state, TokenState::Pending, "no activation asked");
        assert_eq!(s.user("u").unwrap().unwrap().failures, 2);
        // The same counter again, an older one, the same one twice in one
        // batch (the later loses), a use of a deleted token.
        let won = s
            .commit(
                &[
                    use_of("t", "u", None, 100),
                    use_of("t", "u", Some(100), 99),
                    use_of("w", "v", None, 7),
                    use_of("w", "v", None, 7),
                    use_of("gone", "u", None, 1),
                    use_of("w", "v", Some(7), 8),
                ],
                &[],
            )
            .unwrap();
        // A later, higher use of a token in the same batch wins after the
        // first (batched engines must apply a batch's uses in order).
        assert_eq!(won, [false, false, true, false, false, true]);
        assert_eq!(s.token("w").unwrap().unwrap().last, Some(8));
        // A newer counter wins even when the verifier read an older state
        // (a concurrent Accept of the step before it committed first).
        let mut newer = use_of("t", "u", None, 101);
        newer.activate = true;
        newer.clear_user = true;
        newer.now = 6_000;
        assert_eq!(s.commit(&[newer], &[]).unwrap(), [true]);
        let t = s.token("t").unwrap().unwrap();
        assert_eq!((t.last, t.state), (Some(101), TokenState::Active));
        let u = s.user("u").unwrap().unwrap();
        assert_eq!((u.failures, u.last_success), (0, Some(6_000)));
        // Failures lock at the threshold; one of an unknown user is ignored.
        s.commit(&[], &[fail("v"), fail("v"), fail("v"), fail("nobody")])
            .unwrap();
        let v = s.user("v").unwrap().unwrap();
        assert_eq!((v.failures, v.locked_until), (3, Some(4_060)));
    }

    /// Eight threads commit the same fresh code at once, 20 rounds: one wins.
    fn commit_race_of_one_code_has_exactly_one_winner(s: &dyn TokenStore) {
        s.insert_user(&User::new("u", 1)).unwrap();
        s.insert_token(&token("t", "u", b"seed")).unwrap();
        for round in 0..20u64 {
            let barrier = Barrier::new(8);
            let wins: usize = std::thread::scope(|sc| {
                let hs: Vec<_> = (0..8)
                    .map(|_| {
                        let b = &barrier;
                        sc.spawn(move || {
                            let last = round.checked_sub(1).map(|r| 1000 + r);
                            b.wait();
                            let won = s.commit(&[use_of("t", "u", last, 1000 + round)], &[]);
                            usize::from(won.unwrap()[0])
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).sum()
            });
            assert_eq!(wins, 1, "round {round}");
        }
    }

    fn lock_escalates_by_doubling_to_the_cap_and_success_resets(s: &dyn TokenStore) {
        s.insert_user(&User::new("e", 1)).unwrap();
        let r = LockRule {
            threshold: 2,
            lock_secs: 100,
            max_lock_secs: 350,
        };
        let mut now = 10_000;
        let mut locks = Vec::new();
        for _ in 0..5 {
            assert!(!s
                .record_failure("e", now, r)
                .unwrap()
                .unwrap()
                .locked_at(now));
            let u = s.record_failure("e", now, r).unwrap().unwrap();
            let until = u.locked_until.expect("locked at each multiple");
            locks.push(until - now);
            now = until;
        }
        assert_eq!(locks, [100, 200, 350, 350, 350], "doubles, then the cap");
        s.record_success("e", now).unwrap();
        s.record_failure("e", now, r).unwrap();
        let u = s.record_failure("e", now, r).unwrap().unwrap();
        assert_eq!(u.locked_until, Some(now + 100), "a success resets");
        // Batched failures follow the same rule.
        s.record_success("e", now).unwrap();
        let f = |now| Failure {
            user: "e".into(),
            now,
            rule: r,
            source: None,
        };
        s.commit(&[], &[f(now), f(now), f(now), f(now)]).unwrap();
        let u = s.user("e").unwrap().unwrap();
        assert_eq!((u.failures, u.locked_until), (4, Some(now + 200)));
    }

    /// `[lockout] scope = "user+source"`: failures from one source lock the
    /// user from that source only, escalate per source, leave the user's
    /// own row alone; a commit's success clears that source's row (and
    /// only it), unlock clears them all, and deleting the user drops them.
    fn source_locks_count_per_user_and_source_and_clear_apart(s: &dyn TokenStore) {
        s.insert_user(&User::new("u", 1)).unwrap();
        s.insert_user(&User::new("v", 1)).unwrap();
        s.insert_token(&token("t", "u", b"seed")).unwrap();
        let r = LockRule {
            threshold: 2,
            lock_secs: 100,
            max_lock_secs: 1_000,
        };
        let now = 10_000;
        assert_eq!(
            s.record_source_failure("nobody", "a", now, r).unwrap(),
            None
        );
        assert_eq!(s.source_lock("u", "nas1").unwrap(), None);
        let l = s
            .record_source_failure("u", "nas1", now, r)
            .unwrap()
            .unwrap();
        assert_eq!((l.failures, l.locked_at(now)), (1, false));
        let l = s
            .record_source_failure("u", "nas1", now, r)
            .unwrap()
            .unwrap();
        assert_eq!(
            (l.source.as_str(), l.locked_until),
            ("nas1", Some(now + 100))
        );
        // Batched, through the commit, from another source: the second
        // lock of nas1 doubles, nas2 gets a first lock.
        let f = |src: &str| Failure {
            user: "u".into(),
            now,
            rule: r,
            source: Some(src.into()),
        };
        s.commit(
            &[],
            &[f("nas1"), f("nas1"), f("nas2/aa-bb"), f("nas2/aa-bb")],
        )
        .unwrap();
        let l1 = s.source_lock("u", "nas1").unwrap().unwrap();
        let l2 = s.source_lock("u", "nas2/aa-bb").unwrap().unwrap();
        assert_eq!((l1.failures, l1.locked_until), (4, Some(now + 200)));
        assert_eq!((l2.failures, l2.locked_until), (2, Some(now + 100)));
        let u = s.user("u").unwrap().unwrap();
        assert_eq!(
            (u.failures, u.locked_until),
            (0, None),
            "the user's row is untouched"
        );
        assert_eq!(s.source_lock("v", "nas1").unwrap(), None, "per user");
        let (_, _, got) = s.user_with_tokens_from("u", "nas1").unwrap().unwrap();
        assert_eq!(got.as_ref(), Some(&l1));
        let (_, toks, none) = s.user_with_tokens_from("u", "nas3").unwrap().unwrap();
        assert_eq!((toks.len(), none), (1, None));
        assert!(s.user_with_tokens_from("nobody", "nas1").unwrap().is_none());
        let listed: Vec<String> = s
            .source_locks("u")
            .unwrap()
            .into_iter()
            .map(|l| l.source)
            .collect();
        assert_eq!(listed, ["nas1", "nas2/aa-bb"]);
        // A won use clears its source only.
        let mut use1 = use_of("t", "u", None, 7);
        use1.clear_source = Some("nas1".into());
        assert_eq!(s.commit(&[use1], &[]).unwrap(), [true]);
        assert_eq!(s.source_lock("u", "nas1").unwrap(), None);
        assert!(s.source_lock("u", "nas2/aa-bb").unwrap().is_some());
        // A lost use clears nothing.
        s.record_source_failure("u", "nas1", now, r).unwrap();
        let mut lost = use_of("t", "u", Some(7), 7);
        lost.clear_source = Some("nas1".into());
        assert_eq!(s.commit(&[lost], &[]).unwrap(), [false]);
        assert!(s.source_lock("u", "nas1").unwrap().is_some());
        s.record_source_failure("v", "nas1", now, r).unwrap();
        s.clear_source_locks("u", None).unwrap();
        assert!(s.source_locks("u").unwrap().is_empty(), "unlock clears all");
        assert_eq!(s.source_locks("v").unwrap().len(), 1, "of that user only");
        s.delete_user("v").unwrap();
        s.insert_user(&User::new("v", 2)).unwrap();
        assert!(
            s.source_locks("v").unwrap().is_empty(),
            "gone with the user"
        );
    }

    fn record_failure_locks_at_threshold_until_expiry(s: &dyn TokenStore) {
        s.insert_user(&User::new("u", 1)).unwrap();
        let now = 1_000;
        for n in 1..=2 {
            let u = s.record_failure("u", now, rule(3, 60)).unwrap().unwrap();
            assert_eq!(u.failures, n);
            assert!(!u.locked_at(now));
        }
        let u = s.record_failure("u", now, rule(3, 60)).unwrap().unwrap();
        assert_eq!(u.failures, 3);
        assert_eq!(u.locked_until, Some(now + 60));
        assert!(u.locked_at(now) && u.locked_at(now + 59));
        assert!(!u.locked_at(now + 60), "the lock expires");
        assert_eq!(s.user("u").unwrap().unwrap(), u, "stored");
        // After expiry another `threshold` failures are needed.
        let later = now + 100;
        for _ in 0..2 {
            let u = s.record_failure("u", later, rule(3, 60)).unwrap().unwrap();
            assert!(!u.locked_at(later));
        }
        let u = s.record_failure("u", later, rule(3, 60)).unwrap().unwrap();
        assert!(u.locked_at(later));
        s.record_success("u", later + 70).unwrap();
        let u = s.user("u").unwrap().unwrap();
        assert_eq!(
            (u.failures, u.locked_until, u.last_success),
            (0, None, Some(later + 70))
        );
        // threshold 0: never locks.
        for _ in 0..10 {
            assert!(!s
                .record_failure("u", now, rule(0, 60))
                .unwrap()
                .unwrap()
                .locked_at(now));
        }
        // Concurrent failures are all counted.
        s.record_success("u", 1).unwrap();
        std::thread::scope(|sc| {
            for _ in 0..8 {
                sc.spawn(|| {
                    for _ in 0..25 {
                        s.record_failure("u", now, rule(0, 60)).unwrap();
                    }
                });
            }
        });
        assert_eq!(s.user("u").unwrap().unwrap().failures, 200);
    }

    /// Schema 2 (hardware tokens): a serial finds its token, is unique on
    /// insert, update and import; a token without owner is kept unassigned
    /// until given to a user. The 0.1/0.2 formats keep no serials.
    fn hardware_serials_are_unique_and_tokens_may_be_unassigned(s: &dyn TokenStore) {
        s.insert_user(&User::new("u", 1)).unwrap();
        let mut owned = token("t-1", "u", b"seed-1");
        owned.serial = Some("SN-1".into());
        s.insert_token(&owned).unwrap();
        let mut free = token("t-2", "", b"seed-2");
        free.serial = Some("SN-2".into());
        s.insert_token(&free).unwrap();
        s.insert_token(&token("t-3", "u", b"no serial")).unwrap();
        s.insert_token(&token("t-4", "u", b"no serial either"))
            .unwrap();

        assert_eq!(s.token("t-2").unwrap().unwrap(), free, "unassigned kept");
        assert_eq!(s.token_by_serial("SN-1").unwrap().unwrap(), owned);
        assert_eq!(s.find_token("SN-2").unwrap().unwrap().id, "t-2");
        assert_eq!(s.find_token("t-1").unwrap().unwrap().id, "t-1");
        assert!(s.find_token("SN-9").unwrap().is_none());
        let ids = |v: Vec<Token>| v.into_iter().map(|t| t.id).collect::<Vec<_>>();
        assert_eq!(ids(s.tokens_of("u").unwrap()), ["t-1", "t-3", "t-4"]);

        let mut again = token("t-5", "u", b"k");
        again.serial = Some("SN-1".into());
        assert!(matches!(s.insert_token(&again), Err(StoreError::SerialExists(x)) if x == "SN-1"));
        let mut steal = s.token("t-3").unwrap().unwrap();
        steal.serial = Some("SN-2".into());
        assert!(matches!(s.update_token(&steal), Err(StoreError::SerialExists(x)) if x == "SN-2"));
        let mut ghost = s.token("t-2").unwrap().unwrap();
        ghost.owner = "ghost".into();
        assert!(matches!(
            s.update_token(&ghost),
            Err(StoreError::NoSuchUser(_))
        ));

        // Import: a stored serial, or one twice in the file, refuses it all.
        let mut a = token("t-6", "", b"k");
        a.serial = Some("SN-6".into());
        let mut b = token("t-7", "", b"k");
        b.serial = Some("SN-6".into());
        assert!(matches!(
            s.import(&[], &[a.clone(), b.clone()]),
            Err(StoreError::SerialExists(x)) if x == "SN-6"
        ));
        b.serial = Some("SN-2".into());
        assert!(matches!(
            s.import(&[], &[a.clone(), b.clone()]),
            Err(StoreError::SerialExists(x)) if x == "SN-2"
        ));
        assert_eq!(s.counts().unwrap(), (1, 4), "nothing written");
        b.serial = Some("SN-7".into());
        s.import(&[], &[a, b]).unwrap();
        assert!(s.token("t-7").unwrap().unwrap().owner.is_empty());

        // Assignment: the unassigned token is given to a user, serial kept.
        let mut given = s.token_by_serial("SN-2").unwrap().unwrap();
        given.owner = "u".into();
        s.update_token(&given).unwrap();
        assert_eq!(ids(s.tokens_of("u").unwrap()), ["t-1", "t-2", "t-3", "t-4"]);
        assert_eq!(s.token("t-2").unwrap().unwrap(), given);
        s.delete_token("t-2").unwrap();
        assert!(s.token_by_serial("SN-2").unwrap().is_none());
    }

    fn import_adds_new_users_and_tokens(s: &dyn TokenStore) {
        let mut old = User::new("old", 1);
        old.pin = Some(Secret::from("1111"));
        s.insert_user(&old).unwrap();
        s.insert_token(&token("t-old", "old", b"s")).unwrap();
        let users = vec![User::new("old", 99), User::new("new", 2)];
        let tokens: Vec<Token> = (0..50)
            .map(|i| {
                token(
                    &format!("t-{i:03}"),
                    if i % 2 == 0 { "old" } else { "new" },
                    b"k",
                )
            })
            .collect();
        // Any bad token rejects the whole import.
        let mut dup = tokens.clone();
        dup.push(token("t-old", "new", b"k"));
        assert!(matches!(s.import(&users, &dup), Err(StoreError::TokenExists(i)) if i == "t-old"));
        let mut twice = tokens.clone();
        twice.push(token("t-001", "new", b"k"));
        assert!(
            matches!(s.import(&users, &twice), Err(StoreError::TokenExists(i)) if i == "t-001")
        );
        let mut orphan = tokens.clone();
        orphan.push(token("t-x", "ghost", b"k"));
        assert!(
            matches!(s.import(&users, &orphan), Err(StoreError::NoSuchUser(n)) if n == "ghost")
        );
        assert_eq!(
            s.counts().unwrap(),
            (1, 1),
            "nothing written by failed imports"
        );

        s.import(&users, &tokens).unwrap();
        assert_eq!(s.counts().unwrap(), (2, 51));
        assert_eq!(
            s.user("old").unwrap().unwrap(),
            old,
            "existing user untouched"
        );
        assert_eq!(s.tokens_of("new").unwrap().len(), 25);
        assert_eq!(s.tokens_of("old").unwrap().len(), 26);
        assert_eq!(s.token("t-007").unwrap().unwrap(), tokens[7]);
    }

    /// Group commit: 16 threads × 20 commit-and-sync rounds are served by
    /// fewer flushes than `sync` calls. For stores that count flushes.
    pub fn sync_shares_flushes_between_concurrent_callers(s: &dyn TokenStore) {
        s.insert_user(&User::new("u", 1)).unwrap();
        for i in 0..16 {
            s.insert_token(&token(&format!("t{i}"), "u", b"seed"))
                .unwrap();
        }
        let before = s.flushes().expect("the store counts its flushes");
        let barrier = Barrier::new(16);
        std::thread::scope(|sc| {
            for i in 0..16u64 {
                let b = &barrier;
                sc.spawn(move || {
                    b.wait();
                    for n in 0..20u64 {
                        let last = (n > 0).then(|| n - 1);
                        assert!(s.commit_use(&format!("t{i}"), last, n, 0, n, true).unwrap());
                        s.sync().unwrap();
                    }
                });
            }
        });
        let flushes = s.flushes().unwrap() - before;
        assert!(
            (1..320).contains(&flushes),
            "320 syncs, {flushes} flushes: group commit shared none"
        );
    }

    fn sync_from_many_threads_returns(s: &dyn TokenStore) {
        s.insert_user(&User::new("u", 1)).unwrap();
        std::thread::scope(|sc| {
            for _ in 0..8 {
                sc.spawn(|| {
                    for _ in 0..10 {
                        s.record_failure("u", 1, rule(0, 0)).unwrap();
                        s.sync().unwrap();
                    }
                });
            }
        });
        assert_eq!(s.user("u").unwrap().unwrap().failures, 80);
    }
}
