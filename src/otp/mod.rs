//! The OTP engine: HOTP (RFC 4226), TOTP (RFC 6238) and the candidate search.
//!
//! Pure functions over a seed, a counter or a time, and a window policy; no
//! I/O. [`hotp`] and [`totp`] compute codes for HMAC-SHA-1/256/512 and
//! HMAC-SM3; [`window`] yields the candidate steps around a token's
//! remembered drift, finds matches, and resynchronises drifted tokens;
//! [`uri`] reads and writes the `otpauth://` key URIs that apps scan.

pub mod hotp;
pub mod totp;
pub mod uri;
pub mod window;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use hotp::{hotp, OtpCode};
pub use totp::{step_at, totp};
pub use uri::{encode_base32_secret, parse_base32_secret, KeyUri, UriError};
pub use window::{candidates, find, resync, Candidate, Match, TokenView, WindowPolicy};

/// The HMAC hash a token uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// HMAC-SHA-1, the default of nearly every authenticator app.
    #[default]
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
    /// HMAC-SM3 (GB/T 32905).
    Sm3,
}

impl Algorithm {
    /// The name used in config, CLI and `otpauth://` URIs (upper case there).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
            Algorithm::Sm3 => "sm3",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('-', "").as_str() {
            "sha1" | "hmacsha1" => Ok(Algorithm::Sha1),
            "sha256" | "hmacsha256" => Ok(Algorithm::Sha256),
            "sha512" | "hmacsha512" => Ok(Algorithm::Sha512),
            "sm3" | "hmacsm3" => Ok(Algorithm::Sm3),
            _ => Err(format!(
                "unknown algorithm '{s}': expected sha1, sha256, sha512 or sm3"
            )),
        }
    }
}

/// Time-based or counter-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// RFC 6238: the moving factor is the time step.
    #[default]
    Totp,
    /// RFC 4226: the moving factor is a counter.
    Hotp,
}

impl Kind {
    /// `totp` or `hotp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Totp => "totp",
            Kind::Hotp => "hotp",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "totp" => Ok(Kind::Totp),
            "hotp" => Ok(Kind::Hotp),
            _ => Err(format!("unknown token type '{s}': expected totp or hotp")),
        }
    }
}

/// Checks digits (6, 7 or 8).
pub fn valid_digits(digits: u32) -> bool {
    (6..=8).contains(&digits)
}

/// Checks a TOTP period (10 to 300 seconds).
pub fn valid_period(period: u32) -> bool {
    (10..=300).contains(&period)
}
