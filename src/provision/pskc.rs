//! PSKC (RFC 6030): the XML key container hardware-token vendors deliver
//! seeds in, read ([`parse`]) and written ([`write`], for `token export`).
//!
//! A container's secrets are in the clear (`PlainValue`) or encrypted
//! (`EncryptedValue`: base64 of a 16-byte IV and AES-CBC ciphertext with
//! PKCS#7 padding, §6.1) under a key that is either pre-shared (§6.1, named
//! by `ds:KeyName`) or derived from a password with PBKDF2 (§6.2,
//! `xenc11:DerivedKey`). A `MACMethod` gives the MAC key, itself encrypted
//! under that key; each encrypted value then carries a `ValueMAC`, the HMAC
//! of its IV and ciphertext, checked in constant time. A wrong key,
//! password or MAC fails the whole file ([`PskcError`]): nothing of it is
//! imported. A key that is well protected but cannot become a radotp token
//! (an unknown algorithm, 9 digits) is reported by its key id and the rest
//! imported. Elements are matched by local name, so files that bind the
//! PSKC namespace to a prefix, or leave PBKDF2's children unqualified as
//! RFC 6030's own figure 7 does, read alike. DTDs are refused by the XML
//! parser (no entity expansion).

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use data_encoding::BASE64;
use hmac::{Hmac, Mac};
use roxmltree::Node;

use super::{BadEntry, Parsed};
use crate::admin::ImportToken;
use crate::otp::{self, Algorithm, Kind};
use crate::secret::Secret;
use crate::store::TokenState;

const NS_PSKC: &str = "urn:ietf:params:xml:ns:keyprov:pskc";
const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
const NS_XENC11: &str = "http://www.w3.org/2009/xmlenc11#";
const NS_PKCS5: &str = "http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#";
/// radotp's own extension: the parts of a token record PSKC has no
/// element for, so that an export imports back unchanged.
const NS_RADOTP: &str = "urn:radotp:pskc:1";
const PBKDF2_URI: &str = "http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#pbkdf2";
const HOTP_URI: &str = "urn:ietf:params:xml:ns:keyprov:pskc:hotp";
const TOTP_URI: &str = "urn:ietf:params:xml:ns:keyprov:pskc:totp";

/// The keys a container may need: a pre-shared AES key, or a password.
#[derive(Debug, Default, Clone)]
pub struct Keys {
    /// AES-128, -192 or -256 key (`--psk-file`, hex).
    pub psk: Option<Secret>,
    /// PBKDF2 password (`--password-file`).
    pub password: Option<Secret>,
}

/// Why a whole container is refused (nothing of it imported).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PskcError {
    #[error("not a PSKC file: {0}")]
    Xml(String),
    #[error("the secrets are encrypted with a pre-shared key{0}: give it (hex) with --psk-file")]
    NeedPsk(String),
    #[error("the secrets are encrypted with a password (PBKDF2): give it with --password-file")]
    NeedPassword,
    #[error("{0} does not decrypt: wrong pre-shared key or password")]
    WrongKey(String),
    #[error(
        "{0}: the MAC does not match: wrong key or password, or a tampered file (nothing imported)"
    )]
    BadMac(String),
    #[error("{0}")]
    Unsupported(String),
}

type Cbc128Dec = cbc::Decryptor<aes::Aes128>;
type Cbc192Dec = cbc::Decryptor<aes::Aes192>;
type Cbc256Dec = cbc::Decryptor<aes::Aes256>;

/// The container's encryption and MAC keys, once derived.
struct Crypto {
    key: Option<Secret>,
    /// (algorithm, key) of the MACMethod.
    mac: Option<(MacAlg, Secret)>,
}

#[derive(Clone, Copy)]
enum MacAlg {
    Sha1,
    Sha256,
    Sha512,
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn children<'a, 'i: 'a>(n: Node<'a, 'i>, name: &'a str) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    n.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

fn text(n: Node<'_, '_>) -> String {
    n.text().unwrap_or("").trim().to_string()
}

fn path_text(n: Node<'_, '_>, path: &[&str]) -> Option<String> {
    let mut cur = n;
    for p in path {
        cur = child(cur, p)?;
    }
    Some(text(cur))
}

fn b64(s: &str, what: &str) -> Result<Vec<u8>, String> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    BASE64
        .decode(clean.as_bytes())
        .map_err(|_| format!("{what} is not base64"))
}

/// AES-CBC decryption of `IV || ciphertext` (PKCS#7 padding).
fn decrypt(key: &[u8], alg: &str, data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < 32 || !data.len().is_multiple_of(16) {
        return None;
    }
    let (iv, ct) = data.split_at(16);
    let want = match alg.rsplit('#').next().unwrap_or("") {
        "aes128-cbc" => 16,
        "aes192-cbc" => 24,
        "aes256-cbc" => 32,
        _ => return None,
    };
    if key.len() != want {
        return None;
    }
    match want {
        16 => Cbc128Dec::new_from_slices(key, iv)
            .ok()?
            .decrypt_padded_vec_mut::<Pkcs7>(ct)
            .ok(),
        24 => Cbc192Dec::new_from_slices(key, iv)
            .ok()?
            .decrypt_padded_vec_mut::<Pkcs7>(ct)
            .ok(),
        _ => Cbc256Dec::new_from_slices(key, iv)
            .ok()?
            .decrypt_padded_vec_mut::<Pkcs7>(ct)
            .ok(),
    }
}

