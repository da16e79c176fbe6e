//! Authentication methods: how a password travels in an Access-Request.
//!
//! [`Credential::from_packet`] extracts PAP, CHAP, MS-CHAP or MS-CHAP-V2
//! material from a decoded request; [`Credential::matches`] tests one
//! candidate password (PIN followed by an OTP code) against it without ever
//! seeing the code itself for the hashed methods; [`Credential::accept_attributes`]
//! and [`Credential::reject_attributes`] build the method's reply attributes
//! (MS-CHAP2-Success, MPPE keys, MS-CHAP-Error). [`client`] builds the same
//! material on the client side for `radotp probe` and `radotp-bench`.
//! Pure functions, no I/O.

pub mod chap;
pub mod client;
mod des;
pub mod eap;
pub mod eap_tls;
pub mod mschap;
pub mod pap;

use std::fmt;

use crate::radius::attribute::{ms, types};
use crate::radius::{crypto, Attribute, Packet};

pub use chap::Chap;
pub use mschap::{MsChap, MsChapV2};
pub use pap::Pap;

/// The method a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Pap,
    Chap,
    MsChap,
    MsChapV2,
}

impl Method {
    /// Lower-case name for logs, metrics and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Pap => "pap",
            Method::Chap => "chap",
            Method::MsChap => "mschap",
            Method::MsChapV2 => "mschapv2",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "pap" => Ok(Method::Pap),
            "chap" => Ok(Method::Chap),
            "mschap" | "mschapv1" | "mschap1" => Ok(Method::MsChap),
            "mschapv2" | "mschap2" => Ok(Method::MsChapV2),
            _ => Err(format!(
                "unknown method '{s}': expected pap, chap, mschap or mschapv2"
            )),
        }
    }
}

/// Why the credential attributes of a request are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    #[error("User-Password: {0}")]
    BadPassword(String),
    #[error("CHAP-Password must be 17 bytes, got {0}")]
    BadChapPassword(usize),
    #[error("CHAP-Challenge must be 1 to 253 bytes, got {0}")]
    BadChapChallenge(usize),
    #[error("MS-CHAP-Challenge must be {expected} bytes, got {got}")]
    BadMsChapChallenge { expected: usize, got: usize },
    #[error("MS-CHAP-Response must be 50 bytes, got {0}")]
    BadMsChapResponse(usize),
    #[error("MS-CHAP-Response uses only the LM response, which radotp does not accept")]
    LmResponseOnly,
    #[error("MS-CHAP2-Response must be 50 bytes, got {0}")]
    BadMsChap2Response(usize),
    #[error("MS-CHAP2-Response reserved bytes or flags are not zero")]
    BadMsChap2Reserved,
    #[error("MS-CHAP response without MS-CHAP-Challenge")]
    MissingMsChapChallenge,
    #[error("request carries more than one credential ({0} and {1})")]
    Ambiguous(Method, Method),
}

/// MS-CHAP error codes (RFC 2759 §6, RFC 2433).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsChapErrorCode {
    /// 646 ERROR_RESTRICTED_LOGON_HOURS
    RestrictedLogonHours,
    /// 647 ERROR_ACCT_DISABLED (also used for a locked-out user)
    AccountDisabled,
    /// 648 ERROR_PASSWD_EXPIRED
    PasswordExpired,
    /// 649 ERROR_NO_DIALIN_PERMISSION
    NoDialinPermission,
    /// 691 ERROR_AUTHENTICATION_FAILURE
    AuthenticationFailure,
}

impl MsChapErrorCode {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            MsChapErrorCode::RestrictedLogonHours => 646,
            MsChapErrorCode::AccountDisabled => 647,
            MsChapErrorCode::PasswordExpired => 648,
            MsChapErrorCode::NoDialinPermission => 649,
            MsChapErrorCode::AuthenticationFailure => 691,
        }
    }
}

