//! CHAP (RFC 1994, RFC 2865 §2.2): MD5(ident || password || challenge).

/// A CHAP credential.
#[derive(Debug, Clone)]
pub struct Chap {
    /// The CHAP identifier (first octet of CHAP-Password).
    pub ident: u8,
    /// The 16-byte response.
    pub response: [u8; 16],
    /// CHAP-Challenge, or the Request Authenticator when it is absent.
    pub challenge: Vec<u8>,
}
