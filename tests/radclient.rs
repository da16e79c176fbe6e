//! Interop with clients no one here wrote: FreeRADIUS's `radclient` sends
//! PAP, CHAP and MS-CHAP requests carrying codes computed by `oathtool`, and
//! the running server must accept each once and reject its replay.
//! Both tools are installed by the README's test command
//! (`scripts/test-deps.sh`); a missing tool fails the test with the command
//! that installs it.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} not found: install it with `apt-get install -y {package}` (or run scripts/test-deps.sh)"
    );
}

/// The TOTP code of SEED at `unix`, computed by oathtool.
fn oathtool_code(unix: u64) -> String {
    require("oathtool", "oathtool");
    let hex: String = SEED.iter().map(|b| format!("{b:02x}")).collect();
    let out = Command::new("oathtool")
        .args(["--totp", &format!("--now=@{unix}"), "-d", "6", &hex])
        .output()
        .expect("oathtool runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let code = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(code.len(), 6, "{code}");
    code
}

/// Sends one request with radclient; returns its stdout.
fn radclient(ts: &TestServer, attrs: &str) -> String {
    require("radclient", "freeradius-utils");
    let mut child = Command::new("radclient")
        .args(["-r", "1", "-t", "2", "-x"])
        .arg(ts.addr.to_string())
        .args(["auth", "testing123"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("radclient runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(attrs.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

fn outcome(out: &str) -> &'static str {
    if out.contains("Received Access-Accept") {
        "accept"
    } else if out.contains("Received Access-Reject") {
        "reject"
    } else {
        "none"
    }
}

#[test]
fn radclient_pap_chap_mschap_with_oathtool_codes() {
    let ts = start(&config_text(""));
    let cases = [
        ("pap", "User-Password"),
        ("chap", "CHAP-Password"),
        ("mschap", "MS-CHAP-Password"),
    ];
    for (name, attr) in cases {
        let user = format!("rc-{name}");
        ts.add_user(&user, Some("9753"));
        let code = oathtool_code(ts.now());
        assert_eq!(code, code_at(ts.now()), "oathtool and radotp agree");
        let req = format!(
            "User-Name = \"{user}\", {attr} = \"9753{code}\", Message-Authenticator = 0x00\n"
        );
        let first = radclient(&ts, &req);
        assert_eq!(outcome(&first), "accept", "{name} first use:\n{first}");
        let replay = radclient(&ts, &req);
        assert_eq!(outcome(&replay), "reject", "{name} replay:\n{replay}");
        let wrong = radclient(
            &ts,
            &format!(
                "User-Name = \"{user}\", {attr} = \"9753000000\", Message-Authenticator = 0x00\n"
            ),
        );
        assert_eq!(outcome(&wrong), "reject", "{name} wrong code:\n{wrong}");
    }
}

#[test]
fn radclient_without_message_authenticator_is_dropped_by_default() {
    let ts = start(&config_text(""));
    ts.add_user("rc", None);
    let code = oathtool_code(ts.now());
    let out = radclient(
        &ts,
        &format!("User-Name = \"rc\", User-Password = \"{code}\"\n"),
    );
    assert_eq!(outcome(&out), "none", "{out}");
}

#[test]
fn radclient_status_server() {
    let ts = start(&config_text(""));
    require("radclient", "freeradius-utils");
    let mut child = Command::new("radclient")
        .args(["-r", "1", "-t", "2", "-x"])
        .arg(ts.addr.to_string())
        .args(["status", "testing123"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Message-Authenticator = 0x00\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Received Access-Accept"), "{text}");
}
