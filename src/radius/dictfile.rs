//! FreeRADIUS-format dictionary files (`[server] dictionary_dirs`), so that
//! any vendor attribute can be named in a reply.
//!
//! Read: `ATTRIBUTE name number type [flags | vendor]`, `VALUE attribute
//! name number`, `VENDOR name number [format=t,l]`, `BEGIN-VENDOR`/
//! `END-VENDOR`, `BEGIN-TLV`/`END-TLV` (their members are skipped: radotp
//! encodes no TLVs), `$INCLUDE` and `$INCLUDE-` (optional), relative to the
//! including file. Flags: `has_tag`, `encrypt=n`, `array`, `concat`,
//! `virtual`, `secret`. Types: those of [`Kind::from_freeradius`]; TLV,
//! extended and similar types are known by name and refused in replies.
//!
//! Every error names the file and line. The input is bounded: at most
//! [`MAX_FILES`] files of at most [`MAX_FILE_BYTES`] each, includes at most
//! [`MAX_DEPTH`] deep, and an include loop is an error, not a hang.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::dictionary::{Def, Dictionary, Kind};

/// Files one load reads at most.
pub const MAX_FILES: usize = 2048;
/// Bytes of one file at most.
pub const MAX_FILE_BYTES: u64 = 8 << 20;
/// `$INCLUDE` nesting at most.
pub const MAX_DEPTH: usize = 16;

/// A dictionary file error: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DictError {
    /// The file.
    pub file: String,
    /// 1-based line, 0 when the file itself is the problem.
    pub line: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

impl std::fmt::Display for DictError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

impl std::error::Error for DictError {}

struct Vendor {
    id: u32,
    format: Option<(u8, u8)>,
}

struct Pending {
    attribute: String,
    name: String,
    number: u64,
    file: String,
    line: usize,
}

#[derive(Default)]
struct Loader {
    vendors: HashMap<String, Vendor>,
    /// Files being read (include loop detection).
    stack: Vec<PathBuf>,
    files: Vec<PathBuf>,
    values: Vec<Pending>,
    /// Names skipped (TLV members), whose VALUEs are skipped too.
    skipped: HashSet<String>,
    defs: Vec<Def>,
}

/// The built-in dictionary plus every attribute of `paths`: a directory
/// stands for its `dictionary` file, a file for itself.
pub fn load(paths: &[PathBuf]) -> Result<Dictionary, DictError> {
    let mut l = Loader::default();
    for p in paths {
        let file = if p.is_dir() {
            p.join("dictionary")
        } else {
            p.clone()
        };
        l.file(&file, false)?;
    }
    let mut dict = Dictionary::builtin_copy();
    // Values attach to the attribute of their name, wherever it was defined.
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for (i, d) in l.defs.iter().enumerate() {
        by_name.entry(d.name.to_ascii_lowercase()).or_insert(i);
    }
    for v in std::mem::take(&mut l.values) {
        let key = v.attribute.to_ascii_lowercase();
        if l.skipped.contains(&key) {
            continue;
        }
        match by_name.get(&key) {
            Some(&i) => {
                let d = &mut l.defs[i];
                if !d
                    .values
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case(&v.name))
                {
                    d.values.push((v.name, v.number));
                }
            }
            // A VALUE of a built-in attribute (e.g. more Service-Types)
            // cannot change the built-in meaning; anything else is a typo.
            None if dict.lookup(&v.attribute).is_some() => {}
            None => {
                return Err(DictError {
                    file: v.file,
                    line: v.line,
                    message: format!("VALUE for '{}', which no ATTRIBUTE defines", v.attribute),
                })
            }
        }
    }
    for d in l.defs {
        dict.add(d);
    }
    dict.files = l.files;
    Ok(dict)
}

fn number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

