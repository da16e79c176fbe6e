//! RADIUS cryptography over bytes: User-Password hiding (RFC 2865 §5.2),
//! the keyed MD5 and HMAC-MD5 (keyed states cached per thread) with which
//! the codec signs and checks authenticators, and the RFC 2548 MPPE key
//! encryption. It knows nothing of packets: building signed packets and
//! checking received ones (Request/Response Authenticators, RFC 2865 §3,
//! RFC 2866 §3; Message-Authenticator, RFC 2869 §5.14, RFC 3579 §3.2) is
//! the codec's, [`super::packet`].

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use zeroize::Zeroize;

use crate::secret::Secret;

pub(crate) type HmacMd5 = Hmac<Md5>;

/// Longest hidden User-Password (RFC 2865 §5.2).
pub const MAX_PASSWORD_LEN: usize = 128;

/// Offset of the Request/Response Authenticator in the header.
pub(crate) const AUTH_RANGE: std::ops::Range<usize> = 4..20;

/// Length of a Message-Authenticator attribute on the wire.
pub(crate) const MA_ATTR_LEN: usize = 18;

/// Why a hidden User-Password cannot be recovered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    #[error("User-Password of {0} bytes is not a non-zero multiple of 16 up to 128")]
    BadLength(usize),
}

/// RFC 2865 §5.2 (client side): hides `password` (padded with NULs to a
/// multiple of 16, at most 128 bytes) under `secret` and the Request Authenticator.
///
/// A password longer than 128 bytes is cut at 128; an empty one becomes one
/// block of 16 NULs.
pub fn hide_password(password: &[u8], secret: &[u8], authenticator: &[u8; 16]) -> Vec<u8> {
    let n = password.len().min(MAX_PASSWORD_LEN);
    let padded = n.div_ceil(16).max(1) * 16;
    let mut out = vec![0u8; padded];
    if let (Some(dst), Some(src)) = (out.get_mut(..n), password.get(..n)) {
        dst.copy_from_slice(src);
    }
    chain_encrypt(&mut out, secret, &[authenticator]);
    out
}

/// RFC 2865 §5.2 (server side): recovers the password and strips trailing NULs.
pub fn unhide_password(
    hidden: &[u8],
    secret: &[u8],
    authenticator: &[u8; 16],
) -> Result<Secret, PasswordError> {
    let n = hidden.len();
    if n == 0 || !n.is_multiple_of(16) || n > MAX_PASSWORD_LEN {
        return Err(PasswordError::BadLength(n));
    }
    let mut plain = hidden.to_vec();
    chain_decrypt(&mut plain, secret, &[authenticator]);
    let end = plain.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    // Zero the stripped padding before shrinking (it is all NULs anyway).
    plain.truncate(end);
    Ok(Secret::new(plain))
}

