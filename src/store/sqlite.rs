//! The default store: one SQLite database file (rusqlite, SQLite bundled).
//!
//! WAL journal with `synchronous = FULL`: a transaction is on disk when its
//! `COMMIT` returns, so every write here is durable when the method
//! returns and [`TokenStore::sync`] has nothing left to do. Writes go
//! through one connection behind a mutex (SQLite has one writer at a time
//! anyway; holding it in-process spares the busy-retry loop), reads through
//! a small pool of read connections, which in WAL mode never wait for the
//! writer. [`TokenStore::commit`], the request path's write, runs a whole
//! batch of Accepts and failures in one `BEGIN IMMEDIATE` transaction: each
//! use is a conditional `UPDATE ... WHERE last_step < new`, whose row count
//! says whether it won.
//!
//! Other processes may open the same file (an admin command while the
//! daemon runs, `radotp store backup`): SQLite's own locking serialises
//! them, with a busy timeout. The schema is [`super::sql`]'s.

use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row};

use super::sql::{self, TokenRow, UserRow, API_KEY_COLUMNS, TOKEN_COLUMNS, USER_COLUMNS};
use super::{
    count_failure, ApiKey, Failure, LockRule, SourceLock, StoreError, StoreKey, Token, TokenStore,
    UseCommit, User,
};

/// Read connections kept open at most.
const READERS: usize = 8;

/// A user's columns as read, groups and replies included.
static USER_READ: LazyLock<String> = LazyLock::new(|| sql::user_read_columns("users", false));

/// How long a statement waits for another process's write lock.
const BUSY: Duration = Duration::from_secs(5);

/// Users and tokens in a SQLite database.
pub struct SqliteStore {
    path: PathBuf,
    key: StoreKey,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn db_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(format!("database busy: {e}"))
        }
        _ => StoreError::Io(format!("sqlite: {e}")),
    }
}

fn user_row(r: &Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        name: r.get(0)?,
        pin: r.get(1)?,
        enabled: r.get(2)?,
        challenge: r.get(3)?,
        failures: r.get(4)?,
        locked_until: r.get(5)?,
        created: r.get(6)?,
        last_success: r.get(7)?,
        groups: r.get(8)?,
        replies: r.get(9)?,
    })
}

fn token_row(r: &Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        id: r.get(0)?,
        owner: r.get(1)?,
        kind: r.get(2)?,
        algorithm: r.get(3)?,
        digits: r.get(4)?,
        period: r.get(5)?,
        seed: r.get(6)?,
        last_step: r.get(7)?,
        drift: r.get(8)?,
        state: r.get(9)?,
        description: r.get(10)?,
        created: r.get(11)?,
        last_used: r.get(12)?,
        serial: r.get(13)?,
    })
}

fn connect(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let open_err = |why: String| StoreError::Open {
        path: path.display().to_string(),
        why,
    };
    let c = Connection::open_with_flags(path, flags).map_err(|e| open_err(e.to_string()))?;
    c.busy_timeout(BUSY).map_err(|e| open_err(e.to_string()))?;
    c.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")
        .map_err(|e| open_err(e.to_string()))?;
    Ok(c)
}