fn supported_cipher(alg: &str) -> bool {
    alg.starts_with(NS_XENC)
        && matches!(
            alg.rsplit('#').next(),
            Some("aes128-cbc" | "aes192-cbc" | "aes256-cbc")
        )
}

fn mac_ok(alg: MacAlg, key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    fn check<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8], tag: &[u8]) -> bool {
        match <M as hmac::digest::KeyInit>::new_from_slice(key) {
            Ok(mut m) => {
                m.update(data);
                m.verify_slice(tag).is_ok()
            }
            Err(_) => false,
        }
    }
    match alg {
        MacAlg::Sha1 => check::<Hmac<sha1::Sha1>>(key, data, tag),
        MacAlg::Sha256 => check::<Hmac<sha2::Sha256>>(key, data, tag),
        MacAlg::Sha512 => check::<Hmac<sha2::Sha512>>(key, data, tag),
    }
}

fn hmac_sha1(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<sha1::Sha1> as hmac::digest::KeyInit>::new_from_slice(key)
        .expect("HMAC takes a key of any length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

impl Crypto {
    fn setup(root: Node<'_, '_>, keys: &Keys) -> Result<Crypto, PskcError> {
        let mut key = None;
        if let Some(ek) = child(root, "EncryptionKey") {
            if let Some(dk) = child(ek, "DerivedKey") {
                key = Some(derive(dk, keys)?);
            } else if child(ek, "X509Data").is_some() {
                return Err(PskcError::Unsupported(
                    "the secrets are encrypted to a certificate (RFC 6030 §6.3): ask the vendor for a pre-shared-key or password file".into(),
                ));
            } else {
                let name = child(ek, "KeyName")
                    .map(|n| format!(" '{}'", text(n)))
                    .unwrap_or_default();
                key = Some(keys.psk.clone().ok_or(PskcError::NeedPsk(name.clone()))?);
            }
        } else if let Some(psk) = &keys.psk {
            key = Some(psk.clone());
        }
        let mut mac = None;
        if let Some(mm) = child(root, "MACMethod") {
            let alg_uri = mm.attribute("Algorithm").unwrap_or("");
            let alg = match alg_uri.rsplit('#').next().unwrap_or("") {
                "hmac-sha1" => MacAlg::Sha1,
                "hmac-sha256" => MacAlg::Sha256,
                "hmac-sha512" => MacAlg::Sha512,
                _ => {
                    return Err(PskcError::Unsupported(format!(
                        "MAC algorithm '{alg_uri}' is not supported (hmac-sha1, hmac-sha256, hmac-sha512)"
                    )))
                }
            };
            let mac_key = match child(mm, "MACKey") {
                // Older drafts: the MAC key is the encryption key.
                None => key.clone().ok_or_else(|| {
                    PskcError::Unsupported("MACMethod without MACKey nor encryption key".into())
                })?,
                Some(mk) => {
                    let k = key.as_ref().ok_or_else(|| {
                        PskcError::Unsupported(
                            "the MAC key is encrypted but the file names no encryption key".into(),
                        )
                    })?;
                    Secret::new(decrypt_value(mk, k, "the MAC key")?)
                }
            };
            mac = Some((alg, mac_key));
        }
        Ok(Crypto { key, mac })
    }
}

/// The PBKDF2 key of a `DerivedKey` from the password.
fn derive(dk: Node<'_, '_>, keys: &Keys) -> Result<Secret, PskcError> {
    let kdm = child(dk, "KeyDerivationMethod")
        .ok_or_else(|| PskcError::Xml("DerivedKey without KeyDerivationMethod".into()))?;
    let alg = kdm.attribute("Algorithm").unwrap_or("");
    if alg != PBKDF2_URI {
        return Err(PskcError::Unsupported(format!(
            "key derivation '{alg}' is not supported (PBKDF2 only)"
        )));
    }
    let params = child(kdm, "PBKDF2-params")
        .ok_or_else(|| PskcError::Xml("PBKDF2 without PBKDF2-params".into()))?;
    let salt = path_text(params, &["Salt", "Specified"])
        .ok_or_else(|| PskcError::Xml("PBKDF2 without Salt/Specified".into()))?;
    let salt = b64(&salt, "the PBKDF2 salt").map_err(PskcError::Xml)?;
    let iterations: u32 = path_text(params, &["IterationCount"])
        .and_then(|s| s.parse().ok())
        .filter(|n| (1..=10_000_000).contains(n))
        .ok_or_else(|| PskcError::Xml("PBKDF2 IterationCount missing or out of range".into()))?;
    let len: usize = match path_text(params, &["KeyLength"]) {
        None => 16,
        Some(s) => s
            .parse()
            .ok()
            .filter(|n| [16, 24, 32].contains(n))
            .ok_or_else(|| {
                PskcError::Unsupported(format!("PBKDF2 key length '{s}' (16, 24 or 32)"))
            })?,
    };
    let prf = child(params, "PRF")
        .and_then(|p| p.attribute("Algorithm"))
        .unwrap_or("");
    let password = keys.password.as_ref().ok_or(PskcError::NeedPassword)?;
    let mut out = vec![0u8; len];
    match prf.rsplit('#').next().unwrap_or("") {
        "" | "hmac-sha1" => {
            pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password.expose(), &salt, iterations, &mut out)
        }
        "hmac-sha256" => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.expose(), &salt, iterations, &mut out)
        }
        "hmac-sha512" => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password.expose(), &salt, iterations, &mut out)
        }
        _ => {
            return Err(PskcError::Unsupported(format!(
                "PBKDF2 PRF '{prf}' is not supported"
            )))
        }
    }
    Ok(Secret::new(out))
}

