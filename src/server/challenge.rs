//! Outstanding Access-Challenge states: random, single-use, expiring,
//! bounded in number.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a State stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The user who passed the first step.
    pub user: String,
    /// The client that asked.
    pub client: String,
    /// When it stops being valid.
    pub expires: Instant,
}

/// The table of issued States.
#[derive(Debug)]
pub struct ChallengeTable {
    map: Mutex<HashMap<[u8; 16], Pending>>,
    ttl: Duration,
    capacity: usize,
}

impl ChallengeTable {
    /// States live `ttl`; at most `capacity` are outstanding.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        ChallengeTable {
            map: Mutex::new(HashMap::new()),
            ttl,
            capacity,
        }
    }

    /// Issues a new State; `None` when the table is full of live states.
    pub fn issue(&self, user: &str, client: &str, now: Instant) -> Option<[u8; 16]> {
        let mut g = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if g.len() >= self.capacity {
            g.retain(|_, p| p.expires > now);
            if g.len() >= self.capacity {
                return None;
            }
        }
        let state: [u8; 16] = rand::random();
        g.insert(
            state,
            Pending {
                user: user.to_string(),
                client: client.to_string(),
                expires: now + self.ttl,
            },
        );
        Some(state)
    }

    /// Takes a State (single use): `None` when never issued, used or expired.
    pub fn take(&self, state: &[u8], now: Instant) -> Option<Pending> {
        let key: [u8; 16] = state.try_into().ok()?;
        let mut g = self.map.lock().unwrap_or_else(|e| e.into_inner());
        g.remove(&key).filter(|p| p.expires > now)
    }

    /// Outstanding states.
    pub fn len(&self) -> usize {
        self.map.lock().map(|g| g.len()).unwrap_or(0)
    }

    /// True when none are outstanding.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_single_use_and_expires() {
        let t = ChallengeTable::new(Duration::from_secs(60), 10);
        let now = Instant::now();
        let s = t.issue("alice", "nas", now).unwrap();
        assert_eq!(t.take(&s, now).unwrap().user, "alice");
        assert!(t.take(&s, now).is_none(), "second use");
        let s2 = t.issue("alice", "nas", now).unwrap();
        assert!(
            t.take(&s2, now + Duration::from_secs(61)).is_none(),
            "expired"
        );
        assert!(t.take(b"never issued....", now).is_none());
        assert!(t.take(b"short", now).is_none());
    }

    #[test]
    fn table_is_bounded() {
        let t = ChallengeTable::new(Duration::from_secs(60), 2);
        let now = Instant::now();
        assert!(t.issue("a", "n", now).is_some());
        assert!(t.issue("b", "n", now).is_some());
        assert!(t.issue("c", "n", now).is_none());
        assert!(t.issue("c", "n", now + Duration::from_secs(61)).is_some());
    }
}