impl SqliteStore {
    /// Opens (creating it, mode 0600 in a directory it creates with mode
    /// 0700) the database at `path`, runs the forward migrations and checks
    /// that `key` is the key the store was created with.
    pub fn open(path: &Path, key: StoreKey) -> Result<SqliteStore, StoreError> {
        let shown = path.display().to_string();
        let open_err = |why: String| StoreError::Open {
            path: shown.clone(),
            why,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|e| open_err(format!("cannot create {}: {e}", dir.display())))?;
            }
        }
        if path.is_dir() {
            return Err(open_err(
                "is a directory: the store of radotp 0.2 (or a sled store of 0.1)? Point [store] path at a new file and convert it with `radotp store migrate --from DIR`".into(),
            ));
        }
        let fresh = !path.exists();
        let writer = connect(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        if fresh {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        let mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| open_err(e.to_string()))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(open_err(format!(
                "cannot switch to WAL (journal mode stays {mode})"
            )));
        }
        let store = SqliteStore {
            path: path.to_path_buf(),
            key,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Runs the migrations this database lacks and checks the key.
    fn migrate(&self) -> Result<(), StoreError> {
        let mut w = self.writer();
        let tx = w
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db_err)?;
        if version > sql::SCHEMA_VERSION {
            return Err(StoreError::Open {
                path: self.path.display().to_string(),
                why: format!(
                    "schema version {version} is newer than this radotp knows ({}): upgrade radotp",
                    sql::SCHEMA_VERSION
                ),
            });
        }
        for (n, m) in sql::MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(m).map_err(db_err)?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", n + 1))
                .map_err(db_err)?;
        }
        let check: Option<Vec<u8>> = tx
            .query_row("SELECT value FROM meta WHERE key = 'key_check'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_err)?;
        match check {
            Some(c) if !sql::key_matches(&self.key, &c) => {
                return Err(sql::wrong_key(&self.path.display().to_string()))
            }
            Some(_) => {}
            None => {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('key_check', ?1)",
                    [sql::key_check(&self.key)],
                )
                .map_err(db_err)?;
            }
        }
        tx.commit().map_err(db_err)
    }

    fn writer(&self) -> MutexGuard<'_, Connection> {
        // A panic mid-transaction drops the transaction (rolled back), so
        // the connection is sound after poison.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on a read connection from the pool.
    /// The user, their tokens and, with `source`, their lockout state from
    /// there: one read connection, one read transaction, so all three are
    /// as of the same moment.
    #[allow(clippy::type_complexity)]
    fn user_tokens_source(
        &self,
        name: &str,
        source: Option<&str>,
    ) -> Result<Option<(User, Vec<Token>, Option<SourceLock>)>, StoreError> {
        self.read(|c| {
            c.execute_batch("BEGIN").map_err(db_err)?;
            let r = (|| {
                let Some(u) = c
                    .prepare_cached(&format!("SELECT {} FROM users WHERE name = ?1", *USER_READ))
                    .and_then(|mut s| s.query_row([name], user_row).optional())
                    .map_err(db_err)?
                else {
                    return Ok(None);
                };
                let mut st = c
                    .prepare_cached(&format!(
                        "SELECT {TOKEN_COLUMNS} FROM tokens WHERE owner = ?1 ORDER BY id"
                    ))
                    .map_err(db_err)?;
                let tokens = st
                    .query_map([name], token_row)
                    .map_err(db_err)?
                    .map(|r| r.map_err(db_err)?.open(&self.key))
                    .collect::<Result<Vec<_>, _>>()?;
                let lock = match source {
                    Some(src) => source_lock_row(c, name, src)?,
                    None => None,
                };
                Ok(Some((u.open(&self.key)?, tokens, lock)))
            })();
            let _ = c.execute_batch("COMMIT");
            r
        })
    }

    fn read<R>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let conn = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match conn {
            Some(c) => c,
            None => connect(
                &self.path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?,
        };
        let r = f(&conn);
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < READERS {
            pool.push(conn);
        }
        r
    }

    /// Copies the whole database, consistent as of one moment, to `dest`
    /// (SQLite's online backup: the daemon keeps serving meanwhile).
    pub fn backup(&self, dest: &Path) -> Result<(), StoreError> {
        self.read(|c| {
            let mut out = Connection::open(dest).map_err(db_err)?;
            let b = rusqlite::backup::Backup::new(c, &mut out).map_err(db_err)?;
            b.run_to_completion(256, Duration::from_millis(5), None)
                .map_err(db_err)
        })?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| StoreError::Io(format!("{}: {e}", dest.display())))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn tokens_where(&self, clause: &str, arg: &str) -> Result<Vec<Token>, StoreError> {
        self.read(|c| {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {TOKEN_COLUMNS} FROM tokens {clause} ORDER BY id"
                ))
                .map_err(db_err)?;
            let rows = st.query_map([arg], token_row).map_err(db_err)?;
            rows.map(|r| r.map_err(db_err)?.open(&self.key)).collect()
        })
    }
}

fn insert_user(c: &Connection, u: &UserRow) -> Result<usize, rusqlite::Error> {
    c.prepare_cached(&format!(
        "INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (name) DO NOTHING"
    ))?
    .execute(params![
        u.name,
        u.pin,
        u.enabled,
        u.challenge,
        u.failures,
        u.locked_until,
        u.created,
        u.last_success
    ])
}

