//! The file-backed [`TokenStore`](super::TokenStore): an append-only record
//! log, a file of fixed-size slots for the fields the request path changes,
//! and a write-ahead journal of slot images. Seeds and PINs are sealed at
//! rest exactly as in [`super::sled`] (AAD `b"seed:" + id`, `b"pin:" + name`).
//!
//! # Layout of the store directory
//!
//! - `lock`: held with [`File::try_lock`] while the store is open.
//! - `records`: append-only log of frames `[u32 len][u32 crc32][u8 kind][payload]`
//!   (little-endian; `len` counts kind + payload, the crc covers them).
//!   The first frame is the header (magic, format, key-check value); then
//!   `PutUser` frames, each a user **with all its tokens** (so the request
//!   path's look-up is one read), and `DelUser` frames. Every user and token
//!   in a frame carries a `slot` number (kept when the record is rewritten)
//!   and a random 64-bit `incarnation` (new at every write).
//! - `state`: 64-byte slots, one per user and per token, holding only the hot
//!   fields (user: failures, locked_until, last_success; token: last, drift,
//!   last_used, state) with the owner's incarnation and a crc32. A slot whose
//!   incarnation differs from the record's is stale: the record's values
//!   apply. A slot whose incarnation matches but whose crc fails is an error
//!   ([`StoreError::Corrupt`]): replay state is never silently reset.
//! - `journal.<generation>`: entries `[u64 slot][64-byte image][u32 crc32]`,
//!   appended in memory by `commit_use` / `record_*` and written and synced
//!   by [`TokenStore::sync`]. An in-memory overlay (slot → latest image)
//!   serves reads of dirty slots; a checkpoint (background thread, and at
//!   open and close) writes the overlay into `state` and retires the journal
//!   generation.
//!
//! Ordering rules that keep replay state monotonic across crashes: admin
//! changes write only `records`; request-path changes write only the
//! journal; and `records` is synced before any slot image reaches the disk
//! (both in `sync` and in the checkpoint), so an image on disk never names an
//! incarnation that a crash could take away.
//!
//! # Memory
//!
//! The index is two open-addressing tables of `(keyed 64-bit hash, record
//! offset)` pairs (users by name, tokens by id → the owner's record), 16
//! bytes per entry at a load of at most 0.85: about 40 MB for 1,000,000
//! users with one token each. A hash match is always confirmed against the
//! name or id in the record read back, so collisions cost a read, never a
//! wrong answer.

use std::collections::{HashMap, HashSet};
use std::fs::{DirBuilder, File, OpenOptions, TryLockError};
use std::hash::{BuildHasher, RandomState};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{
    aad, count_failure, par_map, LockRule, StoreError, StoreKey, Token, TokenState, TokenStore,
    User,
};
use crate::otp::{Algorithm, Kind};
use crate::secret::Secret;

/// The plaintext sealed into the header's key-check value.
const KEY_CHECK_TEXT: &[u8] = b"radotp store key check v1";
/// The AAD of the key-check value.
const KEY_CHECK_AAD: &[u8] = b"key-check";
/// First bytes of the header payload.
const MAGIC: &[u8; 8] = b"RADOTPFS";
/// The on-disk format version.
const FORMAT: u8 = 1;

const K_HEADER: u8 = 0;
const K_PUT: u8 = 1;
const K_DEL: u8 = 2;

/// `[u32 len][u32 crc]` before each record's kind byte.
const FRAME_HEAD: u64 = 8;
/// Largest accepted record (a user with very many tokens).
const MAX_RECORD: u32 = 64 << 20;
/// Bytes read at once when the length of a record is not known yet.
const READ_AHEAD: usize = 1024;
/// Buffer of the sequential scans.
const SCAN_BUF: usize = 1 << 20;
/// Bytes per state slot; slots are aligned, so none crosses a 512-byte sector.
const SLOT: usize = 64;
/// One journal entry: slot number, image, crc.
const JOURNAL_ENTRY: usize = 8 + SLOT + 4;
/// A slot run this short is read with one `pread`.
const SLOT_SPAN: u64 = 4096;
/// The page size the state file is written in (see `write_frozen`).
const STATE_PAGE: u64 = 4096;
/// Lock stripes of the request path (by slot number).
const STRIPES: usize = 256;
/// Users sealed and appended per batch during [`TokenStore::import`].
const IMPORT_CHUNK: usize = 8192;

const SLOT_USER: u8 = 1;
const SLOT_TOKEN: u8 = 2;

/// Knobs with production defaults; tests lower them.
#[derive(Debug, Clone, Copy)]
struct Tuning {
    /// Checkpoint when the overlay holds this many slots…
    checkpoint_slots: usize,
    /// …or the current journal generation this many bytes.
    checkpoint_bytes: u64,
    /// Compact at open when garbage exceeds half the file and this many bytes.
    compact_min: u64,
    /// Every index hash is ANDed with this (tests force collisions with 0).
    hash_mask: u64,
    /// Zeroed bytes laid out ahead of the journal's end at a time (see
    /// [`Journal::prepared`]). The flush that lays them out waits for
    /// them, and every Accept waiting for it: p99 at 45,000 PAP req/s was
    /// 14.9 ms with 4 MiB, 10.4 with 1 MiB, 8.9 with 512 KiB and 7.6 with
    /// 128 KiB, which cost more CPU (medians of 3 to 6 runs).
    journal_chunk: u64,
    /// A flush starts at least this long after the previous one started
    /// (see [`Shared::sync`]).
    flush_gap: Duration,
    /// A checkpoint syncs the state file after every this many page
    /// writes instead of once at the end: a journal flush then waits
    /// behind at most that much of the checkpoint's writeback. p99 at
    /// 45,000 PAP req/s open loop: 8.0 ms with one sync at the end, 4.5
    /// with 16, 2.6 with 32, 3.1 with 64 (medians of 3 to 6 runs).
    state_sync_writes: u64,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            checkpoint_slots: 24_576,
            checkpoint_bytes: 32 << 20,
            compact_min: 4 << 20,
            hash_mask: u64::MAX,
            journal_chunk: 512 << 10,
            flush_gap: Duration::from_micros(300),
            state_sync_writes: 32,
        }
    }
}

/// Group-commit counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Flushes performed.
    pub flushes: u64,
    /// `sync` calls served.
    pub callers: u64,
}

/// Sizes, for metrics and the scale checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileStoreStats {
    /// Live users.
    pub users: usize,
    /// Live tokens.
    pub tokens: usize,
    /// Length of `records`.
    pub records_bytes: u64,
    /// Bytes of `records` taken by superseded or deleted records.
    pub garbage_bytes: u64,
    /// Heap bytes of the in-memory index (both tables and the slot map).
    pub index_bytes: usize,
    /// Slots in the in-memory overlay (not yet checkpointed).
    pub overlay_slots: usize,
}

// ---------------------------------------------------------------------------
// Record codec
// ---------------------------------------------------------------------------

mod codec {
    use super::{Algorithm, Kind, TokenState};

    pub fn put_uint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
        put_uint(out, b.len() as u64);
        out.extend_from_slice(b);
    }

    pub fn zigzag(v: i64) -> u64 {
        ((v << 1) ^ (v >> 63)) as u64
    }

    pub fn unzigzag(z: u64) -> i64 {
        ((z >> 1) as i64) ^ -((z & 1) as i64)
    }

    pub struct Reader<'a>(pub &'a [u8]);

    impl<'a> Reader<'a> {
        pub fn remaining(&self) -> usize {
            self.0.len()
        }

        pub fn byte(&mut self) -> Result<u8, String> {
            let (&b, rest) = self.0.split_first().ok_or("truncated")?;
            self.0 = rest;
            Ok(b)
        }

        pub fn uint(&mut self) -> Result<u64, String> {
            let mut v: u64 = 0;
            for shift in (0..64).step_by(7) {
                let b = self.byte()?;
                let part = u64::from(b & 0x7f);
                if shift == 63 && part > 1 {
                    return Err("integer overflow".into());
                }
                v |= part << shift;
                if b & 0x80 == 0 {
                    return Ok(v);
                }
            }
            Err("integer too long".into())
        }

        pub fn u32(&mut self) -> Result<u32, String> {
            u32::try_from(self.uint()?).map_err(|_| "integer out of range".to_string())
        }

        pub fn fixed64(&mut self) -> Result<u64, String> {
            let b = self.take(8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            Ok(u64::from_le_bytes(a))
        }

        pub fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
            if n > self.0.len() {
                return Err("truncated".into());
            }
            let (b, rest) = self.0.split_at(n);
            self.0 = rest;
            Ok(b)
        }

        pub fn bytes(&mut self) -> Result<&'a [u8], String> {
            let n = usize::try_from(self.uint()?).map_err(|_| "length out of range")?;
            self.take(n)
        }

        pub fn str(&mut self) -> Result<&'a str, String> {
            std::str::from_utf8(self.bytes()?).map_err(|_| "text is not UTF-8".into())
        }

        pub fn opt(&mut self, present: bool) -> Result<Option<u64>, String> {
            if present {
                self.uint().map(Some)
            } else {
                Ok(None)
            }
        }

        pub fn end(&self) -> Result<(), String> {
            if self.0.is_empty() {
                Ok(())
            } else {
                Err("trailing bytes".into())
            }
        }
    }

    pub fn kind_code(k: Kind) -> u8 {
        match k {
            Kind::Totp => 0,
            Kind::Hotp => 1,
        }
    }

    pub fn kind_of(c: u8) -> Result<Kind, String> {
        match c {
            0 => Ok(Kind::Totp),
            1 => Ok(Kind::Hotp),
            k => Err(format!("unknown token kind {k}")),
        }
    }

    pub fn alg_code(a: Algorithm) -> u8 {
        match a {
            Algorithm::Sha1 => 0,
            Algorithm::Sha256 => 1,
            Algorithm::Sha512 => 2,
            Algorithm::Sm3 => 3,
        }
    }

    pub fn alg_of(c: u8) -> Result<Algorithm, String> {
        match c {
            0 => Ok(Algorithm::Sha1),
            1 => Ok(Algorithm::Sha256),
            2 => Ok(Algorithm::Sha512),
            3 => Ok(Algorithm::Sm3),
            a => Err(format!("unknown algorithm {a}")),
        }
    }

    pub fn state_code(s: TokenState) -> u8 {
        match s {
            TokenState::Pending => 0,
            TokenState::Active => 1,
            TokenState::Disabled => 2,
        }
    }

    pub fn state_of(c: u8) -> Result<TokenState, String> {
        match c {
            0 => Ok(TokenState::Pending),
            1 => Ok(TokenState::Active),
            2 => Ok(TokenState::Disabled),
            s => Err(format!("unknown token state {s}")),
        }
    }
}

use self::codec::{put_bytes, put_uint, Reader};

/// A token as stored in its owner's record: the seed still sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TokRec {
    id: String,
    slot: u64,
    inc: u64,
    kind: Kind,
    algorithm: Algorithm,
    digits: u32,
    period: u32,
    seed: Vec<u8>,
    last: Option<u64>,
    drift: i64,
    state: TokenState,
    description: String,
    created: u64,
    last_used: Option<u64>,
}

/// A user record: the PIN and the tokens' seeds still sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UserRec {
    name: String,
    slot: u64,
    inc: u64,
    pin: Option<Vec<u8>>,
    enabled: bool,
    challenge: bool,
    failures: u32,
    locked_until: Option<u64>,
    created: u64,
    last_success: Option<u64>,
    tokens: Vec<TokRec>,
}

/// A decoded token borrowing the record bytes.
struct TokView<'a> {
    id: &'a str,
    slot: u64,
    inc: u64,
    kind: Kind,
    algorithm: Algorithm,
    digits: u32,
    period: u32,
    seed: &'a [u8],
    last: Option<u64>,
    drift: i64,
    state: TokenState,
    description: &'a str,
    created: u64,
    last_used: Option<u64>,
}

/// A decoded user record borrowing the record bytes.
struct UserView<'a> {
    name: &'a str,
    slot: u64,
    inc: u64,
    pin: Option<&'a [u8]>,
    enabled: bool,
    challenge: bool,
    failures: u32,
    locked_until: Option<u64>,
    created: u64,
    last_success: Option<u64>,
    tokens: Vec<TokView<'a>>,
}

impl TokView<'_> {
    fn to_rec(&self) -> TokRec {
        TokRec {
            id: self.id.to_string(),
            slot: self.slot,
            inc: self.inc,
            kind: self.kind,
            algorithm: self.algorithm,
            digits: self.digits,
            period: self.period,
            seed: self.seed.to_vec(),
            last: self.last,
            drift: self.drift,
            state: self.state,
            description: self.description.to_string(),
            created: self.created,
            last_used: self.last_used,
        }
    }
}

impl UserView<'_> {
    /// Owned copy keeping only the tokens `live` accepts.
    fn to_rec(&self, mut live: impl FnMut(&str) -> bool) -> UserRec {
        UserRec {
            name: self.name.to_string(),
            slot: self.slot,
            inc: self.inc,
            pin: self.pin.map(<[u8]>::to_vec),
            enabled: self.enabled,
            challenge: self.challenge,
            failures: self.failures,
            locked_until: self.locked_until,
            created: self.created,
            last_success: self.last_success,
            tokens: self
                .tokens
                .iter()
                .filter(|t| live(t.id))
                .map(TokView::to_rec)
                .collect(),
        }
    }
}

/// Appends one frame: `[u32 len][u32 crc][kind][payload]`.
fn frame(out: &mut Vec<u8>, kind: u8, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEAD as usize]);
    out.push(kind);
    body(out);
    let len = (out.len() - start - FRAME_HEAD as usize) as u32;
    let crc = crc32fast::hash(&out[start + FRAME_HEAD as usize..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn encode_put(out: &mut Vec<u8>, u: &UserRec) {
    frame(out, K_PUT, |o| {
        put_bytes(o, u.name.as_bytes());
        put_uint(o, u.slot);
        o.extend_from_slice(&u.inc.to_le_bytes());
        let flags = u8::from(u.enabled)
            | u8::from(u.challenge) << 1
            | u8::from(u.pin.is_some()) << 2
            | u8::from(u.locked_until.is_some()) << 3
            | u8::from(u.last_success.is_some()) << 4;
        o.push(flags);
        put_uint(o, u.failures.into());
        put_uint(o, u.created);
        if let Some(v) = u.locked_until {
            put_uint(o, v);
        }
        if let Some(v) = u.last_success {
            put_uint(o, v);
        }
        if let Some(p) = &u.pin {
            put_bytes(o, p);
        }
        put_uint(o, u.tokens.len() as u64);
        for t in &u.tokens {
            put_bytes(o, t.id.as_bytes());
            put_uint(o, t.slot);
            o.extend_from_slice(&t.inc.to_le_bytes());
            o.push(u8::from(t.last.is_some()) | u8::from(t.last_used.is_some()) << 1);
            o.push(codec::kind_code(t.kind));
            o.push(codec::alg_code(t.algorithm));
            o.push(codec::state_code(t.state));
            put_uint(o, t.digits.into());
            put_uint(o, t.period.into());
            put_uint(o, codec::zigzag(t.drift));
            put_uint(o, t.created);
            if let Some(v) = t.last {
                put_uint(o, v);
            }
            if let Some(v) = t.last_used {
                put_uint(o, v);
            }
            put_bytes(o, t.description.as_bytes());
            put_bytes(o, &t.seed);
        }
    });
}

fn decode_put(payload: &[u8]) -> Result<UserView<'_>, String> {
    let mut r = Reader(payload);
    let name = r.str()?;
    let slot = r.uint()?;
    let inc = r.fixed64()?;
    let flags = r.byte()?;
    if flags & !0x1f != 0 {
        return Err("unknown user flags".into());
    }
    let failures = r.u32()?;
    let created = r.uint()?;
    let locked_until = r.opt(flags & 8 != 0)?;
    let last_success = r.opt(flags & 16 != 0)?;
    let pin = if flags & 4 != 0 {
        Some(r.bytes()?)
    } else {
        None
    };
    let n = usize::try_from(r.uint()?).map_err(|_| "token count out of range")?;
    // Each token takes more than one byte: a huge count is damage.
    let mut tokens = Vec::with_capacity(n.min(r.remaining()));
    for _ in 0..n {
        let id = r.str()?;
        let slot = r.uint()?;
        let inc = r.fixed64()?;
        let tflags = r.byte()?;
        if tflags & !3 != 0 {
            return Err("unknown token flags".into());
        }
        let kind = codec::kind_of(r.byte()?)?;
        let algorithm = codec::alg_of(r.byte()?)?;
        let state = codec::state_of(r.byte()?)?;
        let digits = r.u32()?;
        let period = r.u32()?;
        let drift = codec::unzigzag(r.uint()?);
        let created = r.uint()?;
        let last = r.opt(tflags & 1 != 0)?;
        let last_used = r.opt(tflags & 2 != 0)?;
        let description = r.str()?;
        let seed = r.bytes()?;
        tokens.push(TokView {
            id,
            slot,
            inc,
            kind,
            algorithm,
            digits,
            period,
            seed,
            last,
            drift,
            state,
            description,
            created,
            last_used,
        });
    }
    r.end()?;
    Ok(UserView {
        name,
        slot,
        inc,
        pin,
        enabled: flags & 1 != 0,
        challenge: flags & 2 != 0,
        failures,
        locked_until,
        created,
        last_success,
        tokens,
    })
}

fn encode_del(out: &mut Vec<u8>, name: &str) {
    frame(out, K_DEL, |o| put_bytes(o, name.as_bytes()));
}

fn decode_del(payload: &[u8]) -> Result<&str, String> {
    let mut r = Reader(payload);
    let name = r.str()?;
    r.end()?;
    Ok(name)
}

// ---------------------------------------------------------------------------
// Slot images
// ---------------------------------------------------------------------------

/// The hot fields of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UserHot {
    failures: u32,
    locked_until: Option<u64>,
    last_success: Option<u64>,
}

/// The hot fields of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TokHot {
    last: Option<u64>,
    drift: i64,
    last_used: Option<u64>,
    state: TokenState,
}

type Image = [u8; SLOT];

/// `[0..8]` incarnation, `[8]` slot kind, `[9]` flags, `[10]` token state,
/// `[12..16]` failures, `[16..24]` a, `[24..32]` b, `[32..40]` drift,
/// `[60..64]` crc32 of `[0..60]`.
fn image(inc: u64, kind: u8, flags: u8, state: u8, failures: u32, abc: [u64; 3]) -> Image {
    let [a, b, c] = abc;
    let mut img = [0u8; SLOT];
    img[0..8].copy_from_slice(&inc.to_le_bytes());
    img[8] = kind;
    img[9] = flags;
    img[10] = state;
    img[12..16].copy_from_slice(&failures.to_le_bytes());
    img[16..24].copy_from_slice(&a.to_le_bytes());
    img[24..32].copy_from_slice(&b.to_le_bytes());
    img[32..40].copy_from_slice(&c.to_le_bytes());
    let crc = crc32fast::hash(&img[..SLOT - 4]);
    img[SLOT - 4..].copy_from_slice(&crc.to_le_bytes());
    img
}

fn le64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn le32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn user_image(inc: u64, h: &UserHot) -> Image {
    let flags = u8::from(h.locked_until.is_some()) | u8::from(h.last_success.is_some()) << 1;
    image(
        inc,
        SLOT_USER,
        flags,
        0,
        h.failures,
        [h.locked_until.unwrap_or(0), h.last_success.unwrap_or(0), 0],
    )
}

fn token_image(inc: u64, h: &TokHot) -> Image {
    let flags = u8::from(h.last.is_some()) | u8::from(h.last_used.is_some()) << 1;
    image(
        inc,
        SLOT_TOKEN,
        flags,
        codec::state_code(h.state),
        0,
        [
            h.last.unwrap_or(0),
            h.last_used.unwrap_or(0),
            h.drift as u64,
        ],
    )
}

fn user_hot_of(img: &Image) -> UserHot {
    let flags = img[9];
    UserHot {
        failures: le32(&img[12..]),
        locked_until: (flags & 1 != 0).then(|| le64(&img[16..])),
        last_success: (flags & 2 != 0).then(|| le64(&img[24..])),
    }
}

