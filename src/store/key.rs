//! The store key: 32 random bytes in a key file of mode 0600, used with
//! XChaCha20-Poly1305 to encrypt seeds and PINs at rest.
//!
//! The key file holds exactly the 32 raw key bytes. It is created with
//! `create_new` and mode 0600 (its parent directory, if missing, with 0700),
//! so two processes starting at once cannot both write a key. A file that
//! group or others may access is refused rather than silently used.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

use super::StoreError;

/// Length of the key in bytes.
pub const KEY_LEN: usize = 32;
/// Length of the random nonce that starts every sealed value.
pub const NONCE_LEN: usize = 24;
/// Length of the Poly1305 tag that ends every sealed value.
pub const TAG_LEN: usize = 16;

/// The 32-byte key. Never printed; zeroed on drop.
pub struct StoreKey([u8; KEY_LEN]);

impl Drop for StoreKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey([redacted])")
    }
}

fn key_err(path: &Path, why: impl Into<String>) -> StoreError {
    StoreError::Key {
        path: path.display().to_string(),
        why: why.into(),
    }
}

impl StoreKey {
    /// Loads the key file; creates it (mode 0600, 32 random bytes, parent
    /// directory created with 0700) when it does not exist. Refuses a file
    /// that group or others can read or write, or of the wrong size, with a
    /// message that says how to fix it (`chmod 600 PATH`).
    pub fn load_or_create(path: &Path) -> Result<StoreKey, StoreError> {
        match path.symlink_metadata() {
            Ok(_) => return Self::load(path),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(key_err(path, format!("cannot stat: {e}"))),
        }
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() && !parent.exists() {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(|e| {
                        key_err(
                            path,
                            format!("cannot create directory {}: {e}", parent.display()),
                        )
                    })?;
            }
        }
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(bytes.as_mut());
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        let mut file = match file {
            Ok(f) => f,
            // Someone else created it meanwhile: use theirs.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Self::load(path),
            Err(e) => return Err(key_err(path, format!("cannot create key file: {e}"))),
        };
        file.write_all(bytes.as_ref())
            .and_then(|()| file.sync_all())
            .map_err(|e| key_err(path, format!("cannot write key file: {e}")))?;
        Ok(StoreKey(*bytes))
    }

    /// Loads an existing key file (same checks), never creates one.
    pub fn load(path: &Path) -> Result<StoreKey, StoreError> {
        let mut file = File::open(path).map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                key_err(path, "no such file")
            } else {
                key_err(path, format!("cannot open: {e}"))
            }
        })?;
        let meta = file
            .metadata()
            .map_err(|e| key_err(path, format!("cannot stat: {e}")))?;
        if !meta.is_file() {
            return Err(key_err(path, "not a regular file"));
        }
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(key_err(
                path,
                format!(
                    "mode {:04o} lets group or others access the key; run `chmod 600 {}`",
                    mode & 0o7777,
                    path.display()
                ),
            ));
        }
        if meta.len() != KEY_LEN as u64 {
            return Err(key_err(
                path,
                format!(
                    "holds {} bytes, a key file holds exactly {KEY_LEN}; \
                     restore the right key file (a new one cannot decrypt existing data)",
                    meta.len()
                ),
            ));
        }
        let mut buf = Zeroizing::new(Vec::with_capacity(KEY_LEN + 1));
        (&mut file)
            .take(KEY_LEN as u64 + 1)
            .read_to_end(&mut buf)
            .map_err(|e| key_err(path, format!("cannot read: {e}")))?;
        let mut key = [0u8; KEY_LEN];
        if buf.len() != KEY_LEN {
            return Err(key_err(
                path,
                format!("holds {} bytes, expected {KEY_LEN}", buf.len()),
            ));
        }
        key.copy_from_slice(&buf);
        Ok(StoreKey(key))
    }

    /// A key from bytes (tests).
    pub fn from_bytes(bytes: [u8; 32]) -> StoreKey {
        StoreKey(bytes)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(&self.0))
    }

    /// Encrypts `plain` with a random 24-byte nonce; `aad` binds it to its
    /// record (e.g. `b"seed:" + token id`). Output: nonce || ciphertext || tag.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(NONCE_LEN + plain.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        // Encryption only fails when the plaintext exceeds the cipher's
        // 256 GiB limit, which no seed or PIN approaches.
        if let Ok(ct) = self
            .cipher()
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad })
        {
            out.extend_from_slice(&ct);
        }
        out
    }

    /// The inverse of [`StoreKey::seal`]; `None` when the tag does not verify.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn mode_of(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn created_key_file_is_0600_in_a_0700_dir_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/store.key");
        let k1 = StoreKey::load_or_create(&path).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(mode_of(&dir.path().join("sub/dir")), 0o700);
        assert_eq!(fs::metadata(&path).unwrap().len(), 32);
        let k2 = StoreKey::load_or_create(&path).unwrap();
        assert_eq!(k1.0, k2.0, "second call must load, not recreate");
        let k3 = StoreKey::load(&path).unwrap();
        assert_eq!(k1.0, k3.0);
    }

    #[test]
    fn two_created_keys_differ() {
        let dir = tempfile::tempdir().unwrap();
        let a = StoreKey::load_or_create(&dir.path().join("a")).unwrap();
        let b = StoreKey::load_or_create(&dir.path().join("b")).unwrap();
        assert_ne!(a.0, b.0);
    }

    #[test]
    fn key_file_readable_by_others_is_refused_with_chmod_hint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        fs::write(&path, [7u8; 32]).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        for r in [StoreKey::load(&path), StoreKey::load_or_create(&path)] {
            let msg = r.unwrap_err().to_string();
            assert!(
                msg.contains(&format!("chmod 600 {}", path.display())),
                "{msg}"
            );
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(StoreKey::load(&path).is_err());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let k = StoreKey::load(&path).unwrap();
        assert_eq!(k.0, [7u8; 32]);
        // The file was not rewritten by the refused attempts.
        assert_eq!(fs::read(&path).unwrap(), vec![7u8; 32]);
    }

    #[test]
    fn key_file_of_wrong_size_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 31, 33, 64] {
            let path = dir.path().join(format!("k{len}"));
            fs::write(&path, vec![1u8; len]).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            let msg = StoreKey::load_or_create(&path).unwrap_err().to_string();
            assert!(msg.contains(&format!("holds {len} bytes")), "{msg}");
        }
    }

    #[test]
    fn missing_key_file_is_an_error_for_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("none");
        assert!(matches!(StoreKey::load(&path), Err(StoreError::Key { .. })));
        assert!(!path.exists());
    }

    #[test]
    fn seal_open_round_trip_and_aad_binding() {
        let k = StoreKey::from_bytes([3u8; 32]);
        let sealed = k.seal(b"seed:t-1", b"12345678901234567890");
        assert_eq!(sealed.len(), NONCE_LEN + 20 + TAG_LEN);
        assert_eq!(
            k.open(b"seed:t-1", &sealed).as_deref(),
            Some(&b"12345678901234567890"[..])
        );
        assert_eq!(k.open(b"seed:t-2", &sealed), None, "AAD must bind");
        let other = StoreKey::from_bytes([4u8; 32]);
        assert_eq!(other.open(b"seed:t-1", &sealed), None, "wrong key");
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(k.open(b"seed:t-1", &flipped), None, "tampered tag");
        assert_eq!(k.open(b"seed:t-1", &sealed[..30]), None, "short input");
        // Random nonces: the same plaintext seals differently.
        assert_ne!(sealed, k.seal(b"seed:t-1", b"12345678901234567890"));
    }

    #[test]
    fn debug_is_redacted() {
        let k = StoreKey::from_bytes([0x41; 32]);
        let s = format!("{k:?}");
        assert!(!s.contains("65") && !s.contains("AAAA"), "{s}");
        assert!(s.contains("redacted"));
    }
}
