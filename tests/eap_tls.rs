//! PEAPv0 and EAP-TTLS against a supplicant no one here wrote:
//! wpa_supplicant's `eapol_test` runs PEAP/MSCHAPv2, PEAP/GTC, TTLS/PAP and
//! TTLS/EAP-MSCHAPv2 with the real `radotp serve` on loopback, whose tunnel
//! certificate is made here by `openssl`. A fresh TOTP code must be accepted
//! once, its replay and a wrong code rejected; the outer identity is
//! `anonymous`, the user only inside the tunnel; and the MSK eapol_test
//! derives from the TLS tunnel must equal the MS-MPPE keys radotp sent
//! ("MPPE keys OK"). Missing tools fail the test with the command that
//! installs them.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::daemon::*;

fn require_tools() {
    require("eapol_test", "eapoltest");
    require("openssl", "openssl");
}

/// A self-signed server certificate and its key (mode 0600) in `dir`.
fn make_cert(dir: &Path) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "eap.key",
            "-out",
            "eap.pem",
            "-days",
            "2",
            "-subj",
            "/CN=radotp-eap-test",
            "-addext",
            "subjectAltName=DNS:radotp-eap-test",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ])
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::set_permissions(dir.join("eap.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn config(dir: &Path, extra: &str) -> String {
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
methods = ["peap", "ttls", "mschapv2", "gtc"]
certificate = "{d}/eap.pem"
private_key = "{d}/eap.key"
{extra}

[[client]]
name = "lo"
address = "127.0.0.1"
secret = "testing123"
"#,
        d = dir.display()
    )
}

struct Setup {
    _dir: tempfile::TempDir,
    cfg: std::path::PathBuf,
    daemon: Daemon,
}

fn setup(extra: &str) -> Setup {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    make_cert(dir.path());
    let cfg = dir.path().join("radotp.toml");
    std::fs::write(&cfg, config(dir.path(), extra)).unwrap();
    let daemon = start(&cfg);
    Setup {
        _dir: dir,
        cfg,
        daemon,
    }
}

