//! Hardware-token provisioning through the CLI, against independent tools:
//! the RFC 6030 figures (plain, pre-shared-key and PBKDF2 encrypted) import
//! and give the codes oathtool computes from the figures' seeds; files the
//! Python `pskc` library writes (PSK and PBKDF2) import, and a wrong
//! password, a wrong key or a tampered MAC imports nothing; an export
//! imports into a fresh store with every field kept, holds no seed in the
//! clear, and the Python library reads it; the line formats report bad
//! lines by number.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FIGURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/pskc");
/// The seed of RFC 6030's figures 3, 6 and 7 (ASCII "12345678901234567890").
const RFC_SEED_HEX: &str = "3132333435363738393031323334353637383930";

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

    /// A file in the test directory.
    fn file(&self, name: &str, content: &[u8]) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p.display().to_string()
    }

    fn tokens(&self) -> Vec<serde_json::Value> {
        self.json(&["token", "list"])["result"]
            .as_array()
            .unwrap()
            .clone()
    }

    fn token_count(&self) -> u64 {
        self.json(&["stats"])["result"]["tokens"].as_u64().unwrap()
    }

    fn accepts(&self, user: &str, code: &str) -> bool {
        let o = self.run(&["--json", "otp", "check", user, code]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["result"]["accepted"] == true
    }
}

fn figure(n: u32) -> String {
    format!("{FIGURES}/rfc6030-figure{n}.pskcxml")
}

