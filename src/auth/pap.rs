//! PAP: the password travels hidden in User-Password (RFC 2865 §5.2).
//!
//! The server recovers the cleartext (see `radius::crypto::unhide_password`)
//! and compares it with each candidate in constant time.

use crate::secret::Secret;

/// A PAP credential: the recovered cleartext password.
#[derive(Debug, Clone)]
pub struct Pap {
    /// The cleartext password (PIN followed by code, or the PIN alone in a
    /// two-step flow).
    pub password: Secret,
}

impl Pap {
    /// Is `candidate` the password? Constant-time (the length is not hidden).
    pub fn matches(&self, candidate: &[u8]) -> bool {
        self.password.ct_eq(candidate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_exactly_the_password() {
        let pap = Pap {
            password: Secret::from("1234987654"),
        };
        assert!(pap.matches(b"1234987654"));
        assert!(!pap.matches(b"1234987655"));
        assert!(!pap.matches(b"123498765"));
        assert!(!pap.matches(b"12349876540"));
        assert!(!pap.matches(b""));
    }

    #[test]
    fn debug_does_not_show_the_password() {
        let pap = Pap {
            password: Secret::from("1234987654"),
        };
        assert!(!format!("{pap:?}").contains("1234987654"));
    }
}