/// Runs eapol_test with `network` lines (eap=, phase1=, phase2=) for
/// `user`/`password`, outer identity "anonymous"; its exit status and output.
fn eapol_test(s: &Setup, network: &str, user: &str, password: &str) -> (bool, String) {
    let dir = s.cfg.parent().unwrap();
    let conf = dir.join("eapol.conf");
    std::fs::write(
        &conf,
        format!(
            "network={{\n  key_mgmt=IEEE8021X\n  {network}\n  identity=\"{user}\"\n  anonymous_identity=\"anonymous\"\n  password=\"{password}\"\n}}\n"
        ),
    )
    .unwrap();
    let out = Command::new("eapol_test")
        .arg("-c")
        .arg(&conf)
        .args(["-a", "127.0.0.1", "-s", "testing123", "-t", "15"])
        .arg("-p")
        .arg(s.daemon.auth.port().to_string())
        .output()
        .expect("eapol_test runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
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

/// Fresh code accepted with matching MPPE keys, its replay and a wrong
/// code rejected, for one tunnel configuration.
fn accept_replay_wrong(s: &Setup, user: &str, network: &str, tls: &str) {
    let seed = add_user(&s.cfg, user);
    let c = fresh_code(&seed, &[]);
    let (ok, out) = eapol_test(s, network, user, &c);
    assert!(ok, "{network}: a fresh code: {}", tail(&out));
    assert!(out.contains("SUCCESS"), "{}", tail(&out));
    assert!(
        out.contains("MPPE keys OK: 1  mismatch: 0"),
        "{network}: the tunnel's MSK must match MS-MPPE-Recv-Key|Send-Key: {}",
        tail(&out)
    );
    assert!(
        out.contains(tls),
        "{network}: expected a {tls} tunnel: {}",
        tail(&out)
    );

    let (ok, out) = eapol_test(s, network, user, &c);
    assert!(
        !ok,
        "{network}: the replayed code must be rejected: {}",
        tail(&out)
    );
    assert!(out.contains("FAILURE"), "{}", tail(&out));

    let wrong = format!("{:06}", (c.parse::<u32>().unwrap() + 1) % 1_000_000);
    let (ok, out) = eapol_test(s, network, user, &wrong);
    assert!(
        !ok,
        "{network}: a wrong code must be rejected: {}",
        tail(&out)
    );
    if network.contains("MSCHAPV2") {
        // The inner method says why (draft-kamath §2 Failure Request).
        assert!(
            out.contains("E=691"),
            "{network}: the peer gets the MS-CHAPv2 failure E=691: {}",
            tail(&out)
        );
    }
}

/// The daemon's /metrics text.
fn metrics(s: &Setup) -> String {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(s.daemon.metrics).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    c.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    out
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

const TLS12: &str = "phase1=\"tls_disable_tlsv1_3=1\"";
/// Debian's wpa_supplicant leaves TLS 1.3 off for PEAP/TTLS unless asked.
const TLS13: &str = "phase1=\"tls_disable_tlsv1_3=0\"";

#[test]
fn peapv0_mschapv2_tls12_tls13_accept_once_mppe_keys_from_tunnel_replay_and_wrong_rejected() {
    let s = setup("");
    accept_replay_wrong(
        &s,
        "alice",
        &format!("eap=PEAP\n  phase2=\"auth=MSCHAPV2\"\n  {TLS12}"),
        "TLSv1.2",
    );
    accept_replay_wrong(
        &s,
        "alice13",
        &format!("eap=PEAP\n  phase2=\"auth=MSCHAPV2\"\n  {TLS13}"),
        "TLSv1.3",
    );
    let eap = find_eap(&cli_json(&s.cfg, &["stats"]));
    assert_eq!(eap["methods"]["peap"]["accepted"], 2, "{eap}");
    assert_eq!(eap["methods"]["peap"]["rejected"], 4, "{eap}");
    let m = metrics(&s);
    assert!(
        m.contains("radotp_eap_methods_total{method=\"peap\",result=\"accepted\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("radotp_eap_methods_total{method=\"peap\",result=\"rejected\"} 4"),
        "{m}"
    );
}

#[test]
fn peapv0_gtc_tls12_tls13_accept_once_replay_and_wrong_rejected() {
    let s = setup("");
    accept_replay_wrong(
        &s,
        "bob",
        // The client fragments its TLS messages too (300 octets): each
        // fragment is acknowledged with an empty request.
        &format!("eap=PEAP\n  phase2=\"auth=GTC\"\n  fragment_size=300\n  {TLS12}"),
        "TLSv1.2",
    );
    accept_replay_wrong(
        &s,
        "bob13",
        &format!("eap=PEAP\n  phase2=\"auth=GTC\"\n  {TLS13}"),
        "TLSv1.3",
    );
}

#[test]
fn rfc5281_ttls_pap_tls12_tls13_accept_once_replay_and_wrong_rejected() {
    let s = setup("");
    accept_replay_wrong(
        &s,
        "carol",
        &format!("eap=TTLS\n  phase2=\"auth=PAP\"\n  {TLS12}"),
        "TLSv1.2",
    );
    accept_replay_wrong(
        &s,
        "carol13",
        &format!("eap=TTLS\n  phase2=\"auth=PAP\"\n  {TLS13}"),
        "TLSv1.3",
    );
    let eap = find_eap(&cli_json(&s.cfg, &["stats"]));
    assert_eq!(eap["methods"]["ttls"]["accepted"], 2, "{eap}");
    assert_eq!(eap["methods"]["ttls"]["rejected"], 4, "{eap}");
}

#[test]
fn rfc5281_ttls_eap_mschapv2_tls12_tls13_accept_once_replay_and_wrong_rejected() {
    let s = setup("");
    accept_replay_wrong(
        &s,
        "dave",
        &format!("eap=TTLS\n  phase2=\"autheap=MSCHAPV2\"\n  {TLS12}"),
        "TLSv1.2",
    );
    accept_replay_wrong(
        &s,
        "dave13",
        &format!("eap=TTLS\n  phase2=\"autheap=MSCHAPV2\"\n  {TLS13}"),
        "TLSv1.3",
    );
}

#[test]
fn eap_private_key_readable_by_others_is_refused_and_peap_needs_a_certificate() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    make_cert(dir.path());
    let cfg = dir.path().join("radotp.toml");
    std::fs::write(&cfg, config(dir.path(), "")).unwrap();
    let check = |cfg: &Path| {
        let out = cli(cfg, &["config", "check"]);
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, out) = check(&cfg);
    assert!(ok, "{out}");
    std::fs::set_permissions(
        dir.path().join("eap.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let (ok, out) = check(&cfg);
    assert!(!ok, "a key readable by others must be refused: {out}");
    assert!(
        out.contains("[eap] private_key") && out.contains("chmod 600"),
        "{out}"
    );
    // "peap" without certificate and key: a located config error.
    let bare = dir.path().join("bare.toml");
    std::fs::write(
        &bare,
        "[eap]\nmethods = [\"mschapv2\",\n  \"peap\"]\n[[client]]\nname = \"lo\"\naddress = \"127.0.0.1\"\nsecret = \"testing123\"\n",
    )
    .unwrap();
    let (ok, out) = check(&bare);
    assert!(!ok, "{out}");
    assert!(
        out.contains("needs [eap] certificate and private_key"),
        "{out}"
    );
    assert!(
        out.contains(":3"),
        "the error names the line of \"peap\": {out}"
    );
}

#[test]
fn rfc5281_ttls_eap_gtc_tls12_accept_once_replay_and_wrong_rejected() {
    let s = setup("");
    accept_replay_wrong(
        &s,
        "erin",
        &format!("eap=TTLS\n  phase2=\"autheap=GTC\"\n  {TLS12}"),
        "TLSv1.2",
    );
}

/// `radotp probe --eap METHOD ARGS...` against the daemon.
fn probe(s: &Setup, user: &str, password: &str, args: &[&str]) -> (bool, String) {
    let server = s.daemon.auth.to_string();
    let mut a = vec![
        "probe",
        "--server",
        &server,
        "--secret",
        "testing123",
        "--user",
        user,
        "--password",
        password,
    ];
    a.extend_from_slice(args);
    let out = cli(&s.cfg, &a);
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
fn radotp_probe_speaks_peap_and_ttls_checks_the_certificate_and_the_tunnel_msk() {
    let s = setup("");
    let dir = s.cfg.parent().unwrap().to_path_buf();
    let ca = dir.join("eap.pem");
    let ca = ca.to_str().unwrap();
    let seed = add_user(&s.cfg, "gus");
    let c = fresh_code(&seed, &[]);
    // The certificate checked against --ca and --tls-name.
    let (ok, out) = probe(
        &s,
        "gus",
        &c,
        &["--eap", "peap", "--ca", ca, "--tls-name", "other-name"],
    );
    assert!(!ok, "a certificate without that name must not do: {out}");
    assert!(!out.contains("Access-Accept"), "{out}");
    let (ok, out) = probe(
        &s,
        "gus",
        &c,
        &["--eap", "peap", "--ca", ca, "--tls-name", "radotp-eap-test"],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("MS-MPPE keys = the PEAP tunnel's MSK"),
        "{out}"
    );
    let (ok, out) = probe(&s, "gus", &c, &["--eap", "peap-gtc", "--eap-no-verify"]);
    assert!(!ok, "replay: {out}");
    assert!(out.contains("Access-Reject"), "{out}");
    let seed = add_user(&s.cfg, "hal");
    let c = fresh_code(&seed, &[]);
    let (ok, out) = probe(&s, "hal", &c, &["--eap", "ttls", "--eap-no-verify"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("MS-MPPE keys = the TTLS tunnel's MSK"),
        "{out}"
    );
    // Neither --ca nor --eap-no-verify: a usage error, no conversation.
    let (ok, out) = probe(&s, "hal", &c, &["--eap", "ttls"]);
    assert!(!ok);
    assert!(out.contains("--eap-no-verify"), "{out}");
}