fn token_hot_of(img: &Image) -> Result<TokHot, String> {
    let flags = img[9];
    Ok(TokHot {
        last: (flags & 1 != 0).then(|| le64(&img[16..])),
        last_used: (flags & 2 != 0).then(|| le64(&img[24..])),
        drift: le64(&img[32..]) as i64,
        state: codec::state_of(img[10])?,
    })
}

/// What a slot says about an owner of incarnation `inc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Img {
    /// Valid and current: its fields win.
    Use(Image),
    /// Empty, stale (another incarnation) or torn for another owner: the
    /// record's own values apply.
    Absent,
    /// The incarnation matches but the checksum fails.
    Bad,
}

fn classify(b: &[u8], inc: u64, kind: u8) -> Img {
    if b.iter().all(|&x| x == 0) {
        return Img::Absent;
    }
    let crc_ok = crc32fast::hash(&b[..SLOT - 4]) == le32(&b[SLOT - 4..]);
    let same = le64(b) == inc;
    match (crc_ok, same) {
        (true, true) if b[8] == kind => {
            let mut img = [0u8; SLOT];
            img.copy_from_slice(&b[..SLOT]);
            Img::Use(img)
        }
        (true, _) => Img::Absent,
        (false, true) => Img::Bad,
        (false, false) => Img::Absent,
    }
}

fn journal_entry(out: &mut Vec<u8>, slot: u64, img: &Image) {
    let start = out.len();
    out.extend_from_slice(&slot.to_le_bytes());
    out.extend_from_slice(img);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

// ---------------------------------------------------------------------------
// Index
// ---------------------------------------------------------------------------

/// Bits of a [`Packed`] cell that hold the value (a record offset): the
/// records file may grow to 1 TiB.
const VALUE_BITS: u32 = 40;
/// Largest value a [`Table`] cell holds.
const MAX_VALUE: u64 = (1 << VALUE_BITS) - 1;

/// A cell of a [`Table`]: a tag (all or the top bits of a hash, which
/// also places the cell) and a value, 0 for an empty cell.
trait Cell: Copy + Default + std::fmt::Debug {
    /// Bits of the hash kept.
    const TAG_BITS: u32;
    fn new(tag: u64, v: u64) -> Self;
    fn tag(self) -> u64;
    fn value(self) -> u64;
}

/// The whole hash beside the value: exact, sixteen bytes.
type Exact = [u64; 2];

impl Cell for Exact {
    const TAG_BITS: u32 = 64;
    fn new(tag: u64, v: u64) -> Self {
        [tag, v]
    }
    fn tag(self) -> u64 {
        self[0]
    }
    fn value(self) -> u64 {
        self[1]
    }
}

/// The top 24 bits of the hash over a 40-bit value, in eight bytes. For a
/// table whose values are unique (one user a record), so that the pair
/// `(tag, value)` still names one cell; lookups by name read the record
/// and compare, so the tag only filters (one cell in 16 million matches
/// by chance). 10 MB less at 1,000,000 users.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
struct Packed(u64);

impl Cell for Packed {
    const TAG_BITS: u32 = 64 - VALUE_BITS;
    fn new(tag: u64, v: u64) -> Self {
        debug_assert!(v <= MAX_VALUE);
        Packed(tag << VALUE_BITS | v)
    }
    fn tag(self) -> u64 {
        self.0 >> VALUE_BITS
    }
    fn value(self) -> u64 {
        self.0 & MAX_VALUE
    }
}

/// Open-addressing table (linear probing, backward-shift deletion) of
/// `(hash, value)` pairs; value 0 marks an empty cell (offset 0 is the
/// header, never a user record). Several cells may share a tag.
#[derive(Debug, Default)]
struct Table<C: Cell> {
    cells: Vec<C>,
    len: usize,
}

impl<C: Cell> Table<C> {
    fn cap_for(n: usize) -> usize {
        n + n / 4 + 16
    }

    fn with_capacity(n: usize) -> Self {
        Table {
            cells: vec![C::default(); Self::cap_for(n)],
            len: 0,
        }
    }

    fn tag_of(h: u64) -> u64 {
        h >> (64 - C::TAG_BITS)
    }

    /// Where tag `t` starts probing.
    fn home(&self, t: u64) -> usize {
        ((u128::from(t) * self.cells.len() as u128) >> C::TAG_BITS) as usize
    }

    fn next(&self, i: usize) -> usize {
        if i + 1 == self.cells.len() {
            0
        } else {
            i + 1
        }
    }

    /// The cells whose tag is that of hash `h`: `(position, value)`.
    /// Reads the home cell of `h` (a load to bring its cache line in
    /// ahead of the look-up; the value means nothing).
    fn touch(&self, h: u64) -> u64 {
        self.cells
            .get(self.home(Self::tag_of(h)))
            .map_or(0, |c| c.value())
    }

    fn probe(&self, h: u64) -> impl Iterator<Item = (usize, u64)> + '_ {
        let t = Self::tag_of(h);
        let mut i = self.home(t);
        let mut done = self.cells.is_empty();
        std::iter::from_fn(move || {
            while !done {
                let c = self.cells[i];
                if c.value() == 0 {
                    done = true;
                    return None;
                }
                let pos = i;
                i = self.next(i);
                if c.tag() == t {
                    return Some((pos, c.value()));
                }
            }
            None
        })
    }

    /// The position of the pair `(h, v)`.
    fn find(&self, h: u64, v: u64) -> Option<usize> {
        self.probe(h).find(|&(_, x)| x == v).map(|(p, _)| p)
    }

    fn insert(&mut self, h: u64, v: u64) {
        debug_assert!(v != 0);
        if (self.len + 1) * 20 > self.cells.len() * 17 {
            let grown = (self.cells.len() * 3 / 2).max(Self::cap_for(self.len + 1));
            self.resize(grown);
        }
        self.put(C::new(Self::tag_of(h), v));
    }

    fn put(&mut self, cell: C) {
        let mut i = self.home(cell.tag());
        while self.cells[i].value() != 0 {
            i = self.next(i);
        }
        self.cells[i] = cell;
        self.len += 1;
    }

    fn set(&mut self, pos: usize, v: u64) {
        debug_assert!(v != 0 && self.cells[pos].value() != 0);
        self.cells[pos] = C::new(self.cells[pos].tag(), v);
    }

    fn remove(&mut self, pos: usize) {
        let mut hole = pos;
        let mut j = pos;
        loop {
            j = self.next(j);
            let c = self.cells[j];
            if c.value() == 0 {
                break;
            }
            let k = self.home(c.tag());
            // The cell at j may fill the hole unless its home lies
            // cyclically in (hole, j].
            let stays = if hole <= j {
                hole < k && k <= j
            } else {
                hole < k || k <= j
            };
            if !stays {
                self.cells[hole] = c;
                hole = j;
            }
        }
        self.cells[hole] = C::default();
        self.len -= 1;
    }

    fn resize(&mut self, cap: usize) {
        let old = std::mem::replace(&mut self.cells, vec![C::default(); cap.max(16)]);
        self.len = 0;
        for c in old {
            if c.value() != 0 {
                self.put(c);
            }
        }
    }

    fn shrink_to_fit(&mut self) {
        let want = Self::cap_for(self.len);
        if self.cells.len() > want + want / 5 {
            self.resize(want);
        }
    }

    fn bytes(&self) -> usize {
        self.cells.capacity() * std::mem::size_of::<C>()
    }
}

/// Slot numbers in use, and the free ones below the high-water mark.
#[derive(Debug, Default)]
struct Slots {
    used: Vec<u64>,
    next: u64,
    free: Vec<u64>,
}

impl Slots {
    fn is_used(&self, s: u64) -> bool {
        self.used
            .get((s / 64) as usize)
            .is_some_and(|w| w & (1 << (s % 64)) != 0)
    }

    fn mark(&mut self, s: u64) {
        let w = (s / 64) as usize;
        if w >= self.used.len() {
            self.used.resize(w + 1, 0);
        }
        self.used[w] |= 1 << (s % 64);
        self.next = self.next.max(s + 1);
    }

    fn unmark(&mut self, s: u64) {
        if let Some(w) = self.used.get_mut((s / 64) as usize) {
            *w &= !(1 << (s % 64));
        }
    }

    fn alloc(&mut self) -> u64 {
        while let Some(s) = self.free.pop() {
            if !self.is_used(s) {
                self.mark(s);
                return s;
            }
        }
        let s = self.next;
        self.mark(s);
        s
    }

    /// `n` consecutive fresh slots (import: one user and its tokens).
    fn alloc_run(&mut self, n: u64) -> u64 {
        let s = self.next;
        for k in 0..n {
            self.mark(s + k);
        }
        s
    }

    fn release(&mut self, s: u64) {
        if self.is_used(s) {
            self.unmark(s);
            self.free.push(s);
        }
    }

    /// After the open scan: the free list is every unused slot below the mark.
    fn finish_open(&mut self) {
        let mut top = 0;
        for (i, w) in self.used.iter().enumerate() {
            if *w != 0 {
                top = i as u64 * 64 + 64 - u64::from(w.leading_zeros());
            }
        }
        self.next = top;
        self.free = (0..top).rev().filter(|&s| !self.is_used(s)).collect();
        self.used.truncate(top.div_ceil(64) as usize);
    }

    fn bytes(&self) -> usize {
        self.used.capacity() * 8 + self.free.capacity() * 8
    }
}

/// Everything admin changes touch; readers share it, admin changes hold it
/// exclusively.
#[derive(Debug)]
struct Inner {
    /// User name hash -> the user's record (one user a record: values
    /// unique, so packed).
    users: Table<Packed>,
    /// Token id hash -> its owner's record (shared by the owner's tokens,
    /// so the whole hash is kept).
    tokens: Table<Exact>,
    slots: Slots,
    /// Length of `records` (the next append goes here).
    end: u64,
    /// Bytes of superseded or deleted records.
    garbage: u64,
    /// Live user records that still list a token whose entry points at
    /// another record (it moved there; a crash came before this record
    /// was rewritten). Only their tokens are checked against the index on
    /// each read; almost always empty.
    stale: HashSet<u64>,
    /// Moved by every write lock taken: while it has not moved, no entry
    /// of the index has changed.
    gen: u64,
}

/// The index's keyed hash: random key per process, so that crafted names
/// cannot collide on purpose.
#[derive(Debug)]
struct Hasher {
    rs: RandomState,
    mask: u64,
}

impl Hasher {
    fn of(&self, s: &str) -> u64 {
        self.rs.hash_one(s.as_bytes()) & self.mask
    }
}

// ---------------------------------------------------------------------------
// File helpers
// ---------------------------------------------------------------------------

fn ioe(what: &str, e: std::io::Error) -> StoreError {
    StoreError::Io(format!("{what}: {e}"))
}

fn open_rw(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| ioe("syncing the store directory", e))
}