/// The plaintext of an element holding `EncryptionMethod` and
/// `CipherData/CipherValue` (an `EncryptedValue`, a `MACKey`).
fn decrypt_value(n: Node<'_, '_>, key: &Secret, what: &str) -> Result<Vec<u8>, PskcError> {
    let alg = child(n, "EncryptionMethod")
        .and_then(|m| m.attribute("Algorithm"))
        .unwrap_or("");
    if !supported_cipher(alg) {
        return Err(PskcError::Unsupported(format!(
            "{what}: encryption '{alg}' is not supported (aes128-cbc, aes192-cbc, aes256-cbc)"
        )));
    }
    let cv = path_text(n, &["CipherData", "CipherValue"])
        .ok_or_else(|| PskcError::Xml(format!("{what}: no CipherData/CipherValue")))?;
    let data = b64(&cv, what).map_err(PskcError::Xml)?;
    decrypt(key.expose(), alg, &data).ok_or_else(|| PskcError::WrongKey(what.to_string()))
}

/// The bytes of a `Secret`, `Counter`, ... element: plain or encrypted,
/// its MAC checked.
fn value(n: Node<'_, '_>, c: &Crypto, what: &str) -> Result<Vec<u8>, PskcError> {
    if let Some(p) = child(n, "PlainValue") {
        return b64(&text(p), what).map_err(PskcError::Xml);
    }
    let ev = child(n, "EncryptedValue")
        .ok_or_else(|| PskcError::Xml(format!("{what}: neither PlainValue nor EncryptedValue")))?;
    let key = c.key.as_ref().ok_or_else(|| {
        PskcError::Unsupported(format!(
            "{what} is encrypted but the file names no key (give --psk-file)"
        ))
    })?;
    // Encrypt-then-MAC: the MAC is checked before anything is decrypted.
    match (child(n, "ValueMAC"), &c.mac) {
        (Some(vm), Some((alg, mk))) => {
            let tag = b64(&text(vm), "ValueMAC").map_err(PskcError::Xml)?;
            let cv = path_text(ev, &["CipherData", "CipherValue"]).unwrap_or_default();
            let data = b64(&cv, what).map_err(PskcError::Xml)?;
            if !mac_ok(*alg, mk.expose(), &data, &tag) {
                return Err(PskcError::BadMac(what.to_string()));
            }
        }
        (Some(_), None) => {
            return Err(PskcError::Unsupported(format!(
                "{what} has a ValueMAC but the file no MACMethod"
            )))
        }
        (None, _) => {}
    }
    let plain = decrypt_value(ev, key, what)?;
    Ok(plain)
}

/// An integer element (`Counter`, `TimeInterval`, ...): decimal text in
/// `PlainValue`, or big-endian bytes encrypted.
fn int_value(n: Node<'_, '_>, c: &Crypto, what: &str) -> Result<i64, PskcError> {
    if let Some(p) = child(n, "PlainValue") {
        return text(p)
            .parse()
            .map_err(|_| PskcError::Xml(format!("{what} '{}' is not an integer", text(p))));
    }
    let bytes = value(n, c, what)?;
    if bytes.is_empty() || bytes.len() > 8 {
        return Err(PskcError::Xml(format!(
            "{what}: encrypted integer of {} bytes",
            bytes.len()
        )));
    }
    let mut v: u64 = 0;
    for b in bytes {
        v = (v << 8) | u64::from(b);
    }
    i64::try_from(v).map_err(|_| PskcError::Xml(format!("{what} is out of range")))
}