impl MsChapErrorCode {
    /// The human-readable text sent in `M=` of an MS-CHAP-V2 failure.
    pub fn message(self) -> &'static str {
        match self {
            MsChapErrorCode::RestrictedLogonHours => "Logon not allowed at this time",
            MsChapErrorCode::AccountDisabled => "Account disabled",
            MsChapErrorCode::PasswordExpired => "Password expired",
            MsChapErrorCode::NoDialinPermission => "No dial-in permission",
            MsChapErrorCode::AuthenticationFailure => "Authentication failed",
        }
    }
}

/// MS-MPPE-Encryption-Policy value: encryption allowed (RFC 2548 §2.4.4).
pub const MPPE_POLICY_ALLOWED: u32 = 1;
/// MS-MPPE-Encryption-Types value: 40-bit and 128-bit RC4 (RFC 2548 §2.4.5).
pub const MPPE_TYPES_RC4_40_128: u32 = 6;

/// The credential carried by one Access-Request.
#[derive(Debug, Clone)]
pub enum Credential {
    Pap(Pap),
    Chap(Chap),
    MsChap(MsChap),
    MsChapV2(MsChapV2),
}

/// `N` bytes of `v`, or `None` when `v` has another length.
fn fixed<const N: usize>(v: &[u8]) -> Option<[u8; N]> {
    v.try_into().ok()
}

fn ms_attr(vtype: u8, value: &[u8]) -> Attribute {
    Attribute::vendor_specific(ms::VENDOR_ID, vtype, value)
}

/// MS-MPPE-Encryption-Policy and MS-MPPE-Encryption-Types.
fn mppe_policy_attributes() -> [Attribute; 2] {
    [
        ms_attr(
            ms::MS_MPPE_ENCRYPTION_POLICY,
            &MPPE_POLICY_ALLOWED.to_be_bytes(),
        ),
        ms_attr(
            ms::MS_MPPE_ENCRYPTION_TYPES,
            &MPPE_TYPES_RC4_40_128.to_be_bytes(),
        ),
    ]
}

/// Two distinct RFC 2548 salts, high bit set.
fn two_salts() -> (u16, u16) {
    let first = rand::random::<u16>() | 0x8000;
    let mut second = rand::random::<u16>() | 0x8000;
    while second == first {
        second = rand::random::<u16>() | 0x8000;
    }
    (first, second)
}

