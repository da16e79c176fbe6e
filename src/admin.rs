//! The administration service: every user and token operation of the CLI.
//!
//! An [`AdminRequest`] is executed by [`Admin::execute`] over a store, either
//! in the CLI process (daemon stopped: the CLI opens the store itself) or in
//! the daemon, which receives the same request as one JSON line on its
//! control socket. Both paths run this code, so their behaviour cannot
//! drift apart.

pub mod wire;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::otp::{self, Algorithm, Kind};
use crate::secret::Secret;
use crate::store::{ApiKey, ApiScope, StoreError, Token, TokenState, TokenStore, User};
use crate::verify::{Options, Outcome, Verifier};

/// One administrative operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum AdminRequest {
    UserAdd {
        name: String,
        #[serde(default)]
        pin: Option<String>,
        #[serde(default)]
        challenge: bool,
        /// Groups, most specific first.
        #[serde(default)]
        groups: Vec<String>,
    },
    UserList,
    UserShow {
        name: String,
    },
    UserDelete {
        name: String,
    },
    UserEnable {
        name: String,
    },
    UserDisable {
        name: String,
    },
    UserSetPin {
        name: String,
        pin: Option<String>,
    },
    UserSetChallenge {
        name: String,
        challenge: bool,
    },
    UserUnlock {
        name: String,
    },
    /// Replaces a user's groups and/or own reply attributes (`None`:
    /// unchanged); both are checked before either is written.
    UserSet {
        name: String,
        #[serde(default)]
        groups: Option<Vec<String>>,
        #[serde(default)]
        replies: Option<Vec<(String, String)>>,
    },
    /// The configured groups, their reply attributes, members and clients.
    GroupList,
    /// What `user` would get through `client`: allowed or not, and the
    /// reply attributes of an Accept (`radotp config check --user --client`).
    ReplyPreview {
        user: String,
        client: String,
    },
    TokenEnroll(EnrollSpec),
    TokenActivate {
        id: String,
        code: String,
    },
    TokenList {
        #[serde(default)]
        user: Option<String>,
        /// Only the tokens no user owns yet (hardware tokens to hand out).
        #[serde(default)]
        unassigned: bool,
    },
    TokenShow {
        id: String,
    },
    TokenEnable {
        id: String,
    },
    TokenDisable {
        id: String,
    },
    TokenDelete {
        id: String,
    },
    TokenResync {
        id: String,
        code1: String,
        code2: String,
    },
    TokenImport {
        tokens: Vec<ImportToken>,
        #[serde(default)]
        create_users: bool,
    },
    /// Gives a token (by id or serial; an unassigned hardware token as a
    /// rule) to a user.
    TokenAssign {
        id: String,
        user: String,
    },
    /// Every token with its seed (or one user's), for `radotp token export`:
    /// the reply carries secrets and is never logged.
    TokenExport {
        #[serde(default)]
        user: Option<String>,
    },
    OtpCheck {
        user: String,
        code: String,
        #[serde(default)]
        dry_run: bool,
    },
    Stats,
    /// A new API key of the HTTP API (the key is in the reply, once).
    ApiKeyCreate {
        name: String,
        scope: ApiScope,
    },
    ApiKeyList,
    ApiKeyRevoke {
        name: String,
    },
}

impl AdminRequest {
    /// A PIN or code travels in some requests: never log them.
    pub fn name(&self) -> &'static str {
        match self {
            AdminRequest::UserAdd { .. } => "user-add",
            AdminRequest::UserList => "user-list",
            AdminRequest::UserShow { .. } => "user-show",
            AdminRequest::UserDelete { .. } => "user-delete",
            AdminRequest::UserEnable { .. } => "user-enable",
            AdminRequest::UserDisable { .. } => "user-disable",
            AdminRequest::UserSetPin { .. } => "user-set-pin",
            AdminRequest::UserSetChallenge { .. } => "user-set-challenge",
            AdminRequest::UserUnlock { .. } => "user-unlock",
            AdminRequest::UserSet { .. } => "user-set",
            AdminRequest::GroupList => "group-list",
            AdminRequest::ReplyPreview { .. } => "reply-preview",
            AdminRequest::TokenEnroll(_) => "token-enroll",
            AdminRequest::TokenActivate { .. } => "token-activate",
            AdminRequest::TokenList { .. } => "token-list",
            AdminRequest::TokenShow { .. } => "token-show",
            AdminRequest::TokenEnable { .. } => "token-enable",
            AdminRequest::TokenDisable { .. } => "token-disable",
            AdminRequest::TokenDelete { .. } => "token-delete",
            AdminRequest::TokenResync { .. } => "token-resync",
            AdminRequest::TokenImport { .. } => "token-import",
            AdminRequest::TokenAssign { .. } => "token-assign",
            AdminRequest::TokenExport { .. } => "token-export",
            AdminRequest::OtpCheck { .. } => "otp-check",
            AdminRequest::Stats => "stats",
            AdminRequest::ApiKeyCreate { .. } => "apikey-create",
            AdminRequest::ApiKeyList => "apikey-list",
            AdminRequest::ApiKeyRevoke { .. } => "apikey-revoke",
        }
    }

    /// The user or token a request is about, for the audit trail (never a
    /// PIN or code).
    pub fn subject(&self) -> Option<&str> {
        match self {
            AdminRequest::UserAdd { name, .. }
            | AdminRequest::UserShow { name }
            | AdminRequest::UserDelete { name }
            | AdminRequest::UserEnable { name }
            | AdminRequest::UserDisable { name }
            | AdminRequest::UserSetPin { name, .. }
            | AdminRequest::UserSetChallenge { name, .. }
            | AdminRequest::UserUnlock { name }
            | AdminRequest::UserSet { name, .. } => Some(name),
            AdminRequest::TokenEnroll(spec) => Some(&spec.user),
            AdminRequest::TokenActivate { id, .. }
            | AdminRequest::TokenShow { id }
            | AdminRequest::TokenEnable { id }
            | AdminRequest::TokenDisable { id }
            | AdminRequest::TokenDelete { id }
            | AdminRequest::TokenResync { id, .. }
            | AdminRequest::TokenAssign { id, .. } => Some(id),
            AdminRequest::OtpCheck { user, .. } => Some(user),
            AdminRequest::ApiKeyCreate { name, .. } | AdminRequest::ApiKeyRevoke { name } => {
                Some(name)
            }
            _ => None,
        }
    }
}

