//! TEMPORARY: the read-only readers of src/store/legacy checked against
//! the old engines (FileStore, SledStore) while they are still in the
//! tree: stores written by the old code in many shapes, then what the
//! reader returns compared with what the old engine's own open returns.
//! Goes with the old engines.

use std::collections::BTreeMap;
use std::path::Path;

use radotp::otp::{Algorithm, Kind};
use radotp::secret::Secret;
use radotp::store::{
    legacy, FileStore, LockRule, SledStore, StoreKey, Token, TokenState, TokenStore, User,
};

const KEY: [u8; 32] = [0x33; 32];

fn key() -> StoreKey {
    StoreKey::from_bytes(KEY)
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn token(id: &str, owner: &str, r: &mut Rng) -> Token {
    let hotp = r.below(2) == 0;
    Token {
        id: id.into(),
        owner: owner.into(),
        serial: None,
        kind: if hotp { Kind::Hotp } else { Kind::Totp },
        algorithm: [
            Algorithm::Sha1,
            Algorithm::Sha256,
            Algorithm::Sha512,
            Algorithm::Sm3,
        ][r.below(4) as usize],
        digits: 6 + r.below(3) as u32,
        period: 30,
        seed: Secret::new((0..20).map(|_| r.next() as u8).collect()),
        last: r.below(3).checked_sub(1).map(|_| r.below(1 << 40)),
        drift: r.below(5) as i64 - 2,
        state: [
            TokenState::Pending,
            TokenState::Active,
            TokenState::Disabled,
        ][r.below(3) as usize],
        description: format!("desc {id} ünï"),
        created: 1_600_000_000 + r.below(1 << 20),
        last_used: (r.below(2) == 0).then(|| r.below(1 << 33)),
    }
}

/// Random operations of every kind the old engines took.
fn workload(s: &dyn TokenStore, r: &mut Rng, rounds: usize, mut between: impl FnMut(usize)) {
    let rule = LockRule {
        threshold: 3,
        lock_secs: 60,
        max_lock_secs: 600,
    };
    let mut next_user = 0u64;
    let mut next_token = 0u64;
    let mut users: Vec<String> = Vec::new();
    for round in 0..rounds {
        let op = r.below(100);
        if users.len() < 5 || op < 15 {
            let name = format!("user{next_user:05}");
            next_user += 1;
            let mut u = User::new(&name, 1_650_000_000 + next_user);
            if r.below(2) == 0 {
                u.pin = Some(Secret::from(format!("{:04}", r.below(10_000)).as_str()));
            }
            u.challenge = r.below(4) == 0;
            u.enabled = r.below(8) != 0;
            u.failures = r.below(3) as u32;
            s.insert_user(&u).unwrap();
            users.push(name);
            continue;
        }
        let name = users[r.below(users.len() as u64) as usize].clone();
        match op {
            15..=29 => {
                let id = format!("t-{next_token:06}");
                next_token += 1;
                s.insert_token(&token(&id, &name, r)).unwrap();
            }
            30..=69 => {
                // Replay state, many times over: the journal and the state
                // slots must hold the latest.
                let toks = s.tokens_of(&name).unwrap();
                if let Some(t) = toks.first() {
                    let new = t.last.map_or(1, |l| l + 1 + r.below(3));
                    let drift = r.below(3) as i64 - 1;
                    assert!(s
                        .commit_use(&t.id, t.last, new, drift, 1_700_000_000 + new, true)
                        .unwrap());
                }
            }
            70..=79 => {
                s.record_failure(&name, 1_700_000_000 + round as u64, rule)
                    .unwrap();
            }
            80..=83 => s
                .record_success(&name, 1_700_000_100 + round as u64)
                .unwrap(),
            84..=87 => {
                // A rewrite of the record (new incarnations).
                let mut u = s.user(&name).unwrap().unwrap();
                u.challenge = !u.challenge;
                if r.below(2) == 0 {
                    u.pin = Some(Secret::from("9999"));
                }
                s.update_user(&u).unwrap();
            }
            88..=91 => {
                // A token moves to another owner, or changes in place.
                let toks = s.tokens_of(&name).unwrap();
                if let Some(t) = toks.last() {
                    let mut t = t.clone();
                    t.owner = users[r.below(users.len() as u64) as usize].clone();
                    t.description = format!("moved at {round}");
                    s.update_token(&t).unwrap();
                }
            }
            92..=95 => {
                let toks = s.tokens_of(&name).unwrap();
                if let Some(t) = toks.first() {
                    s.delete_token(&t.id).unwrap();
                }
            }
            _ => {
                s.delete_user(&name).unwrap();
                users.retain(|u| *u != name);
            }
        }
        if round % 50 == 49 {
            s.sync().unwrap();
            between(round);
        }
    }
    s.sync().unwrap();
}

fn via_engine(s: &dyn TokenStore) -> (Vec<User>, Vec<Token>) {
    let mut u = s.users().unwrap();
    u.sort_by(|a, b| a.name.cmp(&b.name));
    let mut t = s.tokens().unwrap();
    t.sort_by(|a, b| a.id.cmp(&b.id));
    (u, t)
}

fn hashes(dir: &Path) -> BTreeMap<String, (u64, u32)> {
    let mut out = BTreeMap::new();
    for e in walk(dir) {
        let b = std::fs::read(&e).unwrap();
        out.insert(
            e.strip_prefix(dir).unwrap().display().to_string(),
            (b.len() as u64, crc32fast::hash(&b)),
        );
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            v.extend(walk(&p));
        } else {
            v.push(p);
        }
    }
    v
}