/// Replaces the stored groups and reply attributes of `u` with its own.
fn write_lists(c: &Connection, u: &User) -> Result<(), StoreError> {
    let run = || -> rusqlite::Result<()> {
        c.prepare_cached("DELETE FROM user_groups WHERE user_name = ?1")?
            .execute([&u.name])?;
        c.prepare_cached("DELETE FROM user_replies WHERE user_name = ?1")?
            .execute([&u.name])?;
        let mut g = c.prepare_cached(
            "INSERT INTO user_groups (user_name, group_name, position) VALUES (?1, ?2, ?3)",
        )?;
        for (i, name) in u.groups.iter().enumerate() {
            g.execute(params![u.name, name, i as i64])?;
        }
        let mut r = c.prepare_cached(
            "INSERT INTO user_replies (user_name, position, attribute, value) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (i, (a, v)) in u.replies.iter().enumerate() {
            r.execute(params![u.name, i as i64, a, v])?;
        }
        Ok(())
    };
    run().map_err(db_err)
}

fn insert_token(c: &Connection, t: &TokenRow) -> Result<usize, rusqlite::Error> {
    c.prepare_cached(&format!(
        "INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
    ))?
    .execute(params![
        t.id,
        t.owner,
        t.kind,
        t.algorithm,
        t.digits,
        t.period,
        t.seed,
        t.last_step,
        t.drift,
        t.state,
        t.description,
        t.created,
        t.last_used,
        t.serial
    ])
}

fn user_exists(c: &Connection, name: &str) -> Result<bool, StoreError> {
    c.prepare_cached("SELECT 1 FROM users WHERE name = ?1")
        .and_then(|mut s| s.exists([name]))
        .map_err(db_err)
}

fn token_exists(c: &Connection, id: &str) -> Result<bool, StoreError> {
    c.prepare_cached("SELECT 1 FROM tokens WHERE id = ?1")
        .and_then(|mut s| s.exists([id]))
        .map_err(db_err)
}

/// Is `t`'s serial (if any) held by another token?
fn serial_taken(c: &Connection, t: &Token) -> Result<bool, StoreError> {
    let Some(serial) = &t.serial else {
        return Ok(false);
    };
    c.prepare_cached("SELECT 1 FROM tokens WHERE serial = ?1 AND id <> ?2")
        .and_then(|mut s| s.exists([serial, &t.id]))
        .map_err(db_err)
}

/// An owner a token may name: empty (unassigned) or a stored user.
fn owner_ok(c: &Connection, owner: &str) -> Result<bool, StoreError> {
    Ok(owner.is_empty() || user_exists(c, owner)?)
}

