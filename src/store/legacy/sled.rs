//! Reader of the sled store of radotp 0.1.
//!
//! # The format (as the 0.1 engine wrote it)
//!
//! A sled 0.34 database directory with the trees
//!
//! - `meta`: `format` → `[1]`; `key-check` → the text
//!   `radotp store key check v1` sealed with AAD `key-check`;
//! - `users`: name → `01 flags(enabled 1, challenge 2, PIN 4, locked 8,
//!   last success 16) uint failures, uint created, [uint locked_until],
//!   [uint last_success], [bytes sealed PIN, AAD "pin:" + name]`;
//! - `tokens`: id → `01 flags(last 1, last_used 2) kind(0 TOTP, 1 HOTP)
//!   algorithm(0 SHA-1, 1 SHA-256, 2 SHA-512, 3 SM3) state(0 pending,
//!   1 active, 2 disabled) uint digits, uint period, uint zigzag drift,
//!   uint created, [uint last], [uint last_used], text owner, text
//!   description, bytes sealed seed (AAD "seed:" + id)`;
//! - `owners`: `owner \0 id` → empty (an index; not needed to read).
//!
//! Integers are unsigned LEB128, bytes and text a uint length first. The
//! 0.1 engine changed replay state in place (compare-and-swap), so the
//! records are the latest state: sled's own recovery at open is all there
//! is to apply. sled writes to its directory when it opens one, so the
//! reader opens a copy in a temporary directory: the original is never
//! modified.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::Contents;
use crate::otp::{Algorithm, Kind};
use crate::secret::Secret;
use crate::store::{aad, StoreError, StoreKey, Token, TokenState, User};

