//! RADIUS packets (RFC 2865 §3).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Code      |  Identifier   |            Length             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! |                         Authenticator                         |
//! |                                                               |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Attributes ...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-
//! ```
//!
//! # Decoding rules
//!
//! [`Packet::decode`] is strict. It never panics and never reads past the
//! datagram; it rejects:
//!
//! - datagrams shorter than 20 or longer than 4096 bytes
//!   ([`DecodeError::TooShort`], [`DecodeError::TooLong`]);
//! - a Length field that differs from the datagram length in either
//!   direction ([`DecodeError::LengthMismatch`]). RFC 2865 §3 lets a receiver
//!   ignore octets past the Length field; radotp deliberately treats them as
//!   an error instead, so that a packet has exactly one reading and nothing
//!   can be smuggled after the signed part;
//! - an attribute whose length octet is below 2 or runs past the end
//!   ([`DecodeError::BadAttributeLength`]);
//! - a second Message-Authenticator in any packet, or, in an
//!   Access-Request, a second User-Name, User-Password, CHAP-Password,
//!   CHAP-Challenge, State, NAS-IP-Address, NAS-Identifier, Service-Type or
//!   NAS-Port (RFC 2865 §5.44, RFC 2869 §5.19, RFC 3579 §3.3)
//!   ([`DecodeError::Duplicate`]);
//! - a Message-Authenticator that is not 16 bytes, a Vendor-Specific
//!   attribute without its 4-byte vendor id, or a Microsoft (311)
//!   Vendor-Specific whose sub-attribute lengths do not add up exactly
//!   ([`DecodeError::BadValue`]). Other vendors' content is kept as is.
//!
//! Unknown codes ([`Code::Unknown`]) and unknown attributes are kept.

use super::attribute::{ms, types, Attribute};
use super::crypto::{keyed_mac, md5_keyed, sign_message_authenticator, AUTH_RANGE, MA_ATTR_LEN};
use crate::secret::ct_eq;
use hmac::Mac;

/// Smallest legal packet (the header).
pub const MIN_LEN: usize = 20;
/// Largest legal packet (RFC 2865 §3).
pub const MAX_LEN: usize = 4096;

/// The packet code; unknown codes are kept, not rejected by the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    AccessRequest,
    AccessAccept,
    AccessReject,
    AccountingRequest,
    AccountingResponse,
    AccessChallenge,
    StatusServer,
    StatusClient,
    Unknown(u8),
}

impl Code {
    /// The code's octet.
    pub fn to_u8(self) -> u8 {
        match self {
            Code::AccessRequest => 1,
            Code::AccessAccept => 2,
            Code::AccessReject => 3,
            Code::AccountingRequest => 4,
            Code::AccountingResponse => 5,
            Code::AccessChallenge => 11,
            Code::StatusServer => 12,
            Code::StatusClient => 13,
            Code::Unknown(c) => c,
        }
    }

    /// The code for an octet.
    pub fn from_u8(c: u8) -> Self {
        match c {
            1 => Code::AccessRequest,
            2 => Code::AccessAccept,
            3 => Code::AccessReject,
            4 => Code::AccountingRequest,
            5 => Code::AccountingResponse,
            11 => Code::AccessChallenge,
            12 => Code::StatusServer,
            13 => Code::StatusClient,
            c => Code::Unknown(c),
        }
    }
}

/// Why a datagram is not a RADIUS packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("datagram of {0} bytes is shorter than the 20-byte header")]
    TooShort(usize),
    #[error("datagram of {0} bytes is longer than 4096")]
    TooLong(usize),
    #[error("length field {field} does not match the datagram's {actual} bytes")]
    LengthMismatch { field: usize, actual: usize },
    #[error("attribute at offset {offset} has length {len}")]
    BadAttributeLength { offset: usize, len: usize },
    #[error("attribute {typ} appears more than once")]
    Duplicate { typ: u8 },
    #[error("attribute {typ} has an invalid value: {why}")]
    BadValue { typ: u8, why: &'static str },
}

/// A decoded packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The code.
    pub code: Code,
    /// The identifier octet.
    pub identifier: u8,
    /// Request or Response Authenticator.
    pub authenticator: [u8; 16],
    /// Attributes in wire order.
    pub attributes: Vec<Attribute>,
}

impl Packet {
    /// A packet with no attributes.
    pub fn new(code: Code, identifier: u8, authenticator: [u8; 16]) -> Self {
        Packet {
            code,
            identifier,
            authenticator,
            attributes: Vec::new(),
        }
    }

    /// The value of the first attribute of type `typ`.
    pub fn attr(&self, typ: u8) -> Option<&[u8]> {
        self.attributes
            .iter()
            .find(|a| a.typ == typ)
            .map(|a| a.value.as_slice())
    }

