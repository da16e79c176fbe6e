//! Reader of the file store of radotp 0.2.
//!
//! # The format (as the 0.2 engine wrote it)
//!
//! All integers little-endian unless said; "uint" is unsigned LEB128,
//! "bytes" a uint length and that many bytes, "text" bytes in UTF-8.
//!
//! - `records`: frames `[u32 len][u32 crc32][u8 kind][payload]`, `len`
//!   counting kind and payload, the crc covering them (not the length).
//!   - kind 0 at offset 0 only, the header: `"RADOTPFS"`, format byte 1,
//!     bytes: the text `radotp store key check v1` sealed with AAD
//!     `key-check`.
//!   - kind 1, a user with all its tokens: text name, uint slot, u64
//!     incarnation, flags byte (1 enabled, 2 challenge, 4 PIN, 8 locked,
//!     16 last success), uint failures, uint created, [uint locked_until],
//!     [uint last_success], [bytes sealed PIN, AAD `pin:` + name], uint
//!     token count; each token: text id, uint slot, u64 incarnation, flags
//!     byte (1 last, 2 last_used), kind byte (0 TOTP, 1 HOTP), algorithm
//!     byte (0 SHA-1, 1 SHA-256, 2 SHA-512, 3 SM3), state byte (0 pending,
//!     1 active, 2 disabled), uint digits, uint period, uint zigzag drift,
//!     uint created, [uint last], [uint last_used], text description,
//!     bytes sealed seed (AAD `seed:` + id).
//!   - kind 2, a deletion: text name.
//!
//!   A later kind 1 of a name replaces the earlier one whole; a kind 2
//!   removes it. A token id in a later record of another user has moved
//!   there: the copy in the earlier owner's record is no longer live.
//! - `state`: 64-byte slots at `slot * 64`: `[0..8]` incarnation, `[8]`
//!   slot kind (1 user, 2 token), `[9]` flags, `[10]` token state,
//!   `[12..16]` u32 failures, `[16..24]` a, `[24..32]` b, `[32..40]` c,
//!   `[60..64]` crc32 of `[0..60]`. A user's a/b are locked_until and
//!   last_success (flags 1, 2), a token's a/b/c last, last_used and drift
//!   (flags 1 last, 2 last_used). All zeros: empty.
//! - `journal.<16 hex digits>`: generations, oldest first by number, of
//!   76-byte entries `[u64 slot][64-byte slot image][u32 crc32 of the 72
//!   bytes before]`, zero-filled ahead of the last entry.
//!
//! # What the old engine's recovery made of them, and so this reader
//!
//! The images of every journal generation, replayed in order (the last
//! image of a slot wins), replace the slots of `state`. A slot image whose
//! checksum holds and whose incarnation and kind are the record's gives
//! the record's hot fields (user: failures, locked_until, last_success;
//! token: last, drift, last_used, state); any other image (empty, or of an
//! earlier incarnation) leaves the record's own values; an image of the
//! record's incarnation whose checksum fails is an error, never a silent
//! fall-back to older replay state.
//!
//! A bad frame or journal entry is dropped as a torn tail only when nothing
//! valid follows it in its file (the crash of an append that was never
//! acknowledged). The 0.2 engine also dropped a bad entry with valid ones
//! after it, and truncated `records` at a damaged length: both lost
//! acknowledged state, so here both are errors naming file and offset.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use super::Contents;
use crate::otp::{Algorithm, Kind};
use crate::secret::Secret;
use crate::store::{aad, StoreError, StoreKey, Token, TokenState, User};

/// The plaintext sealed into the header's key-check value.
pub const KEY_CHECK_TEXT: &[u8] = b"radotp store key check v1";
/// The AAD of the key-check value.
pub const KEY_CHECK_AAD: &[u8] = b"key-check";
/// First bytes of the header payload.
pub const MAGIC: &[u8; 8] = b"RADOTPFS";
/// The on-disk format version.
pub const FORMAT: u8 = 1;
/// Frame kinds.
pub const K_HEADER: u8 = 0;
/// A user record.
pub const K_PUT: u8 = 1;
/// A deletion.
pub const K_DEL: u8 = 2;
/// `[u32 len][u32 crc]`.
const FRAME_HEAD: usize = 8;
/// The largest record the 0.2 engine accepted.
const MAX_RECORD: u32 = 64 << 20;
/// Bytes of a state slot.
pub const SLOT: usize = 64;
/// Bytes of a journal entry.
pub const JOURNAL_ENTRY: usize = 8 + SLOT + 4;
/// Slot kinds.
pub const SLOT_USER: u8 = 1;
/// A token's slot.
pub const SLOT_TOKEN: u8 = 2;

