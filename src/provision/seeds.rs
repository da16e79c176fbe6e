//! Line formats of hardware-token seeds: a `serial,hex-seed[,type,digits,period]`
//! list (what most OATH token vendors send besides PSKC) and the CSV log
//! Yubico's personalization tools write when they program a YubiKey slot
//! for OATH-HOTP (`serial,public id,private id,hex key,access code,time`;
//! a line of a slot in Yubico OTP mode, with a 16-byte AES key, is refused).
//! Tokens of both come unassigned, named by their serial; blank lines and
//! `#` comments are skipped; a bad line is reported by its number.

use super::{hex_seed, BadEntry, Parsed};
use crate::admin::ImportToken;
use crate::otp::{self, Algorithm, Kind};

/// Seeds shorter than this are refused (RFC 4226 asks for 128 bits, at
/// least 80 are what any token uses).
const MIN_SEED: usize = 10;

fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

fn seed(text: &str) -> Result<Vec<u8>, String> {
    let s = hex_seed(text)?;
    if s.len() < MIN_SEED {
        return Err(format!(
            "seed of {} bytes is too short: at least {} (80 bits) expected",
            s.len(),
            MIN_SEED
        ));
    }
    Ok(s)
}

fn serial(s: &str) -> Result<String, String> {
    crate::admin::check_serial(s).map_err(|e| e.message)?;
    Ok(s.to_string())
}

/// `serial,hex-seed[,type[,digits[,period]]]`: type totp (default) or
/// hotp; digits 6 (default), 7 or 8; period 30 s by default. A header
/// line starting `serial,` is skipped.
pub fn parse_seed_list(text: &str) -> Parsed {
    let mut out = Parsed::default();
    for (n, line) in lines(text) {
        if line.to_ascii_lowercase().starts_with("serial,") {
            continue;
        }
        match seed_line(line) {
            Ok(t) => out.tokens.push((format!("line {n}"), t)),
            Err(why) => out.bad.push(BadEntry {
                at: format!("line {n}"),
                why,
            }),
        }
    }
    out
}

fn seed_line(line: &str) -> Result<ImportToken, String> {
    let f: Vec<&str> = line.split(',').map(str::trim).collect();
    if f.len() < 2 || f.len() > 5 {
        return Err(format!(
            "expected serial,hex-seed[,type[,digits[,period]]], found {} field(s)",
            f.len()
        ));
    }
    let serial = serial(f[0])?;
    let seed = seed(f[1])?;
    let field = |i: usize| f.get(i).copied().filter(|s| !s.is_empty());
    let kind: Kind = field(2).map_or(Ok(Kind::Totp), str::parse)?;
    let digits = match field(3) {
        None => 6,
        Some(d) => d
            .parse()
            .ok()
            .filter(|d| otp::valid_digits(*d))
            .ok_or_else(|| format!("digits '{d}': expected 6, 7 or 8"))?,
    };
    let period = match field(4) {
        None => 30,
        Some(p) => p
            .parse()
            .ok()
            .filter(|p| otp::valid_period(*p))
            .ok_or_else(|| format!("period '{p}': expected 10 to 300 seconds"))?,
    };
    let mut t = ImportToken::new(
        String::new(),
        otp::uri::encode_base32_secret(&seed),
        kind,
        Algorithm::Sha1,
        digits,
        period,
    );
    t.serial = Some(serial);
    t.counter = (kind == Kind::Hotp).then_some(0);
    t.description = "hardware token (seed list)".into();
    Ok(t)
}

/// Yubico's OATH-HOTP log: `serial,public id,private id,hex key,...`
/// (6 digits, counter 0). The serial becomes `yk-SERIAL` plus `-ID` when
/// a public id (token identifier) was programmed.
pub fn parse_yubico(text: &str) -> Parsed {
    let mut out = Parsed::default();
    for (n, line) in lines(text) {
        match yubico_line(line) {
            Ok(t) => out.tokens.push((format!("line {n}"), t)),
            Err(why) => out.bad.push(BadEntry {
                at: format!("line {n}"),
                why,
            }),
        }
    }
    out
}