    /// The values of every attribute of type `typ`, in order.
    pub fn attrs(&self, typ: u8) -> impl Iterator<Item = &[u8]> {
        self.attributes
            .iter()
            .filter(move |a| a.typ == typ)
            .map(|a| a.value.as_slice())
    }

    /// The value of the first vendor sub-attribute `vtype` of `vendor`.
    pub fn vendor_attr(&self, vendor: u32, vtype: u8) -> Option<&[u8]> {
        self.attributes
            .iter()
            .filter(|a| a.typ == types::VENDOR_SPECIFIC)
            .filter_map(|a| a.vendor())
            .filter(|(v, _)| *v == vendor)
            .flat_map(|(_, subs)| subs)
            .find(|(t, _)| *t == vtype)
            .map(|(_, v)| v)
    }

    /// Appends an attribute.
    pub fn push(&mut self, typ: u8, value: impl Into<Vec<u8>>) {
        self.attributes.push(Attribute::new(typ, value));
    }

    /// Appends a Vendor-Specific attribute with one sub-attribute.
    pub fn push_vendor(&mut self, vendor: u32, vtype: u8, value: &[u8]) {
        self.attributes
            .push(Attribute::vendor_specific(vendor, vtype, value));
    }

    /// The User-Name as bytes.
    pub fn user_name(&self) -> Option<&[u8]> {
        self.attr(types::USER_NAME)
    }

    /// Decodes one datagram (strict: see the module docs).
    pub fn decode(buf: &[u8]) -> Result<Packet, DecodeError> {
        let actual = buf.len();
        if actual < MIN_LEN {
            return Err(DecodeError::TooShort(actual));
        }
        if actual > MAX_LEN {
            return Err(DecodeError::TooLong(actual));
        }
        let header: &[u8; MIN_LEN] = match buf.first_chunk() {
            Some(h) => h,
            None => return Err(DecodeError::TooShort(actual)),
        };
        let field = usize::from(u16::from_be_bytes([header[2], header[3]]));
        if field != actual {
            return Err(DecodeError::LengthMismatch { field, actual });
        }
        let code = Code::from_u8(header[0]);
        let identifier = header[1];
        let mut authenticator = [0u8; 16];
        authenticator.copy_from_slice(&header[4..]);

        let mut attributes = Vec::new();
        // Bit i set: once-only attribute number i (< 128) already seen.
        let mut seen: u128 = 0;
        for item in AttrIter::new(buf) {
            let (_offset, typ, value) = item?;
            if let Some(bit) = once_only_bit(code, typ) {
                if seen & bit != 0 {
                    return Err(DecodeError::Duplicate { typ });
                }
                seen |= bit;
            }
            check_value(typ, value)?;
            attributes.push(Attribute::new(typ, value));
        }
        Ok(Packet {
            code,
            identifier,
            authenticator,
            attributes,
        })
    }

    /// Encodes the packet as it stands (authenticator as given, attributes in
    /// order). Fails when it would exceed 4096 bytes or an attribute value
    /// exceeds 253 bytes.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let len = encoded_len(MIN_LEN, &self.attributes)?;
        let mut out = Vec::with_capacity(len);
        write_header(
            &mut out,
            self.code,
            self.identifier,
            len,
            &self.authenticator,
        );
        for a in &self.attributes {
            write_attribute(&mut out, a.typ, &a.value);
        }
        Ok(out)
    }
}

/// Builds a response to `request` (server side): identifier from the
/// request; a Message-Authenticator placed first; `attributes`; the
/// request's Proxy-State attributes copied last in order; then the
/// Message-Authenticator and the Response Authenticator computed over it.
///
/// Placing the Message-Authenticator first follows the BlastRADIUS
/// (CVE-2024-3596) advice. The Response Authenticator is
/// `MD5(Code ‖ ID ‖ Length ‖ Request Authenticator ‖ Attributes ‖ secret)`
/// (RFC 2865 §3), taken after the Message-Authenticator is filled in
/// (RFC 3579 §3.2). Any Message-Authenticator in `attributes` is dropped.
///
/// An Accounting-Response carries no Message-Authenticator (RFC 3579
/// defines it for Access-* replies; RFC 2866's Response Authenticator
/// protects accounting, and FreeRADIUS's radclient rejects one computed over
/// the Request Authenticator), except in answer to a Status-Server (RFC 5997).
pub fn encode_response(
    code: Code,
    request: &Packet,
    attributes: Vec<Attribute>,
    secret: &[u8],
) -> Result<Vec<u8>, EncodeError> {
    let body = || {
        attributes
            .iter()
            .filter(|a| a.typ != types::MESSAGE_AUTHENTICATOR)
            .chain(
                request
                    .attributes
                    .iter()
                    .filter(|a| a.typ == types::PROXY_STATE),
            )
    };
    let with_ma = code != Code::AccountingResponse || request.code == Code::StatusServer;
    let ma_len = if with_ma { MA_ATTR_LEN } else { 0 };
    let len = encoded_len(MIN_LEN + ma_len, body())?;
    let mut out = Vec::with_capacity(len);
    write_header(
        &mut out,
        code,
        request.identifier,
        len,
        &request.authenticator,
    );
    if with_ma {
        write_attribute(&mut out, types::MESSAGE_AUTHENTICATOR, &[0u8; 16]);
    }
    for a in body() {
        write_attribute(&mut out, a.typ, &a.value);
    }
    if with_ma {
        sign_message_authenticator(&mut out, MIN_LEN + 2, secret);
    }
    let ra = md5_keyed(&[], &[&out, secret]);
    if let Some(field) = out.get_mut(AUTH_RANGE) {
        field.copy_from_slice(&ra);
    }
    Ok(out)
}

