//! The EAP-TLS-style framing shared by PEAP and EAP-TTLS (RFC 5216 §3.1,
//! RFC 5281 §9.1, PEAPv0), and what travels inside their tunnels: the TTLS
//! AVPs (RFC 5281 §10) and PEAPv0's inner EAP (header-less, with the
//! Result TLV of the Extensions method).
//!
//! Pure functions over bytes, no TLS here (the tunnel is `server::eap`'s):
//! [`TlsFrame::parse`] reads the flags (L, M, S), the optional total length
//! and the TLS data of one EAP Type-Data; [`Reassembly`] joins incoming
//! fragments up to a limit ([`MAX_TLS_MESSAGE`]); [`Fragmenter`] cuts an
//! outgoing TLS message to the configured size. Every malformed input is an
//! [`EapTlsError`], never a panic.

use super::eap::{code, typ, EapError, EapPacket};

/// Flag bits of the first Type-Data octet (RFC 5216 §3.1).
pub mod flags {
    /// Length included: a 4-octet total length follows the flags.
    pub const LENGTH: u8 = 0x80;
    /// More fragments follow.
    pub const MORE: u8 = 0x40;
    /// Start (server's first request).
    pub const START: u8 = 0x20;
    /// PEAP/TTLS version bits.
    pub const VERSION: u8 = 0x07;
}

/// The largest reassembled TLS message accepted from a peer (a client's
/// certificate chain would fit; PEAP and TTLS send none).
pub const MAX_TLS_MESSAGE: usize = 64 * 1024;

/// Why a PEAP/TTLS message is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EapTlsError {
    #[error("EAP-TLS Type-Data without a flags octet")]
    NoFlags,
    #[error("EAP-TLS L flag without the 4-octet length")]
    ShortLength,
    #[error("EAP-TLS message of {0} octets is beyond the limit")]
    TooLong(usize),
    #[error("EAP-TLS fragments disagree with the announced length {announced} (got {got})")]
    Length { announced: usize, got: usize },
    #[error("EAP-TLS fragment with the M flag but no data")]
    EmptyFragment,
    #[error("malformed TTLS AVP: {0}")]
    Avp(&'static str),
    #[error("malformed inner EAP: {0}")]
    Inner(#[from] EapError),
}

/// One EAP-TLS-style Type-Data: flags, the total length when L, the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFrame<'a> {
    /// The flags octet ([`flags`]).
    pub flags: u8,
    /// The announced total length of the TLS message (L flag).
    pub total: Option<usize>,
    /// TLS data of this fragment.
    pub data: &'a [u8],
}

