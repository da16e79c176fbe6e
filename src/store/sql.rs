//! What the two SQL engines share: the schema, the mapping between rows and
//! [`User`]/[`Token`], and the sealing of PINs and seeds.
//!
//! One schema serves SQLite and PostgreSQL (the column types below exist,
//! or have an alias, in both). Every integer column is a signed 64-bit
//! integer, so steps, counters and times above `i64::MAX` are refused with
//! [`StoreError::Invalid`] rather than wrapped. Seeds and PINs are sealed
//! under the [`StoreKey`] with the token id or user name as associated data,
//! as the earlier stores did, so a row copied onto another row does not
//! decrypt. The `meta` table holds a sealed check text, so that a wrong key
//! file is refused when the store opens, not at the first request.

use std::str::FromStr;

use super::{aad, StoreError, StoreKey, Token, TokenState, User};
use crate::otp::{Algorithm, Kind};
use crate::secret::Secret;

/// The schema version this build writes; [`MIGRATIONS`] brings older ones up.
pub const SCHEMA_VERSION: i64 = 3;

/// The forward migrations: entry `n` takes a store from version `n` to
/// `n + 1` (version 0 is an empty database). Each runs in the transaction
/// that also records the new version.
///
/// `BLOB` is `bytea` on PostgreSQL (see [`for_postgres`]). Groups, their
/// order, per-user reply attributes and API keys are part of the schema
/// from the start, so that the authorization, HTTP API and lockout work
/// builds on one shape; `lock_count` is the number of locks since the last
/// success (escalating lockout).
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE users (
    name         TEXT PRIMARY KEY,
    pin          BLOB,
    enabled      BOOLEAN NOT NULL,
    challenge    BOOLEAN NOT NULL,
    failures     BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    lock_count   BIGINT NOT NULL DEFAULT 0,
    created      BIGINT NOT NULL,
    last_success BIGINT
);
CREATE TABLE user_groups (
    user_name  TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    group_name TEXT NOT NULL,
    position   BIGINT NOT NULL,
    PRIMARY KEY (user_name, group_name)
);
CREATE INDEX user_groups_by_group ON user_groups(group_name);
CREATE TABLE user_replies (
    user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    position  BIGINT NOT NULL,
    attribute TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (user_name, position)
);
CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    owner       TEXT REFERENCES users(name) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    algorithm   TEXT NOT NULL,
    digits      BIGINT NOT NULL,
    period      BIGINT NOT NULL,
    seed        BLOB NOT NULL,
    last_step   BIGINT,
    drift       BIGINT NOT NULL,
    state       TEXT NOT NULL,
    description TEXT NOT NULL,
    created     BIGINT NOT NULL,
    last_used   BIGINT
);
CREATE INDEX tokens_by_owner ON tokens(owner, id);
CREATE TABLE api_keys (
    name      TEXT PRIMARY KEY,
    hash      BLOB NOT NULL,
    scope     TEXT NOT NULL,
    created   BIGINT NOT NULL,
    last_used BIGINT
);
"#,
    // 2: hardware tokens. A token's serial (printed on the device, named by
    // the vendor's seed file), unique where set; several NULLs are allowed
    // by both engines' unique indexes.
    r#"
ALTER TABLE tokens ADD COLUMN serial TEXT;
CREATE UNIQUE INDEX tokens_by_serial ON tokens(serial);
"#,
    // 3: lockout per source (`[lockout] scope = "user+source"`): a user's
    // failures and lock from one source (client name, and `/` and the
    // Calling-Station-Id where sent), beside the user's own row, so that
    // servers on one database share them.
    r#"
CREATE TABLE source_locks (
    user_name    TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    source       TEXT NOT NULL,
    failures     BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    PRIMARY KEY (user_name, source)
);
"#,
];

/// A migration in PostgreSQL's spelling.
pub fn for_postgres(sql: &str) -> String {
    sql.replace(" BLOB", " BYTEA")
}

/// The associated data and text of the key check in `meta`.
pub const KEY_CHECK_AAD: &[u8] = b"radotp key check";
const KEY_CHECK_TEXT: &[u8] = b"radotp";

/// The sealed key check to store in a new database.
pub fn key_check(key: &StoreKey) -> Vec<u8> {
    key.seal(KEY_CHECK_AAD, KEY_CHECK_TEXT)
}

