//! The sled-backed [`TokenStore`](super::TokenStore), seeds and PINs
//! encrypted at rest, with group-commit `sync`.
//!
//! # Layout
//!
//! - tree `users`: user name → user record;
//! - tree `tokens`: token id → token record;
//! - tree `owners`: `owner \0 id` → empty, so that the tokens of one user are
//!   a prefix scan;
//! - tree `meta`: the format version and a key check value (a known text
//!   sealed under the store key) verified at open, so that a wrong key file
//!   is reported at once instead of at the first authentication.
//!
//! Records are a compact versioned binary layout (module `codec`): a leading
//! version byte, a flags byte, LEB128 integers and length-prefixed byte
//! strings. A token's seed is sealed with AAD `b"seed:" + id`, a user's PIN
//! with AAD `b"pin:" + name`; nothing else is secret. Hot-path changes
//! (`commit_use`, `record_failure`, `record_success`) re-encode the record
//! around the sealed bytes without decrypting them and swap it in with
//! sled's compare-and-swap; changes that touch several trees run in a sled
//! transaction.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::{Batch, Db, IVec, Transactional, Tree};

use super::{
    aad, count_failure, par_map, LockRule, StoreError, StoreKey, Token, TokenState, TokenStore,
    User,
};
use crate::secret::Secret;

use self::codec::{TokenRec, UserRec};

/// The plaintext sealed into `meta/key-check`.
const KEY_CHECK_TEXT: &[u8] = b"radotp store key check v1";
/// The AAD of the key check value.
const KEY_CHECK_AAD: &[u8] = b"key-check";
/// The on-disk format version, stored in `meta/format`.
const FORMAT: u8 = 1;
/// Records per `apply_batch` during [`TokenStore::import`].
const IMPORT_CHUNK: usize = 20_000;

/// Group-commit counters, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Flushes performed.
    pub flushes: u64,
    /// `sync` calls served.
    pub callers: u64,
}

#[derive(Debug, Default)]
struct SyncState {
    /// Tickets handed out (one per `sync` call).
    issued: u64,
    /// Every ticket up to this one is durable.
    done: u64,
    /// A leader is flushing right now.
    flushing: bool,
    stats: SyncStats,
}

/// The embedded store.
pub struct SledStore {
    db: Db,
    users: Tree,
    tokens: Tree,
    owners: Tree,
    key: StoreKey,
    path: String,
    sync: Mutex<SyncState>,
    synced: Condvar,
    n_users: AtomicUsize,
    n_tokens: AtomicUsize,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn io(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

fn tx_err(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => io(e),
    }
}

fn abort<T>(e: StoreError) -> Result<T, ConflictableTransactionError<StoreError>> {
    Err(ConflictableTransactionError::Abort(e))
}

/// Lowers a record counter without wrapping below zero.
fn dec(counter: &AtomicUsize, n: usize) {
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
        Some(c.saturating_sub(n))
    });
}

fn index_key(owner: &str, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(owner.len() + 1 + id.len());
    k.extend_from_slice(owner.as_bytes());
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k
}

fn key_str(k: &[u8], what: &str) -> Result<String, StoreError> {
    String::from_utf8(k.to_vec())
        .map_err(|_| StoreError::Corrupt(what.to_string(), "key is not UTF-8".into()))
}

