//! The candidate search around a token's remembered drift, replay protection
//! and resynchronisation.

use super::{Algorithm, Kind, OtpCode};

/// How wide the search is. Units: TOTP steps, HOTP counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowPolicy {
    /// TOTP: steps tried on each side of the centre (default 1).
    pub totp_window: u32,
    /// HOTP: counters tried after the next expected one (default 10).
    pub hotp_lookahead: u32,
    /// TOTP: the remembered drift is clamped to ±max_drift steps (default 10).
    pub max_drift: u32,
    /// TOTP resync: steps searched on each side of now (default 20 = ±10 min at 30 s).
    pub resync_totp_steps: u32,
    /// HOTP resync: counters searched after the last accepted one (default 1000).
    pub resync_hotp: u32,
}

impl Default for WindowPolicy {
    fn default() -> Self {
        WindowPolicy {
            totp_window: 1,
            hotp_lookahead: 10,
            max_drift: 10,
            resync_totp_steps: 20,
            resync_hotp: 1000,
        }
    }
}

/// What the search needs to know of a token.
#[derive(Clone, Copy)]
pub struct TokenView<'a> {
    /// TOTP or HOTP.
    pub kind: Kind,
    /// The HMAC hash.
    pub algorithm: Algorithm,
    /// 6, 7 or 8.
    pub digits: u32,
    /// TOTP period in seconds (ignored for HOTP).
    pub period: u32,
    /// The raw seed.
    pub seed: &'a [u8],
    /// The last accepted step (TOTP) or counter (HOTP); nothing at or below it matches.
    pub last: Option<u64>,
    /// TOTP: remembered offset in steps (matched step − current step).
    pub drift: i64,
}

impl std::fmt::Debug for TokenView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenView")
            .field("kind", &self.kind)
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .field("period", &self.period)
            .field("seed", &"[redacted]")
            .field("last", &self.last)
            .field("drift", &self.drift)
            .finish()
    }
}

/// One candidate of the search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The TOTP step or HOTP counter.
    pub counter: u64,
    /// The code at that step/counter.
    pub code: OtpCode,
}

/// A successful match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// The step/counter that matched: store it as the new `last`.
    pub counter: u64,
    /// TOTP: the new drift to remember (clamped to ±max_drift); HOTP: 0.
    pub drift: i64,
}

/// The candidates, in search order (TOTP: centre, −1, +1, −2, +2, … around
/// `current step + drift`; HOTP: last+1 upwards), skipping everything at or
/// below `last`.
pub fn candidates<'a>(
    token: &TokenView<'a>,
    now: u64,
    policy: &WindowPolicy,
) -> impl Iterator<Item = Candidate> + 'a {
    todo!("{token:?} {now} {policy:?}");
    #[allow(unreachable_code)]
    std::iter::empty()
}

/// The first candidate for which `matches(code digits)` is true.
pub fn find(
    token: &TokenView<'_>,
    now: u64,
    policy: &WindowPolicy,
    matches: impl FnMut(&OtpCode) -> bool,
) -> Option<Match> {
    todo!("{token:?} {now} {policy:?} {}", std::any::type_name_of_val(&matches))
}

/// Resync: finds two consecutive steps/counters showing `code1` then `code2`
/// within the wide resync window; returns the match for the second one.
pub fn resync(
    token: &TokenView<'_>,
    now: u64,
    policy: &WindowPolicy,
    code1: &str,
    code2: &str,
) -> Option<Match> {
    todo!("{token:?} {now} {policy:?} {} {}", code1.len(), code2.len())
}