fn ioe(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Io(format!("reading {}: {e}", path.display()))
}

fn corrupt_at(path: &Path, off: u64, why: impl Into<String>) -> StoreError {
    StoreError::Corrupt(format!("at offset {off} of {}", path.display()), why.into())
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn le64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// LEB128 and friends over a payload.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, String> {
        let (&b, rest) = self.0.split_first().ok_or("truncated")?;
        self.0 = rest;
        Ok(b)
    }

    fn uint(&mut self) -> Result<u64, String> {
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

    fn u32(&mut self) -> Result<u32, String> {
        u32::try_from(self.uint()?).map_err(|_| "integer out of range".to_string())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.0.len() {
            return Err("truncated".into());
        }
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(b)
    }

    fn fixed64(&mut self) -> Result<u64, String> {
        self.take(8).map(le64)
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = usize::try_from(self.uint()?).map_err(|_| "length out of range")?;
        self.take(n)
    }

    fn text(&mut self) -> Result<String, String> {
        std::str::from_utf8(self.bytes()?)
            .map(str::to_string)
            .map_err(|_| "text is not UTF-8".into())
    }

    fn opt(&mut self, present: bool) -> Result<Option<u64>, String> {
        if present {
            self.uint().map(Some)
        } else {
            Ok(None)
        }
    }

    fn end(&self) -> Result<(), String> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err("trailing bytes".into())
        }
    }
}

fn kind_of(c: u8) -> Result<Kind, String> {
    match c {
        0 => Ok(Kind::Totp),
        1 => Ok(Kind::Hotp),
        k => Err(format!("unknown token kind {k}")),
    }
}

fn alg_of(c: u8) -> Result<Algorithm, String> {
    match c {
        0 => Ok(Algorithm::Sha1),
        1 => Ok(Algorithm::Sha256),
        2 => Ok(Algorithm::Sha512),
        3 => Ok(Algorithm::Sm3),
        a => Err(format!("unknown algorithm {a}")),
    }
}

fn state_of(c: u8) -> Result<TokenState, String> {
    match c {
        0 => Ok(TokenState::Pending),
        1 => Ok(TokenState::Active),
        2 => Ok(TokenState::Disabled),
        s => Err(format!("unknown token state {s}")),
    }
}

/// A token as its owner's record holds it, the seed still sealed.
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

/// A user record, the PIN and seeds still sealed.
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