impl<'a> TlsFrame<'a> {
    /// Parses a PEAP/TTLS Type-Data:
    ///
    /// ```text
    ///  0 1 2 3 4 5 6 7
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |L M S R R  Ver |  TLS Message Length (if L) ...
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |  TLS Data ...
    /// ```
    pub fn parse(type_data: &'a [u8]) -> Result<TlsFrame<'a>, EapTlsError> {
        let Some((&f, rest)) = type_data.split_first() else {
            return Err(EapTlsError::NoFlags);
        };
        if f & flags::LENGTH == 0 {
            return Ok(TlsFrame {
                flags: f,
                total: None,
                data: rest,
            });
        }
        let Some((len, data)) = rest.split_first_chunk::<4>() else {
            return Err(EapTlsError::ShortLength);
        };
        let total = u32::from_be_bytes(*len) as usize;
        Ok(TlsFrame {
            flags: f,
            total: Some(total),
            data,
        })
    }

    /// Is this an acknowledgement (no data, no more fragments)?
    pub fn is_ack(&self) -> bool {
        self.data.is_empty() && self.flags & flags::MORE == 0
    }
}

/// A Type-Data: `version` in the low bits, with `extra` flags, the total
/// length when given, then `data`.
pub fn frame(version: u8, extra: u8, total: Option<usize>, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(5 + data.len());
    let mut f = (version & flags::VERSION) | extra;
    if total.is_some() {
        f |= flags::LENGTH;
    }
    v.push(f);
    if let Some(t) = total {
        v.extend_from_slice(&(t.min(u32::MAX as usize) as u32).to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

/// Joins a peer's fragments into one TLS message, at most `limit` octets.
#[derive(Debug)]
pub struct Reassembly {
    buf: Vec<u8>,
    total: Option<usize>,
    limit: usize,
    started: bool,
}

impl Reassembly {
    /// An empty reassembly bounded by `limit` octets.
    pub fn new(limit: usize) -> Self {
        Reassembly {
            buf: Vec::new(),
            total: None,
            limit,
            started: false,
        }
    }

    /// Are fragments pending (an M fragment seen, the last not yet)?
    pub fn in_progress(&self) -> bool {
        self.started
    }

    /// Adds one fragment: `Ok(None)` when more must come (the server
    /// answers with an empty request), `Ok(Some(message))` when complete.
    /// Beyond the limit, or disagreeing with the announced length: an error
    /// (the conversation is then rejected).
    pub fn push(&mut self, f: &TlsFrame<'_>) -> Result<Option<Vec<u8>>, EapTlsError> {
        if let Some(t) = f.total {
            if t > self.limit {
                return Err(EapTlsError::TooLong(t));
            }
            match self.total {
                Some(prev) if self.started && prev != t => {
                    return Err(EapTlsError::Length {
                        announced: prev,
                        got: t,
                    })
                }
                _ => self.total = Some(t),
            }
        }
        let got = self.buf.len() + f.data.len();
        if got > self.limit {
            return Err(EapTlsError::TooLong(got));
        }
        if let Some(t) = self.total {
            if got > t {
                return Err(EapTlsError::Length { announced: t, got });
            }
        }
        if f.flags & flags::MORE != 0 {
            if f.data.is_empty() {
                return Err(EapTlsError::EmptyFragment);
            }
            self.buf.extend_from_slice(f.data);
            self.started = true;
            return Ok(None);
        }
        self.buf.extend_from_slice(f.data);
        let total = self.total.take();
        self.started = false;
        let message = std::mem::take(&mut self.buf);
        if let Some(t) = total {
            if message.len() != t {
                return Err(EapTlsError::Length {
                    announced: t,
                    got: message.len(),
                });
            }
        }
        Ok(Some(message))
    }
}

/// Cuts an outgoing TLS message into Type-Data fragments of at most `size`
/// TLS octets: the first with L (total length) and M, the middle ones
/// with M, the last with neither. A message that fits is one plain frame.
#[derive(Debug)]
pub struct Fragmenter {
    message: Vec<u8>,
    sent: usize,
    size: usize,
    version: u8,
    handed: bool,
}

impl Fragmenter {
    /// `message` to send in pieces of `size` (at least 1) octets.
    pub fn new(message: Vec<u8>, size: usize, version: u8) -> Self {
        Fragmenter {
            message,
            sent: 0,
            size: size.max(1),
            version,
            handed: false,
        }
    }

    /// Has every fragment been handed out?
    pub fn done(&self) -> bool {
        self.handed && self.sent >= self.message.len()
    }

    /// The next fragment's Type-Data (an empty message: one empty frame).
    pub fn next_fragment(&mut self) -> Vec<u8> {
        let len = self.message.len();
        let first = self.sent == 0;
        let end = (self.sent + self.size).min(len);
        let chunk = self.message.get(self.sent..end).unwrap_or_default();
        let more = end < len;
        let total = (first && more).then_some(len);
        let out = frame(
            self.version,
            if more { flags::MORE } else { 0 },
            total,
            chunk,
        );
        self.sent = end;
        self.handed = true;
        out
    }
}

// --- EAP-TTLS AVPs (RFC 5281 §10).

/// TTLS AVP codes (RADIUS attribute numbers, RFC 5281 §10.1).
pub mod avp {
    /// User-Name.
    pub const USER_NAME: u32 = 1;
    /// User-Password.
    pub const USER_PASSWORD: u32 = 2;
    /// Reply-Message.
    pub const REPLY_MESSAGE: u32 = 18;
    /// EAP-Message.
    pub const EAP_MESSAGE: u32 = 79;
    /// The M (mandatory) flag.
    pub const MANDATORY: u8 = 0x40;
    /// The V (vendor) flag.
    pub const VENDOR: u8 = 0x80;
}

/// One Diameter-style AVP of a TTLS tunnel.
#[derive(Clone, PartialEq, Eq)]
pub struct Avp {
    /// AVP Code.
    pub code: u32,
    /// Vendor-ID when the V flag is set.
    pub vendor: Option<u32>,
    /// The M flag: the receiver must understand it.
    pub mandatory: bool,
    /// Data (may be a password: not in `Debug`).
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Avp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Avp")
            .field("code", &self.code)
            .field("vendor", &self.vendor)
            .field("mandatory", &self.mandatory)
            .field("data_len", &self.data.len())
            .finish()
    }
}

/// Parses the AVPs of a TTLS message:
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                           AVP Code                            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |V M r r r r r r|                  AVP Length                   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                        Vendor-ID (opt)                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |    Data ...
/// +-+-+-+-+-+-+-+-+
/// ```
///
/// AVP Length counts the header and the data, not the padding to a
/// multiple of four (which the last AVP may omit).
pub fn parse_avps(mut buf: &[u8]) -> Result<Vec<Avp>, EapTlsError> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let Some((hdr, _)) = buf.split_first_chunk::<8>() else {
            return Err(EapTlsError::Avp("short header"));
        };
        let code = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
        let f = hdr[4];
        let len = usize::from(hdr[5]) << 16 | usize::from(hdr[6]) << 8 | usize::from(hdr[7]);
        let head = if f & avp::VENDOR != 0 { 12 } else { 8 };
        if len < head {
            return Err(EapTlsError::Avp("length shorter than the header"));
        }
        let Some(body) = buf.get(..len) else {
            return Err(EapTlsError::Avp("length beyond the message"));
        };
        let vendor =
            (head == 12).then(|| u32::from_be_bytes([body[8], body[9], body[10], body[11]]));
        out.push(Avp {
            code,
            vendor,
            mandatory: f & avp::MANDATORY != 0,
            data: body[head..].to_vec(),
        });
        let padded = len.div_ceil(4) * 4;
        buf = buf.get(padded..).unwrap_or_default();
    }
    Ok(out)
}

/// One AVP (no vendor) with its padding.
pub fn encode_avp(code: u32, mandatory: bool, data: &[u8]) -> Vec<u8> {
    let len = 8 + data.len();
    let mut v = Vec::with_capacity(len + 3);
    v.extend_from_slice(&code.to_be_bytes());
    v.push(if mandatory { avp::MANDATORY } else { 0 });
    v.extend_from_slice(&(len.min(0xff_ffff) as u32).to_be_bytes()[1..]);
    v.extend_from_slice(data);
    v.resize(len.div_ceil(4) * 4, 0);
    v
}

/// What a TTLS client sent in one message.
#[derive(Default, PartialEq, Eq)]
pub struct TtlsRequest {
    /// User-Name AVP.
    pub user_name: Option<Vec<u8>>,
    /// User-Password AVP, its zero padding removed (RFC 5281 §11.2.5).
    pub password: Option<Vec<u8>>,
    /// The EAP-Message AVPs joined.
    pub eap: Option<Vec<u8>>,
}

impl std::fmt::Debug for TtlsRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TtlsRequest")
            .field("user_name_len", &self.user_name.as_ref().map(Vec::len))
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("eap_len", &self.eap.as_ref().map(Vec::len))
            .finish()
    }
}