/// `MD5(secret ‖ parts…)` as 16 bytes.
pub(crate) fn md5_keyed(secret: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(secret);
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// The RFC 2865 §5.2 / RFC 2548 §2.4.2 cipher, in place: block 1 is XORed
/// with `MD5(secret ‖ first…)`, block i with `MD5(secret ‖ c(i-1))`.
/// `buf` is a multiple of 16 bytes (a short last block is XORed partially).
fn chain_encrypt(buf: &mut [u8], secret: &[u8], first: &[&[u8]]) {
    let mut b = md5_keyed(secret, first);
    for block in buf.chunks_mut(16) {
        xor_into(block, &b);
        b.zeroize();
        b = md5_keyed(secret, &[block]);
    }
    b.zeroize();
}

/// The inverse of [`chain_encrypt`].
fn chain_decrypt(buf: &mut [u8], secret: &[u8], first: &[&[u8]]) {
    let mut b = md5_keyed(secret, first);
    for block in buf.chunks_mut(16) {
        let next = md5_keyed(secret, &[block]);
        xor_into(block, &b);
        b.zeroize();
        b = next;
    }
    b.zeroize();
}

fn xor_into(block: &mut [u8], key: &[u8; 16]) {
    for (x, k) in block.iter_mut().zip(key) {
        *x ^= k;
    }
}

/// Keyed HMAC-MD5 states kept per thread (the last few secrets used).
const KEYED_CACHE: usize = 4;

thread_local! {
    static KEYED: std::cell::RefCell<(usize, Vec<(Secret, HmacMd5)>)> =
        const { std::cell::RefCell::new((0, Vec::new())) };
}

/// HMAC-MD5 keyed with `secret`. Keying hashes two padded blocks; a
/// server hashes with the same few client secrets all day, so each thread
/// keeps the keyed states of its last few secrets (the copy of the secret
/// kept with each is zeroed when evicted) and clones one: two MD5 blocks
/// fewer per HMAC.
pub(crate) fn keyed_mac(secret: &[u8]) -> Option<HmacMd5> {
    KEYED.with(|cache| {
        let mut cache = cache.borrow_mut();
        // Every entry is compared, in constant time, whichever matches.
        let mut hit = None;
        for (i, (k, _)) in cache.1.iter().enumerate() {
            if k.ct_eq(secret) {
                hit = Some(i);
            }
        }
        if let Some(i) = hit {
            return Some(cache.1[i].1.clone());
        }
        let mac = <HmacMd5 as Mac>::new_from_slice(secret).ok()?;
        let entry = (Secret::new(secret.to_vec()), mac.clone());
        if cache.1.len() < KEYED_CACHE {
            cache.1.push(entry);
        } else {
            let at = cache.0 % KEYED_CACHE;
            cache.1[at] = entry;
            cache.0 = at + 1;
        }
        Some(mac)
    })
}

/// HMAC-MD5 over a whole buffer (already prepared).
fn hmac_md5(buf: &[u8], secret: &[u8]) -> Option<[u8; 16]> {
    let mut mac = keyed_mac(secret)?;
    mac.update(buf);
    Some(mac.finalize().into_bytes().into())
}

/// Fills the zeroed Message-Authenticator value at `at` with the HMAC-MD5
/// of `out` as it stands.
pub(crate) fn sign_message_authenticator(out: &mut [u8], at: usize, secret: &[u8]) {
    if let (Some(mac), Some(field)) = (hmac_md5(out, secret), out.get_mut(at..at + 16)) {
        field.copy_from_slice(&mac);
    }
}

/// RFC 2548 §2.4.2/2.4.3: encrypts an MS-MPPE-Send-Key/Recv-Key value
/// (`key` is the 16-byte session key; the key length octet and padding are
/// added here) with `salt` (high bit set by this function).
///
/// The result is `Salt (2) ‖ C`, where the plaintext `len(key) ‖ key`,
/// padded with NULs to a multiple of 16, is XORed block by block with
/// `b(1) = MD5(secret ‖ Request Authenticator ‖ Salt)` and
/// `b(i) = MD5(secret ‖ c(i-1))`. Each salt must be unique per key sent
/// under one Request Authenticator. Keys longer than 255 bytes are cut.
pub fn mppe_encrypt_key(
    key: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
    salt: u16,
) -> Vec<u8> {
    let salt = (salt | 0x8000).to_be_bytes();
    let key = key.get(..key.len().min(255)).unwrap_or_default();
    let plain_len = (1 + key.len()).div_ceil(16) * 16;
    let mut out = Vec::with_capacity(2 + plain_len);
    out.extend_from_slice(&salt);
    out.push(key.len() as u8);
    out.extend_from_slice(key);
    out.resize(2 + plain_len, 0);
    if let Some(body) = out.get_mut(2..) {
        chain_encrypt(body, secret, &[request_authenticator, &salt]);
    }
    out
}

/// The inverse of [`mppe_encrypt_key`] (client side, for tests and probe).
///
/// `None` when the value is shorter than salt plus one block, not a whole
/// number of blocks, the salt's high bit is clear, or the key length octet
/// points past the plaintext.
pub fn mppe_decrypt_key(
    value: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
) -> Option<Vec<u8>> {
    let (salt, cipher) = value.split_first_chunk::<2>()?;
    if salt[0] & 0x80 == 0 || cipher.is_empty() || cipher.len() % 16 != 0 {
        return None;
    }
    let mut plain = cipher.to_vec();
    chain_decrypt(&mut plain, secret, &[request_authenticator, salt]);
    let key = match plain.split_first() {
        Some((&len, rest)) => rest.get(..usize::from(len)).map(<[u8]>::to_vec),
        None => None,
    };
    plain.zeroize();
    key
}

/// RFC 2548 §2.4.1: the MS-CHAP-MPPE-Keys value (8-byte LM key, 16-byte NT
/// key, 8 zero bytes) encrypted like User-Password.
///
/// The 32-byte plaintext is hidden with [`hide_password`] under the
/// Access-Request's authenticator, so the value is 32 bytes.
pub fn ms_chap_mppe_keys(
    lm_key: &[u8; 8],
    nt_key: &[u8; 16],
    secret: &[u8],
    request_authenticator: &[u8; 16],
) -> Vec<u8> {
    let mut plain = [0u8; 32];
    plain[..8].copy_from_slice(lm_key);
    plain[8..24].copy_from_slice(nt_key);
    let out = hide_password(&plain, secret, request_authenticator);
    plain.zeroize();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radius::attribute::types;
    use crate::radius::attribute::Attribute;
    use crate::radius::packet::*;
    use crate::radius::packet::{encode_request, encode_response};

    /// RFC 2202 §2 test cases 1–3, interleaved with other keys so that the
    /// per-thread cache of keyed states hits, misses and evicts.
    #[test]
    fn rfc2202_hmac_md5_through_the_keyed_cache() {
        let cases: [(&[u8], &[u8], &str); 3] = [
            (&[0x0b; 16], b"Hi There", "9294727a3638bb1c13f48ef8158bfc9d"),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "750c783e6ab0b503eaa86e310a5db738",
            ),
            (&[0xaa; 16], &[0xdd; 50], "56be34521d144c88dbb8c733f0e8b3f6"),
        ];
        let others: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 10 + usize::from(i)]).collect();
        for _ in 0..3 {
            for (key, data, want) in cases {
                assert_eq!(hex::encode(hmac_md5(data, key).unwrap()), want);
                for k in &others {
                    let mut fresh = <HmacMd5 as Mac>::new_from_slice(k).unwrap();
                    fresh.update(data);
                    let fresh: [u8; 16] = fresh.finalize().into_bytes().into();
                    assert_eq!(hmac_md5(data, k).unwrap(), fresh);
                }
            }
        }
    }

    /// RFC 2865 §7.1 Access-Request (secret "xyzzy5461", password "arctangent").
    const RFC2865_7_1_REQUEST: &str = "01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb
        98 f4 22 7a 01 06 6e 65 6d 6f 02 12 0d be 70 8d
        93 d4 13 ce 31 96 e4 3f 78 2a 0a ee 04 06 c0 a8
        01 10 05 06 00 00 00 03";
    /// RFC 2865 §7.1 Access-Accept answering it.
    const RFC2865_7_1_ACCEPT: &str = "02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf
        9b 55 e0 b2 06 06 00 00 00 01 0f 06 00 00 00 00
        0e 06 c0 a8 01 03";
    const RFC_SECRET: &[u8] = b"xyzzy5461";

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        hex::decode(s).unwrap()
    }

    fn rfc_request() -> (Vec<u8>, Packet) {
        let raw = unhex(RFC2865_7_1_REQUEST);
        let p = Packet::decode(&raw).unwrap();
        (raw, p)
    }

    #[test]
    fn rfc2865_7_1_unhide_password_gives_arctangent() {
        let (_, p) = rfc_request();
        let hidden = p.attr(types::USER_PASSWORD).unwrap();
        let pw = unhide_password(hidden, RFC_SECRET, &p.authenticator).unwrap();
        assert_eq!(pw.expose(), b"arctangent");
        let wrong = unhide_password(hidden, b"xyzzy5462", &p.authenticator).unwrap();
        assert_ne!(wrong.expose(), b"arctangent");
    }

    #[test]
    fn rfc2865_7_1_hide_password_matches_the_rfc_bytes() {
        let (_, p) = rfc_request();
        let hidden = hide_password(b"arctangent", RFC_SECRET, &p.authenticator);
        assert_eq!(hidden.as_slice(), p.attr(types::USER_PASSWORD).unwrap());
    }

    #[test]
    fn rfc2865_7_1_response_authenticator_of_the_accept() {
        let (_, req) = rfc_request();
        let accept = unhex(RFC2865_7_1_ACCEPT);
        assert!(verify_response(&accept, &req.authenticator, RFC_SECRET));
        assert!(!verify_response(&accept, &req.authenticator, b"xyzzy5460"));
        let mut other = req.authenticator;
        other[0] ^= 1;
        assert!(!verify_response(&accept, &other, RFC_SECRET));
        let mut tampered = accept.clone();
        tampered[37] ^= 1;
        assert!(!verify_response(&tampered, &req.authenticator, RFC_SECRET));
    }

    #[test]
    fn rfc2865_5_2_password_lengths() {
        let auth = [7u8; 16];
        for n in [0usize, 1, 15, 16, 17, 31, 32, 100, 127, 128] {
            let pw: Vec<u8> = (1..=n).map(|i| i as u8).collect();
            let hidden = hide_password(&pw, b"s", &auth);
            assert_eq!(hidden.len(), n.div_ceil(16).max(1) * 16, "n={n}");
            assert_eq!(
                unhide_password(&hidden, b"s", &auth).unwrap().expose(),
                &pw[..]
            );
        }
        // Longer than 128 is cut at 128.
        let long = [b'x'; 200];
        let hidden = hide_password(&long, b"s", &auth);
        assert_eq!(hidden.len(), 128);
        assert_eq!(
            unhide_password(&hidden, b"s", &auth).unwrap().expose(),
            &long[..128]
        );
    }

    #[test]
    fn rfc2865_5_2_unhide_rejects_bad_lengths() {
        let auth = [0u8; 16];
        for n in [0usize, 1, 15, 17, 129, 144] {
            assert_eq!(
                unhide_password(&vec![1u8; n], b"s", &auth).unwrap_err(),
                PasswordError::BadLength(n)
            );
        }
    }

    #[test]
    fn rfc2866_accounting_response_has_no_message_authenticator_except_for_status_server() {
        let (_, mut req) = rfc_request();
        req.code = Code::AccountingRequest;
        req.attributes.clear();
        let raw = encode_response(Code::AccountingResponse, &req, vec![], RFC_SECRET).unwrap();
        assert_eq!(raw.len(), 20, "header only");
        assert!(verify_response(&raw, &req.authenticator, RFC_SECRET));
        req.code = Code::StatusServer;
        let raw = encode_response(Code::AccountingResponse, &req, vec![], RFC_SECRET).unwrap();
        let p = Packet::decode(&raw).unwrap();
        assert!(p.attr(types::MESSAGE_AUTHENTICATOR).is_some(), "RFC 5997");
        assert!(verify_response(&raw, &req.authenticator, RFC_SECRET));
    }

    #[test]
    fn rfc3579_3_2_response_has_message_authenticator_first_and_proxy_state_last() {
        let (_, mut req) = rfc_request();
        req.push(types::PROXY_STATE, b"one".to_vec());
        req.push(types::PROXY_STATE, b"two".to_vec());
        let raw = encode_response(
            Code::AccessAccept,
            &req,
            vec![Attribute::new(types::REPLY_MESSAGE, b"hi".to_vec())],
            RFC_SECRET,
        )
        .unwrap();
        let p = Packet::decode(&raw).unwrap();
        assert_eq!(p.code, Code::AccessAccept);
        assert_eq!(p.identifier, req.identifier);
        let typs: Vec<u8> = p.attributes.iter().map(|a| a.typ).collect();
        assert_eq!(
            typs,
            [
                types::MESSAGE_AUTHENTICATOR,
                types::REPLY_MESSAGE,
                types::PROXY_STATE,
                types::PROXY_STATE
            ]
        );
        let proxies: Vec<&[u8]> = p.attrs(types::PROXY_STATE).collect();
        assert_eq!(proxies, [&b"one"[..], &b"two"[..]]);
        assert!(verify_response(&raw, &req.authenticator, RFC_SECRET));
        assert!(!verify_response(&raw, &req.authenticator, b"other"));
        assert_eq!(
            check_message_authenticator(&raw, &p, RFC_SECRET, Some(&req.authenticator)),
            MessageAuthenticator::Valid
        );
        assert_eq!(
            check_message_authenticator(&raw, &p, b"other", Some(&req.authenticator)),
            MessageAuthenticator::Invalid
        );
    }

    #[test]
    fn rfc3579_3_2_request_message_authenticator_round_trip() {
        let (_, mut req) = rfc_request();
        req.push(types::MESSAGE_AUTHENTICATOR, vec![0u8; 16]);
        let raw = encode_request(&req, b"k", true).unwrap();
        let p = Packet::decode(&raw).unwrap();
        assert_eq!(p.attributes[0].typ, types::MESSAGE_AUTHENTICATOR);
        assert_eq!(p.attrs(types::MESSAGE_AUTHENTICATOR).count(), 1);
        assert_eq!(p.authenticator, req.authenticator);
        assert_eq!(
            check_message_authenticator(&raw, &p, b"k", None),
            MessageAuthenticator::Valid
        );
        assert_eq!(
            check_message_authenticator(&raw, &p, b"K", None),
            MessageAuthenticator::Invalid
        );
        let (raw0, p0) = rfc_request();
        assert_eq!(
            check_message_authenticator(&raw0, &p0, b"k", None),
            MessageAuthenticator::Absent
        );
    }

    #[test]
    fn rfc2866_3_accounting_request_authenticator_round_trip() {
        let mut p = Packet::new(Code::AccountingRequest, 9, [0xaa; 16]);
        p.push(types::ACCT_STATUS_TYPE, 1u32.to_be_bytes().to_vec());
        p.push(types::USER_NAME, b"bob".to_vec());
        for ma in [false, true] {
            let raw = encode_request(&p, b"acct", ma).unwrap();
            assert!(verify_accounting_request(&raw, b"acct"));
            assert!(!verify_accounting_request(&raw, b"acct2"));
            let d = Packet::decode(&raw).unwrap();
            let want = if ma {
                MessageAuthenticator::Valid
            } else {
                MessageAuthenticator::Absent
            };
            assert_eq!(check_message_authenticator(&raw, &d, b"acct", None), want);
        }
    }

    #[test]
    fn rfc2548_2_4_2_mppe_key_round_trip() {
        let auth = [0x5a; 16];
        let key: Vec<u8> = (0..16).collect();
        let v = mppe_encrypt_key(&key, b"sec", &auth, 0x0123);
        assert_eq!(v.len(), 2 + 32);
        assert_eq!(&v[..2], &[0x81, 0x23]);
        assert_eq!(mppe_decrypt_key(&v, b"sec", &auth).unwrap(), key);
        assert_ne!(mppe_decrypt_key(&v, b"sed", &auth), Some(key.clone()));
        // A different salt gives a different ciphertext.
        assert_ne!(mppe_encrypt_key(&key, b"sec", &auth, 0x0124)[2..], v[2..]);
        // Malformed values.
        assert_eq!(mppe_decrypt_key(&v[..33], b"sec", &auth), None);
        assert_eq!(mppe_decrypt_key(&v[..2], b"sec", &auth), None);
        let mut low = v.clone();
        low[0] &= 0x7f;
        assert_eq!(mppe_decrypt_key(&low, b"sec", &auth), None);
    }

    #[test]
    fn rfc2548_2_4_1_ms_chap_mppe_keys_is_hidden_like_user_password() {
        let auth = [3u8; 16];
        let lm = [1u8; 8];
        let nt = [2u8; 16];
        let v = ms_chap_mppe_keys(&lm, &nt, b"s", &auth);
        assert_eq!(v.len(), 32);
        let mut plain = [0u8; 32];
        plain[..8].copy_from_slice(&lm);
        plain[8..24].copy_from_slice(&nt);
        let mut dec = v.clone();
        chain_decrypt(&mut dec, b"s", &[&auth]);
        assert_eq!(dec, plain);
    }
}