/// Reads until `buf` is full or end of file; returns the bytes read.
fn read_full_at(f: &File, mut buf: &mut [u8], mut off: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while !buf.is_empty() {
        match f.read_at(buf, off) {
            Ok(0) => break,
            Ok(k) => {
                n += k;
                off += k as u64;
                buf = &mut buf[k..];
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn all_zero(f: &File, mut from: u64, end: u64) -> std::io::Result<bool> {
    let mut buf = vec![0u8; 1 << 16];
    while from < end {
        let n = ((end - from) as usize).min(buf.len());
        let got = read_full_at(f, &mut buf[..n], from)?;
        if got == 0 {
            break;
        }
        if buf[..got].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        from += got as u64;
    }
    Ok(true)
}

fn corrupt_at(records: &Path, off: u64, why: impl Into<String>) -> StoreError {
    StoreError::Corrupt(
        format!("at offset {off} of {}", records.display()),
        why.into(),
    )
}

/// One whole frame at `off` (header included), checksum verified; usually
/// one `pread`.
fn read_record(f: &File, path: &Path, off: u64, end: u64) -> Result<Vec<u8>, StoreError> {
    if off + FRAME_HEAD + 1 > end {
        return Err(corrupt_at(path, off, "index points past the end"));
    }
    let want = (READ_AHEAD as u64).min(end - off) as usize;
    let mut buf = vec![0u8; want];
    let got = read_full_at(f, &mut buf, off).map_err(|e| ioe("reading records", e))?;
    if got < want {
        return Err(corrupt_at(path, off, "truncated"));
    }
    let len = le32(&buf);
    if len == 0 || len > MAX_RECORD {
        return Err(corrupt_at(path, off, format!("impossible length {len}")));
    }
    let total = FRAME_HEAD + u64::from(len);
    if off + total > end {
        return Err(corrupt_at(path, off, "runs past the end"));
    }
    let total = total as usize;
    if total > want {
        buf.resize(total, 0);
        let got = read_full_at(f, &mut buf[want..], off + want as u64)
            .map_err(|e| ioe("reading records", e))?;
        if got < total - want {
            return Err(corrupt_at(path, off, "truncated"));
        }
    }
    buf.truncate(total);
    if crc32fast::hash(&buf[FRAME_HEAD as usize..]) != le32(&buf[4..]) {
        return Err(corrupt_at(path, off, "checksum mismatch"));
    }
    Ok(buf)
}

/// How a scan of `records` ended.
#[derive(Debug, PartialEq, Eq)]
enum ScanEnd {
    Clean,
    /// An incomplete record starts here: a crash while appending.
    Torn(u64),
    /// A damaged record in the middle.
    Bad(u64, String),
}

/// A frame found by [`scan_batches`]: offset, kind, payload, total length.
type Frame<'a> = (u64, u8, &'a [u8], u64);

/// Frames handed to [`scan_batches`]'s callback at a time: enough to keep
/// a dozen index look-ups in flight (see `load`).
const SCAN_BATCH: usize = 32;

/// Calls `f` for each valid frame of `file[start..end]`, in order; stops at
/// the first frame that is torn or invalid and says which.
fn scan(
    file: &File,
    start: u64,
    end: u64,
    mut f: impl FnMut(u64, u8, &[u8], u64) -> Result<(), StoreError>,
) -> Result<ScanEnd, StoreError> {
    scan_batches(file, start, end, |frames| {
        for &(off, kind, payload, len) in frames {
            f(off, kind, payload, len)?;
        }
        Ok(())
    })
}

/// [`scan`] that `f` can stop: once `f` returns `Ok(false)` for a frame,
/// nothing more is read, and the frame's offset is returned beside how the
/// scan ended (`None` when it reached `end`). A listing's pages use it.
fn scan_some(
    file: &File,
    start: u64,
    end: u64,
    mut f: impl FnMut(u64, u8, &[u8]) -> Result<bool, StoreError>,
) -> Result<(ScanEnd, Option<u64>), StoreError> {
    let mut stopped_at = None;
    let r = scan(file, start, end, |off, kind, payload, _| {
        if f(off, kind, payload)? {
            Ok(())
        } else {
            stopped_at = Some(off);
            // Only a way out of `scan`: told apart by `stopped_at` below,
            // never returned.
            Err(StoreError::Io(String::new()))
        }
    });
    match (r, stopped_at) {
        (_, Some(at)) => Ok((ScanEnd::Clean, Some(at))),
        (Ok(end), None) => Ok((end, None)),
        (Err(e), None) => Err(e),
    }
}

/// [`scan`], handing the frames to `f` up to [`SCAN_BATCH`] at a time (all
/// the valid frames before a torn or invalid one are handed over before
/// the scan says where it ended).
fn scan_batches(
    file: &File,
    start: u64,
    end: u64,
    mut f: impl FnMut(&[Frame<'_>]) -> Result<(), StoreError>,
) -> Result<ScanEnd, StoreError> {
    let mut buf: Vec<u8> = Vec::new();
    let mut base = start; // buf holds file[base .. base + buf.len()]
    let mut off = start;
    let rd = |e| ioe("reading records", e);
    loop {
        // The frames that lie whole in the buffer, up to a batch.
        let mut ended = None;
        let mut frames: Vec<(u64, u8, usize, usize, u64)> = Vec::with_capacity(SCAN_BATCH);
        while frames.len() < SCAN_BATCH {
            if off >= end {
                ended = Some(ScanEnd::Clean);
                break;
            }
            if end - off < FRAME_HEAD + 1 {
                ended = Some(ScanEnd::Torn(off));
                break;
            }
            if off + FRAME_HEAD > base + buf.len() as u64 {
                if !frames.is_empty() {
                    break; // hand these over before the buffer moves
                }
                ensure(file, &mut buf, &mut base, off, FRAME_HEAD, end).map_err(rd)?;
            }
            let p = (off - base) as usize;
            let len = le32(&buf[p..]);
            let crc = le32(&buf[p + 4..]);
            if len == 0 || len > MAX_RECORD {
                ended = Some(if all_zero(file, off, end).map_err(rd)? {
                    ScanEnd::Torn(off)
                } else {
                    ScanEnd::Bad(off, format!("impossible record length {len}"))
                });
                break;
            }
            let total = FRAME_HEAD + u64::from(len);
            if off + total > end {
                ended = Some(ScanEnd::Torn(off));
                break;
            }
            if off + total > base + buf.len() as u64 {
                if !frames.is_empty() {
                    break;
                }
                ensure(file, &mut buf, &mut base, off, total, end).map_err(rd)?;
            }
            let p = (off - base) as usize;
            let body = &buf[p + FRAME_HEAD as usize..p + total as usize];
            if crc32fast::hash(body) != crc {
                ended = Some(if off + total == end {
                    ScanEnd::Torn(off)
                } else {
                    ScanEnd::Bad(off, "checksum mismatch".into())
                });
                break;
            }
            frames.push((
                off,
                body[0],
                p + FRAME_HEAD as usize + 1,
                p + total as usize,
                total,
            ));
            off += total;
        }
        let batch: Vec<Frame<'_>> = frames
            .iter()
            .map(|&(at, kind, from, to, total)| (at, kind, &buf[from..to], total))
            .collect();
        f(&batch)?;
        if let Some(e) = ended {
            return Ok(e);
        }
    }
}

/// Makes `buf` cover `file[off .. off + n]`.
fn ensure(
    file: &File,
    buf: &mut Vec<u8>,
    base: &mut u64,
    off: u64,
    n: u64,
    end: u64,
) -> std::io::Result<()> {
    if off + n <= *base + buf.len() as u64 {
        return Ok(());
    }
    buf.drain(..(off - *base) as usize);
    *base = off;
    let want = (n as usize).max(SCAN_BUF).min((end - off) as usize);
    let have = buf.len();
    buf.resize(want, 0);
    let got = read_full_at(file, &mut buf[have..], off + have as u64)?;
    buf.truncate(have + got);
    if (buf.len() as u64) < n {
        return Err(std::io::Error::new(
            ErrorKind::UnexpectedEof,
            "records shrank while being read",
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Loading `records` at open
// ---------------------------------------------------------------------------

fn header_frame(key: &StoreKey) -> Vec<u8> {
    let mut out = Vec::new();
    frame(&mut out, K_HEADER, |o| {
        o.extend_from_slice(MAGIC);
        o.push(FORMAT);
        put_bytes(o, &key.seal(KEY_CHECK_AAD, KEY_CHECK_TEXT));
    });
    out
}

fn check_header(payload: &[u8], key: &StoreKey, shown: &str) -> Result<(), StoreError> {
    let open_err = |why: String| StoreError::Open {
        path: shown.to_string(),
        why,
    };
    let mut r = Reader(payload);
    let magic = r.take(MAGIC.len()).map_err(open_err)?;
    if magic != MAGIC {
        return Err(open_err("not a radotp file store (bad magic)".into()));
    }
    let v = r.byte().map_err(open_err)?;
    if v != FORMAT {
        return Err(open_err(format!(
            "unknown store format {v}; this radotp reads format {FORMAT}"
        )));
    }
    let sealed = r.bytes().map_err(open_err)?;
    let ok = key
        .open(KEY_CHECK_AAD, sealed)
        .is_some_and(|p| p == KEY_CHECK_TEXT);
    if !ok {
        return Err(StoreError::Key {
            path: format!("for the store at {shown}"),
            why: "the key file does not match this store \
                  (use the key file it was created with)"
                .into(),
        });
    }
    Ok(())
}

/// Scans `records` once and builds the index. Writes the header of a new
/// store; truncates a torn tail.
fn load(
    records: &File,
    rpath: &Path,
    key: &StoreKey,
    hasher: &Hasher,
    shown: &str,
) -> Result<Inner, StoreError> {
    let mut end = records
        .metadata()
        .map_err(|e| ioe("reading records", e))?
        .len();
    if end == 0 {
        let h = header_frame(key);
        records
            .write_all_at(&h, 0)
            .and_then(|()| records.sync_data())
            .map_err(|e| ioe("writing the store header", e))?;
        end = h.len() as u64;
    }
    if end > MAX_VALUE {
        return Err(StoreError::Open {
            path: shown.to_string(),
            why: format!("the records file is {end} bytes; the index addresses at most 1 TiB"),
        });
    }
    let guess = estimate_records(records, end).map_err(|e| ioe("reading records", e))?;
    let mut inner = Inner {
        users: Table::with_capacity(guess),
        tokens: Table::with_capacity(guess),
        slots: Slots::default(),
        end,
        garbage: 0,
        stale: HashSet::new(),
        gen: 0,
    };
    // A batch of records at a time: decoded and hashed first, their index
    // cells read (independent loads the CPU overlaps, where one look-up
    // after another waited for each cache miss in turn), then applied in
    // order. The first error by offset is the one reported, as before.
    let mut hashes: Vec<u64> = Vec::new();
    let outcome = scan_batches(records, 0, end, |frames| {
        let mut views = Vec::with_capacity(frames.len());
        let mut pending = None;
        hashes.clear();
        let mut warm = 0u64;
        for &(off, kind, payload, _) in frames {
            if off == 0 || kind != K_PUT {
                views.push(None);
                continue;
            }
            match decode_put(payload) {
                Ok(v) => {
                    hashes.push(hasher.of(v.name));
                    hashes.extend(v.tokens.iter().map(|t| hasher.of(t.id)));
                    views.push(Some(v));
                }
                Err(why) => {
                    pending = Some(corrupt_at(rpath, off, why));
                    break;
                }
            }
        }
        // In a loop of their own, so that many loads are in flight at once.
        let mut at = 0;
        for v in views.iter().flatten() {
            warm ^= inner.users.touch(hashes[at]);
            for &th in &hashes[at + 1..at + 1 + v.tokens.len()] {
                warm ^= inner.tokens.touch(th);
            }
            at += 1 + v.tokens.len();
        }
        std::hint::black_box(warm);
        let mut hs = &hashes[..];
        for (&(off, kind, payload, len), v) in frames.iter().zip(views) {
            if off == 0 {
                if kind != K_HEADER {
                    return Err(corrupt_at(rpath, 0, "the store header is missing"));
                }
                check_header(payload, key, shown)?;
                continue;
            }
            match (kind, v) {
                (K_PUT, Some(v)) => {
                    let (mine, rest) = hs.split_at(1 + v.tokens.len());
                    hs = rest;
                    load_put(&mut inner, records, rpath, end, hasher, mine, off, &v)?;
                }
                (K_DEL, _) => {
                    let name = decode_del(payload).map_err(|why| corrupt_at(rpath, off, why))?;
                    load_del(&mut inner, records, rpath, end, hasher, name)?;
                    inner.garbage += len;
                }
                (k, _) => return Err(corrupt_at(rpath, off, format!("unknown record kind {k}"))),
            }
        }
        pending.map_or(Ok(()), Err)
    })?;
    match outcome {
        ScanEnd::Clean => {}
        ScanEnd::Bad(at, why) => return Err(corrupt_at(rpath, at, why)),
        ScanEnd::Torn(0) => {
            // The header itself is incomplete: a crash while creating the
            // store. Nothing else was ever written; start again.
            tracing::warn!(path = %rpath.display(), "store header incomplete; recreating it");
            records
                .set_len(0)
                .map_err(|e| ioe("truncating records", e))?;
            return load(records, rpath, key, hasher, shown);
        }
        ScanEnd::Torn(at) => {
            tracing::warn!(
                path = %rpath.display(),
                offset = at,
                dropped_bytes = end - at,
                "records end in an incomplete record (crash while appending); truncating it"
            );
            records
                .set_len(at)
                .and_then(|()| records.sync_all())
                .map_err(|e| ioe("truncating records", e))?;
            inner.end = at;
        }
    }
    inner.slots.finish_open();
    inner.users.shrink_to_fit();
    inner.tokens.shrink_to_fit();
    Ok(inner)
}

/// Roughly how many user records `records` holds, from the frame sizes
/// in sixteen samples of 64 KiB spread over the file, so that the index is built
/// at its final size: a wrong guess costs a resize at open, which touches
/// the index twice (a store whose first users have no PIN and whose last
/// ones do was guessed 25 % too large from its first megabyte alone).
fn estimate_records(records: &File, end: u64) -> std::io::Result<usize> {
    const SAMPLE: u64 = 64 << 10;
    const SAMPLES: u64 = 16;
    // Each sample stands for its sixteenth of the file: frames per byte
    // there, times the sixteenth's size.
    let (mut guess, mut count) = (0f64, 0u64);
    let mut buf = Vec::new();
    for k in 0..SAMPLES {
        let at = end / SAMPLES * k;
        let share = if end < SAMPLE * SAMPLES {
            if k > 0 {
                break; // a small file: the first sample stands for all of it
            }
            end
        } else {
            end / SAMPLES
        };
        buf.resize(SAMPLE.min(end - at) as usize, 0);
        let got = read_full_at(records, &mut buf, at)?;
        buf.truncate(got);
        // The first sample starts at the header; the others anywhere, so
        // they start at the first place that holds a whole valid frame.
        let start = if k == 0 {
            frame_len(&buf, 0).map(|n| 8 + n)
        } else {
            (0..buf.len()).find(|&i| valid_frame_at(&buf, i))
        };
        let Some(mut off) = start else { continue };
        let (first, mut frames) = (off, 0u64);
        while let Some(n) = frame_len(&buf, off) {
            off += 8 + n;
            frames += 1;
        }
        if frames > 0 {
            guess += frames as f64 / (off - first) as f64 * share as f64;
            count += frames;
        }
    }
    if count < 16 {
        return Ok((end / 128) as usize);
    }
    Ok((guess * 1.03) as usize)
}

/// The payload length of a frame that starts at `off` and ends inside `buf`.
fn frame_len(buf: &[u8], off: usize) -> Option<usize> {
    let len = le32(buf.get(off..off + 8)?);
    let n = len as usize;
    (len != 0 && len <= MAX_RECORD && off + 8 + n <= buf.len()).then_some(n)
}

/// A whole frame of a user record or deletion, checksum included, at `off`.
fn valid_frame_at(buf: &[u8], off: usize) -> bool {
    frame_len(buf, off).is_some_and(|n| {
        let payload = &buf[off + 8..off + 8 + n];
        matches!(payload[0], K_PUT | K_DEL) && crc32fast::hash(payload) == le32(&buf[off + 4..])
    })
}

/// The live record of `name` among the hash candidates: `(offset, frame)`.
fn live_record_of(
    inner: &Inner,
    records: &File,
    rpath: &Path,
    end: u64,
    h: u64,
    name: &str,
) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
    for (_, off) in inner.users.probe(h) {
        let buf = read_record(records, rpath, off, end)?;
        let v = decode_put(&buf[FRAME_HEAD as usize + 1..])
            .map_err(|why| corrupt_at(rpath, off, why))?;
        if v.name == name {
            return Ok(Some((off, buf)));
        }
    }
    Ok(None)
}

/// Forgets the record at `old` (superseded or deleted): its user entry,
/// the token entries still pointing at it, and their slots.
fn load_forget(
    inner: &mut Inner,
    hasher: &Hasher,
    old: u64,
    old_frame: &[u8],
    rpath: &Path,
) -> Result<(), StoreError> {
    let v = decode_put(&old_frame[FRAME_HEAD as usize + 1..])
        .map_err(|why| corrupt_at(rpath, old, why))?;
    if let Some(pos) = inner.users.find(hasher.of(v.name), old) {
        inner.users.remove(pos);
    }
    inner.slots.unmark(v.slot);
    inner.stale.remove(&old);
    for t in &v.tokens {
        if let Some(pos) = inner.tokens.find(hasher.of(t.id), old) {
            inner.tokens.remove(pos);
            inner.slots.unmark(t.slot);
        }
    }
    inner.garbage += old_frame.len() as u64;
    Ok(())
}

/// `hashes`: the user's name hash, then each token id's, in order.
#[allow(clippy::too_many_arguments)] // the loader's state, passed apart to borrow apart
fn load_put(
    inner: &mut Inner,
    records: &File,
    rpath: &Path,
    end: u64,
    hasher: &Hasher,
    hashes: &[u64],
    off: u64,
    v: &UserView<'_>,
) -> Result<(), StoreError> {
    let h = hashes[0];
    if let Some((old, buf)) = live_record_of(inner, records, rpath, end, h, v.name)? {
        load_forget(inner, hasher, old, &buf, rpath)?;
    }
    inner.users.insert(h, off);
    inner.slots.mark(v.slot);
    for (t, &th) in v.tokens.iter().zip(&hashes[1..]) {
        // Another live record holding the same id means the token moved
        // here from another owner: point its entry at this record.
        let mut moved = None;
        for (pos, other) in inner.tokens.probe(th) {
            if other == off {
                continue; // another token of this record with the same hash
            }
            let buf = read_record(records, rpath, other, end)?;
            let ov = decode_put(&buf[FRAME_HEAD as usize + 1..])
                .map_err(|why| corrupt_at(rpath, other, why))?;
            if ov.tokens.iter().any(|x| x.id == t.id) {
                moved = Some(pos);
                inner.stale.insert(other);
                break;
            }
        }
        match moved {
            Some(pos) => inner.tokens.set(pos, off),
            None => inner.tokens.insert(th, off),
        }
        inner.slots.mark(t.slot);
    }
    Ok(())
}

fn load_del(
    inner: &mut Inner,
    records: &File,
    rpath: &Path,
    end: u64,
    hasher: &Hasher,
    name: &str,
) -> Result<(), StoreError> {
    let h = hasher.of(name);
    if let Some((old, buf)) = live_record_of(inner, records, rpath, end, h, name)? {
        load_forget(inner, hasher, old, &buf, rpath)?;
    }
    Ok(())
}

/// Rewrites `records` with only the header and the live records, byte for
/// byte (slots and incarnations unchanged), via `records.new` + rename.
fn compact(
    dir: &Path,
    records: &File,
    rpath: &Path,
    inner: &Inner,
    hasher: &Hasher,
) -> Result<File, StoreError> {
    let tmp = dir.join("records.new");
    let werr = |e| ioe("writing records.new", e);
    let out = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(werr)?;
    let mut buf = Vec::with_capacity(SCAN_BUF);
    let mut pos = 0u64;
    let outcome = scan(records, 0, inner.end, |off, kind, payload, _| {
        let keep = kind == K_HEADER
            || (kind == K_PUT && {
                let v = decode_put(payload).map_err(|why| corrupt_at(rpath, off, why))?;
                inner.users.find(hasher.of(v.name), off).is_some()
            });
        if keep {
            frame(&mut buf, kind, |o| o.extend_from_slice(payload));
            if buf.len() >= SCAN_BUF / 2 {
                out.write_all_at(&buf, pos).map_err(werr)?;
                pos += buf.len() as u64;
                buf.clear();
            }
        }
        Ok(())
    })?;
    if outcome != ScanEnd::Clean {
        return Err(corrupt_at(rpath, 0, "records changed during compaction"));
    }
    out.write_all_at(&buf, pos).map_err(werr)?;
    out.sync_all().map_err(werr)?;
    std::fs::rename(&tmp, rpath).map_err(|e| ioe("replacing records", e))?;
    sync_dir(dir)?;
    Ok(out)
}

// ---------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------

/// One journal generation.
///
/// Its file is zero-filled ahead of the entries, a chunk at a time, and
/// the zeros made durable. The `sync_data` of a flush then rewrites blocks
/// that are already allocated and written, with the file's size unchanged:
/// the file system has no metadata to commit, and the flush costs one
/// data write and a cache flush. Appending instead made every flush a
/// file-system journal commit as well, and each new extent a stall of
/// several milliseconds on this path (measured on ext4: 1 in 60 flushes
/// took 5–20 ms at 30,000 Accepts/s). Replay stops at the first invalid
/// entry, and quietly at the zeros.
#[derive(Debug)]
struct Journal {
    file: File,
    gen: u64,
    path: PathBuf,
    /// Bytes from the start known to be written (entries or zeros) and
    /// durable. Only the flush leader reads and moves it.
    prepared: AtomicU64,
}

impl Journal {
    fn path(dir: &Path, gen: u64) -> PathBuf {
        dir.join(format!("journal.{gen:016x}"))
    }

    fn create(dir: &Path, gen: u64) -> Result<Journal, StoreError> {
        let path = Self::path(dir, gen);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| ioe("creating a journal", e))?;
        sync_dir(dir)?;
        Ok(Journal {
            file,
            gen,
            path,
            prepared: AtomicU64::new(0),
        })
    }

    /// A journal file under [`SPARE_JOURNAL`] holding `len` bytes of
    /// zeros, durable with the size and the blocks that hold them, synced
    /// every `piece` bytes. Laid out by the checkpoint thread ahead of the
    /// checkpoint that adopts it ([`Journal::adopt`]): a generation in a
    /// new, empty file made its first flushes allocate blocks and commit
    /// the file system's journal (2-7 ms at 45,000 PAP req/s, and every
    /// Accept waiting for them), as did each `chunk` of zeros laid out
    /// later by a flush.
    fn spare(dir: &Path, len: u64, piece: u64) -> Result<Journal, StoreError> {
        let path = dir.join(SPARE_JOURNAL);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| ioe("creating a spare journal", e))?;
        let zeros = [0u8; 64 << 10];
        let piece = piece.max(zeros.len() as u64);
        let lay_out = || -> std::io::Result<()> {
            let mut at = 0;
            while at < len {
                let n = (len - at).min(zeros.len() as u64) as usize;
                file.write_all_at(&zeros[..n], at)?;
                at += n as u64;
                // In pieces: the request path's flushes share the disk's
                // queue with this writeback (as with `state_sync_writes`).
                if at.is_multiple_of(piece) || at == len {
                    file.sync_data()?;
                }
            }
            Ok(())
        };
        if let Err(e) = lay_out() {
            // A full disk keeps no half-written spare.
            let _ = std::fs::remove_file(&path);
            return Err(ioe("laying out a spare journal", e));
        }
        Ok(Journal {
            file,
            gen: 0,
            path,
            prepared: AtomicU64::new(len),
        })
    }

    /// Renames a spare to generation `gen`. Its zeros end a replay exactly
    /// like the end of a new file, so the name is all that changes.
    fn adopt(self, dir: &Path, gen: u64) -> Result<Journal, StoreError> {
        let path = Self::path(dir, gen);
        std::fs::rename(&self.path, &path).map_err(|e| ioe("adopting a spare journal", e))?;
        sync_dir(dir)?;
        Ok(Journal { gen, path, ..self })
    }

    /// Writes `entries` at `off` and makes them durable. When they reach
    /// into the last half of the zeroed part (or past it), first lays out
    /// `chunk` more zeros after them, made durable by the same `sync_data`
    /// (one slower flush per chunk). Zeros never cover an entry: they start
    /// past this write, and the one flush leader is the only writer.
    fn write_durable(&self, entries: &[u8], off: u64, chunk: u64) -> std::io::Result<()> {
        let end = off + entries.len() as u64;
        let prepared = self.prepared.load(Ordering::Relaxed);
        self.file.write_all_at(entries, off)?;
        let mut grown = None;
        if chunk > 0 && end + chunk / 2 > prepared {
            let from = prepared.max(end);
            // 64 KiB a call: in single pages (like the state file) the
            // zeroing flush took 1,024 calls and set the tail (p99 at
            // 45,000 req/s 21.4 against 14.9 ms).
            let zeros = [0u8; 64 << 10];
            let mut at = from;
            while at < from + chunk {
                let n = (from + chunk - at).min(zeros.len() as u64) as usize;
                self.file.write_all_at(&zeros[..n], at)?;
                at += n as u64;
            }
            grown = Some(at);
        }
        self.file.sync_data()?;
        if let Some(p) = grown {
            self.prepared.store(p, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The file name of a journal laid out ahead ([`Journal::spare`]); not a
/// generation, so never replayed (it holds only zeros) and deleted at open.
const SPARE_JOURNAL: &str = "journal-spare";

/// The request path's in-memory state.
#[derive(Debug)]
struct Hot {
    /// Latest image of every slot changed since the last freeze.
    overlay: HashMap<u64, Image>,
    /// The overlay being checkpointed.
    frozen: Option<Arc<HashMap<u64, Image>>>,
    /// Journal entries not handed to a flush yet (current generation).
    buf: Vec<u8>,
    journal: Arc<Journal>,
    /// Bytes of the current generation handed to flushes.
    written: u64,
    /// Older generations to delete at the next successful checkpoint.
    retired: Vec<PathBuf>,
    /// A checkpoint was asked for and has not started yet.
    requested: bool,
    /// Changes of the slots, counted per `slot % EPOCHS`: a slot whose
    /// count has not moved since it was read still holds what was read.
    epochs: Vec<u64>,
}

/// Counters of [`Hot::epochs`].
const EPOCHS: usize = 4096;

#[derive(Debug, Default)]
struct SyncState {
    /// Tickets handed out (one per `sync` call).
    issued: u64,
    /// Every ticket up to this one is durable.
    done: u64,
    /// A leader is flushing right now.
    flushing: bool,
    /// When the last flush started.
    last_start: Option<Instant>,
    stats: SyncStats,
}

#[derive(Debug, Default)]
struct Ctl {
    requested: bool,
    /// A checkpoint took the spare journal (or found none).
    spare_taken: bool,
    stop: bool,
}

struct Shared {
    dir: PathBuf,
    rpath: PathBuf,
    shown: String,
    key: StoreKey,
    records: File,
    /// `records` has writes not yet synced.
    records_dirty: AtomicBool,
    /// Held while syncing `records`: a caller that finds the flag clear
    /// must not return while another caller's sync is still running.
    records_sync: Mutex<()>,
    state: File,
    _lock: File,
    hasher: Hasher,
    tuning: Tuning,
    inner: RwLock<Inner>,
    stripes: Vec<Mutex<()>>,
    hot: Mutex<Hot>,
    sync: Mutex<SyncState>,
    synced: Condvar,
    ctl: Mutex<Ctl>,
    ctl_cv: Condvar,
    /// One checkpoint at a time.
    checkpointing: Mutex<()>,
    /// The next generation's file, laid out ahead by the checkpoint thread
    /// (taken and prepared only under `checkpointing`).
    spare: Mutex<Option<Journal>>,
    /// Bytes the last retired generation held: the size of the next spare.
    last_gen_bytes: AtomicU64,
    /// Serialises admin changes, so that `import` can check and seal
    /// without holding `inner` exclusively.
    admin: Mutex<()>,
    /// Where the request path last found each token (direct-mapped by the
    /// id's hash), so that the `commit_use` after a `user_with_tokens`
    /// needs no second read and decode of the record.
    recent: Vec<Mutex<Option<Recent>>>,
}

/// Entries of [`Shared::recent`].
const RECENT: usize = 1024;

/// A token as `user_with_tokens` found it: its record's offset, slot,
/// incarnation and the record's own hot values. Valid while the index
/// still points the id at that offset: records are append-only, so a
/// rewritten record (new slot assignment or incarnation) has a new offset.
/// While `gen` equals `Inner::gen`, no write lock was taken since the read,
/// so the index is not even looked at.
///
/// `seen` is the token's state as that read found it (slot image or
/// record) with the slot's epoch at the time: while the epoch has not
/// moved, `commit_use` compares against it without reading the slot again.
#[derive(Debug, Clone)]
struct Recent {
    id: String,
    off: u64,
    slot: u64,
    inc: u64,
    base: TokHot,
    seen: (u64, TokHot),
    /// `Inner::gen` when it was read.
    gen: u64,
}

/// The embedded file store.
pub struct FileStore {
    s: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// Tests: drop like a crash (no final checkpoint).
    crashed: bool,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.s.shown)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded values stay consistent even if a holder panicked.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn fresh_inc() -> u64 {
    rand::random()
}

/// A user's live record as found through the index.
#[derive(Debug, Clone)]
struct Found {
    off: u64,
    /// Frame length, for the garbage count.
    len: u64,
    /// Only the tokens whose index entry points at this record.
    rec: UserRec,
    /// Every token in the record: (id, slot).
    all: Vec<(String, u64)>,
}

impl UserRec {
    fn user_hot(&self) -> UserHot {
        UserHot {
            failures: self.failures,
            locked_until: self.locked_until,
            last_success: self.last_success,
        }
    }

    fn set_user_hot(&mut self, h: UserHot) {
        self.failures = h.failures;
        self.locked_until = h.locked_until;
        self.last_success = h.last_success;
    }
}

impl TokRec {
    fn hot(&self) -> TokHot {
        TokHot {
            last: self.last,
            drift: self.drift,
            last_used: self.last_used,
            state: self.state,
        }
    }

    fn set_hot(&mut self, h: TokHot) {
        self.last = h.last;
        self.drift = h.drift;
        self.last_used = h.last_used;
        self.state = h.state;
    }
}

impl Shared {
    /// A listing a page at a time: `take` turns each live user record into
    /// items until `page` of them are collected; then the lock is let go and
    /// `f` gets the page. The records file only grows while the store is
    /// open (compaction runs at open), so an offset stays valid from one
    /// page to the next, and each page reads up to the end of the moment: a
    /// user rewritten behind the scan is met again at its new place.
    fn pages<T>(
        &self,
        page: usize,
        f: &mut dyn FnMut(Vec<T>) -> Result<(), StoreError>,
        mut take: impl FnMut(&Inner, u64, &UserView<'_>, &mut Vec<T>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let page = page.max(1);
        let mut from = 0;
        loop {
            let mut out = Vec::with_capacity(page.min(4096));
            let next = {
                let inner = self.read_inner();
                let (end, next) =
                    scan_some(&self.records, from, inner.end, |off, kind, payload| {
                        if out.len() >= page {
                            return Ok(false);
                        }
                        if kind != K_PUT {
                            return Ok(true);
                        }
                        let v =
                            decode_put(payload).map_err(|why| corrupt_at(&self.rpath, off, why))?;
                        if inner.users.find(self.hasher.of(v.name), off).is_some() {
                            take(&inner, off, &v, &mut out)?;
                        }
                        Ok(true)
                    })?;
                if let ScanEnd::Bad(at, why) = scan_end_why(end) {
                    return Err(corrupt_at(&self.rpath, at, why));
                }
                next
            };
            if !out.is_empty() {
                f(out)?;
            }
            match next {
                Some(at) => from = at,
                None => return Ok(()),
            }
        }
    }

    fn read_inner(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_inner(&self) -> RwLockWriteGuard<'_, Inner> {
        let mut w = self.inner.write().unwrap_or_else(|p| p.into_inner());
        w.gen += 1;
        w
    }

    fn hot(&self) -> MutexGuard<'_, Hot> {
        lock(&self.hot)
    }

    /// Remembers token `t` of the record at `off`: `base` its record's own
    /// hot values, `t` as read with the slots, at `epoch`.
    fn remember(&self, gen: u64, off: u64, t: &TokRec, base: TokHot, epoch: u64) {
        let h = self.hasher.of(&t.id);
        *lock(&self.recent[(h % RECENT as u64) as usize]) = Some(Recent {
            id: t.id.clone(),
            off,
            slot: t.slot,
            inc: t.inc,
            base,
            seen: (epoch, t.hot()),
            gen,
        });
    }

    /// The remembered place of token `id` (hash `h`), if the index still
    /// points there.
    fn recall(&self, inner: &Inner, id: &str, h: u64) -> Option<Recent> {
        let r = lock(&self.recent[(h % RECENT as u64) as usize])
            .as_ref()
            .filter(|r| r.id == id)
            .cloned()?;
        if r.gen == inner.gen {
            return Some(r);
        }
        inner.tokens.find(h, r.off).map(|_| r)
    }

    fn stripe(&self, slot: u64) -> MutexGuard<'_, ()> {
        lock(&self.stripes[(slot % STRIPES as u64) as usize])
    }

    fn decode<'a>(&self, off: u64, buf: &'a [u8]) -> Result<UserView<'a>, StoreError> {
        if buf[FRAME_HEAD as usize] != K_PUT {
            return Err(corrupt_at(
                &self.rpath,
                off,
                "index points at a non-user record",
            ));
        }
        decode_put(&buf[FRAME_HEAD as usize + 1..]).map_err(|why| corrupt_at(&self.rpath, off, why))
    }

    fn found(&self, inner: &Inner, off: u64, buf: &[u8], v: &UserView<'_>) -> Found {
        Found {
            off,
            len: buf.len() as u64,
            rec: if inner.stale.contains(&off) {
                v.to_rec(|id| inner.tokens.find(self.hasher.of(id), off).is_some())
            } else {
                v.to_rec(|_| true)
            },
            all: v
                .tokens
                .iter()
                .map(|t| (t.id.to_string(), t.slot))
                .collect(),
        }
    }

    fn find_user(&self, inner: &Inner, name: &str) -> Result<Option<Found>, StoreError> {
        for (_, off) in inner.users.probe(self.hasher.of(name)) {
            let buf = read_record(&self.records, &self.rpath, off, inner.end)?;
            let v = self.decode(off, &buf)?;
            if v.name == name {
                return Ok(Some(self.found(inner, off, &buf, &v)));
            }
        }
        Ok(None)
    }

    /// The owner's record and the token's index in its (live) tokens.
    fn find_token(&self, inner: &Inner, id: &str) -> Result<Option<(Found, usize)>, StoreError> {
        for (_, off) in inner.tokens.probe(self.hasher.of(id)) {
            let buf = read_record(&self.records, &self.rpath, off, inner.end)?;
            let v = self.decode(off, &buf)?;
            if v.tokens.iter().any(|t| t.id == id) {
                let f = self.found(inner, off, &buf, &v);
                if let Some(i) = f.rec.tokens.iter().position(|t| t.id == id) {
                    return Ok(Some((f, i)));
                }
            }
        }
        Ok(None)
    }

    /// What the slots say for each `(slot, incarnation, kind)`.
    fn images(&self, wants: &[(u64, u64, u8)]) -> Result<Vec<Img>, StoreError> {
        self.images_at(wants, &mut Vec::new())
    }

    /// [`Shared::images`], and the epoch of each slot before it was read
    /// into `epochs`.
    fn images_at(
        &self,
        wants: &[(u64, u64, u8)],
        epochs: &mut Vec<u64>,
    ) -> Result<Vec<Img>, StoreError> {
        let mut attempt = 0;
        loop {
            let mut out: Vec<Option<Img>> = vec![None; wants.len()];
            {
                let h = self.hot();
                epochs.clear();
                epochs.extend(wants.iter().map(|w| h.epochs[w.0 as usize % EPOCHS]));
                for (o, &(slot, inc, kind)) in out.iter_mut().zip(wants) {
                    let img = h
                        .overlay
                        .get(&slot)
                        .or_else(|| h.frozen.as_ref().and_then(|f| f.get(&slot)));
                    if let Some(img) = img {
                        *o = Some(classify(img, inc, kind));
                    }
                }
            }
            let missing: Vec<usize> = (0..wants.len()).filter(|&i| out[i].is_none()).collect();
            let mut bad_from_disk = false;
            if !missing.is_empty() {
                let lo = missing.iter().map(|&i| wants[i].0).min().unwrap_or(0);
                let hi = missing.iter().map(|&i| wants[i].0).max().unwrap_or(0);
                let rerr = |e| ioe("reading state", e);
                if (hi - lo + 1) * SLOT as u64 <= SLOT_SPAN {
                    let mut span = vec![0u8; ((hi - lo + 1) as usize) * SLOT];
                    read_full_at(&self.state, &mut span, lo * SLOT as u64).map_err(rerr)?;
                    for &i in &missing {
                        let (slot, inc, kind) = wants[i];
                        let at = ((slot - lo) as usize) * SLOT;
                        out[i] = Some(classify(&span[at..at + SLOT], inc, kind));
                    }
                } else {
                    for &i in &missing {
                        let (slot, inc, kind) = wants[i];
                        let mut b = [0u8; SLOT];
                        read_full_at(&self.state, &mut b, slot * SLOT as u64).map_err(rerr)?;
                        out[i] = Some(classify(&b, inc, kind));
                    }
                }
                bad_from_disk = missing.iter().any(|&i| out[i] == Some(Img::Bad));
            }
            // A slot read while a checkpoint rewrote it may be torn: look
            // again before failing closed.
            if !bad_from_disk || attempt >= 2 {
                return Ok(out.into_iter().map(|o| o.unwrap_or(Img::Absent)).collect());
            }
            attempt += 1;
        }
    }

    /// Applies the current slot values to the user (if `user`) and to the
    /// tokens at `toks`.
    fn apply_hot(&self, rec: &mut UserRec, user: bool, toks: &[usize]) -> Result<(), StoreError> {
        self.apply_hot_at(rec, user, toks, &mut Vec::new())
    }

    /// [`Shared::apply_hot`], and the epochs of the slots read (user
    /// first) into `epochs`.
    fn apply_hot_at(
        &self,
        rec: &mut UserRec,
        user: bool,
        toks: &[usize],
        epochs: &mut Vec<u64>,
    ) -> Result<(), StoreError> {
        let mut wants = Vec::with_capacity(1 + toks.len());
        if user {
            wants.push((rec.slot, rec.inc, SLOT_USER));
        }
        for &i in toks {
            wants.push((rec.tokens[i].slot, rec.tokens[i].inc, SLOT_TOKEN));
        }
        let imgs = self.images_at(&wants, epochs)?;
        let bad = |what: String, slot: u64, repair: String| {
            StoreError::Corrupt(
                what,
                format!(
                    "its state slot {slot} fails its checksum; refusing to fall back \
                     to older replay state ({repair})"
                ),
            )
        };
        let mut it = imgs.into_iter();
        if user {
            match it.next() {
                Some(Img::Use(img)) => rec.set_user_hot(user_hot_of(&img)),
                Some(Img::Bad) => {
                    return Err(bad(
                        format!("user '{}'", rec.name),
                        rec.slot,
                        format!(
                            "to repair: radotp user delete {}, then add it again",
                            rec.name
                        ),
                    ))
                }
                _ => {}
            }
        }
        for (&i, img) in toks.iter().zip(it) {
            let t = &mut rec.tokens[i];
            match img {
                Img::Use(img) => {
                    let h = token_hot_of(&img)
                        .map_err(|why| StoreError::Corrupt(format!("token '{}'", t.id), why))?;
                    t.set_hot(h);
                }
                Img::Bad => {
                    return Err(bad(
                        format!("token '{}'", t.id),
                        t.slot,
                        format!(
                            "to repair: radotp token delete {}, then enroll a new one",
                            t.id
                        ),
                    ))
                }
                Img::Absent => {}
            }
        }
        Ok(())
    }

    fn apply_all(&self, rec: &mut UserRec) -> Result<(), StoreError> {
        let all: Vec<usize> = (0..rec.tokens.len()).collect();
        self.apply_hot(rec, true, &all)
    }

    /// Records a request-path change: overlay and journal buffer.
    fn put_image(&self, slot: u64, img: Image) {
        let mut h = self.hot();
        h.overlay.insert(slot, img);
        let e = &mut h.epochs[slot as usize % EPOCHS];
        *e = e.wrapping_add(1);
        journal_entry(&mut h.buf, slot, &img);
        let due = h.overlay.len() >= self.tuning.checkpoint_slots
            || h.written + h.buf.len() as u64 >= self.tuning.checkpoint_bytes;
        if due && !h.requested {
            h.requested = true;
            drop(h);
            lock(&self.ctl).requested = true;
            self.ctl_cv.notify_all();
        }
    }

    fn user_rec(&self, u: &User, slot: u64, tokens: Vec<TokRec>) -> UserRec {
        UserRec {
            name: u.name.clone(),
            slot,
            inc: 0,
            pin: u
                .pin
                .as_ref()
                .map(|p| self.key.seal(&aad(b"pin:", &u.name), p.expose())),
            enabled: u.enabled,
            challenge: u.challenge,
            failures: u.failures,
            locked_until: u.locked_until,
            created: u.created,
            last_success: u.last_success,
            tokens,
        }
    }

    fn tok_rec(&self, t: &Token, slot: u64) -> TokRec {
        TokRec {
            id: t.id.clone(),
            slot,
            inc: 0,
            kind: t.kind,
            algorithm: t.algorithm,
            digits: t.digits,
            period: t.period,
            seed: self.key.seal(&aad(b"seed:", &t.id), t.seed.expose()),
            last: t.last,
            drift: t.drift,
            state: t.state,
            description: t.description.clone(),
            created: t.created,
            last_used: t.last_used,
        }
    }

    fn open_user(&self, r: &UserRec) -> Result<User, StoreError> {
        let pin = match &r.pin {
            None => None,
            Some(sealed) => Some(Secret::new(
                self.key
                    .open(&aad(b"pin:", &r.name), sealed)
                    .ok_or_else(|| StoreError::Decrypt(format!("user '{}'", r.name)))?,
            )),
        };
        Ok(User {
            name: r.name.clone(),
            pin,
            enabled: r.enabled,
            challenge: r.challenge,
            failures: r.failures,
            locked_until: r.locked_until,
            created: r.created,
            last_success: r.last_success,
            // The legacy formats have no place for them (see `legacy_check`).
            groups: Vec::new(),
            replies: Vec::new(),
        })
    }

    fn open_token(&self, owner: &str, t: &TokRec) -> Result<Token, StoreError> {
        let seed = self
            .key
            .open(&aad(b"seed:", &t.id), &t.seed)
            .ok_or_else(|| StoreError::Decrypt(format!("token '{}'", t.id)))?;
        Ok(Token {
            id: t.id.clone(),
            owner: owner.to_string(),
            kind: t.kind,
            algorithm: t.algorithm,
            digits: t.digits,
            period: t.period,
            seed: Secret::new(seed),
            last: t.last,
            drift: t.drift,
            state: t.state,
            description: t.description.clone(),
            created: t.created,
            last_used: t.last_used,
        })
    }

    fn open_tokens(&self, r: &UserRec) -> Result<Vec<Token>, StoreError> {
        let mut out = r
            .tokens
            .iter()
            .map(|t| self.open_token(&r.name, t))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    fn append(&self, inner: &mut Inner, bytes: &[u8]) -> Result<u64, StoreError> {
        let off = inner.end;
        if off + bytes.len() as u64 > MAX_VALUE {
            return Err(StoreError::Io(format!(
                "{}: the records file would grow past 1 TiB, the most the index addresses",
                self.rpath.display()
            )));
        }
        self.records
            .write_all_at(bytes, off)
            .map_err(|e| ioe("appending to records", e))?;
        self.records_dirty.store(true, Ordering::Release);
        inner.end += bytes.len() as u64;
        Ok(off)
    }

    /// Writes `rec` (fresh incarnations) as the user's new record and
    /// updates the index. `prev` is the record it replaces; `moved_from` the
    /// record of another user that a token of `rec` moves away from.
    fn put_user(
        &self,
        inner: &mut Inner,
        mut rec: UserRec,
        prev: Option<&Found>,
        moved_from: Option<u64>,
    ) -> Result<(), StoreError> {
        rec.inc = fresh_inc();
        for t in &mut rec.tokens {
            t.inc = fresh_inc();
        }
        rec.tokens.sort_by(|a, b| a.id.cmp(&b.id));
        let mut bytes = Vec::new();
        encode_put(&mut bytes, &rec);
        let off = self.append(inner, &bytes)?;
        let hu = self.hasher.of(&rec.name);
        match prev.and_then(|p| inner.users.find(hu, p.off)) {
            Some(pos) => inner.users.set(pos, off),
            None => inner.users.insert(hu, off),
        }
        for t in &rec.tokens {
            let h = self.hasher.of(&t.id);
            let mut from = prev.and_then(|p| inner.tokens.find(h, p.off));
            if from.is_none() {
                if let Some(m) = moved_from {
                    from = inner.tokens.find(h, m);
                    if from.is_some() {
                        // The record at `m` lists the token until it is
                        // rewritten (next, unless that append fails).
                        inner.stale.insert(m);
                    }
                }
            }
            match from {
                Some(pos) => inner.tokens.set(pos, off),
                None => inner.tokens.insert(h, off),
            }
        }
        if let Some(p) = prev {
            inner.stale.remove(&p.off);
            for (id, slot) in &p.all {
                if rec.tokens.iter().any(|t| t.id == *id) {
                    continue;
                }
                // Gone from this user: deleted (entry still points at the old
                // record) or moved (entry already points elsewhere).
                if let Some(pos) = inner.tokens.find(self.hasher.of(id), p.off) {
                    inner.tokens.remove(pos);
                    inner.slots.release(*slot);
                }
            }
            inner.garbage += p.len;
        }
        Ok(())
    }

    // -- durability ---------------------------------------------------------

    /// One flush: `records`, then the journal entries buffered so far.
    fn flush(&self) -> Result<(), StoreError> {
        let (buf, journal, off) = {
            let mut h = self.hot();
            let buf = std::mem::take(&mut h.buf);
            let off = h.written;
            h.written += buf.len() as u64;
            (buf, h.journal.clone(), off)
        };
        // `records` first: a slot image on disk must never name an
        // incarnation that a crash could still take away.
        let res = self.sync_records().and_then(|()| {
            if buf.is_empty() {
                return Ok(());
            }
            journal
                .write_durable(&buf, off, self.tuning.journal_chunk)
                .map_err(|e| ioe("writing the journal", e))
        });
        if res.is_err() && !buf.is_empty() {
            // Give the entries back so the next flush writes them at the
            // same place (no hole that would end the journal at replay).
            let mut h = self.hot();
            if Arc::ptr_eq(&h.journal, &journal) {
                h.written = off;
                let rest = std::mem::take(&mut h.buf);
                h.buf = buf;
                h.buf.extend_from_slice(&rest);
            }
        }
        res
    }

    fn sync(&self) -> Result<(), StoreError> {
        let mut st = lock(&self.sync);
        st.issued += 1;
        st.stats.callers += 1;
        let ticket = st.issued;
        loop {
            if st.done >= ticket {
                return Ok(());
            }
            if !st.flushing {
                // Lead: every ticket handed out so far was taken before this
                // flush starts, so the flush makes all of them durable.
                st.flushing = true;
                // Under load flushes would run back to back, each for the
                // few Accepts that arrived during the last one. Starting
                // one no sooner than `flush_gap` after the previous start
                // lets more share it: at 40,000 PAP Accepts a second,
                // 20 -> 13-15 us of CPU per request and p90 4-5 -> 0.8-0.9
                // ms, for up to 0.3 ms more latency; the peak is unchanged
                // (flushes there are further apart than the gap). Callers
                // arriving meanwhile wait for this flush, which covers
                // them: the tickets are counted after the pause.
                let wait = st
                    .last_start
                    .map(|t| self.tuning.flush_gap.saturating_sub(t.elapsed()))
                    .unwrap_or_default();
                if !wait.is_zero() {
                    drop(st);
                    std::thread::sleep(wait);
                    st = lock(&self.sync);
                }
                st.last_start = Some(Instant::now());
                let covered = st.issued;
                drop(st);
                let result = self.flush();
                let mut st = lock(&self.sync);
                st.flushing = false;
                st.stats.flushes += 1;
                if result.is_ok() {
                    st.done = st.done.max(covered);
                }
                // On failure the waiters retry with a flush of their own.
                self.synced.notify_all();
                return result;
            }
            st = self.synced.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Freezes the overlay and the journal generation, writes the frozen
    /// images into `state`, syncs it and deletes the old generation(s).
    /// The request path waits only for the freeze.
    fn checkpoint(&self) -> Result<(), StoreError> {
        let _one = lock(&self.checkpointing);
        let gen = self.hot().journal.gen + 1;
        let spare = lock(&self.spare).take();
        if self.tuning.journal_chunk > 0 {
            lock(&self.ctl).spare_taken = true;
            self.ctl_cv.notify_all();
        }
        let journal = Arc::new(match spare {
            Some(j) => j.adopt(&self.dir, gen)?,
            None => Journal::create(&self.dir, gen)?,
        });
        let (frozen, old, retired) = {
            let mut h = self.hot();
            // The next overlay is reserved at once: grown on demand, each
            // doubling would rehash it under the lock every request takes.
            // Room for a sixth more than the trigger (the overlay grows
            // while a checkpoint still runs): 24,576 slots then reserve
            // 28,672, which is 32,768 buckets, not 65,536.
            let reserve = (self.tuning.checkpoint_slots.min(1 << 20) * 7).div_ceil(6);
            let next = HashMap::with_capacity(reserve);
            let frozen = Arc::new(std::mem::replace(&mut h.overlay, next));
            h.frozen = Some(frozen.clone());
            let old = std::mem::replace(&mut h.journal, journal);
            self.last_gen_bytes
                .store(h.written + h.buf.len() as u64, Ordering::Relaxed);
            h.written = 0;
            h.requested = false;
            (frozen, old, std::mem::take(&mut h.retired))
        };
        match self.write_frozen(&frozen) {
            Ok(()) => {
                let mut gone = retired;
                gone.push(old.path.clone());
                for p in &gone {
                    match std::fs::remove_file(p) {
                        Ok(()) => {}
                        Err(e) if e.kind() == ErrorKind::NotFound => {}
                        Err(e) => {
                            // Keep it listed: it must go before any newer
                            // generation is trusted alone.
                            let mut h = self.hot();
                            h.frozen = None;
                            h.retired.push(p.clone());
                            return Err(ioe("deleting an old journal", e));
                        }
                    }
                }
                // The deletion must be durable before a later checkpoint
                // writes newer images: a resurrected old journal would be
                // replayed over them.
                let res = sync_dir(&self.dir);
                self.hot().frozen = None;
                res
            }
            Err(e) => {
                // Nothing is lost: the images return to the overlay (newer
                // ones win) and the old journals stay for the next attempt.
                let mut h = self.hot();
                for (slot, img) in frozen.iter() {
                    h.overlay.entry(*slot).or_insert(*img);
                }
                h.frozen = None;
                h.retired.extend(retired);
                h.retired.push(old.path.clone());
                Err(e)
            }
        }
    }

    /// Lays out the next generation's file if none is ready: the last
    /// generation's size and a quarter more, in whole chunks, at least one
    /// chunk and at most `checkpoint_bytes` and one chunk.
    fn prepare_spare(&self) -> Result<(), StoreError> {
        let chunk = self.tuning.journal_chunk;
        if chunk == 0 {
            return Ok(());
        }
        let _one = lock(&self.checkpointing);
        if lock(&self.spare).is_some() {
            return Ok(());
        }
        let last = self.last_gen_bytes.load(Ordering::Relaxed);
        let len = (last + last / 4)
            .div_ceil(chunk)
            .saturating_mul(chunk)
            .clamp(chunk, self.tuning.checkpoint_bytes.saturating_add(chunk));
        let j = Journal::spare(&self.dir, len, chunk)?;
        *lock(&self.spare) = Some(j);
        Ok(())
    }

    /// Syncs `records` if an append happened since the last sync. An append
    /// that completes after the flag is cleared sets it again.
    fn sync_records(&self) -> Result<(), StoreError> {
        let _one = lock(&self.records_sync);
        if !self.records_dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        self.records.sync_data().map_err(|e| {
            self.records_dirty.store(true, Ordering::Release);
            ioe("syncing records", e)
        })
    }

    fn write_frozen(&self, frozen: &HashMap<u64, Image>) -> Result<(), StoreError> {
        self.sync_records()?;
        let mut slots: Vec<u64> = frozen.keys().copied().collect();
        slots.sort_unstable();
        let werr = |e| ioe("writing state", e);
        let mut run: Vec<u8> = Vec::with_capacity(STATE_PAGE as usize);
        let piece = self.tuning.state_sync_writes.max(1);
        for (i, (first, n)) in page_runs(&slots).enumerate() {
            run.clear();
            for s in first..first + n {
                run.extend_from_slice(&frozen[&s]);
            }
            self.state
                .write_all_at(&run, first * SLOT as u64)
                .map_err(werr)?;
            // A piece at a time: the journal's flushes share the disk's
            // queue with this writeback, and every Accept waits for its
            // flush (see `Tuning::state_sync_writes`).
            if (i as u64 + 1).is_multiple_of(piece) {
                self.state.sync_data().map_err(werr)?;
            }
        }
        self.state.sync_data().map_err(werr)
    }
}

/// Splits sorted, distinct slot numbers into runs of consecutive slots
/// `(first, count)`, none of which crosses a page of the state file.
///
/// A write of at most one page gets a single-page folio in the page cache;
/// a larger one may get a large folio, and every later 64-byte write into
/// it walks all of its buffer heads: 8.5 against 1 us per write, measured
/// on ext4 with 2 MiB folios.
fn page_runs(slots: &[u64]) -> impl Iterator<Item = (u64, u64)> + '_ {
    let per_page = STATE_PAGE / SLOT as u64;
    let mut i = 0;
    std::iter::from_fn(move || {
        let first = *slots.get(i)?;
        let mut n = 1;
        while slots
            .get(i + n as usize)
            .is_some_and(|&s| s == first + n && s % per_page != 0)
        {
            n += 1;
        }
        i += n as usize;
        Some((first, n))
    })
}

/// Journal generations present in `dir`, oldest first.
fn journals(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| ioe("listing the store directory", e))? {
        let e = e.map_err(|e| ioe("listing the store directory", e))?;
        let name = e.file_name();
        let Some(hex) = name.to_str().and_then(|n| n.strip_prefix("journal.")) else {
            continue;
        };
        if let Ok(gen) = u64::from_str_radix(hex, 16) {
            out.push((gen, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Replays one journal into `overlay`; a torn or invalid entry ends it (it
/// was never acknowledged).
fn replay(path: &Path, overlay: &mut HashMap<u64, Image>) -> Result<(), StoreError> {
    let bytes = std::fs::read(path).map_err(|e| ioe("reading a journal", e))?;
    for e in bytes.chunks(JOURNAL_ENTRY) {
        if e.len() < JOURNAL_ENTRY
            || crc32fast::hash(&e[..JOURNAL_ENTRY - 4]) != le32(&e[JOURNAL_ENTRY - 4..])
        {
            if e.iter().any(|&b| b != 0) {
                tracing::warn!(
                    path = %path.display(),
                    "journal ends in an incomplete entry (never acknowledged); ignoring it"
                );
            }
            break;
        }
        let mut img = [0u8; SLOT];
        img.copy_from_slice(&e[8..8 + SLOT]);
        overlay.insert(le64(e), img);
    }
    Ok(())
}

impl FileStore {
    /// Opens (creating if needed) the store directory `path`: scans
    /// `records` into the index, replays the journals, checkpoints.
    /// [`StoreError::InUse`] if another process holds it,
    /// [`StoreError::Key`] if `key` is not the store's key.
    pub fn open(path: &Path, key: StoreKey) -> Result<FileStore, StoreError> {
        Self::open_tuned(path, key, Tuning::default())
    }

    fn open_tuned(path: &Path, key: StoreKey, tuning: Tuning) -> Result<FileStore, StoreError> {
        let shown = path.display().to_string();
        let open_err = |why: String| StoreError::Open {
            path: shown.clone(),
            why,
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(|e| open_err(format!("cannot create the directory: {e}")))?;
        let lock_file =
            open_rw(&path.join("lock")).map_err(|e| open_err(format!("lock file: {e}")))?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(StoreError::InUse(shown)),
            Err(TryLockError::Error(e)) => return Err(open_err(format!("cannot lock: {e}"))),
        }
        let rpath = path.join("records");
        // Left over by a compaction interrupted before its rename, and a
        // spare journal never adopted (zeros only).
        let _ = std::fs::remove_file(path.join("records.new"));
        let _ = std::fs::remove_file(path.join(SPARE_JOURNAL));
        let mut records = open_rw(&rpath).map_err(|e| open_err(format!("records: {e}")))?;
        let state = open_rw(&path.join("state")).map_err(|e| open_err(format!("state: {e}")))?;
        // Slots are read one small span at a time, at random: readahead
        // would only fill the cache with large folios (see `write_frozen`).
        let _ = nix::fcntl::posix_fadvise(
            &state,
            0,
            0,
            nix::fcntl::PosixFadviseAdvice::POSIX_FADV_RANDOM,
        );
        sync_dir(path)?;
        let hasher = Hasher {
            rs: RandomState::new(),
            mask: tuning.hash_mask,
        };
        let mut inner = load(&records, &rpath, &key, &hasher, &shown)?;
        if inner.garbage * 2 > inner.end && inner.garbage > tuning.compact_min {
            let before = inner.end;
            records = compact(path, &records, &rpath, &inner, &hasher)?;
            inner = load(&records, &rpath, &key, &hasher, &shown)?;
            tracing::info!(path = %shown, before, after = inner.end, "compacted records");
        }

        let mut overlay = HashMap::new();
        let gens = journals(path)?;
        for (_, p) in &gens {
            replay(p, &mut overlay)?;
        }
        let next = gens.last().map_or(0, |g| g.0) + 1;
        let journal = Journal::create(path, next)?;
        let s = Arc::new(Shared {
            dir: path.to_path_buf(),
            rpath,
            shown: shown.clone(),
            key,
            records,
            records_dirty: AtomicBool::new(false),
            records_sync: Mutex::new(()),
            state,
            _lock: lock_file,
            hasher,
            tuning,
            inner: RwLock::new(inner),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hot: Mutex::new(Hot {
                overlay,
                frozen: None,
                buf: Vec::new(),
                journal: Arc::new(journal),
                written: 0,
                retired: gens.into_iter().map(|g| g.1).collect(),
                requested: false,
                epochs: vec![0; EPOCHS],
            }),
            sync: Mutex::new(SyncState::default()),
            synced: Condvar::new(),
            ctl: Mutex::new(Ctl::default()),
            ctl_cv: Condvar::new(),
            checkpointing: Mutex::new(()),
            spare: Mutex::new(None),
            last_gen_bytes: AtomicU64::new(0),
            admin: Mutex::new(()),
            recent: (0..RECENT).map(|_| Mutex::new(None)).collect(),
        });
        s.checkpoint()?;
        let bg = s.clone();
        let thread = std::thread::Builder::new()
            .name("radotp-checkpoint".into())
            .spawn(move || checkpointer(&bg))
            .map_err(|e| open_err(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(FileStore {
            s,
            thread: Some(thread),
            crashed: false,
        })
    }

    /// Group-commit counters: flushes done and `sync` callers served.
    pub fn sync_stats(&self) -> SyncStats {
        lock(&self.s.sync).stats
    }

    /// Bytes of the store's files on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        for e in std::fs::read_dir(&self.s.dir).map_err(|e| ioe("listing the store", e))? {
            let m = e
                .and_then(|e| e.metadata())
                .map_err(|e| ioe("listing the store", e))?;
            if m.is_file() {
                total += m.len();
            }
        }
        Ok(total)
    }

    /// Counts and sizes.
    pub fn stats(&self) -> FileStoreStats {
        let inner = self.s.read_inner();
        FileStoreStats {
            users: inner.users.len,
            tokens: inner.tokens.len,
            records_bytes: inner.end,
            garbage_bytes: inner.garbage,
            index_bytes: inner.users.bytes() + inner.tokens.bytes() + inner.slots.bytes(),
            overlay_slots: self.s.hot().overlay.len(),
        }
    }

    /// Writes the journaled slot images into `state` now (normally done in
    /// the background and at close).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.s.checkpoint()
    }
}

fn checkpointer(s: &Shared) {
    loop {
        if let Err(e) = s.prepare_spare() {
            // Not needed for correctness: the checkpoint then starts the
            // generation in a new file, as it would without spares.
            tracing::warn!(path = %s.shown, error = %e, "laying out a spare journal failed");
        }
        {
            let mut c = lock(&s.ctl);
            while !c.requested && !c.spare_taken && !c.stop {
                c = s.ctl_cv.wait(c).unwrap_or_else(|p| p.into_inner());
            }
            if c.stop {
                return;
            }
            c.spare_taken = false;
            if !std::mem::take(&mut c.requested) {
                continue;
            }
        }
        if let Err(e) = s.checkpoint() {
            tracing::warn!(path = %s.shown, error = %e, "store checkpoint failed; will retry");
            s.hot().requested = false;
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
}

impl Drop for FileStore {
    fn drop(&mut self) {
        lock(&self.s.ctl).stop = true;
        self.s.ctl_cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // A closed store keeps no zeros around; the final checkpoint starts
        // an empty generation instead. (A simulated crash leaves the spare,
        // as a real one would.)
        if lock(&self.s.spare).take().is_some() && !self.crashed {
            let _ = std::fs::remove_file(self.s.dir.join(SPARE_JOURNAL));
        }
        if !self.crashed {
            if let Err(e) = self.s.checkpoint() {
                tracing::warn!(
                    path = %self.s.shown,
                    error = %e,
                    "final store checkpoint failed; the journal is replayed at next open"
                );
            }
        }
    }
}

impl TokenStore for FileStore {
    fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        let inner = self.s.read_inner();
        let Some(mut f) = self.s.find_user(&inner, name)? else {
            return Ok(None);
        };
        self.s.apply_hot(&mut f.rec, true, &[])?;
        self.s.open_user(&f.rec).map(Some)
    }

    fn users(&self) -> Result<Vec<User>, StoreError> {
        // One page: the read lock is held throughout, a snapshot.
        let mut out = Vec::new();
        self.each_user_page(usize::MAX, &mut |p| {
            out.extend(p.into_iter().map(|(u, _)| u));
            Ok(())
        })?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn each_user_page(
        &self,
        page: usize,
        f: &mut dyn FnMut(Vec<(User, usize)>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let s = &*self.s;
        s.pages(page, f, |inner, off, v, out| {
            let live = v
                .tokens
                .iter()
                .filter(|t| inner.tokens.find(s.hasher.of(t.id), off).is_some())
                .count();
            let mut rec = v.to_rec(|_| false);
            s.apply_hot(&mut rec, true, &[])?;
            out.push((s.open_user(&rec)?, live));
            Ok(())
        })
    }

    fn each_token_page(
        &self,
        page: usize,
        f: &mut dyn FnMut(Vec<Token>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let s = &*self.s;
        // A page may run over `page` by the tokens of its last user.
        s.pages(page, f, |inner, off, v, out| {
            let mut rec = v.to_rec(|id| inner.tokens.find(s.hasher.of(id), off).is_some());
            let all: Vec<usize> = (0..rec.tokens.len()).collect();
            s.apply_hot(&mut rec, false, &all)?;
            for t in &rec.tokens {
                out.push(s.open_token(&rec.name, t)?);
            }
            Ok(())
        })
    }

    fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        user.legacy_check()?;
        let _admin = lock(&self.s.admin);
        let mut inner = self.s.write_inner();
        if self.s.find_user(&inner, &user.name)?.is_some() {
            return Err(StoreError::UserExists(user.name.clone()));
        }
        let slot = inner.slots.alloc();
        let rec = self.s.user_rec(user, slot, Vec::new());
        self.s.put_user(&mut inner, rec, None, None)
    }

    fn update_user(&self, user: &User) -> Result<(), StoreError> {
        user.legacy_check()?;
        let _admin = lock(&self.s.admin);
        let mut inner = self.s.write_inner();
        let Some(f) = self.s.find_user(&inner, &user.name)? else {
            return Err(StoreError::NoSuchUser(user.name.clone()));
        };
        let mut rec = f.rec.clone();
        let all: Vec<usize> = (0..rec.tokens.len()).collect();
        self.s.apply_hot(&mut rec, false, &all)?;
        let tokens = std::mem::take(&mut rec.tokens);
        let new = self.s.user_rec(user, rec.slot, tokens);
        self.s.put_user(&mut inner, new, Some(&f), None)
    }

    fn delete_user(&self, name: &str) -> Result<(), StoreError> {
        let s = &*self.s;
        let _admin = lock(&self.s.admin);
        let mut inner = s.write_inner();
        let Some(f) = s.find_user(&inner, name)? else {
            return Err(StoreError::NoSuchUser(name.to_string()));
        };
        let mut bytes = Vec::new();
        encode_del(&mut bytes, name);
        s.append(&mut inner, &bytes)?;
        if let Some(pos) = inner.users.find(s.hasher.of(name), f.off) {
            inner.users.remove(pos);
        }
        inner.stale.remove(&f.off);
        inner.slots.release(f.rec.slot);
        for (id, slot) in &f.all {
            if let Some(pos) = inner.tokens.find(s.hasher.of(id), f.off) {
                inner.tokens.remove(pos);
                inner.slots.release(*slot);
            }
        }
        inner.garbage += f.len + bytes.len() as u64;
        Ok(())
    }

    fn token(&self, id: &str) -> Result<Option<Token>, StoreError> {
        let inner = self.s.read_inner();
        let Some((mut f, i)) = self.s.find_token(&inner, id)? else {
            return Ok(None);
        };
        self.s.apply_hot(&mut f.rec, false, &[i])?;
        self.s.open_token(&f.rec.name, &f.rec.tokens[i]).map(Some)
    }

    fn tokens(&self) -> Result<Vec<Token>, StoreError> {
        let mut out = Vec::new();
        self.each_token_page(usize::MAX, &mut |mut p| {
            out.append(&mut p);
            Ok(())
        })?;
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    fn tokens_of(&self, owner: &str) -> Result<Vec<Token>, StoreError> {
        let inner = self.s.read_inner();
        let Some(mut f) = self.s.find_user(&inner, owner)? else {
            return Ok(Vec::new());
        };
        let all: Vec<usize> = (0..f.rec.tokens.len()).collect();
        self.s.apply_hot(&mut f.rec, false, &all)?;
        self.s.open_tokens(&f.rec)
    }

    fn user_with_tokens(&self, name: &str) -> Result<Option<(User, Vec<Token>)>, StoreError> {
        let inner = self.s.read_inner();
        let Some(mut f) = self.s.find_user(&inner, name)? else {
            return Ok(None);
        };
        let bases: Vec<TokHot> = f.rec.tokens.iter().map(|t| t.hot()).collect();
        let all: Vec<usize> = (0..f.rec.tokens.len()).collect();
        let mut epochs = Vec::with_capacity(1 + all.len());
        self.s.apply_hot_at(&mut f.rec, true, &all, &mut epochs)?;
        for ((t, base), &epoch) in f.rec.tokens.iter().zip(bases).zip(&epochs[1..]) {
            self.s.remember(inner.gen, f.off, t, base, epoch);
        }
        Ok(Some((
            self.s.open_user(&f.rec)?,
            self.s.open_tokens(&f.rec)?,
        )))
    }

    fn insert_token(&self, token: &Token) -> Result<(), StoreError> {
        let s = &*self.s;
        let _admin = lock(&self.s.admin);
        let mut inner = s.write_inner();
        let Some(f) = s.find_user(&inner, &token.owner)? else {
            return Err(StoreError::NoSuchUser(token.owner.clone()));
        };
        if s.find_token(&inner, &token.id)?.is_some() {
            return Err(StoreError::TokenExists(token.id.clone()));
        }
        let mut rec = f.rec.clone();
        s.apply_all(&mut rec)?;
        let slot = inner.slots.alloc();
        rec.tokens.push(s.tok_rec(token, slot));
        s.put_user(&mut inner, rec, Some(&f), None)
    }

    fn update_token(&self, token: &Token) -> Result<(), StoreError> {
        let s = &*self.s;
        let _admin = lock(&self.s.admin);
        let mut inner = s.write_inner();
        let Some((tf, i)) = s.find_token(&inner, &token.id)? else {
            return Err(StoreError::NoSuchToken(token.id.clone()));
        };
        let slot = tf.rec.tokens[i].slot;
        if tf.rec.name == token.owner {
            let mut rec = tf.rec.clone();
            s.apply_all(&mut rec)?;
            rec.tokens[i] = s.tok_rec(token, slot);
            return s.put_user(&mut inner, rec, Some(&tf), None);
        }
        let Some(nf) = s.find_user(&inner, &token.owner)? else {
            return Err(StoreError::NoSuchUser(token.owner.clone()));
        };
        let mut new_owner = nf.rec.clone();
        s.apply_all(&mut new_owner)?;
        let mut old_owner = tf.rec.clone();
        s.apply_all(&mut old_owner)?;
        old_owner.tokens.remove(i);
        new_owner.tokens.push(s.tok_rec(token, slot));
        // The new owner first: a crash between the two appends leaves the
        // token with its new owner (the old record's copy is not live).
        s.put_user(&mut inner, new_owner, Some(&nf), Some(tf.off))?;
        s.put_user(&mut inner, old_owner, Some(&tf), None)
    }

    fn delete_token(&self, id: &str) -> Result<(), StoreError> {
        let s = &*self.s;
        let _admin = lock(&self.s.admin);
        let mut inner = s.write_inner();
        let Some((f, i)) = s.find_token(&inner, id)? else {
            return Err(StoreError::NoSuchToken(id.to_string()));
        };
        let mut rec = f.rec.clone();
        rec.tokens.remove(i);
        // Only what stays is read: the deleted token's slot is not, so a
        // token whose state slot is damaged can still be deleted (and a new
        // one enrolled), which is how an administrator repairs it.
        s.apply_all(&mut rec)?;
        s.put_user(&mut inner, rec, Some(&f), None)
    }

    fn commit_use(
        &self,
        id: &str,
        expected_last: Option<u64>,
        new_last: u64,
        drift: i64,
        now: u64,
        activate: bool,
    ) -> Result<bool, StoreError> {
        let s = &*self.s;
        let inner = s.read_inner();
        let (slot, inc, _stripe, cur) = match s.recall(&inner, id, s.hasher.of(id)) {
            // The request path: user_with_tokens just read this record.
            Some(r) => {
                let stripe = s.stripe(r.slot);
                // Unchanged since user_with_tokens read it (every change
                // of a slot moves its epoch, under the same lock): no
                // second read.
                let unchanged = s.hot().epochs[r.slot as usize % EPOCHS] == r.seen.0;
                let cur = match unchanged {
                    true => None,
                    false => s.images(&[(r.slot, r.inc, SLOT_TOKEN)])?.pop(),
                };
                let cur = match cur {
                    None => r.seen.1,
                    Some(Img::Use(img)) => token_hot_of(&img)
                        .map_err(|why| StoreError::Corrupt(format!("token '{id}'"), why))?,
                    Some(Img::Bad) => {
                        return Err(StoreError::Corrupt(
                            format!("token '{id}'"),
                            format!(
                                "its state slot {} fails its checksum; refusing to fall back \
                                 to older replay state (to repair: radotp token delete {id}, \
                                 then enroll a new one)",
                                r.slot
                            ),
                        ))
                    }
                    _ => r.base,
                };
                (r.slot, r.inc, stripe, cur)
            }
            None => {
                let Some((mut f, i)) = s.find_token(&inner, id)? else {
                    return Err(StoreError::NoSuchToken(id.to_string()));
                };
                let (slot, inc) = (f.rec.tokens[i].slot, f.rec.tokens[i].inc);
                let stripe = s.stripe(slot);
                s.apply_hot(&mut f.rec, false, &[i])?;
                (slot, inc, stripe, f.rec.tokens[i].hot())
            }
        };
        if cur.last != expected_last {
            return Ok(false);
        }
        let state = if activate && cur.state == TokenState::Pending {
            TokenState::Active
        } else {
            cur.state
        };
        let new = TokHot {
            last: Some(new_last),
            drift,
            last_used: Some(now),
            state,
        };
        s.put_image(slot, token_image(inc, &new));
        Ok(true)
    }

    fn record_failure(
        &self,
        name: &str,
        now: u64,
        rule: LockRule,
    ) -> Result<Option<User>, StoreError> {
        let s = &*self.s;
        let inner = s.read_inner();
        let Some(mut f) = s.find_user(&inner, name)? else {
            return Ok(None);
        };
        let _stripe = s.stripe(f.rec.slot);
        s.apply_hot(&mut f.rec, true, &[])?;
        let r = &mut f.rec;
        count_failure(&mut r.failures, &mut r.locked_until, now, rule);
        s.put_image(r.slot, user_image(r.inc, &r.user_hot()));
        s.open_user(r).map(Some)
    }

    fn record_success(&self, name: &str, now: u64) -> Result<(), StoreError> {
        let s = &*self.s;
        let inner = s.read_inner();
        let Some(mut f) = s.find_user(&inner, name)? else {
            return Err(StoreError::NoSuchUser(name.to_string()));
        };
        let _stripe = s.stripe(f.rec.slot);
        // The other hot fields are all overwritten; the read still checks
        // the slot so that a damaged one is reported, not papered over.
        s.apply_hot(&mut f.rec, true, &[])?;
        let h = UserHot {
            failures: 0,
            locked_until: None,
            last_success: Some(now),
        };
        s.put_image(f.rec.slot, user_image(f.rec.inc, &h));
        Ok(())
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.s.sync()
    }

    fn flushes(&self) -> Option<u64> {
        Some(self.sync_stats().flushes)
    }

    fn counts(&self) -> Result<(usize, usize), StoreError> {
        let inner = self.s.read_inner();
        Ok((inner.users.len, inner.tokens.len))
    }

    fn import(&self, users: &[User], tokens: &[Token]) -> Result<(), StoreError> {
        for u in users {
            u.legacy_check()?;
        }
        let s = &*self.s;
        // No other admin change runs meanwhile; the request path only waits
        // while a batch is appended and indexed.
        let _admin = lock(&s.admin);
        let mut stored_owner: HashMap<&str, bool> = HashMap::new();
        let mut fresh: Vec<&User> = Vec::new();
        {
            let inner = s.read_inner();
            // Check everything first.
            let named: HashSet<&str> = users.iter().map(|u| u.name.as_str()).collect();
            let mut seen: HashSet<&str> = HashSet::with_capacity(tokens.len());
            for t in tokens {
                if !seen.insert(t.id.as_str()) || s.find_token(&inner, &t.id)?.is_some() {
                    return Err(StoreError::TokenExists(t.id.clone()));
                }
                if !named.contains(t.owner.as_str()) {
                    let known = match stored_owner.get(t.owner.as_str()) {
                        Some(&k) => k,
                        None => {
                            let k = s.find_user(&inner, &t.owner)?.is_some();
                            stored_owner.insert(t.owner.as_str(), k);
                            k
                        }
                    };
                    if !known {
                        return Err(StoreError::NoSuchUser(t.owner.clone()));
                    }
                }
            }
            drop((named, seen));
            // Users not stored yet; the first of repeated names wins. Named
            // users already stored keep their record but may get tokens.
            let mut taken: HashSet<&str> = HashSet::with_capacity(users.len());
            for u in users {
                if taken.insert(u.name.as_str()) {
                    if s.find_user(&inner, &u.name)?.is_some() {
                        stored_owner.insert(u.name.as_str(), true);
                    } else {
                        fresh.push(u);
                    }
                }
            }
        }
        // Tokens grouped by owner, by id within an owner.
        let mut order: Vec<u32> = (0..tokens.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| {
            let (a, b) = (&tokens[a as usize], &tokens[b as usize]);
            (a.owner.as_str(), a.id.as_str()).cmp(&(b.owner.as_str(), b.id.as_str()))
        });
        let tokens_of = |owner: &str| -> &[u32] {
            let lo = order.partition_point(|&i| tokens[i as usize].owner.as_str() < owner);
            let hi = order.partition_point(|&i| tokens[i as usize].owner.as_str() <= owner);
            &order[lo..hi]
        };

        // New users with their tokens: sealed in parallel without any
        // lock, then appended in one large write per batch; each user's
        // slots are consecutive (one read for the whole user).
        for chunk in fresh.chunks(IMPORT_CHUNK) {
            let mut recs = par_map(chunk, |u| {
                let toks = tokens_of(&u.name)
                    .iter()
                    .map(|&i| {
                        let mut t = s.tok_rec(&tokens[i as usize], 0);
                        t.inc = fresh_inc();
                        t
                    })
                    .collect();
                let mut rec = s.user_rec(u, 0, toks);
                rec.inc = fresh_inc();
                rec
            })?;
            let mut inner = s.write_inner();
            let mut buf = Vec::with_capacity(recs.len() * 256);
            let mut starts = Vec::with_capacity(recs.len());
            for rec in &mut recs {
                rec.slot = inner.slots.alloc_run(1 + rec.tokens.len() as u64);
                for (t, slot) in rec.tokens.iter_mut().zip(rec.slot + 1..) {
                    t.slot = slot;
                }
                starts.push(buf.len() as u64);
                encode_put(&mut buf, rec);
            }
            let base = s.append(&mut inner, &buf)?;
            for (rec, start) in recs.iter().zip(starts) {
                inner.users.insert(s.hasher.of(&rec.name), base + start);
                for t in &rec.tokens {
                    inner.tokens.insert(s.hasher.of(&t.id), base + start);
                }
            }
        }

        // Stored users that get tokens: their records are rewritten.
        let mut owners: Vec<&str> = stored_owner
            .iter()
            .filter(|(_, &known)| known)
            .map(|(&o, _)| o)
            .collect();
        owners.sort_unstable();
        for owner in owners {
            let ts = tokens_of(owner);
            if ts.is_empty() {
                continue;
            }
            let mut inner = s.write_inner();
            let Some(f) = s.find_user(&inner, owner)? else {
                return Err(StoreError::NoSuchUser(owner.to_string()));
            };
            let mut rec = f.rec.clone();
            s.apply_all(&mut rec)?;
            for &i in ts {
                let slot = inner.slots.alloc();
                rec.tokens.push(s.tok_rec(&tokens[i as usize], slot));
            }
            s.put_user(&mut inner, rec, Some(&f), None)?;
        }
        Ok(())
    }
}

/// A scan of a store already checked at open should end cleanly.
fn scan_end_why(end: ScanEnd) -> ScanEnd {
    match end {
        ScanEnd::Torn(at) => ScanEnd::Bad(at, "incomplete record".into()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::token;
    use std::sync::atomic::{AtomicU32, Ordering};

    const KEY: [u8; 32] = [0x5a; 32];

    fn open(dir: &Path) -> FileStore {
        FileStore::open(dir, StoreKey::from_bytes(KEY)).unwrap()
    }

    fn open_with(dir: &Path, tuning: Tuning) -> FileStore {
        FileStore::open_tuned(dir, StoreKey::from_bytes(KEY), tuning).unwrap()
    }

    impl FileStore {
        /// Drops without the final checkpoint, like a crash after the last
        /// `sync` (unsynced journal entries are lost; `records` writes that
        /// reached the page cache stay, as they may after a real crash).
        fn crash(mut self) {
            self.crashed = true;
        }

        fn slot_of_token(&self, id: &str) -> (u64, u64) {
            let inner = self.s.read_inner();
            let (f, i) = self.s.find_token(&inner, id).unwrap().unwrap();
            (f.rec.tokens[i].slot, f.rec.tokens[i].inc)
        }

        fn incarnations(&self, name: &str) -> Vec<(u64, u64)> {
            let inner = self.s.read_inner();
            let f = self.s.find_user(&inner, name).unwrap().unwrap();
            let mut v = vec![(f.rec.slot, f.rec.inc)];
            v.extend(f.rec.tokens.iter().map(|t| (t.slot, t.inc)));
            v
        }
    }

    fn files_of(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        v.sort();
        v
    }

    fn journal_file(dir: &Path) -> PathBuf {
        let js: Vec<PathBuf> = files_of(dir)
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("journal.")
            })
            .collect();
        assert_eq!(js.len(), 1, "{js:?}");
        js[0].clone()
    }

    /// A copy of the store directory (without the lock) with `file`
    /// truncated to `len`.
    fn copy_truncated(from: &Path, to: &Path, file: &Path, len: u64) {
        std::fs::create_dir_all(to).unwrap();
        for p in files_of(from) {
            let name = p.file_name().unwrap();
            if name == "lock" {
                continue;
            }
            let dst = to.join(name);
            std::fs::copy(&p, &dst).unwrap();
            if p == file {
                OpenOptions::new()
                    .write(true)
                    .open(&dst)
                    .unwrap()
                    .set_len(len)
                    .unwrap();
            }
        }
    }

    #[test]
    fn file_store_passes_the_shared_suite() {
        let root = tempfile::tempdir().unwrap();
        let n = AtomicU32::new(0);
        crate::store::conformance::suite_without_api_keys(&|| {
            let i = n.fetch_add(1, Ordering::Relaxed);
            Box::new(open(&root.path().join(format!("db{i}"))))
        });
    }

    #[test]
    fn file_store_passes_the_shared_suite_when_every_hash_collides() {
        let root = tempfile::tempdir().unwrap();
        let n = AtomicU32::new(0);
        let tuning = Tuning {
            hash_mask: 0,
            ..Tuning::default()
        };
        crate::store::conformance::suite_without_api_keys(&|| {
            let i = n.fetch_add(1, Ordering::Relaxed);
            Box::new(open_with(&root.path().join(format!("db{i}")), tuning))
        });
    }

    #[test]
    fn file_store_passes_the_shared_suite_with_constant_checkpoints() {
        let root = tempfile::tempdir().unwrap();
        let n = AtomicU32::new(0);
        let tuning = Tuning {
            checkpoint_slots: 2,
            ..Tuning::default()
        };
        crate::store::conformance::suite_without_api_keys(&|| {
            let i = n.fetch_add(1, Ordering::Relaxed);
            Box::new(open_with(&root.path().join(format!("db{i}")), tuning))
        });
    }

    // Back-to-back flushes are spaced by the gap: the second sync waits
    // for it, the first (no flush before it) does not; both make their
    // commit durable (it survives a crash-like drop and reopen).
    #[test]
    fn flushes_start_no_sooner_than_the_gap() {
        let dir = tempfile::tempdir().unwrap();
        let gap = Duration::from_millis(60);
        let tuning = Tuning {
            flush_gap: gap,
            ..Tuning::default()
        };
        {
            let s = open_with(dir.path(), tuning);
            s.insert_user(&User::new("u", 1)).unwrap();
            s.insert_token(&token("t", "u", b"seed")).unwrap();
            let first = Instant::now();
            assert!(s.commit_use("t", None, 1, 0, 5, true).unwrap());
            s.sync().unwrap();
            assert!(s.commit_use("t", Some(1), 2, 0, 6, true).unwrap());
            s.sync().unwrap();
            assert!(first.elapsed() >= gap, "{:?}", first.elapsed());
            s.crash();
        }
        let s = open_with(dir.path(), tuning);
        assert_eq!(s.token("t").unwrap().unwrap().last, Some(2));
    }

    #[test]
    fn collisions_survive_reopen_and_token_moves() {
        let dir = tempfile::tempdir().unwrap();
        let tuning = Tuning {
            hash_mask: 0,
            ..Tuning::default()
        };
        {
            let s = open_with(dir.path(), tuning);
            for u in ["a", "b", "c"] {
                s.insert_user(&User::new(u, 1)).unwrap();
            }
            for (id, o) in [("t1", "a"), ("t2", "b"), ("t3", "c")] {
                s.insert_token(&token(id, o, id.as_bytes())).unwrap();
            }
            let mut t = s.token("t1").unwrap().unwrap();
            t.owner = "b".into();
            s.update_token(&t).unwrap();
            s.delete_user("c").unwrap();
            s.sync().unwrap();
        }
        let s = open_with(dir.path(), tuning);
        assert_eq!(s.counts().unwrap(), (2, 2));
        let ids: Vec<String> = s
            .tokens_of("b")
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(ids, ["t1", "t2"]);
        assert!(s.tokens_of("a").unwrap().is_empty());
        assert!(s.token("t3").unwrap().is_none());
        assert_eq!(s.token("t1").unwrap().unwrap().seed.expose(), b"t1");
    }

    // A crash between the two appends of a token move leaves the old
    // owner's record live and still listing the token: every read of that
    // owner leaves the token out, before and after the owner is rewritten,
    // while owners without such a record are read without the check.
    #[test]
    fn token_moved_before_a_crash_is_read_only_under_its_new_owner() {
        let dir = tempfile::tempdir().unwrap();
        let ids = |v: Vec<Token>| v.into_iter().map(|t| t.id).collect::<Vec<_>>();
        let with = |s: &FileStore, u: &str| ids(s.user_with_tokens(u).unwrap().unwrap().1);
        let cut = {
            let s = open(dir.path());
            for u in ["a", "b", "c"] {
                s.insert_user(&User::new(u, 1)).unwrap();
            }
            for (id, o) in [("t1", "a"), ("t2", "a"), ("t3", "b"), ("t4", "c")] {
                s.insert_token(&token(id, o, id.as_bytes())).unwrap();
            }
            s.sync().unwrap();
            let before = std::fs::metadata(dir.path().join("records")).unwrap().len();
            let mut t = s.token("t1").unwrap().unwrap();
            t.owner = "b".into();
            s.update_token(&t).unwrap();
            s.sync().unwrap();
            assert!(s.s.read_inner().stale.is_empty());
            let bytes = std::fs::read(dir.path().join("records")).unwrap();
            // Keep the new owner's record, drop the old owner's rewrite.
            before + FRAME_HEAD + u64::from(le32(&bytes[before as usize..]))
        };
        let f = OpenOptions::new()
            .write(true)
            .open(dir.path().join("records"))
            .unwrap();
        f.set_len(cut).unwrap();
        drop(f);
        {
            let s = open(dir.path());
            assert_eq!(s.s.read_inner().stale.len(), 1);
            assert_eq!(with(&s, "a"), ["t2"]);
            assert_eq!(ids(s.tokens_of("a").unwrap()), ["t2"]);
            assert_eq!(with(&s, "b"), ["t1", "t3"]);
            assert_eq!(with(&s, "c"), ["t4"]);
            assert_eq!(s.token("t1").unwrap().unwrap().owner, "b");
            assert!(s.commit_use("t1", None, 5, 0, 7, true).unwrap());
            // Rewriting the old owner drops the stale copy for good.
            s.insert_token(&token("t5", "a", b"t5")).unwrap();
            assert!(s.s.read_inner().stale.is_empty());
            assert_eq!(with(&s, "a"), ["t2", "t5"]);
            s.sync().unwrap();
        }
        let s = open(dir.path());
        assert!(s.s.read_inner().stale.is_empty());
        assert_eq!(with(&s, "a"), ["t2", "t5"]);
        assert_eq!(with(&s, "b"), ["t1", "t3"]);
        assert_eq!(s.token("t1").unwrap().unwrap().last, Some(5));
    }

    fn table_model<C: Cell>() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut t = Table::<C>::with_capacity(0);
        let mut model: HashMap<u64, u64> = HashMap::new();
        for step in 0..20_000u64 {
            // Few distinct hashes: long shared probe chains.
            let h = rng.gen_range(0..64u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let v = step + 1;
            if rng.gen_bool(0.6) {
                t.insert(h, v);
                model.insert(v, h);
            } else if let Some((&mv, &mh)) = model.iter().next() {
                let pos = t.find(mh, mv).expect("present");
                t.remove(pos);
                model.remove(&mv);
            }
            if step % 997 == 0 {
                t.shrink_to_fit();
            }
        }
        assert_eq!(t.len, model.len());
        for (&v, &h) in &model {
            assert!(t.find(h, v).is_some());
        }
        // Random hashes, values up to the largest.
        let mut t = Table::<C>::with_capacity(0);
        let mut pairs: Vec<(u64, u64)> = Vec::new();
        for step in 0..30_000u64 {
            if pairs.is_empty() || rng.gen_bool(0.7) {
                let (h, v) = (rng.gen::<u64>(), rng.gen_range(1..=MAX_VALUE));
                t.insert(h, v);
                pairs.push((h, v));
            } else {
                let (h, v) = pairs.swap_remove(rng.gen_range(0..pairs.len()));
                t.remove(t.find(h, v).expect("present"));
            }
            if step % 4999 == 0 {
                t.shrink_to_fit();
            }
        }
        assert_eq!(t.len, pairs.len());
        for &(h, v) in &pairs {
            assert!(t.find(h, v).is_some(), "{h:x} {v}");
        }
        assert_eq!(t.bytes(), t.cells.capacity() * std::mem::size_of::<C>());
    }

    #[test]
    fn table_matches_a_hashmap_model() {
        table_model::<Exact>();
        table_model::<Packed>();
    }

    // A packed cell holds the hash's top 24 bits over a 40-bit value: the
    // largest value and an all-ones tag do not bleed into each other, `set`
    // keeps the tag, and hashes that differ only below the tag find each
    // other's cells (the caller tells them apart by the record).
    #[test]
    fn packed_cells_keep_tag_and_value_apart() {
        let mut t = Table::<Packed>::with_capacity(4);
        let ones = u64::MAX;
        t.insert(ones, MAX_VALUE);
        t.insert(ones, 1);
        t.insert(0, MAX_VALUE);
        let mut got: Vec<u64> = t.probe(ones).map(|(_, v)| v).collect();
        got.sort_unstable();
        assert_eq!(got, vec![1, MAX_VALUE]);
        assert_eq!(
            t.probe(0).map(|(_, v)| v).collect::<Vec<_>>(),
            vec![MAX_VALUE]
        );
        let pos = t.find(ones, 1).unwrap();
        t.set(pos, 77);
        assert!(t.find(ones, 77).is_some() && t.find(ones, 1).is_none());
        // Same tag, other low bits: the same cells.
        assert!(t.find(ones >> VALUE_BITS << VALUE_BITS, 77).is_some());
        assert!(t.find(ones ^ (1 << 63), 77).is_none());
    }

    #[test]
    fn reopen_keeps_users_tokens_and_replay_state() {
        let dir = tempfile::tempdir().unwrap();
        let mut u = User::new("alice", 5);
        u.pin = Some(Secret::from("2468"));
        let t = token("t-1", "alice", b"12345678901234567890");
        {
            let s = open(dir.path());
            s.insert_user(&u).unwrap();
            s.insert_token(&t).unwrap();
            assert!(s.commit_use("t-1", None, 42, 1, 99, true).unwrap());
            s.record_failure("alice", 7, LockRule::NEVER).unwrap();
            s.sync().unwrap();
        }
        let s = open(dir.path());
        assert_eq!(s.counts().unwrap(), (1, 1));
        let got = s.user("alice").unwrap().unwrap();
        assert_eq!(got.pin, u.pin);
        assert_eq!(got.failures, 1);
        let got = s.token("t-1").unwrap().unwrap();
        assert_eq!(got.seed.expose(), b"12345678901234567890");
        assert_eq!(
            (got.last, got.drift, got.state, got.last_used),
            (Some(42), 1, TokenState::Active, Some(99))
        );
        let (_, toks) = s.user_with_tokens("alice").unwrap().unwrap();
        assert_eq!(toks, vec![got]);
    }

    #[test]
    fn index_size_estimate_samples_the_whole_file() {
        // 20,000 small records, then 20,000 about twice as large (PIN, long
        // name, two tokens): the first megabyte alone says 30 % too many.
        let dir = tempfile::tempdir().unwrap();
        let n = 20_000;
        let mut users = Vec::new();
        let mut tokens = Vec::new();
        for i in 0..2 * n {
            let big = i >= n;
            let name = if big {
                format!("a-much-longer-user-name-{i:07}")
            } else {
                format!("u{i:07}")
            };
            let mut u = User::new(&name, 1);
            if big {
                u.pin = Some(Secret::from("123456"));
            }
            users.push(u);
            for k in 0..1 + usize::from(big) {
                let mut t = token(&format!("t{i:07}-{k}"), &name, &[7; 20]);
                t.description = String::new();
                tokens.push(t);
            }
        }
        let s = open(dir.path());
        s.import(&users, &tokens).unwrap();
        s.sync().unwrap();
        let end = s.s.read_inner().end;
        let guess = estimate_records(&s.s.records, end).unwrap() as f64;
        let real = (2 * n) as f64;
        assert!(
            (real..=real * 1.1).contains(&guess),
            "guessed {guess} records, {real} in the file"
        );
    }

    #[test]
    fn journal_zero_tail_is_not_an_entry() {
        // The zeros laid out ahead of the entries must end a replay.
        let zero = [0u8; JOURNAL_ENTRY];
        assert_ne!(
            crc32fast::hash(&zero[..JOURNAL_ENTRY - 4]),
            le32(&zero[JOURNAL_ENTRY - 4..])
        );
    }

    /// `chunk` bytes of zeros ahead; `rounds` flushes of one commit each.
    fn journal_prepared_ahead(chunk: u64, rounds: u64) {
        let dir = tempfile::tempdir().unwrap();
        let tuning = Tuning {
            journal_chunk: chunk,
            ..Tuning::default()
        };
        {
            let s = open_with(dir.path(), tuning);
            s.insert_user(&User::new("u", 1)).unwrap();
            for i in 0..4 {
                s.insert_token(&token(&format!("t{i}"), "u", b"seed"))
                    .unwrap();
            }
            s.sync().unwrap();
            for r in 0..rounds {
                let prev = r.checked_sub(1);
                for i in 0..4 {
                    let id = format!("t{i}");
                    assert!(s.commit_use(&id, prev, r, 0, r, true).unwrap());
                }
                s.sync().unwrap();
            }
            let len = std::fs::metadata(journal_file(dir.path())).unwrap().len();
            let data = rounds * 4 * JOURNAL_ENTRY as u64;
            assert!(len >= data, "journal {len} bytes, entries {data}");
            if chunk > 0 {
                // Zeros stay laid out ahead of the entries.
                assert!(
                    len >= data + chunk / 2,
                    "journal {len} bytes, entries {data}"
                );
            }
            s.crash();
        }
        let s = open(dir.path());
        for i in 0..4 {
            let t = s.token(&format!("t{i}")).unwrap().unwrap();
            assert_eq!(t.last, Some(rounds - 1), "t{i}");
        }
    }

    #[test]
    fn journal_prepared_ahead_replays_every_flushed_entry() {
        // Chunks smaller than one flush, about one flush, and many flushes.
        journal_prepared_ahead(64, 40);
        journal_prepared_ahead(4 * JOURNAL_ENTRY as u64, 40);
        journal_prepared_ahead(4096, 100);
        journal_prepared_ahead(0, 10);
    }

    /// Waits (up to 5 s) until the checkpoint thread has a spare ready.
    fn wait_for_spare(s: &FileStore) {
        let t0 = Instant::now();
        while lock(&s.s.spare).is_none() {
            assert!(t0.elapsed() < Duration::from_secs(5), "no spare journal");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn spare_journal_is_laid_out_ahead_and_adopted_by_the_next_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let chunk = 8192;
        let tuning = Tuning {
            journal_chunk: chunk,
            ..Tuning::default()
        };
        {
            let s = open_with(dir.path(), tuning);
            s.insert_user(&User::new("u", 1)).unwrap();
            s.insert_token(&token("t", "u", b"seed")).unwrap();
            wait_for_spare(&s);
            let spare = dir.path().join(SPARE_JOURNAL);
            // Zeros only, durable, one chunk (no generation before it).
            let bytes = std::fs::read(&spare).unwrap();
            assert_eq!(bytes.len() as u64, chunk);
            assert!(bytes.iter().all(|&b| b == 0));
            // Spares are not generations.
            assert!(journals(dir.path())
                .unwrap()
                .iter()
                .all(|(_, p)| *p != spare));
            let before = s.s.hot().journal.gen;
            s.checkpoint().unwrap();
            let j = s.s.hot().journal.clone();
            assert_eq!(j.gen, before + 1);
            assert_eq!(j.path, journal_file(dir.path()));
            // The request path finds the zeros already there.
            assert_eq!(j.prepared.load(Ordering::Relaxed), chunk);
            for r in 0..20u64 {
                assert!(s.commit_use("t", r.checked_sub(1), r, 0, r, true).unwrap());
                s.sync().unwrap();
            }
            // 20 entries fit in the chunk: no flush laid out more.
            assert_eq!(j.prepared.load(Ordering::Relaxed), chunk);
            assert_eq!(std::fs::metadata(&j.path).unwrap().len(), chunk);
            // The thread lays out the next one, sized after this generation.
            wait_for_spare(&s);
            s.crash();
        }
        assert!(dir.path().join(SPARE_JOURNAL).exists());
        // A spare left by a crash is deleted at open; the adopted
        // generation's entries are replayed. Opened with spares off, so
        // the new store's thread cannot lay out another one meanwhile.
        let no_spares = Tuning {
            journal_chunk: 0,
            ..Tuning::default()
        };
        let s = open_with(dir.path(), no_spares);
        assert!(!dir.path().join(SPARE_JOURNAL).exists());
        assert_eq!(s.token("t").unwrap().unwrap().last, Some(19));
        drop(s);
        let s = open(dir.path());
        assert_eq!(s.token("t").unwrap().unwrap().last, Some(19));
        wait_for_spare(&s);
        drop(s);
        // A closed store keeps no spare.
        assert!(!dir.path().join(SPARE_JOURNAL).exists());
    }

    #[test]
    fn spare_journal_size_follows_the_last_generation() {
        let dir = tempfile::tempdir().unwrap();
        let chunk = 4096;
        let tuning = Tuning {
            journal_chunk: chunk,
            ..Tuning::default()
        };
        let s = open_with(dir.path(), tuning);
        s.insert_user(&User::new("u", 1)).unwrap();
        s.insert_token(&token("t", "u", b"seed")).unwrap();
        wait_for_spare(&s);
        s.checkpoint().unwrap();
        wait_for_spare(&s);
        // 500 commits of one entry each: 38,000 bytes of journal.
        for r in 0..500u64 {
            assert!(s.commit_use("t", r.checked_sub(1), r, 0, r, true).unwrap());
        }
        s.sync().unwrap();
        let held = 500 * JOURNAL_ENTRY as u64;
        s.checkpoint().unwrap();
        assert_eq!(s.s.last_gen_bytes.load(Ordering::Relaxed), held);
        wait_for_spare(&s);
        let len = std::fs::metadata(dir.path().join(SPARE_JOURNAL))
            .unwrap()
            .len();
        assert_eq!(len, (held + held / 4).div_ceil(chunk) * chunk);
    }

    #[test]
    fn replay_state_only_in_the_journal_survives_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = open(dir.path());
            s.insert_user(&User::new("u", 1)).unwrap();
            s.insert_token(&token("t", "u", b"seed")).unwrap();
            s.sync().unwrap();
            assert!(s.commit_use("t", None, 10, 0, 5, true).unwrap());
            s.record_failure("u", 5, LockRule::NEVER).unwrap();
            s.sync().unwrap();
            assert!(std::fs::metadata(journal_file(dir.path())).unwrap().len() > 0);
            s.crash();
        }
        let s = open(dir.path());
        let t = s.token("t").unwrap().unwrap();
        assert_eq!((t.last, t.state), (Some(10), TokenState::Active));
        assert_eq!(s.user("u").unwrap().unwrap().failures, 1);
        // The replay was checkpointed at open: the CAS sees it.
        assert!(!s.commit_use("t", Some(9), 11, 0, 6, false).unwrap());
        assert!(s.commit_use("t", Some(10), 11, 0, 6, false).unwrap());
    }

    #[test]
    fn replay_state_survives_in_state_after_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = open(dir.path());
            s.insert_user(&User::new("u", 1)).unwrap();
            s.insert_token(&token("t", "u", b"seed")).unwrap();
            assert!(s.commit_use("t", None, 10, 3, 5, true).unwrap());
            s.sync().unwrap();
            s.checkpoint().unwrap();
            assert_eq!(s.stats().overlay_slots, 0);
            // The new generation holds no entry (an adopted spare holds
            // zeros).
            let mut left = HashMap::new();
            replay(&journal_file(dir.path()), &mut left).unwrap();
            assert!(left.is_empty());
            // Read back from `state` now.
            assert_eq!(s.token("t").unwrap().unwrap().last, Some(10));
            s.crash();
        }
        let s = open(dir.path());
        let t = s.token("t").unwrap().unwrap();
        assert_eq!((t.last, t.drift), (Some(10), 3));
    }

    #[test]
    fn background_checkpoint_keeps_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let tuning = Tuning {
            checkpoint_slots: 8,
            ..Tuning::default()
        };
        {
            let s = open_with(dir.path(), tuning);
            s.insert_user(&User::new("u", 1)).unwrap();
            for i in 0..40 {
                s.insert_token(&token(&format!("t{i:02}"), "u", b"s"))
                    .unwrap();
            }
            for round in 0..20u64 {
                for i in 0..40 {
                    let last = round.checked_sub(1);
                    assert!(s
                        .commit_use(&format!("t{i:02}"), last, round, 0, round, true)
                        .unwrap());
                }
                s.sync().unwrap();
            }
            s.crash();
        }
        let s = open(dir.path());
        for t in s.tokens_of("u").unwrap() {
            assert_eq!(t.last, Some(19), "{}", t.id);
        }
    }

    #[test]
    fn torn_records_tail_loses_only_the_unsynced_record() {
        let dir = tempfile::tempdir().unwrap();
        let rec = dir.path().join("records");
        let (before, after) = {
            let s = open(dir.path());
            s.insert_user(&User::new("a", 1)).unwrap();
            s.insert_token(&token("ta", "a", b"seed-a")).unwrap();
            assert!(s.commit_use("ta", None, 5, 0, 1, true).unwrap());
            s.sync().unwrap();
            let before = std::fs::metadata(&rec).unwrap().len();
            let mut b = User::new("b", 2);
            b.pin = Some(Secret::from("1357"));
            s.insert_user(&b).unwrap();
            let after = std::fs::metadata(&rec).unwrap().len();
            s.crash();
            (before, after)
        };
        assert!(after > before);
        let root = tempfile::tempdir().unwrap();
        for cut in before..=after {
            let copy = root.path().join(format!("c{cut}"));
            copy_truncated(dir.path(), &copy, &rec, cut);
            let s = open(&copy);
            let b = s.user("b").unwrap();
            assert_eq!(b.is_some(), cut == after, "cut at {cut}");
            assert_eq!(s.counts().unwrap(), (1 + usize::from(cut == after), 1));
            assert_eq!(s.token("ta").unwrap().unwrap().last, Some(5));
            assert_eq!(
                std::fs::metadata(copy.join("records")).unwrap().len(),
                if cut == after { after } else { before },
                "torn tail truncated"
            );
            // The store takes new records after the repair.
            s.insert_user(&User::new("c", 3)).unwrap();
            drop(s);
            assert!(open(&copy).user("c").unwrap().is_some());
        }
    }

    /// A crash tore the last of five flushed entries: cut the journal
    /// inside it (`zeros`: refill the rest with the zeros that were there).
    fn torn_journal_tail(chunk: u64, zeros: bool) {
        let dir = tempfile::tempdir().unwrap();
        let tuning = Tuning {
            journal_chunk: chunk,
            ..Tuning::default()
        };
        {
            let s = open_with(dir.path(), tuning);
            s.insert_user(&User::new("u", 1)).unwrap();
            s.insert_token(&token("t", "u", b"seed")).unwrap();
            s.sync().unwrap();
            for n in 1..=5u64 {
                assert!(s
                    .commit_use("t", (n > 1).then(|| n - 1), n, 0, n, true)
                    .unwrap());
                s.sync().unwrap();
            }
            s.crash();
        }
        let j = journal_file(dir.path());
        let len = std::fs::metadata(&j).unwrap().len();
        let data = 5 * JOURNAL_ENTRY as u64;
        if chunk == 0 {
            assert_eq!(len, data);
        } else {
            assert!(len >= data + chunk / 2, "{len}");
        }
        let root = tempfile::tempdir().unwrap();
        for cut in data - JOURNAL_ENTRY as u64..=data {
            let copy = root.path().join(format!("c{cut}"));
            copy_truncated(dir.path(), &copy, &j, cut);
            if zeros {
                let torn = copy.join(j.file_name().unwrap());
                let f = OpenOptions::new().write(true).open(torn).unwrap();
                f.set_len(len).unwrap();
            }
            let s = open(&copy);
            let want = if cut == data { 5 } else { 4 };
            assert_eq!(s.token("t").unwrap().unwrap().last, Some(want), "cut {cut}");
        }
    }

    #[test]
    fn torn_journal_tail_loses_only_the_last_entry() {
        torn_journal_tail(0, false);
        // Zeros laid out ahead: torn into them, or the zeros cut off too.
        torn_journal_tail(Tuning::default().journal_chunk, true);
        torn_journal_tail(Tuning::default().journal_chunk, false);
    }

    #[test]
    fn listing_pages_meet_a_user_rewritten_during_the_listing_at_its_new_place() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        for i in 0..10 {
            s.insert_user(&User::new(format!("u{i}"), 1)).unwrap();
        }
        let mut seen: Vec<User> = Vec::new();
        s.each_user_page(3, &mut |p| {
            if seen.is_empty() {
                // One already handed over, one not reached yet.
                for (name, challenge) in [(p[0].0.name.clone(), true), ("u9".into(), false)] {
                    let mut u = s.user(&name).unwrap().unwrap();
                    u.challenge = challenge;
                    u.enabled = false;
                    s.update_user(&u).unwrap();
                }
            }
            seen.extend(p.into_iter().map(|(u, _)| u));
            Ok(())
        })
        .unwrap();
        let first = seen[0].name.clone();
        let times = |n: &str| seen.iter().filter(|u| u.name == n).count();
        assert_eq!(times(&first), 2, "{first}: as it was, then rewritten");
        assert_eq!(times("u9"), 1, "u9: only at its new place");
        let last = |n: &str| seen.iter().rev().find(|u| u.name == n).unwrap().clone();
        assert!(!last(&first).enabled && last(&first).challenge);
        assert!(!last("u9").enabled);
        assert_eq!(seen.len(), 11);
    }

    #[test]
    fn corrupted_state_slot_fails_closed_until_the_token_is_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let slot = {
            let s = open(dir.path());
            s.insert_user(&User::new("u", 1)).unwrap();
            s.insert_token(&token("t", "u", b"seed")).unwrap();
            assert!(s.commit_use("t", None, 77, 0, 5, true).unwrap());
            s.sync().unwrap();
            s.slot_of_token("t").0
        }; // the final checkpoint puts the image into `state`
        let state = dir.path().join("state");
        let mut bytes = std::fs::read(&state).unwrap();
        let at = slot as usize * SLOT + 20; // inside `last`, incarnation intact
        bytes[at] ^= 0x40;
        std::fs::write(&state, &bytes).unwrap();
        let s = open(dir.path());
        for r in [
            s.token("t").map(|_| ()),
            s.user_with_tokens("u").map(|_| ()),
            s.commit_use("t", Some(77), 78, 0, 6, false).map(|_| ()),
        ] {
            match r {
                Err(StoreError::Corrupt(what, why)) => {
                    assert_eq!(what, "token 't'");
                    assert!(why.contains("radotp token delete t"), "{why}");
                }
                other => panic!("expected Corrupt, got {other:?}"),
            }
        }
        // The user's own slot is intact.
        assert!(s.user("u").unwrap().is_some());
        // Another token of the same user: a rewrite of the user carries
        // every token's state, so it is refused while one is damaged.
        for r in [
            s.insert_token(&token("t2", "u", b"seed2")),
            s.update_user(&User::new("u", 2)),
        ] {
            match r {
                Err(StoreError::Corrupt(what, _)) => assert_eq!(what, "token 't'"),
                other => panic!("expected Corrupt, got {other:?}"),
            }
        }
        // The repair: delete the damaged token (its slot is not read) and
        // enroll a new one, which gets a fresh incarnation.
        s.delete_token("t").unwrap();
        assert!(s.token("t").unwrap().is_none());
        s.update_user(&User::new("u", 2)).unwrap();
        s.insert_token(&token("t", "u", b"seed")).unwrap();
        assert_eq!(s.token("t").unwrap().unwrap().last, None);
        assert!(s.commit_use("t", None, 5, 0, 7, true).unwrap());
        s.sync().unwrap();
        drop(s);
        let s = open(dir.path());
        assert_eq!(s.token("t").unwrap().unwrap().last, Some(5));
    }

    // Checkpoint writes cover every dirty slot exactly once, in runs of
    // consecutive slots that never cross a state page.
    #[test]
    fn checkpoint_runs_cover_every_slot_and_never_cross_a_page() {
        let per_page = STATE_PAGE / SLOT as u64;
        let mut slots: Vec<u64> = (0..3 * per_page).collect();
        slots.extend([5 * per_page - 1, 5 * per_page, 7 * per_page + 3]);
        slots.extend(9 * per_page + 10..9 * per_page + 20);
        let runs: Vec<(u64, u64)> = page_runs(&slots).collect();
        assert_eq!(
            runs,
            vec![
                (0, per_page),
                (per_page, per_page),
                (2 * per_page, per_page),
                (5 * per_page - 1, 1),
                (5 * per_page, 1),
                (7 * per_page + 3, 1),
                (9 * per_page + 10, 10),
            ]
        );
        let covered: Vec<u64> = runs.iter().flat_map(|&(f, n)| f..f + n).collect();
        assert_eq!(covered, slots);
        for (f, n) in runs {
            assert_eq!(
                f / per_page,
                (f + n - 1) / per_page,
                "run {f}+{n} crosses a page"
            );
        }
        assert_eq!(page_runs(&[]).count(), 0);
    }

    // commit_use after user_with_tokens compares against the state that
    // read saw, without reading the slot again, only while nothing wrote
    // the slot since: a second commit with the same expectation must lose,
    // whether the image is in the overlay or, after a checkpoint, on disk.
    #[test]
    fn commit_use_after_read_sees_every_later_change_of_the_slot() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        s.insert_user(&User::new("u", 1)).unwrap();
        let mut t = token("t", "u", b"seed");
        t.state = TokenState::Active;
        s.insert_token(&t).unwrap();
        for round in 0..2u64 {
            let (_, toks) = s.user_with_tokens("u").unwrap().unwrap();
            let last = toks[0].last;
            assert!(s.commit_use("t", last, 10 + round, 0, 5, false).unwrap());
            assert!(!s.commit_use("t", last, 20 + round, 0, 5, false).unwrap());
            // Changed behind the remembered read by another path.
            let (_, toks) = s.user_with_tokens("u").unwrap().unwrap();
            assert_eq!(toks[0].last, Some(10 + round));
            assert!(s
                .commit_use("t", Some(10 + round), 30 + round, 0, 6, false)
                .unwrap());
            assert!(!s
                .commit_use("t", Some(10 + round), 40 + round, 0, 6, false)
                .unwrap());
            s.checkpoint().unwrap();
        }
        // The remembered read is from before the checkpoint; the image it
        // saw is now on disk only.
        let (_, toks) = s.user_with_tokens("u").unwrap().unwrap();
        assert_eq!(toks[0].last, Some(31));
        s.checkpoint().unwrap();
        assert!(s.commit_use("t", Some(31), 50, 0, 7, false).unwrap());
        assert!(!s.commit_use("t", Some(31), 51, 0, 7, false).unwrap());
        drop(s);
        let s = open(dir.path());
        assert_eq!(s.token("t").unwrap().unwrap().last, Some(50));
    }

    // The remembered read skips the index only while no write lock was
    // taken since: a token deleted, moved or re-seeded in between is
    // committed by what the index says now, never by the old record.
    #[test]
    fn commit_use_after_an_admin_change_since_the_read_follows_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        for u in ["u", "v"] {
            s.insert_user(&User::new(u, 1)).unwrap();
        }
        let mut t = token("t", "u", b"seed");
        t.state = TokenState::Active;
        s.insert_token(&t).unwrap();
        s.insert_token(&token("w", "u", b"other")).unwrap();

        // Deleted after the read: no commit.
        s.user_with_tokens("u").unwrap().unwrap();
        s.delete_token("w").unwrap();
        assert!(matches!(
            s.commit_use("w", None, 1, 0, 5, true),
            Err(StoreError::NoSuchToken(_))
        ));

        // Moved to another owner after the read: the commit lands on the
        // token where it lives now, and survives a reopen.
        s.user_with_tokens("u").unwrap().unwrap();
        let mut m = s.token("t").unwrap().unwrap();
        m.owner = "v".into();
        s.update_token(&m).unwrap();
        assert!(s.commit_use("t", None, 7, 0, 5, false).unwrap());
        assert!(!s.commit_use("t", None, 8, 0, 5, false).unwrap());

        // Replaced (new incarnation, replay state reset) after the read: the
        // old read's expectation no longer holds.
        s.user_with_tokens("v").unwrap().unwrap();
        let mut r = s.token("t").unwrap().unwrap();
        r.last = None;
        s.update_token(&r).unwrap();
        assert!(s.commit_use("t", None, 3, 0, 6, false).unwrap());
        assert!(!s.commit_use("t", Some(7), 9, 0, 6, false).unwrap());
        s.sync().unwrap();
        drop(s);
        let s = open(dir.path());
        let t = s.token("t").unwrap().unwrap();
        assert_eq!((t.owner.as_str(), t.last), ("v", Some(3)));
        assert!(s.token("w").unwrap().is_none());
    }

    #[test]
    fn stale_slot_of_another_incarnation_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        s.insert_user(&User::new("u", 1)).unwrap();
        s.insert_token(&token("t", "u", b"seed")).unwrap();
        assert!(s.commit_use("t", None, 77, 0, 5, true).unwrap());
        s.checkpoint().unwrap();
        // An admin rewrite carries the current values in the record and a
        // new incarnation; the old slot content no longer applies.
        let (slot, inc) = s.slot_of_token("t");
        let mut t = s.token("t").unwrap().unwrap();
        assert_eq!(t.last, Some(77));
        t.description = "renamed".into();
        t.last = Some(100);
        s.update_token(&t).unwrap();
        let (slot2, inc2) = s.slot_of_token("t");
        assert_eq!(slot, slot2, "the slot is kept");
        assert_ne!(inc, inc2, "the incarnation is new");
        assert_eq!(s.token("t").unwrap().unwrap().last, Some(100));
    }

    #[test]
    fn store_opened_with_another_key_fails_clearly() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = open(dir.path());
            s.insert_user(&User::new("u", 1)).unwrap();
            s.sync().unwrap();
        }
        let err = FileStore::open(dir.path(), StoreKey::from_bytes([1; 32])).unwrap_err();
        assert!(matches!(err, StoreError::Key { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("the key file does not match this store"),
            "{err}"
        );
        assert!(open(dir.path()).user("u").unwrap().is_some());
    }

    #[test]
    fn second_open_of_a_held_store_says_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let first = open(dir.path());
        let second = FileStore::open(dir.path(), StoreKey::from_bytes(KEY));
        assert!(
            matches!(second, Err(StoreError::InUse(_))),
            "{:?}",
            second.err()
        );
        drop(first);
        assert!(FileStore::open(dir.path(), StoreKey::from_bytes(KEY)).is_ok());
    }

    #[test]
    fn scan_batches_hand_over_every_frame_in_order_before_the_end() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = open(dir.path());
            // More frames than a batch and than one read of SCAN_BUF.
            for i in 0..200 {
                let mut u = User::new(format!("u{i:03}"), 1);
                u.pin = Some(Secret::new(vec![b'7'; 6000]));
                s.insert_user(&u).unwrap();
            }
        }
        let rec = dir.path().join("records");
        let f = File::open(&rec).unwrap();
        let end = f.metadata().unwrap().len();
        assert!(end > SCAN_BUF as u64);
        let walk = |end: u64| {
            let mut seen = Vec::new();
            let got = scan_batches(&f, 0, end, |frames| {
                assert!(!frames.is_empty() && frames.len() <= SCAN_BATCH);
                seen.extend(
                    frames
                        .iter()
                        .map(|&(off, _, p, len)| (off, p.len() as u64, len)),
                );
                Ok(())
            })
            .unwrap();
            (seen, got)
        };
        let (seen, got) = walk(end);
        assert!(matches!(got, ScanEnd::Clean));
        assert_eq!(seen.len(), 201, "the header and 200 users");
        let mut next = 0;
        for &(off, payload, len) in &seen {
            assert_eq!(off, next);
            assert_eq!(payload + FRAME_HEAD + 1, len);
            next = off + len;
        }
        assert_eq!(next, end);
        // A torn last frame: every whole frame first, then where it ends.
        let (torn, got) = walk(end - 3);
        assert_eq!(torn[..], seen[..200]);
        assert!(
            matches!(got, ScanEnd::Torn(at) if at == seen[200].0),
            "{got:?}"
        );
    }

    #[test]
    fn damage_in_the_middle_of_records_is_corrupt_with_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        let second_off = {
            let s = open(dir.path());
            s.insert_user(&User::new("a", 1)).unwrap();
            let off = s.stats().records_bytes;
            s.insert_user(&User::new("b", 1)).unwrap();
            s.insert_user(&User::new("c", 1)).unwrap();
            off
        };
        let rec = dir.path().join("records");
        let mut bytes = std::fs::read(&rec).unwrap();
        bytes[second_off as usize + 12] ^= 1;
        std::fs::write(&rec, &bytes).unwrap();
        match FileStore::open(dir.path(), StoreKey::from_bytes(KEY)) {
            Err(StoreError::Corrupt(what, why)) => {
                assert!(what.contains(&format!("offset {second_off}")), "{what}");
                assert!(why.contains("checksum"), "{why}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn debug_shows_only_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        let d = format!("{s:?}");
        assert!(d.starts_with("FileStore"), "{d}");
        assert!(d.contains(&dir.path().display().to_string()), "{d}");
        assert!(!d.contains("90") && !d.contains("key"), "{d}");
    }

    #[test]
    fn sync_shares_flushes_between_concurrent_callers() {
        let dir = tempfile::tempdir().unwrap();
        crate::store::conformance::sync_shares_flushes_between_concurrent_callers(&open(
            dir.path(),
        ));
    }

    #[test]
    fn seeds_and_pins_never_reach_the_disk_in_clear() {
        use rand::RngCore;
        let dir = tempfile::tempdir().unwrap();
        let pin = b"Pin-7391-6482-q";
        let mut seeds = Vec::new();
        {
            let s = open(dir.path());
            let mut u = User::new("alice", 1);
            u.pin = Some(Secret::new(pin.to_vec()));
            s.insert_user(&u).unwrap();
            for i in 0..20 {
                let mut seed = vec![0u8; 20 + i];
                rand::rngs::OsRng.fill_bytes(&mut seed);
                s.insert_token(&token(&format!("t-{i}"), "alice", &seed))
                    .unwrap();
                seeds.push(seed);
            }
            let mut seed = vec![0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut seed);
            let mut v = User::new("bob", 1);
            v.pin = Some(Secret::new(pin.to_vec()));
            s.import(&[v], &[token("t-imp", "bob", &seed)]).unwrap();
            seeds.push(seed);
            assert!(s.commit_use("t-3", None, 1, 0, 1, true).unwrap());
            s.record_failure("alice", 1, LockRule::NEVER).unwrap();
            s.sync().unwrap();
            assert_eq!(
                s.token("t-3").unwrap().unwrap().seed.expose(),
                &seeds[3][..]
            );
            // Leave something in the journal as well as in `state`.
            s.checkpoint().unwrap();
            assert!(s.commit_use("t-4", None, 1, 0, 1, true).unwrap());
            s.sync().unwrap();
            s.crash();
        }
        let files = files_of(dir.path());
        let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
        let mut all = Vec::new();
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            for seed in &seeds {
                assert!(!contains(&bytes, seed), "seed bytes in {}", f.display());
                let b32 = data_encoding::BASE32_NOPAD.encode(seed);
                assert!(
                    !contains(&bytes, b32.as_bytes()),
                    "base32 seed in {}",
                    f.display()
                );
                let lower = b32.to_ascii_lowercase();
                assert!(
                    !contains(&bytes, lower.as_bytes()),
                    "base32 seed in {}",
                    f.display()
                );
            }
            assert!(!contains(&bytes, pin), "PIN in {}", f.display());
            all.extend(bytes);
        }
        assert!(files.iter().any(|f| f.ends_with("state")));
        assert!(std::fs::metadata(journal_file(dir.path())).unwrap().len() > 0);
        // The scan can find things: the non-secret user name is there.
        assert!(contains(&all, b"alice"));
    }

    #[test]
    fn sealed_records_are_bound_to_their_id() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        let mut u = User::new("v", 1);
        u.pin = Some(Secret::from("4321"));
        s.insert_user(&u).unwrap();
        s.insert_token(&token("t-a", "v", b"seed-a")).unwrap();
        // Re-file v's record under another name and token id: the sealed
        // PIN and seed must not open.
        let mut inner = s.s.write_inner();
        let f = s.s.find_user(&inner, "v").unwrap().unwrap();
        let mut rec = f.rec.clone();
        rec.name = "w".into();
        rec.slot = inner.slots.alloc();
        rec.tokens[0].id = "t-b".into();
        rec.tokens[0].slot = inner.slots.alloc();
        s.s.put_user(&mut inner, rec, None, None).unwrap();
        drop(inner);
        let err = s.user("w").unwrap_err();
        assert!(matches!(err, StoreError::Decrypt(_)), "{err:?}");
        assert!(!err.to_string().contains("4321"));
        assert!(matches!(s.token("t-b"), Err(StoreError::Decrypt(_))));
    }

    #[test]
    fn compaction_at_open_keeps_live_records_and_incarnations() {
        let dir = tempfile::tempdir().unwrap();
        let tuning = Tuning {
            compact_min: 0,
            ..Tuning::default()
        };
        let (incs, size_before) = {
            let s = open(dir.path());
            let mut u = User::new("u", 1);
            u.pin = Some(Secret::from("9876"));
            s.insert_user(&u).unwrap();
            s.insert_token(&token("t", "u", b"seed-t")).unwrap();
            s.insert_user(&User::new("gone", 1)).unwrap();
            s.insert_token(&token("tg", "gone", b"x")).unwrap();
            for i in 0..50 {
                u.created = i;
                s.update_user(&u).unwrap();
            }
            s.delete_user("gone").unwrap();
            // Replay state written after the last rewrite: it lives only in
            // the slot, under the current incarnation.
            assert!(s.commit_use("t", None, 4242, -2, 9, true).unwrap());
            s.record_failure("u", 9, LockRule::NEVER).unwrap();
            s.sync().unwrap();
            let st = s.stats();
            assert!(st.garbage_bytes * 2 > st.records_bytes, "{st:?}");
            (s.incarnations("u"), st.records_bytes)
        };
        let s = open_with(dir.path(), tuning);
        let st = s.stats();
        assert!(
            st.records_bytes < size_before / 4,
            "{st:?} vs {size_before}"
        );
        assert_eq!(st.garbage_bytes, 0);
        assert!(!dir.path().join("records.new").exists());
        assert_eq!(s.incarnations("u"), incs);
        assert_eq!(s.counts().unwrap(), (1, 1));
        let t = s.token("t").unwrap().unwrap();
        assert_eq!(
            (t.last, t.drift, t.state),
            (Some(4242), -2, TokenState::Active)
        );
        assert_eq!(t.seed.expose(), b"seed-t");
        let u = s.user("u").unwrap().unwrap();
        assert_eq!((u.failures, u.created), (1, 49));
        assert_eq!(u.pin, Some(Secret::from("9876")));
        assert!(s.user("gone").unwrap().is_none() && s.token("tg").unwrap().is_none());
        // Freed slots are reused, and the store keeps working.
        s.insert_user(&User::new("new", 1)).unwrap();
        drop(s);
        assert_eq!(open(dir.path()).counts().unwrap(), (2, 1));
    }

    fn vm_kb(field: &str) -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Run by [`scale_one_million_users_with_a_token_and_pin`] in a fresh
    /// process, so that the memory figures are the store's alone.
    #[test]
    #[ignore]
    fn scale_open_in_a_fresh_process() {
        let Some(dir) = std::env::var_os("RADOTP_SCALE_DIR") else {
            return;
        };
        let rss0 = vm_kb("VmRSS:");
        let t0 = std::time::Instant::now();
        let s = open(Path::new(&dir));
        let took = t0.elapsed();
        let (rss1, hwm) = (vm_kb("VmRSS:"), vm_kb("VmHWM:"));
        let st = s.stats();
        println!("open: {took:?}");
        println!(
            "VmRSS before open {rss0} kB, after open {rss1} kB (+{} MB), peak VmHWM {hwm} kB; \
             index {:.1} MB",
            rss1.saturating_sub(rss0) / 1024,
            st.index_bytes as f64 / 1048576.0
        );
        println!("{st:?}");
    }

    /// The scale check: `cargo test --release --lib store::file -- --ignored
    /// --nocapture` (`RADOTP_SCALE_N` changes the count).
    #[test]
    #[ignore]
    fn scale_one_million_users_with_a_token_and_pin() {
        if std::env::var_os("RADOTP_SCALE_DIR").is_some() {
            return; // the child run
        }
        let n: usize = std::env::var("RADOTP_SCALE_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        let dir = tempfile::tempdir().unwrap();
        {
            let users: Vec<User> = (0..n)
                .map(|i| {
                    let mut u = User::new(format!("user{i:07}"), 1_700_000_000);
                    u.pin = Some(Secret::from(format!("{:06}", i % 1_000_000)));
                    u
                })
                .collect();
            let tokens: Vec<Token> = (0..n)
                .map(|i| {
                    let mut t = token(&format!("t-{i:012x}"), &format!("user{i:07}"), &[7; 20]);
                    t.description = String::new();
                    t
                })
                .collect();
            let s = open(dir.path());
            let rss0 = vm_kb("VmRSS:");
            let t0 = std::time::Instant::now();
            s.import(&users, &tokens).unwrap();
            s.sync().unwrap();
            println!(
                "import of {n} users + {n} tokens: {:?} (VmRSS {rss0} kB before, peak VmHWM {} kB, \
                 inputs included)",
                t0.elapsed(),
                vm_kb("VmHWM:")
            );
            let t0 = std::time::Instant::now();
            drop(s);
            println!("close: {:?}", t0.elapsed());
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "store::file::tests::scale_open_in_a_fresh_process",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("RADOTP_SCALE_DIR", dir.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        for l in text
            .lines()
            .filter(|l| !l.starts_with("running") && !l.is_empty())
        {
            println!("[fresh process] {l}");
        }
        assert!(out.status.success());

        let t0 = std::time::Instant::now();
        let s = open(dir.path());
        println!("open (warm, this process): {:?}", t0.elapsed());
        println!(
            "size on disk: {} MB ({} bytes per user+token)",
            s.size_on_disk().unwrap() >> 20,
            s.size_on_disk().unwrap() / n as u64
        );
        assert_eq!(s.counts().unwrap(), (n, n));
        // The request path against the big store.
        let probes = 100_000usize;
        let name = |i: usize| format!("user{:07}", (i * 7919) % n);
        let t0 = std::time::Instant::now();
        let mut found = Vec::with_capacity(probes);
        for i in 0..probes {
            let (u, ts) = s.user_with_tokens(&name(i)).unwrap().unwrap();
            assert_eq!(ts.len(), 1);
            found.push((u.name.clone(), ts[0].id.clone(), ts[0].last));
        }
        println!("user_with_tokens: {:?} each", t0.elapsed() / probes as u32);
        let t0 = std::time::Instant::now();
        for (i, (_, id, last)) in found.iter().enumerate() {
            assert!(s.commit_use(id, *last, 1 + i as u64, 0, 1, true).unwrap());
        }
        println!("commit_use: {:?} each", t0.elapsed() / probes as u32);
        let t0 = std::time::Instant::now();
        for (u, _, _) in &found {
            s.record_success(u, 2).unwrap();
        }
        println!("record_success: {:?} each", t0.elapsed() / probes as u32);
        let t0 = std::time::Instant::now();
        s.sync().unwrap();
        println!(
            "sync of those {} slot images: {:?}",
            2 * probes,
            t0.elapsed()
        );
        let t0 = std::time::Instant::now();
        for (i, (_, id, _)) in found.iter().take(200).enumerate() {
            let last = s.token(id).unwrap().unwrap().last;
            assert!(s
                .commit_use(id, last, 1_000_000 + i as u64, 0, 1, true)
                .unwrap());
            s.sync().unwrap();
        }
        println!("sync after one commit: {:?} each", t0.elapsed() / 200);
        println!("VmRSS after requests: {} kB", vm_kb("VmRSS:"));
        let t0 = std::time::Instant::now();
        drop(s);
        println!("close with checkpoint: {:?}", t0.elapsed());
    }
}