/// Reads a container. Fails as a whole for malformed XML, a missing or
/// wrong key or password, or a bad MAC; keys that cannot be radotp tokens
/// are in [`Parsed::bad`] by key id.
pub fn parse(xml: &str, keys: &Keys) -> Result<Parsed, PskcError> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(xml, opts)
        .map_err(|e| PskcError::Xml(e.to_string()))?;
    let root = doc.root_element();
    if root.tag_name().name() != "KeyContainer" {
        return Err(PskcError::Xml(format!(
            "the root element is <{}>, not <KeyContainer>",
            root.tag_name().name()
        )));
    }
    if let Some(v) = root.attribute("Version") {
        if v != "1.0" {
            return Err(PskcError::Unsupported(format!(
                "PSKC version '{v}' (1.0 only)"
            )));
        }
    }
    let crypto = Crypto::setup(root, keys)?;
    let mut out = Parsed::default();
    let mut n = 0usize;
    for pkg in children(root, "KeyPackage") {
        for key in children(pkg, "Key") {
            n += 1;
            let id = key
                .attribute("Id")
                .or_else(|| key.attribute("KeyId"))
                .map_or_else(|| format!("#{n}"), str::to_string);
            let at = format!("key {id}");
            match key_token(pkg, key, &crypto, &at) {
                Ok(Ok(t)) => out.tokens.push((at, t)),
                Ok(Err(why)) => out.bad.push(BadEntry { at, why }),
                Err(e) => return Err(e),
            }
        }
    }
    if n == 0 {
        return Err(PskcError::Xml("the container holds no Key".into()));
    }
    Ok(out)
}

/// One key: a fatal error (decryption, MAC), or a token or why not.
fn key_token(
    pkg: Node<'_, '_>,
    key: Node<'_, '_>,
    c: &Crypto,
    at: &str,
) -> Result<Result<ImportToken, String>, PskcError> {
    let data = child(key, "Data");
    // Decrypt (and check the MAC of) everything first: a wrong key must
    // fail the file even when this key is refused for another reason.
    let secret = match data.and_then(|d| child(d, "Secret")) {
        Some(s) => Some(Secret::new(value(s, c, &format!("{at}: the secret"))?)),
        None => None,
    };
    let int = |name: &str| -> Result<Option<i64>, PskcError> {
        match data.and_then(|d| child(d, name)) {
            Some(n) => int_value(n, c, &format!("{at}: {name}")).map(Some),
            None => Ok(None),
        }
    };
    let counter = int("Counter")?;
    let time = int("Time")?;
    let interval = int("TimeInterval")?;
    let drift = int("TimeDrift")?;
    Ok(build(pkg, key, secret, counter, time, interval, drift))
}

#[allow(clippy::too_many_arguments)]
fn build(
    pkg: Node<'_, '_>,
    key: Node<'_, '_>,
    secret: Option<Secret>,
    counter: Option<i64>,
    time: Option<i64>,
    interval: Option<i64>,
    drift: Option<i64>,
) -> Result<ImportToken, String> {
    let alg_uri = key.attribute("Algorithm").unwrap_or("");
    let kind = match alg_uri.rsplit([':', '#', '/']).next().unwrap_or("") {
        s if s.eq_ignore_ascii_case("hotp") => Kind::Hotp,
        s if s.eq_ignore_ascii_case("totp") => Kind::Totp,
        _ => return Err(format!("algorithm '{alg_uri}' is not HOTP or TOTP")),
    };
    let secret = secret.ok_or("no secret (Data/Secret)")?;
    if secret.is_empty() {
        return Err("the secret is empty".into());
    }
    let params = child(key, "AlgorithmParameters");
    let algorithm = match params.and_then(|p| child(p, "Suite")).map(text) {
        None => Algorithm::Sha1,
        Some(s) => {
            let u = s.to_ascii_uppercase().replace(['-', '_'], "");
            if u.is_empty() || u.contains("SHA1") {
                Algorithm::Sha1
            } else if u.contains("SHA256") {
                Algorithm::Sha256
            } else if u.contains("SHA512") {
                Algorithm::Sha512
            } else {
                return Err(format!("suite '{s}' is not HMAC-SHA1, -SHA256 or -SHA512"));
            }
        }
    };
    let digits = match params.and_then(|p| child(p, "ResponseFormat")) {
        None => 6,
        Some(rf) => {
            let enc = rf.attribute("Encoding").unwrap_or("DECIMAL");
            if !enc.eq_ignore_ascii_case("DECIMAL") {
                return Err(format!("response encoding '{enc}' (only DECIMAL codes)"));
            }
            let len = rf.attribute("Length").unwrap_or("");
            len.parse()
                .ok()
                .filter(|d| otp::valid_digits(*d))
                .ok_or_else(|| format!("response length '{len}': radotp checks 6, 7 or 8 digits"))?
        }
    };
    let period = match interval {
        None => 30,
        Some(i) => u32::try_from(i)
            .ok()
            .filter(|p| otp::valid_period(*p))
            .ok_or_else(|| format!("time interval {i} s: expected 10 to 300"))?,
    };
    if kind == Kind::Totp && time.is_some_and(|t| t != 0) {
        return Err("a TOTP start time (Time) other than 0 is not supported".into());
    }
    let counter = match (kind, counter) {
        (Kind::Hotp, c) => {
            Some(u64::try_from(c.unwrap_or(0)).map_err(|_| "a negative counter".to_string())?)
        }
        (Kind::Totp, _) => None,
    };
    let user_id = child(key, "UserId")
        .map(text)
        .or_else(|| path_text(pkg, &["DeviceInfo", "UserId"]))
        .filter(|s| !s.is_empty());
    // radotp's own export names the user exactly (a name with `=` or `,`
    // would not survive being read as a distinguished name).
    let own_user = children(key, "Extensions")
        .flat_map(|e| e.children())
        .find(|n| n.is_element() && n.tag_name().namespace() == Some(NS_RADOTP))
        .and_then(|n| n.attribute("User"));
    let user = match (own_user, user_id) {
        (Some(u), _) => {
            crate::admin::check_user_name(u).map_err(|e| e.message)?;
            u.to_string()
        }
        (None, None) => String::new(),
        (None, Some(u)) => super::user_of(&u)?,
    };
    let serial = path_text(pkg, &["DeviceInfo", "SerialNo"]).filter(|s| !s.is_empty());
    if let Some(s) = &serial {
        crate::admin::check_serial(s).map_err(|e| e.message)?;
    }
    let description = match child(key, "FriendlyName").map(text) {
        Some(f) if !f.is_empty() => f,
        _ => {
            let maker = path_text(pkg, &["DeviceInfo", "Manufacturer"]).unwrap_or_default();
            let issuer = child(key, "Issuer").map(text).unwrap_or_default();
            match (maker.is_empty(), issuer.is_empty()) {
                (true, true) => String::new(),
                (false, true) => format!("PSKC ({maker})"),
                (true, false) => format!("PSKC ({issuer})"),
                (false, false) => format!("PSKC ({maker}, {issuer})"),
            }
        }
    };
    let mut t = ImportToken::new(
        user,
        otp::uri::encode_base32_secret(secret.expose()),
        kind,
        algorithm,
        digits,
        period,
    );
    t.serial = serial;
    t.counter = counter;
    t.description = description;
    t.drift = drift.unwrap_or(0);
    if radotp_extension(key, &mut t)? && child(key, "FriendlyName").is_none() {
        // radotp's own export: no FriendlyName is an empty description.
        t.description.clear();
    }
    Ok(t)
}