/// Counts one failure of `f.user` (no such user: nothing).
fn fail(c: &Connection, f: &Failure) -> Result<Option<(u32, Option<u64>)>, StoreError> {
    let got: Option<(i64, Option<i64>)> = c
        .prepare_cached("SELECT failures, locked_until FROM users WHERE name = ?1")
        .and_then(|mut s| {
            s.query_row([&f.user], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(db_err)?;
    let Some((failures, locked)) = got else {
        return Ok(None);
    };
    let mut failures = u32::try_from(failures.max(0)).unwrap_or(u32::MAX);
    let mut locked = locked.and_then(|l| u64::try_from(l).ok());
    count_failure(&mut failures, &mut locked, f.now, f.rule);
    let locked_sql = sql::opt_int(locked, "locked_until")?;
    c.prepare_cached("UPDATE users SET failures = ?1, locked_until = ?2 WHERE name = ?3")
        .and_then(|mut s| s.execute(params![i64::from(failures), locked_sql, f.user]))
        .map_err(db_err)?;
    Ok(Some((failures, locked)))
}

/// A `source_locks` row's columns as a [`SourceLock`].
fn source_lock_of((source, failures, locked): (String, i64, Option<i64>)) -> SourceLock {
    SourceLock {
        source,
        failures: u32::try_from(failures.max(0)).unwrap_or(u32::MAX),
        locked_until: locked.and_then(|l| u64::try_from(l).ok()),
    }
}

fn source_lock_row(
    c: &Connection,
    user: &str,
    source: &str,
) -> Result<Option<SourceLock>, StoreError> {
    c.prepare_cached(
        "SELECT source, failures, locked_until FROM source_locks WHERE user_name = ?1 AND source = ?2",
    )
    .and_then(|mut s| {
        s.query_row([user, source], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()
    })
    .map_err(db_err)
    .map(|r| r.map(source_lock_of))
}

/// One failure of `user` from `source`, counted by the user row's rule.
fn fail_source(
    c: &Connection,
    user: &str,
    source: &str,
    now: u64,
    rule: LockRule,
) -> Result<Option<SourceLock>, StoreError> {
    if !user_exists(c, user)? {
        return Ok(None);
    }
    let mut l = source_lock_row(c, user, source)?.unwrap_or(SourceLock {
        source: source.to_string(),
        failures: 0,
        locked_until: None,
    });
    count_failure(&mut l.failures, &mut l.locked_until, now, rule);
    let locked_sql = sql::opt_int(l.locked_until, "locked_until")?;
    c.prepare_cached(
        "INSERT INTO source_locks (user_name, source, failures, locked_until) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (user_name, source) DO UPDATE SET failures = excluded.failures, locked_until = excluded.locked_until",
    )
    .and_then(|mut s| s.execute(params![user, source, i64::from(l.failures), locked_sql]))
    .map_err(db_err)?;
    Ok(Some(l))
}

/// Forgets `user`'s rows of `source` (`None`: of every source).
fn clear_sources(c: &Connection, user: &str, source: Option<&str>) -> Result<(), StoreError> {
    match source {
        Some(src) => c
            .prepare_cached("DELETE FROM source_locks WHERE user_name = ?1 AND source = ?2")
            .and_then(|mut s| s.execute([user, src])),
        None => c
            .prepare_cached("DELETE FROM source_locks WHERE user_name = ?1")
            .and_then(|mut s| s.execute([user])),
    }
    .map_err(db_err)
    .map(drop)
}

fn succeed(c: &Connection, name: &str, now: u64) -> Result<usize, StoreError> {
    let now = sql::int(now, "time")?;
    c.prepare_cached(
        "UPDATE users SET failures = 0, locked_until = NULL, lock_count = 0, last_success = ?1 WHERE name = ?2",
    )
    .and_then(|mut s| s.execute(params![now, name]))
    .map_err(db_err)
}

impl From<StoreError> for rusqlite::Error {
    fn from(e: StoreError) -> Self {
        rusqlite::Error::ToSqlConversionFailure(Box::new(e))
    }
}

/// The columns of an `api_keys` row.
type ApiKeyRow = (String, Vec<u8>, String, i64, Option<i64>);

/// `UPDATE` of a use: wins when the counter is still ahead.
const USE_SQL: &str = "UPDATE tokens SET last_step = ?1, drift = ?2, last_used = ?3, \
    state = CASE WHEN ?4 AND state = 'pending' THEN 'active' ELSE state END \
    WHERE id = ?5 AND (last_step IS NULL OR last_step < ?1)";

/// `UPDATE` of a compare-and-swap (`commit_use`).
const CAS_SQL: &str = "UPDATE tokens SET last_step = ?1, drift = ?2, last_used = ?3, \
    state = CASE WHEN ?4 AND state = 'pending' THEN 'active' ELSE state END \
    WHERE id = ?5 AND last_step IS ?6";

impl TokenStore for SqliteStore {
    fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        self.read(|c| {
            c.prepare_cached(&format!("SELECT {} FROM users WHERE name = ?1", *USER_READ))
                .and_then(|mut s| s.query_row([name], user_row).optional())
                .map_err(db_err)?
                .map(|r| r.open(&self.key))
                .transpose()
        })
    }

    fn users(&self) -> Result<Vec<User>, StoreError> {
        self.read(|c| {
            let mut st = c
                .prepare_cached(&format!("SELECT {} FROM users ORDER BY name", *USER_READ))
                .map_err(db_err)?;
            let rows = st.query_map([], user_row).map_err(db_err)?;
            rows.map(|r| r.map_err(db_err)?.open(&self.key)).collect()
        })
    }

    fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        let row = UserRow::seal(user, &self.key)?;
        let mut w = self.writer();
        let tx = w.transaction().map_err(db_err)?;
        if insert_user(&tx, &row).map_err(db_err)? == 0 {
            return Err(StoreError::UserExists(user.name.clone()));
        }
        write_lists(&tx, user)?;
        tx.commit().map_err(db_err)
    }

    fn update_user(&self, user: &User) -> Result<(), StoreError> {
        let u = UserRow::seal(user, &self.key)?;
        let mut w = self.writer();
        let tx = w.transaction().map_err(db_err)?;
        let n = tx
            .prepare_cached(
                "UPDATE users SET pin = ?2, enabled = ?3, challenge = ?4, failures = ?5, \
                 locked_until = ?6, created = ?7, last_success = ?8 WHERE name = ?1",
            )
            .and_then(|mut s| {
                s.execute(params![
                    u.name,
                    u.pin,
                    u.enabled,
                    u.challenge,
                    u.failures,
                    u.locked_until,
                    u.created,
                    u.last_success
                ])
            })
            .map_err(db_err)?;
        if n == 0 {
            return Err(StoreError::NoSuchUser(user.name.clone()));
        }
        write_lists(&tx, user)?;
        tx.commit().map_err(db_err)
    }

    fn delete_user(&self, name: &str) -> Result<(), StoreError> {
        // Tokens, groups and reply attributes go with it (ON DELETE CASCADE).
        let n = self
            .writer()
            .execute("DELETE FROM users WHERE name = ?1", [name])
            .map_err(db_err)?;
        match n {
            0 => Err(StoreError::NoSuchUser(name.to_string())),
            _ => Ok(()),
        }
    }

    fn token(&self, id: &str) -> Result<Option<Token>, StoreError> {
        Ok(self.tokens_where("WHERE id = ?1", id)?.pop())
    }

    fn token_by_serial(&self, serial: &str) -> Result<Option<Token>, StoreError> {
        Ok(self.tokens_where("WHERE serial = ?1", serial)?.pop())
    }

    fn tokens(&self) -> Result<Vec<Token>, StoreError> {
        self.tokens_where("WHERE ?1 = ?1", "")
    }

    fn tokens_of(&self, owner: &str) -> Result<Vec<Token>, StoreError> {
        self.tokens_where("WHERE owner = ?1", owner)
    }

    fn user_with_tokens(&self, name: &str) -> Result<Option<(User, Vec<Token>)>, StoreError> {
        Ok(self.user_tokens_source(name, None)?.map(|(u, t, _)| (u, t)))
    }

    fn user_with_tokens_from(
        &self,
        name: &str,
        source: &str,
    ) -> Result<Option<(User, Vec<Token>, Option<SourceLock>)>, StoreError> {
        self.user_tokens_source(name, Some(source))
    }

    fn source_lock(&self, user: &str, source: &str) -> Result<Option<SourceLock>, StoreError> {
        self.read(|c| source_lock_row(c, user, source))
    }

    fn source_locks(&self, user: &str) -> Result<Vec<SourceLock>, StoreError> {
        self.read(|c| {
            let mut st = c
                .prepare_cached(
                    "SELECT source, failures, locked_until FROM source_locks \
                     WHERE user_name = ?1 ORDER BY source",
                )
                .map_err(db_err)?;
            let rows = st
                .query_map([user], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(db_err)?;
            rows.map(|r| r.map_err(db_err).map(source_lock_of))
                .collect()
        })
    }

    fn record_source_failure(
        &self,
        user: &str,
        source: &str,
        now: u64,
        rule: LockRule,
    ) -> Result<Option<SourceLock>, StoreError> {
        let mut w = self.writer();
        let tx = w
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let l = fail_source(&tx, user, source, now, rule)?;
        tx.commit().map_err(db_err)?;
        Ok(l)
    }

    fn clear_source_locks(&self, user: &str, source: Option<&str>) -> Result<(), StoreError> {
        clear_sources(&self.writer(), user, source)
    }

    fn each_user_page(
        &self,
        page: usize,
        f: &mut dyn FnMut(Vec<(User, usize)>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut after = String::new();
        let mut first = true;
        loop {
            let part: Vec<(User, usize)> = self.read(|c| {
                let from = if first { "?1 = ?1" } else { "name > ?1" };
                let mut st = c
                    .prepare_cached(&format!(
                        "SELECT {}, (SELECT count(*) FROM tokens WHERE owner = users.name) \
                         FROM users WHERE {from} ORDER BY name LIMIT ?2",
                        *USER_READ
                    ))
                    .map_err(db_err)?;
                let rows = st
                    .query_map(params![after, page.max(1) as i64], |r| {
                        Ok((user_row(r)?, r.get::<_, i64>(sql::USER_READ_WIDTH)?))
                    })
                    .map_err(db_err)?;
                rows.map(|r| {
                    let (u, n) = r.map_err(db_err)?;
                    Ok((u.open(&self.key)?, n as usize))
                })
                .collect()
            })?;
            let Some(last) = part.last() else {
                return Ok(());
            };
            after = last.0.name.clone();
            first = false;
            f(part)?;
        }
    }

    fn each_token_page(
        &self,
        page: usize,
        f: &mut dyn FnMut(Vec<Token>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut after = String::new();
        let mut first = true;
        loop {
            let part: Vec<Token> = self.read(|c| {
                let from = if first { "?1 = ?1" } else { "id > ?1" };
                let mut st = c
                    .prepare_cached(&format!(
                        "SELECT {TOKEN_COLUMNS} FROM tokens WHERE {from} ORDER BY id LIMIT ?2"
                    ))
                    .map_err(db_err)?;
                let rows = st
                    .query_map(params![after, page.max(1) as i64], token_row)
                    .map_err(db_err)?;
                rows.map(|r| r.map_err(db_err)?.open(&self.key)).collect()
            })?;
            let Some(last) = part.last() else {
                return Ok(());
            };
            after = last.id.clone();
            first = false;
            f(part)?;
        }
    }

    fn insert_token(&self, token: &Token) -> Result<(), StoreError> {
        let row = TokenRow::seal(token, &self.key)?;
        let mut w = self.writer();
        let tx = w.transaction().map_err(db_err)?;
        if !owner_ok(&tx, &token.owner)? {
            return Err(StoreError::NoSuchUser(token.owner.clone()));
        }
        if token_exists(&tx, &token.id)? {
            return Err(StoreError::TokenExists(token.id.clone()));
        }
        if serial_taken(&tx, token)? {
            return Err(StoreError::SerialExists(
                token.serial.clone().unwrap_or_default(),
            ));
        }
        insert_token(&tx, &row).map_err(db_err)?;
        tx.commit().map_err(db_err)
    }

    fn update_token(&self, token: &Token) -> Result<(), StoreError> {
        let t = TokenRow::seal(token, &self.key)?;
        let mut w = self.writer();
        let tx = w.transaction().map_err(db_err)?;
        if !token_exists(&tx, &token.id)? {
            return Err(StoreError::NoSuchToken(token.id.clone()));
        }
        if !owner_ok(&tx, &token.owner)? {
            return Err(StoreError::NoSuchUser(token.owner.clone()));
        }
        if serial_taken(&tx, token)? {
            return Err(StoreError::SerialExists(
                token.serial.clone().unwrap_or_default(),
            ));
        }
        tx.prepare_cached(
            "UPDATE tokens SET owner = ?2, kind = ?3, algorithm = ?4, digits = ?5, period = ?6, \
             seed = ?7, last_step = ?8, drift = ?9, state = ?10, description = ?11, created = ?12, \
             last_used = ?13, serial = ?14 WHERE id = ?1",
        )
        .and_then(|mut s| {
            s.execute(params![
                t.id,
                t.owner,
                t.kind,
                t.algorithm,
                t.digits,
                t.period,
                t.seed,
                t.last_step,
                t.drift,
                t.state,
                t.description,
                t.created,
                t.last_used,
                t.serial
            ])
        })
        .map_err(db_err)?;
        tx.commit().map_err(db_err)
    }

    fn delete_token(&self, id: &str) -> Result<(), StoreError> {
        let n = self
            .writer()
            .execute("DELETE FROM tokens WHERE id = ?1", [id])
            .map_err(db_err)?;
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
        let w = self.writer();
        let n = w
            .prepare_cached(CAS_SQL)
            .and_then(|mut s| {
                s.execute(params![
                    sql::int(new_last, "step/counter")?,
                    drift,
                    sql::int(now, "time")?,
                    activate,
                    id,
                    sql::opt_int(expected_last, "step/counter")?
                ])
            })
            .map_err(db_err)?;
        if n == 0 && !token_exists(&w, id)? {
            return Err(StoreError::NoSuchToken(id.to_string()));
        }
        Ok(n == 1)
    }

    fn commit(&self, uses: &[UseCommit], failures: &[Failure]) -> Result<Vec<bool>, StoreError> {
        let mut w = self.writer();
        let tx = w
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let mut won = Vec::with_capacity(uses.len());
        for u in uses {
            let n = tx
                .prepare_cached(USE_SQL)
                .and_then(|mut s| {
                    s.execute(params![
                        sql::int(u.counter, "step/counter")?,
                        u.drift,
                        sql::int(u.now, "time")?,
                        u.activate,
                        u.token
                    ])
                })
                .map_err(db_err)?;
            if n == 1 && u.clear_user {
                succeed(&tx, &u.user, u.now)?;
            }
            if let (1, Some(src)) = (n, &u.clear_source) {
                clear_sources(&tx, &u.user, Some(src))?;
            }
            won.push(n == 1);
        }
        for f in failures {
            match &f.source {
                None => fail(&tx, f).map(drop)?,
                Some(src) => fail_source(&tx, &f.user, src, f.now, f.rule).map(drop)?,
            }
        }
        tx.commit().map_err(db_err)?;
        Ok(won)
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
        let mut w = self.writer();
        let tx = w
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db_err)?;
        if fail(&tx, &f)?.is_none() {
            return Ok(None);
        }
        let u = tx
            .prepare_cached(&format!("SELECT {} FROM users WHERE name = ?1", *USER_READ))
            .and_then(|mut s| s.query_row([name], user_row))
            .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        u.open(&self.key).map(Some)
    }

    fn record_success(&self, name: &str, now: u64) -> Result<(), StoreError> {
        match succeed(&self.writer(), name, now)? {
            0 => Err(StoreError::NoSuchUser(name.to_string())),
            _ => Ok(()),
        }
    }

    fn sync(&self) -> Result<(), StoreError> {
        // Every method commits before it returns (synchronous = FULL).
        Ok(())
    }

    fn counts(&self) -> Result<(usize, usize), StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM tokens)",
                [],
                |r| Ok((r.get::<_, i64>(0)? as usize, r.get::<_, i64>(1)? as usize)),
            )
            .map_err(db_err)
        })
    }

    fn import(&self, users: &[User], tokens: &[Token]) -> Result<(), StoreError> {
        let user_rows = super::par_map(users, |u| UserRow::seal(u, &self.key))?
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let token_rows = super::par_map(tokens, |t| TokenRow::seal(t, &self.key))?
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let mut w = self.writer();
        let tx = w
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db_err)?;
        sql::check_import(
            users,
            tokens,
            &mut |id| token_exists(&tx, id),
            &mut |name| user_exists(&tx, name),
        )?;
        sql::check_import_serials(tokens, &mut |s| {
            tx.prepare_cached("SELECT 1 FROM tokens WHERE serial = ?1")
                .and_then(|mut st| st.exists([s]))
                .map_err(db_err)
        })?;
        for (row, u) in user_rows.iter().zip(users) {
            if insert_user(&tx, row).map_err(db_err)? == 1
                && (!u.groups.is_empty() || !u.replies.is_empty())
            {
                write_lists(&tx, u)?;
            }
        }
        for t in &token_rows {
            insert_token(&tx, t).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let rows: Vec<ApiKeyRow> = self.read(|c| {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY name"
                ))
                .map_err(db_err)?;
            let rows = st
                .query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .map_err(db_err)?;
            rows.map(|r| r.map_err(db_err)).collect()
        })?;
        rows.into_iter()
            .map(|(n, h, s, c, l)| sql::api_key_from(n, h, &s, c, l))
            .collect()
    }

    fn insert_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        let n = self
            .writer()
            .prepare_cached(&format!(
                "INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name) DO NOTHING"
            ))
            .and_then(|mut s| {
                s.execute(params![
                    key.name,
                    key.hash,
                    key.scope.as_str(),
                    sql::int(key.created, "created")?,
                    sql::opt_int(key.last_used, "last_used")?
                ])
            })
            .map_err(db_err)?;
        match n {
            0 => Err(StoreError::ApiKeyExists(key.name.clone())),
            _ => Ok(()),
        }
    }

    fn delete_api_key(&self, name: &str) -> Result<(), StoreError> {
        let n = self
            .writer()
            .execute("DELETE FROM api_keys WHERE name = ?1", [name])
            .map_err(db_err)?;
        match n {
            0 => Err(StoreError::NoSuchApiKey(name.to_string())),
            _ => Ok(()),
        }
    }

    fn touch_api_key(&self, name: &str, now: u64) -> Result<(), StoreError> {
        let now = sql::int(now, "time")?;
        self.writer()
            .execute(
                "UPDATE api_keys SET last_used = ?1 WHERE name = ?2",
                params![now, name],
            )
            .map_err(db_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> StoreKey {
        StoreKey::from_bytes([7u8; 32])
    }

    #[test]
    fn shared_store_suite_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let n = std::sync::atomic::AtomicUsize::new(0);
        crate::store::conformance::suite(&|| {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Box::new(SqliteStore::open(&dir.path().join(format!("s{i}.sqlite")), key()).unwrap())
        });
    }

    /// A store written by schema 1 gains the serial column (migration 2)
    /// and keeps its tokens.
    #[test]
    fn schema_1_store_migrates_to_current_with_tokens_kept_and_source_locks_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.sqlite");
        let t = crate::store::conformance::token("t-1", "alice", b"seed");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(sql::MIGRATIONS[0]).unwrap();
            c.execute_batch("PRAGMA user_version = 1").unwrap();
            let r = TokenRow::seal(&t, &key()).unwrap();
            c.execute(
                "INSERT INTO users (name, enabled, challenge, created) VALUES ('alice', 1, 0, 1)",
                [],
            )
            .unwrap();
            c.execute(
                "INSERT INTO tokens (id, owner, kind, algorithm, digits, period, seed, drift, state, description, created) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![r.id, r.owner, r.kind, r.algorithm, r.digits, r.period, r.seed, r.drift, r.state, r.description, r.created],
            )
            .unwrap();
        }
        let s = SqliteStore::open(&path, key()).unwrap();
        assert_eq!(s.token("t-1").unwrap().unwrap(), t);
        let mut hw = t.clone();
        hw.serial = Some("SN-1".into());
        s.update_token(&hw).unwrap();
        assert_eq!(s.token_by_serial("SN-1").unwrap().unwrap(), hw);
        // Migration 3: the per-source lockout table.
        let l = s
            .record_source_failure("alice", "nas/st", 5, crate::store::LockRule::NEVER)
            .unwrap()
            .unwrap();
        assert_eq!(l.failures, 1);
        drop(s);
        let v: i64 = Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, sql::SCHEMA_VERSION);
        assert_eq!(v, 3);
    }

    #[test]
    fn reopen_keeps_everything_and_refuses_another_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/radotp.sqlite");
        {
            let s = SqliteStore::open(&path, key()).unwrap();
            s.insert_user(&User::new("alice", 1)).unwrap();
            s.insert_token(&crate::store::conformance::token("t-1", "alice", b"seed"))
                .unwrap();
            assert_eq!(
                s.commit(
                    &[crate::store::conformance::use_of("t-1", "alice", None, 9)],
                    &[]
                )
                .unwrap(),
                [true]
            );
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let s = SqliteStore::open(&path, key()).unwrap();
        assert_eq!(s.counts().unwrap(), (1, 1));
        assert_eq!(s.token("t-1").unwrap().unwrap().last, Some(9));
        drop(s);
        let e = SqliteStore::open(&path, StoreKey::from_bytes([8u8; 32])).unwrap_err();
        assert!(matches!(e, StoreError::Key { .. }), "{e}");
    }

    #[test]
    fn seeds_and_pins_are_not_in_the_file_in_the_clear() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let s = SqliteStore::open(&path, key()).unwrap();
        let mut u = User::new("alice", 1);
        u.pin = Some(crate::secret::Secret::from("PIN-4711-CLEAR"));
        s.insert_user(&u).unwrap();
        s.insert_token(&crate::store::conformance::token(
            "t-1",
            "alice",
            b"SEED-IN-THE-CLEAR",
        ))
        .unwrap();
        drop(s);
        let mut bytes = std::fs::read(&path).unwrap();
        if let Ok(wal) = std::fs::read(dir.path().join("s.sqlite-wal")) {
            bytes.extend(wal);
        }
        let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(has(b"alice"), "the file is what we think it is");
        assert!(!has(b"SEED-IN-THE-CLEAR") && !has(b"PIN-4711-CLEAR"));
    }

    #[test]
    fn newer_schema_is_refused_with_upgrade_hint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        drop(SqliteStore::open(&path, key()).unwrap());
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA user_version = 99")
            .unwrap();
        let e = SqliteStore::open(&path, key()).unwrap_err().to_string();
        assert!(
            e.contains("schema version 99") && e.contains("upgrade radotp"),
            "{e}"
        );
    }

    #[test]
    fn backup_is_a_consistent_openable_copy() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("s.sqlite"), key()).unwrap();
        s.insert_user(&User::new("alice", 1)).unwrap();
        s.insert_token(&crate::store::conformance::token("t-1", "alice", b"seed"))
            .unwrap();
        let copy = dir.path().join("copy.sqlite");
        s.backup(&copy).unwrap();
        s.delete_user("alice").unwrap();
        let b = SqliteStore::open(&copy, key()).unwrap();
        assert_eq!(b.counts().unwrap(), (1, 1));
        assert_eq!(b.token("t-1").unwrap().unwrap().seed.expose(), b"seed");
    }
}
