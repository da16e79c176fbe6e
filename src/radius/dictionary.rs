//! The built-in dictionary: attribute names an admin writes in reply
//! attributes (`[[group]] reply`, `[[client]] reply`), their numbers, value
//! types and named values, and the encoding of a configured value.
//!
//! Standard attributes are those of RFC 2865/2866/2868/2869/3162/4372/4675/
//! 4818/6911 an Access-Accept carries; vendor attributes are those network
//! admins name most (privilege levels, roles, groups, policies). Numbers
//! and types agree with FreeRADIUS's dictionaries, which the tests decode
//! radotp's replies with.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::attribute::Attribute;

/// How a value is written on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text.
    Text,
    /// Raw bytes (written as text, or `0x` followed by hex).
    Octets,
    /// 32-bit unsigned integer, or one of the named values.
    Integer,
    /// IPv4 address.
    IpAddr,
    /// IPv6 address.
    Ipv6Addr,
    /// IPv6 prefix (`2001:db8::/48`), RFC 3162 §2.3.
    Ipv6Prefix,
}

/// One attribute of the dictionary.
#[derive(Debug, PartialEq, Eq)]
pub struct Def {
    /// The name, as FreeRADIUS spells it.
    pub name: &'static str,
    /// 0 for a standard attribute, else the vendor's SMI number.
    pub vendor: u32,
    /// The attribute (or vendor sub-attribute) type.
    pub typ: u8,
    /// The value type.
    pub kind: Kind,
    /// May appear more than once in a reply (values accumulate).
    pub multi: bool,
    /// Carries an RFC 2868 tag (`Tunnel-Type:1`).
    pub tagged: bool,
    /// Named integer values.
    pub values: &'static [(&'static str, u32)],
}

const fn a(name: &'static str, vendor: u32, typ: u8, kind: Kind) -> Def {
    Def {
        name,
        vendor,
        typ,
        kind,
        multi: false,
        tagged: false,
        values: &[],
    }
}

const fn multi(d: Def) -> Def {
    Def { multi: true, ..d }
}

const fn tagged(d: Def) -> Def {
    Def { tagged: true, ..d }
}

const fn named(d: Def, values: &'static [(&'static str, u32)]) -> Def {
    Def { values, ..d }
}

const SERVICE_TYPES: &[(&str, u32)] = &[
    ("Login-User", 1),
    ("Framed-User", 2),
    ("Callback-Login-User", 3),
    ("Callback-Framed-User", 4),
    ("Outbound-User", 5),
    ("Administrative-User", 6),
    ("NAS-Prompt-User", 7),
    ("Authenticate-Only", 8),
    ("Callback-NAS-Prompt", 9),
    ("Call-Check", 10),
    ("Callback-Administrative", 11),
];

const FRAMED_PROTOCOLS: &[(&str, u32)] = &[
    ("PPP", 1),
    ("SLIP", 2),
    ("ARAP", 3),
    ("Gandalf-SLML", 4),
    ("Xylogics-IPX-SLIP", 5),
    ("X.75-Synchronous", 6),
    ("GPRS-PDP-Context", 7),
];

const TERMINATION_ACTIONS: &[(&str, u32)] = &[("Default", 0), ("RADIUS-Request", 1)];

const TUNNEL_TYPES: &[(&str, u32)] = &[
    ("PPTP", 1),
    ("L2F", 2),
    ("L2TP", 3),
    ("ATMP", 4),
    ("VTP", 5),
    ("AH", 6),
    ("IP", 7),
    ("MIN-IP", 8),
    ("ESP", 9),
    ("GRE", 10),
    ("DVS", 11),
    ("IP-in-IP", 12),
    ("VLAN", 13),
];