/// Does the stored key check open under `key`?
pub fn key_matches(key: &StoreKey, sealed: &[u8]) -> bool {
    key.open(KEY_CHECK_AAD, sealed).as_deref() == Some(KEY_CHECK_TEXT)
}

/// The error for a key file that does not open the store at `path`.
pub fn wrong_key(path: &str) -> StoreError {
    StoreError::Key {
        path: path.to_string(),
        why: "this key file does not decrypt the store (a different key file than the one it was created with?)".into(),
    }
}

/// A `u64` for a signed 64-bit column.
pub fn int(v: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| {
        StoreError::Invalid(format!("{what} {v} is out of range (at most {})", i64::MAX))
    })
}

/// An optional `u64` for a signed 64-bit column.
pub fn opt_int(v: Option<u64>, what: &str) -> Result<Option<i64>, StoreError> {
    v.map(|v| int(v, what)).transpose()
}

/// A stored signed integer as `u64` (negative: a damaged row).
pub fn uint(v: i64, row: &str) -> Result<u64, StoreError> {
    u64::try_from(v)
        .map_err(|_| StoreError::Corrupt(row.to_string(), format!("negative value {v}")))
}

/// An optional stored integer as `u64`.
pub fn opt_uint(v: Option<i64>, row: &str) -> Result<Option<u64>, StoreError> {
    v.map(|v| uint(v, row)).transpose()
}

/// A user's row, as the columns of `users` in order: name, pin, enabled,
/// challenge, failures, locked_until, created, last_success.
pub struct UserRow {
    pub name: String,
    pub pin: Option<Vec<u8>>,
    pub enabled: bool,
    pub challenge: bool,
    pub failures: i64,
    pub locked_until: Option<i64>,
    pub created: i64,
    pub last_success: Option<i64>,
    /// The groups in order, joined by [`LIST_SEP`] (read by
    /// [`user_read_columns`]; `None`: no groups).
    pub groups: Option<String>,
    /// The reply attributes in order, each `attribute` [`PAIR_SEP`]
    /// `value`, joined by [`LIST_SEP`].
    pub replies: Option<String>,
}

/// The columns of `users` written from a [`UserRow`], in order.
pub const USER_COLUMNS: &str =
    "name, pin, enabled, challenge, failures, locked_until, created, last_success";

/// How many columns [`user_read_columns`] yields.
pub const USER_READ_WIDTH: usize = 10;

/// Separates the groups (and the reply pairs) of one user in the
/// aggregated read: ASCII unit separator, refused in names and values.
pub const LIST_SEP: char = '\u{1f}';
/// Separates an attribute from its value: ASCII record separator.
pub const PAIR_SEP: char = '\u{1e}';

/// The columns a user is read from: [`USER_COLUMNS`] of `table` (a table
/// name or alias), then its groups and its reply attributes, each
/// aggregated in `position` order into one text, so that a user is still
/// one row and one round trip. `pg` picks PostgreSQL's spelling.
pub fn user_read_columns(table: &str, pg: bool) -> String {
    let (agg, sep) = if pg {
        ("string_agg", "chr(31)")
    } else {
        ("group_concat", "char(31)")
    };
    let pair = if pg { "chr(30)" } else { "char(30)" };
    let cols: Vec<String> = USER_COLUMNS
        .split(", ")
        .map(|c| format!("{table}.{c}"))
        .collect();
    format!(
        "{}, (SELECT {agg}(g.group_name, {sep} ORDER BY g.position) FROM user_groups g WHERE g.user_name = {table}.name), \
         (SELECT {agg}(r.attribute || {pair} || r.value, {sep} ORDER BY r.position) FROM user_replies r WHERE r.user_name = {table}.name)",
        cols.join(", ")
    )
}

