//! The read-only readers of the old store directories (src/store/legacy)
//! on stores written here by the test-only fixture writers.

#[path = "common/legacy_fixture.rs"]
mod legacy_fixture;

use std::collections::BTreeMap;
use std::path::Path;

use legacy_fixture::{token_image, user_image, write_sled, FileFixture};
use radotp::otp::{Algorithm, Kind};
use radotp::secret::Secret;
use radotp::store::{legacy, StoreError, StoreKey, Token, TokenState, User};

const KEY: [u8; 32] = [0x42; 32];

fn key() -> StoreKey {
    StoreKey::from_bytes(KEY)
}

fn user(name: &str, pin: Option<&str>, failures: u32) -> User {
    let mut u = User::new(name, 1_600_000_000);
    u.pin = pin.map(Secret::from);
    u.failures = failures;
    u
}

fn token(id: &str, owner: &str, kind: Kind, last: Option<u64>, drift: i64) -> Token {
    Token {
        id: id.into(),
        owner: owner.into(),
        serial: None,
        kind,
        algorithm: Algorithm::Sha256,
        digits: 8,
        period: 30,
        seed: Secret::new(format!("seed of {id}").into_bytes()),
        last,
        drift,
        state: TokenState::Active,
        description: format!("the token {id}"),
        created: 1_600_000_100,
        last_used: last.map(|l| l * 30),
    }
}

fn hashes(dir: &Path) -> BTreeMap<String, (u64, u32)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let b = std::fs::read(&p).unwrap();
                let name = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert(name, (b.len() as u64, crc32fast::hash(&b)));
            }
        }
    }
    out
}

fn read(dir: &Path) -> Result<legacy::Contents, StoreError> {
    legacy::read(dir, &key(), 1 << 20)
}

fn corrupt_text(r: Result<legacy::Contents, StoreError>) -> String {
    match r {
        Err(e @ StoreError::Corrupt(..)) => e.to_string(),
        Err(e) => panic!("expected a Corrupt error, got {e}"),
        Ok(c) => panic!(
            "expected a Corrupt error, got {} users and {} tokens",
            c.users.len(),
            c.tokens.len()
        ),
    }
}

#[test]
fn file_reader_returns_pins_seeds_replay_state_drops_deleted_users_and_follows_moved_tokens() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("old");
    let mut f = FileFixture::new(&dir, key());
    let mut carol = user("carol", Some("2468"), 3);
    carol.locked_until = Some(1_700_000_900);
    let t1 = token("t-1", "carol", Kind::Totp, Some(56_000_000), -2);
    let t2 = token("t-2", "carol", Kind::Hotp, Some(41), 0);
    f.put(&carol, &[t1.clone(), t2.clone()]);
    f.put(
        &user("eve", None, 0),
        &[token("t-e", "eve", Kind::Totp, None, 0)],
    );
    let dave = user("dave", None, 0);
    f.put(&dave, &[]);
    f.delete("eve");
    // carol rewritten with a new PIN: the later record wins whole.
    carol.pin = Some(Secret::from("1357"));
    carol.challenge = true;
    f.put(&carol, &[t1.clone(), t2.clone()]);
    // t-2 moves to dave; carol's record still lists it (a crash before
    // carol's rewrite): only dave's copy is live.
    let mut t2_moved = t2.clone();
    t2_moved.owner = "dave".into();
    t2_moved.last = Some(42);
    f.put(&dave, &[t2_moved.clone()]);
    f.write();
    let before = hashes(&dir);

    let got = read(&dir).unwrap();
    assert_eq!(hashes(&dir), before, "the reader changed the directory");
    assert_eq!(got.users, vec![carol, dave]);
    assert_eq!(got.tokens, vec![t1, t2_moved]);
    assert_eq!(got.users[0].pin.as_ref().unwrap().expose(), b"1357");
    assert_eq!(got.tokens[0].seed.expose(), b"seed of t-1");
}

