//! The dictionary: attribute names an admin writes in reply attributes
//! (`[[group]] reply`, `[[client]] reply`, `radotp user set --reply`), their
//! numbers, value types, flags and named values; the encoding of a
//! configured value and the decoding of a received one.
//!
//! Built in are the attributes of RFC 2865/2866/2868/2869/3162/4372/4675/
//! 4818/6911 an Access-Accept carries, and the vendor attributes network
//! admins name most (privilege levels, roles, groups, policies). Their
//! numbers and types agree with FreeRADIUS's dictionaries, which a test
//! checks. `[server] dictionary_dirs` adds every attribute of
//! FreeRADIUS-format dictionary files ([`super::dictfile`]); a name the
//! built-in table knows keeps its built-in meaning.
//!
//! A [`Dictionary`] is built once per config load and shared (`Arc`) by the
//! replies compiled from it, so that a reload with other files never
//! changes a reply already compiled.

use std::collections::HashMap;
use std::net::{IpAddr as StdIpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use super::attribute::Attribute;

/// How a value is written on the wire (RFC 8044 data types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text.
    Text,
    /// Raw bytes (written as text, or `0x` followed by hex).
    Octets,
    /// 32-bit unsigned integer, or a named value.
    Integer,
    /// 8-bit unsigned integer.
    Byte,
    /// 16-bit unsigned integer.
    Short,
    /// 32-bit signed integer.
    Signed,
    /// 64-bit unsigned integer.
    Integer64,
    /// Seconds since 1970, 32 bits.
    Date,
    /// IPv4 address.
    IpAddr,
    /// IPv6 address.
    Ipv6Addr,
    /// IPv6 prefix (RFC 3162 §2.3).
    Ipv6Prefix,
    /// IPv4 prefix (RFC 6572 §4.1).
    Ipv4Prefix,
    /// IPv4 or IPv6 address, by the value.
    ComboIp,
    /// 6-byte MAC address.
    Ether,
    /// 8-byte interface id (RFC 3162 §2.1).
    Ifid,
    /// A type radotp does not encode (tlv, extended, abinary, ...): the
    /// name is known, a reply with it is refused.
    Unsupported,
}

impl Kind {
    /// The FreeRADIUS name of a type, as in a dictionary file.
    pub fn from_freeradius(t: &str) -> Option<Kind> {
        let t = t.to_ascii_lowercase();
        let base = t.split('[').next().unwrap_or("");
        Some(match base {
            "string" => Kind::Text,
            "octets" => Kind::Octets,
            "integer" | "uint32" => Kind::Integer,
            "byte" | "uint8" => Kind::Byte,
            "short" | "uint16" => Kind::Short,
            "signed" | "int32" => Kind::Signed,
            "integer64" | "uint64" => Kind::Integer64,
            "date" => Kind::Date,
            "ipaddr" | "ipv4addr" => Kind::IpAddr,
            "ipv6addr" => Kind::Ipv6Addr,
            "ipv6prefix" => Kind::Ipv6Prefix,
            "ipv4prefix" => Kind::Ipv4Prefix,
            "combo-ip" => Kind::ComboIp,
            "ether" => Kind::Ether,
            "ifid" => Kind::Ifid,
            "abinary" | "tlv" | "vsa" | "extended" | "long-extended" | "evs" | "struct"
            | "group" => Kind::Unsupported,
            _ => return None,
        })
    }
}

/// One attribute of the dictionary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Def {
    /// The name, as FreeRADIUS spells it.
    pub name: String,
    /// 0 for a standard attribute, else the vendor's SMI number.
    pub vendor: u32,
    /// The attribute (or vendor sub-attribute) number.
    pub typ: u32,
    /// How its value is written.
    pub kind: Kind,
    /// May appear more than once in a reply (values accumulate).
    pub multi: bool,
    /// Takes an RFC 2868 tag (`Name:1`).
    pub tagged: bool,
    /// 0: clear; 1: hidden as User-Password (RFC 2865 §5.2); 2: salted as
    /// Tunnel-Password (RFC 2868 §3.5); 3: a method radotp does not do.
    pub encrypt: u8,
    /// Named values of an integer attribute.
    pub values: Vec<(String, u64)>,
    /// The vendor's sub-attribute format: octets of type and of length
    /// (RFC 2865 §5.26 suggests 1 and 1); `None`: a format radotp does not
    /// encode (e.g. WiMAX continuation).
    pub vsa_format: Option<(u8, u8)>,
}

