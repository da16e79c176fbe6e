//! `radotp store migrate` and `radotp store info`: the token store itself.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::{is_sled_store, open_store, Ctx, UsageError};
use crate::store::{SledStore, StoreKey};

/// Store commands (the daemon must be stopped).
#[derive(Debug, Subcommand)]
pub enum StoreCmd {
    /// Copy every user and token (seeds, PINs, replay state, lockout
    /// state) from a sled store of radotp 0.1 into the configured store,
    /// which must be empty. Move the old directory aside first, e.g.
    /// `mv var/radotp.db var/radotp.db.sled`, then
    /// `radotp store migrate --from var/radotp.db.sled`. Same key file.
    Migrate {
        /// The sled store directory.
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
    },
    /// Show the configured store: kind, path, users, tokens, size on disk.
    Info,
}

/// Runs a store command.
pub fn run(ctx: &Ctx, cmd: StoreCmd) -> anyhow::Result<ExitCode> {
    let config = ctx.config()?;
    let sock = &config.server.control_socket;
    if std::os::unix::net::UnixStream::connect(sock).is_ok() {
        return Err(UsageError(format!(
            "a daemon is running (it answers on {}) and holds the store: stop it first (systemctl stop radotp), then run radotp store again",
            sock.display()
        ))
        .into());
    }
    match cmd {
        StoreCmd::Migrate { from } => {
            if !is_sled_store(&from) {
                return Err(UsageError(format!(
                    "{} is not a sled store (no conf and db files there)",
                    from.display()
                ))
                .into());
            }
            if same_dir(&from, &config.store.path) {
                return Err(UsageError(format!(
                    "{} is the configured store path itself: move it aside first (mv {0} {0}.sled) and migrate --from {0}.sled",
                    from.display()
                ))
                .into());
            }
            let started = std::time::Instant::now();
            let key = StoreKey::load(&config.store.key_file)?;
            let old = SledStore::open(&from, key, config.store.cache_mb * 1024 * 1024)?;
            let users = crate::store::TokenStore::users(&old)?;
            let tokens = crate::store::TokenStore::tokens(&old)?;
            drop(old);
            let new = open_store(&config)?;
            let (u, t) = new.counts()?;
            if u != 0 || t != 0 {
                anyhow::bail!(
                    "the configured store {} is not empty ({u} users, {t} tokens): migrate into a new path",
                    config.store.path.display()
                );
            }
            new.import(&users, &tokens)?;
            new.sync()?;
            let secs = started.elapsed().as_secs_f64();
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({ "ok": true, "users": users.len(), "tokens": tokens.len(), "seconds": secs })
                );
            } else {
                println!(
                    "migrated {} users and {} tokens from {} into {} ({secs:.1} s)",
                    users.len(),
                    tokens.len(),
                    from.display(),
                    config.store.path.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        StoreCmd::Info => {
            let sled = is_sled_store(&config.store.path);
            let store = open_store(&config)?;
            let (users, tokens) = store.counts()?;
            drop(store);
            let size = dir_size(&config.store.path);
            let kind = if sled { "sled" } else { "file" };
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({ "ok": true, "kind": kind, "path": config.store.path.display().to_string(),
                        "users": users, "tokens": tokens, "bytes_on_disk": size })
                );
            } else {
                println!("store: {} ({kind})", config.store.path.display());
                println!("users: {users}, tokens: {tokens}");
                if size < 1_000_000 {
                    println!("on disk: {:.1} kB", size as f64 / 1e3);
                } else {
                    println!("on disk: {:.1} MB", size as f64 / 1e6);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn same_dir(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Bytes allocated on disk by the files below `dir` (sparse files count
/// what they use).
fn dir_size(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.blocks() * 512,
                Err(_) => {}
            }
        }
    }
    total
}
