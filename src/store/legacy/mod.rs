//! Read-only readers of the directory stores of radotp 0.1 (sled) and 0.2
//! (the file store), for `radotp store migrate` only.
//!
//! Neither reader writes, repairs or locks anything in the old directory:
//! [`file`] reads its files and works out in memory what the 0.2 engine's
//! own recovery would have made of them; [`sled`] opens a copy of the
//! directory (sled writes at open). What comes back is every user and
//! token as the old engine last acknowledged it, replay state included,
//! so that a code used before the migration stays used after it. Damage
//! is an error naming the file and the offset, except a torn tail at the
//! very end of a log (a crash while appending), which was never
//! acknowledged and is dropped as the old engine dropped it.

pub mod file;
pub mod sled;

use std::path::Path;

use super::{StoreError, StoreKey, Token, User};

/// Everything an old store holds, users sorted by name, tokens by id.
#[derive(Debug, Default)]
pub struct Contents {
    /// The users (no groups or reply attributes: the old formats had none).
    pub users: Vec<User>,
    /// The tokens (no serials: the old formats had none).
    pub tokens: Vec<Token>,
}

/// The two old formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// radotp 0.1: a sled database directory (`conf`, `db`).
    Sled,
    /// radotp 0.2: the file store (`records`, `state`, `journal.*`).
    File,
}

impl Kind {
    /// How an error message names the format.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Sled => "sled store of radotp 0.1",
            Kind::File => "file store of radotp 0.2",
        }
    }
}

/// What an old store directory at `path` is, if it is one.
pub fn kind(path: &Path) -> Option<Kind> {
    if !path.is_dir() {
        return None;
    }
    if path.join("records").exists() {
        Some(Kind::File)
    } else if path.join("conf").is_file() && path.join("db").exists() {
        Some(Kind::Sled)
    } else {
        None
    }
}

/// Reads every user and token of the old store directory `path`;
/// `sled_cache_bytes` bounds sled's page cache (`[store] cache_mb`).
pub fn read(path: &Path, key: &StoreKey, sled_cache_bytes: u64) -> Result<Contents, StoreError> {
    match kind(path) {
        Some(Kind::File) => file::read(path, key),
        Some(Kind::Sled) => sled::read(path, key, sled_cache_bytes),
        None => Err(StoreError::Open {
            path: path.display().to_string(),
            why: "not a store directory of radotp 0.1 (sled: conf and db) or 0.2 (a records file)"
                .into(),
        }),
    }
}
