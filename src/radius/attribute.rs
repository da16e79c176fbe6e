//! Attributes and Vendor-Specific attributes (Microsoft, vendor 311).
//!
//! An [`Attribute`] is the type octet and the raw value (RFC 2865 §5). The
//! codec keeps values as bytes; the typed accessors here read the common
//! value shapes (integer, IPv4 address) without panicking, and
//! [`Attribute::vendor`] splits a Vendor-Specific attribute into its
//! sub-attributes (RFC 2865 §5.26, RFC 2548 for Microsoft).

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
    /// User-Name (RFC 2865 §5.1), text.
    pub const USER_NAME: u8 = 1;
    /// User-Password (RFC 2865 §5.2), hidden string.
    pub const USER_PASSWORD: u8 = 2;
    /// CHAP-Password (RFC 2865 §5.3): CHAP ident and 16-byte response.
    pub const CHAP_PASSWORD: u8 = 3;
    /// NAS-IP-Address (RFC 2865 §5.4), IPv4 address.
    pub const NAS_IP_ADDRESS: u8 = 4;
    /// NAS-Port (RFC 2865 §5.5), integer.
    pub const NAS_PORT: u8 = 5;
    /// Service-Type (RFC 2865 §5.6), integer.
    pub const SERVICE_TYPE: u8 = 6;
    /// Framed-Protocol (RFC 2865 §5.7), integer.
    pub const FRAMED_PROTOCOL: u8 = 7;
    /// Reply-Message (RFC 2865 §5.18), text.
    pub const REPLY_MESSAGE: u8 = 18;
    /// State (RFC 2865 §5.24), string echoed by the client.
    pub const STATE: u8 = 24;
    /// Class (RFC 2865 §5.25), string.
    pub const CLASS: u8 = 25;
    /// Vendor-Specific (RFC 2865 §5.26).
    pub const VENDOR_SPECIFIC: u8 = 26;
    /// Session-Timeout (RFC 2865 §5.27), integer seconds.
    pub const SESSION_TIMEOUT: u8 = 27;
    /// Called-Station-Id (RFC 2865 §5.30), text.
    pub const CALLED_STATION_ID: u8 = 30;
    /// Calling-Station-Id (RFC 2865 §5.31), text.
    pub const CALLING_STATION_ID: u8 = 31;
    /// NAS-Identifier (RFC 2865 §5.32), text.
    pub const NAS_IDENTIFIER: u8 = 32;
    /// Proxy-State (RFC 2865 §5.33), copied unchanged into the reply.
    pub const PROXY_STATE: u8 = 33;
    /// Acct-Status-Type (RFC 2866 §5.1), integer.
    pub const ACCT_STATUS_TYPE: u8 = 40;
    /// Acct-Delay-Time (RFC 2866 §5.2), integer.
    pub const ACCT_DELAY_TIME: u8 = 41;
    /// Acct-Input-Octets (RFC 2866 §5.3), integer.
    pub const ACCT_INPUT_OCTETS: u8 = 42;
    /// Acct-Output-Octets (RFC 2866 §5.4), integer.
    pub const ACCT_OUTPUT_OCTETS: u8 = 43;
    /// Acct-Session-Id (RFC 2866 §5.5), text.
    pub const ACCT_SESSION_ID: u8 = 44;
    /// Acct-Session-Time (RFC 2866 §5.7), integer.
    pub const ACCT_SESSION_TIME: u8 = 46;
    /// Acct-Terminate-Cause (RFC 2866 §5.10), integer.
    pub const ACCT_TERMINATE_CAUSE: u8 = 49;
    /// Event-Timestamp (RFC 2869 §5.3), seconds since 1970.
    pub const EVENT_TIMESTAMP: u8 = 55;
    /// CHAP-Challenge (RFC 2865 §5.40), string.
    pub const CHAP_CHALLENGE: u8 = 60;
    /// NAS-Port-Type (RFC 2865 §5.41), integer.
    pub const NAS_PORT_TYPE: u8 = 61;
    /// EAP-Message (RFC 3579 §3.1), string.
    pub const EAP_MESSAGE: u8 = 79;
    /// Message-Authenticator (RFC 3579 §3.2), 16-byte HMAC-MD5.
    pub const MESSAGE_AUTHENTICATOR: u8 = 80;
    /// NAS-IPv6-Address (RFC 3162 §2.1), IPv6 address.
    pub const NAS_IPV6_ADDRESS: u8 = 95;
}

