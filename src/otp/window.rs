//! The candidate search around a token's remembered drift, replay protection
//! and resynchronisation.
//!
//! A TOTP token is searched outwards from its centre, `current step + drift`
//! (centre, −1, +1, −2, +2, …); an HOTP token upwards from the counter after
//! the last accepted one. Nothing at or below the last accepted step/counter
//! is ever a candidate, which is the replay protection: the caller stores the
//! matched step as the new `last`. Codes are computed lazily, so a search
//! that matches early computes few HMACs, and the caller's matcher (PAP
//! comparison, CHAP or MS-CHAP hash) decides what "matches" means.

use super::hotp::HotpKey;
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
///
/// TOTP yields the steps within ±`totp_window` of the centre that are not
/// negative and above `last`; HOTP yields the counters
/// `last+1 ..= last+1+hotp_lookahead` (`0 ..= hotp_lookahead` for a token
/// that never matched).
pub fn candidates<'a>(
    token: &TokenView<'a>,
    now: u64,
    policy: &WindowPolicy,
) -> impl Iterator<Item = Candidate> + 'a {
    let token = *token;
    let mut key: Option<HotpKey> = None;
    Steps::new(&token, now, policy).map(move |counter| Candidate {
        counter,
        // Keyed at the first candidate (a search that yields none pays
        // nothing), reused for the others.
        code: OtpCode::new(
            key.get_or_insert_with(|| HotpKey::new(token.algorithm, token.seed))
                .hotp(counter, token.digits),
            token.digits,
        ),
    })
}

/// The first candidate for which `matches(code digits)` is true.
///
/// The returned [`Match`] carries the step/counter to store as the new
/// `last` and, for TOTP, the new drift (matched step − current step,
/// clamped to ±`max_drift`); HOTP drift is always 0.
pub fn find(
    token: &TokenView<'_>,
    now: u64,
    policy: &WindowPolicy,
    mut matches: impl FnMut(&OtpCode) -> bool,
) -> Option<Match> {
    let counter = candidates(token, now, policy)
        .find(|c| matches(&c.code))?
        .counter;
    Some(Match {
        counter,
        drift: new_drift(token, now, policy, counter),
    })
}

/// Resync: finds two consecutive steps/counters showing `code1` then `code2`
/// within the wide resync window; returns the match for the second one.
///
/// TOTP: both steps lie within ±`resync_totp_steps` of the current step (the
/// remembered drift is ignored, since it may be what went wrong); among
/// several matching pairs the one whose second step is nearest to now wins
/// (the earlier one on a tie). HOTP: both counters lie in
/// `last+1 ..= last+resync_hotp`, and the lowest pair wins. Steps at or below
/// `last` never match. Codes are compared in constant time.
pub fn resync(
    token: &TokenView<'_>,
    now: u64,
    policy: &WindowPolicy,
    code1: &str,
    code2: &str,
) -> Option<Match> {
    let expected_len = OtpCode::new(0, token.digits).as_bytes().len();
    if code1.len() != expected_len || code2.len() != expected_len {
        return None;
    }
    let (code1, code2) = (code1.as_bytes(), code2.as_bytes());
    let floor = match token.last {
        Some(last) => last.checked_add(1)?,
        None => 0,
    };
    let (lo, hi, centre) = match token.kind {
        Kind::Totp => {
            let current = super::step_at(now, token.period);
            let radius = u64::from(policy.resync_totp_steps);
            (
                current.saturating_sub(radius).max(floor),
                current.saturating_add(radius),
                Some(current),
            )
        }
        Kind::Hotp => {
            let span = u64::from(policy.resync_hotp);
            if span == 0 {
                return None;
            }
            (floor, floor.saturating_add(span - 1), None)
        }
    };
    if lo >= hi {
        return None;
    }
    // Scan upwards, carrying the previous code: one HMAC per step.
    let mut best: Option<u64> = None;
    let key = HotpKey::new(token.algorithm, token.seed);
    let code_at = |step| OtpCode::new(key.hotp(step, token.digits), token.digits);
    let mut previous_is_code1 = code_at(lo).ct_eq(code1);
    let mut step = lo;
    while step < hi {
        step += 1;
        let code = code_at(step);
        let is_code2 = code.ct_eq(code2);
        if previous_is_code1 & is_code2 {
            match centre {
                // HOTP: the lowest pair wins.
                None => {
                    best = Some(step);
                    break;
                }
                // TOTP: the pair nearest to now wins; scanning upwards and
                // replacing only on a strictly smaller distance keeps the
                // earlier step on a tie.
                Some(current) => {
                    let closer = best.is_none_or(|b| b.abs_diff(current) > step.abs_diff(current));
                    if closer {
                        best = Some(step);
                    }
                }
            }
        }
        previous_is_code1 = code.ct_eq(code1);
    }
    let counter = best?;
    Some(Match {
        counter,
        drift: new_drift(token, now, policy, counter),
    })
}