/// Checks a user's groups and reply attributes can be stored: no empty
/// group, no group twice, no separator or other control character.
pub fn check_lists(u: &User) -> Result<(), StoreError> {
    let bad = |s: &str| s.chars().any(char::is_control);
    let mut seen = std::collections::HashSet::new();
    for g in &u.groups {
        if g.trim().is_empty() || bad(g) || g.len() > 128 {
            return Err(StoreError::Invalid(format!(
                "user {}: group name '{}' must be 1 to 128 characters without control characters",
                u.name,
                g.escape_debug()
            )));
        }
        if !seen.insert(g.as_str()) {
            return Err(StoreError::Invalid(format!(
                "user {}: group '{g}' is listed twice",
                u.name
            )));
        }
    }
    for (a, v) in &u.replies {
        if a.is_empty() || bad(a) || bad(v) {
            return Err(StoreError::Invalid(format!(
                "user {}: reply attribute '{}' = '{}' has a control character or no name",
                u.name,
                a.escape_debug(),
                v.escape_debug()
            )));
        }
    }
    Ok(())
}

/// A user's groups and reply attributes.
type Lists = (Vec<String>, Vec<(String, String)>);

/// The user's groups and replies back from their aggregated text.
fn split_lists(
    groups: Option<String>,
    replies: Option<String>,
    row: &str,
) -> Result<Lists, StoreError> {
    let groups = groups
        .map(|g| g.split(LIST_SEP).map(str::to_string).collect())
        .unwrap_or_default();
    let replies = match replies {
        None => Vec::new(),
        Some(r) => r
            .split(LIST_SEP)
            .map(|p| {
                p.split_once(PAIR_SEP)
                    .map(|(a, v)| (a.to_string(), v.to_string()))
                    .ok_or_else(|| {
                        StoreError::Corrupt(
                            row.to_string(),
                            "reply attribute without a value".into(),
                        )
                    })
            })
            .collect::<Result<_, _>>()?,
    };
    Ok((groups, replies))
}

impl UserRow {
    /// The row of `u`, its PIN sealed.
    pub fn seal(u: &User, key: &StoreKey) -> Result<UserRow, StoreError> {
        check_lists(u)?;
        Ok(UserRow {
            name: u.name.clone(),
            pin: u
                .pin
                .as_ref()
                .map(|p| key.seal(&aad(b"pin:", &u.name), p.expose())),
            enabled: u.enabled,
            challenge: u.challenge,
            failures: i64::from(u.failures),
            locked_until: opt_int(u.locked_until, "locked_until")?,
            created: int(u.created, "created")?,
            last_success: opt_int(u.last_success, "last_success")?,
            // Written by the engine into user_groups/user_replies.
            groups: None,
            replies: None,
        })
    }

    /// The user of this row, its PIN opened.
    pub fn open(self, key: &StoreKey) -> Result<User, StoreError> {
        let pin = match &self.pin {
            None => None,
            Some(sealed) => Some(Secret::new(
                key.open(&aad(b"pin:", &self.name), sealed)
                    .ok_or_else(|| StoreError::Decrypt(format!("user {}", self.name)))?,
            )),
        };
        let row = format!("user {}", self.name);
        let (groups, replies) = split_lists(self.groups, self.replies, &row)?;
        Ok(User {
            groups,
            replies,
            pin,
            enabled: self.enabled,
            challenge: self.challenge,
            failures: u32::try_from(self.failures.max(0)).unwrap_or(u32::MAX),
            locked_until: opt_uint(self.locked_until, &row)?,
            created: uint(self.created, &row)?,
            last_success: opt_uint(self.last_success, &row)?,
            name: self.name,
        })
    }
}

/// A token's row, as the columns of `tokens` in order (see [`TOKEN_COLUMNS`]).
pub struct TokenRow {
    pub id: String,
    /// NULL for an unassigned token (the `Token`'s empty owner).
    pub owner: Option<String>,
    pub kind: String,
    pub algorithm: String,
    pub digits: i64,
    pub period: i64,
    pub seed: Vec<u8>,
    pub last_step: Option<i64>,
    pub drift: i64,
    pub state: String,
    pub description: String,
    pub created: i64,
    pub last_used: Option<i64>,
    pub serial: Option<String>,
}

/// The columns [`TokenRow`] is read from, in order.
pub const TOKEN_COLUMNS: &str = "id, owner, kind, algorithm, digits, period, seed, last_step, drift, state, description, created, last_used, serial";