const TUNNEL_MEDIUM_TYPES: &[(&str, u32)] = &[
    ("IPv4", 1),
    ("IPv6", 2),
    ("NSAP", 3),
    ("HDLC", 4),
    ("BBN-1822", 5),
    ("IEEE-802", 6),
    ("E.163", 7),
    ("E.164", 8),
    ("F.69", 9),
    ("X.121", 10),
    ("IPX", 11),
    ("Appletalk", 12),
    ("DecNet-IV", 13),
    ("Banyan-Vines", 14),
    ("E.164-NSAP", 15),
];

use Kind::*;

/// Every attribute radotp can name.
pub static BUILTIN: &[Def] = &[
    // RFC 2865
    a("User-Name", 0, 1, Text),
    named(a("Service-Type", 0, 6, Integer), SERVICE_TYPES),
    named(a("Framed-Protocol", 0, 7, Integer), FRAMED_PROTOCOLS),
    a("Framed-IP-Address", 0, 8, IpAddr),
    a("Framed-IP-Netmask", 0, 9, IpAddr),
    a("Framed-Routing", 0, 10, Integer),
    multi(a("Filter-Id", 0, 11, Text)),
    a("Framed-MTU", 0, 12, Integer),
    a("Framed-Compression", 0, 13, Integer),
    a("Login-IP-Host", 0, 14, IpAddr),
    a("Login-Service", 0, 15, Integer),
    a("Login-TCP-Port", 0, 16, Integer),
    multi(a("Reply-Message", 0, 18, Text)),
    a("Callback-Number", 0, 19, Text),
    a("Callback-Id", 0, 20, Text),
    multi(a("Framed-Route", 0, 22, Text)),
    multi(a("Class", 0, 25, Octets)),
    a("Session-Timeout", 0, 27, Integer),
    a("Idle-Timeout", 0, 28, Integer),
    named(a("Termination-Action", 0, 29, Integer), TERMINATION_ACTIONS),
    a("Port-Limit", 0, 62, Integer),
    // RFC 2868 (tagged)
    tagged(named(a("Tunnel-Type", 0, 64, Integer), TUNNEL_TYPES)),
    tagged(named(
        a("Tunnel-Medium-Type", 0, 65, Integer),
        TUNNEL_MEDIUM_TYPES,
    )),
    tagged(a("Tunnel-Client-Endpoint", 0, 66, Text)),
    tagged(a("Tunnel-Server-Endpoint", 0, 67, Text)),
    tagged(a("Tunnel-Private-Group-Id", 0, 81, Text)),
    tagged(a("Tunnel-Assignment-Id", 0, 82, Text)),
    tagged(a("Tunnel-Preference", 0, 83, Integer)),
    tagged(a("Tunnel-Client-Auth-Id", 0, 90, Text)),
    tagged(a("Tunnel-Server-Auth-Id", 0, 91, Text)),
    // RFC 2869
    a("Acct-Interim-Interval", 0, 85, Integer),
    a("Framed-Pool", 0, 88, Text),
    // RFC 4372
    a("Chargeable-User-Identity", 0, 89, Octets),
    // RFC 4675
    multi(a("Egress-VLANID", 0, 56, Integer)),
    a("Ingress-Filters", 0, 57, Integer),
    multi(a("Egress-VLAN-Name", 0, 58, Text)),
    // RFC 3162, 4818, 6911
    a("Framed-IPv6-Prefix", 0, 97, Ipv6Prefix),
    multi(a("Framed-IPv6-Route", 0, 99, Text)),
    a("Framed-IPv6-Pool", 0, 100, Text),
    a("Delegated-IPv6-Prefix", 0, 123, Ipv6Prefix),
    a("Framed-IPv6-Address", 0, 168, Ipv6Addr),
    // Vendors
    multi(a("Cisco-AVPair", 9, 1, Text)),
    a("ASA-Group-Policy", 3076, 25, Text),
    a("Juniper-Local-User-Name", 2636, 1, Text),
    a("Fortinet-Group-Name", 12356, 1, Text),
    a("Fortinet-Access-Profile", 12356, 6, Text),
    a("PaloAlto-Admin-Role", 25461, 1, Text),
    a("PaloAlto-User-Group", 25461, 5, Text),
    a("Aruba-User-Role", 14823, 1, Text),
    a("Aruba-Admin-Role", 14823, 4, Text),
    multi(a("Arista-AVPair", 30065, 1, Text)),
    a("HP-Privilege-Level", 11, 1, Integer),
    a("Huawei-Exec-Privilege", 2011, 29, Integer),
    a("Mikrotik-Group", 14988, 3, Text),
    a("Citrix-Group-Names", 66, 14, Text),
    a("F5-LTM-User-Role", 3375, 1, Integer),
];

