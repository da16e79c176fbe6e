//! EAP (RFC 3748) as carried by RADIUS (RFC 3579), with the EAP-MSCHAPv2
//! (draft-kamath-pppext-eap-mschapv2, type 26) and EAP-GTC (RFC 3748 §5.6,
//! type 6) messages the server speaks.
//!
//! Pure functions over bytes: [`join`] collects the EAP-Message attributes
//! of a request, [`EapPacket::decode`] parses one EAP packet strictly (a
//! short, long or trailing length is an error, never a panic),
//! [`EapPacket::encode`] and [`split`] build the EAP-Message attributes of a
//! reply in 253-octet pieces. The MS-CHAPv2 crypto is [`super::mschap`]'s;
//! the conversation state lives in `server::eap`.

use crate::radius::attribute::types;
use crate::radius::{Attribute, Packet};

/// EAP codes (RFC 3748 §4).
pub mod code {
    /// Request.
    pub const REQUEST: u8 = 1;
    /// Response.
    pub const RESPONSE: u8 = 2;
    /// Success.
    pub const SUCCESS: u8 = 3;
    /// Failure.
    pub const FAILURE: u8 = 4;
}

/// EAP method types (RFC 3748 §5, IANA).
pub mod typ {
    /// Identity.
    pub const IDENTITY: u8 = 1;
    /// Legacy Nak (Response only).
    pub const NAK: u8 = 3;
    /// Generic Token Card.
    pub const GTC: u8 = 6;
    /// EAP-MSCHAPv2.
    pub const MSCHAPV2: u8 = 26;
    /// EAP-TTLS (RFC 5281).
    pub const TTLS: u8 = 21;
    /// PEAP (draft-josefsson-pppext-eap-tls-eap, v0 as Microsoft's MS-PEAP).
    pub const PEAP: u8 = 25;
    /// PEAP Extensions (the Result TLV inside the tunnel).
    pub const EXTENSIONS: u8 = 33;
}

/// EAP-MSCHAPv2 op-codes (draft-kamath §2).
pub mod op {
    /// Challenge.
    pub const CHALLENGE: u8 = 1;
    /// Response.
    pub const RESPONSE: u8 = 2;
    /// Success.
    pub const SUCCESS: u8 = 3;
    /// Failure.
    pub const FAILURE: u8 = 4;
}

/// Largest EAP packet accepted or built (RADIUS packets are at most 4096 octets).
pub const MAX_EAP_LEN: usize = 4000;

/// Why an EAP message is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EapError {
    #[error("no EAP-Message attribute")]
    Missing,
    #[error("EAP packet shorter than its header ({0} octets)")]
    Short(usize),
    #[error("EAP length field {field} does not match the {got} octets received")]
    Length { field: usize, got: usize },
    #[error("EAP {0} packet without a type octet")]
    NoType(u8),
    #[error("unknown EAP code {0}")]
    UnknownCode(u8),
    #[error("EAP packet of {0} octets is too long")]
    TooLong(usize),
    #[error("malformed EAP-MSCHAPv2 {0}")]
    MsChapV2(&'static str),
}

/// One EAP packet. `typ` and `data` are empty for Success and Failure.
#[derive(Clone, PartialEq, Eq)]
pub struct EapPacket {
    /// Request, Response, Success or Failure ([`code`]).
    pub code: u8,
    /// Identifier matching a Response to its Request.
    pub identifier: u8,
    /// Method type ([`typ`]); 0 for Success and Failure.
    pub typ: u8,
    /// Type-Data.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for EapPacket {
    // Type-Data may hold a GTC password: show its length only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EapPacket")
            .field("code", &self.code)
            .field("identifier", &self.identifier)
            .field("typ", &self.typ)
            .field("data_len", &self.data.len())
            .finish()
    }
}

impl EapPacket {
    /// A Request or Response of method `typ`.
    pub fn new(code: u8, identifier: u8, typ: u8, data: Vec<u8>) -> Self {
        EapPacket {
            code,
            identifier,
            typ,
            data,
        }
    }

    /// Success or Failure (RFC 3748 §4.2): header only.
    pub fn status(code: u8, identifier: u8) -> Self {
        EapPacket::new(code, identifier, 0, Vec::new())
    }