/// What `token enroll` asks for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollSpec {
    pub user: String,
    pub kind: Kind,
    pub algorithm: Algorithm,
    pub digits: u32,
    pub period: u32,
    pub issuer: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub activate: bool,
}

/// One token of an import, already parsed and checked by the CLI (and of
/// an export, every field filled in). An empty `user` imports the token
/// unassigned.
#[derive(Clone, Serialize, Deserialize)]
pub struct ImportToken {
    pub user: String,
    /// Keep this token id (an export's), else a new one is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The hardware serial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Base32 seed.
    pub secret: String,
    pub kind: Kind,
    pub algorithm: Algorithm,
    pub digits: u32,
    pub period: u32,
    /// HOTP: the next counter the token will show.
    #[serde(default)]
    pub counter: Option<u64>,
    #[serde(default)]
    pub description: String,
    /// The rest of a token's record, as an export keeps it (an import of a
    /// vendor file leaves them out: active, nothing used yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<TokenState>,
    /// The last accepted TOTP step (HOTP: see `counter`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_step: Option<u64>,
    #[serde(default)]
    pub drift: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<u64>,
    /// The groups of a user the import creates (CSV's `groups` column).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// The PIN of a user the import creates (CSV's `pin` column), checked
    /// against `[pin]` like `user add --pin` and sealed by the store like
    /// every PIN. Never in `Debug`; an export never carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
}

impl ImportToken {
    /// A token of `user` with this seed (base32) and parameters, the
    /// other fields empty.
    pub fn new(
        user: String,
        secret: String,
        kind: Kind,
        algorithm: Algorithm,
        digits: u32,
        period: u32,
    ) -> Self {
        ImportToken {
            user,
            id: None,
            serial: None,
            secret,
            kind,
            algorithm,
            digits,
            period,
            counter: None,
            description: String::new(),
            state: None,
            last_step: None,
            drift: 0,
            created: None,
            last_used: None,
            groups: Vec::new(),
            pin: None,
        }
    }

    /// The export form of a stored token (its seed in base32).
    pub fn from_token(t: &Token) -> Self {
        ImportToken {
            user: t.owner.clone(),
            id: Some(t.id.clone()),
            serial: t.serial.clone(),
            secret: otp::uri::encode_base32_secret(t.seed.expose()),
            kind: t.kind,
            algorithm: t.algorithm,
            digits: t.digits,
            period: t.period,
            counter: match t.kind {
                Kind::Hotp => Some(t.last.map_or(0, |l| l.saturating_add(1))),
                Kind::Totp => None,
            },
            description: t.description.clone(),
            state: Some(t.state),
            last_step: if t.kind == Kind::Totp { t.last } else { None },
            drift: t.drift,
            created: Some(t.created),
            last_used: t.last_used,
            groups: Vec::new(),
            pin: None,
        }
    }
}

impl std::fmt::Debug for ImportToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportToken")
            .field("user", &self.user)
            .field("secret", &"[redacted]")
            .field("pin", &self.pin.as_ref().map(|_| "[redacted]"))
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// A user as shown to administrators (no PIN).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub has_pin: bool,
    pub enabled: bool,
    pub challenge: bool,
    pub failures: u32,
    pub locked_until: Option<u64>,
    pub locked: bool,
    pub created: u64,
    pub last_success: Option<u64>,
    pub tokens: usize,
    /// Groups, most specific first.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The user's own reply attributes.
    #[serde(default)]
    pub replies: Vec<(String, String)>,
    /// `[lockout] scope = "user+source"`: the sources locked now, each
    /// with the time its lock ends (filled by `user show`).
    #[serde(default)]
    pub locked_sources: Vec<(String, u64)>,
}

/// A configured group as shown to administrators.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GroupInfo {
    pub name: String,
    /// Its reply attributes as the config writes them (`Attr = value`).
    pub reply: Vec<(String, String)>,
    /// Users in it.
    pub members: usize,
    /// Clients whose `allow_groups` names it.
    pub clients: Vec<String>,
    /// False for a group users are in that no `[[group]]` or
    /// `allow_groups` names (left from an older config, or a typo).
    pub configured: bool,
}

/// A token as shown to administrators (no seed).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: String,
    /// Empty: unassigned.
    pub owner: String,
    /// The hardware serial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    pub kind: Kind,
    pub algorithm: Algorithm,
    pub digits: u32,
    pub period: u32,
    pub state: TokenState,
    pub last: Option<u64>,
    pub drift: i64,
    pub description: String,
    pub created: u64,
    pub last_used: Option<u64>,
}

impl From<&Token> for TokenInfo {
    fn from(t: &Token) -> Self {
        TokenInfo {
            id: t.id.clone(),
            owner: t.owner.clone(),
            serial: t.serial.clone(),
            kind: t.kind,
            algorithm: t.algorithm,
            digits: t.digits,
            period: t.period,
            state: t.state,
            last: t.last,
            drift: t.drift,
            description: t.description.clone(),
            created: t.created,
            last_used: t.last_used,
        }
    }
}

/// Users or tokens per page of a listing (see [`Admin::execute_stream`]).
pub const LIST_PAGE: usize = 1000;

/// The pages of a listing put together: sorted by name (users) or id
/// (tokens). A user or token changed during the listing may come twice;
/// the later one, which is current, is kept.
#[derive(Default)]
pub struct Listing {
    users: Vec<UserInfo>,
    tokens: Vec<TokenInfo>,
    exported: Vec<ImportToken>,
}

impl Listing {
    /// Takes one page; any other reply is ignored.
    pub fn add(&mut self, part: AdminReply) {
        match part {
            AdminReply::Users(mut us) => self.users.append(&mut us),
            AdminReply::Tokens(mut ts) => self.tokens.append(&mut ts),
            AdminReply::Exported(mut ts) => self.exported.append(&mut ts),
            _ => {}
        }
    }

    /// The whole listing, with `last` (the request's own reply) as the
    /// last page; `last` itself when it is not a listing.
    pub fn finish(mut self, last: AdminReply) -> AdminReply {
        match last {
            AdminReply::Users(_) => {
                self.add(last);
                AdminReply::Users(current_sorted(self.users, |u| &u.name))
            }
            AdminReply::Tokens(_) => {
                self.add(last);
                AdminReply::Tokens(current_sorted(self.tokens, |t| &t.id))
            }
            AdminReply::Exported(_) => {
                static NO_ID: String = String::new();
                self.add(last);
                AdminReply::Exported(current_sorted(self.exported, |t| {
                    t.id.as_ref().unwrap_or(&NO_ID)
                }))
            }
            other => other,
        }
    }
}

