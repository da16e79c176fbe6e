//! An in-memory [`TokenStore`](super::TokenStore) for tests.

/// Users and tokens in memory; `sync` is a no-op.
#[derive(Debug, Default)]
pub struct MemoryStore {}