/// radotp's extension of its own exports: id, state, last step, times.
/// True when the key has it.
fn radotp_extension(key: Node<'_, '_>, t: &mut ImportToken) -> Result<bool, String> {
    let Some(ext) = children(key, "Extensions")
        .flat_map(|e| e.children())
        .find(|n| n.is_element() && n.tag_name().namespace() == Some(NS_RADOTP))
    else {
        return Ok(false);
    };
    let num = |name: &str| -> Result<Option<u64>, String> {
        ext.attribute(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| format!("radotp {name} '{v}' is not a number"))
            })
            .transpose()
    };
    if let Some(id) = ext.attribute("Id") {
        t.id = Some(id.to_string());
    }
    t.state = match ext.attribute("State") {
        None => None,
        Some("pending") => Some(TokenState::Pending),
        Some("active") => Some(TokenState::Active),
        Some("disabled") => Some(TokenState::Disabled),
        Some(s) => return Err(format!("radotp state '{s}'")),
    };
    t.last_step = num("LastStep")?;
    t.created = num("Created")?;
    t.last_used = num("LastUsed")?;
    Ok(true)
}

/// How an export protects its seeds.
pub enum Protection {
    /// In the clear (only with `--plaintext`).
    Plain,
    /// AES-128-CBC under a pre-shared 16-byte key.
    Psk(Secret),
    /// AES-128-CBC under a PBKDF2-HMAC-SHA1 key from the password.
    Password { password: Secret, iterations: u32 },
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

fn random(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut v);
    v
}

/// `IV || AES-128-CBC(plain)`, a fresh IV each time.
fn encrypt(key: &[u8], plain: &[u8]) -> Vec<u8> {
    let iv = random(16);
    let ct = cbc::Encryptor::<aes::Aes128>::new_from_slices(key, &iv)
        .expect("16-byte key and IV")
        .encrypt_padded_vec_mut::<Pkcs7>(plain);
    let mut out = iv;
    out.extend_from_slice(&ct);
    out
}

fn cipher_xml(indent: &str, data: &[u8]) -> String {
    format!(
        "{indent}<xenc:EncryptionMethod Algorithm=\"{NS_XENC}aes128-cbc\"/>\n\
         {indent}<xenc:CipherData>\n\
         {indent}  <xenc:CipherValue>{}</xenc:CipherValue>\n\
         {indent}</xenc:CipherData>\n",
        BASE64.encode(data)
    )
}

