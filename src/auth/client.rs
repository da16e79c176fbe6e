//! The client side of each method, for `radotp probe` and `radotp bench`:
//! builds the credential attributes of an Access-Request and checks the
//! method-specific parts of the reply (MS-CHAP2-Success `S=`).

use super::Method;
use crate::radius::Attribute;

/// What the client must remember to check the reply.
#[derive(Debug, Clone)]
pub struct ClientExchange {
    /// The method used.
    pub method: Method,
    /// MS-CHAP-V2: the expected authenticator response (`S=` + 40 hex).
    pub expected_success: Option<String>,
}

/// Builds the credential attributes for `method` (User-Name excluded):
/// PAP: User-Password hidden with `secret` and `authenticator`;
/// CHAP: CHAP-Password and a CHAP-Challenge taken from `random`;
/// MS-CHAP: MS-CHAP-Challenge (8 bytes of `random`) and MS-CHAP-Response;
/// MS-CHAP-V2: MS-CHAP-Challenge, MS-CHAP2-Response (peer challenge from `random`).
/// `random` must hold at least 32 bytes.
pub fn request_attributes(
    method: Method,
    user: &[u8],
    password: &[u8],
    secret: &[u8],
    authenticator: &[u8; 16],
    random: &[u8; 32],
) -> (Vec<Attribute>, ClientExchange) {
    todo!(
        "{method} {} {} {} {} {}",
        user.len(),
        password.len(),
        secret.len(),
        authenticator.len(),
        random.len()
    )
}
