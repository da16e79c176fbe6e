//! The sled-backed [`TokenStore`](super::TokenStore), seeds and PINs
//! encrypted at rest, with group-commit `sync`.

use std::path::Path;

use super::{StoreError, StoreKey};

/// The embedded store.
pub struct SledStore {}

impl SledStore {
    /// Opens (creating if needed) the database directory `path`.
    /// `cache_bytes` bounds sled's page cache.
    pub fn open(path: &Path, key: StoreKey, cache_bytes: u64) -> Result<SledStore, StoreError> {
        todo!("{} {key:?} {cache_bytes}", path.display())
    }
}