/// Writes `tokens` (an export: every field set) as a PSKC container.
/// Encrypted (PSK or password) unless `Protection::Plain`; each encrypted
/// secret carries an HMAC-SHA1 under a random MAC key that is itself
/// encrypted, as RFC 6030 §6.1.1 describes.
pub fn write(tokens: &[ImportToken], protection: &Protection) -> Result<String, PskcError> {
    let key: Option<Secret> = match protection {
        Protection::Plain => None,
        Protection::Psk(k) => {
            if k.len() != 16 {
                return Err(PskcError::Unsupported(format!(
                    "the export key must be 16 bytes (32 hex digits) for AES-128, not {}",
                    k.len()
                )));
            }
            Some(k.clone())
        }
        Protection::Password { .. } => None,
    };
    let mut x = String::with_capacity(512 + tokens.len() * 900);
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<KeyContainer Version=\"1.0\" xmlns=\"{NS_PSKC}\" xmlns:ds=\"{NS_DS}\" xmlns:xenc=\"{NS_XENC}\" \
         xmlns:xenc11=\"{NS_XENC11}\" xmlns:pkcs5=\"{NS_PKCS5}\" xmlns:radotp=\"{NS_RADOTP}\">\n"
    ));
    let key = match protection {
        Protection::Plain => None,
        Protection::Psk(_) => {
            x.push_str("  <EncryptionKey>\n    <ds:KeyName>radotp export key</ds:KeyName>\n  </EncryptionKey>\n");
            key
        }
        Protection::Password {
            password,
            iterations,
        } => {
            let salt = random(16);
            let mut k = vec![0u8; 16];
            pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password.expose(), &salt, *iterations, &mut k);
            x.push_str(&format!(
                "  <EncryptionKey>\n\
                 \x20   <xenc11:DerivedKey>\n\
                 \x20     <xenc11:KeyDerivationMethod Algorithm=\"{PBKDF2_URI}\">\n\
                 \x20       <pkcs5:PBKDF2-params>\n\
                 \x20         <Salt><Specified>{}</Specified></Salt>\n\
                 \x20         <IterationCount>{iterations}</IterationCount>\n\
                 \x20         <KeyLength>16</KeyLength>\n\
                 \x20       </pkcs5:PBKDF2-params>\n\
                 \x20     </xenc11:KeyDerivationMethod>\n\
                 \x20   </xenc11:DerivedKey>\n\
                 \x20 </EncryptionKey>\n",
                BASE64.encode(&salt)
            ));
            Some(Secret::new(k))
        }
    };
    let mac_key = key.as_ref().map(|k| {
        let mk = Secret::new(random(20));
        x.push_str(&format!(
            "  <MACMethod Algorithm=\"{NS_DS}hmac-sha1\">\n    <MACKey>\n{}    </MACKey>\n  </MACMethod>\n",
            cipher_xml("      ", &encrypt(k.expose(), mk.expose()))
        ));
        mk
    });
    for t in tokens {
        let seed = Secret::new(
            otp::uri::parse_base32_secret(&t.secret)
                .map_err(|e| PskcError::Unsupported(format!("token seed: {e}")))?,
        );
        x.push_str("  <KeyPackage>\n");
        if t.serial.is_some() {
            x.push_str("    <DeviceInfo>\n");
            if let Some(s) = &t.serial {
                x.push_str(&format!("      <SerialNo>{}</SerialNo>\n", esc(s)));
            }
            x.push_str("    </DeviceInfo>\n");
        }
        let id = t.id.clone().unwrap_or_default();
        let uri = match t.kind {
            Kind::Hotp => HOTP_URI,
            Kind::Totp => TOTP_URI,
        };
        x.push_str(&format!(
            "    <Key Id=\"{}\" Algorithm=\"{uri}\">\n",
            esc(&id)
        ));
        x.push_str("      <Issuer>radotp</Issuer>\n      <AlgorithmParameters>\n");
        let suite = match t.algorithm {
            Algorithm::Sha1 => "HMAC-SHA1",
            Algorithm::Sha256 => "HMAC-SHA256",
            Algorithm::Sha512 => "HMAC-SHA512",
            Algorithm::Sm3 => {
                return Err(PskcError::Unsupported(format!(
                    "token {id} uses HMAC-SM3, which PSKC cannot name: export it as otpauth"
                )))
            }
        };
        x.push_str(&format!(
            "        <Suite>{suite}</Suite>\n        <ResponseFormat Length=\"{}\" Encoding=\"DECIMAL\"/>\n      </AlgorithmParameters>\n",
            t.digits
        ));
        if !t.description.is_empty() {
            x.push_str(&format!(
                "      <FriendlyName>{}</FriendlyName>\n",
                esc(&t.description)
            ));
        }
        x.push_str("      <Data>\n        <Secret>\n");
        match (&key, &mac_key) {
            (Some(k), Some(mk)) => {
                let enc = encrypt(k.expose(), seed.expose());
                x.push_str(&format!(
                    "          <EncryptedValue>\n{}          </EncryptedValue>\n          <ValueMAC>{}</ValueMAC>\n",
                    cipher_xml("            ", &enc),
                    BASE64.encode(&hmac_sha1(mk.expose(), &enc))
                ));
            }
            _ => x.push_str(&format!(
                "          <PlainValue>{}</PlainValue>\n",
                BASE64.encode(seed.expose())
            )),
        }
        x.push_str("        </Secret>\n");
        let plain = |name: &str, v: String| {
            format!("        <{name}><PlainValue>{v}</PlainValue></{name}>\n")
        };
        match t.kind {
            Kind::Hotp => x.push_str(&plain("Counter", t.counter.unwrap_or(0).to_string())),
            Kind::Totp => {
                x.push_str(&plain("TimeInterval", t.period.to_string()));
                if t.drift != 0 {
                    x.push_str(&plain("TimeDrift", t.drift.to_string()));
                }
            }
        }
        x.push_str("      </Data>\n");
        if !t.user.is_empty() {
            x.push_str(&format!("      <UserId>{}</UserId>\n", esc(&t.user)));
        }
        let mut attrs = format!(" Id=\"{}\"", esc(&id));
        if !t.user.is_empty() {
            attrs.push_str(&format!(" User=\"{}\"", esc(&t.user)));
        }
        if let Some(s) = t.state {
            attrs.push_str(&format!(" State=\"{}\"", s.as_str()));
        }
        for (name, v) in [
            ("LastStep", t.last_step),
            ("Created", t.created),
            ("LastUsed", t.last_used),
        ] {
            if let Some(v) = v {
                attrs.push_str(&format!(" {name}=\"{v}\""));
            }
        }
        x.push_str(&format!(
            "      <Extensions><radotp:Token{attrs}/></Extensions>\n    </Key>\n  </KeyPackage>\n"
        ));
    }
    x.push_str("</KeyContainer>\n");
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(kind: Kind) -> ImportToken {
        let mut t = ImportToken::new(
            "alice".into(),
            otp::uri::encode_base32_secret(b"12345678901234567890"),
            kind,
            Algorithm::Sha256,
            8,
            60,
        );
        t.id = Some("t-abc".into());
        t.serial = Some("SN<1>".into());
        t.counter = (kind == Kind::Hotp).then_some(7);
        t.description = "desk & door".into();
        t.state = Some(TokenState::Disabled);
        t.last_step = (kind == Kind::Totp).then_some(55);
        t.drift = -2;
        t.created = Some(1_700_000_000);
        t.last_used = Some(1_700_000_100);
        t
    }

    fn same(a: &ImportToken, b: &ImportToken) {
        assert_eq!(
            (&a.user, &a.id, &a.serial, &a.secret, a.kind, a.algorithm),
            (&b.user, &b.id, &b.serial, &b.secret, b.kind, b.algorithm)
        );
        assert_eq!(
            (a.digits, a.counter, &a.description, a.state, a.last_step),
            (b.digits, b.counter, &b.description, b.state, b.last_step)
        );
        assert_eq!((a.created, a.last_used), (b.created, b.last_used));
        if a.kind == Kind::Totp {
            assert_eq!((a.period, a.drift), (b.period, b.drift));
        }
    }

    #[test]
    fn write_then_parse_round_trips_plain_psk_and_password() {
        let ts = vec![token(Kind::Totp), token(Kind::Hotp)];
        let psk = Secret::new(vec![9u8; 16]);
        let pw = Secret::from("correct horse");
        for (p, keys) in [
            (Protection::Plain, Keys::default()),
            (
                Protection::Psk(psk.clone()),
                Keys {
                    psk: Some(psk.clone()),
                    password: None,
                },
            ),
            (
                Protection::Password {
                    password: pw.clone(),
                    iterations: 1000,
                },
                Keys {
                    psk: None,
                    password: Some(pw.clone()),
                },
            ),
        ] {
            let xml = write(&ts, &p).unwrap();
            let got = parse(&xml, &keys).unwrap();
            assert!(got.bad.is_empty(), "{:?}", got.bad);
            assert_eq!(got.tokens.len(), 2);
            same(&got.tokens[0].1, &ts[0]);
            same(&got.tokens[1].1, &ts[1]);
        }
    }

    /// Found by the `provision` fuzz target: a user name with `=` was
    /// written as UserId and read back as a distinguished name.
    #[test]
    fn own_export_keeps_a_user_name_that_looks_like_a_dn() {
        let mut t = token(Kind::Totp);
        t.user = "jsmith=C=example".into();
        let xml = write(&[t], &Protection::Plain).unwrap();
        let p = parse(&xml, &Keys::default()).unwrap();
        assert_eq!(p.tokens.len(), 1, "{:?}", p.bad);
        assert_eq!(p.tokens[0].1.user, "jsmith=C=example");
    }

    #[test]
    fn encrypted_export_holds_no_seed_in_the_clear() {
        let ts = vec![token(Kind::Totp)];
        let xml = write(&ts, &Protection::Psk(Secret::new(vec![1u8; 16]))).unwrap();
        assert!(!xml.contains(&BASE64.encode(b"12345678901234567890")));
        assert!(!xml.contains(&ts[0].secret));
        assert!(!xml.contains("PlainValue>MTIz"));
    }

    #[test]
    fn wrong_psk_or_password_and_missing_keys_are_one_error() {
        let ts = vec![token(Kind::Totp)];
        let xml = write(&ts, &Protection::Psk(Secret::new(vec![1u8; 16]))).unwrap();
        let wrong = Keys {
            psk: Some(Secret::new(vec![2u8; 16])),
            password: None,
        };
        let e = parse(&xml, &wrong).unwrap_err();
        assert!(
            matches!(e, PskcError::WrongKey(_) | PskcError::BadMac(_)),
            "{e}"
        );
        assert!(matches!(
            parse(&xml, &Keys::default()),
            Err(PskcError::NeedPsk(_))
        ));
        let xml = write(
            &ts,
            &Protection::Password {
                password: Secret::from("a"),
                iterations: 10,
            },
        )
        .unwrap();
        assert_eq!(
            parse(&xml, &Keys::default()).err(),
            Some(PskcError::NeedPassword)
        );
    }

    #[test]
    fn tampered_ciphertext_fails_the_mac_check() {
        let ts = vec![token(Kind::Hotp)];
        let k = Secret::new(vec![3u8; 16]);
        let xml = write(&ts, &Protection::Psk(k.clone())).unwrap();
        // Flip one base64 character of the secret's CipherValue (the second
        // one in the file; the first is the MAC key's).
        let start = xml.match_indices("<xenc:CipherValue>").nth(1).unwrap().0 + 18 + 30;
        let mut bytes = xml.into_bytes();
        bytes[start] = if bytes[start] == b'A' { b'B' } else { b'A' };
        let xml = String::from_utf8(bytes).unwrap();
        let e = parse(
            &xml,
            &Keys {
                psk: Some(k),
                password: None,
            },
        )
        .unwrap_err();
        assert!(matches!(e, PskcError::BadMac(_)), "{e}");
    }

    #[test]
    fn malformed_xml_and_dtds_are_errors_not_panics() {
        for bad in [
            "",
            "<KeyContainer",
            "<Other/>",
            "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><KeyContainer/>",
            "<KeyContainer Version=\"1.0\"/>",
        ] {
            assert!(parse(bad, &Keys::default()).is_err(), "{bad}");
        }
    }

    #[test]
    fn unusable_keys_are_reported_by_id_and_the_rest_kept() {
        let xml = format!(
            "<KeyContainer Version=\"1.0\" xmlns=\"{NS_PSKC}\">\
             <KeyPackage><Key Id=\"ok\" Algorithm=\"{TOTP_URI}\"><Data><Secret><PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue></Secret></Data></Key></KeyPackage>\
             <KeyPackage><Key Id=\"nine\" Algorithm=\"{HOTP_URI}\"><AlgorithmParameters><ResponseFormat Length=\"9\" Encoding=\"DECIMAL\"/></AlgorithmParameters><Data><Secret><PlainValue>MTIz</PlainValue></Secret></Data></Key></KeyPackage>\
             <KeyPackage><Key Id=\"ocra\" Algorithm=\"urn:ietf:params:xml:ns:keyprov:pskc#OCRA-1\"><Data><Secret><PlainValue>MTIz</PlainValue></Secret></Data></Key></KeyPackage>\
             </KeyContainer>"
        );
        let p = parse(&xml, &Keys::default()).unwrap();
        assert_eq!(p.tokens.len(), 1);
        assert_eq!(p.tokens[0].0, "key ok");
        assert!(p.tokens[0].1.user.is_empty(), "no UserId: unassigned");
        let at: Vec<_> = p.bad.iter().map(|b| b.at.as_str()).collect();
        assert_eq!(at, ["key nine", "key ocra"]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any change of one byte of an encrypted export is an error or a
        /// parse, never a panic; a change inside a secret's ciphertext or
        /// MAC is never accepted with another seed.
        #[test]
        fn one_byte_changed_in_an_export_never_panics_nor_changes_a_seed(pos in 0usize..4000, byte in 0u8..=255) {
            let k = Secret::new(vec![5u8; 16]);
            let ts = vec![token(Kind::Totp)];
            let xml = write(&ts, &Protection::Psk(k.clone())).unwrap();
            let mut b = xml.into_bytes();
            let at = pos % b.len();
            b[at] = byte;
            let text = String::from_utf8_lossy(&b);
            let keys = Keys { psk: Some(k), password: None };
            if let Ok(p) = parse(&text, &keys) {
                for (_, t) in &p.tokens {
                    proptest::prop_assert_eq!(&t.secret, &ts[0].secret);
                }
            }
        }

        #[test]
        fn arbitrary_text_is_an_error_or_a_parse_never_a_panic(s in ".{0,300}") {
            let _ = parse(&s, &Keys::default());
            let _ = parse(&format!("<KeyContainer Version=\"1.0\">{s}</KeyContainer>"), &Keys::default());
        }
    }
}