fn yubico_line(line: &str) -> Result<ImportToken, String> {
    let f: Vec<&str> = line.split(',').map(str::trim).collect();
    if f.len() < 4 {
        return Err(format!(
            "expected serial,public id,private id,hex key[,access code,time], found {} field(s)",
            f.len()
        ));
    }
    if f[0].is_empty() || !f[0].chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("serial '{}' is not a YubiKey serial number", f[0]));
    }
    let name = if f[1].is_empty() {
        format!("yk-{}", f[0])
    } else {
        format!("yk-{}-{}", f[0], f[1])
    };
    let serial = serial(&name)?;
    let seed = hex_seed(f[3])?;
    if seed.len() != 20 {
        return Err(format!(
            "key of {} bytes: an OATH-HOTP key has 20 (a 16-byte key is Yubico OTP mode, which is not OATH)",
            seed.len()
        ));
    }
    let mut t = ImportToken::new(
        String::new(),
        otp::uri::encode_base32_secret(&seed),
        Kind::Hotp,
        Algorithm::Sha1,
        6,
        30,
    );
    t.serial = Some(serial);
    t.counter = Some(0);
    t.description = "YubiKey OATH-HOTP".into();
    Ok(t)
}

/// Does this text look like a Yubico log: its first line with content has
/// at least 4 fields, a numeric serial and a 40-hex-digit key fourth?
pub fn looks_like_yubico(text: &str) -> bool {
    lines(text).next().is_some_and(|(_, l)| {
        let f: Vec<&str> = l.split(',').map(str::trim).collect();
        f.len() >= 4
            && !f[0].is_empty()
            && f[0].chars().all(|c| c.is_ascii_digit())
            && f[3].len() == 40
            && f[3].chars().all(|c| c.is_ascii_hexdigit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_list_parses_defaults_and_reports_bad_lines_by_number() {
        let text = "serial,seed,type,digits,period\n\
                    T2-0001,3132333435363738393031323334353637383930\n\
                    # a comment\n\
                    T2-0002,3132333435363738393031323334353637383930,hotp,8\n\
                    T2-0003,31323334,totp\n\
                    T2-0004,zz32333435363738393031323334353637383930\n\
                    T2-0005,3132333435363738393031323334353637383930,totp,6,5\n\
                    T2 0006,3132333435363738393031323334353637383930\n";
        let p = parse_seed_list(text);
        let serials: Vec<_> = p
            .tokens
            .iter()
            .map(|(_, t)| t.serial.clone().unwrap())
            .collect();
        assert_eq!(serials, ["T2-0001", "T2-0002"]);
        assert_eq!(p.tokens[1].1.kind, Kind::Hotp);
        assert_eq!(p.tokens[1].1.digits, 8);
        assert!(p.tokens.iter().all(|(_, t)| t.user.is_empty()));
        let at: Vec<_> = p.bad.iter().map(|b| b.at.as_str()).collect();
        assert_eq!(at, ["line 5", "line 6", "line 7", "line 8"], "{:?}", p.bad);
        assert!(p.bad[0].why.contains("too short"));
        assert!(p.bad[2].why.contains("period"));
    }

    #[test]
    fn yubico_oath_log_lines_become_unassigned_hotp_tokens() {
        let text = "# OATH-HOTP\n\
                    1234567,,,3132333435363738393031323334353637383930,,2024-01-01T10:00:00,\n\
                    7654321,cccc01,,3132333435363738393031323334353637383931,,2024-01-01T10:00:01,\n\
                    abc,,,3132333435363738393031323334353637383930,,\n\
                    1111111,,\n\
                    508326,cccccccccccc,83cebdfb7b93,a47c5bf9c152202f577be6721c0113af,,2013-12-12T08:43:17,\n";
        assert!(looks_like_yubico(text));
        let p = parse_yubico(text);
        let serials: Vec<_> = p
            .tokens
            .iter()
            .map(|(_, t)| t.serial.clone().unwrap())
            .collect();
        assert_eq!(serials, ["yk-1234567", "yk-7654321-cccc01"]);
        assert_eq!(p.tokens[0].1.kind, Kind::Hotp);
        let at: Vec<_> = p.bad.iter().map(|b| b.at.as_str()).collect();
        assert_eq!(at, ["line 4", "line 5", "line 6"]);
        assert!(p.bad[2].why.contains("Yubico OTP"), "{:?}", p.bad);
        assert!(!looks_like_yubico(
            "alice,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n"
        ));
    }
}
