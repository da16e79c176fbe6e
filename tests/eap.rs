//! EAP over RADIUS (RFC 3579) against a client no one here wrote:
//! wpa_supplicant's `eapol_test` runs EAP-MSCHAPv2 and EAP-GTC with the
//! real `radotp serve`, using a fresh TOTP code. It must be accepted once,
//! its replay and a wrong code rejected, and the MSK `eapol_test` derives
//! must equal the MS-MPPE keys radotp sent ("MPPE keys OK").
//! A missing `eapol_test` fails the test with the command that installs it.

mod common;

use std::path::Path;
use std::process::Command;

use common::daemon::*;

fn require_eapol_test() {
    let found = Command::new("sh")
        .args(["-c", "command -v eapol_test"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "eapol_test not found: install with: apt-get install eapoltest (scripts/test-deps.sh does)"
    );
}

fn config(dir: &Path) -> String {
    format!(
        r#"[server]
listen = ["127.0.0.1:0"]
accounting_listen = ["127.0.0.1:0"]
control_socket = "{d}/radotp.sock"
metrics_listen = "127.0.0.1:0"

[store]
path = "{d}/db"
key_file = "{d}/radotp.key"

[lockout]
threshold = 0

[eap]
methods = ["mschapv2", "gtc"]

[[client]]
name = "lo"
address = "127.0.0.1"
secret = "testing123"
"#,
        d = dir.display()
    )
}

/// Runs eapol_test with `eap` (MSCHAPV2, GTC) for `user`/`password`; its
/// exit status and output.
fn eapol_test(d: &Daemon, dir: &Path, eap: &str, user: &str, password: &str) -> (bool, String) {
    require_eapol_test();
    let conf = dir.join(format!("eapol-{eap}.conf"));
    std::fs::write(
        &conf,
        format!(
            "network={{\n  key_mgmt=IEEE8021X\n  eap={eap}\n  identity=\"{user}\"\n  password=\"{password}\"\n}}\n"
        ),
    )
    .unwrap();
    let mut cmd = Command::new("eapol_test");
    cmd.arg("-c")
        .arg(&conf)
        .args(["-a", "127.0.0.1", "-s", "testing123", "-t", "10"])
        .arg("-p")
        .arg(d.auth.port().to_string());
    if eap == "GTC" {
        cmd.arg("-n"); // GTC derives no keys
    }
    let out = cmd.output().expect("eapol_test runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// A code not yet used: waits for the next step when `used` is current.
fn fresh_code(seed: &[u8], used: &[String]) -> String {
    loop {
        let c = code(seed, now());
        if !used.contains(&c) {
            return c;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

#[test]
fn kamath_eap_mschapv2_accept_once_mppe_keys_match_replay_and_wrong_code_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("radotp.toml");
    std::fs::write(&cfg, config(dir.path())).unwrap();
    let d = start(&cfg);
    let seed = add_user(&cfg, "alice");

    let c = fresh_code(&seed, &[]);
    let (ok, out) = eapol_test(&d, dir.path(), "MSCHAPV2", "alice", &c);
    assert!(ok, "EAP-MSCHAPv2 with a fresh code: {}", tail(&out));
    assert!(out.contains("SUCCESS"), "{}", tail(&out));
    assert!(
        out.contains("MPPE keys OK: 1  mismatch: 0"),
        "the MSK must match MS-MPPE-Recv-Key|Send-Key: {}",
        tail(&out)
    );

    let (ok, out) = eapol_test(&d, dir.path(), "MSCHAPV2", "alice", &c);
    assert!(
        !ok,
        "replay of the same code must be rejected: {}",
        tail(&out)
    );
    assert!(out.contains("FAILURE"), "{}", tail(&out));

    let wrong = format!("{:06}", (c.parse::<u32>().unwrap() + 1) % 1_000_000);
    let (ok, out) = eapol_test(&d, dir.path(), "MSCHAPV2", "alice", &wrong);
    assert!(!ok, "a wrong code must be rejected: {}", tail(&out));

    let stats = cli_json(&cfg, &["stats"]);
    let eap = find_eap(&stats);
    assert_eq!(eap["methods"]["mschapv2"]["accepted"], 1, "{eap}");
    assert!(
        eap["methods"]["mschapv2"]["rejected"].as_u64().unwrap() >= 1,
        "{eap}"
    );
    assert_eq!(eap["conversations_started"], 3, "{eap}");
}

#[test]
fn rfc3748_5_6_eap_gtc_after_nak_accept_once_replay_and_wrong_code_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("radotp.toml");
    std::fs::write(&cfg, config(dir.path())).unwrap();
    let d = start(&cfg);
    let seed = add_user(&cfg, "bob");

    // The server proposes EAP-MSCHAPv2 first; eapol_test configured for GTC
    // answers with a Nak proposing GTC (RFC 3748 §5.3.1).
    let c = fresh_code(&seed, &[]);
    let (ok, out) = eapol_test(&d, dir.path(), "GTC", "bob", &c);
    assert!(ok, "EAP-GTC with a fresh code: {}", tail(&out));
    assert!(out.contains("SUCCESS"), "{}", tail(&out));

    let (ok, out) = eapol_test(&d, dir.path(), "GTC", "bob", &c);
    assert!(
        !ok,
        "replay of the same code must be rejected: {}",
        tail(&out)
    );

    let wrong = format!("{:06}", (c.parse::<u32>().unwrap() + 1) % 1_000_000);
    let (ok, out) = eapol_test(&d, dir.path(), "GTC", "bob", &wrong);
    assert!(!ok, "a wrong code must be rejected: {}", tail(&out));

    let stats = cli_json(&cfg, &["stats"]);
    let eap = find_eap(&stats);
    assert_eq!(eap["methods"]["gtc"]["accepted"], 1, "{eap}");
    assert_eq!(eap["methods"]["gtc"]["rejected"], 2, "{eap}");
}

/// The `"eap"` object wherever `radotp stats --json` nests it.
fn find_eap(v: &serde_json::Value) -> serde_json::Value {
    if let Some(e) = v.get("eap") {
        return e.clone();
    }
    match v {
        serde_json::Value::Object(m) => m
            .values()
            .map(find_eap)
            .find(|e| !e.is_null())
            .unwrap_or_default(),
        _ => serde_json::Value::Null,
    }
}

/// `radotp probe --eap METHOD` against the daemon: exit status and output.
fn probe_eap(d: &Daemon, cfg: &Path, eap: &str, user: &str, password: &str) -> (bool, String) {
    let out = cli(
        cfg,
        &[
            "probe",
            "--server",
            &d.auth.to_string(),
            "--secret",
            "testing123",
            "--user",
            user,
            "--password",
            password,
            "--eap",
            eap,
        ],
    );
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn radotp_probe_speaks_eap_mschapv2_and_gtc_checks_mppe_keys_and_sees_replays_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("radotp.toml");
    std::fs::write(&cfg, config(dir.path())).unwrap();
    let d = start(&cfg);
    let seed = add_user(&cfg, "erin");
    let c = fresh_code(&seed, &[]);
    let (ok, out) = probe_eap(&d, &cfg, "mschapv2", "erin", &c);
    assert!(ok, "{out}");
    assert!(out.contains("Access-Accept"), "{out}");
    assert!(
        out.contains("authenticator response and MPPE keys verified"),
        "{out}"
    );
    let (ok, out) = probe_eap(&d, &cfg, "mschapv2", "erin", &c);
    assert!(!ok, "replay: {out}");
    assert!(out.contains("Access-Reject"), "{out}");
    // GTC: the server proposes EAP-MSCHAPv2 first, the probe Naks.
    let seed2 = add_user(&cfg, "fay");
    let c2 = fresh_code(&seed2, &[]);
    let (ok, out) = probe_eap(&d, &cfg, "gtc", "fay", &c2);
    assert!(ok, "{out}");
    let (ok, out) = probe_eap(&d, &cfg, "gtc", "fay", &c2);
    assert!(!ok, "replay: {out}");
}