    /// Parses one EAP packet (RFC 3748 §4):
    ///
    /// ```text
    ///  0                   1                   2                   3
    ///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |     Code      |  Identifier   |            Length             |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |     Type      |  Type-Data ...
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-
    /// ```
    ///
    /// The Length field must equal the bytes received (RFC 3579 §3.1: the
    /// joined EAP-Message attributes hold exactly one packet).
    pub fn decode(buf: &[u8]) -> Result<EapPacket, EapError> {
        let Some(&[c, identifier, l0, l1]) = buf.first_chunk::<4>() else {
            return Err(EapError::Short(buf.len()));
        };
        if buf.len() > MAX_EAP_LEN {
            return Err(EapError::TooLong(buf.len()));
        }
        let field = usize::from(u16::from_be_bytes([l0, l1]));
        if field != buf.len() {
            return Err(EapError::Length {
                field,
                got: buf.len(),
            });
        }
        match c {
            code::SUCCESS | code::FAILURE => {
                if buf.len() != 4 {
                    return Err(EapError::Length {
                        field,
                        got: buf.len(),
                    });
                }
                Ok(EapPacket::status(c, identifier))
            }
            code::REQUEST | code::RESPONSE => {
                let Some((&t, data)) = buf.get(4..).and_then(<[u8]>::split_first) else {
                    return Err(EapError::NoType(c));
                };
                Ok(EapPacket::new(c, identifier, t, data.to_vec()))
            }
            other => Err(EapError::UnknownCode(other)),
        }
    }

    /// The packet on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let with_type = matches!(self.code, code::REQUEST | code::RESPONSE);
        let len = 4 + if with_type { 1 + self.data.len() } else { 0 };
        let mut out = Vec::with_capacity(len);
        out.push(self.code);
        out.push(self.identifier);
        out.extend_from_slice(&(len.min(usize::from(u16::MAX)) as u16).to_be_bytes());
        if with_type {
            out.push(self.typ);
            out.extend_from_slice(&self.data);
        }
        out
    }

    /// The packet as EAP-Message attributes ([`split`]).
    pub fn to_attributes(&self) -> Vec<Attribute> {
        split(&self.encode())
    }
}

/// RFC 3579 §3.1: the EAP-Message attributes of `packet`, in order, joined.
pub fn join(packet: &Packet) -> Result<Vec<u8>, EapError> {
    let mut out = Vec::new();
    let mut any = false;
    for v in packet.attrs(types::EAP_MESSAGE) {
        any = true;
        if out.len() + v.len() > MAX_EAP_LEN {
            return Err(EapError::TooLong(out.len() + v.len()));
        }
        out.extend_from_slice(v);
    }
    if !any {
        return Err(EapError::Missing);
    }
    Ok(out)
}

/// RFC 3579 §3.1: `eap` as EAP-Message attributes of at most 253 octets.
pub fn split(eap: &[u8]) -> Vec<Attribute> {
    eap.chunks(253)
        .map(|c| Attribute::new(types::EAP_MESSAGE, c.to_vec()))
        .collect()
}

/// EAP-MSCHAPv2 Challenge (draft-kamath §2.1): op-code, MS-CHAPv2-ID,
/// MS-Length, Value-Size 16, the authenticator challenge, the server name.
pub fn mschapv2_challenge(ms_id: u8, challenge: &[u8; 16], server_name: &[u8]) -> Vec<u8> {
    let mut v = vec![op::CHALLENGE, ms_id, 0, 0, 16];
    v.extend_from_slice(challenge);
    v.extend_from_slice(server_name);
    set_ms_length(&mut v);
    v
}

/// EAP-MSCHAPv2 Success or Failure Request (draft-kamath §2.3/§2.4):
/// op-code, MS-CHAPv2-ID, MS-Length and the message.
pub fn mschapv2_message(opcode: u8, ms_id: u8, message: &[u8]) -> Vec<u8> {
    let mut v = vec![opcode, ms_id, 0, 0];
    v.extend_from_slice(message);
    set_ms_length(&mut v);
    v
}

/// MS-Length counts from the op-code to the end (the EAP Type-Data).
fn set_ms_length(v: &mut [u8]) {
    let len = (v.len().min(usize::from(u16::MAX)) as u16).to_be_bytes();
    if let Some(f) = v.get_mut(2..4) {
        f.copy_from_slice(&len);
    }
}

/// A peer's EAP-MSCHAPv2 Response (draft-kamath §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsChapV2Response {
    /// MS-CHAPv2-ID (must echo the Challenge's).
    pub ms_id: u8,
    /// Peer-Challenge.
    pub peer_challenge: [u8; 16],
    /// NT-Response.
    pub nt_response: [u8; 24],
    /// The peer's user name.
    pub name: Vec<u8>,
}