/// Sorted by `key`, each key once: the later of two, which is current.
fn current_sorted<T>(mut v: Vec<T>, key: impl Fn(&T) -> &String) -> Vec<T> {
    // Latest first, then a stable sort: the first of each key is the current one.
    v.reverse();
    v.sort_by(|a, b| key(a).cmp(key(b)));
    v.dedup_by(|later, first| key(later) == key(first));
    v
}

/// The answer to a request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "kebab-case")]
pub enum AdminReply {
    Done(String),
    User(UserInfo),
    Users(Vec<UserInfo>),
    Token(TokenInfo),
    Tokens(Vec<TokenInfo>),
    /// A new token; `uri` carries the secret and is shown once.
    Enrolled {
        token: TokenInfo,
        uri: String,
    },
    Check(CheckResult),
    Imported {
        tokens: usize,
        users_created: usize,
    },
    Stats(serde_json::Value),
    /// A new API key; `secret` is the key itself, shown this once (only
    /// its hash is stored).
    ApiKeyCreated {
        key: ApiKeyInfo,
        secret: String,
    },
    ApiKeys(Vec<ApiKeyInfo>),
    Groups(Vec<GroupInfo>),
    /// See [`AdminRequest::ReplyPreview`].
    Preview {
        user: String,
        client: String,
        groups: Vec<String>,
        /// False: the client's allow_groups refuse the user.
        allowed: bool,
        /// The attributes of an Accept, by name (encrypted ones hidden).
        attributes: Vec<(String, String)>,
    },
    /// `TokenExport`: the tokens with their seeds.
    Exported(Vec<ImportToken>),
}

/// An API key as shown to administrators (no hash).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApiKeyInfo {
    pub name: String,
    pub scope: ApiScope,
    pub created: u64,
    pub last_used: Option<u64>,
}

impl From<&ApiKey> for ApiKeyInfo {
    fn from(k: &ApiKey) -> Self {
        ApiKeyInfo {
            name: k.name.clone(),
            scope: k.scope,
            created: k.created,
            last_used: k.last_used,
        }
    }
}

/// The result of `otp check` or `token activate`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckResult {
    pub accepted: bool,
    pub reason: Option<String>,
    pub token: Option<String>,
    pub counter: Option<u64>,
    pub offset: Option<i64>,
    pub dry_run: bool,
}

/// What went wrong, and how the CLI should exit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AdminError {
    /// `usage` (exit 2) or `failed` (exit 1).
    pub kind: ErrorKind,
    /// Human-readable.
    pub message: String,
}

/// The kind of an [`AdminError`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// Bad arguments: exit 2.
    Usage,
    /// The operation failed (store error, wrong state): exit 1.
    Failed,
    /// No such user, token or API key: exit 1 (HTTP 404).
    NotFound,
    /// The name or id is taken: exit 1 (HTTP 409).
    Conflict,
    /// The store failed or is unreachable: exit 1 (HTTP 503).
    Unavailable,
}

impl AdminError {
    fn usage(m: impl Into<String>) -> Self {
        AdminError {
            kind: ErrorKind::Usage,
            message: m.into(),
        }
    }
    pub(crate) fn failed(m: impl Into<String>) -> Self {
        AdminError {
            kind: ErrorKind::Failed,
            message: m.into(),
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        let kind = match &e {
            StoreError::NoSuchUser(_)
            | StoreError::NoSuchToken(_)
            | StoreError::NoSuchApiKey(_) => ErrorKind::NotFound,
            StoreError::UserExists(_)
            | StoreError::TokenExists(_)
            | StoreError::SerialExists(_)
            | StoreError::ApiKeyExists(_) => ErrorKind::Conflict,
            StoreError::Unavailable(_) | StoreError::Io(_) => ErrorKind::Unavailable,
            _ => ErrorKind::Failed,
        };
        AdminError {
            kind,
            message: e.to_string(),
        }
    }
}

/// The service: a verifier (store, clock, policy) and the config.
pub struct Admin {
    verifier: Arc<Verifier>,
    config: Arc<Config>,
    stats: Option<Arc<dyn Fn() -> serde_json::Value + Send + Sync>>,
}

impl Admin {
    /// A service over the verifier's store and clock.
    pub fn new(verifier: Arc<Verifier>, config: Arc<Config>) -> Self {
        Admin {
            verifier,
            config,
            stats: None,
        }
    }

    /// Lets `stats` report the daemon's counters.
    pub fn with_stats(mut self, f: Arc<dyn Fn() -> serde_json::Value + Send + Sync>) -> Self {
        self.stats = Some(f);
        self
    }

    fn store(&self) -> &Arc<dyn TokenStore> {
        self.verifier.store()
    }

    /// Executes one request. A listing comes back whole, sorted.
    pub fn execute(&self, req: AdminRequest) -> Result<AdminReply, AdminError> {
        let mut all = Listing::default();
        let last = self.execute_stream(req, &mut |part| {
            all.add(part);
            Ok(())
        })?;
        Ok(all.finish(last))
    }