/// The code a token shows at a step/counter (the searches key the seed
/// once instead: [`HotpKey`]).
#[cfg(test)]
fn code_at(token: &TokenView<'_>, counter: u64) -> OtpCode {
    OtpCode::new(
        super::hotp(token.algorithm, token.seed, counter, token.digits),
        token.digits,
    )
}

/// TOTP: matched step − current step, clamped to ±max_drift; HOTP: 0.
fn new_drift(token: &TokenView<'_>, now: u64, policy: &WindowPolicy, matched: u64) -> i64 {
    match token.kind {
        Kind::Hotp => 0,
        Kind::Totp => {
            let current = super::step_at(now, token.period);
            let max = i128::from(policy.max_drift);
            let drift = (i128::from(matched) - i128::from(current)).clamp(-max, max);
            // |drift| <= u32::MAX, so it always fits.
            i64::try_from(drift).unwrap_or(0)
        }
    }
}

/// The steps/counters of a search, in order, without the codes.
enum Steps {
    /// Outwards from `centre`: k = 0 yields the centre, then each k yields
    /// centre−k (when `minus_next`) and centre+k.
    Totp {
        centre: i128,
        window: u64,
        k: u64,
        minus_next: bool,
        floor: i128,
    },
    /// Upwards from `next` to `end` inclusive; `None` when exhausted.
    Hotp { next: Option<u64>, end: u64 },
}

impl Steps {
    fn new(token: &TokenView<'_>, now: u64, policy: &WindowPolicy) -> Self {
        match token.kind {
            Kind::Totp => {
                let current = super::step_at(now, token.period);
                Steps::Totp {
                    centre: i128::from(current) + i128::from(token.drift),
                    window: u64::from(policy.totp_window),
                    k: 0,
                    minus_next: true,
                    // The lowest acceptable step: above `last`, never negative.
                    floor: token.last.map_or(0, |l| i128::from(l) + 1),
                }
            }
            Kind::Hotp => {
                let next = match token.last {
                    Some(last) => last.checked_add(1),
                    None => Some(0),
                };
                let end = next.map_or(0, |n| n.saturating_add(u64::from(policy.hotp_lookahead)));
                Steps::Hotp { next, end }
            }
        }
    }
}

