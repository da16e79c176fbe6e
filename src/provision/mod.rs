//! Provisioning of hardware tokens: the seed files vendors ship with them
//! and radotp's own backups.
//!
//! [`pskc`] reads and writes RFC 6030 Portable Symmetric Key Containers
//! (plain, AES-CBC under a pre-shared key, or under a PBKDF2 password key,
//! with the HMAC over every encrypted value checked); [`seeds`] reads the
//! line formats: Yubico's OATH CSV log and `serial,hex-seed` lists. Every
//! parser turns a file into [`ImportToken`]s for the admin service's
//! `TokenImport` and names each bad entry by its line or key id. Pure
//! functions over text and keys: no store, no I/O.

pub mod pskc;
pub mod seeds;

use crate::admin::ImportToken;

/// One entry of a seed file that cannot be imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadEntry {
    /// `line N` or `key ID`.
    pub at: String,
    /// Why (never containing a seed).
    pub why: String,
}

/// What a seed file holds: the tokens to import, each with where it came
/// from (`line N` or `key ID`), and the entries refused.
#[derive(Debug, Default)]
pub struct Parsed {
    pub tokens: Vec<(String, ImportToken)>,
    pub bad: Vec<BadEntry>,
}

/// The radotp user of a seed file's user id: the value of the first
/// `UID=` or `CN=` of an LDAP distinguished name, else the text itself;
/// an error when that is no valid user name.
pub fn user_of(user_id: &str) -> Result<String, String> {
    let t = user_id.trim();
    let name = if t.contains('=') {
        t.split(',')
            .filter_map(|rdn| rdn.split_once('='))
            .find(|(k, _)| {
                let k = k.trim();
                k.eq_ignore_ascii_case("uid") || k.eq_ignore_ascii_case("cn")
            })
            .map(|(_, v)| v.trim().to_string())
            .ok_or_else(|| format!("user id '{t}' names no user (no UID= or CN=)"))?
    } else {
        t.to_string()
    };
    crate::admin::check_user_name(&name).map_err(|e| e.message)?;
    Ok(name)
}

/// A hex seed (spaces allowed) as bytes.
pub fn hex_seed(text: &str) -> Result<Vec<u8>, String> {
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if clean.is_empty() {
        return Err("the seed is empty".into());
    }
    if !clean.len().is_multiple_of(2) || !clean.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "the seed is not hex (an even number of 0-9, a-f; {} character(s) given)",
            clean.len()
        ));
    }
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(clean.as_bytes())
        .map_err(|_| "the seed is not hex".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_of_takes_uid_or_cn_of_a_distinguished_name() {
        assert_eq!(
            user_of("UID=jsmith,DC=example-bank,DC=net").unwrap(),
            "jsmith"
        );
        assert_eq!(user_of("cn=alice, ou=x").unwrap(), "alice");
        assert_eq!(user_of("bob").unwrap(), "bob");
        assert!(user_of("DC=example-bank,DC=net").is_err());
    }

    #[test]
    fn hex_seed_refuses_odd_or_non_hex_text() {
        assert_eq!(hex_seed("31 32").unwrap(), b"12");
        assert_eq!(hex_seed("ABcd").unwrap(), [0xab, 0xcd]);
        assert!(hex_seed("123").is_err());
        assert!(hex_seed("zz").is_err());
        assert!(hex_seed("").is_err());
    }
}
