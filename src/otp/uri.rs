//! The Google Authenticator Key URI format (`otpauth://`), both ways.
//!
//! A [`KeyUri`] is what an authenticator app scans from a QR code:
//! `otpauth://totp/ISSUER:ACCOUNT?secret=BASE32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30`
//! (HOTP carries `counter=` instead of `period=`). [`KeyUri::to_uri`] builds
//! one, percent-encoding the label and the issuer and writing the secret as
//! upper-case unpadded base32; [`KeyUri::parse`] reads one back leniently
//! (lower-case base32, missing padding, spaces, `%3A` as the label colon) and
//! reports what was wrong with a [`UriError`] that never contains the secret.

use std::str::FromStr;
use std::sync::OnceLock;

use data_encoding::{Encoding, BASE32_NOPAD};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::{valid_digits, valid_period, Algorithm, Kind};
use crate::secret::Secret;

/// Characters escaped in the label and in query values: everything except
/// the RFC 3986 unreserved characters.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The scheme every key URI starts with.
const SCHEME: &str = "otpauth://";

/// What was wrong with a key URI or a base32 secret. Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// The text does not start with `otpauth://`.
    #[error("not a key URI: expected it to start with otpauth://")]
    BadScheme,
    /// The type after `otpauth://` is not `totp` or `hotp`.
    #[error("unknown OTP type '{0}' in the URI: expected totp or hotp")]
    UnknownType(String),
    /// The label (the account name) is missing or empty.
    #[error("the URI has no account name in its label (otpauth://TYPE/ISSUER:ACCOUNT?...)")]
    MissingAccount,
    /// The label or a parameter is not valid percent-encoded UTF-8.
    #[error("the {0} is not valid percent-encoded UTF-8")]
    BadEncoding(&'static str),
    /// A parameter appears more than once.
    #[error("the URI parameter '{0}' appears more than once")]
    DuplicateParameter(String),
    /// There is no `secret=` parameter, or it is empty.
    #[error("the secret is missing")]
    MissingSecret,
    /// The secret is not base32 (RFC 4648).
    #[error("the secret is not valid base32: {0}")]
    BadBase32(String),
    /// The algorithm is not SHA1, SHA256, SHA512 or SM3.
    #[error("unknown algorithm '{0}': expected SHA1, SHA256, SHA512 or SM3")]
    UnknownAlgorithm(String),
    /// `digits` is not 6, 7 or 8.
    #[error("digits must be 6, 7 or 8, not '{0}'")]
    BadDigits(String),
    /// `period` is not a number of seconds from 10 to 300.
    #[error("period must be 10 to 300 seconds, not '{0}'")]
    BadPeriod(String),
    /// An HOTP URI has no `counter=` parameter.
    #[error("an hotp URI needs a counter parameter")]
    MissingCounter,
    /// `counter` is not a non-negative 64-bit integer.
    #[error("counter must be a whole number from 0 to 2^64-1, not '{0}'")]
    BadCounter(String),
}

/// A token as written in an `otpauth://` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUri {
    /// TOTP or HOTP.
    pub kind: Kind,
    /// The account (user) name, the part of the label after `ISSUER:`.
    pub account: String,
    /// The issuer (service or company name), if any.
    pub issuer: Option<String>,
    /// The raw seed.
    pub secret: Secret,
    /// The HMAC hash.
    pub algorithm: Algorithm,
    /// 6, 7 or 8.
    pub digits: u32,
    /// TOTP period in seconds (ignored for HOTP).
    pub period: u32,
    /// HOTP: the next counter the app will use (ignored for TOTP).
    pub counter: u64,
}

impl KeyUri {
    /// A key URI with the defaults of authenticator apps: SHA-1, 6 digits,
    /// 30 s period, counter 0.
    pub fn new(kind: Kind, account: &str, issuer: Option<&str>, secret: Secret) -> Self {
        KeyUri {
            kind,
            account: account.to_owned(),
            issuer: issuer.map(str::to_owned),
            secret,
            algorithm: Algorithm::Sha1,
            digits: 6,
            period: 30,
            counter: 0,
        }
    }