fn decode_put(payload: &[u8]) -> Result<UserRec, String> {
    let mut r = Reader(payload);
    let name = r.text()?;
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
        Some(r.bytes()?.to_vec())
    } else {
        None
    };
    let n = usize::try_from(r.uint()?).map_err(|_| "token count out of range")?;
    // Each token takes more than one byte: a huge count is damage.
    let mut tokens: Vec<TokRec> = Vec::with_capacity(n.min(r.0.len()));
    for _ in 0..n {
        let id = r.text()?;
        let slot = r.uint()?;
        let inc = r.fixed64()?;
        let tflags = r.byte()?;
        if tflags & !3 != 0 {
            return Err("unknown token flags".into());
        }
        let kind = kind_of(r.byte()?)?;
        let algorithm = alg_of(r.byte()?)?;
        let state = state_of(r.byte()?)?;
        let digits = r.u32()?;
        let period = r.u32()?;
        let z = r.uint()?;
        let drift = ((z >> 1) as i64) ^ -((z & 1) as i64);
        let created = r.uint()?;
        let last = r.opt(tflags & 1 != 0)?;
        let last_used = r.opt(tflags & 2 != 0)?;
        let description = r.text()?;
        let seed = r.bytes()?.to_vec();
        if tokens.iter().any(|t| t.id == id) {
            return Err(format!("token '{id}' listed twice in one record"));
        }
        tokens.push(TokRec {
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
    Ok(UserRec {
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

fn decode_del(payload: &[u8]) -> Result<String, String> {
    let mut r = Reader(payload);
    let name = r.text()?;
    r.end()?;
    Ok(name)
}

fn check_header(payload: &[u8], key: &StoreKey, rpath: &Path) -> Result<(), StoreError> {
    let bad = |why: String| corrupt_at(rpath, 0, why);
    let mut r = Reader(payload);
    if r.take(MAGIC.len()).map_err(bad)? != MAGIC {
        return Err(bad("not a radotp file store (bad magic)".into()));
    }
    let v = r.byte().map_err(bad)?;
    if v != FORMAT {
        return Err(bad(format!(
            "unknown store format {v}; this radotp reads format {FORMAT}"
        )));
    }
    let sealed = r.bytes().map_err(bad)?;
    if key.open(KEY_CHECK_AAD, sealed).as_deref() != Some(KEY_CHECK_TEXT) {
        return Err(StoreError::Key {
            path: format!("for the store at {}", rpath.display()),
            why: "the key file does not match this store (use the key file it was created with)"
                .into(),
        });
    }
    Ok(())
}

/// The payload length of a whole, checksum-valid user or deletion frame at
/// `off` of `buf`, if one lies there.
fn valid_frame_at(buf: &[u8], off: usize) -> Option<usize> {
    let head = buf.get(off..off + FRAME_HEAD)?;
    let len = le32(head);
    if len == 0 || len > MAX_RECORD {
        return None;
    }
    let body = buf.get(off + FRAME_HEAD..off + FRAME_HEAD + len as usize)?;
    (matches!(body[0], K_PUT | K_DEL) && crc32fast::hash(body) == le32(&head[4..]))
        .then_some(len as usize)
}

/// Where the next valid frame after the bad one at `off` starts, if any.
fn valid_frame_after(buf: &[u8], off: usize) -> Option<usize> {
    (off + 1..buf.len()).find(|&p| valid_frame_at(buf, p).is_some())
}

/// One frame of `records`: its offset, kind and payload.
struct Frame<'a> {
    off: usize,
    kind: u8,
    payload: &'a [u8],
}

/// The frames of `buf` in order, up to a torn tail (dropped); any other
/// damage is an error with its offset.
fn frames<'a>(buf: &'a [u8], rpath: &Path) -> Result<Vec<Frame<'a>>, StoreError> {
    let mut out = Vec::new();
    let mut off = 0usize;
    while off < buf.len() {
        let rest = &buf[off..];
        // `torn`: what the 0.2 engine took for an interrupted append.
        let (torn, why) = if rest.len() < FRAME_HEAD + 1 {
            (true, "incomplete frame header".to_string())
        } else {
            let len = le32(rest);
            if len == 0 || len > MAX_RECORD {
                (
                    rest.iter().all(|&b| b == 0),
                    format!("impossible record length {len}"),
                )
            } else if FRAME_HEAD + len as usize > rest.len() {
                (
                    true,
                    format!("a record of {len} bytes runs past the end of the file"),
                )
            } else {
                let body = &rest[FRAME_HEAD..FRAME_HEAD + len as usize];
                if crc32fast::hash(body) == le32(&rest[4..]) {
                    out.push(Frame {
                        off,
                        kind: body[0],
                        payload: &body[1..],
                    });
                    off += FRAME_HEAD + len as usize;
                    continue;
                }
                (
                    FRAME_HEAD + len as usize == rest.len(),
                    "checksum mismatch".to_string(),
                )
            }
        };
        if let Some(next) = valid_frame_after(buf, off) {
            return Err(corrupt_at(
                rpath,
                off as u64,
                format!(
                    "{why}, and a valid record follows at offset {next}: damage in the middle \
                     of the log, not an interrupted append (restore a backup of the directory)"
                ),
            ));
        }
        if !torn {
            return Err(corrupt_at(rpath, off as u64, why));
        }
        if off == 0 {
            return Err(corrupt_at(
                rpath,
                0,
                format!(
                    "{why}: the store header is incomplete (a crash while the store was \
                     created); there is nothing to migrate"
                ),
            ));
        }
        tracing::warn!(
            path = %rpath.display(),
            offset = off,
            dropped_bytes = buf.len() - off,
            "records end in an incomplete record (a crash while appending, never acknowledged); not migrating it"
        );
        break;
    }
    Ok(out)
}

/// The slot images of the journal generations in `dir`, oldest first, the
/// last image of each slot winning.
fn replay(dir: &Path) -> Result<HashMap<u64, [u8; SLOT]>, StoreError> {
    let mut gens: Vec<(u64, PathBuf)> = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| ioe(dir, e))? {
        let e = e.map_err(|e| ioe(dir, e))?;
        let name = e.file_name();
        let Some(hex) = name.to_str().and_then(|n| n.strip_prefix("journal.")) else {
            continue;
        };
        if let Ok(gen) = u64::from_str_radix(hex, 16) {
            gens.push((gen, e.path()));
        }
    }
    gens.sort();
    let mut overlay = HashMap::new();
    for (_, path) in &gens {
        let bytes = std::fs::read(path).map_err(|e| ioe(path, e))?;
        replay_one(&bytes, path, &mut overlay)?;
    }
    Ok(overlay)
}

fn valid_entry(e: &[u8]) -> bool {
    e.len() == JOURNAL_ENTRY
        && e.iter().any(|&b| b != 0)
        && crc32fast::hash(&e[..JOURNAL_ENTRY - 4]) == le32(&e[JOURNAL_ENTRY - 4..])
}

/// Replays one journal file into `overlay`. Its entries end at the first
/// entry that is not valid (zeros laid out ahead, or a torn last write);
/// a valid entry after that point is damage, reported with its offset.
fn replay_one(
    bytes: &[u8],
    path: &Path,
    overlay: &mut HashMap<u64, [u8; SLOT]>,
) -> Result<(), StoreError> {
    let mut entries = bytes.chunks(JOURNAL_ENTRY).enumerate();
    for (i, e) in entries.by_ref() {
        if !valid_entry(e) {
            let at = i * JOURNAL_ENTRY;
            if let Some((j, _)) = bytes
                .chunks(JOURNAL_ENTRY)
                .enumerate()
                .skip(i + 1)
                .find(|(_, e)| valid_entry(e))
            {
                return Err(corrupt_at(
                    path,
                    at as u64,
                    format!(
                        "journal entry {i} is not valid but entry {j} after it is: \
                         damage in the middle of the journal, not an interrupted write"
                    ),
                ));
            }
            if e.iter().any(|&b| b != 0) {
                tracing::warn!(
                    path = %path.display(),
                    offset = at,
                    "journal ends in an incomplete entry (never acknowledged); not migrating it"
                );
            }
            return Ok(());
        }
        let mut img = [0u8; SLOT];
        img.copy_from_slice(&e[8..8 + SLOT]);
        overlay.insert(le64(e), img);
    }
    Ok(())
}

/// What a slot image says for an owner of incarnation `inc`.
enum Img<'a> {
    /// Valid and of this owner: its fields win.
    Use(&'a [u8]),
    /// Empty or another incarnation's: the record's values apply.
    Absent,
    /// The incarnation matches but the checksum fails.
    Bad,
}

fn classify(b: &[u8], inc: u64, kind: u8) -> Img<'_> {
    if b.iter().all(|&x| x == 0) {
        return Img::Absent;
    }
    let crc_ok = crc32fast::hash(&b[..SLOT - 4]) == le32(&b[SLOT - 4..]);
    match (crc_ok, le64(b) == inc) {
        (true, true) if b[8] == kind => Img::Use(b),
        (false, true) => Img::Bad,
        _ => Img::Absent,
    }
}

