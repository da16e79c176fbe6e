//! Attributes and Vendor-Specific attributes (Microsoft, vendor 311).

/// One attribute as it stands on the wire: type and value (the value is at
/// most 253 bytes). Vendor-Specific attributes (type 26) keep their raw value
/// here; [`Attribute::vendor`] parses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute type.
    pub typ: u8,
    /// The value, without the type and length octets.
    pub value: Vec<u8>,
}

/// RFC 2865/2866/2869/3579/5176 attribute types used by radotp.
pub mod types {
    pub const USER_NAME: u8 = 1;
    pub const USER_PASSWORD: u8 = 2;
    pub const CHAP_PASSWORD: u8 = 3;
    pub const NAS_IP_ADDRESS: u8 = 4;
    pub const NAS_PORT: u8 = 5;
    pub const SERVICE_TYPE: u8 = 6;
    pub const FRAMED_PROTOCOL: u8 = 7;
    pub const REPLY_MESSAGE: u8 = 18;
    pub const STATE: u8 = 24;
    pub const CLASS: u8 = 25;
    pub const VENDOR_SPECIFIC: u8 = 26;
    pub const SESSION_TIMEOUT: u8 = 27;
    pub const CALLED_STATION_ID: u8 = 30;
    pub const CALLING_STATION_ID: u8 = 31;
    pub const NAS_IDENTIFIER: u8 = 32;
    pub const PROXY_STATE: u8 = 33;
    pub const ACCT_STATUS_TYPE: u8 = 40;
    pub const ACCT_DELAY_TIME: u8 = 41;
    pub const ACCT_INPUT_OCTETS: u8 = 42;
    pub const ACCT_OUTPUT_OCTETS: u8 = 43;
    pub const ACCT_SESSION_ID: u8 = 44;
    pub const ACCT_SESSION_TIME: u8 = 46;
    pub const ACCT_TERMINATE_CAUSE: u8 = 49;
    pub const EVENT_TIMESTAMP: u8 = 55;
    pub const CHAP_CHALLENGE: u8 = 60;
    pub const NAS_PORT_TYPE: u8 = 61;
    pub const EAP_MESSAGE: u8 = 79;
    pub const MESSAGE_AUTHENTICATOR: u8 = 80;
    pub const NAS_IPV6_ADDRESS: u8 = 95;
}

/// Microsoft vendor id and RFC 2548 / RFC 2759 vendor attribute types.
pub mod ms {
    pub const VENDOR_ID: u32 = 311;
    pub const MS_CHAP_RESPONSE: u8 = 1;
    pub const MS_CHAP_ERROR: u8 = 2;
    pub const MS_CHAP_CPW_1: u8 = 3;
    pub const MS_CHAP_CPW_2: u8 = 4;
    pub const MS_CHAP_LM_ENC_PW: u8 = 5;
    pub const MS_CHAP_NT_ENC_PW: u8 = 6;
    pub const MS_MPPE_ENCRYPTION_POLICY: u8 = 7;
    pub const MS_MPPE_ENCRYPTION_TYPES: u8 = 8;
    pub const MS_RAS_VENDOR: u8 = 9;
    pub const MS_CHAP_DOMAIN: u8 = 10;
    pub const MS_CHAP_CHALLENGE: u8 = 11;
    pub const MS_CHAP_MPPE_KEYS: u8 = 12;
    pub const MS_MPPE_SEND_KEY: u8 = 16;
    pub const MS_MPPE_RECV_KEY: u8 = 17;
    pub const MS_RAS_VERSION: u8 = 18;
    pub const MS_CHAP2_RESPONSE: u8 = 25;
    pub const MS_CHAP2_SUCCESS: u8 = 26;
    pub const MS_CHAP2_CPW: u8 = 27;
}

/// Vendor sub-attributes `(vendor type, value)` in wire order.
pub type VendorSubs<'a> = Vec<(u8, &'a [u8])>;

impl Attribute {
    /// An attribute; the caller keeps `value` ≤ 253 bytes.
    pub fn new(typ: u8, value: impl Into<Vec<u8>>) -> Self {
        Attribute {
            typ,
            value: value.into(),
        }
    }

    /// A Vendor-Specific attribute holding one vendor sub-attribute
    /// (RFC 2865 §5.26 format: vendor id, vendor type, vendor length, value).
    pub fn vendor_specific(vendor: u32, vtype: u8, value: &[u8]) -> Self {
        let mut v = Vec::with_capacity(6 + value.len());
        v.extend_from_slice(&vendor.to_be_bytes());
        v.push(vtype);
        v.push((value.len() + 2) as u8);
        v.extend_from_slice(value);
        Attribute {
            typ: types::VENDOR_SPECIFIC,
            value: v,
        }
    }

    /// For a Vendor-Specific attribute: the vendor id and its sub-attributes
    /// `(vendor type, value)`; `None` when this is not type 26 or the
    /// sub-attribute lengths do not add up exactly.
    pub fn vendor(&self) -> Option<(u32, VendorSubs<'_>)> {
        if self.typ != types::VENDOR_SPECIFIC || self.value.len() < 4 {
            return None;
        }
        let vendor =
            u32::from_be_bytes([self.value[0], self.value[1], self.value[2], self.value[3]]);
        let mut rest = &self.value[4..];
        let mut subs = Vec::new();
        while !rest.is_empty() {
            if rest.len() < 2 {
                return None;
            }
            let len = rest[1] as usize;
            if len < 2 || len > rest.len() {
                return None;
            }
            subs.push((rest[0], &rest[2..len]));
            rest = &rest[len..];
        }
        Some((vendor, subs))
    }
}
