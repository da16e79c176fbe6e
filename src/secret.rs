//! Secret bytes: seeds, PINs, shared secrets and passwords.
//!
//! A [`Secret`] zeroes its memory on drop, never prints its content through
//! `Debug` or `Display`, and compares in constant time. Every secret that
//! crosses a module boundary travels in one.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Bytes that must never reach a log, an error message or `Debug` output.
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps bytes; the caller should not keep another copy.
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(bytes)
    }

    /// The secret's bytes, for the code that must use them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the secret holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time comparison with other bytes (the length is not hidden).
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        self.0.len() == other.len() && bool::from(self.0.as_slice().ct_eq(other))
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.as_bytes().to_vec())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s.into_bytes())
    }
}

impl From<Vec<u8>> for Secret {
    fn from(v: Vec<u8>) -> Self {
        Secret(v)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(&other.0)
    }
}

impl Eq for Secret {}

/// Constant-time equality of two byte strings (lengths are not hidden).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Equality that hides the secret `a`'s length too: both sides are hashed
/// (SHA-256) and the digests compared in constant time, so the time
/// depends on the lengths only through the hashing of `b` (the caller's
/// own input) and of `a` in whole 64-byte blocks. For a PIN compared with
/// a password, where [`ct_eq`]'s early length check would tell the PIN's
/// length.
pub fn ct_eq_hiding_len(a: &[u8], b: &[u8]) -> bool {
    use sha2::Digest;
    let da = sha2::Sha256::digest(a);
    let db = sha2::Sha256::digest(b);
    bool::from(da.as_slice().ct_eq(db.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_eq_hiding_len_is_equality() {
        assert!(ct_eq_hiding_len(b"4711", b"4711"));
        assert!(!ct_eq_hiding_len(b"4711", b"47110"));
        assert!(!ct_eq_hiding_len(b"4711", b"4712"));
        assert!(!ct_eq_hiding_len(b"", b"\0"));
        assert!(ct_eq_hiding_len(b"", b""));
    }

    #[test]
    fn debug_never_shows_the_bytes() {
        let s = Secret::from("hunter2");
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn compares_by_content() {
        assert_eq!(Secret::from("abc"), Secret::from("abc"));
        assert_ne!(Secret::from("abc"), Secret::from("abd"));
        assert!(!Secret::from("abc").ct_eq(b"ab"));
        assert!(ct_eq(b"x", b"x"));
        assert!(!ct_eq(b"x", b"y"));
    }
}
