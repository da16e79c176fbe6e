//! PAP: the password travels hidden in User-Password (RFC 2865 §5.2).

use crate::secret::Secret;

/// A PAP credential: the recovered cleartext password.
#[derive(Debug, Clone)]
pub struct Pap {
    /// The cleartext password (PIN followed by code, or the PIN alone in a
    /// two-step flow).
    pub password: Secret,
}
