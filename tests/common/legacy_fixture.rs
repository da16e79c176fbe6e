//! Test-only writers of the old store formats, so that the migration tests
//! start from stores made in the test rather than checked-in blobs.
//!
//! [`FileFixture`] writes exactly the 0.2 file-store format that
//! `src/store/legacy/file.rs` documents (records frames, state slots,
//! journal generations), and [`write_sled`] the 0.1 layout that
//! `src/store/legacy/sled.rs` documents, with the sled crate itself. They
//! are written from those format descriptions, not from the old engines
//! (which are gone); what the readers make of them is what the tests check.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use radotp::otp::{Algorithm, Kind};
use radotp::store::{StoreKey, Token, TokenState, User};

const KEY_CHECK_TEXT: &[u8] = b"radotp store key check v1";
const KEY_CHECK_AAD: &[u8] = b"key-check";

fn put_uint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn kind_code(k: Kind) -> u8 {
    match k {
        Kind::Totp => 0,
        Kind::Hotp => 1,
    }
}

fn alg_code(a: Algorithm) -> u8 {
    match a {
        Algorithm::Sha1 => 0,
        Algorithm::Sha256 => 1,
        Algorithm::Sha512 => 2,
        Algorithm::Sm3 => 3,
    }
}

pub fn state_code(s: TokenState) -> u8 {
    match s {
        TokenState::Pending => 0,
        TokenState::Active => 1,
        TokenState::Disabled => 2,
    }
}

fn with_name(prefix: &[u8], name: &str) -> Vec<u8> {
    [prefix, name.as_bytes()].concat()
}

/// `[u32 len][u32 crc32 of kind and payload][kind][payload]`.
fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![kind];
    body.extend_from_slice(payload);
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// A 64-byte slot image: incarnation, kind, flags, state, failures, a, b,
/// c, crc32 of the first 60 bytes.
fn image(inc: u64, kind: u8, flags: u8, state: u8, failures: u32, abc: [u64; 3]) -> [u8; 64] {
    let mut img = [0u8; 64];
    img[0..8].copy_from_slice(&inc.to_le_bytes());
    img[8] = kind;
    img[9] = flags;
    img[10] = state;
    img[12..16].copy_from_slice(&failures.to_le_bytes());
    for (i, v) in abc.iter().enumerate() {
        img[16 + 8 * i..24 + 8 * i].copy_from_slice(&v.to_le_bytes());
    }
    let crc = crc32fast::hash(&img[..60]);
    img[60..].copy_from_slice(&crc.to_le_bytes());
    img
}

/// The hot fields of a user as a slot image.
pub fn user_image(
    inc: u64,
    failures: u32,
    locked_until: Option<u64>,
    last_success: Option<u64>,
) -> [u8; 64] {
    let flags = u8::from(locked_until.is_some()) | u8::from(last_success.is_some()) << 1;
    image(
        inc,
        1,
        flags,
        0,
        failures,
        [locked_until.unwrap_or(0), last_success.unwrap_or(0), 0],
    )
}

/// The hot fields of a token as a slot image.
pub fn token_image(
    inc: u64,
    last: Option<u64>,
    last_used: Option<u64>,
    drift: i64,
    state: TokenState,
) -> [u8; 64] {
    let flags = u8::from(last.is_some()) | u8::from(last_used.is_some()) << 1;
    image(
        inc,
        2,
        flags,
        state_code(state),
        0,
        [last.unwrap_or(0), last_used.unwrap_or(0), drift as u64],
    )
}

/// A 0.2 file store being written: records in memory until [`Self::write`].
pub struct FileFixture {
    pub dir: PathBuf,
    key: StoreKey,
    records: Vec<u8>,
    /// `u:name` / `t:id` → (slot, incarnation of the last write).
    slots: HashMap<String, (u64, u64)>,
    next_slot: u64,
    next_inc: u64,
}