/// The attribute named `name` (case-insensitive, as FreeRADIUS matches).
pub fn lookup(name: &str) -> Option<&'static Def> {
    BUILTIN.iter().find(|d| d.name.eq_ignore_ascii_case(name))
}

/// A configured reply value, ready to be put in an Accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// What it is.
    pub def: &'static Def,
    /// The wire value (with the tag octet of a tagged attribute).
    pub value: Vec<u8>,
}

impl Reply {
    /// Parses `key = value` as written in the config: `key` is an attribute
    /// name, with `:TAG` (1-31) for a tagged one; the value is text or an
    /// integer. The error says what was expected.
    pub fn parse(key: &str, value: &ConfigValue<'_>) -> Result<Reply, String> {
        let (name, tag) = match key.rsplit_once(':') {
            Some((n, t)) if t.chars().all(|c| c.is_ascii_digit()) && !t.is_empty() => {
                let tag: u8 = t
                    .parse()
                    .ok()
                    .filter(|t| (1..=0x1f).contains(t))
                    .ok_or_else(|| format!("tag of '{key}' must be 1 to 31"))?;
                (n, Some(tag))
            }
            _ => (key, None),
        };
        let def = lookup(name).ok_or_else(|| {
            format!("unknown attribute '{name}' (see the list of attribute names in README.md)")
        })?;
        if tag.is_some() && !def.tagged {
            return Err(format!("'{}' takes no tag", def.name));
        }
        let mut wire = match (def.kind, value) {
            (Text, ConfigValue::Text(s)) => s.as_bytes().to_vec(),
            (Octets, ConfigValue::Text(s)) => match s.strip_prefix("0x") {
                Some(hex) => data_encoding::HEXLOWER_PERMISSIVE
                    .decode(hex.as_bytes())
                    .map_err(|_| format!("'{}': '0x...' must be hex digits", def.name))?,
                None => s.as_bytes().to_vec(),
            },
            (Integer, ConfigValue::Int(n)) => u32::try_from(*n)
                .map_err(|_| format!("'{}' must be 0 to 4294967295", def.name))?
                .to_be_bytes()
                .to_vec(),
            (Integer, ConfigValue::Text(s)) => {
                let n = def
                    .values
                    .iter()
                    .find(|(v, _)| v.eq_ignore_ascii_case(s))
                    .map(|(_, n)| *n)
                    .or_else(|| s.parse().ok())
                    .ok_or_else(|| {
                        let names: Vec<&str> = def.values.iter().map(|(v, _)| *v).collect();
                        if names.is_empty() {
                            format!("'{}' takes an integer", def.name)
                        } else {
                            format!(
                                "'{s}' is not a value of '{}': expected an integer or one of {}",
                                def.name,
                                names.join(", ")
                            )
                        }
                    })?;
                n.to_be_bytes().to_vec()
            }
            (IpAddr, ConfigValue::Text(s)) => s
                .parse::<Ipv4Addr>()
                .map_err(|_| format!("'{}' takes an IPv4 address", def.name))?
                .octets()
                .to_vec(),
            (Ipv6Addr, ConfigValue::Text(s)) => s
                .parse::<Ipv6Addr>()
                .map_err(|_| format!("'{}' takes an IPv6 address", def.name))?
                .octets()
                .to_vec(),
            (Ipv6Prefix, ConfigValue::Text(s)) => {
                let net: ipnet::Ipv6Net = s.parse().map_err(|_| {
                    format!("'{}' takes an IPv6 prefix like 2001:db8::/48", def.name)
                })?;
                let len = net.prefix_len();
                let bytes = usize::from(len).div_ceil(8);
                let mut v = vec![0, len];
                v.extend_from_slice(&net.trunc().addr().octets()[..bytes]);
                v
            }
            (_, ConfigValue::Int(_)) => {
                return Err(format!("'{}' takes text, not an integer", def.name))
            }
        };
        if def.tagged {
            let t = tag.unwrap_or(0);
            match def.kind {
                // RFC 2868 §3.1/3.2: the tag replaces the integer's top octet.
                Integer => {
                    if wire[0] != 0 {
                        return Err(format!("'{}' must be under 16777216", def.name));
                    }
                    wire[0] = t;
                }
                // Text: the tag octet only when there is a tag (§3.5).
                _ => {
                    if let Some(t) = tag {
                        wire.insert(0, t);
                    }
                }
            }
        }
        let max = if def.vendor == 0 { 253 } else { 247 };
        if wire.is_empty() && def.kind != Octets {
            return Err(format!("'{}' may not be empty", def.name));
        }
        if wire.len() > max {
            return Err(format!(
                "value of '{}' is {} bytes; at most {max} fit in one attribute",
                def.name,
                wire.len()
            ));
        }
        Ok(Reply { def, value: wire })
    }