    /// Executes one request; a listing of every user or token is handed to
    /// `part` a page of [`LIST_PAGE`] at a time, in the store's order, and
    /// what is returned is then an empty list. [`Listing`] puts the pages
    /// together. The daemon sends each page as it comes, so that listing a
    /// million users holds one page in its memory, not the store.
    pub fn execute_stream(
        &self,
        req: AdminRequest,
        part: &mut dyn FnMut(AdminReply) -> Result<(), AdminError>,
    ) -> Result<AdminReply, AdminError> {
        let now = self.verifier.now();
        let store = self.store();
        match req {
            AdminRequest::UserAdd {
                name,
                pin,
                challenge,
                groups,
            } => {
                check_user_name(&name)?;
                let mut user = User::new(&name, now);
                user.challenge = challenge;
                self.check_groups(&groups)?;
                user.groups = groups;
                match pin {
                    Some(p) => {
                        self.config.check_pin(&p).map_err(AdminError::usage)?;
                        user.pin = Some(Secret::from(p));
                    }
                    None if self.config.pin.required => {
                        return Err(AdminError::usage(
                            "the config requires a PIN ([pin] required = true): give --pin",
                        ))
                    }
                    None => {}
                }
                store.insert_user(&user)?;
                store.sync()?;
                Ok(AdminReply::User(self.user_info(&user)?))
            }
            AdminRequest::UserList => {
                store.each_user_page(LIST_PAGE, &mut |page| {
                    let infos = page.iter().map(|(u, n)| user_info(u, *n, now)).collect();
                    part(AdminReply::Users(infos)).map_err(|e| StoreError::Io(e.message))
                })?;
                Ok(AdminReply::Users(Vec::new()))
            }
            AdminRequest::UserShow { name } => {
                let u = self.get_user(&name)?;
                let mut info = self.user_info(&u)?;
                info.locked_sources = store
                    .source_locks(&name)?
                    .into_iter()
                    .filter(|l| l.locked_at(now))
                    .filter_map(|l| l.locked_until.map(|t| (l.source, t)))
                    .collect();
                Ok(AdminReply::User(info))
            }
            AdminRequest::UserDelete { name } => {
                // Not read first: a user whose state slot is damaged can
                // still be deleted (the repair the store's error names).
                match store.delete_user(&name) {
                    Err(StoreError::NoSuchUser(_)) => return Err(no_user(&name)),
                    r => r?,
                }
                store.sync()?;
                Ok(AdminReply::Done(format!(
                    "user '{name}' and their tokens deleted"
                )))
            }
            AdminRequest::UserEnable { name } => self.change_user(&name, |u| u.enabled = true),
            AdminRequest::UserDisable { name } => self.change_user(&name, |u| u.enabled = false),
            AdminRequest::UserSetPin { name, pin } => {
                if let Some(p) = &pin {
                    self.config.check_pin(p).map_err(AdminError::usage)?;
                } else if self.config.pin.required {
                    return Err(AdminError::usage(
                        "the config requires a PIN ([pin] required = true)",
                    ));
                }
                self.change_user(&name, |u| u.pin = pin.map(Secret::from))
            }
            AdminRequest::UserSetChallenge { name, challenge } => {
                self.change_user(&name, |u| u.challenge = challenge)
            }
            AdminRequest::UserSet {
                name,
                groups,
                replies,
            } => {
                if let Some(g) = &groups {
                    self.check_groups(g)?;
                }
                if let Some(r) = &replies {
                    check_replies(&self.config.dictionary, r)?;
                }
                self.change_user(&name, |u| {
                    if let Some(g) = groups {
                        u.groups = g;
                    }
                    if let Some(r) = replies {
                        u.replies = r;
                    }
                })
            }
            AdminRequest::GroupList => self.group_list(),
            AdminRequest::ReplyPreview { user, client } => self.preview(&user, &client),
            AdminRequest::UserUnlock { name } => {
                let r = self.change_user(&name, |u| {
                    u.failures = 0;
                    u.locked_until = None;
                });
                // [lockout] scope = "user+source": every source's lock too.
                if r.is_ok() {
                    store.clear_source_locks(&name, None)?;
                }
                r
            }
            AdminRequest::TokenEnroll(spec) => self.enroll(spec, now),
            AdminRequest::TokenActivate { id, code } => self.activate(&id, &code, now),
            AdminRequest::TokenList { user, unassigned } => {
                if unassigned && user.is_some() {
                    return Err(AdminError::usage(
                        "give a user or ask for the unassigned tokens, not both",
                    ));
                }
                let Some(u) = user else {
                    store.each_token_page(LIST_PAGE, &mut |page| {
                        let infos = page
                            .iter()
                            .filter(|t| !unassigned || t.owner.is_empty())
                            .map(TokenInfo::from)
                            .collect();
                        part(AdminReply::Tokens(infos)).map_err(|e| StoreError::Io(e.message))
                    })?;
                    return Ok(AdminReply::Tokens(Vec::new()));
                };
                self.get_user(&u)?;
                Ok(AdminReply::Tokens(
                    store.tokens_of(&u)?.iter().map(TokenInfo::from).collect(),
                ))
            }
            AdminRequest::TokenShow { id } => {
                Ok(AdminReply::Token(TokenInfo::from(&self.get_token(&id)?)))
            }
            AdminRequest::TokenEnable { id } => {
                self.change_token(&id, |t| t.state = TokenState::Active)
            }
            AdminRequest::TokenDisable { id } => {
                self.change_token(&id, |t| t.state = TokenState::Disabled)
            }
            AdminRequest::TokenDelete { id } => {
                // Not read first: a token whose state slot is damaged can
                // still be deleted (the repair the store's error names).
                // Not an id: a hardware serial.
                match store.delete_token(&id) {
                    Err(StoreError::NoSuchToken(_)) => match store.token_by_serial(&id)? {
                        Some(t) => store.delete_token(&t.id)?,
                        None => return Err(no_token(&id)),
                    },
                    r => r?,
                }
                store.sync()?;
                Ok(AdminReply::Done(format!("token '{id}' deleted")))
            }
            AdminRequest::TokenResync { id, code1, code2 } => {
                let mut t = self.get_token(&id)?;
                for c in [&code1, &code2] {
                    check_code_syntax(c, t.digits)?;
                }
                let m = otp::resync(
                    &t.view(),
                    now,
                    &self.verifier.policy().window,
                    &code1,
                    &code2,
                )
                .ok_or_else(|| {
                    AdminError::failed(
                        "the two codes were not found as consecutive codes in the resync window",
                    )
                })?;
                t.last = Some(m.counter);
                t.drift = m.drift;
                t.last_used = Some(now);
                store.update_token(&t)?;
                store.sync()?;
                Ok(AdminReply::Token(TokenInfo::from(&t)))
            }
            AdminRequest::TokenImport {
                tokens,
                create_users,
            } => self.import(tokens, create_users, now),
            AdminRequest::TokenAssign { id, user } => {
                self.get_user(&user)?;
                self.change_token(&id, |t| t.owner = user)
            }
            AdminRequest::TokenExport { user: None } => {
                // In pages, as a listing: the daemon holds one at a time.
                store.each_token_page(LIST_PAGE, &mut |page| {
                    let ts = page.iter().map(ImportToken::from_token).collect();
                    part(AdminReply::Exported(ts)).map_err(|e| StoreError::Io(e.message))
                })?;
                Ok(AdminReply::Exported(Vec::new()))
            }
            AdminRequest::TokenExport { user: Some(u) } => {
                self.get_user(&u)?;
                Ok(AdminReply::Exported(
                    store
                        .tokens_of(&u)?
                        .iter()
                        .map(ImportToken::from_token)
                        .collect(),
                ))
            }
            AdminRequest::OtpCheck {
                user,
                code,
                dry_run,
            } => {
                let pw = code.into_bytes();
                let m = |c: &[u8]| crate::secret::ct_eq(c, &pw);
                let opts = Options {
                    dry_run,
                    ..Options::default()
                };
                let outcome = self.verifier.verify(&user, opts, Some(&pw), &m)?;
                Ok(AdminReply::Check(check_result(outcome, dry_run)))
            }
            AdminRequest::Stats => {
                let (users, tokens) = store.counts()?;
                let mut v = serde_json::json!({ "users": users, "tokens": tokens });
                if let Some(f) = &self.stats {
                    v["server"] = f();
                }
                Ok(AdminReply::Stats(v))
            }
            AdminRequest::ApiKeyCreate { name, scope } => {
                check_api_key_name(&name)?;
                let (secret, hash) = new_api_key();
                let key = ApiKey {
                    name,
                    hash: hash.to_vec(),
                    scope,
                    created: now,
                    last_used: None,
                };
                store.insert_api_key(&key)?;
                store.sync()?;
                Ok(AdminReply::ApiKeyCreated {
                    key: ApiKeyInfo::from(&key),
                    secret,
                })
            }
            AdminRequest::ApiKeyList => Ok(AdminReply::ApiKeys(
                store.api_keys()?.iter().map(ApiKeyInfo::from).collect(),
            )),
            AdminRequest::ApiKeyRevoke { name } => {
                match store.delete_api_key(&name) {
                    Err(StoreError::NoSuchApiKey(_)) => {
                        return Err(AdminError {
                            kind: ErrorKind::NotFound,
                            message: format!("no API key '{name}' (see `radotp apikey list`)"),
                        })
                    }
                    r => r?,
                }
                store.sync()?;
                Ok(AdminReply::Done(format!("API key '{name}' revoked")))
            }
        }
    }