impl Credential {
    /// Extracts the credential. `Ok(None)`: the request carries none of the
    /// four (EAP, say). More than one: [`AuthError::Ambiguous`].
    ///
    /// - PAP: User-Password, recovered with `secret` and the Request
    ///   Authenticator.
    /// - CHAP: CHAP-Password (ident and 16-octet response) with
    ///   CHAP-Challenge, or the Request Authenticator when it is absent.
    /// - MS-CHAP: MS-CHAP-Response (flags bit 0 must select the NT
    ///   response) with an 8-octet MS-CHAP-Challenge.
    /// - MS-CHAP-V2: MS-CHAP2-Response (flags and reserved octets zero)
    ///   with a 16-octet MS-CHAP-Challenge; the User-Name (without any
    ///   `DOMAIN\` prefix) enters the ChallengeHash.
    pub fn from_packet(packet: &Packet, secret: &[u8]) -> Result<Option<Credential>, AuthError> {
        let pap = packet.attr(types::USER_PASSWORD);
        let chap = packet.attr(types::CHAP_PASSWORD);
        let v1 = packet.vendor_attr(ms::VENDOR_ID, ms::MS_CHAP_RESPONSE);
        let v2 = packet.vendor_attr(ms::VENDOR_ID, ms::MS_CHAP2_RESPONSE);
        let present: Vec<Method> = [
            (pap.is_some(), Method::Pap),
            (chap.is_some(), Method::Chap),
            (v1.is_some(), Method::MsChap),
            (v2.is_some(), Method::MsChapV2),
        ]
        .into_iter()
        .filter_map(|(p, m)| p.then_some(m))
        .collect();
        if let [first, second, ..] = present[..] {
            return Err(AuthError::Ambiguous(first, second));
        }

        if let Some(hidden) = pap {
            let password = crypto::unhide_password(hidden, secret, &packet.authenticator)
                .map_err(|e| AuthError::BadPassword(e.to_string()))?;
            return Ok(Some(Credential::Pap(Pap { password })));
        }

        if let Some(value) = chap {
            let (ident, response) = match value.split_first() {
                Some((&ident, rest)) if value.len() == 17 => (
                    ident,
                    fixed::<16>(rest).ok_or(AuthError::BadChapPassword(value.len()))?,
                ),
                _ => return Err(AuthError::BadChapPassword(value.len())),
            };
            let challenge = match packet.attr(types::CHAP_CHALLENGE) {
                Some(c) if c.is_empty() || c.len() > 253 => {
                    return Err(AuthError::BadChapChallenge(c.len()))
                }
                Some(c) => c.to_vec(),
                None => packet.authenticator.to_vec(),
            };
            return Ok(Some(Credential::Chap(Chap {
                ident,
                response,
                challenge,
            })));
        }

        let ms_challenge = || {
            packet
                .vendor_attr(ms::VENDOR_ID, ms::MS_CHAP_CHALLENGE)
                .ok_or(AuthError::MissingMsChapChallenge)
        };

        if let Some(value) = v1 {
            let challenge = ms_challenge()?;
            let challenge = fixed::<8>(challenge).ok_or(AuthError::BadMsChapChallenge {
                expected: 8,
                got: challenge.len(),
            })?;
            let response = fixed::<50>(value).ok_or(AuthError::BadMsChapResponse(value.len()))?;
            // ident, flags, 24 octets LM-Response, 24 octets NT-Response.
            if response[1] & 0x01 == 0 {
                return Err(AuthError::LmResponseOnly);
            }
            let mut nt_response = [0u8; 24];
            nt_response.copy_from_slice(&response[26..50]);
            return Ok(Some(Credential::MsChap(MsChap {
                ident: response[0],
                challenge,
                nt_response,
            })));
        }

        if let Some(value) = v2 {
            let challenge = ms_challenge()?;
            let auth_challenge = fixed::<16>(challenge).ok_or(AuthError::BadMsChapChallenge {
                expected: 16,
                got: challenge.len(),
            })?;
            let response = fixed::<50>(value).ok_or(AuthError::BadMsChap2Response(value.len()))?;
            // ident, flags, 16 octets Peer-Challenge, 8 reserved, 24 NT-Response.
            if response[1] != 0 || response[18..26].iter().any(|&b| b != 0) {
                return Err(AuthError::BadMsChap2Reserved);
            }
            let mut peer_challenge = [0u8; 16];
            peer_challenge.copy_from_slice(&response[2..18]);
            let mut nt_response = [0u8; 24];
            nt_response.copy_from_slice(&response[26..50]);
            let user = packet.user_name().unwrap_or_default();
            return Ok(Some(Credential::MsChapV2(MsChapV2::new(
                response[0],
                auth_challenge,
                peer_challenge,
                nt_response,
                user,
            ))));
        }

        Ok(None)
    }

    /// The method.
    pub fn method(&self) -> Method {
        match self {
            Credential::Pap(_) => Method::Pap,
            Credential::Chap(_) => Method::Chap,
            Credential::MsChap(_) => Method::MsChap,
            Credential::MsChapV2(_) => Method::MsChapV2,
        }
    }