/// Tests over datagrams captured from FreeRADIUS radclient (see
/// `testdata/README.md`; the secret is `testing123`).
#[cfg(test)]
mod radclient_tests {
    use super::*;
    use crate::radius::attribute::ms;
    use crate::radius::attribute::types;
    use crate::radius::packet::*;
    use crate::radius::packet::{encode_request, encode_response};
    use md5::{Digest, Md5};

    const SECRET: &[u8] = b"testing123";
    const PAP: &[u8] = include_bytes!("../../testdata/radclient-pap.bin");
    const CHAP: &[u8] = include_bytes!("../../testdata/radclient-chap.bin");
    const MSCHAP: &[u8] = include_bytes!("../../testdata/radclient-mschap.bin");
    const ACCT: &[u8] = include_bytes!("../../testdata/radclient-acct.bin");
    const MPPE_REQUEST: &[u8] = include_bytes!("../../testdata/radclient-mppe-request.bin");
    const MPPE_ACCEPT: &[u8] = include_bytes!("../../testdata/radotp-mppe-accept.bin");

    fn check_ma(raw: &[u8]) -> Packet {
        let p = Packet::decode(raw).unwrap();
        assert_eq!(
            check_message_authenticator(raw, &p, SECRET, None),
            MessageAuthenticator::Valid
        );
        assert_eq!(
            check_message_authenticator(raw, &p, b"testing124", None),
            MessageAuthenticator::Invalid
        );
        // Any change to the signed bytes breaks it.
        let mut bent = raw.to_vec();
        let last = bent.len() - 1;
        bent[last] ^= 0x40;
        let q = Packet::decode(&bent).unwrap();
        assert_eq!(
            check_message_authenticator(&bent, &q, SECRET, None),
            MessageAuthenticator::Invalid
        );
        p
    }