    /// The API key `presented` (as sent in `Authorization: Bearer ...`), if
    /// it is one. Its hash is compared with every stored one in constant
    /// time, all of them, so the time taken tells nothing about a match.
    /// A key's `last_used` is written at most once a minute.
    pub fn authenticate(&self, presented: &str) -> Result<Option<ApiKeyInfo>, AdminError> {
        let hash = api_key_hash(presented);
        let mut found: Option<ApiKey> = None;
        for k in self.store().api_keys()? {
            let hit = crate::secret::ct_eq(&k.hash, &hash);
            if hit && found.is_none() {
                found = Some(k);
            }
        }
        let Some(k) = found else {
            return Ok(None);
        };
        let now = self.verifier.now();
        if k.last_used.is_none_or(|t| now.saturating_sub(t) >= 60) {
            self.store().touch_api_key(&k.name, now)?;
        }
        Ok(Some(ApiKeyInfo::from(&k)))
    }

    fn get_user(&self, name: &str) -> Result<User, AdminError> {
        self.store().user(name)?.ok_or_else(|| no_user(name))
    }

    /// A token by id, else by hardware serial.
    fn get_token(&self, id: &str) -> Result<Token, AdminError> {
        self.store().find_token(id)?.ok_or_else(|| no_token(id))
    }

    fn user_info(&self, u: &User) -> Result<UserInfo, AdminError> {
        let n = self.store().tokens_of(&u.name)?.len();
        Ok(user_info(u, n, self.verifier.now()))
    }

    /// Group names must be well formed, listed once, and known to the
    /// config (a `[[group]]` or a client's `allow_groups`): a misspelt
    /// group would otherwise grant nothing without a word.
    fn check_groups(&self, groups: &[String]) -> Result<(), AdminError> {
        let known = self.known_groups();
        let mut seen = std::collections::HashSet::new();
        for g in groups {
            if g.trim().is_empty() || g.len() > 128 || g.chars().any(char::is_control) {
                return Err(AdminError::usage(format!(
                    "group name '{}' must be 1 to 128 characters without control characters",
                    g.escape_debug()
                )));
            }
            if !seen.insert(g) {
                return Err(AdminError::usage(format!("group '{g}' is given twice")));
            }
            if !known.contains(g.as_str()) {
                let mut names: Vec<&str> = known.iter().copied().collect();
                names.sort_unstable();
                return Err(AdminError::usage(format!(
                    "group '{g}' is not in the config (known: {}): add [[group]] name = \"{g}\" to it, or check the spelling",
                    if names.is_empty() { "none".to_string() } else { names.join(", ") }
                )));
            }
        }
        Ok(())
    }

    /// Every group the config names.
    fn known_groups(&self) -> std::collections::HashSet<&str> {
        let mut known: std::collections::HashSet<&str> = self
            .config
            .groups
            .iter()
            .map(|g| g.get_ref().name.as_str())
            .collect();
        for c in &self.config.clients {
            if let Some(a) = &c.get_ref().allow_groups {
                known.extend(a.iter().map(String::as_str));
            }
        }
        known
    }

    fn preview(&self, user: &str, client: &str) -> Result<AdminReply, AdminError> {
        let u = self.get_user(user)?;
        let clients = self
            .config
            .clients()
            .map_err(|e| AdminError::failed(e.to_string()))?;
        let names: Vec<&str> = clients.iter().map(|c| c.name.as_str()).collect();
        let Some(c) = clients.iter().find(|c| c.name == client) else {
            return Err(AdminError::usage(format!(
                "no [[client]] named '{client}' (clients: {})",
                names.join(", ")
            )));
        };
        let allowed = c
            .allow_groups
            .as_ref()
            .is_none_or(|a| u.groups.iter().any(|g| a.contains(g)));
        let attributes = if allowed {
            let authz = crate::authz::Authz::new(&self.config);
            authz
                .reply_attributes(c, &[0; 16], &u.name, &u.groups, &u.replies)
                .iter()
                .flat_map(|a| self.config.dictionary.describe(a))
                .collect()
        } else {
            Vec::new()
        };
        Ok(AdminReply::Preview {
            user: u.name,
            client: c.name.clone(),
            groups: u.groups,
            allowed,
            attributes,
        })
    }

