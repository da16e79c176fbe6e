//! The token import parsers: `parse_import` (CSV lines and otpauth:// URIs)
//! and `KeyUri::parse` on every line; a URI that parses must survive
//! to_uri → parse with the same fields.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use radotp::cli::token::parse_import;
use radotp::config::Config;
use radotp::otp::uri::KeyUri;
use radotp::otp::Kind;

fn config() -> &'static Config {
    static C: OnceLock<Config> = OnceLock::new();
    C.get_or_init(|| Config::from_toml("", "fuzz.toml").expect("empty config is valid"))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (ok, bad) = parse_import(&text, config());
    std::hint::black_box((ok.len(), bad.len()));
    for line in text.lines() {
        if let Ok(k) = KeyUri::parse(line) {
            let again = KeyUri::parse(&k.to_uri()).expect("to_uri output parses");
            assert_eq!(again.kind, k.kind);
            assert_eq!(again.account, k.account);
            let nonempty = |i: &Option<String>| i.clone().filter(|i| !i.is_empty());
            assert_eq!(nonempty(&again.issuer), nonempty(&k.issuer));
            assert_eq!(again.algorithm, k.algorithm);
            assert_eq!(again.digits, k.digits);
            match k.kind {
                Kind::Totp => assert_eq!(again.period, k.period),
                Kind::Hotp => assert_eq!(again.counter, k.counter),
            }
            assert!(again.secret.ct_eq(k.secret.expose()));
        }
    }
});