impl SledStore {
    /// Opens (creating if needed) the database directory `path`.
    /// `cache_bytes` bounds sled's page cache.
    pub fn open(path: &Path, key: StoreKey, cache_bytes: u64) -> Result<SledStore, StoreError> {
        let shown = path.display().to_string();
        let open_err = |why: String| StoreError::Open {
            path: shown.clone(),
            why,
        };
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(|e| match e {
                // sled reports its file lock as an Io error whose text
                // names it (the kind is not always WouldBlock).
                sled::Error::Io(ref io)
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.to_string().contains("could not acquire lock") =>
                {
                    StoreError::InUse(shown.clone())
                }
                e => open_err(e.to_string()),
            })?;
        let tree = |name: &str| db.open_tree(name).map_err(|e| open_err(e.to_string()));
        let users = tree("users")?;
        let tokens = tree("tokens")?;
        let owners = tree("owners")?;
        let meta = tree("meta")?;

        match meta.get("format").map_err(io)? {
            None => {
                meta.insert("format", &[FORMAT]).map_err(io)?;
            }
            Some(v) if v.as_ref() == [FORMAT] => {}
            Some(v) => {
                return Err(open_err(format!(
                    "unknown store format {:?}; this radotp reads format {FORMAT}",
                    v.as_ref()
                )))
            }
        }
        match meta.get("key-check").map_err(io)? {
            Some(sealed) => {
                let ok = key
                    .open(KEY_CHECK_AAD, &sealed)
                    .is_some_and(|p| p == KEY_CHECK_TEXT);
                if !ok {
                    return Err(StoreError::Key {
                        path: format!("for the store at {shown}"),
                        why: "the key file does not match this store \
                              (use the key file it was created with)"
                            .into(),
                    });
                }
            }
            None => {
                meta.insert("key-check", key.seal(KEY_CHECK_AAD, KEY_CHECK_TEXT))
                    .map_err(io)?;
                db.flush().map_err(io)?;
            }
        }
        let n_users = AtomicUsize::new(users.len());
        let n_tokens = AtomicUsize::new(tokens.len());
        Ok(SledStore {
            db,
            users,
            tokens,
            owners,
            key,
            path: shown,
            sync: Mutex::new(SyncState::default()),
            synced: Condvar::new(),
            n_users,
            n_tokens,
        })
    }

    /// Group-commit counters: flushes done and `sync` callers served.
    pub fn sync_stats(&self) -> SyncStats {
        self.lock_sync().stats
    }

