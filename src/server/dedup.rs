//! The duplicate cache (RFC 5080 §2.2.2): a retransmission (same source
//! address and port, identifier and Request Authenticator) gets the very
//! same reply bytes; one that arrives while the original is still being
//! worked on is dropped. Bounded in bytes and in time.
//!
//! Answered requests live in one ring of bytes, written in order and
//! overwritten oldest first: each entry is its key, its time, its hash
//! and the reply bytes, back to back. A hash table of ring offsets finds
//! them. So an entry costs its reply plus about 60 bytes, nothing is
//! allocated per request, and the key is hashed once per request (the
//! hash is kept in the entry for the table's own rehashing and for
//! eviction). Requests still being worked on are few (a batch per worker)
//! and sit in a short list.

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hashbrown::HashTable;

/// The key of a request.
pub type Key = (SocketAddr, u8, [u8; 16]);

/// What the cache knows of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// First time: the caller must [`DedupCache::finish`] or
    /// [`DedupCache::forget`] it.
    New,
    /// Still being worked on.
    InProgress,
    /// Answered: resend these bytes.
    Answered(Vec<u8>),
    /// Answered by silence (dropped): drop again.
    Dropped,
}

/// A key as bytes: family, address (16), port (2), IPv6 scope (4),
/// identifier, Request Authenticator (16).
const KEY: usize = 40;
type KeyBytes = [u8; KEY];

// Entry layout in the ring.
const AT_HASH: usize = 0;
const AT_MILLIS: usize = 8;
const AT_KEY: usize = 16;
const AT_KIND: usize = AT_KEY + KEY;
const AT_LEN: usize = AT_KIND + 1;
const HEAD: usize = AT_LEN + 2;

const KIND_DROPPED: u8 = 0;
const KIND_ANSWERED: u8 = 1;

/// Requests in progress kept at most (a stale one, whose caller never
/// finished it, is dropped after the time to live, or first when full).
const MAX_IN_PROGRESS: usize = 4096;

/// Smallest ring (replies are at most 4096 bytes).
const MIN_BYTES: usize = 64 << 10;

fn key_bytes(key: &Key) -> KeyBytes {
    let mut k = [0u8; KEY];
    match key.0 {
        SocketAddr::V4(a) => {
            k[0] = 4;
            k[1..5].copy_from_slice(&a.ip().octets());
            k[17..19].copy_from_slice(&a.port().to_be_bytes());
        }
        SocketAddr::V6(a) => {
            k[0] = 6;
            k[1..17].copy_from_slice(&a.ip().octets());
            k[17..19].copy_from_slice(&a.port().to_be_bytes());
            k[19..23].copy_from_slice(&a.scope_id().to_be_bytes());
        }
    }
    k[23] = key.1;
    k[24..40].copy_from_slice(&key.2);
    k
}

struct Inner {
    /// The ring; entries never straddle its end.
    ring: Vec<u8>,
    /// Where the next entry goes.
    head: usize,
    /// Entries in the ring, oldest first: (offset, length).
    order: VecDeque<(u32, u32)>,
    /// Ring offsets of the answered entries, by key hash.
    index: HashTable<u32>,
    /// Requests being worked on: hash, key, since when.
    in_progress: Vec<(u64, KeyBytes, Instant)>,
}

fn le64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

impl Inner {
    fn entry_key(&self, off: u32) -> &[u8] {
        let o = off as usize + AT_KEY;
        &self.ring[o..o + KEY]
    }

    fn find(&self, hash: u64, key: &KeyBytes) -> Option<u32> {
        self.index
            .find(hash, |&off| self.entry_key(off) == key)
            .copied()
    }

    /// Drops the oldest entry from the ring and the table.
    fn evict_front(&mut self) {
        let Some((off, _)) = self.order.pop_front() else {
            return;
        };
        let hash = le64(&self.ring[off as usize + AT_HASH..]);
        if let Ok(e) = self.index.find_entry(hash, |&o| o == off) {
            e.remove();
        }
    }