impl FileFixture {
    /// A new store at `dir` (created) sealed under `key`: the header
    /// frame with its key check.
    pub fn new(dir: &Path, key: StoreKey) -> FileFixture {
        std::fs::create_dir_all(dir).unwrap();
        let mut header = b"RADOTPFS".to_vec();
        header.push(1);
        put_bytes(&mut header, &key.seal(KEY_CHECK_AAD, KEY_CHECK_TEXT));
        FileFixture {
            dir: dir.to_path_buf(),
            key,
            records: frame(0, &header),
            slots: HashMap::new(),
            next_slot: 0,
            next_inc: 0x1000,
        }
    }

    fn slot(&mut self, k: String) -> (u64, u64) {
        self.next_inc += 1;
        let inc = self.next_inc;
        let next = &mut self.next_slot;
        let e = self.slots.entry(k).or_insert_with(|| {
            *next += 1;
            (*next - 1, 0)
        });
        e.1 = inc;
        *e
    }

    /// The slot and current incarnation of `u:name` or `t:id`.
    pub fn slot_of(&self, k: &str) -> (u64, u64) {
        self.slots[k]
    }

    /// Appends a user record holding `tokens` (a rewrite keeps the slots,
    /// new incarnations). Returns the frame's offset.
    pub fn put(&mut self, u: &User, tokens: &[Token]) -> u64 {
        let (slot, inc) = self.slot(format!("u:{}", u.name));
        let mut o = Vec::new();
        put_bytes(&mut o, u.name.as_bytes());
        put_uint(&mut o, slot);
        o.extend_from_slice(&inc.to_le_bytes());
        o.push(
            u8::from(u.enabled)
                | u8::from(u.challenge) << 1
                | u8::from(u.pin.is_some()) << 2
                | u8::from(u.locked_until.is_some()) << 3
                | u8::from(u.last_success.is_some()) << 4,
        );
        put_uint(&mut o, u.failures.into());
        put_uint(&mut o, u.created);
        if let Some(v) = u.locked_until {
            put_uint(&mut o, v);
        }
        if let Some(v) = u.last_success {
            put_uint(&mut o, v);
        }
        if let Some(p) = &u.pin {
            put_bytes(
                &mut o,
                &self.key.seal(&with_name(b"pin:", &u.name), p.expose()),
            );
        }
        put_uint(&mut o, tokens.len() as u64);
        for t in tokens {
            let (slot, inc) = self.slot(format!("t:{}", t.id));
            put_bytes(&mut o, t.id.as_bytes());
            put_uint(&mut o, slot);
            o.extend_from_slice(&inc.to_le_bytes());
            o.push(u8::from(t.last.is_some()) | u8::from(t.last_used.is_some()) << 1);
            o.push(kind_code(t.kind));
            o.push(alg_code(t.algorithm));
            o.push(state_code(t.state));
            put_uint(&mut o, t.digits.into());
            put_uint(&mut o, t.period.into());
            put_uint(&mut o, zigzag(t.drift));
            put_uint(&mut o, t.created);
            if let Some(v) = t.last {
                put_uint(&mut o, v);
            }
            if let Some(v) = t.last_used {
                put_uint(&mut o, v);
            }
            put_bytes(&mut o, t.description.as_bytes());
            put_bytes(
                &mut o,
                &self.key.seal(&with_name(b"seed:", &t.id), t.seed.expose()),
            );
        }
        let off = self.records.len() as u64;
        self.records.extend_from_slice(&frame(1, &o));
        off
    }

    /// Appends a deletion of `name`.
    pub fn delete(&mut self, name: &str) -> u64 {
        let mut o = Vec::new();
        put_bytes(&mut o, name.as_bytes());
        let off = self.records.len() as u64;
        self.records.extend_from_slice(&frame(2, &o));
        off
    }

    /// The records written so far.
    pub fn records(&self) -> &[u8] {
        &self.records
    }

    /// Writes `records` (and an empty `state` and `lock` where none is).
    pub fn write(&self) {
        std::fs::write(self.dir.join("records"), &self.records).unwrap();
        for f in ["state", "lock"] {
            let p = self.dir.join(f);
            if !p.exists() {
                std::fs::write(p, b"").unwrap();
            }
        }
    }