    fn group_list(&self) -> Result<AdminReply, AdminError> {
        let mut members: std::collections::HashMap<String, usize> = Default::default();
        self.store().each_user_page(LIST_PAGE, &mut |page| {
            for (u, _) in &page {
                for g in &u.groups {
                    *members.entry(g.clone()).or_default() += 1;
                }
            }
            Ok(())
        })?;
        let mut out: Vec<GroupInfo> = Vec::new();
        let known = self.known_groups();
        for name in &known {
            let reply = self
                .config
                .groups
                .iter()
                .find(|g| g.get_ref().name == *name)
                .and_then(|g| g.get_ref().reply.as_ref())
                .map(|t| reply_text(t.get_ref()))
                .unwrap_or_default();
            let clients = self
                .config
                .clients
                .iter()
                .filter(|c| {
                    c.get_ref()
                        .allow_groups
                        .as_ref()
                        .is_some_and(|a| a.iter().any(|g| g == name))
                })
                .map(|c| c.get_ref().name.clone())
                .collect();
            out.push(GroupInfo {
                name: name.to_string(),
                reply,
                members: members.remove(*name).unwrap_or(0),
                clients,
                configured: true,
            });
        }
        out.extend(members.into_iter().map(|(name, n)| GroupInfo {
            name,
            reply: Vec::new(),
            members: n,
            clients: Vec::new(),
            configured: false,
        }));
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(AdminReply::Groups(out))
    }

    fn change_user(&self, name: &str, f: impl FnOnce(&mut User)) -> Result<AdminReply, AdminError> {
        let mut u = self.get_user(name)?;
        f(&mut u);
        self.store().update_user(&u)?;
        self.store().sync()?;
        Ok(AdminReply::User(self.user_info(&u)?))
    }

    fn change_token(&self, id: &str, f: impl FnOnce(&mut Token)) -> Result<AdminReply, AdminError> {
        let mut t = self.get_token(id)?;
        f(&mut t);
        self.store().update_token(&t)?;
        self.store().sync()?;
        Ok(AdminReply::Token(TokenInfo::from(&t)))
    }

    fn enroll(&self, spec: EnrollSpec, now: u64) -> Result<AdminReply, AdminError> {
        self.get_user(&spec.user)?;
        check_token_params(spec.digits, spec.period)?;
        let seed_len = match spec.algorithm {
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 | Algorithm::Sm3 => 32,
            Algorithm::Sha512 => 64,
        };
        let mut seed = vec![0u8; seed_len];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        let token = Token {
            id: new_token_id(),
            owner: spec.user.clone(),
            serial: None,
            kind: spec.kind,
            algorithm: spec.algorithm,
            digits: spec.digits,
            period: spec.period,
            seed: Secret::new(seed),
            last: None,
            drift: 0,
            state: if spec.activate {
                TokenState::Active
            } else {
                TokenState::Pending
            },
            description: spec.description,
            created: now,
            last_used: None,
        };
        let uri = otp::uri::KeyUri {
            kind: token.kind,
            issuer: Some(spec.issuer.clone()),
            account: spec.user.clone(),
            secret: token.seed.clone(),
            algorithm: token.algorithm,
            digits: token.digits,
            period: token.period,
            counter: 0,
        }
        .to_uri();
        self.store().insert_token(&token)?;
        self.store().sync()?;
        Ok(AdminReply::Enrolled {
            token: TokenInfo::from(&token),
            uri,
        })
    }

    fn activate(&self, id: &str, code: &str, now: u64) -> Result<AdminReply, AdminError> {
        let t = self.get_token(id)?;
        check_code_syntax(code, t.digits)?;
        if t.state != TokenState::Pending {
            return Err(AdminError::failed(format!(
                "token '{id}' is {}, not pending",
                t.state.as_str()
            )));
        }
        let m = otp::find(&t.view(), now, &self.verifier.policy().window, |c| {
            crate::secret::ct_eq(c.as_bytes(), code.as_bytes())
        });
        let result = match m {
            Some(m) => {
                let current = match t.kind {
                    Kind::Totp => otp::step_at(now, t.period) as i64,
                    Kind::Hotp => m.counter as i64,
                };
                if self
                    .store()
                    .commit_use(&t.id, t.last, m.counter, m.drift, now, true)?
                {
                    self.store().sync()?;
                    CheckResult {
                        accepted: true,
                        reason: None,
                        token: Some(t.id.clone()),
                        counter: Some(m.counter),
                        offset: Some(m.counter as i64 - current),
                        dry_run: false,
                    }
                } else {
                    rejected("replayed_code")
                }
            }
            None => rejected("wrong_code"),
        };
        Ok(AdminReply::Check(result))
    }

