//! The hardware-token file parsers of `provision`: PSKC (RFC 6030, XML,
//! with a pre-shared key so the decryption and MAC paths run; no password,
//! so PBKDF2's iteration count cannot make an input slow), the
//! `serial,hex-seed` list and the Yubico OATH log. No input may panic; a
//! PSKC file radotp writes from what it parsed must parse to the same
//! tokens.
#![no_main]

use libfuzzer_sys::fuzz_target;
use radotp::provision::{pskc, seeds};
use radotp::secret::Secret;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let keys = pskc::Keys {
        // RFC 6030 figure 6's pre-shared key, so its seed decrypts.
        psk: Some(Secret::new(vec![
            0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78,
            0x90, 0x12,
        ])),
        password: None,
    };
    if let Ok(p) = pskc::parse(&text, &keys) {
        std::hint::black_box(p.bad.len());
        let tokens: Vec<_> = p.tokens.iter().map(|(_, t)| t.clone()).collect();
        // (A container without keys is refused on import, by design.)
        if tokens.is_empty() {
            return;
        }
        if let Ok(again) = pskc::write(&tokens, &pskc::Protection::Plain) {
            let back = pskc::parse(&again, &pskc::Keys::default()).expect("own output parses");
            assert_eq!(back.tokens.len(), p.tokens.len());
        }
    }
    std::hint::black_box(seeds::parse_seed_list(&text).tokens.len());
    std::hint::black_box(seeds::parse_yubico(&text).tokens.len());
});
