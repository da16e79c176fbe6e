//! The store key: 32 random bytes in a key file of mode 0600, used with
//! XChaCha20-Poly1305 to encrypt seeds and PINs at rest.

use std::path::Path;

use super::StoreError;

/// The 32-byte key. Never printed.
pub struct StoreKey(/* filled by the implementation */ ());

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey([redacted])")
    }
}

impl StoreKey {
    /// Loads the key file; creates it (mode 0600, 32 random bytes, parent
    /// directory created with 0700) when it does not exist. Refuses a file
    /// that group or others can read or write, or of the wrong size, with a
    /// message that says how to fix it (`chmod 600 PATH`).
    pub fn load_or_create(path: &Path) -> Result<StoreKey, StoreError> {
        todo!("{}", path.display())
    }

    /// Loads an existing key file (same checks), never creates one.
    pub fn load(path: &Path) -> Result<StoreKey, StoreError> {
        todo!("{}", path.display())
    }

    /// A key from bytes (tests).
    pub fn from_bytes(bytes: [u8; 32]) -> StoreKey {
        todo!("{}", bytes.len())
    }

    /// Encrypts `plain` with a random 24-byte nonce; `aad` binds it to its
    /// record (e.g. `b"seed:" + token id`). Output: nonce || ciphertext || tag.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        todo!("{} {}", aad.len(), plain.len())
    }

    /// The inverse of [`StoreKey::seal`]; `None` when the tag does not verify.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        todo!("{} {}", aad.len(), sealed.len())
    }
}