    /// The `otpauth://` URI. The result contains the secret: show it only
    /// to the person enrolling the token (as text or QR code).
    pub fn to_uri(&self) -> String {
        let issuer = self.issuer.as_deref().filter(|i| !i.is_empty());
        let mut uri = format!("{SCHEME}{}/", self.kind.as_str());
        if let Some(issuer) = issuer {
            uri.push_str(&escape(issuer));
            uri.push(':');
        } else if self.account.contains(':') {
            // The parser takes an encoded colon (%3A) in the label as the
            // issuer separator when there is no literal one: an empty
            // issuer prefix keeps an account with a colon whole.
            uri.push(':');
        }
        uri.push_str(&escape(&self.account));
        uri.push_str("?secret=");
        uri.push_str(&encode_base32_secret(self.secret.expose()));
        if let Some(issuer) = issuer {
            uri.push_str("&issuer=");
            uri.push_str(&escape(issuer));
        }
        uri.push_str("&algorithm=");
        uri.push_str(&self.algorithm.as_str().to_ascii_uppercase());
        uri.push_str(&format!("&digits={}", self.digits));
        match self.kind {
            Kind::Totp => uri.push_str(&format!("&period={}", self.period)),
            Kind::Hotp => uri.push_str(&format!("&counter={}", self.counter)),
        }
        uri
    }

    /// Parses an `otpauth://` URI.
    ///
    /// Missing `algorithm`, `digits` and `period` take the defaults (SHA1,
    /// 6, 30); `counter` is required for HOTP. The `issuer` parameter wins
    /// over the label prefix when both are present; unknown parameters
    /// (such as `image`) are ignored.
    pub fn parse(uri: &str) -> Result<Self, UriError> {
        let uri = uri.trim();
        let rest = match uri.get(..SCHEME.len()) {
            Some(scheme) if scheme.eq_ignore_ascii_case(SCHEME) => &uri[SCHEME.len()..],
            _ => return Err(UriError::BadScheme),
        };
        let rest = rest.split('#').next().unwrap_or("");
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (kind, label) = path.split_once('/').unwrap_or((path, ""));
        let kind = match kind.to_ascii_lowercase().as_str() {
            "totp" => Kind::Totp,
            "hotp" => Kind::Hotp,
            _ => return Err(UriError::UnknownType(shown(kind))),
        };

        let mut params = Params::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            params.set(key, value)?;
        }

        let param_issuer = match params.issuer {
            Some(raw) => Some(decode_query(raw, "issuer")?).filter(|i| !i.is_empty()),
            None => None,
        };
        let (label_issuer, account) = split_label(label)?;
        if account.is_empty() {
            return Err(UriError::MissingAccount);
        }
        let issuer = param_issuer.or(label_issuer).filter(|i| !i.is_empty());

        let secret = parse_base32_secret(params.secret.ok_or(UriError::MissingSecret)?)?;
        let algorithm = match params.algorithm {
            None => Algorithm::Sha1,
            Some(raw) => match raw.to_ascii_uppercase().as_str() {
                "SHA1" => Algorithm::Sha1,
                "SHA256" => Algorithm::Sha256,
                "SHA512" => Algorithm::Sha512,
                "SM3" => Algorithm::Sm3,
                _ => return Err(UriError::UnknownAlgorithm(shown(raw))),
            },
        };
        let digits = match params.digits {
            None => 6,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|d| valid_digits(*d))
                .ok_or_else(|| UriError::BadDigits(shown(raw)))?,
        };
        let period = match (kind, params.period) {
            (Kind::Totp, Some(raw)) => raw
                .parse::<u32>()
                .ok()
                .filter(|p| valid_period(*p))
                .ok_or_else(|| UriError::BadPeriod(shown(raw)))?,
            _ => 30,
        };
        let counter = match (kind, params.counter) {
            (Kind::Hotp, None) => return Err(UriError::MissingCounter),
            (Kind::Hotp, Some(raw)) => raw
                .parse::<u64>()
                .map_err(|_| UriError::BadCounter(shown(raw)))?,
            (Kind::Totp, _) => 0,
        };

        Ok(KeyUri {
            kind,
            account,
            issuer,
            secret: Secret::new(secret),
            algorithm,
            digits,
            period,
            counter,
        })
    }
}