    fn import(
        &self,
        items: Vec<ImportToken>,
        create_users: bool,
        now: u64,
    ) -> Result<AdminReply, AdminError> {
        let store = self.store();
        let mut users = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut tokens = Vec::with_capacity(items.len());
        let mut groups_of: std::collections::HashMap<String, Vec<String>> = Default::default();
        let mut pins_of: std::collections::HashMap<String, Secret> = Default::default();
        for mut it in items {
            let pin = it.pin.take().map(Secret::from);
            if !it.groups.is_empty() {
                self.check_groups(&it.groups)?;
                match groups_of.get(&it.user) {
                    Some(g) if *g != it.groups => {
                        return Err(AdminError::usage(format!(
                            "user '{}' is given the groups {} and {} on two lines",
                            it.user,
                            g.join(";"),
                            it.groups.join(";")
                        )))
                    }
                    _ => {
                        groups_of.insert(it.user.clone(), it.groups.clone());
                    }
                }
            }
            check_token_params(it.digits, it.period)?;
            let seed = otp::uri::parse_base32_secret(&it.secret)
                .map_err(|e| AdminError::usage(format!("user '{}': {e}", it.user)))?;
            if let Some(id) = &it.id {
                check_token_id(id)?;
            }
            if let Some(s) = &it.serial {
                check_serial(s)?;
            }
            let mut created_here = false;
            if !it.user.is_empty()
                && seen.insert(it.user.clone())
                && store.user(&it.user)?.is_none()
            {
                if !create_users {
                    return Err(AdminError::failed(format!(
                        "no user '{}': create it first or import with --create-users",
                        it.user
                    )));
                }
                check_user_name(&it.user)?;
                users.push(User::new(&it.user, now));
                created_here = true;
            } else if !it.groups.is_empty() && !users.iter().any(|u| u.name == it.user) {
                // The import creates users; it does not change one.
                if let Some(u) = store.user(&it.user)? {
                    if u.groups != it.groups {
                        return Err(AdminError::usage(format!(
                            "user '{}' exists with the groups [{}]: change them with `radotp user set {} --group ...`, not by import",
                            it.user,
                            u.groups.join(", "),
                            it.user
                        )));
                    }
                }
            }
            if let Some(pin) = pin {
                self.import_pin(&it.user, &pin, created_here, &users, &pins_of)?;
                pins_of.insert(it.user.clone(), pin);
            }
            tokens.push(Token {
                id: it.id.unwrap_or_else(new_token_id),
                owner: it.user,
                serial: it.serial,
                kind: it.kind,
                algorithm: it.algorithm,
                digits: it.digits,
                period: it.period,
                seed: Secret::new(seed),
                last: match (it.kind, it.counter) {
                    (Kind::Hotp, Some(c)) if c > 0 => Some(c - 1),
                    (Kind::Totp, _) => it.last_step,
                    _ => None,
                },
                drift: it.drift,
                state: it.state.unwrap_or(TokenState::Active),
                description: it.description,
                created: it.created.unwrap_or(now),
                last_used: it.last_used,
            });
        }
        for u in &mut users {
            if let Some(g) = groups_of.remove(&u.name) {
                u.groups = g;
            }
            u.pin = pins_of.remove(&u.name);
            // `[pin] required` holds for imported users as for `user add`:
            // none is created without a PIN (an existing user keeps its own).
            if u.pin.is_none() && self.config.pin.required {
                return Err(AdminError::usage(format!(
                    "user '{}' would be created without a PIN, and the config requires one ([pin] required = true): give it in the pin column, or create the user first with `radotp user add --pin`",
                    u.name
                )));
            }
        }
        store.import(&users, &tokens)?;
        store.sync()?;
        Ok(AdminReply::Imported {
            tokens: tokens.len(),
            users_created: users.len(),
        })
    }
}

impl Admin {
    /// Checks the PIN an import line gives `user`: the PIN policy, a user
    /// the import creates (`created_here`: on this line), not one that
    /// exists (its PIN changes with `user set-pin`), and the same PIN on
    /// every line of the user.
    fn import_pin(
        &self,
        user: &str,
        pin: &Secret,
        created_here: bool,
        created: &[User],
        pins_of: &std::collections::HashMap<String, Secret>,
    ) -> Result<(), AdminError> {
        if user.is_empty() {
            return Err(AdminError::usage(
                "a PIN is given to a token without a user: a PIN belongs to a user",
            ));
        }
        let text = std::str::from_utf8(pin.expose())
            .map_err(|_| AdminError::usage(format!("user '{user}': the PIN is not UTF-8")))?;
        self.config
            .check_pin(text)
            .map_err(|e| AdminError::usage(format!("user '{user}': {e}")))?;
        match pins_of.get(user) {
            Some(p) if p != pin => Err(AdminError::usage(format!(
                "user '{user}' is given two different PINs on two lines"
            ))),
            Some(_) => Ok(()),
            None if created_here => Ok(()),
            None if created.iter().any(|u| u.name == user) => Err(AdminError::usage(format!(
                "user '{user}' is given a PIN on a later line only: give it on the first"
            ))),
            None => Err(AdminError::usage(format!(
                "user '{user}' exists: the import sets the PIN of the users it creates only; change it with `radotp user set-pin {user}`"
            ))),
        }
    }
}

fn rejected(reason: &str) -> CheckResult {
    CheckResult {
        accepted: false,
        reason: Some(reason.to_string()),
        token: None,
        counter: None,
        offset: None,
        dry_run: false,
    }
}

fn check_result(outcome: Outcome, dry_run: bool) -> CheckResult {
    match outcome {
        Outcome::Accept(a) => CheckResult {
            accepted: true,
            reason: None,
            token: Some(a.token_id),
            counter: Some(a.counter),
            offset: Some(a.offset),
            dry_run,
        },
        Outcome::Reject(r) => CheckResult {
            dry_run,
            ..rejected(r.as_str())
        },
        // Not asked for here (no challenge flow in a check); counted as
        // what it is, a password without a code.
        Outcome::PinOnly => CheckResult {
            dry_run,
            ..rejected("pin_only")
        },
    }
}

fn no_user(name: &str) -> AdminError {
    AdminError {
        kind: ErrorKind::NotFound,
        message: format!("no user '{name}' (see `radotp user list`)"),
    }
}

fn no_token(id: &str) -> AdminError {
    AdminError {
        kind: ErrorKind::NotFound,
        message: format!("no token '{id}' (see `radotp token list`)"),
    }
}

/// A token id kept from an import file: printable, no spaces, at most 64.
fn check_token_id(id: &str) -> Result<(), AdminError> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(AdminError::usage(format!(
            "token id '{}': expected 1 to 64 printable characters without spaces",
            id.escape_debug()
        )));
    }
    Ok(())
}

/// A hardware serial: printable, no spaces, at most 64 characters.
pub fn check_serial(s: &str) -> Result<(), AdminError> {
    if s.is_empty() || s.len() > 64 || !s.chars().all(|c| c.is_ascii_graphic()) {
        return Err(AdminError::usage(format!(
            "serial '{}': expected 1 to 64 printable characters without spaces",
            s.escape_debug()
        )));
    }
    Ok(())
}

/// The prefix of every API key (it tells a secret scanner what it found).
pub const API_KEY_PREFIX: &str = "radotp_";

/// A fresh API key: `radotp_` and 64 hex digits (256 random bits), and
/// its SHA-256, which is all that is stored. A key that random needs no
/// slow hash: nobody can search its space.
pub fn new_api_key() -> (String, [u8; 32]) {
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    let mut key = String::from(API_KEY_PREFIX);
    for b in raw {
        key.push_str(&format!("{b:02x}"));
    }
    let hash = api_key_hash(&key);
    (key, hash)
}

/// SHA-256 of a presented API key.
pub fn api_key_hash(key: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes()).into()
}

/// API key names: 1 to 64 of letters, digits, `.`, `_`, `-`.
fn check_api_key_name(name: &str) -> Result<(), AdminError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(AdminError::usage(
            "API key name must be 1 to 64 letters, digits, '.', '_' or '-'",
        ))
    }
}

/// A `reply = { ... }` table as `(attribute, value)` text, lists expanded.
fn reply_text(t: &toml::Table) -> Vec<(String, String)> {
    let text = |v: &toml::Value| match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut out = Vec::new();
    for (k, v) in t {
        match v {
            toml::Value::Array(items) => out.extend(items.iter().map(|i| (k.clone(), text(i)))),
            v => out.push((k.clone(), text(v))),
        }
    }
    out
}