#[test]
fn file_reader_applies_the_latest_journal_image_over_the_state_slot_and_the_record() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("old");
    let mut f = FileFixture::new(&dir, key());
    let t = token("t-1", "carol", Kind::Totp, Some(5), 0);
    let stale = token("t-2", "carol", Kind::Hotp, Some(9), 0);
    f.put(&user("carol", Some("1"), 0), &[t.clone(), stale.clone()]);
    f.write();
    let (us, ui) = f.slot_of("u:carol");
    let (ts, ti) = f.slot_of("t:t-1");
    let (ss, si) = f.slot_of("t:t-2");
    // The state file holds an older checkpoint, the journals newer steps:
    // generation 1 then 2, the last image of a slot winning.
    f.set_state(
        ts,
        &token_image(ti, Some(10), Some(300), 0, TokenState::Active),
    );
    f.set_state(us, &user_image(ui, 1, None, None));
    // t-2's slot holds an image of an earlier incarnation: not its own.
    f.set_state(
        ss,
        &token_image(si - 100, Some(1_000), None, 0, TokenState::Active),
    );
    f.journal(
        1,
        &[
            (
                ts,
                token_image(ti, Some(12), Some(360), 1, TokenState::Active),
            ),
            (us, user_image(ui, 4, Some(1_700_000_600), None)),
        ],
    );
    f.journal(
        2,
        &[
            (
                ts,
                token_image(ti, Some(15), Some(450), -1, TokenState::Disabled),
            ),
            (
                ts + 1000,
                token_image(7, Some(1), None, 0, TokenState::Active),
            ),
        ],
    );
    let got = read(&dir).unwrap();
    let t1 = &got.tokens[0];
    assert_eq!(
        (t1.last, t1.last_used, t1.drift, t1.state),
        (Some(15), Some(450), -1, TokenState::Disabled)
    );
    assert_eq!(
        got.tokens[1], stale,
        "a stale image leaves the record's values"
    );
    let u = &got.users[0];
    assert_eq!(
        (u.failures, u.locked_until, u.last_success),
        (4, Some(1_700_000_600), None)
    );
}

#[test]
fn file_reader_drops_a_torn_tail_of_records_and_of_a_journal() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("old");
    let mut f = FileFixture::new(&dir, key());
    f.put(
        &user("a", None, 0),
        &[token("t-a", "a", Kind::Totp, Some(3), 0)],
    );
    let last = f.put(&user("b", None, 0), &[]);
    f.write();
    let (ts, ti) = f.slot_of("t:t-a");
    let j = f.journal(
        1,
        &[
            (ts, token_image(ti, Some(20), None, 0, TokenState::Active)),
            (ts, token_image(ti, Some(21), None, 0, TokenState::Active)),
        ],
    );
    // The second journal entry half written, zeros after it.
    let mut b = std::fs::read(&j).unwrap();
    b[76 + 40..76 * 2].fill(0);
    std::fs::write(&j, b).unwrap();
    // The last record cut short: an append that never finished.
    let records = dir.join("records");
    let full = std::fs::metadata(&records).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&records)
        .unwrap()
        .set_len(full - 3)
        .unwrap();
    assert!(last < full - 3);
    let got = read(&dir).unwrap();
    let names: Vec<&str> = got.users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["a"], "the torn record of b is dropped");
    assert_eq!(
        got.tokens[0].last,
        Some(20),
        "the torn journal entry is dropped"
    );
}

