//! CHAP (RFC 1994, RFC 2865 §2.2): MD5(ident || password || challenge).
//!
//! The server knows the candidate password and recomputes the response for
//! each candidate; the comparison with the received response is
//! constant-time.

use md5::{Digest, Md5};

use crate::secret::ct_eq;

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

/// The CHAP response (RFC 1994 §4.1): MD5 over the identifier, the secret
/// (here the password) and the challenge.
pub fn chap_response(ident: u8, password: &[u8], challenge: &[u8]) -> [u8; 16] {
    Md5::new()
        .chain_update([ident])
        .chain_update(password)
        .chain_update(challenge)
        .finalize()
        .into()
}

impl Chap {
    /// Does `candidate` produce the received response? Constant-time comparison.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        ct_eq(
            &chap_response(self.ident, candidate, &self.challenge),
            &self.response,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge() -> Vec<u8> {
        (1u8..=16).collect()
    }

    // Expected value computed independently with
    // `printf '\x07secret-otp123456\x01...\x10' | openssl md5`.
    const EXPECTED: &str = "d420dd1f4a6a91581812413c2788459d";

    #[test]
    fn rfc1994_4_1_response_is_md5_of_ident_secret_challenge() {
        let r = chap_response(7, b"secret-otp123456", &challenge());
        assert_eq!(hex::encode(r), EXPECTED);
    }

    #[test]
    fn matches_only_the_right_candidate() {
        let chap = Chap {
            ident: 7,
            response: hex::decode(EXPECTED).unwrap().try_into().unwrap(),
            challenge: challenge(),
        };
        assert!(chap.matches(b"secret-otp123456"));
        assert!(!chap.matches(b"secret-otp123457"));
        assert!(!chap.matches(b""));
        let other_ident = Chap { ident: 8, ..chap };
        assert!(!other_ident.matches(b"secret-otp123456"));
    }
}