/// Builds a request (client side, for `radotp probe` and `radotp-bench`):
/// `packet.authenticator` is used as the Request Authenticator for
/// Access-Request and Status-Server; for Accounting-Request it is computed
/// (RFC 2866). With `message_authenticator`, one is placed first and
/// computed.
///
/// With `message_authenticator`, any Message-Authenticator already in
/// `packet.attributes` is dropped; without it, the attributes are written as
/// they are. Disconnect-Request (40) and CoA-Request (43) are treated like
/// Accounting-Request (RFC 5176 §3.3).
pub fn encode_request(
    packet: &Packet,
    secret: &[u8],
    message_authenticator: bool,
) -> Result<Vec<u8>, EncodeError> {
    let body = || {
        packet
            .attributes
            .iter()
            .filter(move |a| !(message_authenticator && a.typ == types::MESSAGE_AUTHENTICATOR))
    };
    let start = MIN_LEN
        + if message_authenticator {
            MA_ATTR_LEN
        } else {
            0
        };
    let len = encoded_len(start, body())?;
    let zeroed = zeroed_authenticator(packet.code);
    let authenticator = if zeroed {
        [0u8; 16]
    } else {
        packet.authenticator
    };
    let mut out = Vec::with_capacity(len);
    write_header(
        &mut out,
        packet.code,
        packet.identifier,
        len,
        &authenticator,
    );
    if message_authenticator {
        write_attribute(&mut out, types::MESSAGE_AUTHENTICATOR, &[0u8; 16]);
    }
    for a in body() {
        write_attribute(&mut out, a.typ, &a.value);
    }
    if message_authenticator {
        sign_message_authenticator(&mut out, MIN_LEN + 2, secret);
    }
    if zeroed {
        let ra = md5_keyed(&[], &[&out, secret]);
        if let Some(field) = out.get_mut(AUTH_RANGE) {
            field.copy_from_slice(&ra);
        }
    }
    Ok(out)
}

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

/// Codes whose Request Authenticator is an MD5 over the packet with a
/// zeroed authenticator field (RFC 2866 §3 Accounting-Request, RFC 5176
/// Disconnect-Request 40 and CoA-Request 43); their Message-Authenticator
/// is computed with that field zeroed too (RFC 3579 §3.2, RFC 5176 §3.3).
fn zeroed_authenticator(code: Code) -> bool {
    matches!(
        code,
        Code::AccountingRequest | Code::Unknown(40) | Code::Unknown(43)
    )
}

/// Where the single Message-Authenticator value sits in `raw`.
enum MaPlace {
    Absent,
    /// Offset of the 16-byte value.
    At(usize),
    /// Malformed attributes, wrong length, or more than one.
    Bad,
}

fn find_message_authenticator(raw: &[u8]) -> MaPlace {
    let mut place = MaPlace::Absent;
    for item in AttrIter::new(raw) {
        let (offset, typ, value) = match item {
            Ok(x) => x,
            Err(_) => return MaPlace::Bad,
        };
        if typ != types::MESSAGE_AUTHENTICATOR {
            continue;
        }
        if value.len() != 16 || !matches!(place, MaPlace::Absent) {
            return MaPlace::Bad;
        }
        place = MaPlace::At(offset + 2);
    }
    place
}