impl Loader {
    fn file(&mut self, path: &Path, optional: bool) -> Result<(), DictError> {
        let shown = path.display().to_string();
        let err = |line: usize, message: String| DictError {
            file: shown.clone(),
            line,
            message,
        };
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(_) if optional => return Ok(()),
            Err(e) => return Err(err(0, format!("cannot read: {e}"))),
        };
        if !meta.is_file() {
            return Err(err(0, "not a regular file".into()));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(err(0, format!("larger than {MAX_FILE_BYTES} bytes")));
        }
        let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if self.stack.contains(&canon) {
            return Err(err(0, "includes itself ($INCLUDE loop)".into()));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(err(0, format!("$INCLUDE nested deeper than {MAX_DEPTH}")));
        }
        if self.files.len() >= MAX_FILES {
            return Err(err(0, format!("more than {MAX_FILES} dictionary files")));
        }
        let bytes = std::fs::read(path).map_err(|e| err(0, format!("cannot read: {e}")))?;
        // Dictionaries are ASCII; a stray Latin-1 comment must not fail one.
        let text = String::from_utf8_lossy(&bytes);
        self.files.push(canon.clone());
        self.stack.push(canon);
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let mut vendor: Option<String> = None;
        let mut tlv: Vec<String> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let content = raw.split('#').next().unwrap_or("");
            let f: Vec<&str> = content.split_whitespace().collect();
            let Some(&keyword) = f.first() else {
                continue;
            };
            match keyword {
                "$INCLUDE" | "$INCLUDE-" => {
                    let Some(target) = f.get(1) else {
                        return Err(err(line, "$INCLUDE needs a file name".into()));
                    };
                    let p = dir.join(target);
                    self.file(&p, keyword == "$INCLUDE-")?;
                }
                "VENDOR" => {
                    let (Some(name), Some(id)) = (f.get(1), f.get(2).and_then(|n| number(n))) else {
                        return Err(err(line, "expected VENDOR name number [format=t,l]".into()));
                    };
                    let id = u32::try_from(id)
                        .map_err(|_| err(line, format!("vendor number {id} is over 32 bits")))?;
                    let format = match f.get(3) {
                        None => Some((1, 1)),
                        Some(spec) => {
                            let Some(v) = spec.strip_prefix("format=") else {
                                return Err(err(line, format!("unknown VENDOR option '{spec}': expected format=t,l")));
                            };
                            let parts: Vec<&str> = v.split(',').collect();
                            let t = parts.first().and_then(|t| t.parse::<u8>().ok());
                            let l = parts.get(1).and_then(|l| l.parse::<u8>().ok());
                            match (t, l, parts.get(2)) {
                                (Some(t @ (1 | 2 | 4)), Some(l @ (0..=2)), None) => Some((t, l)),
                                (Some(1 | 2 | 4), Some(0..=2), Some(&"c")) => None,
                                _ => {
                                    return Err(err(
                                        line,
                                        format!("format={v}: expected t,l with t 1, 2 or 4 and l 0, 1 or 2"),
                                    ))
                                }
                            }
                        }
                    };
                    self.vendors
                        .entry(name.to_ascii_lowercase())
                        .or_insert(Vendor { id, format });
                }
                "BEGIN-VENDOR" => {
                    let Some(name) = f.get(1) else {
                        return Err(err(line, "BEGIN-VENDOR needs a vendor name".into()));
                    };
                    if !self.vendors.contains_key(&name.to_ascii_lowercase()) {
                        return Err(err(line, format!("BEGIN-VENDOR '{name}' before its VENDOR line")));
                    }
                    if let Some(open) = &vendor {
                        return Err(err(line, format!("BEGIN-VENDOR '{name}' inside '{open}': END-VENDOR first")));
                    }
                    vendor = Some(name.to_string());
                }
                "END-VENDOR" => {
                    let name = f.get(1).copied().unwrap_or("");
                    match &vendor {
                        Some(open) if open.eq_ignore_ascii_case(name) => vendor = None,
                        Some(open) => {
                            return Err(err(line, format!("END-VENDOR '{name}' closes '{open}'")))
                        }
                        None => return Err(err(line, format!("END-VENDOR '{name}' without BEGIN-VENDOR"))),
                    }
                }
                "BEGIN-TLV" => tlv.push(f.get(1).copied().unwrap_or("").to_string()),
                "END-TLV" => {
                    if tlv.pop().is_none() {
                        return Err(err(line, "END-TLV without BEGIN-TLV".into()));
                    }
                }
                "ATTRIBUTE" => {
                    let def = self.attribute(&f, vendor.as_deref(), !tlv.is_empty()).map_err(|m| err(line, m))?;
                    match def {
                        Some(d) => self.defs.push(d),
                        None => {
                            self.skipped.insert(f[1].to_ascii_lowercase());
                        }
                    }
                }
                "VALUE" => {
                    let (Some(attr), Some(name), Some(n)) =
                        (f.get(1), f.get(2), f.get(3).and_then(|n| number(n)))
                    else {
                        return Err(err(line, "expected VALUE attribute name number".into()));
                    };
                    self.values.push(Pending {
                        attribute: attr.to_string(),
                        name: name.to_string(),
                        number: n,
                        file: shown.clone(),
                        line,
                    });
                }
                other => {
                    return Err(err(
                        line,
                        format!("unknown keyword '{other}': expected ATTRIBUTE, VALUE, VENDOR, BEGIN-VENDOR, END-VENDOR, BEGIN-TLV, END-TLV or $INCLUDE"),
                    ))
                }
            }
        }
        self.stack.pop();
        if let Some(open) = vendor {
            return Err(err(0, format!("BEGIN-VENDOR '{open}' is never closed")));
        }
        if let Some(open) = tlv.pop() {
            return Err(err(0, format!("BEGIN-TLV '{open}' is never closed")));
        }
        Ok(())
    }

    /// One ATTRIBUTE line; `None` for a TLV member (skipped).
    fn attribute(
        &self,
        f: &[&str],
        block_vendor: Option<&str>,
        in_tlv: bool,
    ) -> Result<Option<Def>, String> {
        let (Some(name), Some(num), Some(typ)) = (f.get(1), f.get(2), f.get(3)) else {
            return Err("expected ATTRIBUTE name number type [flags]".into());
        };
        let kind = Kind::from_freeradius(typ).ok_or_else(|| {
            format!("'{name}': unknown type '{typ}': expected string, octets, integer, byte, short, signed, integer64, date, ipaddr, ipv6addr, ipv6prefix, ipv4prefix, ether, ifid, combo-ip, tlv, ...")
        })?;
        let (mut tagged, mut encrypt, mut vendor_name) =
            (false, 0u8, block_vendor.map(str::to_string));
        if let Some(opts) = f.get(4) {
            let flag_like = opts.contains('=')
                || opts
                    .split(',')
                    .all(|o| matches!(o, "has_tag" | "array" | "concat" | "virtual" | "secret"));
            if flag_like {
                for o in opts.split(',') {
                    match o {
                        "has_tag" => tagged = true,
                        "array" | "concat" | "virtual" | "secret" => {}
                        _ => match o.strip_prefix("encrypt=").and_then(|n| n.parse::<u8>().ok()) {
                            Some(n @ 0..=3) => encrypt = n,
                            _ => return Err(format!("'{name}': unknown flag '{o}': expected has_tag, encrypt=1..3, array, concat, virtual or secret")),
                        },
                    }
                }
            } else {
                // The old syntax: the fifth field names the vendor.
                vendor_name = Some(opts.to_string());
            }
        }
        let (vendor, vsa_format) = match &vendor_name {
            None => (0, Some((1, 1))),
            Some(v) => {
                let v = self
                    .vendors
                    .get(&v.to_ascii_lowercase())
                    .ok_or_else(|| format!("'{name}': vendor '{v}' has no VENDOR line"))?;
                (v.id, v.format)
            }
        };
        if in_tlv || num.contains('.') {
            // TLV members and extended (RFC 6929) attributes: not encoded.
            return Ok((!in_tlv).then(|| Def {
                name: name.to_string(),
                vendor,
                typ: u32::MAX,
                kind: Kind::Unsupported,
                multi: false,
                tagged,
                encrypt,
                values: Vec::new(),
                vsa_format,
            }));
        }
        let n = number(num)
            .ok_or_else(|| format!("'{name}': attribute number '{num}' is not a number"))?;
        let limit: u64 = match (vendor, vsa_format) {
            (0, _) => 255,
            (_, Some((t, _))) => (1u64 << (8 * u32::from(t))) - 1,
            (_, None) => 255,
        };
        // Beyond the wire's range: FreeRADIUS-internal attributes.
        let kind = if n == 0 || n > limit {
            Kind::Unsupported
        } else {
            kind
        };
        Ok(Some(Def {
            name: name.to_string(),
            vendor,
            typ: u32::try_from(n).unwrap_or(u32::MAX),
            kind,
            multi: false,
            tagged,
            encrypt,
            values: Vec::new(),
            vsa_format,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radius::dictionary::{ConfigValue, Reply};

    const FREERADIUS: &str = "/usr/share/freeradius";

    fn require_freeradius() {
        assert!(
            Path::new(FREERADIUS).join("dictionary").exists(),
            "{FREERADIUS}/dictionary not found: install it with `apt-get install -y freeradius-common` (or run scripts/test-deps.sh)"
        );
    }

    /// A value of the right shape for a definition, if it has one.
    fn sample(d: &Def) -> Option<String> {
        Some(match d.kind {
            Kind::Text | Kind::Octets => "radotp-sample".into(),
            Kind::Integer | Kind::Date | Kind::Byte | Kind::Short | Kind::Integer64 => "7".into(),
            Kind::Signed => "-7".into(),
            Kind::IpAddr | Kind::ComboIp => "192.0.2.7".into(),
            Kind::Ipv6Addr => "2001:db8::7".into(),
            Kind::Ipv6Prefix => "2001:db8:7::/48".into(),
            Kind::Ipv4Prefix => "192.0.2.0/24".into(),
            Kind::Ether => "00:11:22:33:44:55".into(),
            Kind::Ifid => "0011:2233:4455:6677".into(),
            Kind::Unsupported => return None,
        })
    }

    #[test]
    fn every_freeradius_common_dictionary_parses_and_a_sample_round_trips() {
        require_freeradius();
        let dict = load(&[PathBuf::from(FREERADIUS)]).unwrap();
        assert!(dict.files.len() > 100, "{} files", dict.files.len());
        assert!(dict.len() > 5000, "{} attributes", dict.len());
        // Built-in names keep their meaning; file names are added.
        assert_eq!(dict.lookup("Cisco-AVPair").unwrap().vendor, 9);
        let brocade = dict.lookup("Brocade-Auth-Role").unwrap();
        assert_eq!(
            (brocade.vendor, brocade.typ, brocade.kind),
            (1588, 1, Kind::Text)
        );
        // Every 25th encodable attribute: encode, then decode by number.
        let mut names: Vec<String> = dict.files.iter().map(|f| f.display().to_string()).collect();
        names.sort();
        let text: String = dict
            .files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap_or_default())
            .collect();
        let mut tried = 0;
        for (i, line) in text
            .lines()
            .filter(|l| l.starts_with("ATTRIBUTE"))
            .enumerate()
        {
            if i % 25 != 0 {
                continue;
            }
            let name = line.split_whitespace().nth(1).unwrap();
            let d = dict.lookup(name).unwrap().clone();
            let Some(v) = sample(&d) else { continue };
            if d.encrypt != 0 || d.tagged || (d.vendor != 0 && d.vsa_format != Some((1, 1))) {
                continue;
            }
            // An alias (another name for the same number) decodes to the first.
            if dict.by_number(d.vendor, d.typ).map(|x| &x.name) != Some(&d.name) {
                continue;
            }
            let r = Reply::parse(&dict, name, &ConfigValue::Text(&v))
                .unwrap_or_else(|e| panic!("{name} = {v}: {e}"));
            let shown = dict.describe(&r.attribute(b"s", &[0; 16]));
            assert_eq!(shown.len(), 1, "{name}");
            assert_eq!(shown[0].0, d.name, "{name} decodes to its own name");
            if d.values.is_empty() {
                assert!(
                    shown[0]
                        .1
                        .trim_matches('"')
                        .contains(v.trim_start_matches('-'))
                        || d.kind == Kind::Octets,
                    "{name}: {v} came back as {}",
                    shown[0].1
                );
            }
            tried += 1;
        }
        assert!(tried > 100, "{tried} attributes round-tripped");
    }

    #[test]
    fn builtin_attributes_agree_with_freeradius_numbers_and_types() {
        require_freeradius();
        let files = load(&[PathBuf::from(FREERADIUS)]).unwrap();
        // Read again without the built-in table in front: what the files say.
        let mut l = Loader::default();
        l.file(&Path::new(FREERADIUS).join("dictionary"), false)
            .unwrap();
        let builtin = Dictionary::builtin();
        let mut checked = 0;
        for d in l.defs.iter() {
            let Some(b) = builtin.lookup(&d.name) else {
                continue;
            };
            if b.name != d.name {
                continue;
            }
            assert_eq!((b.vendor, b.typ), (d.vendor, d.typ), "{}", d.name);
            let compatible = b.kind == d.kind
                || (b.kind == Kind::Octets && d.kind == Kind::Text)
                || (b.kind == Kind::Text && d.kind == Kind::Octets);
            assert!(
                compatible,
                "{}: built in {:?}, file {:?}",
                d.name, b.kind, d.kind
            );
            assert_eq!(b.tagged, d.tagged, "{}", d.name);
            assert_eq!(b.encrypt, d.encrypt, "{}", d.name);
            checked += 1;
        }
        assert!(
            checked + 5 >= builtin.len(),
            "{checked} of {} checked",
            builtin.len()
        );
        drop(files);
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn include_loops_and_bad_lines_are_errors_with_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "a", "$INCLUDE b\n");
        write(d.path(), "b", "# comment\n$INCLUDE a\n");
        let e = load(&[d.path().join("a")]).unwrap_err();
        assert!(e.message.contains("loop"), "{e}");
        for (text, line, says) in [
            ("ATTRIBUTE X 1 strang\n", 1, "unknown type 'strang'"),
            ("\nATTRIBUTE X one string\n", 2, "not a number"),
            ("VALUE Nope Yes 1\n", 1, "no ATTRIBUTE"),
            (
                "ATTRIBUTE X 1 string bogus_flag,has_tag\n",
                1,
                "vendor 'bogus_flag,has_tag'",
            ),
            ("ATTRIBUTE X 1 string encrypt=9\n", 1, "unknown flag"),
            ("VENDOR V 99 format=3,1\n", 1, "format=3,1"),
            ("BEGIN-VENDOR Nobody\n", 1, "before its VENDOR"),
            (
                "VENDOR V 99\nBEGIN-VENDOR V\nATTRIBUTE X 1 string\n",
                0,
                "never closed",
            ),
            ("END-VENDOR V\n", 1, "without BEGIN-VENDOR"),
            ("FROBNICATE\n", 1, "unknown keyword"),
            ("$INCLUDE missing-file\n", 0, "cannot read"),
        ] {
            let f = write(d.path(), "one", text);
            let e = load(&[f]).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(says), "{text:?}: {e}");
        }
        // Optional includes may be missing.
        let f = write(d.path(), "opt", "$INCLUDE- not-there\n");
        assert!(load(&[f]).is_ok());
    }

    #[test]
    fn nested_includes_are_bounded() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..40 {
            write(
                d.path(),
                &format!("d{i}"),
                &format!("$INCLUDE d{}\n", i + 1),
            );
        }
        write(d.path(), "d40", "");
        let e = load(&[d.path().join("d0")]).unwrap_err();
        assert!(e.message.contains("deeper than"), "{e}");
    }

    #[test]
    fn vendor_blocks_formats_tags_and_values_are_read() {
        let d = tempfile::tempdir().unwrap();
        let f = write(
            d.path(),
            "dictionary",
            "VENDOR Acme 65000\nVENDOR Wide 65001 format=2,1\n\
             BEGIN-VENDOR Acme\nATTRIBUTE Acme-Role 1 string\nATTRIBUTE Acme-Level 2 integer\n\
             ATTRIBUTE Acme-Secret 3 string encrypt=2,has_tag\nVALUE Acme-Level Admin 15\nEND-VENDOR Acme\n\
             ATTRIBUTE Wide-Thing 300 string Wide\nATTRIBUTE Acme-Old 4 byte Acme\n\
             BEGIN-TLV Acme-Role\nATTRIBUTE Acme-Inner 1 string\nVALUE Acme-Inner X 1\nEND-TLV Acme-Role\n",
        );
        let dict = load(&[d.path().to_path_buf()]).unwrap();
        assert_eq!(dict.files, vec![std::fs::canonicalize(&f).unwrap()]);
        let lvl = Reply::parse(&dict, "Acme-Level", &ConfigValue::Text("Admin")).unwrap();
        assert_eq!(
            lvl.attribute(b"s", &[0; 16]).value,
            vec![0, 0, 0xfd, 0xe8, 2, 6, 0, 0, 0, 15]
        );
        let wide = Reply::parse(&dict, "Wide-Thing", &ConfigValue::Text("ab")).unwrap();
        // format=2,1: two octets of type (300), one of length.
        assert_eq!(
            wide.attribute(b"s", &[0; 16]).value,
            vec![0, 0, 0xfd, 0xe9, 1, 44, 5, b'a', b'b']
        );
        assert_eq!(wide.wire_len(), 2 + 9);
        let old = Reply::parse(&dict, "Acme-Old", &ConfigValue::Int(9)).unwrap();
        assert_eq!(old.value, vec![9]);
        assert!(
            Reply::parse(&dict, "Acme-Level", &ConfigValue::Text("Root"))
                .unwrap_err()
                .contains("Admin")
        );
        let secret = Reply::parse(&dict, "Acme-Secret:2", &ConfigValue::Text("pw")).unwrap();
        assert_eq!(secret.def.encrypt, 2);
        assert!(
            dict.lookup("Acme-Inner").is_none(),
            "TLV members are skipped"
        );
    }
}