/// A compact built-in entry (turned into a [`Def`] once).
struct Spec {
    name: &'static str,
    vendor: u32,
    typ: u8,
    kind: Kind,
    multi: bool,
    tagged: bool,
    encrypt: u8,
    values: &'static [(&'static str, u32)],
}

const fn a(name: &'static str, vendor: u32, typ: u8, kind: Kind) -> Spec {
    Spec {
        name,
        vendor,
        typ,
        kind,
        multi: false,
        tagged: false,
        encrypt: 0,
        values: &[],
    }
}

const fn multi(d: Spec) -> Spec {
    Spec { multi: true, ..d }
}

const fn tagged(d: Spec) -> Spec {
    Spec { tagged: true, ..d }
}

const fn encrypted(d: Spec, how: u8) -> Spec {
    Spec { encrypt: how, ..d }
}

const fn named(d: Spec, values: &'static [(&'static str, u32)]) -> Spec {
    Spec { values, ..d }
}

use Kind::*;

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

/// Every attribute radotp can name.
static BUILTIN: &[Spec] = &[
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
    // RFC 2868 §3.5: salted with the request authenticator.
    encrypted(tagged(a("Tunnel-Password", 0, 69, Text)), 2),
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
    a("Cisco-Account-Info", 9, 250, Text),
    a("ASA-Group-Policy", 3076, 25, Text),
    a("ASA-Address-Pools", 3076, 217, Text),
    a("ASA-Privilege-Level", 3076, 220, Integer),
    a("ASA-Simultaneous-Logins", 3076, 2, Integer),
    a("CVPN3000-Primary-DNS", 3076, 5, IpAddr),
    a("MS-MPPE-Encryption-Policy", 311, 7, Integer),
    a("MS-MPPE-Encryption-Types", 311, 8, Integer),
    a("MS-Primary-DNS-Server", 311, 28, IpAddr),
    a("MS-Secondary-DNS-Server", 311, 29, IpAddr),
    a("MS-Primary-NBNS-Server", 311, 30, IpAddr),
    a("MS-Secondary-NBNS-Server", 311, 31, IpAddr),
    a("Juniper-Local-User-Name", 2636, 1, Text),
    multi(a("Juniper-Allow-Commands", 2636, 2, Text)),
    multi(a("Juniper-Deny-Commands", 2636, 3, Text)),
    a("Fortinet-Group-Name", 12356, 1, Text),
    a("Fortinet-Access-Profile", 12356, 6, Text),
    a("Fortinet-Vdom-Name", 12356, 3, Text),
    a("PaloAlto-Admin-Role", 25461, 1, Text),
    a("PaloAlto-Admin-Access-Domain", 25461, 2, Text),
    a("PaloAlto-Panorama-Admin-Role", 25461, 3, Text),
    a("PaloAlto-User-Group", 25461, 5, Text),
    a("Aruba-User-Role", 14823, 1, Text),
    a("Aruba-User-Vlan", 14823, 2, Integer),
    a("Aruba-Admin-Role", 14823, 4, Text),
    multi(a("Arista-AVPair", 30065, 1, Text)),
    a("HP-Privilege-Level", 11, 1, Integer),
    multi(a("HP-Command-String", 11, 2, Text)),
    a("Huawei-Exec-Privilege", 2011, 29, Integer),
    a("Mikrotik-Group", 14988, 3, Text),
    a("Mikrotik-Rate-Limit", 14988, 8, Text),
    a("Citrix-Group-Names", 66, 14, Text),
    a("F5-LTM-User-Role", 3375, 1, Integer),
    a("F5-LTM-User-Partition", 3375, 3, Text),
    a("CP-Gaia-User-Role", 2620, 229, Text),
    a("CP-Gaia-SuperUser-Access", 2620, 230, Integer),
    a("SonicWall-User-Privilege", 8741, 1, Integer),
    multi(a("SonicWall-User-Group", 8741, 3, Text)),
];

