//! TOTP (RFC 6238): HOTP over the time step T = floor(unix / period), T0 = 0.

use super::Algorithm;

/// The time step that holds `unix` for a given period (T0 = 0).
pub fn step_at(unix: u64, period: u32) -> u64 {
    todo!("{unix} {period}")
}

/// The TOTP value at `unix`.
pub fn totp(algorithm: Algorithm, key: &[u8], unix: u64, period: u32, digits: u32) -> u32 {
    todo!("{algorithm} {key:?} {unix} {period} {digits}")
}