/// HMAC-MD5 over `raw` with `authenticator` in the authenticator field and
/// the 16 bytes at `ma_value` zeroed, without copying the packet.
fn message_authenticator_over(
    raw: &[u8],
    authenticator: &[u8; 16],
    ma_value: usize,
    secret: &[u8],
) -> Option<[u8; 16]> {
    let mut mac = keyed_mac(secret)?;
    mac.update(raw.get(..AUTH_RANGE.start)?);
    mac.update(authenticator);
    mac.update(raw.get(AUTH_RANGE.end..ma_value)?);
    mac.update(&[0u8; 16]);
    mac.update(raw.get(ma_value + 16..)?);
    Some(mac.finalize().into_bytes().into())
}

/// Checks the Message-Authenticator of a received datagram `raw` (already
/// decoded as `packet`). For Access-Request and Status-Server the HMAC-MD5 is
/// over the packet with its own Request Authenticator; for
/// Accounting-Request with the authenticator field zeroed (RFC 3579 §3.2);
/// for responses (client side) pass the request's authenticator as
/// `request_authenticator`.
///
/// The code is taken from `packet`; the bytes hashed are `raw`'s. The MAC is
/// compared in constant time.
pub fn check_message_authenticator(
    raw: &[u8],
    packet: &Packet,
    secret: &[u8],
    request_authenticator: Option<&[u8; 16]>,
) -> MessageAuthenticator {
    if raw.len() < MIN_LEN {
        return MessageAuthenticator::Invalid;
    }
    let ma_value = match find_message_authenticator(raw) {
        MaPlace::Absent => return MessageAuthenticator::Absent,
        MaPlace::Bad => return MessageAuthenticator::Invalid,
        MaPlace::At(v) => v,
    };
    let authenticator = match request_authenticator {
        Some(r) => *r,
        None if zeroed_authenticator(packet.code) => [0u8; 16],
        None => packet.authenticator,
    };
    let (Some(expected), Some(got)) = (
        message_authenticator_over(raw, &authenticator, ma_value, secret),
        raw.get(ma_value..ma_value + 16),
    ) else {
        return MessageAuthenticator::Invalid;
    };
    if ct_eq(&expected, got) {
        MessageAuthenticator::Valid
    } else {
        MessageAuthenticator::Invalid
    }
}

/// `raw` as (code, identifier and length; the authenticator; the
/// attributes), or `None` when it is shorter than a header.
fn split_authenticator(raw: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    Some((
        raw.get(..AUTH_RANGE.start)?,
        raw.get(AUTH_RANGE)?,
        raw.get(AUTH_RANGE.end..)?,
    ))
}

/// RFC 2866 §3: is the Accounting-Request authenticator of `raw` right?
///
/// `MD5(Code ‖ Identifier ‖ Length ‖ 16 zero octets ‖ Attributes ‖ secret)`,
/// compared in constant time.
pub fn verify_accounting_request(raw: &[u8], secret: &[u8]) -> bool {
    let Some((head, got, attrs)) = split_authenticator(raw) else {
        return false;
    };
    let expected = md5_keyed(&[], &[head, &[0u8; 16], attrs, secret]);
    ct_eq(&expected, got)
}

/// Client side: checks the Response Authenticator of reply `raw` to a
/// request that had `request_authenticator`, and its Message-Authenticator
/// when present. True only when everything present is right.
///
/// `raw` must also be well formed: 20..=4096 bytes, its Length field equal
/// to its size, attributes that add up, at most one 16-byte
/// Message-Authenticator.
pub fn verify_response(raw: &[u8], request_authenticator: &[u8; 16], secret: &[u8]) -> bool {
    if raw.len() < MIN_LEN || raw.len() > MAX_LEN {
        return false;
    }
    let Some((head, got, attrs)) = split_authenticator(raw) else {
        return false;
    };
    if let [_, _, hi, lo] = *head {
        if usize::from(u16::from_be_bytes([hi, lo])) != raw.len() {
            return false;
        }
    }
    let expected = md5_keyed(&[], &[head, request_authenticator, attrs, secret]);
    let response_ok = ct_eq(&expected, got);
    let ma_ok = match find_message_authenticator(raw) {
        MaPlace::Absent => true,
        MaPlace::Bad => false,
        MaPlace::At(at) => {
            match (
                message_authenticator_over(raw, request_authenticator, at, secret),
                raw.get(at..at + 16),
            ) {
                (Some(mac), Some(got)) => ct_eq(&mac, got),
                _ => false,
            }
        }
    };
    response_ok & ma_ok
}

/// Largest attribute value (255 minus the type and length octets).
pub const MAX_VALUE_LEN: usize = 253;

/// The encoded length of a packet whose first `start` bytes are already
/// accounted for, followed by `attributes`; checks every limit.
pub(crate) fn encoded_len<'a>(
    start: usize,
    attributes: impl IntoIterator<Item = &'a Attribute>,
) -> Result<usize, EncodeError> {
    let mut len = start;
    for a in attributes {
        if a.value.len() > MAX_VALUE_LEN {
            return Err(EncodeError::AttributeTooLong {
                typ: a.typ,
                len: a.value.len(),
            });
        }
        len += 2 + a.value.len();
    }
    if len > MAX_LEN {
        return Err(EncodeError::TooLong(len));
    }
    Ok(len)
}