    /// Appends an entry; false when it cannot fit at all.
    fn push(&mut self, hash: u64, key: &KeyBytes, millis: u64, reply: Option<&[u8]>) -> bool {
        let body = reply.unwrap_or(&[]);
        let n = HEAD + body.len();
        if n > self.ring.len() || body.len() > usize::from(u16::MAX) {
            return false;
        }
        if self.head + n > self.ring.len() {
            self.head = 0;
        }
        // The space after the head holds the oldest entries: free it.
        let (lo, hi) = (self.head, self.head + n);
        while let Some(&(off, len)) = self.order.front() {
            let (off, end) = (off as usize, off as usize + len as usize);
            if off < hi && end > lo {
                self.evict_front();
            } else {
                break;
            }
        }
        let e = &mut self.ring[lo..hi];
        e[AT_HASH..AT_HASH + 8].copy_from_slice(&hash.to_le_bytes());
        e[AT_MILLIS..AT_MILLIS + 8].copy_from_slice(&millis.to_le_bytes());
        e[AT_KEY..AT_KEY + KEY].copy_from_slice(key);
        e[AT_KIND] = if reply.is_some() {
            KIND_ANSWERED
        } else {
            KIND_DROPPED
        };
        e[AT_LEN..AT_LEN + 2].copy_from_slice(&(body.len() as u16).to_le_bytes());
        e[HEAD..].copy_from_slice(body);
        let off = lo as u32;
        let ring = &self.ring;
        self.index
            .insert_unique(hash, off, |&o| le64(&ring[o as usize + AT_HASH..]));
        self.order.push_back((off, n as u32));
        self.head = hi;
        true
    }
}

/// The cache.
pub struct DedupCache {
    inner: Mutex<Inner>,
    hasher: std::collections::hash_map::RandomState,
    ttl: Duration,
    base: Instant,
}

impl std::fmt::Debug for DedupCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DedupCache")
            .field("ttl", &self.ttl)
            .field("entries", &self.len())
            .finish()
    }
}

impl DedupCache {
    /// Entries live `ttl`; the ring holds at most `bytes` (at least
    /// 64 KiB), oldest overwritten first. The ring is allocated zeroed, so
    /// its pages become resident only as entries reach them.
    pub fn new(ttl: Duration, bytes: usize) -> Self {
        let bytes = bytes.clamp(MIN_BYTES, u32::MAX as usize);
        DedupCache {
            inner: Mutex::new(Inner {
                ring: vec![0u8; bytes],
                head: 0,
                order: VecDeque::new(),
                index: HashTable::new(),
                in_progress: Vec::new(),
            }),
            hasher: Default::default(),
            ttl,
            base: Instant::now(),
        }
    }

    fn millis(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.base).as_millis() as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Looks a request up, registering it as in progress when new.
    pub fn check(&self, key: Key, now: Instant) -> Seen {
        let k = key_bytes(&key);
        let hash = self.hasher.hash_one(k);
        let mut g = self.lock();
        self.expire(&mut g, now);
        if let Some(off) = g.find(hash, &k) {
            let o = off as usize;
            let len = usize::from(u16::from_le_bytes([
                g.ring[o + AT_LEN],
                g.ring[o + AT_LEN + 1],
            ]));
            return match g.ring[o + AT_KIND] {
                KIND_ANSWERED => Seen::Answered(g.ring[o + HEAD..o + HEAD + len].to_vec()),
                _ => Seen::Dropped,
            };
        }
        let ttl = self.ttl;
        g.in_progress
            .retain(|(_, _, since)| now.saturating_duration_since(*since) < ttl);
        if g.in_progress.iter().any(|(h, b, _)| *h == hash && *b == k) {
            return Seen::InProgress;
        }
        if g.in_progress.len() >= MAX_IN_PROGRESS {
            g.in_progress.remove(0);
        }
        g.in_progress.push((hash, k, now));
        Seen::New
    }

    /// Records the answer to a request registered by [`DedupCache::check`]
    /// (`None`: it was dropped).
    pub fn finish(&self, key: Key, reply: Option<&[u8]>) {
        let k = key_bytes(&key);
        let mut g = self.lock();
        let Some(i) = g.in_progress.iter().position(|(_, b, _)| *b == k) else {
            return;
        };
        let (hash, _, since) = g.in_progress.swap_remove(i);
        let millis = self.millis(since);
        g.push(hash, &k, millis, reply);
    }

    /// Forgets a request in progress (so that a retransmission is
    /// processed afresh).
    pub fn forget(&self, key: Key) {
        let k = key_bytes(&key);
        let mut g = self.lock();
        if let Some(i) = g.in_progress.iter().position(|(_, b, _)| *b == k) {
            g.in_progress.swap_remove(i);
        }
    }