impl Iterator for Steps {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        match self {
            Steps::Hotp { next, end } => {
                let current = (*next)?;
                *next = if current < *end {
                    Some(current + 1)
                } else {
                    None
                };
                Some(current)
            }
            Steps::Totp {
                centre,
                window,
                k,
                minus_next,
                floor,
            } => loop {
                if *k > *window {
                    return None;
                }
                let offset = i128::from(*k);
                let step = if *k == 0 {
                    *k += 1;
                    *centre
                } else if *minus_next {
                    *minus_next = false;
                    *centre - offset
                } else {
                    *minus_next = true;
                    *k += 1;
                    *centre + offset
                };
                if step >= *floor {
                    if let Ok(step) = u64::try_from(step) {
                        return Some(step);
                    }
                }
                // Stop instead of walking the rest of a window that holds
                // nothing more: the whole window is below the floor, or both
                // sides have left the valid range (they only move outwards).
                let widest = *centre + i128::from(*window);
                let out_of_range =
                    *centre - offset < *floor && *centre + offset > i128::from(u64::MAX);
                if widest < *floor || out_of_range {
                    return None;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// RFC 4226 Appendix D / RFC 6238 Appendix B SHA-1 seed.
    const SEED: &[u8] = b"12345678901234567890";

    fn totp_token(last: Option<u64>, drift: i64) -> TokenView<'static> {
        TokenView {
            kind: Kind::Totp,
            algorithm: Algorithm::Sha1,
            digits: 6,
            period: 30,
            seed: SEED,
            last,
            drift,
        }
    }

    fn hotp_token(last: Option<u64>) -> TokenView<'static> {
        TokenView {
            kind: Kind::Hotp,
            ..totp_token(last, 0)
        }
    }

    fn steps(token: &TokenView<'_>, now: u64, policy: &WindowPolicy) -> Vec<u64> {
        candidates(token, now, policy).map(|c| c.counter).collect()
    }

    fn policy(window: u32, lookahead: u32) -> WindowPolicy {
        WindowPolicy {
            totp_window: window,
            hotp_lookahead: lookahead,
            ..WindowPolicy::default()
        }
    }

    #[test]
    fn totp_candidates_go_outwards_from_the_centre() {
        // now = 3000 s → step 100; drift +3 → centre 103.
        let got = steps(&totp_token(None, 3), 3000, &policy(2, 0));
        assert_eq!(got, vec![103, 102, 104, 101, 105]);
    }

    #[test]
    fn totp_candidates_skip_replayed_and_negative_steps() {
        let got = steps(&totp_token(Some(102), 3), 3000, &policy(2, 0));
        assert_eq!(got, vec![103, 104, 105]);
        let got = steps(&totp_token(None, -101), 3000, &policy(2, 0));
        assert_eq!(got, vec![0, 1]);
        let got = steps(&totp_token(None, i64::MIN), 3000, &policy(2, 0));
        assert!(got.is_empty());
        let got = steps(&totp_token(Some(u64::MAX), 0), 3000, &policy(2, 0));
        assert!(got.is_empty());
    }

    #[test]
    fn totp_candidates_carry_the_rfc6238_codes() {
        // RFC 6238 Appendix B: 59 s → step 1 → 94287082 (8 digits).
        let token = TokenView {
            digits: 8,
            ..totp_token(None, 0)
        };
        let first = candidates(&token, 59, &policy(1, 0)).next().unwrap();
        assert_eq!(first.counter, 1);
        assert_eq!(first.code.as_str(), "94287082");
    }

    #[test]
    fn hotp_candidates_follow_the_last_counter() {
        assert_eq!(steps(&hotp_token(None), 0, &policy(1, 3)), vec![0, 1, 2, 3]);
        assert_eq!(
            steps(&hotp_token(Some(4)), 0, &policy(1, 3)),
            vec![5, 6, 7, 8]
        );
        assert!(steps(&hotp_token(Some(u64::MAX)), 0, &policy(1, 3)).is_empty());
        assert_eq!(
            steps(&hotp_token(Some(u64::MAX - 2)), 0, &policy(1, 3)),
            vec![u64::MAX - 1, u64::MAX]
        );
    }

    #[test]
    fn rfc4226_appendix_d_hotp_find_in_lookahead() {
        // Appendix D: counter 7 shows 162583.
        let m = find(&hotp_token(Some(3)), 0, &policy(1, 10), |c| {
            c.as_str() == "162583"
        });
        assert_eq!(
            m,
            Some(Match {
                counter: 7,
                drift: 0
            })
        );
        // Counter 2 (359152) is behind last = 3: a replay.
        let m = find(&hotp_token(Some(3)), 0, &policy(1, 10), |c| {
            c.as_str() == "359152"
        });
        assert_eq!(m, None);
    }