    /// Bytes sled uses on disk (its own estimate).
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.db.size_on_disk().map_err(io)
    }

    fn lock_sync(&self) -> MutexGuard<'_, SyncState> {
        // The guarded counters stay consistent even if a holder panicked.
        self.sync.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn seal_user(&self, u: &User) -> UserRec {
        UserRec {
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
        }
    }

    fn open_user(&self, name: &str, r: UserRec) -> Result<User, StoreError> {
        let pin = match r.pin {
            None => None,
            Some(sealed) => Some(Secret::new(
                self.key
                    .open(&aad(b"pin:", name), &sealed)
                    .ok_or_else(|| StoreError::Decrypt(format!("user '{name}'")))?,
            )),
        };
        Ok(User {
            name: name.to_string(),
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

    fn seal_token(&self, t: &Token) -> TokenRec {
        TokenRec {
            owner: t.owner.clone(),
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

    fn open_token(&self, id: &str, r: TokenRec) -> Result<Token, StoreError> {
        let seed = self
            .key
            .open(&aad(b"seed:", id), &r.seed)
            .ok_or_else(|| StoreError::Decrypt(format!("token '{id}'")))?;
        Ok(Token {
            id: id.to_string(),
            owner: r.owner,
            kind: r.kind,
            algorithm: r.algorithm,
            digits: r.digits,
            period: r.period,
            seed: Secret::new(seed),
            last: r.last,
            drift: r.drift,
            state: r.state,
            description: r.description,
            created: r.created,
            last_used: r.last_used,
        })
    }

    fn decode_user(name: &str, bytes: &[u8]) -> Result<UserRec, StoreError> {
        UserRec::decode(bytes).map_err(|why| StoreError::Corrupt(format!("user '{name}'"), why))
    }

    fn decode_token(id: &str, bytes: &[u8]) -> Result<TokenRec, StoreError> {
        TokenRec::decode(bytes).map_err(|why| StoreError::Corrupt(format!("token '{id}'"), why))
    }

    /// Read-modify-CAS loop on one user record. `change` returns false to
    /// leave the record alone. Returns the record as stored afterwards.
    fn update_user_rec(
        &self,
        name: &str,
        mut change: impl FnMut(&mut UserRec) -> bool,
    ) -> Result<Option<UserRec>, StoreError> {
        loop {
            let Some(old) = self.users.get(name).map_err(io)? else {
                return Ok(None);
            };
            let mut rec = Self::decode_user(name, &old)?;
            if !change(&mut rec) {
                return Ok(Some(rec));
            }
            let new = rec.encode();
            match self
                .users
                .compare_and_swap(name, Some(old), Some(new))
                .map_err(io)?
            {
                Ok(()) => return Ok(Some(rec)),
                Err(_) => continue,
            }
        }
    }
}

impl TokenStore for SledStore {
    fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        match self.users.get(name).map_err(io)? {
            None => Ok(None),
            Some(b) => Ok(Some(self.open_user(name, Self::decode_user(name, &b)?)?)),
        }
    }

    fn users(&self) -> Result<Vec<User>, StoreError> {
        let mut out = Vec::new();
        for kv in self.users.iter() {
            let (k, v) = kv.map_err(io)?;
            let name = key_str(&k, "a user")?;
            let rec = Self::decode_user(&name, &v)?;
            out.push(self.open_user(&name, rec)?);
        }
        Ok(out)
    }

    fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        user.legacy_check()?;
        let rec = self.seal_user(user).encode();
        match self
            .users
            .compare_and_swap(user.name.as_bytes(), None as Option<&[u8]>, Some(rec))
            .map_err(io)?
        {
            Ok(()) => {
                self.n_users.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(_) => Err(StoreError::UserExists(user.name.clone())),
        }
    }

    fn update_user(&self, user: &User) -> Result<(), StoreError> {
        user.legacy_check()?;
        let rec = IVec::from(self.seal_user(user).encode());
        loop {
            let Some(old) = self.users.get(&user.name).map_err(io)? else {
                return Err(StoreError::NoSuchUser(user.name.clone()));
            };
            if self
                .users
                .compare_and_swap(user.name.as_bytes(), Some(old), Some(rec.clone()))
                .map_err(io)?
                .is_ok()
            {
                return Ok(());
            }
        }
    }

    fn delete_user(&self, name: &str) -> Result<(), StoreError> {
        let mut prefix = name.as_bytes().to_vec();
        prefix.push(0);
        let scan = |prefix: &[u8]| -> Result<Vec<IVec>, StoreError> {
            self.owners
                .scan_prefix(prefix)
                .keys()
                .collect::<Result<Vec<_>, _>>()
                .map_err(io)
        };
        let remove = |keys: &[IVec], remove_user: bool| -> Result<usize, StoreError> {
            (&self.users, &self.tokens, &self.owners)
                .transaction(|(users, tokens, owners)| {
                    if remove_user && users.remove(name.as_bytes())?.is_none() {
                        return abort(StoreError::NoSuchUser(name.to_string()));
                    }
                    let mut removed = 0;
                    for k in keys {
                        let id = k.get(prefix.len()..).unwrap_or_default();
                        let Some(t) = tokens.get(id)? else {
                            owners.remove(k)?; // stale entry
                            continue;
                        };
                        let rec = match Self::decode_token(&String::from_utf8_lossy(id), &t) {
                            Ok(r) => r,
                            Err(e) => return abort(e),
                        };
                        // A token of another owner can share the prefix only
                        // if a name contains NUL; leave it alone.
                        if rec.owner == name {
                            owners.remove(k)?;
                            tokens.remove(id)?;
                            removed += 1;
                        }
                    }
                    Ok(removed)
                })
                .map_err(tx_err)
        };
        let first = scan(&prefix)?;
        let mut removed = remove(&first, true)?;
        dec(&self.n_users, 1);
        // A token inserted between the scan and the transaction is caught
        // here; no new one can be added now that the user is gone.
        let late: Vec<IVec> = scan(&prefix)?
            .into_iter()
            .filter(|k| !first.contains(k))
            .collect();
        if !late.is_empty() {
            removed += remove(&late, false)?;
        }
        dec(&self.n_tokens, removed);
        Ok(())
    }

    fn token(&self, id: &str) -> Result<Option<Token>, StoreError> {
        match self.tokens.get(id).map_err(io)? {
            None => Ok(None),
            Some(b) => Ok(Some(self.open_token(id, Self::decode_token(id, &b)?)?)),
        }
    }

    fn tokens(&self) -> Result<Vec<Token>, StoreError> {
        let mut out = Vec::new();
        for kv in self.tokens.iter() {
            let (k, v) = kv.map_err(io)?;
            let id = key_str(&k, "a token")?;
            let rec = Self::decode_token(&id, &v)?;
            out.push(self.open_token(&id, rec)?);
        }
        Ok(out)
    }

    fn tokens_of(&self, owner: &str) -> Result<Vec<Token>, StoreError> {
        let mut prefix = owner.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for k in self.owners.scan_prefix(&prefix).keys() {
            let k = k.map_err(io)?;
            let id = key_str(k.get(prefix.len()..).unwrap_or_default(), "an index entry")?;
            let Some(v) = self.tokens.get(&id).map_err(io)? else {
                continue;
            };
            let rec = Self::decode_token(&id, &v)?;
            if rec.owner == owner {
                out.push(self.open_token(&id, rec)?);
            }
        }
        Ok(out)
    }

    fn insert_token(&self, token: &Token) -> Result<(), StoreError> {
        let rec = self.seal_token(token).encode();
        let idx = index_key(&token.owner, &token.id);
        (&self.users, &self.tokens, &self.owners)
            .transaction(|(users, tokens, owners)| {
                if users.get(token.owner.as_bytes())?.is_none() {
                    return abort(StoreError::NoSuchUser(token.owner.clone()));
                }
                if tokens.get(token.id.as_bytes())?.is_some() {
                    return abort(StoreError::TokenExists(token.id.clone()));
                }
                tokens.insert(token.id.as_bytes(), rec.as_slice())?;
                owners.insert(idx.as_slice(), &[])?;
                Ok(())
            })
            .map_err(tx_err)?;
        self.n_tokens.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn update_token(&self, token: &Token) -> Result<(), StoreError> {
        let rec = self.seal_token(token).encode();
        let idx = index_key(&token.owner, &token.id);
        (&self.users, &self.tokens, &self.owners)
            .transaction(|(users, tokens, owners)| {
                let Some(old) = tokens.get(token.id.as_bytes())? else {
                    return abort(StoreError::NoSuchToken(token.id.clone()));
                };
                if users.get(token.owner.as_bytes())?.is_none() {
                    return abort(StoreError::NoSuchUser(token.owner.clone()));
                }
                let old = match Self::decode_token(&token.id, &old) {
                    Ok(r) => r,
                    Err(e) => return abort(e),
                };
                if old.owner != token.owner {
                    owners.remove(index_key(&old.owner, &token.id))?;
                    owners.insert(idx.as_slice(), &[])?;
                }
                tokens.insert(token.id.as_bytes(), rec.as_slice())?;
                Ok(())
            })
            .map_err(tx_err)
    }

    fn delete_token(&self, id: &str) -> Result<(), StoreError> {
        (&self.tokens, &self.owners)
            .transaction(|(tokens, owners)| {
                let Some(old) = tokens.remove(id.as_bytes())? else {
                    return abort(StoreError::NoSuchToken(id.to_string()));
                };
                match Self::decode_token(id, &old) {
                    Ok(r) => owners.remove(index_key(&r.owner, id))?,
                    Err(e) => return abort(e),
                };
                Ok(())
            })
            .map_err(tx_err)?;
        dec(&self.n_tokens, 1);
        Ok(())
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
        loop {
            let Some(old) = self.tokens.get(id).map_err(io)? else {
                return Err(StoreError::NoSuchToken(id.to_string()));
            };
            let mut rec = Self::decode_token(id, &old)?;
            if rec.last != expected_last {
                return Ok(false);
            }
            rec.last = Some(new_last);
            rec.drift = drift;
            rec.last_used = Some(now);
            if activate && rec.state == TokenState::Pending {
                rec.state = TokenState::Active;
            }
            // The swap succeeds only if the record is byte-for-byte the one
            // we checked; otherwise someone changed it: read and check again.
            if self
                .tokens
                .compare_and_swap(id, Some(old), Some(rec.encode()))
                .map_err(io)?
                .is_ok()
            {
                return Ok(true);
            }
        }
    }

    fn record_failure(
        &self,
        name: &str,
        now: u64,
        rule: LockRule,
    ) -> Result<Option<User>, StoreError> {
        let rec = self.update_user_rec(name, |r| {
            count_failure(&mut r.failures, &mut r.locked_until, now, rule);
            true
        })?;
        rec.map(|r| self.open_user(name, r)).transpose()
    }

    fn record_success(&self, name: &str, now: u64) -> Result<(), StoreError> {
        let rec = self.update_user_rec(name, |r| {
            r.failures = 0;
            r.locked_until = None;
            r.last_success = Some(now);
            true
        })?;
        match rec {
            Some(_) => Ok(()),
            None => Err(StoreError::NoSuchUser(name.to_string())),
        }
    }

    fn sync(&self) -> Result<(), StoreError> {
        let mut st = self.lock_sync();
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
                let covered = st.issued;
                drop(st);
                let result = self.db.flush();
                let mut st = self.lock_sync();
                st.flushing = false;
                st.stats.flushes += 1;
                if result.is_ok() {
                    st.done = st.done.max(covered);
                }
                // On failure the waiters retry with a flush of their own.
                self.synced.notify_all();
                return result.map(|_| ()).map_err(io);
            }
            st = self.synced.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn flushes(&self) -> Option<u64> {
        Some(self.sync_stats().flushes)
    }

    fn counts(&self) -> Result<(usize, usize), StoreError> {
        Ok((
            self.n_users.load(Ordering::Relaxed),
            self.n_tokens.load(Ordering::Relaxed),
        ))
    }

    fn import(&self, users: &[User], tokens: &[Token]) -> Result<(), StoreError> {
        for u in users {
            u.legacy_check()?;
        }
        // Check everything first.
        let new_users: HashSet<&str> = users.iter().map(|u| u.name.as_str()).collect();
        let mut seen = HashSet::with_capacity(tokens.len());
        for t in tokens {
            if !seen.insert(t.id.as_str()) || self.tokens.contains_key(&t.id).map_err(io)? {
                return Err(StoreError::TokenExists(t.id.clone()));
            }
            if !new_users.contains(t.owner.as_str())
                && !self.users.contains_key(&t.owner).map_err(io)?
            {
                return Err(StoreError::NoSuchUser(t.owner.clone()));
            }
        }
        // Users not stored yet; the first of repeated names wins.
        let mut added = HashSet::new();
        let mut fresh = Vec::new();
        for u in users {
            if !added.contains(u.name.as_str()) && !self.users.contains_key(&u.name).map_err(io)? {
                added.insert(u.name.as_str());
                fresh.push(u);
            }
        }
        for chunk in fresh.chunks(IMPORT_CHUNK) {
            let recs = par_map(chunk, |u| self.seal_user(u).encode())?;
            let mut batch = Batch::default();
            for (u, rec) in chunk.iter().zip(recs) {
                batch.insert(u.name.as_bytes(), rec);
            }
            self.users.apply_batch(batch).map_err(io)?;
            self.n_users.fetch_add(chunk.len(), Ordering::Relaxed);
        }
        // Index entries before records: an interrupted import leaves at
        // worst index entries without a token, which readers skip.
        for chunk in tokens.chunks(IMPORT_CHUNK) {
            let recs = par_map(chunk, |t| self.seal_token(t).encode())?;
            let mut idx = Batch::default();
            let mut batch = Batch::default();
            for (t, rec) in chunk.iter().zip(recs) {
                idx.insert(index_key(&t.owner, &t.id), &[]);
                batch.insert(t.id.as_bytes(), rec);
            }
            self.owners.apply_batch(idx).map_err(io)?;
            self.tokens.apply_batch(batch).map_err(io)?;
            self.n_tokens.fetch_add(chunk.len(), Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The binary record layout, version 1.
///
/// ```text
/// user:  01 flags(enabled=1 challenge=2 pin=4 locked=8 success=16)
///        failures created [locked_until] [last_success] [len pin_sealed]
/// token: 01 flags(last=1 last_used=2) kind alg state
///        digits period zigzag(drift) created [last] [last_used]
///        len owner  len description  len seed_sealed
/// ```
///
/// Integers are unsigned LEB128; the key (name or id) is not repeated.
pub(crate) mod codec {
    use crate::otp::{Algorithm, Kind};
    use crate::store::TokenState;

    const V1: u8 = 1;

    /// A user record as stored: the PIN still sealed.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct UserRec {
        pub pin: Option<Vec<u8>>,
        pub enabled: bool,
        pub challenge: bool,
        pub failures: u32,
        pub locked_until: Option<u64>,
        pub created: u64,
        pub last_success: Option<u64>,
    }

    /// A token record as stored: the seed still sealed.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct TokenRec {
        pub owner: String,
        pub kind: Kind,
        pub algorithm: Algorithm,
        pub digits: u32,
        pub period: u32,
        pub seed: Vec<u8>,
        pub last: Option<u64>,
        pub drift: i64,
        pub state: TokenState,
        pub description: String,
        pub created: u64,
        pub last_used: Option<u64>,
    }

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

        fn string(&mut self) -> Result<String, String> {
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

    impl UserRec {
        pub fn encode(&self) -> Vec<u8> {
            let mut out = Vec::with_capacity(16 + self.pin.as_ref().map_or(0, Vec::len));
            out.push(V1);
            let flags = u8::from(self.enabled)
                | u8::from(self.challenge) << 1
                | u8::from(self.pin.is_some()) << 2
                | u8::from(self.locked_until.is_some()) << 3
                | u8::from(self.last_success.is_some()) << 4;
            out.push(flags);
            put_uint(&mut out, self.failures.into());
            put_uint(&mut out, self.created);
            if let Some(v) = self.locked_until {
                put_uint(&mut out, v);
            }
            if let Some(v) = self.last_success {
                put_uint(&mut out, v);
            }
            if let Some(p) = &self.pin {
                put_bytes(&mut out, p);
            }
            out
        }

        pub fn decode(b: &[u8]) -> Result<UserRec, String> {
            let mut r = Reader(b);
            r.version()?;
            let flags = r.byte()?;
            if flags & !0x1f != 0 {
                return Err("unknown flags".into());
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
            r.end()?;
            Ok(UserRec {
                pin,
                enabled: flags & 1 != 0,
                challenge: flags & 2 != 0,
                failures,
                locked_until,
                created,
                last_success,
            })
        }
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

    fn state_code(s: TokenState) -> u8 {
        match s {
            TokenState::Pending => 0,
            TokenState::Active => 1,
            TokenState::Disabled => 2,
        }
    }

    impl TokenRec {
        pub fn encode(&self) -> Vec<u8> {
            let mut out = Vec::with_capacity(
                24 + self.owner.len() + self.description.len() + self.seed.len(),
            );
            out.push(V1);
            out.push(u8::from(self.last.is_some()) | u8::from(self.last_used.is_some()) << 1);
            out.push(kind_code(self.kind));
            out.push(alg_code(self.algorithm));
            out.push(state_code(self.state));
            put_uint(&mut out, self.digits.into());
            put_uint(&mut out, self.period.into());
            put_uint(&mut out, ((self.drift << 1) ^ (self.drift >> 63)) as u64);
            put_uint(&mut out, self.created);
            if let Some(v) = self.last {
                put_uint(&mut out, v);
            }
            if let Some(v) = self.last_used {
                put_uint(&mut out, v);
            }
            put_bytes(&mut out, self.owner.as_bytes());
            put_bytes(&mut out, self.description.as_bytes());
            put_bytes(&mut out, &self.seed);
            out
        }

        pub fn decode(b: &[u8]) -> Result<TokenRec, String> {
            let mut r = Reader(b);
            r.version()?;
            let flags = r.byte()?;
            if flags & !3 != 0 {
                return Err("unknown flags".into());
            }
            let kind = match r.byte()? {
                0 => Kind::Totp,
                1 => Kind::Hotp,
                k => return Err(format!("unknown token kind {k}")),
            };
            let algorithm = match r.byte()? {
                0 => Algorithm::Sha1,
                1 => Algorithm::Sha256,
                2 => Algorithm::Sha512,
                3 => Algorithm::Sm3,
                a => return Err(format!("unknown algorithm {a}")),
            };
            let state = match r.byte()? {
                0 => TokenState::Pending,
                1 => TokenState::Active,
                2 => TokenState::Disabled,
                s => return Err(format!("unknown token state {s}")),
            };
            let digits = r.u32()?;
            let period = r.u32()?;
            let z = r.uint()?;
            let drift = ((z >> 1) as i64) ^ -((z & 1) as i64);
            let created = r.uint()?;
            let last = r.opt(flags & 1 != 0)?;
            let last_used = r.opt(flags & 2 != 0)?;
            let owner = r.string()?;
            let description = r.string()?;
            let seed = r.bytes()?.to_vec();
            r.end()?;
            Ok(TokenRec {
                owner,
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
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::codec::{TokenRec, UserRec};
    use super::*;
    use crate::otp::{Algorithm, Kind};
    use crate::store::conformance::token;
    use std::sync::atomic::AtomicU32;

    const KEY: [u8; 32] = [0x5a; 32];
    const CACHE: u64 = 16 << 20;

    /// Opens the test store. sled lets go of its file lock a moment after
    /// the last handle is dropped (its background threads still hold the
    /// database): a reopen right after a drop failed once in CI with
    /// `InUse`, so it is retried for up to 5 s. A held store is tested
    /// with `SledStore::open` itself.
    fn open(dir: &Path) -> SledStore {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match SledStore::open(dir, StoreKey::from_bytes(KEY), CACHE) {
                Err(StoreError::InUse(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                r => return r.unwrap(),
            }
        }
    }

    #[test]
    fn sled_store_passes_the_shared_suite() {
        let root = tempfile::tempdir().unwrap();
        let n = AtomicU32::new(0);
        crate::store::conformance::suite_without_api_keys(&|| {
            let i = n.fetch_add(1, Ordering::Relaxed);
            Box::new(open(&root.path().join(format!("db{i}"))))
        });
        // No API keys in the old formats: a clear refusal, not a panic.
        let old = open(&root.path().join("keys"));
        assert!(matches!(old.api_keys(), Err(StoreError::Invalid(m)) if m.contains("migrate")));
    }

    #[test]
    fn sync_shares_flushes_between_concurrent_callers() {
        let dir = tempfile::tempdir().unwrap();
        crate::store::conformance::sync_shares_flushes_between_concurrent_callers(&open(
            dir.path(),
        ));
    }

    #[test]
    fn second_open_of_a_held_store_says_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let first = open(dir.path());
        let second = SledStore::open(dir.path(), StoreKey::from_bytes(KEY), CACHE);
        assert!(
            matches!(second, Err(StoreError::InUse(_))),
            "{:?}",
            second.err()
        );
        drop(first);
    }

    #[test]
    fn sync_alone_flushes_each_time() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        for _ in 0..3 {
            s.sync().unwrap();
        }
        assert_eq!(
            s.sync_stats(),
            SyncStats {
                flushes: 3,
                callers: 3
            }
        );
    }

    #[test]
    fn store_opened_with_another_key_fails_clearly() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = open(dir.path());
            s.insert_user(&User::new("u", 1)).unwrap();
            s.sync().unwrap();
        }
        let err = SledStore::open(dir.path(), StoreKey::from_bytes([1; 32]), CACHE).unwrap_err();
        assert!(matches!(err, StoreError::Key { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("the key file does not match this store"),
            "{err}"
        );
        // The right key still opens it.
        assert!(open(dir.path()).user("u").unwrap().is_some());
    }

    #[test]
    fn reopen_after_drop_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let mut u = User::new("alice", 5);
        u.pin = Some(Secret::from("2468"));
        let t = token("t-1", "alice", b"12345678901234567890");
        {
            let s = open(dir.path());
            s.insert_user(&u).unwrap();
            s.insert_token(&t).unwrap();
            assert!(s.commit_use("t-1", None, 42, 1, 99, true).unwrap());
            s.sync().unwrap();
        }
        let s = open(dir.path());
        assert_eq!(s.counts().unwrap(), (1, 1));
        assert_eq!(s.user("alice").unwrap().unwrap(), u);
        let got = s.token("t-1").unwrap().unwrap();
        assert_eq!(got.seed.expose(), b"12345678901234567890");
        assert_eq!(
            (got.last, got.drift, got.state),
            (Some(42), 1, TokenState::Active)
        );
        assert_eq!(s.tokens_of("alice").unwrap().len(), 1);
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
            // A bulk import goes through the same sealing.
            let mut seed = vec![0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut seed);
            s.import(&[], &[token("t-imp", "alice", &seed)]).unwrap();
            seeds.push(seed);
            s.sync().unwrap();
            assert_eq!(
                s.token("t-3").unwrap().unwrap().seed.expose(),
                &seeds[3][..]
            );
        }
        let mut files = Vec::new();
        let mut stack = vec![dir.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    files.push(p);
                }
            }
        }
        assert!(!files.is_empty());
        let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
        let mut total = 0;
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            total += bytes.len();
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
        }
        assert!(total > 0);
        // The scan can find things: the non-secret user name is there.
        let all: Vec<u8> = files
            .iter()
            .flat_map(|f| std::fs::read(f).unwrap())
            .collect();
        assert!(contains(&all, b"alice"));
    }

    #[test]
    fn sealed_records_are_bound_to_their_id() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        s.insert_user(&User::new("u", 1)).unwrap();
        s.insert_token(&token("t-a", "u", b"seed-a")).unwrap();
        // Copy t-a's record under another id: the seed must not decrypt.
        let raw = s.tokens.get("t-a").unwrap().unwrap();
        s.tokens.insert("t-b", raw).unwrap();
        assert!(matches!(s.token("t-b"), Err(StoreError::Decrypt(_))));
        let mut u = User::new("v", 1);
        u.pin = Some(Secret::from("4321"));
        s.insert_user(&u).unwrap();
        let raw = s.users.get("v").unwrap().unwrap();
        s.users.insert("w", raw).unwrap();
        let err = s.user("w").unwrap_err();
        assert!(matches!(err, StoreError::Decrypt(_)));
        assert!(!err.to_string().contains("4321"));
    }

    #[test]
    fn record_codec_round_trips_and_rejects_damage() {
        let rec = TokenRec {
            owner: "ö-owner".into(),
            kind: Kind::Hotp,
            algorithm: Algorithm::Sha512,
            digits: 8,
            period: 30,
            seed: vec![1, 2, 3],
            last: Some(u64::MAX),
            drift: i64::MIN,
            state: TokenState::Active,
            description: "d".into(),
            created: 0,
            last_used: None,
        };
        let b = rec.encode();
        assert_eq!(b[0], 1, "version byte");
        assert_eq!(TokenRec::decode(&b).unwrap(), rec);
        for drift in [0, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            let r = TokenRec {
                drift,
                ..rec.clone()
            };
            assert_eq!(TokenRec::decode(&r.encode()).unwrap().drift, drift);
        }
        // Every truncation and an unknown version are errors, not panics.
        for n in 0..b.len() {
            assert!(TokenRec::decode(&b[..n]).is_err(), "prefix {n}");
        }
        let mut v2 = b.clone();
        v2[0] = 2;
        assert!(TokenRec::decode(&v2).unwrap_err().contains("version"));
        let mut trailing = b.clone();
        trailing.push(0);
        assert!(TokenRec::decode(&trailing).is_err());

        let u = UserRec {
            pin: Some(vec![9; 40]),
            enabled: true,
            challenge: false,
            failures: u32::MAX,
            locked_until: Some(5),
            created: 1 << 40,
            last_success: None,
        };
        let ub = u.encode();
        assert_eq!(UserRec::decode(&ub).unwrap(), u);
        for n in 0..ub.len() {
            assert!(UserRec::decode(&ub[..n]).is_err(), "prefix {n}");
        }
        // An over-long LEB128 integer is refused.
        let mut over = vec![1u8, 0];
        over.extend([0xff; 10]);
        over.push(1);
        assert!(UserRec::decode(&over).is_err());
    }

    proptest::proptest! {
        #[test]
        fn record_decoders_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..80)) {
            let _ = TokenRec::decode(&bytes);
            let _ = UserRec::decode(&bytes);
        }
    }

    /// Measures import speed and bytes per token on disk:
    /// `cargo test --release --lib store::sled::tests::import_100k -- --ignored --nocapture`
    /// (`RADOTP_IMPORT_N` changes the count).
    #[test]
    #[ignore]
    fn import_100k_tokens_speed_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let cache: u64 = std::env::var("RADOTP_CACHE_MB")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(CACHE, |mb: u64| mb << 20);
        let open = |p: &Path| SledStore::open(p, StoreKey::from_bytes(KEY), cache).unwrap();
        let s = open(dir.path());
        let n: usize = std::env::var("RADOTP_IMPORT_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000);
        let users: Vec<User> = (0..n)
            .map(|i| User::new(format!("user{i:06}"), 1))
            .collect();
        let tokens: Vec<Token> = (0..n)
            .map(|i| {
                let mut t = token(&format!("t-{i:012x}"), &format!("user{i:06}"), &[7; 20]);
                t.description = String::new();
                t
            })
            .collect();
        let before = dir_size(dir.path());
        let t0 = std::time::Instant::now();
        s.import(&users, &tokens).unwrap();
        s.sync().unwrap();
        let took = t0.elapsed();
        let t1 = std::time::Instant::now();
        let logical: usize = [&s.users, &s.tokens, &s.owners]
            .iter()
            .flat_map(|t| t.iter())
            .map(|kv| kv.map(|(k, v)| k.len() + v.len()).unwrap())
            .sum();
        println!(
            "logical key+value bytes: {logical} ({} per user+token)",
            logical / n
        );
        println!("scanned in {:?}", t1.elapsed());
        let t1 = std::time::Instant::now();
        drop(s);
        println!("closed in {:?}", t1.elapsed());
        let after = dir_size(dir.path());
        println!(
            "imported {n} users + {n} tokens in {took:?}; disk {} bytes -> {:.0} bytes per user+token",
            after,
            (after - before) as f64 / n as f64
        );
        let t1 = std::time::Instant::now();
        let s = open(dir.path());
        println!("reopened in {:?}", t1.elapsed());
        assert_eq!(s.counts().unwrap(), (n, n));
        assert!(took.as_secs() < 30 || n > 100_000);
    }

    fn dir_size(p: &Path) -> u64 {
        let mut total = 0;
        for e in std::fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            total += if m.is_dir() {
                dir_size(&e.path())
            } else {
                m.len()
            };
        }
        total
    }
}