    /// Answered entries held.
    pub fn len(&self) -> usize {
        self.lock().order.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn expire(&self, g: &mut Inner, now: Instant) {
        let ttl = self.ttl.as_millis() as u64;
        let now = self.millis(now);
        while let Some(&(off, _)) = g.order.front() {
            let at = le64(&g.ring[off as usize + AT_MILLIS..]);
            if now.saturating_sub(at) < ttl {
                break;
            }
            g.evict_front();
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
        let c = DedupCache::new(Duration::from_secs(30), 1 << 20);
        let t = Instant::now();
        assert_eq!(c.check(key(1), t), Seen::New);
        assert_eq!(c.check(key(1), t), Seen::InProgress);
        c.finish(key(1), Some(&[1, 2, 3]));
        assert_eq!(c.check(key(1), t), Seen::Answered(vec![1, 2, 3]));
        assert_eq!(c.check(key(2), t), Seen::New);
        c.finish(key(2), None);
        assert_eq!(c.check(key(2), t), Seen::Dropped);
        // Forgotten: processed afresh.
        assert_eq!(c.check(key(3), t), Seen::New);
        c.forget(key(3));
        assert_eq!(c.check(key(3), t), Seen::New);
    }

    // The key is the whole of RFC 5080's: source address and port,
    // identifier and Request Authenticator; IPv4 and IPv6 never mix.
    #[test]
    fn rfc5080_key_is_source_identifier_and_authenticator() {
        let c = DedupCache::new(Duration::from_secs(30), 1 << 20);
        let t = Instant::now();
        let base = key(1);
        let others: Vec<Key> = vec![
            ("127.0.0.1:5001".parse().unwrap(), 1, [7; 16]),
            ("127.0.0.2:5000".parse().unwrap(), 1, [7; 16]),
            ("[::ffff:127.0.0.1]:5000".parse().unwrap(), 1, [7; 16]),
            (base.0, 2, [7; 16]),
            (base.0, 1, {
                let mut a = [7; 16];
                a[15] = 8;
                a
            }),
        ];
        assert_eq!(c.check(base, t), Seen::New);
        c.finish(base, Some(b"base"));
        for (i, k) in others.iter().enumerate() {
            assert_eq!(c.check(*k, t), Seen::New, "{i}");
            c.finish(*k, Some(&[i as u8]));
        }
        assert_eq!(c.check(base, t), Seen::Answered(b"base".to_vec()));
        for (i, k) in others.iter().enumerate() {
            assert_eq!(c.check(*k, t), Seen::Answered(vec![i as u8]), "{i}");
        }
    }

    #[test]
    fn entries_expire_after_their_time() {
        let c = DedupCache::new(Duration::from_secs(30), 1 << 20);
        let t = Instant::now();
        for id in 0..10 {
            assert_eq!(c.check(key(id), t), Seen::New);
            c.finish(key(id), Some(&[id]));
        }
        assert_eq!(c.len(), 10);
        let later = t + Duration::from_secs(31);
        assert_eq!(c.check(key(9), later), Seen::New);
        assert_eq!(c.len(), 0);
        // A request never finished stops blocking its retransmissions too.
        assert_eq!(c.check(key(9), later + Duration::from_secs(31)), Seen::New);
    }

    // The ring holds at most its bytes: after many more replies than fit,
    // the newest are all there with their own bytes, the oldest are gone,
    // and the table holds exactly the entries of the ring.
    #[test]
    fn ring_overwrites_oldest_first_and_stays_consistent() {
        let c = DedupCache::new(Duration::from_secs(30), MIN_BYTES);
        let t = Instant::now();
        let addr: SocketAddr = "10.0.0.1:1812".parse().unwrap();
        let k = |i: u32| {
            let mut a = [0u8; 16];
            a[..4].copy_from_slice(&i.to_le_bytes());
            (addr, (i % 256) as u8, a)
        };
        let reply = |i: u32| vec![(i % 251) as u8; 20 + (i as usize * 37) % 300];
        let n = 5000u32;
        for i in 0..n {
            assert_eq!(c.check(k(i), t), Seen::New);
            c.finish(k(i), Some(&reply(i)));
            let g = c.lock();
            assert_eq!(g.index.len(), g.order.len());
        }
        let held = c.len() as u32;
        assert!(held > 100 && held < n, "{held}");
        for i in n - held..n {
            assert_eq!(c.check(k(i), t), Seen::Answered(reply(i)), "{i}");
        }
        for i in 0..n - held {
            assert_eq!(c.check(k(i), t), Seen::New, "{i}");
        }
    }

    #[test]
    fn a_reply_larger_than_the_ring_is_not_kept() {
        let c = DedupCache::new(Duration::from_secs(30), MIN_BYTES);
        let t = Instant::now();
        assert_eq!(c.check(key(1), t), Seen::New);
        c.finish(key(1), Some(&vec![0u8; MIN_BYTES]));
        assert_eq!(c.check(key(1), t), Seen::New);
    }
}
