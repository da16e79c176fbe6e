//! `radotp-bench provision --import` end to end: the binaries as
//! compare.sh runs them, the population imported into a fresh SQLite store
//! by the `radotp` binary beside this one (`cargo test --workspace` builds
//! it), never written by the generator itself.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use radotp::otp::{hotp, Algorithm};
use radotp_bench::population::{read_seed_file, Group};

const BENCH: &str = env!("CARGO_BIN_EXE_radotp-bench");

/// The radotp binary of this build (target/<profile>/radotp).
fn radotp_bin() -> PathBuf {
    let p = Path::new(BENCH).with_file_name("radotp");
    assert!(
        p.is_file(),
        "{} is missing: build it first (`cargo build -p radotp`; `cargo test --workspace` does)",
        p.display()
    );
    p
}

fn config(dir: &Path) -> PathBuf {
    let c = dir.join("radotp.toml");
    std::fs::write(
        &c,
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\ncontrol_socket = \"{d}/radotp.sock\"\n[store]\npath = \"{d}/db\"\nkey_file = \"{d}/radotp.key\"\n",
            d = dir.display()
        ),
    )
    .unwrap();
    c
}

/// Runs `bin` with `args` (no RADOTP_CONFIG from outside).
fn run(bin: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(bin);
    c.args(args).env_remove("RADOTP_CONFIG");
    c.output().expect("the binary runs")
}

/// Runs `bin`, which must succeed and print one JSON document.
fn ok_json(bin: &Path, args: &[&str]) -> serde_json::Value {
    let o = run(bin, args);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{args:?}: {out}{err}");
    serde_json::from_str(&out).expect("a JSON summary")
}

// The users of every group reach radotp's store through `radotp token
// import`, with their seeds, and the PIN users with their PIN: the code of
// a HOTP user's first counter is accepted with the PIN in front and not
// without; a user without PIN is accepted on the code alone. The CSV holds
// seeds and PINs, so it is the owner's only.
#[test]
fn provision_import_puts_every_user_with_seed_and_pin_into_radotp_through_its_cli() {
    let radotp = radotp_bin();
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path());
    let seeds = dir.path().join("seeds");
    let (c_s, seeds_s) = (c.to_str().unwrap(), seeds.to_str().unwrap());
    let provision = format!(
        "--config {c_s} --json provision --seed-file {seeds_s} --totp 3 --totp-pin 2 --hotp-pin 4 --import"
    );
    let v = ok_json(Path::new(BENCH), &provision.split(' ').collect::<Vec<_>>());
    assert_eq!(v["result"]["users"], 9, "{v}");
    assert_eq!(v["result"]["import"]["imported"], 9, "{v}");
    assert_eq!(v["result"]["import"]["users_created"], 9, "{v}");
    use std::os::unix::fs::PermissionsExt;
    let csv = PathBuf::from(v["result"]["csv"].as_str().unwrap());
    let mode = std::fs::metadata(&csv).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "the CSV is readable by others: {mode:o}");

    let users = read_seed_file(&seeds).unwrap();
    assert_eq!(users.len(), 9);
    let listed = ok_json(&radotp, &["--config", c_s, "--json", "user", "list"]);
    let listed = listed["result"].as_array().unwrap();
    assert_eq!(listed.len(), 9, "{listed:?}");
    for u in &users {
        let row = listed
            .iter()
            .find(|r| r["name"] == u.name.as_str())
            .unwrap_or_else(|| panic!("{} not in radotp: {listed:?}", u.name));
        assert_eq!(row["has_pin"], u.pin.is_some(), "{row}");
        assert_eq!(u.pin.is_some(), u.group != Group::Totp, "{}", u.name);
    }
    let h = users.iter().find(|u| u.group == Group::HotpPin).unwrap();
    let code = format!("{:06}", hotp(Algorithm::Sha1, &h.seed, 0, 6));
    let check = |user: &str, pw: &str| {
        let o = run(
            &radotp,
            &["--config", c_s, "otp", "check", user, "--dry-run", pw],
        );
        o.status.code()
    };
    assert_eq!(check(&h.name, &code), Some(1), "accepted without the PIN");
    let pin = h.pin.as_deref().unwrap();
    assert_eq!(
        check(&h.name, &format!("{pin}{code}")),
        Some(0),
        "seed or PIN lost"
    );
    // A TOTP user without PIN, on the code of the current step.
    let t = users.iter().find(|u| u.group == Group::Totp).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let code = format!("{:06}", hotp(Algorithm::Sha1, &t.seed, now / 30, 6));
    assert_eq!(check(&t.name, &code), Some(0), "TOTP seed lost");
}

// No radotp to import with: a usage error (exit 2) naming --radotp, before
// anything is written.
#[test]
fn provision_import_without_a_radotp_binary_is_a_usage_error_that_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = dir.path().join("seeds");
    let missing = dir.path().join("no-radotp");
    let o = run(
        Path::new(BENCH),
        &[
            "provision",
            "--seed-file",
            seeds.to_str().unwrap(),
            "--totp",
            "2",
            "--import",
            "--radotp",
            missing.to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--radotp") && err.contains("no such file"),
        "{err}"
    );
    assert!(!seeds.exists(), "the seed list was written");
}