/// The slots: the journals' images over the state file's.
struct Slots {
    overlay: HashMap<u64, [u8; SLOT]>,
    state: Vec<u8>,
    spath: PathBuf,
}

impl Slots {
    fn get(&self, slot: u64, inc: u64, kind: u8, what: &str) -> Result<Img<'_>, StoreError> {
        let img: &[u8] = match self.overlay.get(&slot) {
            Some(img) => img,
            None => {
                let at = usize::try_from(slot)
                    .ok()
                    .and_then(|s| s.checked_mul(SLOT))
                    .filter(|&at| at + SLOT <= self.state.len());
                match at {
                    Some(at) => &self.state[at..at + SLOT],
                    None => &[0u8; SLOT],
                }
            }
        };
        let r = classify(img, inc, kind);
        if let Img::Bad = r {
            return Err(StoreError::Corrupt(
                what.to_string(),
                format!(
                    "its state slot {slot} (offset {} of {}, or its last journal image) fails its \
                     checksum; refusing to fall back to older replay state",
                    slot.saturating_mul(SLOT as u64),
                    self.spath.display()
                ),
            ));
        }
        Ok(r)
    }
}

/// Reads the file store in `dir` without writing to it.
pub fn read(dir: &Path, key: &StoreKey) -> Result<Contents, StoreError> {
    // A 0.2 daemon still running keeps its `lock` held: say so rather
    // than read a store being written. A shared lock, on a read-only
    // descriptor, changes nothing on disk.
    let lpath = dir.join("lock");
    if let Ok(lock) = File::open(&lpath) {
        if let Err(std::fs::TryLockError::WouldBlock) = lock.try_lock_shared() {
            return Err(StoreError::InUse(dir.display().to_string()));
        }
    }
    let rpath = dir.join("records");
    let buf = std::fs::read(&rpath).map_err(|e| ioe(&rpath, e))?;
    let frames = frames(&buf, &rpath)?;
    let mut users: HashMap<String, (usize, UserRec)> = HashMap::new();
    // Token id → offset of the record holding its live copy.
    let mut token_at: HashMap<String, usize> = HashMap::new();
    for f in &frames {
        if f.off == 0 {
            if f.kind != K_HEADER {
                return Err(corrupt_at(&rpath, 0, "the store header is missing"));
            }
            check_header(f.payload, key, &rpath)?;
            continue;
        }
        let name = match f.kind {
            K_PUT => None,
            K_DEL => Some(decode_del(f.payload).map_err(|w| corrupt_at(&rpath, f.off as u64, w))?),
            k => {
                return Err(corrupt_at(
                    &rpath,
                    f.off as u64,
                    format!("unknown record kind {k}"),
                ))
            }
        };
        let rec = match name {
            Some(_) => None,
            None => Some(decode_put(f.payload).map_err(|w| corrupt_at(&rpath, f.off as u64, w))?),
        };
        let name = name.unwrap_or_else(|| rec.as_ref().map_or(String::new(), |r| r.name.clone()));
        if let Some((old, prev)) = users.remove(&name) {
            for t in &prev.tokens {
                if token_at.get(&t.id) == Some(&old) {
                    token_at.remove(&t.id);
                }
            }
        }
        if let Some(rec) = rec {
            for t in &rec.tokens {
                token_at.insert(t.id.clone(), f.off);
            }
            users.insert(name, (f.off, rec));
        }
    }
    if frames.is_empty() {
        return Err(corrupt_at(&rpath, 0, "the store header is missing"));
    }
    drop(frames);
    let spath = dir.join("state");
    let state = match std::fs::read(&spath) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(ioe(&spath, e)),
    };
    let slots = Slots {
        overlay: replay(dir)?,
        state,
        spath,
    };
    let mut out = Contents::default();
    for (off, rec) in users.into_values() {
        let mut user = rec_user(&rec, key)?;
        if let Img::Use(img) = slots.get(
            rec.slot,
            rec.inc,
            SLOT_USER,
            &format!("user '{}'", rec.name),
        )? {
            let flags = img[9];
            user.failures = le32(&img[12..]);
            user.locked_until = (flags & 1 != 0).then(|| le64(&img[16..]));
            user.last_success = (flags & 2 != 0).then(|| le64(&img[24..]));
        }
        out.users.push(user);
        for t in rec
            .tokens
            .iter()
            .filter(|t| token_at.get(&t.id) == Some(&off))
        {
            let what = format!("token '{}'", t.id);
            let mut token = rec_token(&rec.name, t, key)?;
            if let Img::Use(img) = slots.get(t.slot, t.inc, SLOT_TOKEN, &what)? {
                let flags = img[9];
                token.last = (flags & 1 != 0).then(|| le64(&img[16..]));
                token.last_used = (flags & 2 != 0).then(|| le64(&img[24..]));
                token.drift = le64(&img[32..]) as i64;
                token.state = state_of(img[10]).map_err(|w| StoreError::Corrupt(what, w))?;
            }
            out.tokens.push(token);
        }
    }
    out.users.sort_by(|a, b| a.name.cmp(&b.name));
    out.tokens.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

fn rec_user(r: &UserRec, key: &StoreKey) -> Result<User, StoreError> {
    let pin = match &r.pin {
        None => None,
        Some(sealed) => Some(Secret::new(
            key.open(&aad(b"pin:", &r.name), sealed)
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
        groups: Vec::new(),
        replies: Vec::new(),
    })
}

fn rec_token(owner: &str, t: &TokRec, key: &StoreKey) -> Result<Token, StoreError> {
    let seed = key
        .open(&aad(b"seed:", &t.id), &t.seed)
        .ok_or_else(|| StoreError::Decrypt(format!("token '{}'", t.id)))?;
    Ok(Token {
        id: t.id.clone(),
        owner: owner.to_string(),
        serial: None,
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