/// Writes the 20-byte header; `len` has been checked to fit in 4096.
pub(crate) fn write_header(
    out: &mut Vec<u8>,
    code: Code,
    identifier: u8,
    len: usize,
    authenticator: &[u8; 16],
) {
    out.push(code.to_u8());
    out.push(identifier);
    out.extend_from_slice(&(len.min(MAX_LEN) as u16).to_be_bytes());
    out.extend_from_slice(authenticator);
}

/// Writes one attribute; `value` has been checked to be at most 253 bytes.
pub(crate) fn write_attribute(out: &mut Vec<u8>, typ: u8, value: &[u8]) {
    out.push(typ);
    out.push((value.len().min(MAX_VALUE_LEN) + 2) as u8);
    out.extend_from_slice(value);
}

/// Walks the attributes of a datagram whose header has been checked,
/// yielding `(offset, type, value)` or the first length error.
pub(crate) struct AttrIter<'a> {
    buf: &'a [u8],
    offset: usize,
    failed: bool,
}

impl<'a> AttrIter<'a> {
    /// Iterates over the attributes of `buf` (a whole datagram).
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        AttrIter {
            buf,
            offset: MIN_LEN,
            failed: false,
        }
    }
}

impl<'a> Iterator for AttrIter<'a> {
    type Item = Result<(usize, u8, &'a [u8]), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let offset = self.offset;
        let rest = self.buf.get(offset..)?;
        if rest.is_empty() {
            return None;
        }
        let (typ, len) = match rest {
            [t, l, ..] => (*t, usize::from(*l)),
            _ => {
                self.failed = true;
                return Some(Err(DecodeError::BadAttributeLength { offset, len: 0 }));
            }
        };
        match rest.get(2..len) {
            Some(value) if len >= 2 => {
                self.offset = offset + len;
                Some(Ok((offset, typ, value)))
            }
            _ => {
                self.failed = true;
                Some(Err(DecodeError::BadAttributeLength { offset, len }))
            }
        }
    }
}

/// The bit recording an attribute that may appear at most once in this
/// packet, or `None` when repeats are allowed.
///
/// Message-Authenticator may appear at most once in any packet (RFC 3579
/// §3.3 table); the others at most once in an Access-Request (RFC 2865 §5.44,
/// RFC 2869 §5.19).
fn once_only_bit(code: Code, typ: u8) -> Option<u128> {
    let once = match typ {
        types::MESSAGE_AUTHENTICATOR => true,
        types::USER_NAME
        | types::USER_PASSWORD
        | types::CHAP_PASSWORD
        | types::CHAP_CHALLENGE
        | types::STATE
        | types::NAS_IP_ADDRESS
        | types::NAS_IDENTIFIER
        | types::SERVICE_TYPE
        | types::NAS_PORT => code == Code::AccessRequest,
        _ => false,
    };
    // Every once-only type is below 128.
    once.then(|| 1u128 << (typ & 0x7f))
}

