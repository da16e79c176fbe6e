//! HOTP (RFC 4226): HMAC over an 8-byte counter, dynamic truncation, modulo 10^digits.
//!
//! [`hotp`] computes the value for HMAC-SHA-1, HMAC-SHA-256, HMAC-SHA-512 and
//! HMAC-SM3 without any heap allocation; [`OtpCode`] holds the zero-padded
//! ASCII digits on the stack, so that the candidate search can compute
//! hundreds of codes per request cheaply.

use hmac::{Hmac, Mac};

use super::Algorithm;

/// A code as ASCII digits, zero-padded, without heap allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct OtpCode {
    buf: [u8; 8],
    len: u8,
}

impl OtpCode {
    /// Formats `value` with `digits` digits (6..=8), zero-padded on the left.
    ///
    /// `digits` outside 6..=8 is clamped into that range, and only the
    /// `digits` lowest decimal digits of `value` are kept (as HOTP does).
    pub fn new(value: u32, digits: u32) -> Self {
        let digits = clamp_digits(digits);
        let mut buf = [b'0'; 8];
        let mut rest = value;
        for slot in buf.iter_mut().take(digits as usize).rev() {
            // `rest % 10` is below 10, so the cast cannot truncate.
            *slot = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        OtpCode {
            buf,
            len: digits as u8,
        }
    }
    /// The ASCII digits.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
    /// The digits as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
    /// Constant-time comparison with what a user typed (the length is not
    /// hidden); use this in PAP matchers instead of `==`.
    pub fn ct_eq(&self, typed: &[u8]) -> bool {
        crate::secret::ct_eq(self.as_bytes(), typed)
    }
}

impl std::fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A code is a credential: never print it through Debug.
        f.write_str("OtpCode([redacted])")
    }
}

/// Clamps a digit count into the supported range 6..=8.
fn clamp_digits(digits: u32) -> u32 {
    digits.clamp(6, 8)
}

/// RFC 4226 §5.3: the HOTP value (already reduced modulo 10^digits).
///
/// `digits` outside 6..=8 is clamped into that range (configuration and
/// URI parsing reject such values before they get here).
pub fn hotp(algorithm: Algorithm, key: &[u8], counter: u64, digits: u32) -> u32 {
    HotpKey::new(algorithm, key).hotp(counter, digits)
}

/// A seed keyed into its HMAC once, for computing many codes of one token
/// (a window search): keying hashes the padded key twice, so each further
/// code costs two compression-function calls instead of four (SHA-1, a
/// seed of up to one block).
///
/// It holds state derived from the seed; its `Debug` shows none of it.
#[derive(Clone)]
pub enum HotpKey {
    Sha1(Hmac<sha1::Sha1>),
    Sha256(Hmac<sha2::Sha256>),
    Sha512(Hmac<sha2::Sha512>),
    Sm3(Hmac<sm3::Sm3>),
}

impl HotpKey {
    pub fn new(algorithm: Algorithm, key: &[u8]) -> Self {
        fn keyed<M: Mac + hmac::digest::KeyInit>(key: &[u8]) -> M {
            // HMAC takes keys of any length: this cannot fail.
            <M as hmac::digest::KeyInit>::new_from_slice(key)
                .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
        }
        match algorithm {
            Algorithm::Sha1 => HotpKey::Sha1(keyed(key)),
            Algorithm::Sha256 => HotpKey::Sha256(keyed(key)),
            Algorithm::Sha512 => HotpKey::Sha512(keyed(key)),
            Algorithm::Sm3 => HotpKey::Sm3(keyed(key)),
        }
    }

    /// The HOTP value at `counter` with `digits` digits (RFC 4226 §5.3).
    pub fn hotp(&self, counter: u64, digits: u32) -> u32 {
        let msg = counter.to_be_bytes();
        let binary = match self {
            HotpKey::Sha1(m) => truncated(m.clone(), &msg),
            HotpKey::Sha256(m) => truncated(m.clone(), &msg),
            HotpKey::Sha512(m) => truncated(m.clone(), &msg),
            HotpKey::Sm3(m) => truncated(m.clone(), &msg),
        };
        binary % 10u32.pow(clamp_digits(digits))
    }
}