    #[test]
    fn rfc6238_appendix_b_find_records_drift() {
        // RFC 6238 Appendix B, SHA-1: step 0x23523EC shows 07081804.
        let token = TokenView {
            digits: 8,
            ..totp_token(None, 0)
        };
        let step = 0x23523EC_u64;
        let now = (step + 1) * 30 + 5;
        let m = find(&token, now, &policy(1, 0), |c| c.as_str() == "07081804");
        assert_eq!(
            m,
            Some(Match {
                counter: step,
                drift: -1
            })
        );
        // A drift far outside the clamp is clamped to ±max_drift.
        let p = WindowPolicy {
            totp_window: 0,
            max_drift: 2,
            ..WindowPolicy::default()
        };
        let far = TokenView { drift: -5, ..token };
        let m = find(&far, (step + 5) * 30, &p, |c| c.as_str() == "07081804");
        assert_eq!(
            m,
            Some(Match {
                counter: step,
                drift: -2
            })
        );
    }

    #[test]
    fn rfc4226_appendix_d_hotp_resync() {
        // Appendix D: counters 5, 6 show 254676, 287922.
        let p = WindowPolicy::default();
        let m = resync(&hotp_token(None), 0, &p, "254676", "287922");
        assert_eq!(
            m,
            Some(Match {
                counter: 6,
                drift: 0
            })
        );
        // Not consecutive (5 then 7).
        assert_eq!(resync(&hotp_token(None), 0, &p, "254676", "162583"), None);
        // Behind last.
        assert_eq!(
            resync(&hotp_token(Some(5)), 0, &p, "254676", "287922"),
            None
        );
        // Beyond the resync window: last+1 ..= last+resync_hotp = 1..=5.
        let narrow = WindowPolicy {
            resync_hotp: 5,
            ..p
        };
        assert_eq!(
            resync(&hotp_token(Some(0)), 0, &narrow, "254676", "287922"),
            None
        );
        let narrow = WindowPolicy {
            resync_hotp: 6,
            ..p
        };
        assert_eq!(
            resync(&hotp_token(Some(0)), 0, &narrow, "254676", "287922").map(|m| m.counter),
            Some(6)
        );
        // Wrong length never matches.
        assert_eq!(resync(&hotp_token(None), 0, &p, "25467", "287922"), None);
    }

    #[test]
    fn rfc6238_appendix_b_totp_resync_ignores_drift() {
        // RFC 6238 Appendix B, SHA-1: 1111111109 → 07081804 (step 0x23523EC),
        // 1111111111 → 14050471 (step 0x23523ED).
        let token = TokenView {
            digits: 8,
            ..totp_token(None, 9)
        };
        let second = 0x23523ED_u64;
        let p = WindowPolicy {
            resync_totp_steps: 20,
            max_drift: 10,
            ..WindowPolicy::default()
        };
        // The clock is 15 steps ahead of the token.
        let now = (second + 15) * 30;
        let m = resync(&token, now, &p, "07081804", "14050471");
        assert_eq!(
            m,
            Some(Match {
                counter: second,
                drift: -10
            })
        );
        // The first step must lie within the window too.
        let now = (second + 20) * 30;
        assert_eq!(resync(&token, now, &p, "07081804", "14050471"), None);
        // Replay protection.
        let replayed = TokenView {
            last: Some(second - 1),
            ..token
        };
        assert_eq!(resync(&replayed, now, &p, "07081804", "14050471"), None);
    }

    fn arb_policy() -> impl Strategy<Value = WindowPolicy> {
        (0u32..5, 0u32..12, 0u32..15).prop_map(|(w, l, d)| WindowPolicy {
            totp_window: w,
            hotp_lookahead: l,
            max_drift: d,
            ..WindowPolicy::default()
        })
    }