/// A set of attribute definitions: the built-in ones and those of any
/// dictionary files loaded.
#[derive(Default)]
pub struct Dictionary {
    by_name: HashMap<String, Arc<Def>>,
    by_number: HashMap<(u32, u32), Arc<Def>>,
    /// The files read (for `config check`).
    pub files: Vec<PathBuf>,
}

impl std::fmt::Debug for Dictionary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dictionary")
            .field("attributes", &self.by_name.len())
            .field("files", &self.files.len())
            .finish()
    }
}

static BUILTIN_DICT: LazyLock<Arc<Dictionary>> = LazyLock::new(|| {
    let mut d = Dictionary::default();
    for s in BUILTIN {
        d.add(Def {
            name: s.name.to_string(),
            vendor: s.vendor,
            typ: u32::from(s.typ),
            kind: s.kind,
            multi: s.multi,
            tagged: s.tagged,
            encrypt: s.encrypt,
            values: s
                .values
                .iter()
                .map(|(n, v)| (n.to_string(), u64::from(*v)))
                .collect(),
            vsa_format: Some((1, 1)),
        });
    }
    Arc::new(d)
});

impl Dictionary {
    /// The built-in attributes alone.
    pub fn builtin() -> Arc<Dictionary> {
        BUILTIN_DICT.clone()
    }

    /// The built-in attributes and a copy to add to.
    pub fn builtin_copy() -> Dictionary {
        Dictionary {
            by_name: BUILTIN_DICT.by_name.clone(),
            by_number: BUILTIN_DICT.by_number.clone(),
            files: Vec::new(),
        }
    }

    /// Adds `def` unless its name is taken (the first definition wins, so
    /// built-in names keep their meaning); its number is recorded for
    /// decoding unless taken too (aliases decode to the first name).
    pub fn add(&mut self, def: Def) -> bool {
        let key = def.name.to_ascii_lowercase();
        if self.by_name.contains_key(&key) {
            return false;
        }
        let def = Arc::new(def);
        if def.kind != Kind::Unsupported {
            self.by_number
                .entry((def.vendor, def.typ))
                .or_insert_with(|| def.clone());
        }
        self.by_name.insert(key, def);
        true
    }

    /// The attribute named `name` (case-insensitive, as FreeRADIUS matches).
    pub fn lookup(&self, name: &str) -> Option<&Arc<Def>> {
        self.by_name.get(&name.to_ascii_lowercase())
    }