/// The AVPs of a TTLS message as PAP or EAP. An unknown AVP with the M
/// flag is an error (RFC 5281 §10.1); others are ignored.
pub fn parse_ttls(buf: &[u8]) -> Result<TtlsRequest, EapTlsError> {
    let mut r = TtlsRequest::default();
    for a in parse_avps(buf)? {
        if a.vendor.is_some() {
            if a.mandatory {
                return Err(EapTlsError::Avp("unknown mandatory vendor AVP"));
            }
            continue;
        }
        match a.code {
            avp::USER_NAME => r.user_name = Some(a.data),
            avp::USER_PASSWORD => {
                let mut p = a.data;
                while p.last() == Some(&0) {
                    p.pop();
                }
                r.password = Some(p);
            }
            avp::EAP_MESSAGE => {
                let e = r.eap.get_or_insert_with(Vec::new);
                if e.len() + a.data.len() > super::eap::MAX_EAP_LEN {
                    return Err(EapTlsError::Avp("EAP-Message too long"));
                }
                e.extend_from_slice(&a.data);
            }
            _ if a.mandatory => return Err(EapTlsError::Avp("unknown mandatory AVP")),
            _ => {}
        }
    }
    Ok(r)
}

// --- PEAPv0 inside the tunnel.

/// PEAPv0 inner packets travel without their EAP header, except the
/// Extensions method's (type 33): the inner Response rebuilt from the
/// decrypted data, with the outer Response's identifier.
pub fn peap_inner_response(plain: &[u8], outer_id: u8) -> Result<EapPacket, EapTlsError> {
    if plain.len() >= 5
        && plain[0] == code::RESPONSE
        && plain[4] == typ::EXTENSIONS
        && usize::from(u16::from_be_bytes([plain[2], plain[3]])) == plain.len()
    {
        return Ok(EapPacket::decode(plain)?);
    }
    if plain.len() + 4 > super::eap::MAX_EAP_LEN {
        return Err(EapTlsError::Inner(EapError::TooLong(plain.len() + 4)));
    }
    let mut full = vec![code::RESPONSE, outer_id, 0, 0];
    full.extend_from_slice(plain);
    let len = (full.len() as u16).to_be_bytes();
    full[2..4].copy_from_slice(&len);
    Ok(EapPacket::decode(&full)?)
}

