//! The HTTP API's `serial=` of `/validate/check` names a hardware token by
//! the serial printed on it, as well as by its token id (loopback, the
//! server in process on a fixed clock).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{code_at, start, T0};
use radotp::store::TokenStore;
use serde_json::Value;

const CONFIG: &str = r#"
[server]
listen = ["127.0.0.1:0"]
accounting_listen = []
[api]
listen = ["127.0.0.1:0"]
request_timeout_secs = 2
[[client]]
name = "lo"
address = "127.0.0.1"
secret = "testing123"
"#;

/// A form POST to /validate/check; the JSON answer.
fn check(addr: SocketAddr, body: &str) -> Value {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /validate/check HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let json = &text[text.find("\r\n\r\n").unwrap() + 4..];
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

fn accepted(v: &Value) -> bool {
    v["result"]["value"] == true
}

#[test]
fn validate_check_serial_names_a_hardware_token_by_its_serial() {
    let ts = start(CONFIG);
    ts.add_user("hana", None);
    ts.add_user("ivan", None);
    let mut t = ts.store.token("t-hana").unwrap().unwrap();
    t.serial = Some("HW-77".into());
    ts.store.update_token(&t).unwrap();
    let a = ts
        .api
        .iter()
        .find(|(k, _)| *k == "api")
        .map(|(_, a)| *a)
        .expect("an API listener");

    // Another user's hardware serial does not take ivan's code.
    let v = check(a, &format!("user=ivan&serial=HW-77&pass={}", code_at(T0)));
    assert!(!accepted(&v), "{v}");
    // The serial alone names the token and its owner.
    let v = check(a, &format!("serial=HW-77&pass={}", code_at(T0)));
    assert!(accepted(&v), "{v}");
    // privacyIDEA's detail.serial is the hardware serial.
    assert_eq!(v["detail"]["serial"], "HW-77", "{v}");
    // With the user too, the next step's code.
    let v = check(
        a,
        &format!("user=hana&serial=HW-77&pass={}", code_at(T0 + 30)),
    );
    assert!(accepted(&v), "{v}");
    let v = check(a, &format!("serial=HW-78&pass={}", code_at(T0)));
    assert!(!accepted(&v), "an unknown serial: {v}");
}