    #[test]
    fn rfc2865_5_2_radclient_pap_password_and_rfc3579_message_authenticator() {
        let p = check_ma(PAP);
        assert_eq!(p.code, Code::AccessRequest);
        assert_eq!(p.user_name(), Some(&b"alice"[..]));
        let hidden = p.attr(types::USER_PASSWORD).unwrap();
        let pw = unhide_password(hidden, SECRET, &p.authenticator).unwrap();
        assert_eq!(pw.expose(), b"s3cret");
        assert_eq!(p.encode().unwrap(), PAP);
    }

    #[test]
    fn rfc1994_radclient_chap_request() {
        let p = check_ma(CHAP);
        let chap = p.attr(types::CHAP_PASSWORD).unwrap();
        assert_eq!(chap.len(), 17);
        // RFC 2865 §2.2: without CHAP-Challenge the Request Authenticator is
        // the challenge; RFC 1994: MD5(ident ‖ secret ‖ challenge).
        assert_eq!(p.attr(types::CHAP_CHALLENGE), None);
        let mut h = Md5::new();
        h.update([chap[0]]);
        h.update(b"s3cret");
        h.update(p.authenticator);
        assert_eq!(&chap[1..], h.finalize().as_slice());
        assert_eq!(p.encode().unwrap(), CHAP);
    }

