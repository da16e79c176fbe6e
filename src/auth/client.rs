//! The client side of each method, for `radotp probe` and `radotp bench`:
//! builds the credential attributes of an Access-Request and checks the
//! method-specific parts of the reply (MS-CHAP2-Success `S=`).
//!
//! The attributes are those a NAS sends after a PPP exchange: User-Password;
//! CHAP-Password with a 16-octet CHAP-Challenge; MS-CHAP-Challenge with
//! MS-CHAP-Response (NT response only, flags 1); MS-CHAP-Challenge with
//! MS-CHAP2-Response.

use super::{chap, mschap, Method};
use crate::radius::attribute::{ms, types};
use crate::radius::{crypto, Attribute, Code, Packet};

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
///
/// Layout of `random`: octet 0 is the PPP identifier (CHAP and the MS
/// methods); octets 16..32 the CHAP-Challenge, octets 16..24 the MS-CHAP
/// challenge; for MS-CHAP-V2 octets 0..16 are the authenticator challenge
/// and 16..32 the peer challenge.
pub fn request_attributes(
    method: Method,
    user: &[u8],
    password: &[u8],
    secret: &[u8],
    authenticator: &[u8; 16],
    random: &[u8; 32],
) -> (Vec<Attribute>, ClientExchange) {
    let ident = random[0];
    let mut low = [0u8; 16];
    low.copy_from_slice(&random[..16]);
    let mut high = [0u8; 16];
    high.copy_from_slice(&random[16..]);
    let mut expected_success = None;

    let attributes = match method {
        Method::Pap => vec![Attribute::new(
            types::USER_PASSWORD,
            crypto::hide_password(password, secret, authenticator),
        )],
        Method::Chap => {
            let mut value = Vec::with_capacity(17);
            value.push(ident);
            value.extend_from_slice(&chap::chap_response(ident, password, &high));
            vec![
                Attribute::new(types::CHAP_PASSWORD, value),
                Attribute::new(types::CHAP_CHALLENGE, high.to_vec()),
            ]
        }
        Method::MsChap => {
            let mut challenge = [0u8; 8];
            challenge.copy_from_slice(&high[..8]);
            let mut value = Vec::with_capacity(50);
            value.push(ident);
            value.push(1); // use the NT response
            value.extend_from_slice(&[0u8; 24]); // LM response: deprecated, zero
            value.extend_from_slice(&mschap::nt_challenge_response(&challenge, password));
            vec![
                Attribute::vendor_specific(ms::VENDOR_ID, ms::MS_CHAP_CHALLENGE, &challenge),
                Attribute::vendor_specific(ms::VENDOR_ID, ms::MS_CHAP_RESPONSE, &value),
            ]
        }
        Method::MsChapV2 => {
            let (auth_challenge, peer_challenge) = (low, high);
            let nt_response =
                mschap::generate_nt_response(&auth_challenge, &peer_challenge, user, password);
            expected_success = Some(mschap::generate_authenticator_response(
                password,
                &nt_response,
                &peer_challenge,
                &auth_challenge,
                user,
            ));
            let mut value = Vec::with_capacity(50);
            value.push(ident);
            value.push(0); // flags
            value.extend_from_slice(&peer_challenge);
            value.extend_from_slice(&[0u8; 8]); // reserved
            value.extend_from_slice(&nt_response);
            vec![
                Attribute::vendor_specific(ms::VENDOR_ID, ms::MS_CHAP_CHALLENGE, &auth_challenge),
                Attribute::vendor_specific(ms::VENDOR_ID, ms::MS_CHAP2_RESPONSE, &value),
            ]
        }
    };
    (
        attributes,
        ClientExchange {
            method,
            expected_success,
        },
    )
}

impl ClientExchange {
    /// Checks the method-specific part of an Access-Accept: for MS-CHAP-V2
    /// the MS-CHAP2-Success attribute must carry the expected authenticator
    /// response (RFC 2759 §5, RFC 2548 §2.3.3; hex compared without regard
    /// to case). The RADIUS-level checks (Response Authenticator,
    /// Message-Authenticator) are the caller's.
    pub fn check_accept(&self, reply: &Packet) -> Result<(), String> {
        if reply.code != Code::AccessAccept {
            return Err(format!("reply is {:?}, not an Access-Accept", reply.code));
        }
        let Some(expected) = &self.expected_success else {
            return Ok(());
        };
        let value = reply
            .vendor_attr(ms::VENDOR_ID, ms::MS_CHAP2_SUCCESS)
            .ok_or("Access-Accept without MS-CHAP2-Success")?;
        // ident octet, then "S=" and 40 hex digits (a " M=..." may follow).
        let got = value
            .get(1..1 + expected.len())
            .ok_or_else(|| format!("MS-CHAP2-Success of {} bytes is too short", value.len()))?;
        let got = got.to_ascii_uppercase();
        let want = expected.as_bytes().to_ascii_uppercase();
        let rest = value.get(1 + expected.len()..).unwrap_or_default();
        if !crate::secret::ct_eq(&got, &want) || !(rest.is_empty() || rest.starts_with(b" ")) {
            return Err("MS-CHAP2-Success authenticator response is wrong: \
                        the server does not know the password"
                .to_string());
        }
        Ok(())
    }
}