/// Microsoft vendor id and RFC 2548 / RFC 2759 vendor attribute types.
pub mod ms {
    /// The Microsoft SMI network management private enterprise code.
    pub const VENDOR_ID: u32 = 311;
    /// MS-CHAP-Response (RFC 2548 §2.1.3).
    pub const MS_CHAP_RESPONSE: u8 = 1;
    /// MS-CHAP-Error (RFC 2548 §2.1.5).
    pub const MS_CHAP_ERROR: u8 = 2;
    /// MS-CHAP-CPW-1 (RFC 2548 §2.1.6).
    pub const MS_CHAP_CPW_1: u8 = 3;
    /// MS-CHAP-CPW-2 (RFC 2548 §2.1.7).
    pub const MS_CHAP_CPW_2: u8 = 4;
    /// MS-CHAP-LM-Enc-PW (RFC 2548 §2.1.8).
    pub const MS_CHAP_LM_ENC_PW: u8 = 5;
    /// MS-CHAP-NT-Enc-PW (RFC 2548 §2.1.9).
    pub const MS_CHAP_NT_ENC_PW: u8 = 6;
    /// MS-MPPE-Encryption-Policy (RFC 2548 §2.4.4).
    pub const MS_MPPE_ENCRYPTION_POLICY: u8 = 7;
    /// MS-MPPE-Encryption-Types (RFC 2548 §2.4.5).
    pub const MS_MPPE_ENCRYPTION_TYPES: u8 = 8;
    /// MS-RAS-Vendor (RFC 2548 §2.2.1).
    pub const MS_RAS_VENDOR: u8 = 9;
    /// MS-CHAP-Domain (RFC 2548 §2.1.4).
    pub const MS_CHAP_DOMAIN: u8 = 10;
    /// MS-CHAP-Challenge (RFC 2548 §2.1.2).
    pub const MS_CHAP_CHALLENGE: u8 = 11;
    /// MS-CHAP-MPPE-Keys (RFC 2548 §2.4.1).
    pub const MS_CHAP_MPPE_KEYS: u8 = 12;
    /// MS-MPPE-Send-Key (RFC 2548 §2.4.2).
    pub const MS_MPPE_SEND_KEY: u8 = 16;
    /// MS-MPPE-Recv-Key (RFC 2548 §2.4.3).
    pub const MS_MPPE_RECV_KEY: u8 = 17;
    /// MS-RAS-Version (RFC 2548 §2.2.2).
    pub const MS_RAS_VERSION: u8 = 18;
    /// MS-CHAP2-Response (RFC 2548 §2.3.2).
    pub const MS_CHAP2_RESPONSE: u8 = 25;
    /// MS-CHAP2-Success (RFC 2548 §2.3.3).
    pub const MS_CHAP2_SUCCESS: u8 = 26;
    /// MS-CHAP2-CPW (RFC 2548 §2.3.4).
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

    /// An attribute holding a 32-bit integer (RFC 2865 §5 "integer").
    pub fn from_u32(typ: u8, value: u32) -> Self {
        Attribute::new(typ, value.to_be_bytes())
    }

    /// The value as a 32-bit integer; `None` unless it is exactly 4 bytes.
    pub fn as_u32(&self) -> Option<u32> {
        let b: [u8; 4] = self.value.as_slice().try_into().ok()?;
        Some(u32::from_be_bytes(b))
    }

    /// An attribute holding an IPv4 address (RFC 2865 §5 "address").
    pub fn from_ipv4(typ: u8, addr: std::net::Ipv4Addr) -> Self {
        Attribute::new(typ, addr.octets())
    }

    /// The value as an IPv4 address; `None` unless it is exactly 4 bytes.
    pub fn as_ipv4(&self) -> Option<std::net::Ipv4Addr> {
        let b: [u8; 4] = self.value.as_slice().try_into().ok()?;
        Some(std::net::Ipv4Addr::from(b))
    }

