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

use super::attribute::{types, Attribute};

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
        todo!("{}", buf.len())
    }

    /// Encodes the packet as it stands (authenticator as given, attributes in
    /// order). Fails when it would exceed 4096 bytes or an attribute value
    /// exceeds 253 bytes.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        todo!()
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