    fn arb_token() -> impl Strategy<Value = (TokenView<'static>, u64)> {
        (
            prop_oneof![Just(Kind::Totp), Just(Kind::Hotp)],
            prop_oneof![Just(30u32), Just(60u32), 10u32..=300],
            -12i64..12,
            prop_oneof![0u64..600, 0u64..4_000_000_000],
            proptest::option::of(-12i64..12),
        )
            .prop_map(|(kind, period, drift, now, last_offset)| {
                let current = now / u64::from(period);
                let last = last_offset.and_then(|o| current.checked_add_signed(o));
                let token = TokenView {
                    kind,
                    period,
                    drift,
                    last,
                    ..totp_token(None, 0)
                };
                (token, now)
            })
    }

    fn expected_set(token: &TokenView<'_>, now: u64, p: &WindowPolicy) -> BTreeSet<u64> {
        let floor = token.last.map_or(0, |l| i128::from(l) + 1);
        match token.kind {
            Kind::Totp => {
                let centre = i128::from(now / u64::from(token.period)) + i128::from(token.drift);
                let w = i128::from(p.totp_window);
                (centre - w..=centre + w)
                    .filter(|s| *s >= floor)
                    .filter_map(|s| u64::try_from(s).ok())
                    .collect()
            }
            Kind::Hotp => {
                let first = token.last.map_or(0, |l| l + 1);
                (first..=first + u64::from(p.hotp_lookahead)).collect()
            }
        }
    }

    proptest! {
        #[test]
        fn prop_candidate_set_is_window_minus_replayed((token, now) in arb_token(), p in arb_policy()) {
            let got = steps(&token, now, &p);
            let set: BTreeSet<u64> = got.iter().copied().collect();
            prop_assert_eq!(set.len(), got.len(), "duplicates in {:?}", got);
            prop_assert_eq!(set, expected_set(&token, now, &p));
        }

        #[test]
        fn prop_candidate_order_is_centre_out((token, now) in arb_token(), p in arb_policy()) {
            let got = steps(&token, now, &p);
            match token.kind {
                Kind::Totp => {
                    let centre = i128::from(now / u64::from(token.period)) + i128::from(token.drift);
                    let keys: Vec<(u128, bool)> = got
                        .iter()
                        .map(|s| {
                            let d = i128::from(*s) - centre;
                            (d.unsigned_abs(), d > 0)
                        })
                        .collect();
                    let mut sorted = keys.clone();
                    sorted.sort();
                    prop_assert_eq!(keys, sorted);
                }
                Kind::Hotp => {
                    prop_assert!(got.windows(2).all(|w| w[1] == w[0] + 1));
                }
            }
        }

        #[test]
        fn prop_code_at_or_below_last_never_matches(
            (token, now) in arb_token(),
            p in arb_policy(),
            back in 0u64..5,
        ) {
            if let Some(last) = token.last {
                let old = last.saturating_sub(back);
                let code = code_at(&token, old);
                let m = find(&token, now, &p, |c| c == &code);
                prop_assert!(m.is_none_or(|m| m.counter > last));
            }
        }

        #[test]
        fn prop_replay_after_find_never_matches_same_step(
            (token, now) in arb_token(),
            p in arb_policy(),
            pick in 0usize..32,
        ) {
            let all = steps(&token, now, &p);
            if let Some(&target) = all.get(pick % all.len().max(1)) {
                let code = code_at(&token, target);
                let first = find(&token, now, &p, |c| c == &code).expect("target is a candidate");
                let after = TokenView { last: Some(first.counter), drift: first.drift, ..token };
                let again = find(&after, now, &p, |c| c == &code);
                prop_assert!(again.is_none_or(|m| m.counter > first.counter));
                prop_assert!(first.drift.unsigned_abs() <= u64::from(p.max_drift));
            }
        }
    }
}
