//! The shared store: one PostgreSQL database for two or more radotp servers.
//!
//! Every server on the database sees the same users, tokens, replay state
//! and locks; nothing is cached between requests, so a change made through
//! one server is in force on all of them for the next request. The schema
//! is [`super::sql`]'s, migrated forward at open under an advisory lock (two
//! servers starting at once do not both migrate).
//!
//! Exactly once across servers: [`TokenStore::commit`] runs a batch of
//! Accepts as conditional updates (`... WHERE last_step < new`) in one
//! transaction; PostgreSQL's row locks make a second server's update of
//! the same row wait for the first's commit and then find the condition
//! false, so its row count says it lost. The batch locks its token rows in
//! id order and then its user rows in name order, so two servers' batches
//! cannot deadlock each other.
//!
//! Connections come from a small pool; a broken one is dropped and a new
//! one made on the next call. While the database is unreachable, calls
//! fail at once with [`StoreError::Unavailable`] during a back-off that
//! doubles from 100 ms up to 5 s, so an outage costs no connect storm and
//! recovery is noticed within seconds. TLS (rustls) when the URL asks for
//! it (`sslmode=require`).

use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use postgres::config::SslMode;
use postgres::{Client, Config, NoTls, Row, Statement, Transaction};

use super::sql::{self, TokenRow, UserRow, API_KEY_COLUMNS, TOKEN_COLUMNS, USER_COLUMNS};
use super::{
    count_failure, ApiKey, Failure, LockRule, SourceLock, StoreError, StoreKey, Token, TokenStore,
    UseCommit, User,
};

/// How the store reaches its database.
#[derive(Clone)]
pub struct PgOptions {
    /// `postgresql://user@host:port/db?sslmode=require`.
    pub url: String,
    /// A file whose first line is the password (instead of one in the URL).
    pub password_file: Option<std::path::PathBuf>,
    /// PEM file of the CA certificates the server's certificate must chain
    /// to (default: the web PKI roots).
    pub ca_file: Option<std::path::PathBuf>,
    /// Connections kept at most.
    pub pool_size: usize,
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &redact_url(&self.url))
            .field("password_file", &self.password_file)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

pub use crate::config::redact_url;

enum Tls {
    None,
    Rustls(tokio_postgres_rustls::MakeRustlsConnect),
}

struct Health {
    /// While set, calls fail at once (back-off after a failed connect).
    retry_at: Option<Instant>,
    backoff: Duration,
}

/// Users and tokens in PostgreSQL.
pub struct PgStore {
    config: Config,
    shown: String,
    tls: Tls,
    key: StoreKey,
    pool: Mutex<Vec<Conn>>,
    pool_size: usize,
    health: Mutex<Health>,
}

/// A pooled connection and the statements prepared on it (the request
/// path's reads: parsed and planned once per connection, not per request).
struct Conn {
    client: Client,
    prepared: std::collections::HashMap<&'static str, Statement>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &self.shown)
            .finish_non_exhaustive()
    }
}

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

fn db_err(e: postgres::Error) -> StoreError {
    if e.is_closed() || e.as_db_error().is_none() {
        StoreError::Unavailable(format!("postgresql: {e}"))
    } else {
        StoreError::Io(format!("postgresql: {e}"))
    }
}