/// The tunnel data of an inner PEAPv0 Request: header-less, but whole for
/// the Extensions method.
pub fn peap_inner_request(p: &EapPacket) -> Vec<u8> {
    let wire = p.encode();
    if p.typ == typ::EXTENSIONS {
        wire
    } else {
        wire.get(4..).unwrap_or_default().to_vec()
    }
}

/// The PEAP Result TLV (mandatory, type 3): 1 success, 2 failure.
pub fn peap_result(code: u8, identifier: u8, success: bool) -> EapPacket {
    let status = if success { 1 } else { 2 };
    EapPacket::new(
        code,
        identifier,
        typ::EXTENSIONS,
        vec![0x80, 0x03, 0x00, 0x02, 0x00, status],
    )
}

/// The status of the Result TLV in Extensions Type-Data: `Some(true)`
/// success, `Some(false)` failure, `None` absent or malformed.
pub fn parse_peap_result(data: &[u8]) -> Option<bool> {
    let mut rest = data;
    while let Some((hdr, tail)) = rest.split_first_chunk::<4>() {
        let t = u16::from_be_bytes([hdr[0], hdr[1]]) & 0x3fff;
        let len = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
        let value = tail.get(..len)?;
        if t == 3 {
            return match value {
                [0, 1] => Some(true),
                [0, 2] => Some(false),
                _ => None,
            };
        }
        rest = &tail[len..];
    }
    None
}