    /// The attribute with this vendor and number.
    pub fn by_number(&self, vendor: u32, typ: u32) -> Option<&Arc<Def>> {
        self.by_number.get(&(vendor, typ))
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// `attr` by name and value as an admin reads them (`probe`): vendor
    /// attributes are opened; unknown ones are shown by number.
    pub fn describe(&self, attr: &Attribute) -> Vec<(String, String)> {
        let show = |vendor: u32, typ: u32, value: &[u8]| match self.by_number(vendor, typ) {
            Some(d) => (d.name.clone(), d.format(value)),
            None if vendor == 0 => (format!("Attr-{typ}"), hex(value)),
            None => (format!("Vendor-{vendor}-Attr-{typ}"), hex(value)),
        };
        if attr.typ == super::attribute::types::VENDOR_SPECIFIC {
            if let Some((vendor, subs)) = attr.vendor() {
                let out: Vec<_> = subs
                    .iter()
                    .map(|(t, v)| show(vendor, u32::from(*t), v))
                    .collect();
                if !out.is_empty() {
                    return out;
                }
            }
        }
        vec![show(0, u32::from(attr.typ), &attr.value)]
    }
}

fn hex(v: &[u8]) -> String {
    let mut s = String::from("0x");
    for b in v {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

impl Def {
    /// A received value as text: named values by name, tags as `:n`
    /// prefixes, encrypted values hidden.
    pub fn format(&self, value: &[u8]) -> String {
        if self.encrypt != 0 {
            return "<encrypted>".into();
        }
        let (tag, v): (u8, Vec<u8>) = if self.tagged && self.kind == Integer && value.len() == 4 {
            (value[0], [&[0u8][..], &value[1..]].concat())
        } else if self.tagged && value.first().is_some_and(|t| (1..=0x1f).contains(t)) {
            (value[0], value[1..].to_vec())
        } else {
            (0, value.to_vec())
        };
        let body = self.format_plain(&v);
        if tag != 0 {
            format!("{body} (tag {tag})")
        } else {
            body
        }
    }

    fn format_plain(&self, v: &[u8]) -> String {
        let int = |n: u64| {
            self.values
                .iter()
                .find(|(_, x)| *x == n)
                .map(|(name, _)| name.clone())
                .unwrap_or_else(|| n.to_string())
        };
        match (self.kind, v.len()) {
            (Text, _) => match std::str::from_utf8(v) {
                Ok(s) if !s.chars().any(char::is_control) => format!("\"{s}\""),
                _ => hex(v),
            },
            (Integer | Date, 4) => int(u64::from(u32::from_be_bytes([v[0], v[1], v[2], v[3]]))),
            (Signed, 4) => i32::from_be_bytes([v[0], v[1], v[2], v[3]]).to_string(),
            (Byte, 1) => int(u64::from(v[0])),
            (Short, 2) => int(u64::from(u16::from_be_bytes([v[0], v[1]]))),
            (Integer64, 8) => int(u64::from_be_bytes(v.try_into().unwrap_or([0; 8]))),
            (IpAddr | ComboIp, 4) => Ipv4Addr::new(v[0], v[1], v[2], v[3]).to_string(),
            (Ipv6Addr | ComboIp, 16) => {
                Ipv6Addr::from(<[u8; 16]>::try_from(v).unwrap_or([0; 16])).to_string()
            }
            (Ipv6Prefix, n) if (2..=18).contains(&n) => {
                let mut a = [0u8; 16];
                a[..n - 2].copy_from_slice(&v[2..]);
                format!("{}/{}", Ipv6Addr::from(a), v[1])
            }
            (Ipv4Prefix, 6) => format!("{}/{}", Ipv4Addr::new(v[2], v[3], v[4], v[5]), v[1] & 0x3f),
            (Ether, 6) => v
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":"),
            (Ifid, 8) => v
                .chunks(2)
                .map(|c| format!("{:02x}{:02x}", c[0], c[1]))
                .collect::<Vec<_>>()
                .join(":"),
            _ => hex(v),
        }
    }
}

/// A configured reply attribute, checked and encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// What it is.
    pub def: Arc<Def>,
    /// The value as configured, encoded (with the tag octet of a tagged
    /// attribute). An encrypted attribute is hidden per packet by
    /// [`Reply::attribute`].
    pub value: Vec<u8>,
}

/// A value as the config gives it.
#[derive(Debug, Clone, Copy)]
pub enum ConfigValue<'a> {
    /// A TOML string.
    Text(&'a str),
    /// A TOML integer.
    Int(i64),
}

impl Reply {
    /// Checks `value` for the attribute `key` (`Name` or `Name:tag`) and
    /// encodes it.
    pub fn parse(dict: &Dictionary, key: &str, value: &ConfigValue<'_>) -> Result<Reply, String> {
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
        let def = dict.lookup(name).cloned().ok_or_else(|| {
            format!("unknown attribute '{name}' (see the list of attribute names in README.md, or add a dictionary with [server] dictionary_dirs)")
        })?;
        if tag.is_some() && !def.tagged {
            return Err(format!("'{}' takes no tag", def.name));
        }
        if def.kind == Unsupported {
            return Err(format!(
                "'{}' has a data type radotp does not encode in replies (tlv, extended, abinary, ...)",
                def.name
            ));
        }
        if def.encrypt > 2 {
            return Err(format!(
                "'{}' uses encrypt={}, which radotp does not do",
                def.name, def.encrypt
            ));
        }
        if def.vendor != 0 && def.vsa_format.is_none() {
            return Err(format!(
                "'{}' belongs to a vendor whose attribute format radotp does not encode",
                def.name
            ));
        }
        let named_int = |s: &str, max: u64| -> Result<u64, String> {
            let n = def
                .values
                .iter()
                .find(|(v, _)| v.eq_ignore_ascii_case(s))
                .map(|(_, n)| *n)
                .or_else(|| s.parse().ok())
                .ok_or_else(|| {
                    let names: Vec<&str> = def
                        .values
                        .iter()
                        .take(20)
                        .map(|(v, _)| v.as_str())
                        .collect();
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
            if n > max {
                return Err(format!("'{}' must be 0 to {max}", def.name));
            }
            Ok(n)
        };
        let int_of = |max: u64| -> Result<u64, String> {
            match value {
                ConfigValue::Int(n) => u64::try_from(*n)
                    .ok()
                    .filter(|n| *n <= max)
                    .ok_or_else(|| format!("'{}' must be 0 to {max}", def.name)),
                ConfigValue::Text(s) => named_int(s, max),
            }
        };
        let text = match value {
            ConfigValue::Text(s) => Some(*s),
            ConfigValue::Int(_) => None,
        };
        let need_text =
            |what: &str| text.ok_or_else(|| format!("'{}' takes {what}, not an integer", def.name));
        let mut wire = match def.kind {
            Text => need_text("text")?.as_bytes().to_vec(),
            Octets => {
                let s = need_text("text or 0x-hex")?;
                match s.strip_prefix("0x") {
                    Some(hex) => data_encoding::HEXLOWER_PERMISSIVE
                        .decode(hex.as_bytes())
                        .map_err(|_| format!("'{}': '0x...' must be hex digits", def.name))?,
                    None => s.as_bytes().to_vec(),
                }
            }
            Integer | Date => (int_of(u64::from(u32::MAX))? as u32).to_be_bytes().to_vec(),
            Byte => vec![int_of(255)? as u8],
            Short => (int_of(65535)? as u16).to_be_bytes().to_vec(),
            Integer64 => int_of(u64::MAX)?.to_be_bytes().to_vec(),
            Signed => {
                let n: i64 = match value {
                    ConfigValue::Int(n) => *n,
                    ConfigValue::Text(s) => s
                        .parse()
                        .map_err(|_| format!("'{}' takes a signed integer", def.name))?,
                };
                i32::try_from(n)
                    .map_err(|_| format!("'{}' must fit in 32 bits, signed", def.name))?
                    .to_be_bytes()
                    .to_vec()
            }
            IpAddr => need_text("an IPv4 address")?
                .parse::<Ipv4Addr>()
                .map_err(|_| format!("'{}' takes an IPv4 address", def.name))?
                .octets()
                .to_vec(),
            Ipv6Addr => need_text("an IPv6 address")?
                .parse::<Ipv6Addr>()
                .map_err(|_| format!("'{}' takes an IPv6 address", def.name))?
                .octets()
                .to_vec(),
            ComboIp => match need_text("an IP address")?
                .parse::<StdIpAddr>()
                .map_err(|_| format!("'{}' takes an IPv4 or IPv6 address", def.name))?
            {
                StdIpAddr::V4(a) => a.octets().to_vec(),
                StdIpAddr::V6(a) => a.octets().to_vec(),
            },
            Ipv6Prefix => {
                let net: ipnet::Ipv6Net = need_text("an IPv6 prefix")?.parse().map_err(|_| {
                    format!("'{}' takes an IPv6 prefix like 2001:db8::/48", def.name)
                })?;
                let len = net.prefix_len();
                let bytes = usize::from(len).div_ceil(8);
                let mut v = vec![0, len];
                v.extend_from_slice(&net.trunc().addr().octets()[..bytes]);
                v
            }
            Ipv4Prefix => {
                let net: ipnet::Ipv4Net = need_text("an IPv4 prefix")?
                    .parse()
                    .map_err(|_| format!("'{}' takes an IPv4 prefix like 10.0.0.0/8", def.name))?;
                let mut v = vec![0, net.prefix_len()];
                v.extend_from_slice(&net.trunc().addr().octets());
                v
            }
            Ether => {
                let s = need_text("a MAC address")?;
                let parts: Vec<&str> = s.split([':', '-']).collect();
                let bytes: Option<Vec<u8>> = (parts.len() == 6)
                    .then(|| {
                        parts
                            .iter()
                            .map(|p| u8::from_str_radix(p, 16).ok())
                            .collect()
                    })
                    .flatten();
                bytes.ok_or_else(|| {
                    format!("'{}' takes a MAC address like 00:11:22:33:44:55", def.name)
                })?
            }
            Ifid => {
                let s = need_text("an interface id")?;
                let parts: Vec<&str> = s.split(':').collect();
                let words: Option<Vec<u16>> = (parts.len() == 4)
                    .then(|| {
                        parts
                            .iter()
                            .map(|p| u16::from_str_radix(p, 16).ok())
                            .collect()
                    })
                    .flatten();
                words
                    .ok_or_else(|| {
                        format!(
                            "'{}' takes an interface id like 0011:2233:4455:6677",
                            def.name
                        )
                    })?
                    .iter()
                    .flat_map(|w| w.to_be_bytes())
                    .collect()
            }
            Unsupported => unreachable!("refused above"),
        };
        if def.tagged {
            let t = tag.unwrap_or(0);
            match def.kind {
                // RFC 2868 §3.1/3.2: the tag replaces the integer's top octet.
                Integer if def.encrypt == 0 => {
                    if wire[0] != 0 {
                        return Err(format!("'{}' must be under 16777216", def.name));
                    }
                    wire[0] = t;
                }
                // RFC 2868 §3.5: an encrypted tunnel password always has
                // its tag octet; text only when there is a tag (§3.3).
                _ if def.encrypt == 2 => wire.insert(0, t),
                _ => {
                    if let Some(t) = tag {
                        wire.insert(0, t);
                    }
                }
            }
        }
        if wire.is_empty() && def.kind != Octets {
            return Err(format!("'{}' may not be empty", def.name));
        }
        let r = Reply { def, value: wire };
        let max = if r.def.vendor == 0 {
            253
        } else {
            let (t, l) = r.def.vsa_format.unwrap_or((1, 1));
            253 - 4 - usize::from(t) - usize::from(l)
        };
        let n = r.encoded_len();
        if n > max {
            return Err(format!(
                "value of '{}' takes {n} bytes on the wire; at most {max} fit in one attribute",
                r.def.name
            ));
        }
        Ok(r)
    }

    /// Length of the value as sent (encrypted values are padded and salted).
    fn encoded_len(&self) -> usize {
        let tag = usize::from(self.def.tagged && self.def.encrypt == 2);
        match self.def.encrypt {
            // Salt, then length octet and value padded to 16.
            2 => tag + 2 + (1 + self.value.len() - tag).div_ceil(16) * 16,
            1 => self.value.len().div_ceil(16).max(1) * 16,
            _ => self.value.len(),
        }
    }

    /// The attribute as it goes on the wire in a reply to a request with
    /// `authenticator`, under the client's shared `secret` (used only by
    /// encrypted attributes).
    pub fn attribute(&self, secret: &[u8], authenticator: &[u8; 16]) -> Attribute {
        let value = match self.def.encrypt {
            1 => hide_password(&self.value, secret, authenticator),
            2 => {
                let (tag, clear) = if self.def.tagged {
                    (Some(self.value[0]), &self.value[1..])
                } else {
                    (None, &self.value[..])
                };
                let salt: [u8; 2] = rand::random();
                let salt = [salt[0] | 0x80, salt[1]];
                let mut v = Vec::with_capacity(self.encoded_len());
                v.extend(tag);
                v.extend_from_slice(&salt);
                v.extend(salt_encrypt(clear, secret, authenticator, &salt));
                v
            }
            _ => self.value.clone(),
        };
        if self.def.vendor == 0 {
            return Attribute::new(self.def.typ as u8, value);
        }
        let (t, l) = self.def.vsa_format.unwrap_or((1, 1));
        if (t, l) == (1, 1) {
            return Attribute::vendor_specific(self.def.vendor, self.def.typ as u8, &value);
        }
        let mut v = Vec::with_capacity(4 + usize::from(t + l) + value.len());
        v.extend_from_slice(&self.def.vendor.to_be_bytes());
        v.extend_from_slice(&self.def.typ.to_be_bytes()[4 - usize::from(t)..]);
        let len = (usize::from(t + l) + value.len()) as u32;
        v.extend_from_slice(&len.to_be_bytes()[4 - usize::from(l)..]);
        v.extend_from_slice(&value);
        Attribute::new(super::attribute::types::VENDOR_SPECIFIC, v)
    }

    /// Bytes the attribute takes in a packet.
    pub fn wire_len(&self) -> usize {
        let head = if self.def.vendor == 0 {
            2
        } else {
            let (t, l) = self.def.vsa_format.unwrap_or((1, 1));
            6 + usize::from(t) + usize::from(l)
        };
        head + self.encoded_len()
    }
}

/// RFC 2865 §5.2 hiding (encrypt=1).
fn hide_password(clear: &[u8], secret: &[u8], authenticator: &[u8; 16]) -> Vec<u8> {
    use md5::{Digest, Md5};
    let mut p = clear.to_vec();
    let n = p.len().div_ceil(16).max(1) * 16;
    p.resize(n, 0);
    let mut prev: Vec<u8> = authenticator.to_vec();
    for chunk in p.chunks_mut(16) {
        let b = Md5::new()
            .chain_update(secret)
            .chain_update(&prev)
            .finalize();
        for (c, k) in chunk.iter_mut().zip(b.iter()) {
            *c ^= k;
        }
        prev = chunk.to_vec();
    }
    p
}

/// RFC 2868 §3.5 salted encryption (encrypt=2): a length octet, the value,
/// zero padding to 16, chained under MD5(secret + authenticator + salt).
pub fn salt_encrypt(
    clear: &[u8],
    secret: &[u8],
    authenticator: &[u8; 16],
    salt: &[u8; 2],
) -> Vec<u8> {
    use md5::{Digest, Md5};
    let mut p = Vec::with_capacity(clear.len() + 17);
    p.push(clear.len() as u8);
    p.extend_from_slice(clear);
    p.resize(p.len().div_ceil(16) * 16, 0);
    let mut prev: Vec<u8> = [&authenticator[..], &salt[..]].concat();
    for chunk in p.chunks_mut(16) {
        let b = Md5::new()
            .chain_update(secret)
            .chain_update(&prev)
            .finalize();
        for (c, k) in chunk.iter_mut().zip(b.iter()) {
            *c ^= k;
        }
        prev = chunk.to_vec();
    }
    p
}

/// RFC 2868 §3.5 decryption, the inverse of [`salt_encrypt`] (tests and
/// `probe`); `None` when the length octet does not fit.
pub fn salt_decrypt(
    data: &[u8],
    secret: &[u8],
    authenticator: &[u8; 16],
    salt: &[u8; 2],
) -> Option<Vec<u8>> {
    use md5::{Digest, Md5};
    if data.is_empty() || !data.len().is_multiple_of(16) {
        return None;
    }
    let mut out = Vec::with_capacity(data.len());
    let mut prev: Vec<u8> = [&authenticator[..], &salt[..]].concat();
    for chunk in data.chunks(16) {
        let b = Md5::new()
            .chain_update(secret)
            .chain_update(&prev)
            .finalize();
        out.extend(chunk.iter().zip(b.iter()).map(|(c, k)| c ^ k));
        prev = chunk.to_vec();
    }
    let n = usize::from(out[0]);
    (n < out.len()).then(|| out[1..=n].to_vec())
}

/// Merges reply lists from the most to the least specific source: a
/// single-valued attribute is taken from the first source that sets it; a
/// multi-valued one accumulates in order.
pub fn merge<'a>(sources: impl IntoIterator<Item = &'a [Reply]>) -> Vec<&'a Reply> {
    let mut out: Vec<&Reply> = Vec::new();
    for list in sources {
        let before = out.len();
        for r in list {
            let taken = !r.def.multi
                && out[..before]
                    .iter()
                    .any(|o| (o.def.vendor, o.def.typ) == (r.def.vendor, r.def.typ));
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
        Reply::parse(&Dictionary::builtin(), k, &v)
    }

    const AUTH: [u8; 16] = [7; 16];

    fn wire(r: &Reply) -> Attribute {
        r.attribute(b"secret", &AUTH)
    }

    #[test]
    fn rfc2865_5_6_service_type_by_name_and_number() {
        let r = parse("Service-Type", ConfigValue::Text("Administrative-User")).unwrap();
        assert_eq!(wire(&r), Attribute::new(6, vec![0, 0, 0, 6]));
        let n = parse("service-type", ConfigValue::Int(6)).unwrap();
        assert_eq!(n, r);
        let e = parse("Service-Type", ConfigValue::Text("Root")).unwrap_err();
        assert!(e.contains("Administrative-User"), "{e}");
    }

    #[test]
    fn rfc2865_5_26_vendor_attribute_is_wrapped_in_vendor_specific() {
        let r = parse("Cisco-AVPair", ConfigValue::Text("shell:priv-lvl=15")).unwrap();
        let attr = wire(&r);
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
            .map(|r| (r.def.name.as_str(), r.value.as_slice()))
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
        assert_eq!(Dictionary::builtin().len(), BUILTIN.len());
    }

    #[test]
    fn rfc2868_3_5_tunnel_password_is_salted_and_decrypts() {
        let r = parse("Tunnel-Password:1", ConfigValue::Text("vlan-secret")).unwrap();
        let a = wire(&r);
        assert_eq!(a.typ, 69);
        assert_eq!(a.value[0], 1, "tag");
        assert!(a.value[1] & 0x80 != 0, "salt's top bit is set");
        assert_eq!((a.value.len() - 3) % 16, 0);
        assert_eq!(r.wire_len(), 2 + a.value.len());
        let salt = [a.value[1], a.value[2]];
        let clear = salt_decrypt(&a.value[3..], b"secret", &AUTH, &salt).unwrap();
        assert_eq!(clear, b"vlan-secret");
        assert!(
            !a.value.windows(4).any(|w| w == b"vlan"),
            "not in the clear"
        );
        // Two replies are salted apart.
        assert_ne!(wire(&r).value, wire(&r).value);
        // 240 bytes + length octet pad to 256: too long for one attribute.
        assert!(parse("Tunnel-Password", ConfigValue::Text(&"x".repeat(240))).is_err());
        assert!(parse("Tunnel-Password", ConfigValue::Text(&"x".repeat(200))).is_ok());
    }

    #[test]
    fn received_values_are_described_by_name() {
        let d = Dictionary::builtin();
        let st = Attribute::new(6, vec![0, 0, 0, 6]);
        assert_eq!(
            d.describe(&st),
            vec![(
                "Service-Type".to_string(),
                "Administrative-User".to_string()
            )]
        );
        let av = wire(&parse("Cisco-AVPair", ConfigValue::Text("shell:priv-lvl=15")).unwrap());
        assert_eq!(
            d.describe(&av),
            vec![(
                "Cisco-AVPair".to_string(),
                "\"shell:priv-lvl=15\"".to_string()
            )]
        );
        let tt = wire(&parse("Tunnel-Type:1", ConfigValue::Text("VLAN")).unwrap());
        assert_eq!(d.describe(&tt)[0].1, "VLAN (tag 1)");
        let unknown = Attribute::new(200, vec![1, 2]);
        assert_eq!(
            d.describe(&unknown)[0],
            ("Attr-200".to_string(), "0x0102".to_string())
        );
    }
}
