//! The duplicate cache (RFC 5080 §2.2.2): a retransmission (same source
//! address and port, identifier and Request Authenticator) gets the very
//! same reply bytes; one that arrives while the original is still being
//! worked on is dropped. Bounded in entries and in time.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The key of a request.
pub type Key = (SocketAddr, u8, [u8; 16]);

/// What the cache knows of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// First time: the caller must [`DedupCache::finish`] it.
    New,
    /// Still being worked on.
    InProgress,
    /// Answered: resend these bytes.
    Answered(Vec<u8>),
    /// Answered by silence (dropped): drop again.
    Dropped,
}

/// An entry: when it was registered, and its answer once known
/// (`Some(None)`: dropped).
type Entry = (Instant, Option<Option<Vec<u8>>>);

#[derive(Debug)]
struct Inner {
    map: HashMap<Key, Entry>,
    order: VecDeque<(Instant, Key)>,
}

/// The cache.
#[derive(Debug)]
pub struct DedupCache {
    inner: Mutex<Inner>,
    ttl: Duration,
    capacity: usize,
}

impl DedupCache {
    /// Entries live `ttl`; at most `capacity` are kept (oldest evicted).
    ///
    /// Both tables are sized for `capacity` at once: grown on demand, each
    /// doubling rehashed every entry under the lock that every request
    /// takes, a stall of milliseconds for all workers once the cache held
    /// about 100,000 entries. The memory is only reserved: pages are
    /// touched as entries arrive.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        let capacity = capacity.max(1);
        DedupCache {
            inner: Mutex::new(Inner {
                map: HashMap::with_capacity(capacity),
                order: VecDeque::with_capacity(capacity),
            }),
            ttl,
            capacity,
        }
    }

    /// Looks a request up, registering it as in progress when new.
    pub fn check(&self, key: Key, now: Instant) -> Seen {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        self.expire(&mut g, now);
        if let Some((_, state)) = g.map.get(&key) {
            return match state {
                None => Seen::InProgress,
                Some(Some(bytes)) => Seen::Answered(bytes.clone()),
                Some(None) => Seen::Dropped,
            };
        }
        while g.map.len() >= self.capacity {
            match g.order.pop_front() {
                Some((_, k)) => {
                    g.map.remove(&k);
                }
                None => break,
            }
        }
        g.map.insert(key, (now, None));
        g.order.push_back((now, key));
        Seen::New
    }

    /// Records the answer to a request registered by [`DedupCache::check`]
    /// (`None`: it was dropped).
    pub fn finish(&self, key: Key, reply: Option<Vec<u8>>) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = g.map.get_mut(&key) {
            entry.1 = Some(reply);
        }
    }

    /// Forgets a request (so that a retransmission is processed afresh).
    pub fn forget(&self, key: Key) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.map.remove(&key);
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|g| g.map.len()).unwrap_or(0)
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn expire(&self, g: &mut Inner, now: Instant) {
        while let Some(&(t, k)) = g.order.front() {
            if now.duration_since(t) < self.ttl {
                break;
            }
            g.order.pop_front();
            if g.map.get(&k).is_some_and(|(t2, _)| *t2 == t) {
                g.map.remove(&k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u8) -> Key {
        ("127.0.0.1:5000".parse().unwrap(), id, [7; 16])
    }

    #[test]
    fn rfc5080_retransmission_gets_same_bytes() {
        let c = DedupCache::new(Duration::from_secs(30), 100);
        let t = Instant::now();
        assert_eq!(c.check(key(1), t), Seen::New);
        assert_eq!(c.check(key(1), t), Seen::InProgress);
        c.finish(key(1), Some(vec![1, 2, 3]));
        assert_eq!(c.check(key(1), t), Seen::Answered(vec![1, 2, 3]));
        assert_eq!(c.check(key(2), t), Seen::New);
    }

    #[test]
    fn entries_expire_and_capacity_is_bounded() {
        let c = DedupCache::new(Duration::from_secs(30), 3);
        let t = Instant::now();
        for id in 0..10 {
            assert_eq!(c.check(key(id), t), Seen::New);
        }
        assert!(c.len() <= 3);
        let later = t + Duration::from_secs(31);
        assert_eq!(c.check(key(9), later), Seen::New);
        assert_eq!(c.len(), 1);
    }
}