/// The exporter label and context of the MSK: TLS 1.2 as RFC 5216 §2.3
/// ("client EAP encryption", PEAP the same) and RFC 5281 §8 ("ttls keying
/// material"); TLS 1.3 as RFC 9427 §2.1 (one label, the EAP type as context).
pub fn msk_label(outer_type: u8, tls13: bool) -> (&'static [u8], Option<[u8; 1]>) {
    if tls13 {
        (b"EXPORTER_EAP_TLS_Key_Material", Some([outer_type]))
    } else if outer_type == typ::TTLS {
        (b"ttls keying material", None)
    } else {
        (b"client EAP encryption", None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5216_3_1_frame_flags_and_length() {
        let f = TlsFrame::parse(&[0x20]).unwrap();
        assert_eq!((f.flags, f.total, f.data), (0x20, None, &[][..]));
        assert!(f.is_ack());
        let f = TlsFrame::parse(&[0xc0, 0, 0, 0, 9, 1, 2, 3]).unwrap();
        assert_eq!((f.total, f.data), (Some(9), &[1u8, 2, 3][..]));
        assert!(!f.is_ack());
        assert_eq!(TlsFrame::parse(&[]), Err(EapTlsError::NoFlags));
        for n in 1..5 {
            let b = [0x80, 0, 0, 0, 0];
            assert_eq!(TlsFrame::parse(&b[..n]), Err(EapTlsError::ShortLength));
        }
        assert_eq!(
            frame(0, flags::MORE, Some(300), &[7]),
            [0xc0, 0, 0, 1, 44, 7]
        );
    }

    #[test]
    fn rfc5216_3_1_fragments_round_trip_through_reassembly() {
        let msg: Vec<u8> = (0..2500u32).map(|i| i as u8).collect();
        let mut out = Fragmenter::new(msg.clone(), 1000, 0);
        let mut r = Reassembly::new(MAX_TLS_MESSAGE);
        let mut pieces = 0;
        let mut got = None;
        while !out.done() {
            let td = out.next_fragment();
            let f = TlsFrame::parse(&td).unwrap();
            assert!(f.data.len() <= 1000);
            if pieces == 0 {
                assert_eq!(f.total, Some(2500));
                assert_ne!(f.flags & flags::MORE, 0);
            } else {
                assert_eq!(f.total, None);
            }
            pieces += 1;
            got = r.push(&f).unwrap();
            assert_eq!(got.is_some(), out.done());
        }
        assert_eq!(pieces, 3);
        assert_eq!(got.unwrap(), msg);
        // A message that fits: one frame without L or M.
        let mut one = Fragmenter::new(vec![1, 2, 3], 1000, 0);
        assert_eq!(one.next_fragment(), [0, 1, 2, 3]);
        assert!(one.done());
        // An empty message: one empty frame (an ACK or a bare request).
        let mut e = Fragmenter::new(Vec::new(), 1000, 0);
        assert!(!e.done());
        assert_eq!(e.next_fragment(), [0]);
        assert!(e.done());
    }

    #[test]
    fn rfc5216_3_1_reassembly_beyond_limit_or_disagreeing_length_is_an_error() {
        let mut r = Reassembly::new(100);
        let big = frame(0, flags::MORE, Some(101), &[0; 10]);
        assert_eq!(
            r.push(&TlsFrame::parse(&big).unwrap()),
            Err(EapTlsError::TooLong(101))
        );
        // No L flag: the limit still holds.
        let mut r = Reassembly::new(100);
        let part = frame(0, flags::MORE, None, &[0; 60]);
        assert_eq!(r.push(&TlsFrame::parse(&part).unwrap()), Ok(None));
        assert!(r.in_progress());
        assert_eq!(
            r.push(&TlsFrame::parse(&part).unwrap()),
            Err(EapTlsError::TooLong(120))
        );
        // Announced 50, 60 sent.
        let mut r = Reassembly::new(100);
        let lie = frame(0, flags::MORE, Some(50), &[0; 60]);
        assert!(matches!(
            r.push(&TlsFrame::parse(&lie).unwrap()),
            Err(EapTlsError::Length { .. })
        ));
        // Announced 50, 20 sent then the last fragment.
        let mut r = Reassembly::new(100);
        let first = frame(0, flags::MORE, Some(50), &[0; 10]);
        let last = frame(0, 0, None, &[0; 10]);
        assert_eq!(r.push(&TlsFrame::parse(&first).unwrap()), Ok(None));
        assert!(matches!(
            r.push(&TlsFrame::parse(&last).unwrap()),
            Err(EapTlsError::Length {
                announced: 50,
                got: 20
            })
        ));
        // An M fragment without data would loop forever.
        let mut r = Reassembly::new(100);
        assert_eq!(
            r.push(&TlsFrame::parse(&[flags::MORE]).unwrap()),
            Err(EapTlsError::EmptyFragment)
        );
    }

    #[test]
    fn rfc5281_10_avps_parse_encode_and_padding() {
        let mut m = encode_avp(avp::USER_NAME, true, b"alice");
        assert_eq!(m.len(), 16);
        assert_eq!(m[..8], [0, 0, 0, 1, 0x40, 0, 0, 13]);
        m.extend(encode_avp(avp::USER_PASSWORD, true, b"123456\0\0\0\0"));
        let r = parse_ttls(&m).unwrap();
        assert_eq!(r.user_name.as_deref(), Some(&b"alice"[..]));
        assert_eq!(r.password.as_deref(), Some(&b"123456"[..]));
        assert!(!format!("{r:?}").contains("123456"));
        // The last AVP's padding may be left out.
        let mut short = encode_avp(avp::EAP_MESSAGE, true, &[2, 1, 0, 5, 1]);
        short.truncate(13);
        assert_eq!(parse_ttls(&short).unwrap().eap.unwrap(), [2, 1, 0, 5, 1]);
        // Every prefix and every length: an error or a value, no panic.
        for n in 0..m.len() {
            let _ = parse_avps(&m[..n]);
        }
        for l in 0..64u8 {
            let mut b = m.clone();
            b[7] = l;
            let _ = parse_avps(&b);
        }
        assert!(parse_avps(&[0, 0, 0, 1, 0x40, 0, 0, 7]).is_err());
        assert!(parse_avps(&[0, 0, 0, 1, 0xc0, 0, 0, 11, 0, 0, 0]).is_err());
        // Unknown mandatory AVP refused, unknown optional ignored.
        assert!(parse_ttls(&encode_avp(4242, true, b"x")).is_err());
        assert_eq!(
            parse_ttls(&encode_avp(4242, false, b"x")).unwrap(),
            TtlsRequest::default()
        );
    }

    #[test]
    fn peapv0_inner_header_rebuilt_and_extensions_kept_whole() {
        let p = peap_inner_response(&[typ::IDENTITY, b'b', b'o', b'b'], 9).unwrap();
        assert_eq!(
            p,
            EapPacket::new(code::RESPONSE, 9, typ::IDENTITY, b"bob".to_vec())
        );
        let req = EapPacket::new(code::REQUEST, 3, typ::GTC, b"Code: ".to_vec());
        assert_eq!(peap_inner_request(&req)[0], typ::GTC);
        let tlv = peap_result(code::REQUEST, 4, true);
        assert_eq!(peap_inner_request(&tlv), tlv.encode());
        let resp = peap_result(code::RESPONSE, 4, true).encode();
        let back = peap_inner_response(&resp, 99).unwrap();
        assert_eq!(back.identifier, 4);
        assert_eq!(parse_peap_result(&back.data), Some(true));
        assert_eq!(
            parse_peap_result(&peap_result(code::RESPONSE, 4, false).data),
            Some(false)
        );
        assert_eq!(parse_peap_result(&[0x80, 3, 0, 9, 0]), None);
        assert_eq!(parse_peap_result(&[]), None);
        assert!(peap_inner_response(&[], 1).is_err());
    }

    #[test]
    fn rfc5216_rfc5281_rfc9427_msk_labels() {
        assert_eq!(
            msk_label(typ::PEAP, false),
            (&b"client EAP encryption"[..], None)
        );
        assert_eq!(
            msk_label(typ::TTLS, false),
            (&b"ttls keying material"[..], None)
        );
        assert_eq!(
            msk_label(typ::TTLS, true),
            (&b"EXPORTER_EAP_TLS_Key_Material"[..], Some([21]))
        );
        assert_eq!(msk_label(typ::PEAP, true).1, Some([25]));
    }
}