/// A user's reply attributes must compile against the dictionary and fit
/// in an Access-Accept.
fn check_replies(
    dict: &crate::radius::dictionary::Dictionary,
    replies: &[(String, String)],
) -> Result<(), AdminError> {
    use crate::radius::dictionary::{ConfigValue, Reply};
    let mut bytes = 0;
    let mut single = std::collections::HashSet::new();
    for (a, v) in replies {
        if v.chars().any(char::is_control) {
            return Err(AdminError::usage(format!(
                "reply attribute '{a}': the value has a control character"
            )));
        }
        let r = Reply::parse(dict, a, &ConfigValue::Text(v)).map_err(AdminError::usage)?;
        if !r.def.multi && !single.insert(r.def.name.clone()) {
            return Err(AdminError::usage(format!(
                "'{}' may appear once in a reply; give one value",
                r.def.name
            )));
        }
        bytes += r.wire_len();
    }
    if bytes > crate::config::REPLY_BUDGET {
        return Err(AdminError::usage(format!(
            "these reply attributes take {bytes} bytes; an Access-Accept has room for {}",
            crate::config::REPLY_BUDGET
        )));
    }
    Ok(())
}

fn user_info(u: &User, tokens: usize, now: u64) -> UserInfo {
    UserInfo {
        name: u.name.clone(),
        has_pin: u.pin.is_some(),
        enabled: u.enabled,
        challenge: u.challenge,
        failures: u.failures,
        locked_until: u.locked_until.filter(|&t| t > now),
        locked: u.locked_at(now),
        created: u.created,
        last_success: u.last_success,
        tokens,
        groups: u.groups.clone(),
        replies: u.replies.clone(),
        locked_sources: Vec::new(),
    }
}

/// A fresh token id: `t-` and 12 random hex digits.
pub fn new_token_id() -> String {
    let b: [u8; 6] = rand::random();
    let mut s = String::from("t-");
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// User names: 1 to 253 bytes (a RADIUS attribute), no control characters.
pub fn check_user_name(name: &str) -> Result<(), AdminError> {
    if name.is_empty() || name.len() > 253 {
        return Err(AdminError::usage("user name must be 1 to 253 bytes"));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(AdminError::usage(
            "user name must not contain control characters",
        ));
    }
    Ok(())
}

fn check_token_params(digits: u32, period: u32) -> Result<(), AdminError> {
    if !otp::valid_digits(digits) {
        return Err(AdminError::usage(format!(
            "digits {digits}: expected 6, 7 or 8"
        )));
    }
    if !otp::valid_period(period) {
        return Err(AdminError::usage(format!(
            "period {period}: expected 10 to 300 seconds"
        )));
    }
    Ok(())
}

fn check_code_syntax(code: &str, digits: u32) -> Result<(), AdminError> {
    if code.len() != digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AdminError::usage(format!(
            "a code of this token is {digits} digits"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, failures: u32) -> UserInfo {
        UserInfo {
            name: name.into(),
            has_pin: false,
            enabled: true,
            challenge: false,
            failures,
            locked_until: None,
            locked: false,
            created: 1,
            last_success: None,
            tokens: 0,
            groups: Vec::new(),
            replies: Vec::new(),
            locked_sources: Vec::new(),
        }
    }

    #[test]
    fn api_key_is_shown_once_stored_hashed_and_found_by_its_hash() {
        let store: Arc<dyn TokenStore> = Arc::new(crate::store::MemoryStore::new());
        let clock = Arc::new(crate::clock::FixedClock::new(1_700_000_000));
        let v = Arc::new(Verifier::new(
            store.clone(),
            clock.clone(),
            Default::default(),
        ));
        let admin = Admin::new(v, Arc::new(Config::from_toml("", "t").unwrap()));
        let create = |name: &str, scope| {
            admin.execute(AdminRequest::ApiKeyCreate {
                name: name.into(),
                scope,
            })
        };
        let AdminReply::ApiKeyCreated { key, secret } = create("ops", ApiScope::Admin).unwrap()
        else {
            panic!("a created key");
        };
        assert_eq!((key.name.as_str(), key.scope), ("ops", ApiScope::Admin));
        assert!(secret.starts_with(API_KEY_PREFIX) && secret.len() == 7 + 64);
        let stored = store.api_keys().unwrap().pop().unwrap();
        assert_eq!(stored.hash, api_key_hash(&secret));
        assert!(!stored
            .hash
            .windows(8)
            .any(|w| secret.as_bytes().windows(8).any(|s| s == w)));
        let e = create("ops", ApiScope::Validate).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Conflict, "{e}");
        assert_eq!(
            create("bad name", ApiScope::Admin).unwrap_err().kind,
            ErrorKind::Usage
        );
        create("portal", ApiScope::Validate).unwrap();

        let found = admin.authenticate(&secret).unwrap().unwrap();
        assert_eq!(found.name, "ops");
        assert_eq!(store.api_keys().unwrap()[0].last_used, Some(1_700_000_000));
        assert!(admin.authenticate("radotp_0000").unwrap().is_none());
        assert!(admin.authenticate("").unwrap().is_none());

        let AdminReply::ApiKeys(all) = admin.execute(AdminRequest::ApiKeyList).unwrap() else {
            panic!("a list");
        };
        assert_eq!(all.len(), 2);
        admin
            .execute(AdminRequest::ApiKeyRevoke { name: "ops".into() })
            .unwrap();
        assert!(admin.authenticate(&secret).unwrap().is_none(), "revoked");
        let e = admin
            .execute(AdminRequest::ApiKeyRevoke { name: "ops".into() })
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound);
        // No user, no token: not found; a second user of a name: conflict.
        let e = admin
            .execute(AdminRequest::UserShow {
                name: "nobody".into(),
            })
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound);
    }

    #[test]
    fn listing_sorts_the_pages_and_keeps_the_later_of_a_user_seen_twice() {
        let mut l = Listing::default();
        l.add(AdminReply::Users(vec![info("c", 0), info("a", 0)]));
        l.add(AdminReply::Users(vec![info("b", 0), info("c", 5)]));
        let AdminReply::Users(us) = l.finish(AdminReply::Users(vec![info("a", 7)])) else {
            panic!("a list of users");
        };
        let got: Vec<(&str, u32)> = us.iter().map(|u| (u.name.as_str(), u.failures)).collect();
        assert_eq!(got, [("a", 7), ("b", 0), ("c", 5)]);
        // Not a listing: passed through.
        let done = Listing::default().finish(AdminReply::Done("x".into()));
        assert!(matches!(done, AdminReply::Done(m) if m == "x"));
    }
}