/// Per-attribute value rules checked by the decoder.
fn check_value(typ: u8, value: &[u8]) -> Result<(), DecodeError> {
    match typ {
        types::MESSAGE_AUTHENTICATOR if value.len() != 16 => Err(DecodeError::BadValue {
            typ,
            why: "Message-Authenticator must be 16 bytes",
        }),
        types::VENDOR_SPECIFIC => {
            let (vendor, mut rest) = match value.split_first_chunk::<4>() {
                Some((v, rest)) => (u32::from_be_bytes(*v), rest),
                None => {
                    return Err(DecodeError::BadValue {
                        typ,
                        why: "Vendor-Specific shorter than its vendor id",
                    })
                }
            };
            if vendor == ms::VENDOR_ID {
                while let [_, l, ..] = rest {
                    let l = usize::from(*l);
                    if l < 2 || l > rest.len() {
                        break;
                    }
                    rest = rest.get(l..).unwrap_or_default();
                }
                if !rest.is_empty() {
                    return Err(DecodeError::BadValue {
                        typ,
                        why: "Microsoft sub-attribute lengths do not add up",
                    });
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Why a packet cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    #[error("attribute {typ} value of {len} bytes exceeds 253")]
    AttributeTooLong { typ: u8, len: usize },
    #[error("packet of {0} bytes exceeds 4096")]
    TooLong(usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        hex::decode(s).unwrap()
    }

    /// RFC 2865 §7.1 Access-Request.
    const RFC2865_7_1_REQUEST: &str = "01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb
        98 f4 22 7a 01 06 6e 65 6d 6f 02 12 0d be 70 8d
        93 d4 13 ce 31 96 e4 3f 78 2a 0a ee 04 06 c0 a8
        01 10 05 06 00 00 00 03";
    /// RFC 2865 §7.2 Access-Request with CHAP.
    const RFC2865_7_2_CHAP_REQUEST: &str = "01 01 00 47 2a ee 86 f0 8d 0d 55 96 9c a5 97 8e
        0d 33 67 a2 01 08 66 6c 6f 70 73 79 03 13 16 e9
        75 57 c3 16 18 58 95 f2 93 ff 63 44 07 72 75 04
        06 c0 a8 01 10 05 06 00 00 00 14 06 06 00 00 00
        02 07 06 00 00 00 01";

    #[test]
    fn rfc2865_7_1_request_decodes_and_reencodes() {
        let raw = unhex(RFC2865_7_1_REQUEST);
        let p = Packet::decode(&raw).unwrap();
        assert_eq!(p.code, Code::AccessRequest);
        assert_eq!(p.identifier, 0);
        assert_eq!(p.user_name(), Some(&b"nemo"[..]));
        assert_eq!(p.attr(types::NAS_IP_ADDRESS), Some(&[192, 168, 1, 16][..]));
        assert_eq!(p.attr(types::NAS_PORT), Some(&[0, 0, 0, 3][..]));
        assert_eq!(p.attributes.len(), 4);
        assert_eq!(p.encode().unwrap(), raw);
    }

    #[test]
    fn rfc2865_7_2_chap_request_decodes_and_reencodes() {
        let raw = unhex(RFC2865_7_2_CHAP_REQUEST);
        let p = Packet::decode(&raw).unwrap();
        assert_eq!(p.identifier, 1);
        assert_eq!(p.user_name(), Some(&b"flopsy"[..]));
        assert_eq!(p.attr(types::CHAP_PASSWORD).map(<[u8]>::len), Some(17));
        assert_eq!(p.attr(types::SERVICE_TYPE), Some(&[0, 0, 0, 2][..]));
        assert_eq!(p.encode().unwrap(), raw);
    }

    #[test]
    fn rfc2865_3_too_short_and_too_long() {
        assert_eq!(Packet::decode(&[]), Err(DecodeError::TooShort(0)));
        assert_eq!(Packet::decode(&[1; 19]), Err(DecodeError::TooShort(19)));
        let mut big = vec![0u8; 4097];
        big[0] = 1;
        big[2] = 0x10;
        big[3] = 0x01;
        assert_eq!(Packet::decode(&big), Err(DecodeError::TooLong(4097)));
    }

    #[test]
    fn rfc2865_3_length_field_must_match_exactly() {
        let mut raw = unhex(RFC2865_7_1_REQUEST);
        raw.push(0);
        assert_eq!(
            Packet::decode(&raw),
            Err(DecodeError::LengthMismatch {
                field: 56,
                actual: 57
            })
        );
        raw.truncate(55);
        assert_eq!(
            Packet::decode(&raw),
            Err(DecodeError::LengthMismatch {
                field: 56,
                actual: 55
            })
        );
    }

    #[test]
    fn rfc2865_5_bad_attribute_lengths() {
        let header = |len: u16| {
            let mut v = vec![1u8, 0];
            v.extend_from_slice(&len.to_be_bytes());
            v.extend_from_slice(&[0u8; 16]);
            v
        };
        // Length octet 0, 1, past the end, and a lone type octet.
        for (attrs, offset, len) in [
            (&[1u8, 0, 0][..], 20, 0),
            (&[1, 1, 0][..], 20, 1),
            (&[1, 3, b'a', 1, 9, b'b'][..], 23, 9),
            (&[1, 3, b'a', 7][..], 23, 0),
        ] {
            let mut raw = header((20 + attrs.len()) as u16);
            raw.extend_from_slice(attrs);
            assert_eq!(
                Packet::decode(&raw),
                Err(DecodeError::BadAttributeLength { offset, len }),
                "{attrs:?}"
            );
        }
    }

    #[test]
    fn rfc2865_5_44_once_only_attributes_in_access_request() {
        for typ in [
            types::USER_NAME,
            types::USER_PASSWORD,
            types::CHAP_PASSWORD,
            types::CHAP_CHALLENGE,
            types::MESSAGE_AUTHENTICATOR,
            types::STATE,
            types::NAS_IP_ADDRESS,
            types::NAS_IDENTIFIER,
            types::SERVICE_TYPE,
            types::NAS_PORT,
        ] {
            let mut p = Packet::new(Code::AccessRequest, 1, [0; 16]);
            p.push(typ, vec![0u8; 16]);
            p.push(types::CLASS, b"c".to_vec());
            p.push(typ, vec![0u8; 16]);
            let raw = p.encode().unwrap();
            assert_eq!(Packet::decode(&raw), Err(DecodeError::Duplicate { typ }));
        }
        // Repeats of other attributes are fine, and so are repeats of
        // User-Name or State outside an Access-Request.
        let mut p = Packet::new(Code::AccessAccept, 1, [0; 16]);
        p.push(types::CLASS, b"a".to_vec());
        p.push(types::CLASS, b"b".to_vec());
        p.push(types::STATE, b"s".to_vec());
        p.push(types::STATE, b"t".to_vec());
        assert_eq!(Packet::decode(&p.encode().unwrap()), Ok(p));
    }

    #[test]
    fn rfc3579_3_2_message_authenticator_must_be_16_bytes() {
        for n in [0usize, 15, 17] {
            let mut p = Packet::new(Code::AccessRequest, 1, [0; 16]);
            p.push(types::MESSAGE_AUTHENTICATOR, vec![0u8; n]);
            assert!(matches!(
                Packet::decode(&p.encode().unwrap()),
                Err(DecodeError::BadValue {
                    typ: types::MESSAGE_AUTHENTICATOR,
                    ..
                })
            ));
        }
    }

    #[test]
    fn rfc2865_5_26_vendor_specific_rules() {
        // Shorter than the vendor id.
        let mut p = Packet::new(Code::AccessRequest, 1, [0; 16]);
        p.push(types::VENDOR_SPECIFIC, vec![0, 0, 1]);
        assert!(matches!(
            Packet::decode(&p.encode().unwrap()),
            Err(DecodeError::BadValue { typ: 26, .. })
        ));
        // Microsoft sub-attributes that do not add up: too long, too short,
        // trailing octet, zero length.
        for bad in [
            &[11u8, 9, 1, 2][..],
            &[11, 4, 1, 2, 3][..],
            &[11, 2, 0][..],
            &[11, 0][..],
        ] {
            let mut v = ms::VENDOR_ID.to_be_bytes().to_vec();
            v.extend_from_slice(bad);
            let mut p = Packet::new(Code::AccessRequest, 1, [0; 16]);
            p.push(types::VENDOR_SPECIFIC, v);
            assert!(
                matches!(
                    Packet::decode(&p.encode().unwrap()),
                    Err(DecodeError::BadValue { typ: 26, .. })
                ),
                "{bad:?}"
            );
        }
        // Other vendors' content is kept as is, even if not TLV-shaped.
        let mut p = Packet::new(Code::AccessRequest, 1, [0; 16]);
        p.push(types::VENDOR_SPECIFIC, vec![0, 0, 0x0c, 0x04, 0xff]);
        p.push_vendor(ms::VENDOR_ID, ms::MS_CHAP_CHALLENGE, &[9; 16]);
        p.push(types::VENDOR_SPECIFIC, ms::VENDOR_ID.to_be_bytes().to_vec());
        let d = Packet::decode(&p.encode().unwrap()).unwrap();
        assert_eq!(d, p);
        assert_eq!(
            d.vendor_attr(ms::VENDOR_ID, ms::MS_CHAP_CHALLENGE),
            Some(&[9u8; 16][..])
        );
    }

    #[test]
    fn unknown_codes_and_attributes_are_kept() {
        let mut p = Packet::new(Code::Unknown(250), 7, [1; 16]);
        p.push(200, b"x".to_vec());
        p.push(0, Vec::new());
        let d = Packet::decode(&p.encode().unwrap()).unwrap();
        assert_eq!(d.code, Code::Unknown(250));
        assert_eq!(d, p);
    }

    #[test]
    fn encode_rejects_long_values_and_packets() {
        let mut p = Packet::new(Code::AccessAccept, 1, [0; 16]);
        p.push(types::CLASS, vec![0u8; 254]);
        assert_eq!(
            p.encode(),
            Err(EncodeError::AttributeTooLong { typ: 25, len: 254 })
        );
        let mut p = Packet::new(Code::AccessAccept, 1, [0; 16]);
        for _ in 0..16 {
            p.push(types::CLASS, vec![0u8; 253]);
        }
        // 20 + 16 * 255 = 4100.
        assert_eq!(p.encode(), Err(EncodeError::TooLong(4100)));
        p.attributes.pop();
        p.push(types::CLASS, vec![0u8; 249]);
        let raw = p.encode().unwrap();
        assert_eq!(raw.len(), 4096);
        assert_eq!(Packet::decode(&raw), Ok(p));
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    const ONCE_ONLY: [u8; 10] = [
        types::USER_NAME,
        types::USER_PASSWORD,
        types::CHAP_PASSWORD,
        types::CHAP_CHALLENGE,
        types::STATE,
        types::NAS_IP_ADDRESS,
        types::NAS_IDENTIFIER,
        types::SERVICE_TYPE,
        types::NAS_PORT,
        types::MESSAGE_AUTHENTICATOR,
    ];

    /// Attributes that may repeat anywhere, with any value.
    fn free_attribute() -> impl Strategy<Value = Attribute> {
        (
            any::<u8>().prop_filter("not once-only or VSA", |t| {
                !ONCE_ONLY.contains(t) && *t != types::VENDOR_SPECIFIC
            }),
            vec(any::<u8>(), 0..=MAX_VALUE_LEN),
        )
            .prop_map(|(t, v)| Attribute::new(t, v))
    }

    /// A well-formed Vendor-Specific attribute: Microsoft with exact
    /// sub-attributes, or another vendor with any content.
    fn vendor_attribute() -> impl Strategy<Value = Attribute> {
        let microsoft = vec((any::<u8>(), vec(any::<u8>(), 0..60)), 0..4).prop_map(|subs| {
            let mut v = ms::VENDOR_ID.to_be_bytes().to_vec();
            for (t, val) in subs {
                v.push(t);
                v.push((val.len() + 2) as u8);
                v.extend_from_slice(&val);
            }
            Attribute::new(types::VENDOR_SPECIFIC, v)
        });
        let other = (
            any::<u32>().prop_filter("not Microsoft", |v| *v != ms::VENDOR_ID),
            vec(any::<u8>(), 0..=MAX_VALUE_LEN - 4),
        )
            .prop_map(|(vendor, rest)| {
                let mut v = vendor.to_be_bytes().to_vec();
                v.extend_from_slice(&rest);
                Attribute::new(types::VENDOR_SPECIFIC, v)
            });
        prop_oneof![microsoft, other]
    }

    /// Any packet the strict decoder accepts.
    fn valid_packet() -> impl Strategy<Value = Packet> {
        let once = proptest::sample::subsequence(ONCE_ONLY.to_vec(), 0..=ONCE_ONLY.len())
            .prop_flat_map(|typs| {
                typs.into_iter()
                    .map(|t| {
                        let len = if t == types::MESSAGE_AUTHENTICATOR {
                            16..=16
                        } else {
                            0..=40
                        };
                        vec(any::<u8>(), len).prop_map(move |v| Attribute::new(t, v))
                    })
                    .collect::<Vec<_>>()
            });
        (
            any::<u8>(),
            any::<u8>(),
            any::<[u8; 16]>(),
            once,
            vec(free_attribute(), 0..10),
            vec(vendor_attribute(), 0..3),
        )
            .prop_flat_map(|(code, id, auth, once, free, vsa)| {
                let mut attrs = once;
                attrs.extend(free);
                attrs.extend(vsa);
                Just(attrs)
                    .prop_shuffle()
                    .prop_map(move |attributes| Packet {
                        code: Code::from_u8(code),
                        identifier: id,
                        authenticator: auth,
                        attributes,
                    })
            })
            .prop_filter("fits in 4096 bytes", |p| p.encode().is_ok())
    }

    proptest! {
        #[test]
        fn decode_of_encode_is_identity(p in valid_packet()) {
            let raw = p.encode().unwrap();
            prop_assert_eq!(raw.len(), usize::from(u16::from_be_bytes([raw[2], raw[3]])));
            prop_assert_eq!(Packet::decode(&raw), Ok(p));
        }

        #[test]
        fn decode_never_panics_on_arbitrary_bytes(buf in vec(any::<u8>(), 0..4200)) {
            let _ = Packet::decode(&buf);
        }

        /// Bytes the decoder accepts encode back to themselves: one reading
        /// per datagram, nothing dropped.
        #[test]
        fn decode_is_lossless_on_mutated_packets(
            p in valid_packet(),
            flips in vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            cut in any::<prop::sample::Index>(),
            fix_length in any::<bool>(),
        ) {
            let mut raw = p.encode().unwrap();
            for (i, x) in flips {
                let i = i.index(raw.len());
                raw[i] ^= x;
            }
            if cut.index(4) == 0 {
                raw.truncate(cut.index(raw.len() + 1));
            }
            if fix_length && raw.len() >= 4 {
                let n = raw.len() as u16;
                raw[2..4].copy_from_slice(&n.to_be_bytes());
            }
            if let Ok(q) = Packet::decode(&raw) {
                prop_assert_eq!(q.encode().unwrap(), raw);
            }
        }
    }
}