/// oathtool's code for a hex seed (`--hotp -c N` or `--totp`).
fn oathtool(args: &[&str], hex_seed: &str) -> String {
    let out = Command::new("oathtool")
        .args(args)
        .arg(hex_seed)
        .output()
        .unwrap_or_else(|_| {
            panic!("oathtool not found: install it with `apt-get install -y oathtool` (scripts/test-deps.sh)")
        });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A Python with the `pskc` module (Debian's python3-pskc).
fn python() -> String {
    for cand in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(cand)
            .args(["-c", "import pskc"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return cand.to_string();
        }
    }
    panic!("the Python pskc library is missing: install it with `apt-get install -y python3-pskc` (scripts/test-deps.sh)")
}

fn py(script: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python pskc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn only_token(e: &Env) -> serde_json::Value {
    let ts = e.tokens();
    assert_eq!(ts.len(), 1, "{ts:?}");
    ts[0].clone()
}

#[test]
fn rfc6030_figure2_plain_key_imports_unassigned_with_oathtool_codes() {
    let e = env();
    let v = e.json(&["token", "import", &figure(2)]);
    assert_eq!(v["imported"], 1, "{v}");
    assert_eq!(v["format"], "pskc", "detected by content: {v}");
    let t = only_token(&e);
    assert_eq!(t["owner"], "", "no UserId: unassigned");
    assert_eq!(
        (t["kind"].as_str(), t["digits"].as_u64()),
        (Some("hotp"), Some(6))
    );
    let unassigned = e.json(&["token", "list", "--unassigned"]);
    assert_eq!(
        unassigned["result"].as_array().unwrap().len(),
        1,
        "{unassigned}"
    );
    // Given to a user, it answers with the codes of the seed "1234".
    e.ok(&["user", "add", "bob"]);
    e.ok(&["token", "assign", t["id"].as_str().unwrap(), "bob"]);
    let unassigned = e.json(&["token", "list", "--unassigned"]);
    assert_eq!(
        unassigned["result"].as_array().unwrap().len(),
        0,
        "{unassigned}"
    );
    assert!(e.accepts("bob", &oathtool(&["--hotp", "-c", "0"], "31323334")));
    assert!(e.accepts("bob", &oathtool(&["--hotp", "-c", "1"], "31323334")));
}

#[test]
fn rfc6030_figure3_user_id_and_serial_map_to_user_and_serial() {
    let e = env();
    let v = e.json(&["token", "import", &figure(3)]);
    assert_eq!(
        (v["imported"].as_u64(), v["users_created"].as_u64()),
        (Some(1), Some(1))
    );
    let t = only_token(&e);
    assert_eq!(t["owner"], "jsmith", "UID= of the key's UserId");
    assert_eq!(t["serial"], "987654321");
    assert_eq!(t["digits"], 8);
    // The serial names the token wherever an id does.
    let shown = e.json(&["token", "show", "987654321"]);
    assert_eq!(shown["result"]["id"], t["id"]);
    assert!(e.accepts(
        "jsmith",
        &oathtool(&["--hotp", "-d", "8", "-c", "0"], RFC_SEED_HEX)
    ));
}

#[test]
fn rfc6030_figure6_psk_encrypted_key_imports() {
    let e = env();
    let psk = e.file("psk", b"12345678901234567890123456789012\n");
    let v = e.json(&["token", "import", &figure(6), "--psk-file", &psk]);
    assert_eq!(v["imported"], 1, "{v}");
    let t = only_token(&e);
    assert_eq!(
        (t["owner"].as_str(), t["serial"].as_str()),
        (Some(""), Some("987654321"))
    );
    e.ok(&["user", "add", "alice"]);
    e.ok(&["token", "assign", "987654321", "alice"]);
    let code = oathtool(&["--hotp", "-d", "8", "-c", "0"], RFC_SEED_HEX);
    assert!(e.accepts("alice", &code));
    assert!(!e.accepts("alice", &code), "a used HOTP code is a replay");
}

#[test]
fn rfc6030_figure7_pbkdf2_encrypted_key_imports() {
    let e = env();
    let pw = e.file("pw", b"qwerty\n");
    let v = e.json(&["token", "import", &figure(7), "--password-file", &pw]);
    assert_eq!(v["imported"], 1, "{v}");
    e.ok(&["user", "add", "carol"]);
    e.ok(&["token", "assign", "987654321", "carol"]);
    assert!(e.accepts(
        "carol",
        &oathtool(&["--hotp", "-d", "8", "-c", "0"], RFC_SEED_HEX)
    ));
}

#[test]
fn rfc6030_wrong_psk_wrong_password_missing_key_or_tampered_mac_imports_nothing() {
    let e = env();
    let bad_psk = e.file("psk", b"12345678901234567890123456789013\n");
    let bad_pw = e.file("pw", b"qwertz\n");
    let fig6_text = std::fs::read_to_string(figure(6)).unwrap();
    let tampered = e.file(
        "tampered.pskcxml",
        fig6_text
            .replace(
                "Su+NvtQfmvfJzF6bmQiJqoLRExc=",
                "Tu+NvtQfmvfJzF6bmQiJqoLRExc=",
            )
            .as_bytes(),
    );
    let good_psk = e.file("good", b"12345678901234567890123456789012");
    let (fig6, fig7) = (figure(6), figure(7));
    let cases: [(&str, Vec<&str>, &str); 4] = [
        ("wrong psk", vec![&fig6, "--psk-file", &bad_psk], "wrong"),
        (
            "wrong password",
            vec![&fig7, "--password-file", &bad_pw],
            "wrong",
        ),
        ("no psk", vec![&fig6], "--psk-file"),
        (
            "tampered MAC",
            vec![&tampered, "--psk-file", &good_psk],
            "the MAC does not match",
        ),
    ];
    for (what, args, says) in &cases {
        let mut a = vec!["token", "import"];
        a.extend(args.iter().copied());
        let o = e.run(&a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{what}: {err}");
        assert!(err.contains(says), "{what}: {err}");
        assert!(err.contains("nothing imported"), "{what}: {err}");
        assert_eq!(e.token_count(), 0, "{what}: nothing imported");
    }
}

const PY_WRITE: &str = r#"
import sys, pskc
mode, path, secret = sys.argv[1], sys.argv[2], sys.argv[3]
p = pskc.PSKC()
p.add_key(id='k-totp', serial='FT-0001', secret=bytes.fromhex('3132333435363738393031323334353637383930'),
          algorithm='urn:ietf:params:xml:ns:keyprov:pskc:totp', response_length=6, time_interval=30,
          key_userid='UID=dave,DC=example,DC=net', manufacturer='Feitian')
p.add_key(id='k-hotp', serial='FT-0002', secret=bytes(range(1, 21)),
          algorithm='urn:ietf:params:xml:ns:keyprov:pskc:hotp', response_length=8, counter=5)
p.add_key(id='k-totp60', serial='FT-0003', secret=bytes(range(40, 72)),
          algorithm='urn:ietf:params:xml:ns:keyprov:pskc:totp', response_length=7, time_interval=60,
          key_userid='erin')
if mode == 'psk':
    p.encryption.setup_preshared_key(key=bytes.fromhex(secret))
else:
    p.encryption.setup_pbkdf2(secret, iterations=2000)
p.write(path)
"#;

/// The Python library's file, imported: serials, owners, parameters, and
/// oathtool's codes accepted.
fn check_python_file_imports(e: &Env, path: &str, key_arg: &[&str]) {
    let mut a = vec!["token", "import", path];
    a.extend_from_slice(key_arg);
    let v = e.json(&a);
    assert_eq!(v["imported"], 3, "{v}");
    assert_eq!(v["unassigned"], 1, "{v}");
    let ts = e.tokens();
    let by = |serial: &str| {
        ts.iter()
            .find(|t| t["serial"] == serial)
            .unwrap_or_else(|| panic!("no token {serial}: {ts:?}"))
            .clone()
    };
    let (a, b, c) = (by("FT-0001"), by("FT-0002"), by("FT-0003"));
    assert_eq!(
        (a["owner"].as_str(), a["kind"].as_str()),
        (Some("dave"), Some("totp"))
    );
    assert_eq!(
        (
            b["owner"].as_str(),
            b["kind"].as_str(),
            b["digits"].as_u64()
        ),
        (Some(""), Some("hotp"), Some(8))
    );
    assert_eq!(
        (
            c["owner"].as_str(),
            c["digits"].as_u64(),
            c["period"].as_u64()
        ),
        (Some("erin"), Some(7), Some(60))
    );
    assert!(e.accepts("dave", &oathtool(&["--totp"], RFC_SEED_HEX)));
    let hotp_seed: String = (1u8..=20).map(|b| format!("{b:02x}")).collect();
    e.ok(&["user", "add", "frank"]);
    e.ok(&["token", "assign", "FT-0002", "frank"]);
    // The file's counter is 5: the token's next code is counter 5's.
    assert!(!e.accepts(
        "frank",
        &oathtool(&["--hotp", "-d", "8", "-c", "4"], &hotp_seed)
    ));
    assert!(e.accepts(
        "frank",
        &oathtool(&["--hotp", "-d", "8", "-c", "5"], &hotp_seed)
    ));
    let seed60: String = (40u8..72).map(|b| format!("{b:02x}")).collect();
    assert!(e.accepts(
        "erin",
        &oathtool(&["--totp", "-d", "7", "-s", "60"], &seed60)
    ));
}

#[test]
fn python_pskc_psk_encrypted_file_imports_and_wrong_key_or_tampered_mac_imports_nothing() {
    let e = env();
    let key = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
    let path = e.dir.path().join("py-psk.pskcxml").display().to_string();
    py(PY_WRITE, &["psk", &path, key]);
    let wrong = e.file("wrong", b"a1b2c3d4e5f60718293a4b5c6d7e8f91");
    let o = e.run(&["token", "import", &path, "--psk-file", &wrong]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(e.token_count(), 0);
    // One ValueMAC changed (its first base64 character): nothing imported.
    let xml = std::fs::read_to_string(&path).unwrap();
    let at = xml.find("ValueMAC>").unwrap() + 9;
    let mut bytes = xml.into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let tampered = e.file("tampered.pskcxml", &bytes);
    let good = e.file("key", key.as_bytes());
    let o = e.run(&["token", "import", &tampered, "--psk-file", &good]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("the MAC does not match"), "{err}");
    assert_eq!(e.token_count(), 0);
    check_python_file_imports(&e, &path, &["--psk-file", &good]);
}

#[test]
fn python_pskc_pbkdf2_encrypted_file_imports_and_wrong_password_imports_nothing() {
    let e = env();
    let path = e.dir.path().join("py-pw.pskcxml").display().to_string();
    py(PY_WRITE, &["pbkdf2", &path, "correct horse battery"]);
    let wrong = e.file("wrong", b"correct horse battery staple\n");
    let o = e.run(&["token", "import", &path, "--password-file", &wrong]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(e.token_count(), 0);
    let pw = e.file("pw", b"correct horse battery\n");
    check_python_file_imports(&e, &path, &["--password-file", &pw]);
}

/// A store with tokens in several states: an activated and used TOTP
/// (SHA-256, 8 digits, 60 s), a pending one, a disabled unassigned HOTP
/// with a serial, an assigned TOTP with a serial.
fn varied_store(e: &Env) -> Vec<String> {
    e.ok(&["user", "add", "alice"]);
    let v = e.json(&[
        "token",
        "enroll",
        "alice",
        "--no-terminal-qr",
        "--algorithm",
        "sha256",
        "--digits",
        "8",
        "--period",
        "60",
        "--description",
        "phone & <app>",
    ]);
    let id = v["result"]["token"]["id"].as_str().unwrap().to_string();
    let uri = v["result"]["uri"].as_str().unwrap().to_string();
    let b32 = uri
        .split_once("secret=")
        .unwrap()
        .1
        .split('&')
        .next()
        .unwrap()
        .to_string();
    let code = Command::new("oathtool")
        .args(["--totp=sha256", "-d", "8", "-s", "60", "-b", &b32])
        .output()
        .expect("oathtool not found: install it with `apt-get install -y oathtool`");
    let code = String::from_utf8(code.stdout).unwrap().trim().to_string();
    e.ok(&["token", "activate", &id, &code]);
    e.json(&["token", "enroll", "alice", "--no-terminal-qr"]);
    let list = e.file(
        "seeds.csv",
        b"serial,seed,type,digits,period\nHW-1,00112233445566778899aabbccddeeff00112233,hotp,6\nHW-2,ffeeddccbbaa99887766554433221100ffeeddcc,totp,6,30\n",
    );
    e.json(&["token", "import", &list]);
    e.ok(&["token", "disable", "HW-1"]);
    e.ok(&["token", "assign", "HW-2", "alice"]);
    vec![
        b32,
        "00112233445566778899aabbccddeeff00112233".into(),
        "ffeeddccbbaa99887766554433221100ffeeddcc".into(),
    ]
}

#[test]
fn export_then_import_into_a_fresh_store_round_trips_every_field() {
    let e = env();
    let seeds = varied_store(&e);
    let before = e.tokens();
    assert_eq!(before.len(), 4);
    let pw = e.file("pw", b"export pass\n");
    let out = e.dir.path().join("backup.pskcxml").display().to_string();
    let v = e.json(&[
        "token",
        "export",
        "--out",
        &out,
        "--password-file",
        &pw,
        "--iterations",
        "2000",
    ]);
    assert_eq!(
        (v["exported"].as_u64(), v["encrypted"].as_bool()),
        (Some(4), Some(true))
    );

    // No seed in the clear: not in base32, hex or base64.
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains("PlainValue>") || !text.contains("<Secret><PlainValue"));
    let b64 = |hex: &str| {
        let bytes: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        data_b64(&bytes)
    };
    assert!(!text.contains(&seeds[0]), "base32 seed in the export");
    for hex in &seeds[1..] {
        assert!(
            !text.to_lowercase().contains(hex.as_str()),
            "hex seed in the export"
        );
        assert!(!text.contains(&b64(hex)), "base64 seed in the export");
        assert!(!text.contains(&b64(hex)[..16]), "base64 seed in the export");
    }
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let fresh = env();
    let v = fresh.json(&["token", "import", &out, "--password-file", &pw]);
    assert_eq!(v["imported"], 4, "{v}");
    assert_eq!(fresh.tokens(), before, "every field of every token");

    // And it still answers: HW-2 with its seed's codes.
    assert!(fresh.accepts("alice", &oathtool(&["--totp"], &seeds[2])));
}

/// Standard base64 (the test needs no crate for it).
fn data_b64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[test]
fn python_pskc_reads_the_encrypted_export() {
    let e = env();
    let seeds = varied_store(&e);
    let psk = e.file("psk", b"00112233445566778899aabbccddeeff\n");
    let out = e.dir.path().join("backup.pskcxml").display().to_string();
    e.ok(&["token", "export", "--out", &out, "--psk-file", &psk]);
    let got = py(
        r#"
import sys, pskc
p = pskc.PSKC(sys.argv[1])
p.encryption.key = bytes.fromhex(sys.argv[2])
for k in p.keys:
    print(k.serial or '-', k.secret.hex(), k.algorithm.rsplit(':', 1)[-1], k.response_length)
"#,
        &[&out, "00112233445566778899aabbccddeeff"],
    );
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines.len(), 4, "{got}");
    assert!(
        lines.contains(&format!("HW-1 {} hotp 6", seeds[1]).as_str()),
        "{got}"
    );
    assert!(
        lines.contains(&format!("HW-2 {} totp 6", seeds[2]).as_str()),
        "{got}"
    );
    assert!(lines.iter().any(|l| l.ends_with("totp 8")), "{got}");
}

#[test]
fn export_refuses_clear_text_seeds_without_plaintext() {
    let e = env();
    varied_store(&e);
    let out = e.dir.path().join("x").display().to_string();
    for args in [
        vec!["token", "export", "--out", &out],
        vec!["token", "export", "--out", &out, "--format", "otpauth"],
    ] {
        let o = e.run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("--plaintext"));
        assert!(!Path::new(&out).exists(), "nothing written");
    }
    e.ok(&[
        "token",
        "export",
        "--out",
        &out,
        "--format",
        "otpauth",
        "--plaintext",
    ]);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        text.lines().filter(|l| l.starts_with("otpauth://")).count(),
        4
    );
}

#[test]
fn seed_list_and_yubico_csv_report_bad_lines_and_all_or_nothing_imports_none() {
    let e = env();
    let list = e.file(
        "list.csv",
        b"serial,seed\nT2-1,3132333435363738393031323334353637383930\nT2-2,nothex\nT2-3,3132333435363738393031323334353637383930,totp,9\n",
    );
    let o = e.run(&["--json", "token", "import", &list, "--all-or-nothing"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let lines: Vec<_> = v["bad_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4], "{v}");
    assert_eq!(e.token_count(), 0, "--all-or-nothing: none imported");
    let o = e.run(&["--json", "token", "import", &list]);
    assert_eq!(o.status.code(), Some(1), "bad lines: exit 1");
    assert_eq!(e.token_count(), 1, "the good line imported");

    let yk = e.file(
        "yubico.csv",
        b"7654321,,,3132333435363738393031323334353637383930,,2024-01-01T10:00:00,\n",
    );
    let v = e.json(&["token", "import", &yk]);
    assert_eq!(
        (v["format"].as_str(), v["imported"].as_u64()),
        (Some("yubico"), Some(1))
    );
    e.ok(&["user", "add", "gina"]);
    e.ok(&["token", "assign", "yk-7654321", "gina"]);
    assert!(e.accepts("gina", &oathtool(&["--hotp", "-c", "0"], RFC_SEED_HEX)));
}

#[test]
fn a_serial_names_the_token_in_show_disable_enable_assign_and_delete() {
    let e = env();
    let list = e.file(
        "list.csv",
        b"serial,seed\nSN-A,3132333435363738393031323334353637383930,hotp\n",
    );
    e.json(&["token", "import", &list]);
    e.ok(&["user", "add", "kim"]);
    e.ok(&["token", "assign", "SN-A", "kim"]);
    assert_eq!(e.json(&["token", "show", "SN-A"])["result"]["owner"], "kim");
    e.ok(&["token", "disable", "SN-A"]);
    let code0 = oathtool(&["--hotp", "-c", "0"], RFC_SEED_HEX);
    assert!(!e.accepts("kim", &code0), "disabled");
    e.ok(&["token", "enable", "SN-A"]);
    assert!(e.accepts("kim", &code0));
    let o = e.run(&["token", "assign", "SN-A", "nobody"]);
    assert_eq!(o.status.code(), Some(1), "no such user");
    e.ok(&["token", "delete", "SN-A"]);
    assert_eq!(e.token_count(), 0);
    let o = e.run(&["token", "show", "SN-A"]);
    assert_ne!(o.status.code(), Some(0));
}

/// The daemon, started on this test's config; killed when dropped.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn import_and_export_through_a_running_daemon_hand_over_every_page() {
    let e = env();
    let child = Command::new(env!("CARGO_BIN_EXE_radotp"))
        .arg("serve")
        .arg("--config")
        .arg(&e.config)
        .env_remove("RADOTP_CONFIG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut daemon = Daemon(child);
    let sock = e.dir.path().join("radotp.sock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !sock.exists() {
        assert!(daemon.0.try_wait().unwrap().is_none(), "daemon exited");
        assert!(std::time::Instant::now() < deadline, "no control socket");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // 2,500 tokens: three pages of an export, one import batch.
    let mut list = String::from("serial,seed\n");
    for i in 0..2500 {
        list.push_str(&format!("D-{i:04},{:040x}\n", 0x1000_0000_u64 + i));
    }
    let list = e.file("list.csv", list.as_bytes());
    let v = e.json(&["token", "import", &list]);
    assert_eq!(v["imported"], 2500, "{v}");
    let psk = e.file("psk", b"000102030405060708090a0b0c0d0e0f");
    let out = e.dir.path().join("all.pskcxml").display().to_string();
    let v = e.json(&["token", "export", "--out", &out, "--psk-file", &psk]);
    assert_eq!(v["exported"], 2500, "{v}");
    let before = e.tokens();
    drop(daemon);

    let fresh = env();
    let v = fresh.json(&["token", "import", &out, "--psk-file", &psk]);
    assert_eq!(v["imported"], 2500, "{v}");
    assert_eq!(fresh.tokens(), before);
}