    #[test]
    fn rfc2548_radclient_ms_chap_request() {
        let p = check_ma(MSCHAP);
        assert_eq!(
            p.vendor_attr(ms::VENDOR_ID, ms::MS_CHAP_CHALLENGE)
                .map(<[u8]>::len),
            Some(8)
        );
        let resp = p.vendor_attr(ms::VENDOR_ID, ms::MS_CHAP_RESPONSE).unwrap();
        // Ident, Flags (1 = use NT-Response), LM-Response, NT-Response.
        assert_eq!(resp.len(), 50);
        assert_eq!(resp[1], 1);
        assert_eq!(p.encode().unwrap(), MSCHAP);
    }

    #[test]
    fn rfc2866_3_radclient_accounting_request_authenticator() {
        assert!(verify_accounting_request(ACCT, SECRET));
        assert!(!verify_accounting_request(ACCT, b"testing124"));
        let mut bent = ACCT.to_vec();
        bent[25] ^= 1;
        assert!(!verify_accounting_request(&bent, SECRET));
        let p = Packet::decode(ACCT).unwrap();
        assert_eq!(p.code, Code::AccountingRequest);
        assert_eq!(
            check_message_authenticator(ACCT, &p, SECRET, None),
            MessageAuthenticator::Absent
        );
        let proxies: Vec<&[u8]> = p.attrs(types::PROXY_STATE).collect();
        assert_eq!(proxies, [&[1u8][..], &[2, 3][..]]);
        // Re-encoding the request with our own client code gives the same
        // authenticator radclient computed.
        assert_eq!(encode_request(&p, SECRET, false).unwrap(), ACCT);
    }