/// The plaintext sealed into `meta/key-check`.
pub const KEY_CHECK_TEXT: &[u8] = b"radotp store key check v1";
/// The AAD of the key check value.
pub const KEY_CHECK_AAD: &[u8] = b"key-check";
/// The format version in `meta/format`.
pub const FORMAT: u8 = 1;
/// The version byte that starts every record.
pub const V1: u8 = 1;

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

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = usize::try_from(self.uint()?).map_err(|_| "length out of range")?;
        if n > self.0.len() {
            return Err("truncated".into());
        }
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(b)
    }

    fn text(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| "text is not UTF-8".into())
    }

    fn opt(&mut self, present: bool) -> Result<Option<u64>, String> {
        if present {
            self.uint().map(Some)
        } else {
            Ok(None)
        }
    }

    fn version(&mut self) -> Result<(), String> {
        match self.byte()? {
            V1 => Ok(()),
            v => Err(format!("unknown record version {v}")),
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

fn decode_user(name: &str, b: &[u8], key: &StoreKey) -> Result<User, StoreError> {
    let corrupt = |why: String| StoreError::Corrupt(format!("user '{name}'"), why);
    let mut r = Reader(b);
    r.version().map_err(corrupt)?;
    let flags = r.byte().map_err(corrupt)?;
    if flags & !0x1f != 0 {
        return Err(corrupt("unknown flags".into()));
    }
    let failures = r.u32().map_err(corrupt)?;
    let created = r.uint().map_err(corrupt)?;
    let locked_until = r.opt(flags & 8 != 0).map_err(corrupt)?;
    let last_success = r.opt(flags & 16 != 0).map_err(corrupt)?;
    let pin = if flags & 4 != 0 {
        Some(r.bytes().map_err(corrupt)?)
    } else {
        None
    };
    r.end().map_err(corrupt)?;
    let pin = match pin {
        None => None,
        Some(sealed) => Some(Secret::new(
            key.open(&aad(b"pin:", name), sealed)
                .ok_or_else(|| StoreError::Decrypt(format!("user '{name}'")))?,
        )),
    };
    Ok(User {
        name: name.to_string(),
        pin,
        enabled: flags & 1 != 0,
        challenge: flags & 2 != 0,
        failures,
        locked_until,
        created,
        last_success,
        groups: Vec::new(),
        replies: Vec::new(),
    })
}

fn decode_token(id: &str, b: &[u8], key: &StoreKey) -> Result<Token, StoreError> {
    let corrupt = |why: String| StoreError::Corrupt(format!("token '{id}'"), why);
    let mut r = Reader(b);
    r.version().map_err(corrupt)?;
    let flags = r.byte().map_err(corrupt)?;
    if flags & !3 != 0 {
        return Err(corrupt("unknown flags".into()));
    }
    let kind = match r.byte().map_err(corrupt)? {
        0 => Kind::Totp,
        1 => Kind::Hotp,
        k => return Err(corrupt(format!("unknown token kind {k}"))),
    };
    let algorithm = match r.byte().map_err(corrupt)? {
        0 => Algorithm::Sha1,
        1 => Algorithm::Sha256,
        2 => Algorithm::Sha512,
        3 => Algorithm::Sm3,
        a => return Err(corrupt(format!("unknown algorithm {a}"))),
    };
    let state = match r.byte().map_err(corrupt)? {
        0 => TokenState::Pending,
        1 => TokenState::Active,
        2 => TokenState::Disabled,
        s => return Err(corrupt(format!("unknown token state {s}"))),
    };
    let digits = r.u32().map_err(corrupt)?;
    let period = r.u32().map_err(corrupt)?;
    let z = r.uint().map_err(corrupt)?;
    let drift = ((z >> 1) as i64) ^ -((z & 1) as i64);
    let created = r.uint().map_err(corrupt)?;
    let last = r.opt(flags & 1 != 0).map_err(corrupt)?;
    let last_used = r.opt(flags & 2 != 0).map_err(corrupt)?;
    let owner = r.text().map_err(corrupt)?;
    let description = r.text().map_err(corrupt)?;
    let sealed = r.bytes().map_err(corrupt)?;
    r.end().map_err(corrupt)?;
    let seed = key
        .open(&aad(b"seed:", id), sealed)
        .ok_or_else(|| StoreError::Decrypt(format!("token '{id}'")))?;
    Ok(Token {
        id: id.to_string(),
        owner,
        serial: None,
        kind,
        algorithm,
        digits,
        period,
        seed: Secret::new(seed),
        last,
        drift,
        state,
        description,
        created,
        last_used,
    })
}

/// Copies the directory tree `from` to `to` (which must not exist): files
/// and directories only.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().mode(0o700).create(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let ty = e.file_type()?;
        let dest = to.join(e.file_name());
        if ty.is_dir() {
            copy_tree(&e.path(), &dest)?;
        } else if ty.is_file() {
            std::fs::copy(e.path(), &dest)?;
        }
    }
    Ok(())
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn key_str(k: &[u8], what: &str) -> Result<String, StoreError> {
    String::from_utf8(k.to_vec())
        .map_err(|_| StoreError::Corrupt(what.to_string(), "key is not UTF-8".into()))
}

/// Reads the sled store in `dir` through a copy; `dir` is not modified.
/// `cache_bytes` bounds sled's page cache.
pub fn read(dir: &Path, key: &StoreKey, cache_bytes: u64) -> Result<Contents, StoreError> {
    let shown = dir.display().to_string();
    let open_err = |why: String| StoreError::Open {
        path: shown.clone(),
        why,
    };
    let base = std::env::temp_dir().join(format!(
        "radotp-migrate-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let tmp = TempDir(base);
    copy_tree(dir, &tmp.0).map_err(|e| {
        open_err(format!(
            "cannot copy it to {} to read it: {e}",
            tmp.0.display()
        ))
    })?;
    let db = ::sled::Config::new()
        .path(&tmp.0)
        .cache_capacity(cache_bytes)
        .open()
        .map_err(|e| open_err(format!("sled cannot open a copy of it: {e}")))?;
    let sled_err = |e: ::sled::Error| open_err(format!("reading the copy: {e}"));
    let meta = db.open_tree("meta").map_err(sled_err)?;
    match meta.get("format").map_err(sled_err)? {
        Some(v) if v.as_ref() == [FORMAT] => {}
        Some(v) => {
            return Err(open_err(format!(
                "unknown store format {:?}; this radotp reads format {FORMAT}",
                v.as_ref()
            )))
        }
        None => return Err(open_err("no meta/format: not a radotp 0.1 store".into())),
    }
    let Some(sealed) = meta.get("key-check").map_err(sled_err)? else {
        return Err(open_err("no meta/key-check: not a radotp 0.1 store".into()));
    };
    if key.open(KEY_CHECK_AAD, &sealed).as_deref() != Some(KEY_CHECK_TEXT) {
        return Err(StoreError::Key {
            path: format!("for the store at {shown}"),
            why: "the key file does not match this store (use the key file it was created with)"
                .into(),
        });
    }
    let mut out = Contents::default();
    for kv in db.open_tree("users").map_err(sled_err)?.iter() {
        let (k, v) = kv.map_err(sled_err)?;
        let name = key_str(&k, "a user")?;
        out.users.push(decode_user(&name, &v, key)?);
    }
    for kv in db.open_tree("tokens").map_err(sled_err)?.iter() {
        let (k, v) = kv.map_err(sled_err)?;
        let id = key_str(&k, "a token")?;
        out.tokens.push(decode_token(&id, &v, key)?);
    }
    drop(db);
    out.users.sort_by(|a, b| a.name.cmp(&b.name));
    out.tokens.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}
