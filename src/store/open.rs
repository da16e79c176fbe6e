//! Opening the configured store, and telling the old formats apart.
//!
//! The daemon and every admin command open the store through [`open`]:
//! SQLite at `[store] path` or PostgreSQL at `[store] url`, with the key
//! file. The directory stores of radotp 0.1 (sled) and 0.2 (the file
//! store) are only read, by `radotp store migrate` ([`super::legacy`]).

use std::sync::Arc;

use super::postgres::{PgOptions, PgStore};
use super::{legacy, SqliteStore, StoreError, StoreKey, TokenStore};
use crate::config::{Backend, Config};

/// The store of `config`, its key file created on first use.
pub fn open(config: &Config) -> Result<Arc<dyn TokenStore>, StoreError> {
    open_with(config, true)
}

/// The store of `config` for `radotp store migrate` to fill: no refusal
/// when an old store sits beside a SQLite file not created yet.
pub fn open_target(config: &Config) -> Result<Arc<dyn TokenStore>, StoreError> {
    open_with(config, false)
}

fn open_with(config: &Config, hint_legacy: bool) -> Result<Arc<dyn TokenStore>, StoreError> {
    let key = StoreKey::load_or_create(&config.store.key_file)?;
    match config.store.backend {
        Backend::Sqlite => {
            let path = &config.store.path;
            if let Some(kind) = legacy::kind(path).map(legacy::Kind::describe) {
                return Err(StoreError::Open {
                    path: path.display().to_string(),
                    why: format!(
                        "this is a {kind}, which radotp now only reads: set [store] path to a new file (e.g. var/radotp.sqlite) and run `radotp store migrate --from {}`",
                        path.display()
                    ),
                });
            }
            if hint_legacy && !path.exists() {
                // An upgrade from 0.2 keeps its state in radotp.db beside the
                // new default file: say so instead of starting empty.
                let old = path.with_file_name("radotp.db");
                if let Some(kind) = legacy::kind(&old).map(legacy::Kind::describe) {
                    return Err(StoreError::Open {
                        path: path.display().to_string(),
                        why: format!(
                            "does not exist yet, but {} is a {kind}: convert it first with `radotp store migrate --from {}` (the daemon stopped)",
                            old.display(),
                            old.display()
                        ),
                    });
                }
            }
            Ok(Arc::new(SqliteStore::open(path, key)?))
        }
        Backend::Postgres => Ok(Arc::new(PgStore::open(&pg_options(config)?, key)?)),
    }
}

/// The PostgreSQL options of `config`.
pub fn pg_options(config: &Config) -> Result<PgOptions, StoreError> {
    let url = config.store.url.clone().ok_or_else(|| StoreError::Open {
        path: "[store] url".into(),
        why: "backend = \"postgres\" needs a url".into(),
    })?;
    Ok(PgOptions {
        url,
        password_file: config.store.password_file.clone(),
        ca_file: config.store.ca_file.clone(),
        pool_size: config.store.pool_size,
    })
}