    #[test]
    fn rfc2548_2_4_2_mppe_keys_as_decrypted_by_radclient() {
        let req = check_ma(MPPE_REQUEST);
        let acc = Packet::decode(MPPE_ACCEPT).unwrap();
        let send = acc
            .vendor_attr(ms::VENDOR_ID, ms::MS_MPPE_SEND_KEY)
            .unwrap();
        let recv = acc
            .vendor_attr(ms::VENDOR_ID, ms::MS_MPPE_RECV_KEY)
            .unwrap();
        let send_key: Vec<u8> = (0..16).collect();
        let recv_key = hex::decode("f0e0d0c0b0a090807060504030201000").unwrap();
        assert_eq!(&send[..2], &[0x80, 0x01]);
        assert_eq!(&recv[..2], &[0x80, 0x02]);
        assert_eq!(
            mppe_decrypt_key(send, SECRET, &req.authenticator).unwrap(),
            send_key
        );
        assert_eq!(
            mppe_decrypt_key(recv, SECRET, &req.authenticator).unwrap(),
            recv_key
        );
        assert_ne!(
            mppe_decrypt_key(send, b"testing124", &req.authenticator),
            Some(send_key.clone())
        );
        assert_eq!(
            mppe_encrypt_key(&send_key, SECRET, &req.authenticator, 0x0001),
            send
        );
        let keys = acc
            .vendor_attr(ms::VENDOR_ID, ms::MS_CHAP_MPPE_KEYS)
            .unwrap();
        let plain = unhide_password(keys, SECRET, &req.authenticator).unwrap();
        let mut want = vec![0x11u8; 8];
        want.extend_from_slice(&[0x22; 16]);
        assert_eq!(plain.expose(), &want[..]);
    }