impl FromStr for KeyUri {
    type Err = UriError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyUri::parse(s)
    }
}

/// The raw (still encoded) parameters the parser knows.
#[derive(Default)]
struct Params<'a> {
    secret: Option<&'a str>,
    issuer: Option<&'a str>,
    algorithm: Option<&'a str>,
    digits: Option<&'a str>,
    period: Option<&'a str>,
    counter: Option<&'a str>,
}

impl<'a> Params<'a> {
    fn set(&mut self, key: &str, value: &'a str) -> Result<(), UriError> {
        let (slot, name) = match key.to_ascii_lowercase().as_str() {
            "secret" => (&mut self.secret, "secret"),
            "issuer" => (&mut self.issuer, "issuer"),
            "algorithm" => (&mut self.algorithm, "algorithm"),
            "digits" => (&mut self.digits, "digits"),
            "period" => (&mut self.period, "period"),
            "counter" => (&mut self.counter, "counter"),
            _ => return Ok(()),
        };
        if slot.replace(value).is_some() {
            return Err(UriError::DuplicateParameter(name.to_owned()));
        }
        Ok(())
    }
}

/// Splits the raw label into (issuer prefix, account), decoding both. The
/// separator is the first literal `:`, or else the first `%3A`.
fn split_label(label: &str) -> Result<(Option<String>, String), UriError> {
    let split = label.split_once(':').or_else(|| {
        let at = label.to_ascii_uppercase().find("%3A")?;
        Some((label.get(..at)?, label.get(at + 3..)?))
    });
    match split {
        Some((issuer, account)) => {
            let issuer = decode_path(issuer)?;
            let account = decode_path(account)?;
            Ok((
                Some(issuer).filter(|i| !i.is_empty()),
                account.trim_start().to_owned(),
            ))
        }
        // Leading spaces before the account are dropped here too, as after
        // an issuer prefix: with an issuer, to_uri could not keep them.
        None => Ok((None, decode_path(label)?.trim_start().to_owned())),
    }
}

/// Percent-decodes part of the label.
fn decode_path(raw: &str) -> Result<String, UriError> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| UriError::BadEncoding("label"))
}

/// Percent-decodes a query value, reading `+` as a space.
fn decode_query(raw: &str, what: &'static str) -> Result<String, UriError> {
    let raw = raw.replace('+', " ");
    percent_decode_str(&raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| UriError::BadEncoding(what))
}

/// Percent-encodes a label part or a query value.
fn escape(text: &str) -> String {
    utf8_percent_encode(text, ESCAPED).to_string()
}

/// A non-secret value quoted in an error message, cut to a sane length.
fn shown(value: &str) -> String {
    const MAX: usize = 32;
    match value.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_owned(),
    }
}

/// Base32 without padding that tolerates non-zero trailing bits, as some
/// secret generators emit them.
fn lenient_base32() -> Option<&'static Encoding> {
    static ENCODING: OnceLock<Option<Encoding>> = OnceLock::new();
    ENCODING
        .get_or_init(|| {
            let mut spec = BASE32_NOPAD.specification();
            spec.check_trailing_bits = false;
            spec.encoding().ok()
        })
        .as_ref()
}