impl TokenRow {
    /// The row of `t`, its seed sealed.
    pub fn seal(t: &Token, key: &StoreKey) -> Result<TokenRow, StoreError> {
        Ok(TokenRow {
            id: t.id.clone(),
            owner: (!t.owner.is_empty()).then(|| t.owner.clone()),
            kind: t.kind.as_str().to_string(),
            algorithm: t.algorithm.as_str().to_string(),
            digits: i64::from(t.digits),
            period: i64::from(t.period),
            seed: key.seal(&aad(b"seed:", &t.id), t.seed.expose()),
            last_step: opt_int(t.last, "last step/counter")?,
            drift: t.drift,
            state: t.state.as_str().to_string(),
            description: t.description.clone(),
            created: int(t.created, "created")?,
            last_used: opt_int(t.last_used, "last_used")?,
            serial: t.serial.clone(),
        })
    }

    /// The token of this row, its seed opened.
    pub fn open(self, key: &StoreKey) -> Result<Token, StoreError> {
        let row = format!("token {}", self.id);
        let bad = |what: &str, v: &str| StoreError::Corrupt(row.clone(), format!("{what} '{v}'"));
        let seed = key
            .open(&aad(b"seed:", &self.id), &self.seed)
            .ok_or_else(|| StoreError::Decrypt(row.clone()))?;
        Ok(Token {
            owner: self.owner.unwrap_or_default(),
            serial: self.serial,
            kind: Kind::from_str(&self.kind).map_err(|_| bad("kind", &self.kind))?,
            algorithm: Algorithm::from_str(&self.algorithm)
                .map_err(|_| bad("algorithm", &self.algorithm))?,
            digits: u32::try_from(self.digits)
                .map_err(|_| bad("digits", &self.digits.to_string()))?,
            period: u32::try_from(self.period)
                .map_err(|_| bad("period", &self.period.to_string()))?,
            seed: Secret::new(seed),
            last: opt_uint(self.last_step, &row)?,
            drift: self.drift,
            state: state_from(&self.state).ok_or_else(|| bad("state", &self.state))?,
            description: self.description,
            created: uint(self.created, &row)?,
            last_used: opt_uint(self.last_used, &row)?,
            id: self.id,
        })
    }
}

/// The columns of `api_keys`, in order: name, hash, scope, created, last_used.
pub const API_KEY_COLUMNS: &str = "name, hash, scope, created, last_used";

/// An API key from its columns.
pub fn api_key_from(
    name: String,
    hash: Vec<u8>,
    scope: &str,
    created: i64,
    last_used: Option<i64>,
) -> Result<super::ApiKey, StoreError> {
    let row = format!("API key {name}");
    Ok(super::ApiKey {
        scope: super::ApiScope::parse(scope)
            .ok_or_else(|| StoreError::Corrupt(row.clone(), format!("scope '{scope}'")))?,
        created: uint(created, &row)?,
        last_used: opt_uint(last_used, &row)?,
        hash,
        name,
    })
}

fn state_from(s: &str) -> Option<TokenState> {
    Some(match s {
        "pending" => TokenState::Pending,
        "active" => TokenState::Active,
        "disabled" => TokenState::Disabled,
        _ => return None,
    })
}

/// Checks an import before anything is written: every token id new (to
/// the store, per `stored`, and within the import) and every owner either
/// empty (unassigned), stored (per `owner_known`) or among `users`.
pub fn check_import(
    users: &[User],
    tokens: &[Token],
    stored: &mut dyn FnMut(&str) -> Result<bool, StoreError>,
    owner_known: &mut dyn FnMut(&str) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let new_users: std::collections::HashSet<&str> =
        users.iter().map(|u| u.name.as_str()).collect();
    let mut ids = std::collections::HashSet::new();
    for t in tokens {
        if !ids.insert(t.id.as_str()) || stored(&t.id)? {
            return Err(StoreError::TokenExists(t.id.clone()));
        }
        if !t.owner.is_empty() && !new_users.contains(t.owner.as_str()) && !owner_known(&t.owner)? {
            return Err(StoreError::NoSuchUser(t.owner.clone()));
        }
    }
    Ok(())
}

/// Checks the serials of an import: each new to the store (per
/// `serial_stored`) and used once within the import.
pub fn check_import_serials(
    tokens: &[Token],
    serial_stored: &mut dyn FnMut(&str) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let mut seen = std::collections::HashSet::new();
    for s in tokens.iter().filter_map(|t| t.serial.as_deref()) {
        if !seen.insert(s) || serial_stored(s)? {
            return Err(StoreError::SerialExists(s.to_string()));
        }
    }
    Ok(())
}