    #[test]
    fn rfc3579_3_2_radotp_accept_accepted_by_radclient_verifies() {
        let req = Packet::decode(MPPE_REQUEST).unwrap();
        assert!(verify_response(MPPE_ACCEPT, &req.authenticator, SECRET));
        assert!(!verify_response(
            MPPE_ACCEPT,
            &req.authenticator,
            b"testing124"
        ));
        let acc = Packet::decode(MPPE_ACCEPT).unwrap();
        assert_eq!(acc.identifier, req.identifier);
        assert_eq!(acc.attributes[0].typ, types::MESSAGE_AUTHENTICATOR);
        assert_eq!(acc.attributes.last().unwrap().value, [1, 2]);
        assert_eq!(
            check_message_authenticator(MPPE_ACCEPT, &acc, SECRET, Some(&req.authenticator)),
            MessageAuthenticator::Valid
        );
        // Encoding the same response again is deterministic.
        let attrs = acc.attributes[1..acc.attributes.len() - 1].to_vec();
        assert_eq!(
            encode_response(Code::AccessAccept, &req, attrs, SECRET).unwrap(),
            MPPE_ACCEPT
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use crate::radius::attribute::types;
    use crate::radius::attribute::Attribute;
    use crate::radius::packet::*;
    use crate::radius::packet::{encode_request, encode_response};
    use proptest::collection::vec;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn rfc2865_5_2_hide_then_unhide_is_identity(
            pw in vec(any::<u8>(), 0..=128).prop_map(|mut v| {
                while v.last() == Some(&0) { v.pop(); }
                v
            }),
            secret in vec(any::<u8>(), 1..40),
            auth in any::<[u8; 16]>(),
        ) {
            let hidden = hide_password(&pw, &secret, &auth);
            prop_assert_eq!(hidden.len() % 16, 0);
            prop_assert!(!hidden.is_empty() && hidden.len() <= 128);
            let got = unhide_password(&hidden, &secret, &auth).unwrap();
            prop_assert_eq!(got.expose(), &pw[..]);
        }

        #[test]
        fn rfc2548_2_4_2_mppe_encrypt_then_decrypt_is_identity(
            key in vec(any::<u8>(), 0..64),
            secret in vec(any::<u8>(), 1..40),
            auth in any::<[u8; 16]>(),
            salt in any::<u16>(),
        ) {
            let v = mppe_encrypt_key(&key, &secret, &auth, salt);
            prop_assert_eq!(v[0] & 0x80, 0x80);
            prop_assert_eq!((v.len() - 2) % 16, 0);
            prop_assert_eq!(mppe_decrypt_key(&v, &secret, &auth), Some(key));
        }

        #[test]
        fn rfc2865_3_responses_verify_and_tampering_is_caught(
            id in any::<u8>(),
            auth in any::<[u8; 16]>(),
            secret in vec(any::<u8>(), 1..40),
            reply in vec(any::<u8>(), 0..100),
            proxies in vec(vec(any::<u8>(), 0..20), 0..3),
            flip in any::<prop::sample::Index>(),
        ) {
            let mut req = Packet::new(Code::AccessRequest, id, auth);
            for p in &proxies {
                req.push(types::PROXY_STATE, p.clone());
            }
            let raw = encode_response(
                Code::AccessReject,
                &req,
                vec![Attribute::new(types::REPLY_MESSAGE, reply)],
                &secret,
            ).unwrap();
            prop_assert!(verify_response(&raw, &auth, &secret));
            let p = Packet::decode(&raw).unwrap();
            prop_assert_eq!(p.attrs(types::PROXY_STATE).count(), proxies.len());
            prop_assert_eq!(
                check_message_authenticator(&raw, &p, &secret, Some(&auth)),
                MessageAuthenticator::Valid
            );
            let mut bent = raw.clone();
            bent[flip.index(raw.len())] ^= 1;
            prop_assert!(!verify_response(&bent, &auth, &secret));
        }

        #[test]
        fn rfc2866_3_accounting_requests_verify(
            id in any::<u8>(),
            secret in vec(any::<u8>(), 1..40),
            name in vec(any::<u8>(), 0..60),
            ma in any::<bool>(),
        ) {
            let mut p = Packet::new(Code::AccountingRequest, id, [0x55; 16]);
            p.push(types::USER_NAME, name);
            let raw = encode_request(&p, &secret, ma).unwrap();
            prop_assert!(verify_accounting_request(&raw, &secret));
            let d = Packet::decode(&raw).unwrap();
            let want = if ma { MessageAuthenticator::Valid } else { MessageAuthenticator::Absent };
            prop_assert_eq!(check_message_authenticator(&raw, &d, &secret, None), want);
        }

        #[test]
        fn checks_never_panic_on_arbitrary_bytes(
            buf in vec(any::<u8>(), 0..600),
            auth in any::<[u8; 16]>(),
        ) {
            let p = Packet::new(Code::from_u8(buf.first().copied().unwrap_or(1)), 0, auth);
            let _ = check_message_authenticator(&buf, &p, b"s", None);
            let _ = check_message_authenticator(&buf, &p, b"s", Some(&auth));
            let _ = verify_response(&buf, &auth, b"s");
            let _ = verify_accounting_request(&buf, b"s");
            let _ = mppe_decrypt_key(&buf, b"s", &auth);
            let _ = unhide_password(&buf, b"s", &auth);
        }
    }
}
