//! RADIUS cryptography: User-Password hiding (RFC 2865 §5.2), Request and
//! Response Authenticators (RFC 2865 §3, RFC 2866 §3), Message-Authenticator
//! (RFC 2869 §5.14, RFC 3579 §3.2) and the RFC 2548 MPPE key encryption.

use super::attribute::Attribute;
use super::packet::{Code, EncodeError, Packet};
use crate::secret::Secret;

/// What a Message-Authenticator check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageAuthenticator {
    /// The packet carries none.
    Absent,
    /// Present and correct.
    Valid,
    /// Present and wrong (or not 16 bytes, or present twice).
    Invalid,
}

/// Why a hidden User-Password cannot be recovered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    #[error("User-Password of {0} bytes is not a non-zero multiple of 16 up to 128")]
    BadLength(usize),
}

/// RFC 2865 §5.2 (client side): hides `password` (padded with NULs to a
/// multiple of 16, at most 128 bytes) under `secret` and the Request Authenticator.
pub fn hide_password(password: &[u8], secret: &[u8], authenticator: &[u8; 16]) -> Vec<u8> {
    todo!("{} {} {}", password.len(), secret.len(), authenticator.len())
}

/// RFC 2865 §5.2 (server side): recovers the password and strips trailing NULs.
pub fn unhide_password(
    hidden: &[u8],
    secret: &[u8],
    authenticator: &[u8; 16],
) -> Result<Secret, PasswordError> {
    todo!("{} {} {}", hidden.len(), secret.len(), authenticator.len())
}

/// Checks the Message-Authenticator of a received datagram `raw` (already
/// decoded as `packet`). For Access-Request and Status-Server the HMAC-MD5 is
/// over the packet with its own Request Authenticator; for
/// Accounting-Request with the authenticator field zeroed (RFC 3579 §3.2);
/// for responses (client side) pass the request's authenticator as
/// `request_authenticator`.
pub fn check_message_authenticator(
    raw: &[u8],
    packet: &Packet,
    secret: &[u8],
    request_authenticator: Option<&[u8; 16]>,
) -> MessageAuthenticator {
    todo!(
        "{} {:?} {} {:?}",
        raw.len(),
        packet.code,
        secret.len(),
        request_authenticator
    )
}

/// RFC 2866 §3: is the Accounting-Request authenticator of `raw` right?
pub fn verify_accounting_request(raw: &[u8], secret: &[u8]) -> bool {
    todo!("{} {}", raw.len(), secret.len())
}

/// Builds a response to `request` (server side): identifier from the
/// request; a Message-Authenticator placed first; `attributes`; the
/// request's Proxy-State attributes copied last in order; then the
/// Message-Authenticator and the Response Authenticator computed over it.
pub fn encode_response(
    code: Code,
    request: &Packet,
    attributes: Vec<Attribute>,
    secret: &[u8],
) -> Result<Vec<u8>, EncodeError> {
    todo!(
        "{code:?} {} {} {}",
        request.identifier,
        attributes.len(),
        secret.len()
    )
}

/// Builds a request (client side, for `radotp probe` and `radotp bench`):
/// `packet.authenticator` is used as the Request Authenticator for
/// Access-Request and Status-Server; for Accounting-Request it is computed
/// (RFC 2866). With `message_authenticator`, one is placed first and
/// computed.
pub fn encode_request(
    packet: &Packet,
    secret: &[u8],
    message_authenticator: bool,
) -> Result<Vec<u8>, EncodeError> {
    todo!(
        "{:?} {} {message_authenticator}",
        packet.code,
        secret.len()
    )
}

/// Client side: checks the Response Authenticator of reply `raw` to a
/// request that had `request_authenticator`, and its Message-Authenticator
/// when present. True only when everything present is right.
pub fn verify_response(raw: &[u8], request_authenticator: &[u8; 16], secret: &[u8]) -> bool {
    todo!(
        "{} {} {}",
        raw.len(),
        request_authenticator.len(),
        secret.len()
    )
}

/// RFC 2548 §2.4.2/2.4.3: encrypts an MS-MPPE-Send-Key/Recv-Key value
/// (`key` is the 16-byte session key; the key length octet and padding are
/// added here) with `salt` (high bit set by this function).
pub fn mppe_encrypt_key(
    key: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
    salt: u16,
) -> Vec<u8> {
    todo!(
        "{} {} {} {salt}",
        key.len(),
        secret.len(),
        request_authenticator.len()
    )
}

/// The inverse of [`mppe_encrypt_key`] (client side, for tests and probe).
pub fn mppe_decrypt_key(
    value: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
) -> Option<Vec<u8>> {
    todo!(
        "{} {} {}",
        value.len(),
        secret.len(),
        request_authenticator.len()
    )
}

/// RFC 2548 §2.4.1: the MS-CHAP-MPPE-Keys value (8-byte LM key, 16-byte NT
/// key, 8 zero bytes) encrypted like User-Password.
pub fn ms_chap_mppe_keys(
    lm_key: &[u8; 8],
    nt_key: &[u8; 16],
    secret: &[u8],
    request_authenticator: &[u8; 16],
) -> Vec<u8> {
    todo!(
        "{} {} {} {}",
        lm_key.len(),
        nt_key.len(),
        secret.len(),
        request_authenticator.len()
    )
}
