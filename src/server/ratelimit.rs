//! Per-client request rate limit: one token bucket per configured client
//! (`rate_limit = N` requests per second, burst of N). Datagrams beyond it
//! are dropped before decoding and counted as `rate_limited`; other
//! clients have their own buckets and are not affected.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug)]
struct Bucket {
    rate: u32,
    tokens: f64,
    last: Instant,
}

/// The buckets, by client name (bounded by the number of clients).
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// A limiter with no buckets yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// May one more datagram from `client` (limit `rate` per second, 0: no
    /// limit) be handled at `now`?
    pub fn allow(&self, client: &str, rate: u32, now: Instant) -> bool {
        if rate == 0 {
            return true;
        }
        let mut g = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let cap = f64::from(rate);
        let b = match g.get_mut(client) {
            // A reload that changed the rate starts a fresh bucket.
            Some(b) if b.rate == rate => b,
            _ => {
                // Clients removed by a reload leave their buckets; keep the map
                // from growing across many reloads.
                if g.len() > 10_000 {
                    g.clear();
                }
                g.insert(
                    client.to_string(),
                    Bucket {
                        rate,
                        tokens: cap,
                        last: now,
                    },
                );
                match g.get_mut(client) {
                    Some(b) => b,
                    None => return true,
                }
            }
        };
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.last = now;
        b.tokens = (b.tokens + elapsed * cap).min(cap);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_of_rate_then_refill_at_rate_per_second() {
        let l = RateLimiter::new();
        let t0 = Instant::now();
        let allowed = (0..25).filter(|_| l.allow("a", 10, t0)).count();
        assert_eq!(allowed, 10, "burst is the rate");
        assert!(!l.allow("a", 10, t0 + Duration::from_millis(50)));
        assert!(
            l.allow("a", 10, t0 + Duration::from_millis(160)),
            "one token after 0.1 s"
        );
        assert!(!l.allow("a", 10, t0 + Duration::from_millis(165)));
        let later = t0 + Duration::from_secs(60);
        let allowed = (0..25).filter(|_| l.allow("a", 10, later)).count();
        assert_eq!(allowed, 10, "refill capped at the burst");
    }

    #[test]
    fn clients_have_separate_buckets_and_zero_is_unlimited() {
        let l = RateLimiter::new();
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(l.allow("a", 5, t0));
        }
        assert!(!l.allow("a", 5, t0));
        assert!(l.allow("b", 5, t0), "b unaffected by a");
        assert!((0..10_000).all(|_| l.allow("c", 0, t0)), "0: no limit");
    }

    #[test]
    fn changed_rate_starts_a_fresh_bucket() {
        let l = RateLimiter::new();
        let t0 = Instant::now();
        assert!(l.allow("a", 1, t0));
        assert!(!l.allow("a", 1, t0));
        assert!(l.allow("a", 2, t0), "reload to a higher rate");
    }
}