impl std::fmt::Debug for HotpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HotpKey([redacted])")
    }
}

/// HMAC of `msg` with a keyed `mac`, followed by dynamic truncation.
fn truncated<M: Mac>(mut mac: M, msg: &[u8]) -> u32 {
    mac.update(msg);
    dynamic_truncation(&mac.finalize().into_bytes())
}

/// RFC 4226 §5.3 DT: the low nibble of the last byte selects four bytes,
/// read big-endian with the top bit masked off (a 31-bit value).
fn dynamic_truncation(mac: &[u8]) -> u32 {
    let offset = mac.last().map_or(0, |b| (b & 0x0f) as usize);
    match mac.get(offset..offset + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a & 0x7f, b, c, d]),
        _ => 0,
    }
}

/// The raw HMAC of the 8-byte big-endian counter, for tests against
/// independent implementations.
#[cfg(test)]
fn hmac_counter(algorithm: Algorithm, key: &[u8], counter: u64) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("any key length");
        mac.update(msg);
        mac.finalize().into_bytes().to_vec()
    }
    let msg = counter.to_be_bytes();
    match algorithm {
        Algorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, &msg),
        Algorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, &msg),
        Algorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, &msg),
        Algorithm::Sm3 => run::<Hmac<sm3::Sm3>>(key, &msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4226 Appendix D: the ASCII secret "12345678901234567890".
    const RFC4226_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc4226_appendix_d_hotp_values() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(
                hotp(Algorithm::Sha1, RFC4226_SECRET, counter as u64, 6),
                *want,
                "counter {counter}"
            );
        }
    }

    #[test]
    fn rfc4226_appendix_d_values_from_one_keyed_seed_any_order() {
        // One keyed HMAC, reused (and in reverse order): the same values as
        // keying afresh, for every algorithm and a seed longer than a block.
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        let key = HotpKey::new(Algorithm::Sha1, RFC4226_SECRET);
        for (counter, want) in expected.iter().enumerate().rev() {
            assert_eq!(key.hotp(counter as u64, 6), *want, "counter {counter}");
        }
        let long = [0x5au8; 200];
        for alg in [
            Algorithm::Sha1,
            Algorithm::Sha256,
            Algorithm::Sha512,
            Algorithm::Sm3,
        ] {
            for seed in [RFC4226_SECRET, &long[..]] {
                let key = HotpKey::new(alg, seed);
                for c in [7u64, 0, u64::MAX, 59, 7] {
                    let fresh = dynamic_truncation(&hmac_counter(alg, seed, c)) % 100_000_000;
                    assert_eq!(key.hotp(c, 8), fresh, "{alg:?} counter {c}");
                }
            }
        }
        assert_eq!(format!("{key:?}"), "HotpKey([redacted])");
    }

    #[test]
    fn rfc4226_appendix_d_intermediate_hmac_and_truncation() {
        // Appendix D lists HMAC-SHA-1 for count 0 and its truncated value.
        let mac = hmac_counter(Algorithm::Sha1, RFC4226_SECRET, 0);
        assert_eq!(
            hex::encode(&mac),
            "cc93cf18508d94934c64b65d8ba7667fb7cde4b0"
        );
        assert_eq!(dynamic_truncation(&mac), 0x4c93cf18);
        // §5.4 worked example: offset 0xa selects 50ef7f19.
        let example = hex::decode("1f8698690e02ca16618550ef7f19da8e945b555a").unwrap();
        assert_eq!(dynamic_truncation(&example), 0x50ef7f19);
        assert_eq!(dynamic_truncation(&example) % 1_000_000, 872921);
    }

    // HMAC-SM3 reference values computed with OpenSSL 3 (Debian), e.g.
    //   printf '\x00\x00\x00\x00\x00\x00\x00\x01' \
    //     | openssl dgst -sm3 -mac HMAC -macopt hexkey:3132333435363738393031323334353637383930 -r
    // The 6/8-digit values are the RFC 4226 §5.3 truncation of these MACs,
    // computed separately with a Python one-liner.
    #[test]
    fn hmac_sm3_matches_openssl() {
        let cases: [(u64, &str, u32, u32); 4] = [
            (
                0,
                "6eca0896e703f64b7d29b9706ddf01aca7dc59646f15f123a482a1786fe395fd",
                945255,
                93945255,
            ),
            (
                1,
                "093888345e98e6c49aa91beb116a33d5f497aa0a413f1275d6f8aa435c9c6913",
                614758,
                78614758,
            ),
            (
                9,
                "89892d46da79690fafbc3273913dc8c2d04acbbae41c5933691a71c0a023b377",
                175218,
                63175218,
            ),
            (
                0x023523ec,
                "51c0a0150736d8071fe8c0be66b0773563479b32c350908e2a8b22fc19d0c5f0",
                578389,
                71578389,
            ),
        ];
        for (counter, mac, six, eight) in cases {
            assert_eq!(
                hex::encode(hmac_counter(Algorithm::Sm3, RFC4226_SECRET, counter)),
                mac,
                "counter {counter}"
            );
            assert_eq!(hotp(Algorithm::Sm3, RFC4226_SECRET, counter, 6), six);
            assert_eq!(hotp(Algorithm::Sm3, RFC4226_SECRET, counter, 8), eight);
        }
    }

    #[test]
    fn hmac_sm3_matches_openssl_for_long_keys() {
        // 52-byte key (0xaa * 32, 0xbb * 20), counter 42:
        //   printf '\x00\x00\x00\x00\x00\x00\x00\x2a' | openssl dgst -sm3 -mac HMAC -macopt hexkey:aa..aabb..bb -r
        let mut key = vec![0xaa; 32];
        key.extend_from_slice(&[0xbb; 20]);
        assert_eq!(
            hex::encode(hmac_counter(Algorithm::Sm3, &key, 42)),
            "870cfa873a12990cc98beda046aaaab189d4bb4eecf95563ff0189a5a20d2f6d"
        );
        // 100-byte key 00 01 .. 63 (longer than the 64-byte block, so hashed first), counter 7.
        let key: Vec<u8> = (0u8..100).collect();
        assert_eq!(
            hex::encode(hmac_counter(Algorithm::Sm3, &key, 7)),
            "38c84d359995137a3231a05b30c586b64405aa889cac93457f25093ef90b7545"
        );
    }

    #[test]
    fn otp_code_is_zero_padded_ascii() {
        assert_eq!(OtpCode::new(42, 6).as_str(), "000042");
        assert_eq!(OtpCode::new(0, 8).as_str(), "00000000");
        assert_eq!(OtpCode::new(1234567, 7).as_bytes(), b"1234567");
        assert_eq!(OtpCode::new(94287082, 8).as_str(), "94287082");
    }

    #[test]
    fn otp_code_keeps_the_low_digits_and_clamps_digits() {
        assert_eq!(OtpCode::new(1_287_082, 6).as_str(), "287082");
        assert_eq!(OtpCode::new(u32::MAX, 8).as_str(), "94967295");
        assert_eq!(OtpCode::new(5, 3).as_str(), "000005");
        assert_eq!(OtpCode::new(5, 99).as_str(), "00000005");
    }

    #[test]
    fn otp_code_ct_eq_compares_the_digits() {
        let code = OtpCode::new(42, 6);
        assert!(code.ct_eq(b"000042"));
        assert!(!code.ct_eq(b"000043"));
        assert!(!code.ct_eq(b"42"));
    }

    #[test]
    fn otp_code_debug_is_redacted() {
        let shown = format!("{:?}", OtpCode::new(287082, 6));
        assert!(!shown.contains("287082"), "{shown}");
    }

    #[test]
    fn hotp_never_panics_on_odd_digits_or_keys() {
        for digits in [0, 1, 5, 9, 10, u32::MAX] {
            let v = hotp(Algorithm::Sha512, b"", u64::MAX, digits);
            assert!(v < 100_000_000);
        }
    }
}