fn copy_without_lock(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() && p.file_name().unwrap() != "lock" {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

/// The reader's view and the old engine's view of `dir` agree; the reader
/// left `dir` unchanged. Returns the number of users and tokens.
fn file_agrees(dir: &Path) -> (usize, usize) {
    let before = hashes(dir);
    let got = legacy::read(dir, &key()).unwrap();
    assert_eq!(before, hashes(dir), "the reader changed {}", dir.display());
    let s = FileStore::open(dir, key()).unwrap();
    let (u, t) = via_engine(&s);
    assert_eq!(got.users, u, "users of {}", dir.display());
    assert_eq!(got.tokens, t, "tokens of {}", dir.display());
    (u.len(), t.len())
}

#[test]
fn oracle_file_reader_matches_the_old_file_store_on_crash_images_and_after_close() {
    let root = tempfile::tempdir().unwrap();
    let live = root.path().join("live");
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut images = Vec::new();
    {
        let s = FileStore::open(&live, key()).unwrap();
        workload(&s, &mut r, 3000, |round| {
            // Crash images (after a sync, the journal not checkpointed),
            // and now and then a checkpoint, so that state slots hold
            // older images and later journal generations newer ones.
            if round % 500 == 499 {
                let img = root.path().join(format!("crash{round}"));
                copy_without_lock(&live, &img);
                images.push(img);
            }
            if round % 350 == 349 {
                s.checkpoint().unwrap();
            }
        });
        let img = root.path().join("crash-end");
        copy_without_lock(&live, &img);
        images.push(img);
    }
    let mut total = (0, 0);
    for img in &images {
        let (u, t) = file_agrees(img);
        total = (total.0 + u, total.1 + t);
    }
    let (u, t) = file_agrees(&live);
    eprintln!(
        "compared {} crash images ({} users, {} tokens in all) and the closed store ({u} users, {t} tokens)",
        images.len(),
        total.0,
        total.1
    );
    assert!(
        u > 100 && t > 50,
        "{u} users, {t} tokens: the workload is too small"
    );
}

#[test]
fn oracle_sled_reader_matches_the_old_sled_store_and_leaves_it_unchanged() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("old.sled");
    let mut r = Rng(0x1234_5678_9abc_def1);
    {
        let s = SledStore::open(&dir, key(), 1 << 20).unwrap();
        workload(&s, &mut r, 1500, |_| {});
    }
    let before = hashes(&dir);
    let got = legacy::read(&dir, &key()).unwrap();
    assert_eq!(
        before,
        hashes(&dir),
        "the sled reader changed the directory"
    );
    let s = SledStore::open(&dir, key(), 1 << 20).unwrap();
    let (u, t) = via_engine(&s);
    assert_eq!(got.users, u);
    assert_eq!(got.tokens, t);
    eprintln!("sled: {} users, {} tokens agree", u.len(), t.len());
    assert!(u.len() > 50 && t.len() > 20);
}

/// A crash between the two appends of a token's move (the new owner's
/// record written, the old owner's not yet), and a torn tail after it.
#[test]
fn oracle_file_reader_matches_the_old_file_store_on_a_half_done_token_move_and_a_torn_tail() {
    let root = tempfile::tempdir().unwrap();
    let live = root.path().join("live");
    let mut r = Rng(77);
    let (l0, l2) = {
        let s = FileStore::open(&live, key()).unwrap();
        s.insert_user(&User::new("a", 1)).unwrap();
        s.insert_user(&User::new("b", 1)).unwrap();
        let mut t = token("t-move", "a", &mut r);
        t.last = None;
        s.insert_token(&t).unwrap();
        s.insert_token(&token("t-stay", "a", &mut r)).unwrap();
        s.sync().unwrap();
        for step in 1..40 {
            assert!(s
                .commit_use(
                    "t-move",
                    (step > 1).then_some(step - 1),
                    step,
                    0,
                    step,
                    true
                )
                .unwrap());
        }
        s.sync().unwrap();
        let l0 = std::fs::metadata(live.join("records")).unwrap().len();
        let mut t = s.token("t-move").unwrap().unwrap();
        t.owner = "b".into();
        s.update_token(&t).unwrap();
        s.sync().unwrap();
        let l2 = std::fs::metadata(live.join("records")).unwrap().len();
        (l0, l2)
    };
    let records = std::fs::read(live.join("records")).unwrap();
    let first = u32::from_le_bytes(records[l0 as usize..l0 as usize + 4].try_into().unwrap());
    let l1 = l0 + 8 + u64::from(first);
    assert!(l1 < l2, "two appends expected: {l0} {l1} {l2}");
    for (name, len) in [("half", l1), ("half-torn", l1 + 7), ("both", l2)] {
        let img = root.path().join(name);
        copy_without_lock(&live, &img);
        std::fs::OpenOptions::new()
            .write(true)
            .open(img.join("records"))
            .unwrap()
            .set_len(len)
            .unwrap();
        let got = legacy::read(&img, &key()).unwrap();
        let moved = got.tokens.iter().find(|t| t.id == "t-move").unwrap();
        assert_eq!(
            (moved.owner.as_str(), moved.last),
            ("b", Some(39)),
            "{name}"
        );
        assert_eq!(got.tokens.len(), 2, "{name}");
        file_agrees(&img);
    }
}