    /// A Vendor-Specific attribute holding one vendor sub-attribute
    /// (RFC 2865 §5.26 format: vendor id, vendor type, vendor length, value).
    /// The caller keeps `value` ≤ 247 bytes so that the whole attribute fits;
    /// [`Packet::encode`](super::Packet::encode) rejects anything longer.
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
        if self.typ != types::VENDOR_SPECIFIC {
            return None;
        }
        let (vendor, mut rest) = self.value.split_first_chunk::<4>()?;
        let mut subs = Vec::new();
        while !rest.is_empty() {
            let (vtype, len) = match rest {
                [t, l, ..] => (*t, usize::from(*l)),
                _ => return None,
            };
            if len < 2 {
                return None;
            }
            subs.push((vtype, rest.get(2..len)?));
            rest = rest.get(len..)?;
        }
        Some((u32::from_be_bytes(*vendor), subs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radius::packet::{Code, Packet};
    use std::net::Ipv4Addr;

    /// Encodes one attribute in an Access-Accept, decodes it back and
    /// returns the wire bytes of the attribute.
    fn round_trip(a: &Attribute) -> Vec<u8> {
        let mut p = Packet::new(Code::AccessAccept, 1, [0; 16]);
        p.attributes.push(a.clone());
        let raw = p.encode().unwrap();
        let d = Packet::decode(&raw).unwrap();
        assert_eq!(d.attributes, std::slice::from_ref(a));
        raw[20..].to_vec()
    }

    #[test]
    fn rfc2865_5_text_round_trip() {
        let a = Attribute::new(types::REPLY_MESSAGE, "héllo".as_bytes());
        let wire = round_trip(&a);
        assert_eq!(wire[..2], [18, 2 + 6]);
        assert_eq!(&wire[2..], "héllo".as_bytes());
    }

    #[test]
    fn rfc2865_5_integer_round_trip() {
        let a = Attribute::from_u32(types::SESSION_TIMEOUT, 3600);
        assert_eq!(round_trip(&a), [27, 6, 0, 0, 0x0e, 0x10]);
        assert_eq!(a.as_u32(), Some(3600));
        assert_eq!(Attribute::new(27, vec![1, 2, 3]).as_u32(), None);
        assert_eq!(Attribute::new(27, vec![1, 2, 3, 4, 5]).as_u32(), None);
    }

    #[test]
    fn rfc2865_5_address_round_trip() {
        let a = Attribute::from_ipv4(types::NAS_IP_ADDRESS, Ipv4Addr::new(192, 168, 1, 16));
        assert_eq!(round_trip(&a), [4, 6, 192, 168, 1, 16]);
        assert_eq!(a.as_ipv4(), Some(Ipv4Addr::new(192, 168, 1, 16)));
        assert_eq!(Attribute::new(4, Vec::new()).as_ipv4(), None);
    }

    #[test]
    fn rfc3162_ipv6_address_round_trip() {
        let addr: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
        let a = Attribute::new(types::NAS_IPV6_ADDRESS, addr.octets());
        let wire = round_trip(&a);
        assert_eq!(wire[..2], [95, 18]);
        assert_eq!(wire[2..], addr.octets());
    }

    #[test]
    fn rfc2865_5_empty_and_longest_values_round_trip() {
        assert_eq!(
            round_trip(&Attribute::new(types::CLASS, Vec::new())),
            [25, 2]
        );
        let longest = Attribute::new(types::CLASS, vec![0xab; 253]);
        let wire = round_trip(&longest);
        assert_eq!(wire[..2], [25, 255]);
        assert_eq!(wire.len(), 255);
    }

    #[test]
    fn rfc2865_5_26_vendor_specific_round_trip_and_parse() {
        let a = Attribute::vendor_specific(ms::VENDOR_ID, ms::MS_CHAP2_SUCCESS, b"\x01S=AB");
        let wire = round_trip(&a);
        assert_eq!(wire[..8], [26, 2 + 4 + 2 + 5, 0, 0, 1, 0x37, 26, 2 + 5]);
        let (vendor, subs) = a.vendor().unwrap();
        assert_eq!(vendor, 311);
        assert_eq!(subs, [(26u8, &b"\x01S=AB"[..])]);
    }

    #[test]
    fn rfc2865_5_26_several_sub_attributes_and_empty_ones() {
        let mut v = 9u32.to_be_bytes().to_vec();
        v.extend_from_slice(&[1, 4, b'a', b'b', 2, 2, 3, 3, b'c']);
        let a = Attribute::new(types::VENDOR_SPECIFIC, v);
        round_trip(&a);
        let (vendor, subs) = a.vendor().unwrap();
        assert_eq!(vendor, 9);
        assert_eq!(subs, [(1u8, &b"ab"[..]), (2, &b""[..]), (3, &b"c"[..])]);
        // Only a vendor id: no sub-attributes.
        let bare = Attribute::new(types::VENDOR_SPECIFIC, 9u32.to_be_bytes());
        assert_eq!(bare.vendor(), Some((9, Vec::new())));
    }

    #[test]
    fn rfc2865_5_26_vendor_rejects_what_does_not_add_up() {
        for bad in [
            &[0u8, 0, 0][..],
            &[0, 0, 0, 9, 1][..],
            &[0, 0, 0, 9, 1, 1][..],
            &[0, 0, 0, 9, 1, 5, 0][..],
            &[0, 0, 0, 9, 1, 2, 7][..],
        ] {
            assert_eq!(Attribute::new(26, bad.to_vec()).vendor(), None, "{bad:?}");
        }
        // Not a Vendor-Specific attribute at all.
        assert_eq!(Attribute::new(25, vec![0, 0, 0, 9]).vendor(), None);
    }

    #[test]
    fn packet_vendor_attr_finds_sub_attributes_across_attributes() {
        let mut p = Packet::new(Code::AccessRequest, 1, [0; 16]);
        p.push_vendor(9, 1, b"cisco");
        p.push_vendor(ms::VENDOR_ID, ms::MS_CHAP_CHALLENGE, &[7; 16]);
        p.push_vendor(ms::VENDOR_ID, ms::MS_CHAP2_RESPONSE, &[8; 50]);
        assert_eq!(p.vendor_attr(9, 1), Some(&b"cisco"[..]));
        assert_eq!(
            p.vendor_attr(ms::VENDOR_ID, ms::MS_CHAP2_RESPONSE),
            Some(&[8u8; 50][..])
        );
        assert_eq!(p.vendor_attr(ms::VENDOR_ID, 1), None);
        assert_eq!(Packet::decode(&p.encode().unwrap()), Ok(p));
    }
}