#[test]
fn file_reader_reports_damage_in_the_middle_with_file_and_offset() {
    let root = tempfile::tempdir().unwrap();
    let make = |name: &str| {
        let dir = root.path().join(name);
        let mut f = FileFixture::new(&dir, key());
        let mut offs = Vec::new();
        for i in 0..3 {
            let n = format!("u{i}");
            offs.push(f.put(
                &user(&n, None, 0),
                &[token(&format!("t-{i}"), &n, Kind::Totp, Some(9), 0)],
            ));
        }
        f.write();
        (dir, f, offs)
    };

    // A payload byte of the middle record: its checksum fails.
    let (dir, _, offs) = make("crc");
    let mut b = std::fs::read(dir.join("records")).unwrap();
    b[offs[1] as usize + 12] ^= 0x40;
    std::fs::write(dir.join("records"), &b).unwrap();
    let e = corrupt_text(read(&dir));
    assert!(
        e.contains(&format!(
            "at offset {} of {}",
            offs[1],
            dir.join("records").display()
        )),
        "{e}"
    );

    // The middle record's length damaged to run past the end: the 0.2
    // engine took this for a torn tail and truncated acknowledged records.
    let (dir, _, offs) = make("len");
    let mut b = std::fs::read(dir.join("records")).unwrap();
    let at = offs[1] as usize;
    let past_end = (b.len() as u32).to_le_bytes();
    b[at..at + 4].copy_from_slice(&past_end);
    std::fs::write(dir.join("records"), &b).unwrap();
    let e = corrupt_text(read(&dir));
    assert!(e.contains(&format!("at offset {} of", offs[1])), "{e}");
    assert!(
        e.contains(&format!("valid record follows at offset {}", offs[2])),
        "{e}"
    );

    // A bad first journal entry with a valid one after it: the 0.2 engine
    // stopped at the bad one, so replay state could go back.
    let (dir, f, _) = make("journal");
    let (ts, ti) = f.slot_of("t:t-1");
    let j = f.journal(
        1,
        &[
            (ts, token_image(ti, Some(20), None, 0, TokenState::Active)),
            (ts, token_image(ti, Some(21), None, 0, TokenState::Active)),
        ],
    );
    let mut b = std::fs::read(&j).unwrap();
    b[20] ^= 1;
    std::fs::write(&j, &b).unwrap();
    let e = corrupt_text(read(&dir));
    assert!(
        e.contains(&format!("at offset 0 of {}", j.display())),
        "{e}"
    );

    // A state slot of the token's own incarnation failing its checksum:
    // no fall-back to the older value in the record.
    let (dir, f, _) = make("slot");
    let (ts, ti) = f.slot_of("t:t-2");
    let mut img = token_image(ti, Some(30), None, 0, TokenState::Active);
    img[20] ^= 1;
    f.set_state(ts, &img);
    let e = corrupt_text(read(&dir));
    assert!(
        e.contains("token 't-2'") && e.contains(&format!("state slot {ts}")),
        "{e}"
    );
}

#[test]
fn file_and_sled_readers_refuse_another_key_and_a_directory_of_neither_format() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("old");
    let mut f = FileFixture::new(&dir, key());
    f.put(&user("a", Some("1"), 0), &[]);
    f.write();
    let other = StoreKey::from_bytes([7; 32]);
    assert!(matches!(
        legacy::read(&dir, &other, 1 << 20),
        Err(StoreError::Key { .. })
    ));
    let sled_dir = root.path().join("old.sled");
    write_sled(&sled_dir, &key(), &[user("a", None, 0)], &[]);
    assert!(matches!(
        legacy::read(&sled_dir, &other, 1 << 20),
        Err(StoreError::Key { .. })
    ));
    let e = read(root.path()).unwrap_err().to_string();
    assert!(e.contains("not a store directory"), "{e}");
}

#[test]
fn sled_reader_returns_the_0_1_records_and_leaves_the_directory_byte_identical() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("old.sled");
    let mut carol = user("carol", Some("2468"), 2);
    carol.last_success = Some(1_700_000_000);
    carol.locked_until = Some(1_700_000_500);
    let users = vec![carol, user("dave", None, 0)];
    let mut t2 = token("t-2", "dave", Kind::Hotp, Some(77), 0);
    t2.state = TokenState::Pending;
    let tokens = vec![token("t-1", "carol", Kind::Totp, Some(56_000_001), 3), t2];
    write_sled(&dir, &key(), &users, &tokens);
    let before = hashes(&dir);
    let got = read(&dir).unwrap();
    assert_eq!(
        hashes(&dir),
        before,
        "the sled reader changed the directory"
    );
    assert_eq!(got.users, users);
    assert_eq!(got.tokens, tokens);
}