    /// The attribute as it goes on the wire.
    pub fn attribute(&self) -> Attribute {
        if self.def.vendor == 0 {
            Attribute::new(self.def.typ, self.value.clone())
        } else {
            Attribute::vendor_specific(self.def.vendor, self.def.typ, &self.value)
        }
    }

    /// Bytes the attribute takes in a packet.
    pub fn wire_len(&self) -> usize {
        self.value.len() + if self.def.vendor == 0 { 2 } else { 8 }
    }
}

/// A value as the config gives it.
#[derive(Debug, Clone, Copy)]
pub enum ConfigValue<'a> {
    /// A TOML string.
    Text(&'a str),
    /// A TOML integer.
    Int(i64),
}

/// Merges reply lists from the most to the least specific source: a
/// single-valued attribute is taken from the first source that sets it; a
/// multi-valued one accumulates in order.
pub fn merge<'a>(sources: impl IntoIterator<Item = &'a [Reply]>) -> Vec<&'a Reply> {
    let mut out: Vec<&Reply> = Vec::new();
    for list in sources {
        let before = out.len();
        for r in list {
            let taken = out[..before]
                .iter()
                .any(|o| std::ptr::eq(o.def, r.def) && !r.def.multi);
            if !taken {
                out.push(r);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(k: &str, v: ConfigValue<'_>) -> Result<Reply, String> {
        Reply::parse(k, &v)
    }

    #[test]
    fn rfc2865_5_6_service_type_by_name_and_number() {
        let r = parse("Service-Type", ConfigValue::Text("Administrative-User")).unwrap();
        assert_eq!(r.attribute(), Attribute::new(6, vec![0, 0, 0, 6]));
        let n = parse("service-type", ConfigValue::Int(6)).unwrap();
        assert_eq!(n, r);
        let e = parse("Service-Type", ConfigValue::Text("Root")).unwrap_err();
        assert!(e.contains("Administrative-User"), "{e}");
    }

    #[test]
    fn rfc2865_5_26_vendor_attribute_is_wrapped_in_vendor_specific() {
        let r = parse("Cisco-AVPair", ConfigValue::Text("shell:priv-lvl=15")).unwrap();
        let attr = r.attribute();
        assert_eq!(attr.typ, 26);
        let mut want = vec![0, 0, 0, 9, 1, 19];
        want.extend_from_slice(b"shell:priv-lvl=15");
        assert_eq!(attr.value, want);
        assert_eq!(r.wire_len(), 2 + want.len());
    }

    #[test]
    fn rfc2868_3_1_tagged_integer_and_text() {
        let t = parse("Tunnel-Type:1", ConfigValue::Text("VLAN")).unwrap();
        assert_eq!(t.value, vec![1, 0, 0, 13]);
        let untagged = parse("Tunnel-Medium-Type", ConfigValue::Text("IEEE-802")).unwrap();
        assert_eq!(untagged.value, vec![0, 0, 0, 6]);
        let g = parse("Tunnel-Private-Group-Id:1", ConfigValue::Text("100")).unwrap();
        assert_eq!(g.value, b"\x01100".to_vec());
        assert!(parse("Tunnel-Type:32", ConfigValue::Int(13)).is_err());
        assert!(parse("Session-Timeout:1", ConfigValue::Int(1)).is_err());
        assert!(parse("Tunnel-Type:1", ConfigValue::Int(1 << 24)).is_err());
    }

    #[test]
    fn rfc3162_2_3_ipv6_prefix_and_addresses() {
        let p = parse("Framed-IPv6-Prefix", ConfigValue::Text("2001:db8:1::/48")).unwrap();
        assert_eq!(p.value, vec![0, 48, 0x20, 0x01, 0x0d, 0xb8, 0, 1]);
        let a4 = parse("Framed-IP-Address", ConfigValue::Text("10.0.0.5")).unwrap();
        assert_eq!(a4.value, vec![10, 0, 0, 5]);
        assert!(parse("Framed-IP-Address", ConfigValue::Text("10.0.0")).is_err());
        assert!(parse("Framed-IP-Address", ConfigValue::Int(5)).is_err());
    }

    #[test]
    fn unknown_names_wrong_types_and_overlong_values_are_errors() {
        assert!(parse("Cisco-Nonsense", ConfigValue::Text("x"))
            .unwrap_err()
            .contains("unknown attribute"));
        assert!(parse("Session-Timeout", ConfigValue::Int(-1)).is_err());
        assert!(parse("Filter-Id", ConfigValue::Text("")).is_err());
        let long = "x".repeat(248);
        assert!(parse("Filter-Id", ConfigValue::Text(&long)).is_ok());
        assert!(parse("Cisco-AVPair", ConfigValue::Text(&long)).is_err());
        assert!(parse("Class", ConfigValue::Text("0xzz")).is_err());
    }

    #[test]
    fn merge_single_valued_first_source_wins_multi_valued_accumulate() {
        let p = |k: &str, v: &str| parse(k, ConfigValue::Text(v)).unwrap();
        let user = [p("Session-Timeout", "60")];
        let group = [
            p("Session-Timeout", "600"),
            p("Cisco-AVPair", "shell:priv-lvl=15"),
        ];
        let client = [p("Cisco-AVPair", "a=b"), p("Idle-Timeout", "30")];
        let merged = merge([&user[..], &group[..], &client[..]]);
        let got: Vec<(&str, &[u8])> = merged
            .iter()
            .map(|r| (r.def.name, r.value.as_slice()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("Session-Timeout", &60u32.to_be_bytes()[..]),
                ("Cisco-AVPair", b"shell:priv-lvl=15"),
                ("Cisco-AVPair", b"a=b"),
                ("Idle-Timeout", &30u32.to_be_bytes()[..]),
            ]
        );
    }

    #[test]
    fn dictionary_names_are_unique() {
        for (i, d) in BUILTIN.iter().enumerate() {
            assert!(
                BUILTIN[..i]
                    .iter()
                    .all(|o| !o.name.eq_ignore_ascii_case(d.name)
                        && (o.vendor, o.typ) != (d.vendor, d.typ)),
                "{} appears twice",
                d.name
            );
        }
    }
}