    /// Does `candidate` (the cleartext password: PIN followed by code) match?
    /// Constant-time in the comparison of the final values.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        match self {
            Credential::Pap(c) => c.matches(candidate),
            Credential::Chap(c) => c.matches(candidate),
            Credential::MsChap(c) => c.matches(candidate),
            Credential::MsChapV2(c) => c.matches(candidate),
        }
    }

    /// Reply attributes for an Access-Accept once `password` matched:
    /// MS-CHAP: MS-CHAP-MPPE-Keys, MS-MPPE-Encryption-Policy/Types;
    /// MS-CHAP-V2: MS-CHAP2-Success, MS-MPPE-Send-Key, MS-MPPE-Recv-Key,
    /// MS-MPPE-Encryption-Policy/Types. PAP and CHAP: none.
    pub fn accept_attributes(
        &self,
        password: &[u8],
        request: &Packet,
        secret: &[u8],
    ) -> Vec<Attribute> {
        match self {
            Credential::Pap(_) | Credential::Chap(_) => Vec::new(),
            Credential::MsChap(c) => {
                let (lm_key, nt_key) = c.mppe_keys(password);
                let keys =
                    crypto::ms_chap_mppe_keys(&lm_key, &nt_key, secret, &request.authenticator);
                let mut out = vec![ms_attr(ms::MS_CHAP_MPPE_KEYS, &keys)];
                out.extend(mppe_policy_attributes());
                out
            }
            Credential::MsChapV2(c) => {
                let mut success = Vec::with_capacity(43);
                success.push(c.ident);
                success.extend_from_slice(c.authenticator_response(password).as_bytes());
                let (send, recv) = c.mppe_keys(password);
                let (send_salt, recv_salt) = two_salts();
                let send =
                    crypto::mppe_encrypt_key(&send, secret, &request.authenticator, send_salt);
                let recv =
                    crypto::mppe_encrypt_key(&recv, secret, &request.authenticator, recv_salt);
                let mut out = vec![
                    ms_attr(ms::MS_CHAP2_SUCCESS, &success),
                    ms_attr(ms::MS_MPPE_RECV_KEY, &recv),
                    ms_attr(ms::MS_MPPE_SEND_KEY, &send),
                ];
                out.extend(mppe_policy_attributes());
                out
            }
        }
    }

    /// Reply attributes for an Access-Reject: MS-CHAP-Error for the MS
    /// methods (`E=<code> R=0 C=<hex> V=3` for v2), none otherwise.
    ///
    /// MS-CHAP v1 (RFC 2433 §8): `E=<code> R=0 V=2` (no retry, so no new
    /// challenge). MS-CHAP-V2 (RFC 2759 §6): `E=<code> R=0 C=<32 hex of a
    /// fresh random challenge> V=3 M=<text>`.
    pub fn reject_attributes(&self, error: MsChapErrorCode) -> Vec<Attribute> {
        let (ident, text) = match self {
            Credential::Pap(_) | Credential::Chap(_) => return Vec::new(),
            Credential::MsChap(c) => (c.ident, format!("E={} R=0 V=2", error.code())),
            Credential::MsChapV2(c) => {
                let challenge: [u8; 16] = rand::random();
                (
                    c.ident,
                    format!(
                        "E={} R=0 C={} V=3 M={}",
                        error.code(),
                        data_encoding::HEXUPPER.encode(&challenge),
                        error.message()
                    ),
                )
            }
        };
        let mut value = Vec::with_capacity(1 + text.len());
        value.push(ident);
        value.extend_from_slice(text.as_bytes());
        vec![ms_attr(ms::MS_CHAP_ERROR, &value)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radius::Code;

    fn h<const N: usize>(s: &str) -> [u8; N] {
        hex::decode(s.replace(' ', "")).unwrap().try_into().unwrap()
    }

    const AUTHENTICATOR: [u8; 16] = [0x42; 16];
    const SECRET: &[u8] = b"testing123";

    fn request() -> Packet {
        let mut p = Packet::new(Code::AccessRequest, 9, AUTHENTICATOR);
        p.push(types::USER_NAME, b"User".to_vec());
        p
    }

    // RFC 2759 §9.2 values.
    const AUTH_CHALLENGE: &str = "5B 5D 7C 7D 7B 3F 2F 3E 3C 2C 60 21 32 26 26 28";
    const PEER_CHALLENGE: &str = "21 40 23 24 25 5E 26 2A 28 29 5F 2B 3A 33 7C 7E";
    const NT_RESPONSE: &str =
        "82 30 9E CD 8D 70 8B 5E A0 8F AA 39 81 CD 83 54 42 33 11 4A 3D 85 D6 DF";

    fn v2_response(ident: u8, flags: u8, reserved: [u8; 8]) -> Vec<u8> {
        let mut v = vec![ident, flags];
        v.extend_from_slice(&h::<16>(PEER_CHALLENGE));
        v.extend_from_slice(&reserved);
        v.extend_from_slice(&h::<24>(NT_RESPONSE));
        v
    }

    fn rfc2759_request(user: &[u8]) -> Packet {
        let mut p = Packet::new(Code::AccessRequest, 9, AUTHENTICATOR);
        p.push(types::USER_NAME, user.to_vec());
        p.push_vendor(
            ms::VENDOR_ID,
            ms::MS_CHAP_CHALLENGE,
            &h::<16>(AUTH_CHALLENGE),
        );
        p.push_vendor(
            ms::VENDOR_ID,
            ms::MS_CHAP2_RESPONSE,
            &v2_response(0x33, 0, [0; 8]),
        );
        p
    }

    fn parse(p: &Packet) -> Result<Option<Credential>, AuthError> {
        Credential::from_packet(p, SECRET)
    }

    #[test]
    fn rfc2759_9_2_ms_chap2_response_from_packet_matches_the_password() {
        for user in [&b"User"[..], b"BIGCO\\User"] {
            let cred = parse(&rfc2759_request(user)).unwrap().unwrap();
            assert_eq!(cred.method(), Method::MsChapV2);
            let Credential::MsChapV2(v2) = &cred else {
                panic!("not v2")
            };
            assert_eq!(v2.ident, 0x33);
            assert_eq!(v2.user_name, b"User");
            assert_eq!(v2.challenge_hash, h::<8>("D0 2E 43 86 BC E9 12 26"));
            assert!(cred.matches(b"clientPass"));
            assert!(!cred.matches(b"clientPas"));
        }
    }

    #[test]
    fn rfc2548_2_3_2_ms_chap2_response_flags_and_reserved_must_be_zero() {
        let mut p = rfc2759_request(b"User");
        p.attributes.pop();
        let mut bad_reserved = p.clone();
        bad_reserved.push_vendor(
            ms::VENDOR_ID,
            ms::MS_CHAP2_RESPONSE,
            &v2_response(1, 0, [0, 0, 0, 0, 0, 0, 0, 1]),
        );
        assert_eq!(
            parse(&bad_reserved).unwrap_err(),
            AuthError::BadMsChap2Reserved
        );
        let mut bad_flags = p.clone();
        bad_flags.push_vendor(
            ms::VENDOR_ID,
            ms::MS_CHAP2_RESPONSE,
            &v2_response(1, 1, [0; 8]),
        );
        assert_eq!(
            parse(&bad_flags).unwrap_err(),
            AuthError::BadMsChap2Reserved
        );
        let mut short = p.clone();
        short.push_vendor(ms::VENDOR_ID, ms::MS_CHAP2_RESPONSE, &[0u8; 49]);
        assert_eq!(
            parse(&short).unwrap_err(),
            AuthError::BadMsChap2Response(49)
        );
    }

    #[test]
    fn ms_chap2_challenge_must_be_16_bytes_and_present() {
        let mut p = request();
        p.push_vendor(
            ms::VENDOR_ID,
            ms::MS_CHAP2_RESPONSE,
            &v2_response(1, 0, [0; 8]),
        );
        assert_eq!(parse(&p).unwrap_err(), AuthError::MissingMsChapChallenge);
        p.push_vendor(ms::VENDOR_ID, ms::MS_CHAP_CHALLENGE, &[1u8; 8]);
        assert_eq!(
            parse(&p).unwrap_err(),
            AuthError::BadMsChapChallenge {
                expected: 16,
                got: 8
            }
        );
    }

    fn v1_request(flags: u8) -> Packet {
        // RFC 2433 §B.2 values.
        let mut p = request();
        p.push_vendor(
            ms::VENDOR_ID,
            ms::MS_CHAP_CHALLENGE,
            &h::<8>("10 2D B5 DF 08 5D 30 41"),
        );
        let mut v = vec![5, flags];
        v.extend_from_slice(&[0u8; 24]);
        v.extend_from_slice(&h::<24>(
            "4E 9D 3C 8F 9C FD 38 5D 5B F4 D3 24 67 91 95 6C A4 C3 51 AB 40 9A 3D 61",
        ));
        p.push_vendor(ms::VENDOR_ID, ms::MS_CHAP_RESPONSE, &v);
        p
    }

    #[test]
    fn rfc2433_b_2_ms_chap_response_from_packet_matches_the_password() {
        let cred = parse(&v1_request(1)).unwrap().unwrap();
        assert_eq!(cred.method(), Method::MsChap);
        assert!(cred.matches(b"MyPw"));
        assert!(!cred.matches(b"MyPW"));
    }

    #[test]
    fn rfc2548_2_1_3_ms_chap_response_with_lm_only_is_refused() {
        assert_eq!(
            parse(&v1_request(0)).unwrap_err(),
            AuthError::LmResponseOnly
        );
    }

    #[test]
    fn ms_chap_response_and_challenge_lengths() {
        let mut p = request();
        p.push_vendor(ms::VENDOR_ID, ms::MS_CHAP_CHALLENGE, &[1u8; 16]);
        p.push_vendor(ms::VENDOR_ID, ms::MS_CHAP_RESPONSE, &[1u8; 50]);
        assert_eq!(
            parse(&p).unwrap_err(),
            AuthError::BadMsChapChallenge {
                expected: 8,
                got: 16
            }
        );
        let mut p = request();
        p.push_vendor(ms::VENDOR_ID, ms::MS_CHAP_CHALLENGE, &[1u8; 8]);
        p.push_vendor(ms::VENDOR_ID, ms::MS_CHAP_RESPONSE, &[1u8; 51]);
        assert_eq!(parse(&p).unwrap_err(), AuthError::BadMsChapResponse(51));
        let mut p = request();
        p.push_vendor(ms::VENDOR_ID, ms::MS_CHAP_RESPONSE, &[1u8; 50]);
        assert_eq!(parse(&p).unwrap_err(), AuthError::MissingMsChapChallenge);
    }

    fn chap_password(ident: u8, password: &[u8], challenge: &[u8]) -> Vec<u8> {
        let mut v = vec![ident];
        v.extend_from_slice(&chap::chap_response(ident, password, challenge));
        v
    }

    #[test]
    fn rfc2865_2_2_chap_uses_chap_challenge_or_the_request_authenticator() {
        let mut p = request();
        p.push(
            types::CHAP_PASSWORD,
            chap_password(3, b"123456", &AUTHENTICATOR),
        );
        let cred = parse(&p).unwrap().unwrap();
        assert_eq!(cred.method(), Method::Chap);
        assert!(cred.matches(b"123456"));
        assert!(!cred.matches(b"123457"));

        let challenge = [7u8; 20];
        let mut p = request();
        p.push(
            types::CHAP_PASSWORD,
            chap_password(3, b"123456", &challenge),
        );
        p.push(types::CHAP_CHALLENGE, challenge.to_vec());
        let cred = parse(&p).unwrap().unwrap();
        assert!(cred.matches(b"123456"));
    }

    #[test]
    fn chap_password_and_challenge_lengths() {
        let mut p = request();
        p.push(types::CHAP_PASSWORD, vec![1u8; 16]);
        assert_eq!(parse(&p).unwrap_err(), AuthError::BadChapPassword(16));
        let mut p = request();
        p.push(types::CHAP_PASSWORD, vec![]);
        assert_eq!(parse(&p).unwrap_err(), AuthError::BadChapPassword(0));
        let mut p = request();
        p.push(types::CHAP_PASSWORD, vec![1u8; 17]);
        p.push(types::CHAP_CHALLENGE, vec![]);
        assert_eq!(parse(&p).unwrap_err(), AuthError::BadChapChallenge(0));
    }

    #[test]
    fn no_credential_is_none_and_two_are_ambiguous() {
        let mut p = request();
        p.push(types::EAP_MESSAGE, vec![2, 0, 0, 5, 1]);
        assert!(parse(&p).unwrap().is_none());

        let mut p = rfc2759_request(b"User");
        p.push(types::CHAP_PASSWORD, vec![1u8; 17]);
        assert_eq!(
            parse(&p).unwrap_err(),
            AuthError::Ambiguous(Method::Chap, Method::MsChapV2)
        );
        let mut p = v1_request(1);
        p.push(types::USER_PASSWORD, vec![0u8; 16]);
        assert_eq!(
            parse(&p).unwrap_err(),
            AuthError::Ambiguous(Method::Pap, Method::MsChap)
        );
    }

    #[test]
    fn bad_user_password_length_is_an_error() {
        let mut p = request();
        p.push(types::USER_PASSWORD, vec![0u8; 15]);
        assert!(matches!(parse(&p), Err(AuthError::BadPassword(_))));
    }

    fn ms_chap_error(attrs: &[Attribute]) -> Vec<u8> {
        assert_eq!(attrs.len(), 1);
        let (vendor, subs) = attrs[0].vendor().unwrap();
        assert_eq!(vendor, ms::VENDOR_ID);
        assert_eq!(subs.len(), 1);
        assert_eq!(subs[0].0, ms::MS_CHAP_ERROR);
        subs[0].1.to_vec()
    }

    #[test]
    fn rfc2759_6_failure_message_format() {
        let cred = parse(&rfc2759_request(b"User")).unwrap().unwrap();
        let v = ms_chap_error(&cred.reject_attributes(MsChapErrorCode::AuthenticationFailure));
        assert_eq!(v[0], 0x33);
        let text = std::str::from_utf8(&v[1..]).unwrap();
        let parts: Vec<&str> = text.splitn(5, ' ').collect();
        assert_eq!(parts[0], "E=691");
        assert_eq!(parts[1], "R=0");
        let c = parts[2].strip_prefix("C=").unwrap();
        assert_eq!(c.len(), 32);
        assert!(c.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(parts[3], "V=3");
        assert_eq!(parts[4], "M=Authentication failed");

        let again = ms_chap_error(&cred.reject_attributes(MsChapErrorCode::AuthenticationFailure));
        assert_ne!(v, again, "the C= challenge must be fresh");

        let v = ms_chap_error(&cred.reject_attributes(MsChapErrorCode::AccountDisabled));
        assert!(v[1..].starts_with(b"E=647 R=0 C="));
    }

    #[test]
    fn rfc2433_8_failure_message_format() {
        let cred = parse(&v1_request(1)).unwrap().unwrap();
        let v = ms_chap_error(&cred.reject_attributes(MsChapErrorCode::AuthenticationFailure));
        assert_eq!(v, b"\x05E=691 R=0 V=2");
        let v = ms_chap_error(&cred.reject_attributes(MsChapErrorCode::PasswordExpired));
        assert_eq!(v, b"\x05E=648 R=0 V=2");
    }

    #[test]
    fn pap_and_chap_have_no_reply_attributes() {
        let mut p = request();
        p.push(
            types::CHAP_PASSWORD,
            chap_password(3, b"123456", &AUTHENTICATOR),
        );
        let cred = parse(&p).unwrap().unwrap();
        assert!(cred
            .reject_attributes(MsChapErrorCode::AuthenticationFailure)
            .is_empty());
        assert!(cred.accept_attributes(b"123456", &p, SECRET).is_empty());
    }

    fn ms_sub(attrs: &[Attribute], vtype: u8) -> Option<Vec<u8>> {
        let mut p = Packet::new(Code::AccessAccept, 0, [0; 16]);
        p.attributes = attrs.to_vec();
        p.vendor_attr(ms::VENDOR_ID, vtype).map(<[u8]>::to_vec)
    }

    // Needs radius::crypto (mppe_encrypt_key, mppe_decrypt_key).
    #[test]
    fn rfc2759_9_2_and_rfc3079_3_5_3_accept_attributes() {
        let p = rfc2759_request(b"User");
        let cred = parse(&p).unwrap().unwrap();
        let attrs = cred.accept_attributes(b"clientPass", &p, SECRET);
        assert_eq!(
            ms_sub(&attrs, ms::MS_CHAP2_SUCCESS).unwrap(),
            b"\x33S=407A5589115FD0D6209F510FE9C04566932CDA56"
        );
        assert_eq!(
            ms_sub(&attrs, ms::MS_MPPE_ENCRYPTION_POLICY).unwrap(),
            [0, 0, 0, 1]
        );
        assert_eq!(
            ms_sub(&attrs, ms::MS_MPPE_ENCRYPTION_TYPES).unwrap(),
            [0, 0, 0, 6]
        );
        let send = ms_sub(&attrs, ms::MS_MPPE_SEND_KEY).unwrap();
        let recv = ms_sub(&attrs, ms::MS_MPPE_RECV_KEY).unwrap();
        assert_ne!(send[..2], recv[..2], "salts must differ");
        assert!(send[0] & 0x80 != 0 && recv[0] & 0x80 != 0);
        let send = crypto::mppe_decrypt_key(&send, SECRET, &p.authenticator).unwrap();
        let recv = crypto::mppe_decrypt_key(&recv, SECRET, &p.authenticator).unwrap();
        // RFC 3079 §3.5.3 SendStartKey128 is the server's send key.
        assert_eq!(
            send,
            h::<16>("8B 7C DC 14 9B 99 3A 1B A1 18 CB 15 3F 56 DC CB")
        );
        let master = h::<16>("FD EC E3 71 7A 8C 83 8C B3 88 E5 27 AE 3C DD 31");
        assert_eq!(recv, mschap::get_asymmetric_start_key(&master, false, true));
    }

    // Needs radius::crypto (ms_chap_mppe_keys, unhide_password).
    #[test]
    fn rfc2548_2_4_1_ms_chap_mppe_keys_in_accept() {
        let p = v1_request(1);
        let cred = parse(&p).unwrap().unwrap();
        let attrs = cred.accept_attributes(b"MyPw", &p, SECRET);
        assert_eq!(attrs.len(), 3);
        let keys = ms_sub(&attrs, ms::MS_CHAP_MPPE_KEYS).unwrap();
        assert_eq!(keys.len(), 32);
        // Encrypted like User-Password: recover it the same way.
        // (unhide_password strips trailing NULs: pad back to 32 octets.)
        let plain = crypto::unhide_password(&keys, SECRET, &p.authenticator).unwrap();
        let mut plain = plain.expose().to_vec();
        plain.resize(32, 0);
        let lm = mschap::lm_password_hash(b"MyPw").unwrap();
        assert_eq!(&plain[..8], &lm[..8]);
        // NT-Key = HashNtPasswordHash; RFC 2433 §B.2 gives the NT hash of "MyPw".
        let nt_hash = h::<16>("FC 15 6A F7 ED CD 6C 0E DD E3 33 7D 42 7F 4E AC");
        assert_eq!(&plain[8..24], &mschap::hash_nt_password_hash(&nt_hash));
        assert_eq!(&plain[24..], &[0u8; 8]);
        assert_eq!(
            ms_sub(&attrs, ms::MS_MPPE_ENCRYPTION_TYPES).unwrap(),
            [0, 0, 0, 6]
        );
    }
}