/// Parses the Type-Data of an EAP-MSCHAPv2 Response: op-code 2,
/// MS-CHAPv2-ID, MS-Length (= the Type-Data length), Value-Size 49,
/// Peer-Challenge (16), Reserved (8, zero), NT-Response (24), Flags (1,
/// zero), Name.
pub fn parse_mschapv2_response(data: &[u8]) -> Result<MsChapV2Response, EapError> {
    let Some(&[opcode, ms_id, l0, l1, size]) = data.first_chunk::<5>() else {
        return Err(EapError::MsChapV2("response: short"));
    };
    if opcode != op::RESPONSE {
        return Err(EapError::MsChapV2("response: not a Response op-code"));
    }
    if usize::from(u16::from_be_bytes([l0, l1])) != data.len() {
        return Err(EapError::MsChapV2("response: MS-Length"));
    }
    if size != 49 {
        return Err(EapError::MsChapV2("response: Value-Size is not 49"));
    }
    let (Some(value), Some(name)) = (data.get(5..54), data.get(54..)) else {
        return Err(EapError::MsChapV2("response: short value"));
    };
    if value[16..24].iter().any(|&b| b != 0) || value[48] != 0 {
        return Err(EapError::MsChapV2("response: reserved or flags not zero"));
    }
    let mut peer_challenge = [0u8; 16];
    peer_challenge.copy_from_slice(&value[..16]);
    let mut nt_response = [0u8; 24];
    nt_response.copy_from_slice(&value[24..48]);
    Ok(MsChapV2Response {
        ms_id,
        peer_challenge,
        nt_response,
        name: name.to_vec(),
    })
}

