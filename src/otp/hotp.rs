//! HOTP (RFC 4226): HMAC over an 8-byte counter, dynamic truncation, modulo 10^digits.

use super::Algorithm;

/// A code as ASCII digits, zero-padded, without heap allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct OtpCode {
    buf: [u8; 8],
    len: u8,
}

impl OtpCode {
    /// Formats `value` with `digits` digits (6..=8), zero-padded on the left.
    pub fn new(value: u32, digits: u32) -> Self {
        todo!("{value} {digits}")
    }
    /// The ASCII digits.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
    /// The digits as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl std::fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A code is a credential: never print it through Debug.
        f.write_str("OtpCode([redacted])")
    }
}

/// RFC 4226 §5.3: the HOTP value (already reduced modulo 10^digits).
pub fn hotp(algorithm: Algorithm, key: &[u8], counter: u64, digits: u32) -> u32 {
    todo!("{algorithm} {key:?} {counter} {digits}")
}