    /// Writes `img` into slot `slot` of `state`.
    pub fn set_state(&self, slot: u64, img: &[u8; 64]) {
        let p = self.dir.join("state");
        let mut b = std::fs::read(&p).unwrap_or_default();
        let at = slot as usize * 64;
        if b.len() < at + 64 {
            b.resize(at + 64, 0);
        }
        b[at..at + 64].copy_from_slice(img);
        std::fs::write(p, b).unwrap();
    }

    /// Writes journal generation `gen`: `[u64 slot][image][u32 crc32]`
    /// entries, then zeros laid out ahead as the 0.2 engine did.
    pub fn journal(&self, gen: u64, entries: &[(u64, [u8; 64])]) -> PathBuf {
        let mut b = Vec::new();
        for (slot, img) in entries {
            let start = b.len();
            b.extend_from_slice(&slot.to_le_bytes());
            b.extend_from_slice(img);
            let crc = crc32fast::hash(&b[start..]);
            b.extend_from_slice(&crc.to_le_bytes());
        }
        b.resize(b.len() + 4096, 0);
        let p = self.dir.join(format!("journal.{gen:016x}"));
        std::fs::write(&p, b).unwrap();
        p
    }
}

/// Writes a 0.1 sled store at `dir` with the sled crate: trees `meta`,
/// `users`, `tokens` and `owners`, records as the sled reader documents.
pub fn write_sled(dir: &Path, key: &StoreKey, users: &[User], tokens: &[Token]) {
    let db = sled::Config::new().path(dir).open().unwrap();
    let meta = db.open_tree("meta").unwrap();
    meta.insert("format", &[1u8]).unwrap();
    meta.insert("key-check", key.seal(KEY_CHECK_AAD, KEY_CHECK_TEXT))
        .unwrap();
    let ut = db.open_tree("users").unwrap();
    for u in users {
        let mut o = vec![1u8];
        o.push(
            u8::from(u.enabled)
                | u8::from(u.challenge) << 1
                | u8::from(u.pin.is_some()) << 2
                | u8::from(u.locked_until.is_some()) << 3
                | u8::from(u.last_success.is_some()) << 4,
        );
        put_uint(&mut o, u.failures.into());
        put_uint(&mut o, u.created);
        if let Some(v) = u.locked_until {
            put_uint(&mut o, v);
        }
        if let Some(v) = u.last_success {
            put_uint(&mut o, v);
        }
        if let Some(p) = &u.pin {
            put_bytes(&mut o, &key.seal(&with_name(b"pin:", &u.name), p.expose()));
        }
        ut.insert(u.name.as_bytes(), o).unwrap();
    }
    let tt = db.open_tree("tokens").unwrap();
    let ot = db.open_tree("owners").unwrap();
    for t in tokens {
        let mut o = vec![1u8];
        o.push(u8::from(t.last.is_some()) | u8::from(t.last_used.is_some()) << 1);
        o.push(kind_code(t.kind));
        o.push(alg_code(t.algorithm));
        o.push(state_code(t.state));
        put_uint(&mut o, t.digits.into());
        put_uint(&mut o, t.period.into());
        put_uint(&mut o, zigzag(t.drift));
        put_uint(&mut o, t.created);
        if let Some(v) = t.last {
            put_uint(&mut o, v);
        }
        if let Some(v) = t.last_used {
            put_uint(&mut o, v);
        }
        put_bytes(&mut o, t.owner.as_bytes());
        put_bytes(&mut o, t.description.as_bytes());
        put_bytes(
            &mut o,
            &key.seal(&with_name(b"seed:", &t.id), t.seed.expose()),
        );
        tt.insert(t.id.as_bytes(), o).unwrap();
        ot.insert([t.owner.as_bytes(), b"\0", t.id.as_bytes()].concat(), b"")
            .unwrap();
    }
    db.flush().unwrap();
}
