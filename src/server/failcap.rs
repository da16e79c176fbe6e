//! The per-client cap on failed attempts (`[[client]]
//! max_failures_per_minute`), against the lockout as a lever.
//!
//! Whoever can send requests through a NAS can count failures against any
//! user name and so lock users out at will; the lockout cannot tell a
//! guesser from a vandal. The cap bounds what one client can do: once a
//! client has had `cap` failed attempts (wrong code or PIN, replay, unknown
//! user, no token) in the current minute, its further requests that minute
//! are rejected before any verification, so they count against no user and
//! try no code. The price is stated in the README: the client's honest
//! users are refused for the rest of that minute too.
//!
//! Fixed one-minute windows per client, in memory (one server's view; the
//! user's own failures and locks are the store's, shared).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

/// Failures per client in the current window.
#[derive(Debug, Default)]
pub struct FailureCap {
    windows: Mutex<HashMap<String, Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    failures: u32,
    /// The refusal of this window was logged.
    warned: bool,
}

/// What [`FailureCap::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// Under the cap (or no cap).
    Open,
    /// Over it; `first` for the first refusal of the window (log it).
    Closed { first: bool },
}

impl FailureCap {
    /// Is `client` (with `cap` failures a minute, 0: none) over its cap at `now`?
    pub fn check(&self, client: &str, cap: u32, now: Instant) -> Cap {
        if cap == 0 {
            return Cap::Open;
        }
        let mut g = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let Some(w) = g.get_mut(client) else {
            return Cap::Open;
        };
        if now.duration_since(w.start) >= WINDOW {
            *w = Window {
                start: now,
                failures: 0,
                warned: false,
            };
            return Cap::Open;
        }
        if w.failures < cap {
            return Cap::Open;
        }
        let first = !w.warned;
        w.warned = true;
        Cap::Closed { first }
    }

    /// Counts a failed attempt of `client` (when it has a cap).
    pub fn count(&self, client: &str, cap: u32, now: Instant) {
        if cap == 0 {
            return;
        }
        let mut g = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded by the number of configured clients (names come from the
        // config, never from a packet).
        let w = g.entry(client.to_string()).or_insert(Window {
            start: now,
            failures: 0,
            warned: false,
        });
        if now.duration_since(w.start) >= WINDOW {
            *w = Window {
                start: now,
                failures: 0,
                warned: false,
            };
        }
        w.failures = w.failures.saturating_add(1);
    }
}

/// Does a reject of this reason count toward the cap? Guesses do (a wrong
/// code or PIN, a replay, an unknown user, a user without token); refusals
/// that tried nothing do not (locked, disabled, not allowed, store down).
pub fn counts(reason: crate::verify::Reason) -> bool {
    use crate::verify::Reason::*;
    matches!(
        reason,
        UnknownUser | WrongPin | WrongCode | ReplayedCode | NoActiveToken
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_at_the_cap_for_the_rest_of_the_minute_then_opens() {
        let c = FailureCap::default();
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(c.check("nas", 3, t0), Cap::Open, "{i}");
            c.count("nas", 3, t0);
        }
        assert_eq!(c.check("nas", 3, t0), Cap::Closed { first: true });
        assert_eq!(
            c.check("nas", 3, t0 + Duration::from_secs(59)),
            Cap::Closed { first: false }
        );
        // Another client is not affected; no cap, no count.
        assert_eq!(c.check("other", 3, t0), Cap::Open);
        c.count("free", 0, t0);
        assert_eq!(c.check("free", 0, t0), Cap::Open);
        // The next minute starts afresh.
        assert_eq!(c.check("nas", 3, t0 + WINDOW), Cap::Open);
    }
}