fn tls_config(ca_file: Option<&Path>) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(p) = ca_file {
        for c in CertificateDer::pem_file_iter(p).map_err(|e| format!("{}: {e}", p.display()))? {
            let c = c.map_err(|e| format!("{}: {e}", p.display()))?;
            roots.add(c).map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    // ring builds without cmake; a database link gains nothing from the
    // post-quantum key exchange the newer default provider adds.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(cfg))
}

fn user_row(r: &Row, at: usize) -> UserRow {
    UserRow {
        name: r.get(at),
        pin: r.get(at + 1),
        enabled: r.get(at + 2),
        challenge: r.get(at + 3),
        failures: r.get(at + 4),
        locked_until: r.get(at + 5),
        created: r.get(at + 6),
        last_success: r.get(at + 7),
        groups: r.get(at + 8),
        replies: r.get(at + 9),
    }
}

/// A user's columns as read, groups and replies included.
static USER_READ: LazyLock<String> = LazyLock::new(|| sql::user_read_columns("users", true));

fn token_row(r: &Row, at: usize) -> TokenRow {
    TokenRow {
        id: r.get(at),
        owner: r.get(at + 1),
        kind: r.get(at + 2),
        algorithm: r.get(at + 3),
        digits: r.get(at + 4),
        period: r.get(at + 5),
        seed: r.get(at + 6),
        last_step: r.get(at + 7),
        drift: r.get(at + 8),
        state: r.get(at + 9),
        description: r.get(at + 10),
        created: r.get(at + 11),
        last_used: r.get(at + 12),
        serial: r.get(at + 13),
    }
}

/// `users` columns prefixed with `u.`, tokens' with `t.` (for the join).
fn prefixed(cols: &str, p: &str) -> String {
    cols.split(", ")
        .map(|c| format!("{p}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl PgStore {
    /// Connects, migrates the schema forward and checks the key.
    pub fn open(opts: &PgOptions, key: StoreKey) -> Result<PgStore, StoreError> {
        let shown = redact_url(&opts.url);
        let open_err = |why: String| StoreError::Open {
            path: shown.clone(),
            why,
        };
        let mut config: Config = opts
            .url
            .parse()
            .map_err(|e| open_err(format!("not a PostgreSQL URL: {e}")))?;
        if let Some(p) = &opts.password_file {
            let text = std::fs::read_to_string(p)
                .map_err(|e| open_err(format!("password_file {}: {e}", p.display())))?;
            config.password(text.lines().next().unwrap_or("").as_bytes());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.application_name("radotp");
        let tls = match config.get_ssl_mode() {
            SslMode::Require => Tls::Rustls(tls_config(opts.ca_file.as_deref()).map_err(open_err)?),
            _ => Tls::None,
        };
        let store = PgStore {
            config,
            shown: shown.clone(),
            tls,
            key,
            pool: Mutex::new(Vec::new()),
            pool_size: opts.pool_size.max(1),
            health: Mutex::new(Health {
                retry_at: None,
                backoff: MIN_BACKOFF,
            }),
        };
        let mut c = store.connect().map_err(|e| open_err(e.to_string()))?;
        store.migrate(&mut c)?;
        store.put(Conn {
            client: c,
            prepared: Default::default(),
        });
        Ok(store)
    }

    fn connect(&self) -> Result<Client, StoreError> {
        let r = match &self.tls {
            Tls::None => self.config.connect(NoTls),
            Tls::Rustls(t) => self.config.connect(t.clone()),
        };
        r.map_err(|e| StoreError::Unavailable(format!("cannot connect to {}: {e}", self.shown)))
    }

    fn migrate(&self, c: &mut Client) -> Result<(), StoreError> {
        let mut tx = c.transaction().map_err(db_err)?;
        // One migrating server at a time; the others wait here.
        tx.execute("SELECT pg_advisory_xact_lock(7246101)", &[])
            .map_err(db_err)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS radotp_schema (version BIGINT NOT NULL)")
            .map_err(db_err)?;
        let version: i64 = tx
            .query_opt("SELECT version FROM radotp_schema", &[])
            .map_err(db_err)?
            .map_or(0, |r| r.get(0));
        if version > sql::SCHEMA_VERSION {
            return Err(StoreError::Open {
                path: self.shown.clone(),
                why: format!(
                    "schema version {version} is newer than this radotp knows ({}): upgrade radotp",
                    sql::SCHEMA_VERSION
                ),
            });
        }
        for m in sql::MIGRATIONS.iter().skip(version as usize) {
            tx.batch_execute(&sql::for_postgres(m)).map_err(db_err)?;
        }
        tx.execute("DELETE FROM radotp_schema", &[])
            .map_err(db_err)?;
        tx.execute(
            "INSERT INTO radotp_schema (version) VALUES ($1)",
            &[&sql::SCHEMA_VERSION],
        )
        .map_err(db_err)?;
        let check: Option<Vec<u8>> = tx
            .query_opt("SELECT value FROM meta WHERE key = 'key_check'", &[])
            .map_err(db_err)?
            .map(|r| r.get(0));
        match check {
            Some(c) if !sql::key_matches(&self.key, &c) => return Err(sql::wrong_key(&self.shown)),
            Some(_) => {}
            None => {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('key_check', $1)",
                    &[&sql::key_check(&self.key)],
                )
                .map_err(db_err)?;
            }
        }
        tx.commit().map_err(db_err)
    }

    fn health(&self) -> MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection: from the pool, or a new one (unless in back-off).
    fn get(&self) -> Result<Conn, StoreError> {
        if let Some(c) = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            if !c.client.is_closed() {
                return Ok(c);
            }
        }
        if let Some(at) = self.health().retry_at {
            if Instant::now() < at {
                return Err(StoreError::Unavailable(format!(
                    "{} unreachable; retrying shortly",
                    self.shown
                )));
            }
        }
        match self.connect() {
            Ok(client) => {
                let mut h = self.health();
                h.retry_at = None;
                h.backoff = MIN_BACKOFF;
                Ok(Conn {
                    client,
                    prepared: Default::default(),
                })
            }
            Err(e) => {
                let mut h = self.health();
                h.retry_at = Some(Instant::now() + h.backoff);
                h.backoff = (h.backoff * 2).min(MAX_BACKOFF);
                Err(e)
            }
        }
    }

    fn put(&self, c: Conn) {
        if c.client.is_closed() {
            return;
        }
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < self.pool_size {
            pool.push(c);
        }
    }

    /// Runs `f` on a pooled connection; a connection that broke is dropped.
    fn with<R>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut c = self.get()?;
        let r = f(&mut c.client);
        self.put(c);
        r
    }

    /// Runs `f` with `sql` prepared on a pooled connection (once per
    /// connection).
    fn with_prepared<R>(
        &self,
        sql: &'static str,
        f: impl FnOnce(&mut Client, &Statement) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut c = self.get()?;
        let r = (|| {
            let st = match c.prepared.get(sql) {
                Some(st) => st.clone(),
                None => {
                    let st = c.client.prepare(sql).map_err(db_err)?;
                    c.prepared.insert(sql, st.clone());
                    st
                }
            };
            f(&mut c.client, &st)
        })();
        if r.is_err() {
            // A statement prepared before a schema change (another
            // server's migration) fails: prepare afresh next time.
            c.prepared.clear();
        }
        self.put(c);
        r
    }

    /// Runs `f` in a transaction with `sqls` prepared on the connection
    /// (once per connection), and commits it.
    fn tx_prepared<R, const N: usize>(
        &self,
        sqls: [&'static str; N],
        f: impl FnOnce(&mut Transaction<'_>, &[Statement; N]) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut c = self.get()?;
        let r = (|| {
            let mut sts = Vec::with_capacity(N);
            for sql in sqls {
                let st = match c.prepared.get(sql) {
                    Some(st) => st.clone(),
                    None => {
                        let st = c.client.prepare(sql).map_err(db_err)?;
                        c.prepared.insert(sql, st.clone());
                        st
                    }
                };
                sts.push(st);
            }
            let sts: [Statement; N] = sts
                .try_into()
                .map_err(|_| StoreError::Unavailable("statement count".into()))?;
            let mut tx = c.client.transaction().map_err(db_err)?;
            let r = f(&mut tx, &sts)?;
            tx.commit().map_err(db_err)?;
            Ok(r)
        })();
        if r.is_err() {
            c.prepared.clear();
        }
        self.put(c);
        r
    }

    /// Runs `f` in a transaction and commits it.
    fn tx<R>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.with(|c| {
            let mut tx = c.transaction().map_err(db_err)?;
            let r = f(&mut tx)?;
            tx.commit().map_err(db_err)?;
            Ok(r)
        })
    }

    fn tokens_where(&self, clause: &str, arg: &str) -> Result<Vec<Token>, StoreError> {
        let rows = self.with(|c| {
            c.query(
                &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE {clause} ORDER BY id"),
                &[&arg],
            )
            .map_err(db_err)
        })?;
        rows.iter()
            .map(|r| token_row(r, 0).open(&self.key))
            .collect()
    }
}

fn exists(tx: &mut Transaction<'_>, sql: &str, arg: &str) -> Result<bool, StoreError> {
    Ok(tx.query_opt(sql, &[&arg]).map_err(db_err)?.is_some())
}

fn user_exists(tx: &mut Transaction<'_>, name: &str) -> Result<bool, StoreError> {
    exists(tx, "SELECT 1 FROM users WHERE name = $1", name)
}

fn token_exists(tx: &mut Transaction<'_>, id: &str) -> Result<bool, StoreError> {
    exists(tx, "SELECT 1 FROM tokens WHERE id = $1", id)
}

/// Is `t`'s serial (if any) held by another token?
fn serial_taken(tx: &mut Transaction<'_>, t: &Token) -> Result<bool, StoreError> {
    let Some(serial) = &t.serial else {
        return Ok(false);
    };
    Ok(tx
        .query_opt(
            "SELECT 1 FROM tokens WHERE serial = $1 AND id <> $2",
            &[serial, &t.id],
        )
        .map_err(db_err)?
        .is_some())
}

/// An owner a token may name: empty (unassigned) or a stored user.
fn owner_ok(tx: &mut Transaction<'_>, owner: &str) -> Result<bool, StoreError> {
    Ok(owner.is_empty() || user_exists(tx, owner)?)
}

fn insert_user(tx: &mut Transaction<'_>, u: &UserRow) -> Result<u64, StoreError> {
    tx.execute(
        &format!(
            "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (name) DO NOTHING"
        ),
        &[&u.name, &u.pin, &u.enabled, &u.challenge, &u.failures, &u.locked_until, &u.created, &u.last_success],
    )
    .map_err(db_err)
}

/// Replaces the stored groups and reply attributes of `u` with its own.
fn write_lists(tx: &mut Transaction<'_>, u: &User) -> Result<(), StoreError> {
    tx.execute("DELETE FROM user_groups WHERE user_name = $1", &[&u.name])
        .map_err(db_err)?;
    tx.execute("DELETE FROM user_replies WHERE user_name = $1", &[&u.name])
        .map_err(db_err)?;
    for (i, g) in u.groups.iter().enumerate() {
        tx.execute(
            "INSERT INTO user_groups (user_name, group_name, position) VALUES ($1, $2, $3)",
            &[&u.name, g, &(i as i64)],
        )
        .map_err(db_err)?;
    }
    for (i, (a, v)) in u.replies.iter().enumerate() {
        tx.execute(
            "INSERT INTO user_replies (user_name, position, attribute, value) VALUES ($1, $2, $3, $4)",
            &[&u.name, &(i as i64), a, v],
        )
        .map_err(db_err)?;
    }
    Ok(())
}

fn insert_token(tx: &mut Transaction<'_>, t: &TokenRow) -> Result<u64, StoreError> {
    tx.execute(
        &format!(
            "INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ),
        &[
            &t.id, &t.owner, &t.kind, &t.algorithm, &t.digits, &t.period, &t.seed, &t.last_step, &t.drift,
            &t.state, &t.description, &t.created, &t.last_used, &t.serial,
        ],
    )
    .map_err(db_err)
}

/// Counts the failures of one user (locking its row); no such user: None.
fn fail(tx: &mut Transaction<'_>, f: &Failure) -> Result<Option<()>, StoreError> {
    let Some(r) = tx
        .query_opt(
            "SELECT failures, locked_until FROM users WHERE name = $1 FOR UPDATE",
            &[&f.user],
        )
        .map_err(db_err)?
    else {
        return Ok(None);
    };
    let mut failures = u32::try_from(r.get::<_, i64>(0).max(0)).unwrap_or(u32::MAX);
    let mut locked = r
        .get::<_, Option<i64>>(1)
        .and_then(|l| u64::try_from(l).ok());
    count_failure(&mut failures, &mut locked, f.now, f.rule);
    let locked = sql::opt_int(locked, "locked_until")?;
    tx.execute(
        "UPDATE users SET failures = $1, locked_until = $2 WHERE name = $3",
        &[&i64::from(failures), &locked, &f.user],
    )
    .map_err(db_err)?;
    Ok(Some(()))
}

/// A `source_locks` row's columns as a [`SourceLock`].
fn source_lock_of((source, failures, locked): (String, i64, Option<i64>)) -> SourceLock {
    SourceLock {
        source,
        failures: u32::try_from(failures.max(0)).unwrap_or(u32::MAX),
        locked_until: locked.and_then(|l| u64::try_from(l).ok()),
    }
}

/// One failure of `user` from `source`, counted by the user row's rule.
/// The user's row is locked first (the order of [`fail`] and of the
/// commit's user loop), so that servers counting the same pair queue up.
fn fail_source(
    tx: &mut Transaction<'_>,
    user: &str,
    source: &str,
    now: u64,
    rule: LockRule,
) -> Result<Option<SourceLock>, StoreError> {
    let exists = tx
        .query_opt("SELECT 1 FROM users WHERE name = $1 FOR UPDATE", &[&user])
        .map_err(db_err)?;
    if exists.is_none() {
        return Ok(None);
    }
    let row = tx
        .query_opt(
            "SELECT failures, locked_until FROM source_locks WHERE user_name = $1 AND source = $2",
            &[&user, &source],
        )
        .map_err(db_err)?;
    let mut l = match row {
        Some(r) => source_lock_of((source.to_string(), r.get(0), r.get(1))),
        None => SourceLock {
            source: source.to_string(),
            failures: 0,
            locked_until: None,
        },
    };
    count_failure(&mut l.failures, &mut l.locked_until, now, rule);
    let locked = sql::opt_int(l.locked_until, "locked_until")?;
    tx.execute(
        "INSERT INTO source_locks (user_name, source, failures, locked_until) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_name, source) DO UPDATE SET failures = excluded.failures, locked_until = excluded.locked_until",
        &[&user, &source, &i64::from(l.failures), &locked],
    )
    .map_err(db_err)?;
    Ok(Some(l))
}

/// Forgets `user`'s rows of `source` (`None`: of every source), the
/// user's row locked first as in [`fail_source`].
fn clear_sources(
    tx: &mut Transaction<'_>,
    user: &str,
    source: Option<&str>,
) -> Result<(), StoreError> {
    tx.query_opt("SELECT 1 FROM users WHERE name = $1 FOR UPDATE", &[&user])
        .map_err(db_err)?;
    match source {
        Some(src) => tx.execute(
            "DELETE FROM source_locks WHERE user_name = $1 AND source = $2",
            &[&user, &src],
        ),
        None => tx.execute("DELETE FROM source_locks WHERE user_name = $1", &[&user]),
    }
    .map_err(db_err)
    .map(drop)
}

/// The statements of [`PgStore::commit`], prepared once per connection:
/// lock the batch's tokens in id order; apply one round of uses; lock the
/// users in name order; clear the winners' failure counts.
const COMMIT_SQL: [&str; 4] = [
    "SELECT 1 FROM tokens WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    "UPDATE tokens t SET last_step = v.step, drift = v.drift, last_used = v.now, \
     state = CASE WHEN v.activate AND t.state = 'pending' THEN 'active' ELSE t.state END \
     FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::boolean[], $6::bigint[]) \
     AS v(id, step, drift, now, activate, ord) \
     WHERE t.id = v.id AND (t.last_step IS NULL OR t.last_step < v.step) \
     RETURNING v.ord",
    "SELECT 1 FROM users WHERE name = ANY($1) ORDER BY name FOR UPDATE",
    "UPDATE users u SET failures = 0, locked_until = NULL, lock_count = 0, last_success = v.now \
     FROM unnest($1::text[], $2::bigint[]) AS v(name, now) WHERE u.name = v.name",
];

/// The uses of a batch in rounds: round `k` holds the `k`-th use of each
/// token (in arrival order), so no round names a token twice.
fn rounds(uses: &[UseCommit]) -> Vec<Vec<usize>> {
    let mut seen: std::collections::HashMap<&str, usize> = Default::default();
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    for (i, u) in uses.iter().enumerate() {
        let n = seen.entry(u.token.as_str()).or_default();
        if rounds.len() <= *n {
            rounds.push(Vec::new());
        }
        rounds[*n].push(i);
        *n += 1;
    }
    rounds
}

fn succeed(tx: &mut Transaction<'_>, name: &str, now: u64) -> Result<u64, StoreError> {
    tx.execute(
        "UPDATE users SET failures = 0, locked_until = NULL, lock_count = 0, last_success = $1 WHERE name = $2",
        &[&sql::int(now, "time")?, &name],
    )
    .map_err(db_err)
}

impl TokenStore for PgStore {
    fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        let row = self.with(|c| {
            c.query_opt(
                &format!("SELECT {} FROM users WHERE name = $1", *USER_READ),
                &[&name],
            )
            .map_err(db_err)
        })?;
        row.map(|r| user_row(&r, 0).open(&self.key)).transpose()
    }

    fn users(&self) -> Result<Vec<User>, StoreError> {
        let rows = self.with(|c| {
            c.query(
                &format!("SELECT {} FROM users ORDER BY name", *USER_READ),
                &[],
            )
            .map_err(db_err)
        })?;
        rows.iter()
            .map(|r| user_row(r, 0).open(&self.key))
            .collect()
    }

    fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        let row = UserRow::seal(user, &self.key)?;
        self.tx(|tx| {
            if insert_user(tx, &row)? == 0 {
                return Err(StoreError::UserExists(user.name.clone()));
            }
            write_lists(tx, user)
        })
    }

    fn update_user(&self, user: &User) -> Result<(), StoreError> {
        let u = UserRow::seal(user, &self.key)?;
        self.tx(|tx| {
            let n = tx
                .execute(
                    "UPDATE users SET pin = $2, enabled = $3, challenge = $4, failures = $5, \
                 locked_until = $6, created = $7, last_success = $8 WHERE name = $1",
                    &[
                        &u.name,
                        &u.pin,
                        &u.enabled,
                        &u.challenge,
                        &u.failures,
                        &u.locked_until,
                        &u.created,
                        &u.last_success,
                    ],
                )
                .map_err(db_err)?;
            if n == 0 {
                return Err(StoreError::NoSuchUser(user.name.clone()));
            }
            write_lists(tx, user)
        })
    }

    fn delete_user(&self, name: &str) -> Result<(), StoreError> {
        let n = self.with(|c| {
            c.execute("DELETE FROM users WHERE name = $1", &[&name])
                .map_err(db_err)
        })?;
        match n {
            0 => Err(StoreError::NoSuchUser(name.to_string())),
            _ => Ok(()),
        }
    }

    fn token(&self, id: &str) -> Result<Option<Token>, StoreError> {
        Ok(self.tokens_where("id = $1", id)?.pop())
    }

    fn tokens(&self) -> Result<Vec<Token>, StoreError> {
        self.tokens_where("$1 = $1", "")
    }

    fn tokens_of(&self, owner: &str) -> Result<Vec<Token>, StoreError> {
        self.tokens_where("owner = $1", owner)
    }

    fn token_by_serial(&self, serial: &str) -> Result<Option<Token>, StoreError> {
        Ok(self.tokens_where("serial = $1", serial)?.pop())
    }

    fn user_with_tokens(&self, name: &str) -> Result<Option<(User, Vec<Token>)>, StoreError> {
        // One round trip, one snapshot: the user joined with its tokens.
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {}, {} FROM users u LEFT JOIN tokens t ON t.owner = u.name WHERE u.name = $1 ORDER BY t.id",
                sql::user_read_columns("u", true),
                prefixed(TOKEN_COLUMNS, "t")
            )
        });
        let rows =
            self.with_prepared(SQL.as_str(), |c, st| c.query(st, &[&name]).map_err(db_err))?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let user = user_row(first, 0).open(&self.key)?;
        let mut tokens = Vec::new();
        for r in &rows {
            if r.get::<_, Option<String>>(sql::USER_READ_WIDTH).is_some() {
                tokens.push(token_row(r, sql::USER_READ_WIDTH).open(&self.key)?);
            }
        }
        Ok(Some((user, tokens)))
    }

    fn user_with_tokens_from(
        &self,
        name: &str,
        source: &str,
    ) -> Result<Option<(User, Vec<Token>, Option<SourceLock>)>, StoreError> {
        // Still one round trip: the source's row (at most one) joined too.
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {}, sl.failures, sl.locked_until, {} FROM users u \
                 LEFT JOIN source_locks sl ON sl.user_name = u.name AND sl.source = $2 \
                 LEFT JOIN tokens t ON t.owner = u.name WHERE u.name = $1 ORDER BY t.id",
                sql::user_read_columns("u", true),
                prefixed(TOKEN_COLUMNS, "t")
            )
        });
        let rows = self.with_prepared(SQL.as_str(), |c, st| {
            c.query(st, &[&name, &source]).map_err(db_err)
        })?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let user = user_row(first, 0).open(&self.key)?;
        let w = sql::USER_READ_WIDTH;
        let lock = first
            .get::<_, Option<i64>>(w)
            .map(|f| source_lock_of((source.to_string(), f, first.get(w + 1))));
        let mut tokens = Vec::new();
        for r in &rows {
            if r.get::<_, Option<String>>(w + 2).is_some() {
                tokens.push(token_row(r, w + 2).open(&self.key)?);
            }
        }
        Ok(Some((user, tokens, lock)))
    }

    fn source_lock(&self, user: &str, source: &str) -> Result<Option<SourceLock>, StoreError> {
        let row = self.with(|c| {
            c.query_opt(
                "SELECT failures, locked_until FROM source_locks WHERE user_name = $1 AND source = $2",
                &[&user, &source],
            )
            .map_err(db_err)
        })?;
        Ok(row.map(|r| source_lock_of((source.to_string(), r.get(0), r.get(1)))))
    }

    fn source_locks(&self, user: &str) -> Result<Vec<SourceLock>, StoreError> {
        let rows = self.with(|c| {
            c.query(
                "SELECT source, failures, locked_until FROM source_locks WHERE user_name = $1 ORDER BY source",
                &[&user],
            )
            .map_err(db_err)
        })?;
        Ok(rows
            .iter()
            .map(|r| source_lock_of((r.get(0), r.get(1), r.get(2))))
            .collect())
    }

    fn record_source_failure(
        &self,
        user: &str,
        source: &str,
        now: u64,
        rule: LockRule,
    ) -> Result<Option<SourceLock>, StoreError> {
        self.tx(|tx| fail_source(tx, user, source, now, rule))
    }

    fn clear_source_locks(&self, user: &str, source: Option<&str>) -> Result<(), StoreError> {
        self.tx(|tx| clear_sources(tx, user, source))
    }

    fn each_user_page(
        &self,
        page: usize,
        f: &mut dyn FnMut(Vec<(User, usize)>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut after: Option<String> = None;
        loop {
            let rows = self.with(|c| {
                c.query(
                    &format!(
                        "SELECT {}, (SELECT count(*) FROM tokens WHERE owner = users.name) \
                         FROM users WHERE $1::text IS NULL OR name > $1 ORDER BY name LIMIT $2",
                        *USER_READ
                    ),
                    &[&after, &(page.max(1) as i64)],
                )
                .map_err(db_err)
            })?;
            let part = rows
                .iter()
                .map(|r| {
                    Ok((
                        user_row(r, 0).open(&self.key)?,
                        r.get::<_, i64>(sql::USER_READ_WIDTH) as usize,
                    ))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let Some(last) = part.last() else {
                return Ok(());
            };
            after = Some(last.0.name.clone());
            f(part)?;
        }
    }

    fn each_token_page(
        &self,
        page: usize,
        f: &mut dyn FnMut(Vec<Token>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut after: Option<String> = None;
        loop {
            let rows = self.with(|c| {
                c.query(
                    &format!(
                        "SELECT {TOKEN_COLUMNS} FROM tokens WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT $2"
                    ),
                    &[&after, &(page.max(1) as i64)],
                )
                .map_err(db_err)
            })?;
            let part = rows
                .iter()
                .map(|r| token_row(r, 0).open(&self.key))
                .collect::<Result<Vec<_>, _>>()?;
            let Some(last) = part.last() else {
                return Ok(());
            };
            after = Some(last.id.clone());
            f(part)?;
        }
    }

    fn insert_token(&self, token: &Token) -> Result<(), StoreError> {
        let row = TokenRow::seal(token, &self.key)?;
        self.tx(|tx| {
            if !owner_ok(tx, &token.owner)? {
                return Err(StoreError::NoSuchUser(token.owner.clone()));
            }
            if token_exists(tx, &token.id)? {
                return Err(StoreError::TokenExists(token.id.clone()));
            }
            if serial_taken(tx, token)? {
                return Err(StoreError::SerialExists(
                    token.serial.clone().unwrap_or_default(),
                ));
            }
            insert_token(tx, &row).map(drop)
        })
    }

    fn update_token(&self, token: &Token) -> Result<(), StoreError> {
        let t = TokenRow::seal(token, &self.key)?;
        self.tx(|tx| {
            if !token_exists(tx, &token.id)? {
                return Err(StoreError::NoSuchToken(token.id.clone()));
            }
            if !owner_ok(tx, &token.owner)? {
                return Err(StoreError::NoSuchUser(token.owner.clone()));
            }
            if serial_taken(tx, token)? {
                return Err(StoreError::SerialExists(
                    token.serial.clone().unwrap_or_default(),
                ));
            }
            tx.execute(
                "UPDATE tokens SET owner = $2, kind = $3, algorithm = $4, digits = $5, period = $6, \
                 seed = $7, last_step = $8, drift = $9, state = $10, description = $11, created = $12, \
                 last_used = $13, serial = $14 WHERE id = $1",
                &[
                    &t.id, &t.owner, &t.kind, &t.algorithm, &t.digits, &t.period, &t.seed, &t.last_step,
                    &t.drift, &t.state, &t.description, &t.created, &t.last_used, &t.serial,
                ],
            )
            .map_err(db_err)
            .map(drop)
        })
    }

    fn delete_token(&self, id: &str) -> Result<(), StoreError> {
        let n = self.with(|c| {
            c.execute("DELETE FROM tokens WHERE id = $1", &[&id])
                .map_err(db_err)
        })?;
        match n {
            0 => Err(StoreError::NoSuchToken(id.to_string())),
            _ => Ok(()),
        }
    }

    fn commit_use(
        &self,
        id: &str,
        expected_last: Option<u64>,
        new_last: u64,
        drift: i64,
        now: u64,
        activate: bool,
    ) -> Result<bool, StoreError> {
        let (new, now, expected) = (
            sql::int(new_last, "step/counter")?,
            sql::int(now, "time")?,
            sql::opt_int(expected_last, "step/counter")?,
        );
        self.tx(|tx| {
            let n = tx
                .execute(
                    "UPDATE tokens SET last_step = $1, drift = $2, last_used = $3, \
                     state = CASE WHEN $4 AND state = 'pending' THEN 'active' ELSE state END \
                     WHERE id = $5 AND last_step IS NOT DISTINCT FROM $6",
                    &[&new, &drift, &now, &activate, &id, &expected],
                )
                .map_err(db_err)?;
            if n == 0 && !token_exists(tx, id)? {
                return Err(StoreError::NoSuchToken(id.to_string()));
            }
            Ok(n == 1)
        })
    }

    fn commit(&self, uses: &[UseCommit], failures: &[Failure]) -> Result<Vec<bool>, StoreError> {
        if uses.is_empty() && failures.is_empty() {
            return Ok(Vec::new());
        }
        // A batch is a few set-based statements, not one per Accept: on
        // loopback each statement is a round trip, and the commit thread
        // waits for every one of them. Rows are locked in one order — token
        // rows by id, then user rows by name — so that two servers
        // committing overlapping batches cannot deadlock.
        let rounds = rounds(uses);
        let mut users: Vec<&str> = uses
            .iter()
            .map(|u| u.user.as_str())
            .chain(failures.iter().map(|f| f.user.as_str()))
            .collect();
        users.sort_unstable();
        users.dedup();
        self.tx_prepared(COMMIT_SQL, |tx, st| {
            let mut won = vec![false; uses.len()];
            if !uses.is_empty() {
                let ids: Vec<&str> = rounds[0].iter().map(|&i| uses[i].token.as_str()).collect();
                tx.query(&st[0], &[&ids]).map_err(db_err)?;
            }
            // Each round holds a token at most once (a second use of a
            // token in the batch goes in the next round, after the first),
            // so each row meets one candidate and the statement says which
            // won.
            for round in &rounds {
                let mut ids = Vec::with_capacity(round.len());
                let mut steps = Vec::with_capacity(round.len());
                let mut drifts = Vec::with_capacity(round.len());
                let mut nows = Vec::with_capacity(round.len());
                let mut activates = Vec::with_capacity(round.len());
                let mut ords = Vec::with_capacity(round.len());
                for &i in round {
                    let u = &uses[i];
                    ids.push(u.token.as_str());
                    steps.push(sql::int(u.counter, "step/counter")?);
                    drifts.push(u.drift);
                    nows.push(sql::int(u.now, "time")?);
                    activates.push(u.activate);
                    ords.push(i as i64);
                }
                let rows = tx
                    .query(&st[1], &[&ids, &steps, &drifts, &nows, &activates, &ords])
                    .map_err(db_err)?;
                for r in rows {
                    let i: i64 = r.get(0);
                    if let Some(w) = usize::try_from(i).ok().and_then(|i| won.get_mut(i)) {
                        *w = true;
                    }
                }
            }
            let clears: Vec<(&str, i64)> = {
                let mut c = Vec::new();
                for (i, u) in uses.iter().enumerate() {
                    if won[i] && u.clear_user {
                        c.push((u.user.as_str(), sql::int(u.now, "time")?));
                    }
                }
                // One row per user: the latest success.
                c.sort_unstable();
                c.reverse();
                c.dedup_by(|a, b| a.0 == b.0);
                c
            };
            let sources: Vec<(&str, &str)> = uses
                .iter()
                .enumerate()
                .filter(|&(i, _)| won[i])
                .filter_map(|(_, u)| u.clear_source.as_deref().map(|s| (u.user.as_str(), s)))
                .collect();
            if clears.is_empty() && sources.is_empty() && failures.is_empty() {
                return Ok(won);
            }
            tx.query(&st[2], &[&users]).map_err(db_err)?;
            if !clears.is_empty() {
                let (names, nows): (Vec<&str>, Vec<i64>) = clears.into_iter().unzip();
                tx.execute(&st[3], &[&names, &nows]).map_err(db_err)?;
            }
            for (user, src) in sources {
                tx.execute(
                    "DELETE FROM source_locks WHERE user_name = $1 AND source = $2",
                    &[&user, &src],
                )
                .map_err(db_err)?;
            }
            // Failures one by one, in name order (each reads the count the
            // one before left, for the lock rule); they are rare next to
            // Accepts.
            let mut fails: Vec<&Failure> = failures.iter().collect();
            fails.sort_by(|a, b| a.user.cmp(&b.user));
            for f in fails {
                match &f.source {
                    None => fail(tx, f).map(drop)?,
                    Some(src) => fail_source(tx, &f.user, src, f.now, f.rule).map(drop)?,
                }
            }
            Ok(won)
        })
    }

    fn record_failure(
        &self,
        name: &str,
        now: u64,
        rule: LockRule,
    ) -> Result<Option<User>, StoreError> {
        let f = Failure {
            user: name.to_string(),
            now,
            rule,
            source: None,
        };
        let row = self.tx(|tx| {
            if fail(tx, &f)?.is_none() {
                return Ok(None);
            }
            tx.query_opt(
                &format!("SELECT {} FROM users WHERE name = $1", *USER_READ),
                &[&name],
            )
            .map_err(db_err)
        })?;
        row.map(|r| user_row(&r, 0).open(&self.key)).transpose()
    }

    fn record_success(&self, name: &str, now: u64) -> Result<(), StoreError> {
        match self.tx(|tx| succeed(tx, name, now))? {
            0 => Err(StoreError::NoSuchUser(name.to_string())),
            _ => Ok(()),
        }
    }

    fn sync(&self) -> Result<(), StoreError> {
        // Every method commits before it returns.
        Ok(())
    }

    fn counts(&self) -> Result<(usize, usize), StoreError> {
        let r = self.with(|c| {
            c.query_one(
                "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM tokens)",
                &[],
            )
            .map_err(db_err)
        })?;
        Ok((r.get::<_, i64>(0) as usize, r.get::<_, i64>(1) as usize))
    }

    fn import(&self, users: &[User], tokens: &[Token]) -> Result<(), StoreError> {
        let user_rows = super::par_map(users, |u| UserRow::seal(u, &self.key))?
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let token_rows = super::par_map(tokens, |t| TokenRow::seal(t, &self.key))?
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        self.tx(|tx| {
            // One look-up of every stored id and name, not one per row.
            let ids: std::collections::HashSet<String> = tx
                .query("SELECT id FROM tokens", &[])
                .map_err(db_err)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let names: std::collections::HashSet<String> = tx
                .query("SELECT name FROM users", &[])
                .map_err(db_err)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            sql::check_import(users, tokens, &mut |id| Ok(ids.contains(id)), &mut |n| {
                Ok(names.contains(n))
            })?;
            let serials: std::collections::HashSet<String> = tx
                .query("SELECT serial FROM tokens WHERE serial IS NOT NULL", &[])
                .map_err(db_err)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            sql::check_import_serials(tokens, &mut |s| Ok(serials.contains(s)))?;
            for (row, u) in user_rows.iter().zip(users) {
                if insert_user(tx, row)? == 1 && (!u.groups.is_empty() || !u.replies.is_empty()) {
                    write_lists(tx, u)?;
                }
            }
            for t in &token_rows {
                insert_token(tx, t)?;
            }
            Ok(())
        })
    }
    fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let rows = self.with(|c| {
            c.query(
                &format!("SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY name"),
                &[],
            )
            .map_err(db_err)
        })?;
        rows.iter()
            .map(|r| {
                let scope: String = r.get(2);
                sql::api_key_from(r.get(0), r.get(1), &scope, r.get(3), r.get(4))
            })
            .collect()
    }

    fn insert_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        let created = sql::int(key.created, "created")?;
        let last_used = sql::opt_int(key.last_used, "last_used")?;
        let n = self.with(|c| {
            c.execute(
                &format!(
                    "INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING"
                ),
                &[&key.name, &key.hash, &key.scope.as_str(), &created, &last_used],
            )
            .map_err(db_err)
        })?;
        match n {
            0 => Err(StoreError::ApiKeyExists(key.name.clone())),
            _ => Ok(()),
        }
    }

    fn delete_api_key(&self, name: &str) -> Result<(), StoreError> {
        let n = self.with(|c| {
            c.execute("DELETE FROM api_keys WHERE name = $1", &[&name])
                .map_err(db_err)
        })?;
        match n {
            0 => Err(StoreError::NoSuchApiKey(name.to_string())),
            _ => Ok(()),
        }
    }

    fn touch_api_key(&self, name: &str, now: u64) -> Result<(), StoreError> {
        let now = sql::int(now, "time")?;
        self.with(|c| {
            c.execute(
                "UPDATE api_keys SET last_used = $1 WHERE name = $2",
                &[&now, &name],
            )
            .map_err(db_err)
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_in_logs() {
        assert_eq!(
            redact_url("postgresql://radotp:s3cret@db1:5432/radotp?sslmode=require"),
            "postgresql://radotp:[redacted]@db1:5432/radotp?sslmode=require"
        );
        assert_eq!(
            redact_url("postgresql://radotp@db1/radotp"),
            "postgresql://radotp@db1/radotp"
        );
        assert_eq!(redact_url("postgres://db1/x"), "postgres://db1/x");
        assert_eq!(redact_url("nonsense"), "[unparsable url]");
        let o = PgOptions {
            url: "postgresql://u:hunter2@h/d".into(),
            password_file: None,
            ca_file: None,
            pool_size: 4,
        };
        assert!(!format!("{o:?}").contains("hunter2"));
    }
}