/// The op-code of an EAP-MSCHAPv2 Type-Data, if any.
pub fn mschapv2_opcode(data: &[u8]) -> Option<u8> {
    data.first().copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::mschap;
    use crate::radius::Code;

    #[test]
    fn rfc3748_4_decode_encode_round_trip() {
        let p = EapPacket::new(code::RESPONSE, 7, typ::IDENTITY, b"alice".to_vec());
        let wire = p.encode();
        assert_eq!(wire, b"\x02\x07\x00\x0a\x01alice");
        assert_eq!(EapPacket::decode(&wire).unwrap(), p);
        let s = EapPacket::status(code::SUCCESS, 9);
        assert_eq!(s.encode(), [3, 9, 0, 4]);
        assert_eq!(EapPacket::decode(&s.encode()).unwrap(), s);
    }

    #[test]
    fn rfc3748_4_malformed_lengths_are_errors_never_panics() {
        assert_eq!(EapPacket::decode(&[]), Err(EapError::Short(0)));
        assert_eq!(EapPacket::decode(&[2, 1, 0]), Err(EapError::Short(3)));
        assert!(matches!(
            EapPacket::decode(&[2, 1, 0, 9, 1]),
            Err(EapError::Length { field: 9, got: 5 })
        ));
        assert!(matches!(
            EapPacket::decode(&[2, 1, 0, 4, 1]),
            Err(EapError::Length { field: 4, got: 5 })
        ));
        assert_eq!(EapPacket::decode(&[2, 1, 0, 4]), Err(EapError::NoType(2)));
        assert!(EapPacket::decode(&[3, 1, 0, 5, 0]).is_err());
        assert_eq!(
            EapPacket::decode(&[9, 1, 0, 5, 0]),
            Err(EapError::UnknownCode(9))
        );
        // Every prefix and every length field of a valid packet: no panic.
        let wire = EapPacket::new(code::RESPONSE, 1, typ::GTC, vec![0x41; 40]).encode();
        for n in 0..wire.len() {
            assert!(EapPacket::decode(&wire[..n]).is_err());
        }
        for l in 0..=u16::MAX {
            let mut w = wire.clone();
            w[2..4].copy_from_slice(&l.to_be_bytes());
            let _ = EapPacket::decode(&w);
        }
    }

    #[test]
    fn rfc3579_eap_message_split_253() {
        let eap = EapPacket::new(code::REQUEST, 1, typ::GTC, vec![0x5a; 600]).encode();
        let attrs = split(&eap);
        assert_eq!(
            attrs.iter().map(|a| a.value.len()).collect::<Vec<_>>(),
            [253, 253, 99]
        );
        assert!(attrs.iter().all(|a| a.typ == types::EAP_MESSAGE));
        let mut p = Packet::new(Code::AccessRequest, 1, [0; 16]);
        p.push(types::USER_NAME, b"u".to_vec());
        p.attributes.extend(attrs);
        let joined = join(&p).unwrap();
        assert_eq!(joined, eap);
        assert_eq!(EapPacket::decode(&joined).unwrap().data.len(), 600);
        // Exactly 253: one attribute.
        assert_eq!(split(&[0u8; 253]).len(), 1);
        assert_eq!(split(&[0u8; 254]).len(), 2);
    }

    #[test]
    fn rfc3579_3_1_join_without_eap_message_or_too_long() {
        let p = Packet::new(Code::AccessRequest, 1, [0; 16]);
        assert_eq!(join(&p), Err(EapError::Missing));
        let mut p = Packet::new(Code::AccessRequest, 1, [0; 16]);
        for _ in 0..17 {
            p.push(types::EAP_MESSAGE, vec![0u8; 253]);
        }
        assert!(matches!(join(&p), Err(EapError::TooLong(_))));
    }

    fn response_data(ms_id: u8, peer: &[u8; 16], nt: &[u8; 24], name: &[u8]) -> Vec<u8> {
        let mut v = vec![op::RESPONSE, ms_id, 0, 0, 49];
        v.extend_from_slice(peer);
        v.extend_from_slice(&[0u8; 8]);
        v.extend_from_slice(nt);
        v.push(0);
        v.extend_from_slice(name);
        set_ms_length(&mut v);
        v
    }

    fn h<const N: usize>(s: &str) -> [u8; N] {
        hex::decode(s.replace(' ', "")).unwrap().try_into().unwrap()
    }

    // RFC 2759 §9.2 values carried in EAP-MSCHAPv2 messages.
    #[test]
    fn kamath_eap_mschapv2_response_verifies_with_rfc2759_vectors() {
        let auth = h::<16>("5B 5D 7C 7D 7B 3F 2F 3E 3C 2C 60 21 32 26 26 28");
        let peer = h::<16>("21 40 23 24 25 5E 26 2A 28 29 5F 2B 3A 33 7C 7E");
        let nt = h::<24>("82 30 9E CD 8D 70 8B 5E A0 8F AA 39 81 CD 83 54 42 33 11 4A 3D 85 D6 DF");
        let data = response_data(0x33, &peer, &nt, b"User");
        let r = parse_mschapv2_response(&data).unwrap();
        assert_eq!(r.ms_id, 0x33);
        assert_eq!(r.name, b"User");
        let c = mschap::MsChapV2::new(r.ms_id, auth, r.peer_challenge, r.nt_response, &r.name);
        assert!(c.matches(b"clientPass"));
        assert!(!c.matches(b"clientPasS"));
        assert_eq!(
            c.authenticator_response(b"clientPass"),
            "S=407A5589115FD0D6209F510FE9C04566932CDA56"
        );
    }

    #[test]
    fn kamath_eap_mschapv2_mppe_keys() {
        // The MSK of EAP-MSCHAPv2 is the server's MS-MPPE-Recv-Key followed
        // by its MS-MPPE-Send-Key (RFC 3079 §3.5.3 master key FDECE371...).
        let nt = h::<24>("82 30 9E CD 8D 70 8B 5E A0 8F AA 39 81 CD 83 54 42 33 11 4A 3D 85 D6 DF");
        let (send, recv) = mschap::ms_chap_v2_server_mppe_keys(b"clientPass", &nt);
        let master = h::<16>("FD EC E3 71 7A 8C 83 8C B3 88 E5 27 AE 3C DD 31");
        assert_eq!(
            send,
            h::<16>("8B 7C DC 14 9B 99 3A 1B A1 18 CB 15 3F 56 DC CB")
        );
        assert_eq!(recv, mschap::get_asymmetric_start_key(&master, false, true));
    }

    #[test]
    fn kamath_eap_mschapv2_challenge_layout() {
        let v = mschapv2_challenge(5, &[7u8; 16], b"radotp");
        assert_eq!(v[..5], [op::CHALLENGE, 5, 0, 27, 16]);
        assert_eq!(&v[5..21], &[7u8; 16]);
        assert_eq!(&v[21..], b"radotp");
        let s = mschapv2_message(op::SUCCESS, 5, b"S=00 M=OK");
        assert_eq!(s[..4], [op::SUCCESS, 5, 0, 13]);
    }

    #[test]
    fn kamath_eap_mschapv2_malformed_responses_are_errors() {
        let good = response_data(1, &[1; 16], &[2; 24], b"u");
        for n in 0..good.len() {
            assert!(parse_mschapv2_response(&good[..n]).is_err(), "{n}");
        }
        let mut bad = good.clone();
        bad[4] = 48;
        assert!(parse_mschapv2_response(&bad).is_err());
        let mut bad = good.clone();
        bad[25] = 1;
        assert!(parse_mschapv2_response(&bad).is_err());
        let mut bad = good.clone();
        bad[0] = op::SUCCESS;
        assert!(parse_mschapv2_response(&bad).is_err());
        let mut bad = good;
        bad.push(0);
        assert!(parse_mschapv2_response(&bad).is_err());
    }

    #[test]
    fn debug_hides_type_data() {
        let p = EapPacket::new(code::RESPONSE, 1, typ::GTC, b"1234567890".to_vec());
        assert!(!format!("{p:?}").contains("1234567890"));
    }
}
