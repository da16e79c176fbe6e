//! `radotp store migrate|backup|info`: the token store itself.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::{open_store, Ctx, UsageError};
use crate::config::Backend;
use crate::store::postgres::{redact_url, PgOptions, PgStore};
use crate::store::{legacy, open, SqliteStore, StoreKey, Token, TokenStore, User};

/// Store commands.
#[derive(Debug, Subcommand)]
pub enum StoreCmd {
    /// Copy every user and token (seeds, PINs, replay state and drift,
    /// failure counts and locks) into the configured store, which must be
    /// empty; the counts are checked afterwards. SOURCE is a store
    /// directory of radotp 0.1 (sled) or 0.2 (file store), a SQLite file,
    /// or a postgresql:// URL. Same key file. Stop the daemon first.
    Migrate {
        /// The store to copy from.
        #[arg(long, value_name = "SOURCE")]
        from: String,
    },
    /// Write a consistent copy of the SQLite store to FILE while the daemon
    /// keeps serving (SQLite's online backup). Restore: stop the daemon,
    /// put the copy at [store] path, start it. PostgreSQL: use pg_dump.
    Backup {
        /// The copy to write (must not exist).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Show the configured store: engine, where, users, tokens, size.
    Info,
}

/// Every user and token of a source store.
fn read_all(source: &dyn TokenStore) -> anyhow::Result<(Vec<User>, Vec<Token>)> {
    Ok((source.users()?, source.tokens()?))
}

fn daemon_running(ctx: &Ctx) -> anyhow::Result<Option<PathBuf>> {
    let sock = ctx.config()?.server.control_socket.clone();
    Ok(std::os::unix::net::UnixStream::connect(&sock)
        .is_ok()
        .then_some(sock))
}

/// Runs a store command.
pub fn run(ctx: &Ctx, cmd: StoreCmd) -> anyhow::Result<ExitCode> {
    let config = ctx.config()?;
    match cmd {
        StoreCmd::Migrate { from } => {
            if let Some(sock) = daemon_running(ctx)? {
                return Err(UsageError(format!(
                    "a daemon is running (it answers on {}) and writes the store: stop it first (systemctl stop radotp), then run radotp store migrate again",
                    sock.display()
                ))
                .into());
            }
            let started = std::time::Instant::now();
            // One transaction, so no count to show: a spinner says which
            // step runs and for how long (a terminal only; not with --json).
            let spinner =
                (!ctx.json && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
                    let s = indicatif::ProgressBar::new_spinner();
                    s.set_style(
                        indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                    );
                    s.enable_steady_tick(std::time::Duration::from_millis(200));
                    s.set_message("reading the source store");
                    s
                });
            let key = StoreKey::load(&config.store.key_file)?;
            let (users, tokens) = if from.starts_with("postgresql://")
                || from.starts_with("postgres://")
            {
                let opts = PgOptions {
                    url: from.clone(),
                    ..open::pg_options(&config).unwrap_or(PgOptions {
                        url: String::new(),
                        password_file: None,
                        ca_file: None,
                        pool_size: 2,
                    })
                };
                read_all(&PgStore::open(&opts, key)?)?
            } else {
                let path = PathBuf::from(&from);
                if !path.exists() {
                    return Err(UsageError(format!("{from}: no such file or directory")).into());
                }
                if config.store.backend == Backend::Sqlite && same_file(&path, &config.store.path) {
                    return Err(UsageError(format!(
                            "{from} is the configured store itself: set [store] path (or url) to the new store"
                        ))
                        .into());
                }
                if path.is_dir() && legacy::kind(&path).is_none() {
                    return Err(UsageError(format!(
                            "{from} is a directory but not a store of radotp 0.1 (sled: conf and db files) or 0.2 (a records file)"
                        ))
                        .into());
                }
                if path.is_dir() {
                    // Read-only: the old directory is left as it was.
                    let old = legacy::read(&path, &key, config.store.cache_mb * 1024 * 1024)?;
                    (old.users, old.tokens)
                } else {
                    read_all(&SqliteStore::open(&path, key)?)?
                }
            };
            let new = open::open_target(&config)?;
            let (u, t) = new.counts()?;
            if u != 0 || t != 0 {
                anyhow::bail!(
                    "the configured store {} is not empty ({u} users, {t} tokens): migrate into a new one",
                    shown(&config)
                );
            }
            if let Some(s) = &spinner {
                s.set_message(format!(
                    "writing {} users and {} tokens in one transaction",
                    users.len(),
                    tokens.len()
                ));
            }
            new.import(&users, &tokens)?;
            new.sync()?;
            if let Some(s) = &spinner {
                s.finish_and_clear();
            }
            let (u, t) = new.counts()?;
            if (u, t) != (users.len(), tokens.len()) {
                anyhow::bail!(
                    "after the copy the new store holds {u} users and {t} tokens, the source {} and {}: do not use it",
                    users.len(),
                    tokens.len()
                );
            }
            let secs = started.elapsed().as_secs_f64();
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({ "ok": true, "users": u, "tokens": t, "seconds": secs })
                );
            } else {
                println!(
                    "migrated {u} users and {t} tokens from {} into {} ({secs:.1} s); counts checked",
                    if from.contains("://") { redact_url(&from) } else { from.clone() },
                    shown(&config)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        StoreCmd::Backup { file } => {
            if config.store.backend != Backend::Sqlite {
                return Err(UsageError(
                    "store backup copies a SQLite store; for PostgreSQL use pg_dump (e.g. pg_dump -Fc radotp > radotp.dump)".into(),
                )
                .into());
            }
            if file.exists() {
                return Err(
                    UsageError(format!("{} exists: name a new file", file.display())).into(),
                );
            }
            let key = StoreKey::load(&config.store.key_file)?;
            let store = SqliteStore::open(&config.store.path, key)?;
            store.backup(&file)?;
            let (u, t) =
                SqliteStore::open(&file, StoreKey::load(&config.store.key_file)?)?.counts()?;
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({ "ok": true, "file": file.display().to_string(), "users": u, "tokens": t })
                );
            } else {
                println!(
                    "backup written to {} ({u} users, {t} tokens); keep the key file {} with it",
                    file.display(),
                    config.store.key_file.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        StoreCmd::Info => {
            let store = open_store(&config)?;
            let (users, tokens) = store.counts()?;
            drop(store);
            let (kind, size) = match config.store.backend {
                Backend::Sqlite => ("sqlite", Some(sqlite_size(&config.store.path))),
                Backend::Postgres => ("postgres", None),
            };
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({ "ok": true, "kind": kind, "where": shown(&config),
                        "users": users, "tokens": tokens, "bytes_on_disk": size })
                );
            } else {
                println!("store: {} ({kind})", shown(&config));
                println!("users: {users}, tokens: {tokens}");
                if let Some(size) = size {
                    println!("on disk: {:.1} kB", size as f64 / 1e3);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Where the configured store is, for messages (no password).
fn shown(config: &crate::config::Config) -> String {
    match config.store.backend {
        Backend::Sqlite => config.store.path.display().to_string(),
        Backend::Postgres => config
            .store
            .url
            .as_deref()
            .map(redact_url)
            .unwrap_or_default(),
    }
}

fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Bytes of the database file and its WAL.
fn sqlite_size(path: &std::path::Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    [path.to_path_buf(), PathBuf::from(wal)]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}
