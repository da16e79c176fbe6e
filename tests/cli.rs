//! The admin CLI as an administrator uses it, from a fresh state directory:
//! users, enrollment (URI checked with oathtool), activation, offline
//! checks, replay, resync, import, config errors, and the at-rest check that
//! no seed or PIN is readable in the store's files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

#[path = "common/legacy_fixture.rs"]
mod legacy_fixture;

struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("radotp.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\ncontrol_socket = \"{d}/radotp.sock\"\n\n[store]\npath = \"{d}/db\"\nkey_file = \"{d}/radotp.key\"\n",
            d = dir.path().display()
        ),
    )
    .unwrap();
    Env { dir, config }
}

impl Env {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_radotp"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("RADOTP_CONFIG")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "radotp {args:?} failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.ok(&a)).unwrap()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `extra` may name the algorithm (`--totp=sha256`); plain `--totp` otherwise.
fn oathtool(secret_b32: &str, unix: u64, extra: &[&str]) -> String {
    let mut cmd = Command::new("oathtool");
    if !extra.iter().any(|a| a.starts_with("--totp")) {
        cmd.arg("--totp");
    }
    let out = cmd
        .args(["-b", &format!("--now=@{unix}")])
        .args(extra)
        .arg(secret_b32)
        .output()
        .unwrap_or_else(|_| {
            panic!("oathtool not found: install it with `apt-get install -y oathtool`")
        });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn secret_of(uri: &str) -> String {
    let q = uri.split_once('?').unwrap().1;
    q.split('&')
        .find_map(|kv| kv.strip_prefix("secret="))
        .unwrap()
        .to_string()
}

/// Enrolls an active token for `user`; returns (token id, base32 secret).
fn enroll(e: &Env, user: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["token", "enroll", user, "--no-terminal-qr"];
    args.extend_from_slice(extra);
    let v = e.json(&args);
    let id = v["result"]["token"]["id"].as_str().unwrap().to_string();
    let uri = v["result"]["uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    (id, secret_of(uri))
}

#[test]
fn enroll_pending_until_activated_then_check_once_and_replay_rejected() {
    let e = env();
    e.ok(&["user", "add", "alice"]);
    let (id, secret) = enroll(&e, "alice", &[]);
    let t = now();
    // Pending: the token is not usable yet.
    let o = e.run(&["otp", "check", "alice", &oathtool(&secret, t, &[])]);
    assert_eq!(o.status.code(), Some(1));
    // Activate with the code the "app" shows.
    e.ok(&["token", "activate", &id, &oathtool(&secret, t, &[])]);
    let v = e.json(&["token", "show", &id]);
    assert_eq!(v["result"]["state"], "active");
    // The next step's code is accepted once, then rejected as a replay.
    let next = oathtool(&secret, t + 30, &[]);
    let v = e.json(&["otp", "check", "alice", &next]);
    assert_eq!(v["result"]["accepted"], true, "{v}");
    let o = e.run(&["--json", "otp", "check", "alice", &next]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["result"]["reason"], "replayed_code", "{v}");
}

#[test]
fn dry_run_does_not_consume_the_code() {
    let e = env();
    e.ok(&["user", "add", "dan"]);
    let (_, secret) = enroll(&e, "dan", &["--activate"]);
    let code = oathtool(&secret, now(), &[]);
    e.ok(&["otp", "check", "dan", &code, "--dry-run"]);
    e.ok(&["otp", "check", "dan", &code]);
}

#[test]
fn codes_two_steps_out_rejected_then_accepted_after_resync() {
    let e = env();
    e.ok(&["user", "add", "bob"]);
    let (id, secret) = enroll(&e, "bob", &["--activate"]);
    let t = now();
    let far = oathtool(&secret, t + 60, &[]);
    let o = e.run(&["otp", "check", "bob", &far]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "two steps ahead is outside the default window"
    );
    // The token's clock runs ~2.5 minutes fast: resync with two consecutive codes.
    let c1 = oathtool(&secret, t + 150, &[]);
    let c2 = oathtool(&secret, t + 180, &[]);
    let v = e.json(&["token", "resync", &id, &c1, &c2]);
    assert!(v["result"]["drift"].as_i64().unwrap() >= 5, "{v}");
    // Now the drifted token's next code is accepted.
    let next = oathtool(&secret, t + 210, &[]);
    e.ok(&["otp", "check", "bob", &next]);
}

#[test]
fn enroll_sha256_8_digits_60s_matches_oathtool() {
    let e = env();
    e.ok(&["user", "add", "erin"]);
    let (_, secret) = enroll(
        &e,
        "erin",
        &[
            "--activate",
            "--algorithm",
            "sha256",
            "--digits",
            "8",
            "--period",
            "60",
        ],
    );
    let code = oathtool(&secret, now(), &["--totp=sha256", "-d", "8", "-s", "60"]);
    assert_eq!(code.len(), 8);
    e.ok(&["otp", "check", "erin", &code]);
}

#[test]
fn pin_plus_code() {
    let e = env();
    e.ok(&["user", "add", "pat", "--pin", "8642"]);
    let (_, secret) = enroll(&e, "pat", &["--activate"]);
    let code = oathtool(&secret, now(), &[]);
    assert_eq!(
        e.run(&["otp", "check", "pat", &code]).status.code(),
        Some(1)
    );
    e.ok(&["otp", "check", "pat", &format!("8642{code}")]);
}

fn all_bytes_under(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            all_bytes_under(&p, out);
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn seeds_and_pins_never_appear_in_the_store_files() {
    let e = env();
    let pin = "Zebra-PIN-97531";
    e.ok(&["user", "add", "zed", "--pin", pin]);
    let mut secrets = Vec::new();
    for _ in 0..3 {
        secrets.push(enroll(&e, "zed", &[]).1);
    }
    // The SQLite file and its WAL and shared-memory files.
    let mut all = Vec::new();
    all_bytes_under(e.dir.path(), &mut all);
    let files: Vec<_> = all
        .into_iter()
        .filter(|(p, _)| p.file_name().unwrap().to_string_lossy().starts_with("db"))
        .collect();
    assert!(
        files.len() >= 2,
        "{:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    let total: usize = files.iter().map(|(_, b)| b.len()).sum();
    assert!(total > 0);
    for b32 in &secrets {
        let raw = data_encoding::BASE32_NOPAD.decode(b32.as_bytes()).unwrap();
        for (path, bytes) in &files {
            assert!(!contains(bytes, &raw), "seed bytes in {}", path.display());
            assert!(
                !contains(bytes, b32.as_bytes()),
                "base32 seed in {}",
                path.display()
            );
            assert!(
                !contains(bytes, pin.as_bytes()),
                "PIN in {}",
                path.display()
            );
        }
    }
    // The key file is 0600.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(e.dir.path().join("radotp.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn key_file_readable_by_others_is_refused() {
    let e = env();
    e.ok(&["user", "add", "kim"]);
    use std::os::unix::fs::PermissionsExt;
    let key = e.dir.path().join("radotp.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = e.run(&["user", "list"]);
    assert_ne!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("chmod 600"), "{err}");
}

#[test]
fn config_typo_reports_file_line_and_column_exit_2() {
    let e = env();
    let bad = e.dir.path().join("bad.toml");
    std::fs::write(&bad, "[otp]\ntotp_window = 1\nmax_drfit = 3\n").unwrap();
    let o = e.run(&["config", "check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("{}:3:1", bad.display())), "{err}");
    assert!(err.contains("max_drfit"), "{err}");
    let typed = e.dir.path().join("typed.toml");
    std::fs::write(&typed, "[lockout]\nthreshold = \"ten\"\n").unwrap();
    let o = e.run(&["config", "check", typed.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(":2:13"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The shipped example is valid.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/radotp.toml");
    e.ok(&["config", "check", example.to_str().unwrap()]);
}

#[test]
fn import_csv_and_uris_reports_bad_lines_and_codes_work() {
    let e = env();
    let file = e.dir.path().join("tokens.csv");
    let s = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    std::fs::write(
        &file,
        format!(
            "user,secret_base32,type,algorithm,digits,period\nann,{s},totp,sha1,6,30\nben,{s},totp,sm3,6,30\nbroken,xyz!,totp\notpauth://totp/ACME:cat?secret={s}&issuer=ACME&algorithm=SHA512&digits=8\n"
        ),
    )
    .unwrap();
    let o = e.run(&["token", "import", file.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a bad line makes the import exit 1"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("imported 3 token(s)"), "{out}");
    assert!(out.contains("line 4:"), "{out}");
    let code = oathtool(s, now(), &[]);
    e.ok(&["otp", "check", "ann", &code]);
    let code = oathtool(s, now(), &["--totp=sha512", "-d", "8"]);
    e.ok(&["otp", "check", "cat", &code]);
}

// The CSV's eighth column is the PIN of the user the import creates: a PIN
// against the policy is a bad line (by number), the one accepted is needed
// in front of the code, is sealed (not in the store's files), and an import
// refuses to change the PIN of a user who exists.
// `[pin] required = true` holds for users an import creates, as for
// `user add`: a line that would create one without a PIN refuses its batch
// (nothing of it imported); with the PIN column it goes in; a token for a
// user who exists (with a PIN) needs none.
#[test]
fn import_pin_required_refuses_to_create_users_without_a_pin() {
    let e = env();
    let mut config = std::fs::read_to_string(&e.config).unwrap();
    config.push_str("\n[pin]\nrequired = true\n");
    std::fs::write(&e.config, config).unwrap();
    let s = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let file = e.dir.path().join("req.csv");
    std::fs::write(&file, format!("user,secret\nwithpin,{s}\nbare,{s}\n")).unwrap();
    let o = e.run(&["token", "import", file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("requires one ([pin] required = true)"),
        "{err}"
    );
    assert_ne!(
        e.run(&["user", "show", "withpin"]).status.code(),
        Some(0),
        "the batch imported nothing"
    );
    std::fs::write(
        &file,
        format!("user,secret,type,algorithm,digits,period,groups,pin\nwithpin,{s},totp,sha1,6,30,,4711\nwithpin,{s}\n"),
    )
    .unwrap();
    e.ok(&["token", "import", file.to_str().unwrap()]);
    assert_eq!(
        e.json(&["user", "show", "withpin"])["result"]["has_pin"],
        true
    );
}

#[test]
fn import_csv_pin_column_is_checked_against_the_policy_sealed_and_required_in_front_of_the_code() {
    let e = env();
    let mut config = std::fs::read_to_string(&e.config).unwrap();
    config.push_str("\n[pin]\nmin_length = 6\nmax_length = 12\ndigits_only = true\n");
    std::fs::write(&e.config, config).unwrap();
    let s = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let pin = "864297531086";
    let file = e.dir.path().join("pins.csv");
    std::fs::write(
        &file,
        format!(
            "user,secret,type,algorithm,digits,period,groups,pin\n\
             pia,{s},totp,sha1,6,30,,{pin}\n\
             short,{s},totp,sha1,6,30,,123\n\
             letters,{s},totp,,,,,12ab5678\n\
             nopin,{s}\n"
        ),
    )
    .unwrap();
    let o = e.run(&["token", "import", file.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("imported 2 token(s)"), "{out}");
    assert!(out.contains("line 3: PIN must be 6 to 12"), "{out}");
    assert!(out.contains("line 4: PIN must be digits only"), "{out}");
    let pia = e.json(&["user", "show", "pia"]);
    assert_eq!(pia["result"]["has_pin"], true, "{pia}");
    let nopin = e.json(&["user", "show", "nopin"]);
    assert_eq!(nopin["result"]["has_pin"], false, "{nopin}");
    let o = e.run(&["user", "show", "short"]);
    assert_ne!(o.status.code(), Some(0), "a refused line creates no user");
    let code = oathtool(s, now(), &[]);
    assert_eq!(
        e.run(&["otp", "check", "pia", "--dry-run", &code])
            .status
            .code(),
        Some(1),
        "the code alone is refused: the PIN goes in front"
    );
    e.ok(&["otp", "check", "pia", &format!("{pin}{code}")]);
    let mut all = Vec::new();
    all_bytes_under(e.dir.path(), &mut all);
    for (path, bytes) in all
        .iter()
        .filter(|(p, _)| p.file_name().unwrap().to_string_lossy().starts_with("db"))
    {
        assert!(
            !contains(bytes, pin.as_bytes()),
            "PIN in {}",
            path.display()
        );
    }
    // An existing user's PIN is not changed by an import.
    let again = e.dir.path().join("again.csv");
    std::fs::write(&again, format!("pia,{s},totp,,,,,135792468024\n")).unwrap();
    let o = e.run(&["token", "import", again.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("exists") && err.contains("set-pin"), "{err}");
    let next = oathtool(s, now() + 30, &[]);
    let o = e.run(&[
        "otp",
        "check",
        "pia",
        "--dry-run",
        &format!("135792468024{next}"),
    ]);
    assert_eq!(o.status.code(), Some(1), "the import's PIN was taken");
    e.ok(&["otp", "check", "pia", "--dry-run", &format!("{pin}{next}")]);
}

#[test]
fn user_lifecycle_and_errors() {
    let e = env();
    e.ok(&["user", "add", "lee", "--pin", "1357"]);
    let o = e.run(&["user", "add", "lee"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
    let o = e.run(&["user", "add", "x", "--pin", "12"]);
    assert_eq!(o.status.code(), Some(2), "PIN too short is a usage error");
    e.ok(&["user", "disable", "lee"]);
    let v = e.json(&["user", "show", "lee"]);
    assert_eq!(v["result"]["enabled"], false);
    assert_eq!(v["result"]["has_pin"], true);
    e.ok(&["user", "enable", "lee"]);
    e.ok(&["user", "unlock", "lee"]);
    let v = e.json(&["user", "list"]);
    assert_eq!(v["result"].as_array().unwrap().len(), 1);
    e.ok(&["user", "delete", "lee"]);
    assert_eq!(e.run(&["user", "show", "lee"]).status.code(), Some(1));
    let o = e.run(&["user", "frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn user_list_counts_each_users_own_tokens() {
    let e = env();
    for u in ["ann", "bob", "cat"] {
        e.ok(&["user", "add", u]);
    }
    enroll(&e, "ann", &[]);
    enroll(&e, "ann", &[]);
    enroll(&e, "cat", &[]);
    let v = e.json(&["user", "list"]);
    let counts: Vec<(String, u64)> = v["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["name"].as_str().unwrap().to_string(),
                u["tokens"].as_u64().unwrap(),
            )
        })
        .collect();
    let want = [("ann", 2), ("bob", 0), ("cat", 1)];
    let want: Vec<(String, u64)> = want.iter().map(|(n, c)| (n.to_string(), *c)).collect();
    assert_eq!(counts, want);
}

// A row damaged behind radotp's back (here: one bit of a sealed seed) fails
// closed and names the token; the repair it names works.
#[test]
fn tampered_seed_row_fails_closed_and_names_the_token() {
    let e = env();
    e.ok(&["user", "add", "bob"]);
    let (id, secret) = enroll(&e, "bob", &[]);
    let t = now();
    e.ok(&["token", "activate", &id, &oathtool(&secret, t, &[])]);
    let db = rusqlite::Connection::open(e.dir.path().join("db")).unwrap();
    let mut seed: Vec<u8> = db
        .query_row("SELECT seed FROM tokens WHERE id = ?1", [&id], |r| r.get(0))
        .unwrap();
    seed[30] ^= 1;
    let n = db
        .execute(
            "UPDATE tokens SET seed = ?1 WHERE id = ?2",
            rusqlite::params![seed, id],
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(db);
    let o = e.run(&["otp", "check", "bob", &oathtool(&secret, t + 30, &[])]);
    assert_ne!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot be decrypted") && err.contains(&id),
        "{err}"
    );
    e.ok(&["token", "delete", &id]);
    let (id, secret) = enroll(&e, "bob", &[]);
    e.ok(&["token", "activate", &id, &oathtool(&secret, t, &[])]);
    let v = e.json(&["otp", "check", "bob", &oathtool(&secret, t + 30, &[])]);
    assert_eq!(v["result"]["accepted"], true, "{v}");
    let o = e.run(&["user", "delete", "nobody"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no user 'nobody'"));
    let o = e.run(&["token", "delete", "t-none"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no token 't-none'"));
}

#[test]
fn enroll_writes_qr_png_and_svg() {
    let e = env();
    e.ok(&["user", "add", "qr"]);
    let png = e.dir.path().join("t.png");
    let svg = e.dir.path().join("t.svg");
    enroll(&e, "qr", &["--qr", png.to_str().unwrap()]);
    enroll(&e, "qr", &["--qr", svg.to_str().unwrap()]);
    assert!(std::fs::read(&png)
        .unwrap()
        .starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    let o = e.run(&["token", "enroll", "qr", "--qr", "x.gif"]);
    assert_eq!(o.status.code(), Some(2));
}

// `radotp ... | head`: a reader that closes the pipe early ends the
// command quietly (status 141, as SIGPIPE would), without a panic message.
#[test]
fn stdout_closed_early_ends_quietly_without_a_panic() {
    let e = env();
    // `generate man` writes with `write_all` (an error returned), `config
    // check` with `println!` (a panic caught by the hook).
    for args in [&["generate", "man"][..], &["config", "check"][..]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = Command::new(env!("CARGO_BIN_EXE_radotp"))
            .arg("--config")
            .arg(&e.config)
            .args(args)
            .stdout(writer)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: {err}");
        assert_eq!(o.status.code(), Some(141), "{args:?}: {err}");
    }
}

// `radotp store migrate`: a sled store of radotp 0.1 and a file store of
// 0.2 (same key file), written here in their formats by the test-only
// fixture writers (tests/common/legacy_fixture.rs), are copied into the
// configured SQLite store with PINs, seeds, replay state, drift and failure
// counts: the last used step stays used (in the file store it is only in a
// journal image, newer than the record), the next one is accepted, the PIN
// still checks; the old directory is left byte for byte as it was; a second
// migration into the now non-empty store is refused.
#[test]
fn store_migrate_copies_sled_and_file_stores_with_pins_seeds_and_replay_state() {
    migrate_from(|dir, key, u, t| {
        let p = dir.join("old.sled");
        legacy_fixture::write_sled(&p, &key, std::slice::from_ref(u), std::slice::from_ref(t));
        p
    });
    migrate_from(|dir, key, u, t| {
        let p = dir.join("old.filestore");
        let mut f = legacy_fixture::FileFixture::new(&p, key);
        // The record holds an older step; the journal the latest.
        let mut older = t.clone();
        older.last = t.last.map(|l| l - 5);
        f.put(u, &[older]);
        f.write();
        let (slot, inc) = f.slot_of(&format!("t:{}", t.id));
        let img = legacy_fixture::token_image(inc, t.last, t.last_used, t.drift, t.state);
        f.journal(1, &[(slot, img)]);
        p
    });
}

fn tree_hashes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let b = std::fs::read(&p).unwrap();
                out.push((p, b));
            }
        }
    }
    out.sort();
    out
}

fn migrate_from(
    make: impl Fn(
        &Path,
        radotp::store::StoreKey,
        &radotp::store::User,
        &radotp::store::Token,
    ) -> PathBuf,
) {
    use radotp::otp::{Algorithm, Kind};
    use radotp::secret::Secret;
    use radotp::store::{StoreKey, Token, TokenState, User};
    let e = env();
    let step = now() / 30;
    let old = {
        let key = StoreKey::load_or_create(&e.dir.path().join("radotp.key")).unwrap();
        let mut u = User::new("carol", 1);
        u.pin = Some(Secret::from("2468"));
        u.failures = 3;
        let t = Token {
            id: "t-1".into(),
            owner: "carol".into(),
            serial: None,
            kind: Kind::Totp,
            algorithm: Algorithm::Sha1,
            digits: 6,
            period: 30,
            seed: Secret::new(b"12345678901234567890".to_vec()),
            last: Some(step),
            drift: 1,
            state: TokenState::Active,
            description: "from 0.1".into(),
            created: 1,
            last_used: Some(step * 30),
        };
        make(e.dir.path(), key, &u, &t)
    };
    let before = tree_hashes(&old);
    let from = old.display().to_string();
    let out = e.ok(&["store", "migrate", "--from", &from]);
    assert!(out.contains("migrated 1 users and 1 tokens"), "{out}");
    let v = e.json(&["token", "show", "t-1"]);
    assert_eq!(v["result"]["last"], step, "{v}");
    assert_eq!(v["result"]["drift"], 1, "{v}");
    assert_eq!(v["result"]["description"], "from 0.1");
    let v = e.json(&["user", "show", "carol"]);
    assert_eq!(v["result"]["failures"], 3, "{v}");
    let b32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let used = format!("2468{}", oathtool(b32, step * 30, &[]));
    assert_eq!(
        e.run(&["otp", "check", "carol", &used]).status.code(),
        Some(1)
    );
    let next = format!("2468{}", oathtool(b32, step * 30 + 30, &[]));
    let v = e.json(&["otp", "check", "carol", &next]);
    assert_eq!(v["result"]["accepted"], true, "{v}");
    let v = e.json(&["store", "info"]);
    assert_eq!(
        (&v["kind"], &v["users"], &v["tokens"]),
        (&"sqlite".into(), &1.into(), &1.into()),
        "{v}"
    );
    let o = e.run(&["store", "migrate", "--from", &from]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not empty"));
    let o = e.run(&[
        "store",
        "migrate",
        "--from",
        &e.dir.path().display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(2), "not a store: usage error");
    assert!(
        tree_hashes(&old) == before,
        "the migration changed a file of {}",
        old.display()
    );
}

#[test]
fn user_groups_and_reply_attributes_are_checked_shown_and_listed() {
    let e = env();
    let mut cfg = std::fs::read_to_string(&e.config).unwrap();
    cfg.push_str(
        "\n[[client]]\nname = \"core-sw\"\naddress = \"127.0.0.1\"\nsecret = \"s3cret-s3cret\"\nallow_groups = [\"netadmins\"]\n\n[[group]]\nname = \"netadmins\"\nreply = { \"Service-Type\" = \"Administrative-User\", \"Cisco-AVPair\" = \"shell:priv-lvl=15\" }\n\n[[group]]\nname = \"vpn\"\n",
    );
    std::fs::write(&e.config, cfg).unwrap();
    e.ok(&[
        "user",
        "add",
        "ops",
        "--group",
        "netadmins",
        "--group",
        "vpn",
    ]);
    let u = e.json(&["user", "show", "ops"]);
    assert_eq!(
        u["result"]["groups"],
        serde_json::json!(["netadmins", "vpn"]),
        "{u}"
    );
    // A misspelt group is refused with what the config knows.
    let o = e.run(&["user", "set", "ops", "--group", "netadmns"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("netadmns") && err.contains("known: netadmins, vpn"),
        "{err}"
    );
    // Reply attributes: checked against the dictionary, the value may hold '='.
    e.ok(&[
        "user",
        "set",
        "ops",
        "--reply",
        "Cisco-AVPair=shell:roles=network-admin",
        "--reply=Session-Timeout=600",
    ]);
    for (bad, says) in [
        ("No-Such-Attr=1", "unknown attribute"),
        ("Session-Timeout=soon", "Session-Timeout"),
        ("Service-Type", "ATTRIBUTE=VALUE"),
    ] {
        let o = e.run(&["user", "set", "ops", "--reply", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{bad}: {err}");
    }
    let shown = e.ok(&["user", "show", "ops"]);
    assert!(shown.contains("groups:       netadmins, vpn"), "{shown}");
    assert!(
        shown.contains("reply:        Cisco-AVPair = shell:roles=network-admin"),
        "{shown}"
    );
    let list = e.json(&["group", "list"]);
    let groups = list["result"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{list}");
    assert_eq!(groups[0]["name"], "netadmins");
    assert_eq!(groups[0]["members"], 1);
    assert_eq!(groups[0]["clients"], serde_json::json!(["core-sw"]));
    assert_eq!(groups[1]["name"], "vpn");
    // The CSV import's groups column gives the users it creates groups.
    let csv = e.dir.path().join("users.csv");
    std::fs::write(
        &csv,
        "user,secret_base32,type,algorithm,digits,period,groups\nimp,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,totp,sha1,6,30,netadmins;vpn\n",
    )
    .unwrap();
    e.ok(&["token", "import", csv.to_str().unwrap()]);
    let u = e.json(&["user", "show", "imp"]);
    assert_eq!(
        u["result"]["groups"],
        serde_json::json!(["netadmins", "vpn"]),
        "{u}"
    );
    std::fs::write(
        &csv,
        "imp2,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,totp,sha1,6,30,netadmns\n",
    )
    .unwrap();
    let o = e.run(&["token", "import", csv.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("netadmns"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        e.run(&["user", "show", "imp2"]).status.code(),
        Some(1),
        "nothing imported"
    );
    // Clearing.
    let o = e.run(&["user", "set", "ops", "--group", "vpn", "--no-groups"]);
    assert_eq!(o.status.code(), Some(2), "conflicting flags");
    e.ok(&["user", "set", "ops", "--no-groups", "--no-reply"]);
    let u = e.json(&["user", "show", "ops"]);
    assert_eq!(u["result"]["groups"], serde_json::json!([]), "{u}");
    assert_eq!(u["result"]["replies"], serde_json::json!([]), "{u}");
}