/// Decodes a base32 secret (RFC 4648 alphabet) as typed by a person or
/// found in a URI: lower case, spaces and missing or present `=` padding are
/// accepted. The error never contains the secret.
pub fn parse_base32_secret(text: &str) -> Result<Vec<u8>, UriError> {
    let cleaned: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let cleaned = cleaned.trim_end_matches('=');
    if cleaned.is_empty() {
        return Err(UriError::MissingSecret);
    }
    let fallback = BASE32_NOPAD;
    let encoding = lenient_base32().unwrap_or(&fallback);
    // data-encoding errors give a kind and a position, never the input.
    encoding
        .decode(cleaned.as_bytes())
        .map_err(|e| UriError::BadBase32(e.to_string()))
}

/// Encodes a secret as upper-case base32 without padding, as authenticator
/// apps expect it.
pub fn encode_base32_secret(secret: &[u8]) -> String {
    BASE32_NOPAD.encode(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 4648 §10 test vectors, and the RFC 4226 Appendix D secret.
    #[test]
    fn rfc4648_10_base32_vectors() {
        let vectors: [(&[u8], &str); 7] = [
            (b"f", "MY"),
            (b"fo", "MZXQ"),
            (b"foo", "MZXW6"),
            (b"foob", "MZXW6YQ"),
            (b"fooba", "MZXW6YTB"),
            (b"foobar", "MZXW6YTBOI"),
            (b"12345678901234567890", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
        ];
        for (raw, text) in vectors {
            assert_eq!(encode_base32_secret(raw), text);
            assert_eq!(parse_base32_secret(text).unwrap(), raw);
        }
    }

    #[test]
    fn base32_accepts_lower_case_spaces_and_padding() {
        let want = b"foobar".to_vec();
        assert_eq!(parse_base32_secret("MZXW6YTBOI======").unwrap(), want);
        assert_eq!(parse_base32_secret("mzxw 6ytb oi").unwrap(), want);
        assert_eq!(parse_base32_secret(" mzxw6ytboi==\n").unwrap(), want);
    }

    #[test]
    fn base32_errors_do_not_echo_the_secret() {
        let err = parse_base32_secret("MZXW6YT1SECRETX").unwrap_err();
        assert!(matches!(err, UriError::BadBase32(_)), "{err:?}");
        assert!(!err.to_string().contains("SECRET"), "{err}");
        assert!(matches!(
            parse_base32_secret("MZX"),
            Err(UriError::BadBase32(_))
        ));
        assert_eq!(parse_base32_secret("  =="), Err(UriError::MissingSecret));
    }

    #[test]
    fn builds_the_google_key_uri_format() {
        let key = KeyUri::new(
            Kind::Totp,
            "alice@example.com",
            Some("Example Co"),
            Secret::new(b"12345678901234567890".to_vec()),
        );
        assert_eq!(
            key.to_uri(),
            "otpauth://totp/Example%20Co:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Example%20Co&algorithm=SHA1&digits=6&period=30"
        );
        let hotp = KeyUri {
            kind: Kind::Hotp,
            algorithm: Algorithm::Sha256,
            digits: 8,
            counter: 42,
            issuer: None,
            ..key
        };
        assert_eq!(
            hotp.to_uri(),
            "otpauth://hotp/alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &algorithm=SHA256&digits=8&counter=42"
        );
    }

    #[test]
    fn parses_the_google_key_uri_example() {
        // The example of the Key URI Format wiki page.
        let key = KeyUri::parse(
            "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example",
        )
        .unwrap();
        assert_eq!(key.kind, Kind::Totp);
        assert_eq!(key.account, "alice@google.com");
        assert_eq!(key.issuer.as_deref(), Some("Example"));
        assert_eq!(key.secret.expose(), b"Hello!\xde\xad\xbe\xef");
        assert_eq!(key.algorithm, Algorithm::Sha1);
        assert_eq!((key.digits, key.period), (6, 30));
    }

    #[test]
    fn parses_encoded_colon_spaces_and_issuer_param() {
        let key = KeyUri::parse(
            "OTPAUTH://HOTP/ACME%20Co%3A%20john.doe?secret=jbsw y3dp ehpk 3pxp\
             &issuer=ACME+Co&algorithm=sm3&digits=7&counter=18446744073709551615&image=x",
        )
        .unwrap();
        assert_eq!(key.kind, Kind::Hotp);
        assert_eq!(key.account, "john.doe");
        assert_eq!(key.issuer.as_deref(), Some("ACME Co"));
        assert_eq!(key.algorithm, Algorithm::Sm3);
        assert_eq!(key.digits, 7);
        assert_eq!(key.counter, u64::MAX);
        // No issuer anywhere.
        let key = KeyUri::parse("otpauth://totp/bob?secret=JBSWY3DPEHPK3PXP").unwrap();
        assert_eq!((key.account.as_str(), key.issuer), ("bob", None));
    }

    #[test]
    fn secret_never_shows_in_debug() {
        let key = KeyUri::parse("otpauth://totp/bob?secret=JBSWY3DPEHPK3PXP").unwrap();
        let shown = format!("{key:?}");
        assert!(
            !shown.contains("JBSW") && !shown.contains("Hello"),
            "{shown}"
        );
    }

    #[test]
    fn error_bad_scheme() {
        assert_eq!(
            KeyUri::parse("https://totp/a?secret=JBSWY3DPEHPK3PXP"),
            Err(UriError::BadScheme)
        );
        assert_eq!(KeyUri::parse("otp"), Err(UriError::BadScheme));
    }

    #[test]
    fn error_unknown_type() {
        assert_eq!(
            KeyUri::parse("otpauth://motp/a?secret=JBSWY3DPEHPK3PXP"),
            Err(UriError::UnknownType("motp".into()))
        );
    }

    #[test]
    fn error_missing_account() {
        assert_eq!(
            KeyUri::parse("otpauth://totp/?secret=JBSWY3DPEHPK3PXP"),
            Err(UriError::MissingAccount)
        );
        assert_eq!(
            KeyUri::parse("otpauth://totp/Issuer:?secret=JBSWY3DPEHPK3PXP"),
            Err(UriError::MissingAccount)
        );
    }

    #[test]
    fn error_missing_secret() {
        assert_eq!(
            KeyUri::parse("otpauth://totp/a?issuer=x"),
            Err(UriError::MissingSecret)
        );
        assert_eq!(
            KeyUri::parse("otpauth://totp/a?secret="),
            Err(UriError::MissingSecret)
        );
    }

    #[test]
    fn error_bad_base32() {
        assert!(matches!(
            KeyUri::parse("otpauth://totp/a?secret=JBSWY3DPEHPK3PX1"),
            Err(UriError::BadBase32(_))
        ));
    }

    #[test]
    fn error_unknown_algorithm() {
        assert_eq!(
            KeyUri::parse("otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&algorithm=MD5"),
            Err(UriError::UnknownAlgorithm("MD5".into()))
        );
    }

    #[test]
    fn error_digits_not_6_to_8() {
        for bad in ["5", "9", "x", ""] {
            let uri = format!("otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&digits={bad}");
            assert_eq!(KeyUri::parse(&uri), Err(UriError::BadDigits(bad.into())));
        }
    }

    #[test]
    fn error_period_not_10_to_300() {
        for bad in ["9", "301", "0", "-30", "thirty"] {
            let uri = format!("otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&period={bad}");
            assert_eq!(KeyUri::parse(&uri), Err(UriError::BadPeriod(bad.into())));
        }
    }

    #[test]
    fn error_hotp_counter() {
        assert_eq!(
            KeyUri::parse("otpauth://hotp/a?secret=JBSWY3DPEHPK3PXP"),
            Err(UriError::MissingCounter)
        );
        assert_eq!(
            KeyUri::parse("otpauth://hotp/a?secret=JBSWY3DPEHPK3PXP&counter=-1"),
            Err(UriError::BadCounter("-1".into()))
        );
    }

    #[test]
    fn error_duplicate_parameter_and_bad_encoding() {
        assert_eq!(
            KeyUri::parse("otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&secret=MZXW6YTBOI"),
            Err(UriError::DuplicateParameter("secret".into()))
        );
        assert_eq!(
            KeyUri::parse("otpauth://totp/%FF?secret=JBSWY3DPEHPK3PXP"),
            Err(UriError::BadEncoding("label"))
        );
    }

    #[test]
    fn long_values_are_cut_in_errors() {
        let uri = format!(
            "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&algorithm={}",
            "X".repeat(1000)
        );
        let err = KeyUri::parse(&uri).unwrap_err().to_string();
        assert!(err.len() < 150, "{err}");
    }

    fn arb_key() -> impl Strategy<Value = KeyUri> {
        (
            prop_oneof![Just(Kind::Totp), Just(Kind::Hotp)],
            "[^:]{1,20}",
            proptest::option::of("[^:]{1,20}"),
            proptest::collection::vec(any::<u8>(), 1..70),
            prop_oneof![
                Just(Algorithm::Sha1),
                Just(Algorithm::Sha256),
                Just(Algorithm::Sha512),
                Just(Algorithm::Sm3)
            ],
            6u32..=8,
            10u32..=300,
            any::<u64>(),
        )
            .prop_map(
                |(kind, account, issuer, secret, algorithm, digits, period, counter)| KeyUri {
                    kind,
                    account: account.trim_start().to_owned(),
                    issuer,
                    secret: Secret::new(secret),
                    algorithm,
                    digits,
                    period: if kind == Kind::Totp { period } else { 30 },
                    counter: if kind == Kind::Hotp { counter } else { 0 },
                },
            )
            .prop_filter("account needed", |k| !k.account.is_empty())
    }

    proptest! {
        #[test]
        fn prop_uri_round_trip(key in arb_key()) {
            let uri = key.to_uri();
            prop_assert!(uri.is_ascii());
            prop_assert_eq!(KeyUri::parse(&uri), Ok(key));
        }

        #[test]
        fn prop_base32_round_trip(bytes in proptest::collection::vec(any::<u8>(), 1..100)) {
            let text = encode_base32_secret(&bytes);
            prop_assert!(!text.contains('='));
            prop_assert_eq!(parse_base32_secret(&text.to_lowercase()), Ok(bytes));
        }

        #[test]
        fn prop_parse_never_panics(text in "otpauth://[a-z]{0,5}/.{0,40}") {
            let _ = KeyUri::parse(&text);
        }
    }

    #[test]
    fn leading_spaces_of_the_account_are_dropped_with_or_without_issuer() {
        // Found by the import fuzz target: "otpauth://totp/%20a?issuer=X"
        // parsed to account " a", whose to_uri "X:%20a" parsed back to "a".
        let k = KeyUri::parse("otpauth://totp/%20a?secret=JBSWY3DPEHPK3PXP&issuer=X").unwrap();
        assert_eq!(k.account, "a");
        assert_eq!(KeyUri::parse(&k.to_uri()).unwrap().account, "a");
    }

    #[test]
    fn account_with_a_colon_and_no_issuer_survives_to_uri_and_parse() {
        // Found by the import fuzz target: "a:b" without an issuer came back
        // as issuer "a", account "b".
        let k = KeyUri::new(Kind::Totp, "a:b", None, Secret::new(vec![7; 10]));
        let again = KeyUri::parse(&k.to_uri()).unwrap();
        assert_eq!(again.account, "a:b");
        assert_eq!(again.issuer, None);
        let k = KeyUri::new(Kind::Totp, "a:b", Some("X:Y"), Secret::new(vec![7; 10]));
        let again = KeyUri::parse(&k.to_uri()).unwrap();
        assert_eq!(again.account, "a:b");
        assert_eq!(again.issuer.as_deref(), Some("X:Y"));
    }
}
