//! The client side of each method, for `radotp probe` and `radotp-bench`:
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AuthError, Credential};

    const SECRET: &[u8] = b"s3cr3t-shared";
    const AUTHENTICATOR: [u8; 16] = [
        0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1,
        0xf0,
    ];
    const RANDOM: [u8; 32] = [
        0x91, 0x02, 0x13, 0x24, 0x35, 0x46, 0x57, 0x68, 0x79, 0x8a, 0x9b, 0xac, 0xbd, 0xce, 0xdf,
        0xe0, 0xf1, 0x01, 0x12, 0x23, 0x34, 0x45, 0x56, 0x67, 0x78, 0x89, 0x9a, 0xab, 0xbc, 0xcd,
        0xde, 0xef,
    ];
    const PASSWORD: &[u8] = b"4711123456";

    fn request(method: Method, user: &[u8], password: &[u8]) -> (Packet, ClientExchange) {
        let (attrs, exchange) =
            request_attributes(method, user, password, SECRET, &AUTHENTICATOR, &RANDOM);
        let mut p = Packet::new(Code::AccessRequest, 17, AUTHENTICATOR);
        p.push(types::USER_NAME, user.to_vec());
        p.attributes.extend(attrs);
        (p, exchange)
    }

    fn round_trip(method: Method) {
        let (p, exchange) = request(method, b"alice", PASSWORD);
        assert_eq!(exchange.method, method);
        let cred = Credential::from_packet(&p, SECRET).unwrap().unwrap();
        assert_eq!(cred.method(), method);
        assert!(cred.matches(PASSWORD), "{method}");
        assert!(!cred.matches(b"4711123457"), "{method}");
        assert!(!cred.matches(b""), "{method}");
    }

    #[test]
    fn chap_round_trip() {
        round_trip(Method::Chap);
        let (p, _) = request(Method::Chap, b"alice", PASSWORD);
        assert_eq!(p.attr(types::CHAP_PASSWORD).unwrap().len(), 17);
        assert_eq!(p.attr(types::CHAP_CHALLENGE).unwrap().len(), 16);
    }

    #[test]
    fn ms_chap_round_trip() {
        round_trip(Method::MsChap);
        let (p, _) = request(Method::MsChap, b"alice", PASSWORD);
        let response = p.vendor_attr(ms::VENDOR_ID, ms::MS_CHAP_RESPONSE).unwrap();
        assert_eq!(response.len(), 50);
        assert_eq!(response[1], 1, "NT response flag");
        assert_eq!(
            p.vendor_attr(ms::VENDOR_ID, ms::MS_CHAP_CHALLENGE)
                .unwrap()
                .len(),
            8
        );
    }

    #[test]
    fn ms_chap_v2_round_trip() {
        round_trip(Method::MsChapV2);
        // A domain prefix on the User-Name does not change the hashes.
        let (p, _) = request(Method::MsChapV2, b"CORP\\alice", PASSWORD);
        let cred = Credential::from_packet(&p, SECRET).unwrap().unwrap();
        assert!(cred.matches(PASSWORD));
    }

    // Checks the client against the RFC 2759 §9.2 example: with the RFC's
    // challenges in `random`, the client must send the RFC's NT-Response
    // and expect its authenticator response.
    #[test]
    fn rfc2759_9_2_client_builds_the_rfc_response() {
        let mut random = [0u8; 32];
        random[..16].copy_from_slice(&hex::decode("5B5D7C7D7B3F2F3E3C2C602132262628").unwrap());
        random[16..].copy_from_slice(&hex::decode("21402324255E262A28295F2B3A337C7E").unwrap());
        let (attrs, exchange) = request_attributes(
            Method::MsChapV2,
            b"User",
            b"clientPass",
            SECRET,
            &AUTHENTICATOR,
            &random,
        );
        let mut p = Packet::new(Code::AccessRequest, 1, AUTHENTICATOR);
        p.attributes = attrs;
        let response = p.vendor_attr(ms::VENDOR_ID, ms::MS_CHAP2_RESPONSE).unwrap();
        assert_eq!(
            hex::encode_upper(&response[26..]),
            "82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF"
        );
        assert_eq!(&response[18..26], &[0u8; 8]);
        assert_eq!(
            exchange.expected_success.as_deref(),
            Some("S=407A5589115FD0D6209F510FE9C04566932CDA56")
        );
    }

    fn accept_with_success(value: &[u8]) -> Packet {
        let mut reply = Packet::new(Code::AccessAccept, 17, [0; 16]);
        reply.push_vendor(ms::VENDOR_ID, ms::MS_CHAP2_SUCCESS, value);
        reply
    }

    #[test]
    fn check_accept_verifies_the_authenticator_response() {
        let exchange = ClientExchange {
            method: Method::MsChapV2,
            expected_success: Some("S=407A5589115FD0D6209F510FE9C04566932CDA56".into()),
        };
        let good = b"\x01S=407A5589115FD0D6209F510FE9C04566932CDA56";
        assert_eq!(exchange.check_accept(&accept_with_success(good)), Ok(()));
        let lower = b"\x01S=407a5589115fd0d6209f510fe9c04566932cda56 M=hi";
        assert_eq!(exchange.check_accept(&accept_with_success(lower)), Ok(()));
        let wrong = b"\x01S=407A5589115FD0D6209F510FE9C04566932CDA57";
        assert!(exchange.check_accept(&accept_with_success(wrong)).is_err());
        assert!(exchange
            .check_accept(&accept_with_success(b"\x01S=40"))
            .is_err());
        let trailing = b"\x01S=407A5589115FD0D6209F510FE9C04566932CDA56X";
        assert!(exchange
            .check_accept(&accept_with_success(trailing))
            .is_err());
        let bare = Packet::new(Code::AccessAccept, 17, [0; 16]);
        assert!(exchange.check_accept(&bare).is_err());
        let reject = Packet::new(Code::AccessReject, 17, [0; 16]);
        assert!(exchange.check_accept(&reject).is_err());

        let chap = ClientExchange {
            method: Method::Chap,
            expected_success: None,
        };
        assert_eq!(chap.check_accept(&bare), Ok(()));
    }

    // Needs radius::crypto::hide_password / unhide_password.
    #[test]
    fn pap_round_trip() {
        round_trip(Method::Pap);
    }

    // Needs radius::crypto::mppe_encrypt_key / mppe_decrypt_key.
    #[test]
    fn ms_chap_v2_accept_round_trip_with_mppe_keys() {
        let (p, exchange) = request(Method::MsChapV2, b"CORP\\alice", PASSWORD);
        let cred = Credential::from_packet(&p, SECRET).unwrap().unwrap();
        let mut reply = Packet::new(Code::AccessAccept, p.identifier, [0; 16]);
        reply.attributes = cred.accept_attributes(PASSWORD, &p, SECRET);
        assert_eq!(exchange.check_accept(&reply), Ok(()));

        // The keys decrypt to the RFC 3079 keys computed independently from
        // the client's own material.
        let response = p.vendor_attr(ms::VENDOR_ID, ms::MS_CHAP2_RESPONSE).unwrap();
        let nt_response: [u8; 24] = response[26..50].try_into().unwrap();
        let master = mschap::get_master_key(
            &mschap::hash_nt_password_hash(&mschap::nt_password_hash(PASSWORD)),
            &nt_response,
        );
        let client_send = mschap::get_asymmetric_start_key(&master, true, false);
        let client_recv = mschap::get_asymmetric_start_key(&master, false, false);
        let send = reply
            .vendor_attr(ms::VENDOR_ID, ms::MS_MPPE_SEND_KEY)
            .unwrap();
        let recv = reply
            .vendor_attr(ms::VENDOR_ID, ms::MS_MPPE_RECV_KEY)
            .unwrap();
        // The NAS sends with what the client receives with, and vice versa.
        assert_eq!(
            crypto::mppe_decrypt_key(send, SECRET, &AUTHENTICATOR).unwrap(),
            client_recv
        );
        assert_eq!(
            crypto::mppe_decrypt_key(recv, SECRET, &AUTHENTICATOR).unwrap(),
            client_send
        );

        // Accept attributes computed for another password fail the check.
        let mut forged = Packet::new(Code::AccessAccept, p.identifier, [0; 16]);
        forged.attributes = cred.accept_attributes(b"0000000000", &p, SECRET);
        assert!(exchange.check_accept(&forged).is_err());
    }

    #[test]
    fn ms_chap_v2_tampered_reserved_octets_are_refused() {
        // Tampering with the reserved octets of a client request is caught.
        let (mut p, _) = request(Method::MsChapV2, b"alice", PASSWORD);
        let vsa = p
            .attributes
            .iter_mut()
            .find(|a| {
                a.vendor()
                    .is_some_and(|(_, s)| s.iter().any(|(t, _)| *t == ms::MS_CHAP2_RESPONSE))
            })
            .unwrap();
        // vendor id (4) + type (1) + length (1) + ident + flags + 16 peer challenge.
        vsa.value[6 + 18] = 1;
        assert_eq!(
            Credential::from_packet(&p, SECRET).unwrap_err(),
            AuthError::BadMsChap2Reserved
        );
    }
}
