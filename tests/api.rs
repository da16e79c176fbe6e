//! The HTTP API (issue 20) over real HTTP on 127.0.0.1 with ephemeral
//! ports: privacyIDEA's `/validate/check` and `/validate/radiuscheck` on
//! the RADIUS verification path (one use per code, PIN, challenge with a
//! transaction id, lockout shared with RADIUS), who may call it, hostile
//! requests, and the admin API with its keys. Most tests run the server in
//! process on a fixed clock (tests/common); the last ones run the real
//! binary and drive it with curl, over HTTP and HTTPS.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{code_at, start, TestServer, T0};
use radotp::auth::Method;
use radotp::radius::Code;
use radotp::store::{ApiKey, ApiScope, TokenStore};
use serde_json::{json, Value};

/// A config with the API on a loopback port; `api` is added to `[api]`,
/// `extra` after it.
fn config(api: &str, extra: &str) -> String {
    format!(
        r#"
[server]
listen = ["127.0.0.1:0"]
accounting_listen = []
[api]
listen = ["127.0.0.1:0"]
request_timeout_secs = 2
{api}
[[client]]
name = "lo"
address = "127.0.0.1"
secret = "testing123"
{extra}
"#
    )
}

fn api(ts: &TestServer) -> SocketAddr {
    ts.api
        .iter()
        .find(|(k, _)| *k == "api")
        .map(|(_, a)| *a)
        .expect("an API listener")
}

/// One HTTP/1.1 response.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("JSON body ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends raw request bytes and reads the response (the connection closes
/// after it: every request says `Connection: close`).
fn raw(addr: SocketAddr, request: &[u8]) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(request)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    parse(&buf).ok_or_else(|| std::io::Error::other(format!("no HTTP response: {buf:?}")))
}

fn parse(buf: &[u8]) -> Option<Reply> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = buf[end + 4..].to_vec();
    if let Some(n) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body.truncate(n);
    }
    Some(Reply {
        status,
        headers,
        body,
    })
}

/// A request with `headers` and `body`.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method != "GET" {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    bytes.extend_from_slice(body);
    raw(addr, &bytes).expect("an HTTP response")
}

/// A form POST, as privacyIDEA's PAM module sends it.
fn form(addr: SocketAddr, path: &str, fields: &[(&str, &str)]) -> Reply {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect();
    request(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.join("&").as_bytes(),
    )
}

fn check(addr: SocketAddr, fields: &[(&str, &str)]) -> Value {
    let r = form(addr, "/validate/check", fields);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn authentication(v: &Value) -> &str {
    v["result"]["authentication"].as_str().unwrap_or("")
}

/// Failures are written by the commit thread after the answer.
fn wait_failures(ts: &TestServer, user: &str, n: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while ts.store.user(user).unwrap().unwrap().failures != n {
        assert!(
            Instant::now() < deadline,
            "failures of {user} never reached {n}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn accept_once_then_replay_refused_in_privacyideas_shape() {
    let ts = start(&config("", ""));
    ts.add_user("alice", None);
    let a = api(&ts);
    let v = check(
        a,
        &[
            ("user", "alice"),
            ("pass", &code_at(T0)),
            ("realm", "ignored"),
        ],
    );
    assert_eq!(v["result"]["status"], true, "{v}");
    assert_eq!(v["result"]["value"], true, "{v}");
    assert_eq!(authentication(&v), "ACCEPT");
    assert_eq!(v["detail"]["serial"], "t-alice");
    assert_eq!(v["detail"]["type"], "totp");
    assert_eq!(
        (v["id"].clone(), v["jsonrpc"].clone()),
        (json!(1), json!("2.0"))
    );
    assert!(v["version"].as_str().unwrap().starts_with("radotp "), "{v}");
    assert!(v["time"].as_f64().is_some(), "{v}");
    // The code is used: over HTTP again, and over RADIUS.
    let v = check(a, &[("user", "alice"), ("pass", &code_at(T0))]);
    assert_eq!(
        (v["result"]["value"].clone(), authentication(&v)),
        (json!(false), "REJECT"),
        "{v}"
    );
    assert_eq!(
        common::ask(&ts, Method::Pap, "alice", &code_at(T0)),
        Code::AccessReject
    );
    // A fresh code by GET, and /validate/radiuscheck: 204, then 400.
    ts.clock.advance(30);
    let r = request(
        a,
        "GET",
        &format!("/validate/check?user=alice&pass={}", code_at(T0 + 30)),
        &[],
        b"",
    );
    assert_eq!(authentication(&r.json()), "ACCEPT");
    ts.clock.advance(30);
    let c = code_at(T0 + 60);
    let r = form(
        a,
        "/validate/radiuscheck",
        &[("user", "alice"), ("pass", &c)],
    );
    assert_eq!((r.status, r.body.len()), (204, 0));
    let r = form(
        a,
        "/validate/radiuscheck",
        &[("user", "alice"), ("pass", &c)],
    );
    assert_eq!(r.status, 400);
    // A JSON body works as well as a form.
    ts.clock.advance(30);
    let r = request(
        a,
        "POST",
        "/validate/check",
        &[("Content-Type", "application/json")],
        json!({"user": "alice", "pass": code_at(T0 + 90)})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(authentication(&r.json()), "ACCEPT");
    // Counted, under the client "http".
    assert_eq!(ts.stats.client_results("http"), [4, 2, 0]);
    assert_eq!(
        ts.store.token("t-alice").unwrap().unwrap().last_used,
        Some(T0 + 90)
    );
}

#[test]
fn wrong_pin_unknown_user_and_wrong_code_get_one_answer() {
    let ts = start(&config("", ""));
    ts.add_user("bob", Some("4711"));
    let a = api(&ts);
    let code = code_at(T0);
    let mut answers = Vec::new();
    for (user, pass) in [
        ("bob", code.clone()),             // no PIN
        ("bob", format!("9999{code}")),    // wrong PIN
        ("bob", "4711000000".to_string()), // wrong code
        ("nobody", format!("4711{code}")), // unknown user
    ] {
        let v = check(a, &[("user", user), ("pass", &pass)]);
        assert_eq!(authentication(&v), "REJECT", "{user} {v}");
        answers.push(v["detail"].clone());
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    wait_failures(&ts, "bob", 3);
    let v = check(a, &[("user", "bob"), ("pass", &format!("4711{code}"))]);
    assert_eq!(authentication(&v), "ACCEPT", "{v}");
    assert_eq!(ts.store.user("bob").unwrap().unwrap().failures, 0);
}

#[test]
fn pin_alone_gets_a_challenge_whose_transaction_id_takes_the_code_once() {
    let ts = start(&config("", ""));
    ts.add_user("carol", Some("4711"));
    ts.add_user("dave", Some("1234"));
    let a = api(&ts);
    let v = check(a, &[("user", "carol"), ("pass", "4711")]);
    assert_eq!(authentication(&v), "CHALLENGE", "{v}");
    assert_eq!(v["result"]["value"], false);
    let txn = v["detail"]["transaction_id"].as_str().unwrap().to_string();
    assert_eq!(v["detail"]["transaction_ids"], json!([txn]));
    assert_eq!(v["detail"]["message"], "Enter your one-time code");
    assert_eq!(v["detail"]["multi_challenge"][0]["type"], "totp");
    assert_eq!(v["detail"]["multi_challenge"][0]["serial"], "t-carol");
    assert_eq!(
        v["detail"]["multi_challenge"][0]["transaction_id"],
        txn.as_str()
    );
    // The code alone, with the transaction id: accepted once.
    let code = code_at(T0);
    let v = check(
        a,
        &[("user", "carol"), ("pass", &code), ("transaction_id", &txn)],
    );
    assert_eq!(authentication(&v), "ACCEPT", "{v}");
    ts.clock.advance(30);
    let code = code_at(T0 + 30);
    let v = check(
        a,
        &[("user", "carol"), ("pass", &code), ("transaction_id", &txn)],
    );
    assert_eq!(authentication(&v), "REJECT", "single use: {v}");
    // `state` is the other name of it; another user's id is refused.
    let v = check(a, &[("user", "dave"), ("pass", "1234")]);
    let txn = v["detail"]["transaction_id"].as_str().unwrap().to_string();
    let v = check(a, &[("user", "carol"), ("pass", &code), ("state", &txn)]);
    assert_eq!(authentication(&v), "REJECT", "{v}");
    let v = check(
        a,
        &[
            ("user", "carol"),
            ("pass", &code),
            ("transaction_id", "0123456789abcdef0123456789abcdef"),
        ],
    );
    assert_eq!(authentication(&v), "REJECT", "never issued: {v}");
    let v = check(a, &[("user", "carol"), ("pass", "4711")]);
    let txn = v["detail"]["transaction_id"].as_str().unwrap().to_string();
    let v = check(a, &[("user", "carol"), ("pass", &code), ("state", &txn)]);
    assert_eq!(authentication(&v), "ACCEPT", "{v}");
    // Asking for challenges counts no failure.
    assert_eq!(ts.store.user("carol").unwrap().unwrap().failures, 0);
    assert_eq!(ts.stats.client_results("http")[2], 3);
}

#[test]
fn serial_restricts_the_check_to_that_token_and_names_its_owner() {
    let ts = start(&config("", ""));
    ts.add_user("erin", None);
    let a = api(&ts);
    // Another token of erin's with another seed.
    let mut t = ts.store.token("t-erin").unwrap().unwrap();
    t.id = "t-other".into();
    t.seed = radotp::secret::Secret::new(b"another seed 0123456".to_vec());
    ts.store.insert_token(&t).unwrap();
    let code = code_at(T0);
    let v = check(
        a,
        &[("user", "erin"), ("serial", "t-other"), ("pass", &code)],
    );
    assert_eq!(authentication(&v), "REJECT", "not that token's code: {v}");
    let v = check(a, &[("serial", "t-erin"), ("pass", &code)]);
    assert_eq!(authentication(&v), "ACCEPT", "{v}");
    assert_eq!(v["detail"]["serial"], "t-erin");
    let v = check(a, &[("serial", "t-nothing"), ("pass", &code)]);
    assert_eq!(authentication(&v), "REJECT", "{v}");
}

#[test]
fn lockout_counts_http_and_radius_failures_together() {
    let ts = start(&config("", "[lockout]\nthreshold = 3\n"));
    ts.add_user("frank", None);
    let a = api(&ts);
    for _ in 0..2 {
        let v = check(a, &[("user", "frank"), ("pass", "000000")]);
        assert_eq!(authentication(&v), "REJECT");
    }
    assert_eq!(
        common::ask(&ts, Method::Pap, "frank", "000000"),
        Code::AccessReject
    );
    wait_failures(&ts, "frank", 3);
    let u = ts.store.user("frank").unwrap().unwrap();
    assert!(u.locked_at(T0), "locked after 2 HTTP + 1 RADIUS failures");
    // The right code is refused on both, while the lock lasts.
    let v = check(a, &[("user", "frank"), ("pass", &code_at(T0))]);
    assert_eq!(authentication(&v), "REJECT", "{v}");
    assert_eq!(
        common::ask(&ts, Method::Pap, "frank", &code_at(T0)),
        Code::AccessReject
    );
    ts.clock.advance(301);
    let v = check(a, &[("user", "frank"), ("pass", &code_at(T0 + 301))]);
    assert_eq!(authentication(&v), "ACCEPT", "{v}");
}

#[test]
fn a_source_outside_validate_clients_is_refused() {
    let ts = start(&config("validate_clients = [\"10.0.0.0/8\", \"::1\"]", ""));
    ts.add_user("gina", None);
    let r = form(
        api(&ts),
        "/validate/check",
        &[("user", "gina"), ("pass", &code_at(T0))],
    );
    assert_eq!(r.status, 403);
    let v = r.json();
    assert_eq!(v["result"]["status"], false, "{v}");
    assert_eq!(v["result"]["error"]["code"], 303);
    assert!(v["result"]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("127.0.0.1"));
    // Nothing was verified: the code is still good over RADIUS.
    assert_eq!(
        common::ask(&ts, Method::Pap, "gina", &code_at(T0)),
        Code::AccessAccept
    );
}

#[test]
fn reload_changes_who_may_call_validate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("radotp.toml");
    let with = |clients: &str| config(&format!("validate_clients = [{clients}]"), "");
    std::fs::write(&path, with("\"10.0.0.0/8\"")).unwrap();
    let ts = common::start_with(&with("\"10.0.0.0/8\""), Some(path.clone()));
    ts.add_user("lou", None);
    let a = api(&ts);
    assert_eq!(
        form(a, "/validate/check", &[("user", "lou"), ("pass", "1")]).status,
        403
    );
    std::fs::write(&path, with("\"10.0.0.0/8\", \"127.0.0.1\"")).unwrap();
    ts.reload.send(1).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = form(
            a,
            "/validate/check",
            &[("user", "lou"), ("pass", &code_at(T0))],
        );
        if r.status == 200 {
            assert_eq!(authentication(&r.json()), "ACCEPT");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reload never let 127.0.0.1 in"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn errors_in_privacyideas_error_shape() {
    let ts = start(&config("", ""));
    let a = api(&ts);
    let cases: Vec<(Reply, u16, i64)> = vec![
        (form(a, "/validate/check", &[("user", "x")]), 400, 905),
        (form(a, "/validate/check", &[("pass", "x")]), 400, 905),
        (
            request(
                a,
                "POST",
                "/validate/check",
                &[("Content-Type", "application/json")],
                b"{\"user\": \"a\", \"pass\"",
            ),
            400,
            905,
        ),
        (
            request(
                a,
                "POST",
                "/validate/check",
                &[("Content-Type", "application/json")],
                b"[\"user\"]",
            ),
            400,
            905,
        ),
        (
            request(
                a,
                "POST",
                "/validate/check",
                &[("Content-Type", "application/x-www-form-urlencoded")],
                b"user=a%zz&pass=1",
            ),
            400,
            905,
        ),
        (
            request(a, "GET", "/validate/check?user=%ff%fe&pass=1", &[], b""),
            400,
            905,
        ),
        (request(a, "DELETE", "/validate/check", &[], b""), 405, 905),
        (request(a, "GET", "/validate/nothing", &[], b""), 404, 601),
        (request(a, "GET", "/../../etc/passwd", &[], b""), 404, 601),
    ];
    for (r, status, code) in cases {
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        assert_eq!(v["result"]["status"], false, "{v}");
        assert_eq!(v["result"]["error"]["code"], code, "{v}");
        assert!(v["result"]["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
}

#[test]
fn hostile_bodies_and_slow_clients_get_clear_4xx_and_the_server_goes_on() {
    let ts = start(&config(
        "max_body_bytes = 2048\nvalidate_rate_limit = 0",
        "",
    ));
    ts.add_user("hal", None);
    let a = api(&ts);
    // A declared huge body: 413 before a byte of it is read.
    let r = raw(
        a,
        b"POST /validate/check HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 104857600\r\n\r\nuser=hal&pass=",
    )
    .unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["result"]["status"], false);
    // A chunked body that grows past the limit.
    let mut chunked = b"POST /validate/check HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    chunked.extend_from_slice(format!("{:x}\r\n", 3000).as_bytes());
    chunked.extend_from_slice(&[b'a'; 3000]);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    match raw(a, &chunked) {
        Ok(r) => assert_eq!(r.status, 413),
        // The server may close before reading all of it: no answer, no panic.
        Err(e) => eprintln!("chunked oversize: {e}"),
    }
    // A slow client: half the headers, then nothing. Closed after the
    // request timeout (2 s), not held open.
    let t = Instant::now();
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"POST /validate/check HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(8),
        "{waited:?}"
    );
    // Headers in time, the body too slowly: 408.
    let t = Instant::now();
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"POST /validate/check HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 40\r\n\r\nuser=hal").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let r = parse(&buf).expect("an answer");
    assert_eq!(r.status, 408, "{}", String::from_utf8_lossy(&r.body));
    assert!(t.elapsed() < Duration::from_secs(8));
    // An idle keep-alive connection is closed too.
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let t = Instant::now();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(
        buf.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf)
    );
    assert!(t.elapsed() < Duration::from_secs(8));
    // Garbage on the wire: an answer or a close, never a hang or a panic.
    for junk in [
        &b"\x00\x01\x02\x03\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST /validate/check HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST /validate/check HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n",
        b"POST /validate/check HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ] {
        let _ = raw(a, junk);
    }
    let long = format!(
        "GET /validate/check?{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(200_000)
    );
    let _ = raw(a, long.as_bytes());
    // Still serving.
    let v = check(a, &[("user", "hal"), ("pass", &code_at(T0))]);
    assert_eq!(authentication(&v), "ACCEPT", "{v}");
}

#[test]
fn validate_rate_limit_per_source_answers_429() {
    let ts = start(&config("validate_rate_limit = 3", ""));
    let a = api(&ts);
    let statuses: Vec<u16> = (0..6)
        .map(|_| form(a, "/validate/check", &[("user", "x"), ("pass", "1")]).status)
        .collect();
    assert_eq!(&statuses[..3], [200, 200, 200], "{statuses:?}");
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    // The admin API is not limited by it.
    assert_eq!(request(a, "GET", "/api/v1/stats", &[], b"").status, 401);
}

fn add_key(ts: &TestServer, name: &str, scope: ApiScope) -> String {
    let (key, hash) = radotp::admin::new_api_key();
    ts.store
        .insert_api_key(&ApiKey {
            name: name.into(),
            hash: hash.to_vec(),
            scope,
            created: T0,
            last_used: None,
        })
        .unwrap();
    key
}

fn call(a: SocketAddr, key: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
    let auth = format!("Bearer {key}");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    request(
        a,
        method,
        path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
}

#[test]
fn admin_api_wants_a_key_of_scope_admin() {
    let ts = start(&config("", ""));
    let a = api(&ts);
    let admin = add_key(&ts, "ops", ApiScope::Admin);
    let portal = add_key(&ts, "portal", ApiScope::Validate);
    for path in [
        "/api/v1/users",
        "/api/v1/tokens",
        "/api/v1/stats",
        "/api/v1/nothing",
    ] {
        let r = request(a, "GET", path, &[], b"");
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        assert_eq!(r.json()["result"]["error"]["code"], 4033);
        let r = call(a, "radotp_0123", "GET", path, None);
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.json()["result"]["error"]["code"], 4031);
        let r = call(a, &portal, "GET", path, None);
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(r.json()["result"]["error"]["code"], 4306);
    }
    let r = request(
        a,
        "GET",
        "/api/v1/stats",
        &[("Authorization", &format!("Basic {admin}"))],
        b"",
    );
    assert_eq!(r.status, 401, "only Bearer");
    let r = call(a, &admin, "GET", "/api/v1/stats", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["result"]["value"]["users"], 0);
    // Only the hash is stored; the use is recorded.
    let k = ts.store.api_keys().unwrap();
    assert_eq!(k[0].name, "ops");
    assert_eq!(k[0].last_used, Some(T0));
    assert_eq!(k[0].hash, radotp::admin::api_key_hash(&admin));
}

#[test]
fn admin_api_users_and_enroll_activate_validate() {
    let ts = start(&config("", "[pin]\nmin_length = 4\n"));
    let a = api(&ts);
    let key = add_key(&ts, "ops", ApiScope::Admin);
    // Users: add, conflict, bad PIN, show, list with paging.
    let r = call(
        a,
        &key,
        "POST",
        "/api/v1/users",
        Some(json!({"name": "ivan", "pin": "4711"})),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["result"]["value"]["has_pin"], true);
    assert_eq!(
        call(
            a,
            &key,
            "POST",
            "/api/v1/users",
            Some(json!({"name": "ivan"}))
        )
        .status,
        409
    );
    assert_eq!(
        call(
            a,
            &key,
            "POST",
            "/api/v1/users",
            Some(json!({"name": "x", "pin": "1"}))
        )
        .status,
        400
    );
    assert_eq!(
        call(a, &key, "POST", "/api/v1/users", Some(json!({"nom": "x"}))).status,
        400
    );
    assert_eq!(
        call(a, &key, "POST", "/api/v1/users", Some(json!("ivan"))).status,
        400
    );
    for n in ["a1", "a2", "a3"] {
        assert_eq!(
            call(a, &key, "POST", "/api/v1/users", Some(json!({"name": n}))).status,
            201
        );
    }
    let v = call(a, &key, "GET", "/api/v1/users?offset=1&limit=2", None).json();
    let page = &v["result"]["value"];
    assert_eq!(page["count"], 4);
    let names: Vec<&str> = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a2", "a3"]);
    assert_eq!(page["next"], 3);
    assert_eq!(
        call(a, &key, "GET", "/api/v1/users?limit=0", None).status,
        400
    );
    assert_eq!(
        call(a, &key, "GET", "/api/v1/users?offset=x", None).status,
        400
    );
    assert_eq!(
        call(a, &key, "GET", "/api/v1/users/ivan", None).json()["result"]["value"]["name"],
        "ivan"
    );
    // IDs are ids, not paths: traversal finds nothing.
    for path in [
        "/api/v1/users/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/users/%2e%2e",
        "/api/v1/tokens/..%2Fx",
        "/api/v1/users/a/b/c",
    ] {
        assert_eq!(call(a, &key, "GET", path, None).status, 404, "{path}");
    }
    assert_eq!(
        call(a, &key, "GET", "/api/v1/users/a%00b", None).status,
        400
    );
    assert_eq!(call(a, &key, "GET", "/api/v1/users/%zz", None).status, 400);
    assert_eq!(call(a, &key, "PUT", "/api/v1/users/ivan", None).status, 405);

    // Enroll: the URI and QR codes, pending until activated.
    let r = call(
        a,
        &key,
        "POST",
        "/api/v1/tokens",
        Some(json!({"user": "ivan", "description": "phone"})),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json()["result"]["value"].clone();
    let id = v["token"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["token"]["state"], "pending");
    let uri = v["uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(v["qr_svg"].as_str().unwrap().contains("<svg"));
    let png = data_encoding::BASE64
        .decode(v["qr_png"].as_str().unwrap().as_bytes())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    let b32 = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let seed = data_encoding::BASE32_NOPAD.decode(b32.as_bytes()).unwrap();
    let code = |t: u64| {
        radotp::otp::OtpCode::new(
            radotp::otp::totp(radotp::otp::Algorithm::Sha1, &seed, t, 30, 6),
            6,
        )
        .as_str()
        .to_string()
    };
    // A pending token does not log in.
    let v = check(
        a,
        &[("user", "ivan"), ("pass", &format!("4711{}", code(T0)))],
    );
    assert_eq!(authentication(&v), "REJECT");
    let r = call(
        a,
        &key,
        "POST",
        &format!("/api/v1/tokens/{id}/activate"),
        Some(json!({"code": "000000"})),
    );
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    let r = call(
        a,
        &key,
        "POST",
        &format!("/api/v1/tokens/{id}/activate"),
        Some(json!({"code": code(T0)})),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["result"]["value"]["accepted"], true);
    // Activated with the code of this step: the next one logs in.
    ts.clock.advance(30);
    let v = check(
        a,
        &[
            ("user", "ivan"),
            ("pass", &format!("4711{}", code(T0 + 30))),
        ],
    );
    assert_eq!(authentication(&v), "ACCEPT", "{v}");
    assert_eq!(v["detail"]["serial"], id.as_str());
    let v = call(a, &key, "GET", "/api/v1/tokens?user=ivan", None).json();
    assert_eq!(v["result"]["value"]["tokens"][0]["state"], "active");
    assert_eq!(
        call(a, &key, "GET", "/api/v1/tokens?user=nobody", None).status,
        404
    );

    // Lock, unlock; patch; delete.
    for _ in 0..10 {
        check(a, &[("user", "ivan"), ("pass", "4711000000")]);
    }
    wait_failures(&ts, "ivan", 10);
    assert_eq!(
        call(a, &key, "GET", "/api/v1/users/ivan", None).json()["result"]["value"]["locked"],
        true
    );
    let r = call(a, &key, "POST", "/api/v1/users/ivan/unlock", None);
    assert_eq!(r.json()["result"]["value"]["locked"], false);
    let r = call(
        a,
        &key,
        "PATCH",
        "/api/v1/users/ivan",
        Some(json!({"enabled": false, "pin": null, "challenge": true})),
    );
    let u = &r.json()["result"]["value"];
    assert_eq!(
        (
            u["enabled"].clone(),
            u["has_pin"].clone(),
            u["challenge"].clone()
        ),
        (json!(false), json!(false), json!(true))
    );
    let r = call(
        a,
        &key,
        "PATCH",
        "/api/v1/users/ivan",
        Some(json!({"pin": "12"})),
    );
    assert_eq!(r.status, 400, "PIN policy applies");
    assert_eq!(
        call(a, &key, "DELETE", &format!("/api/v1/tokens/{id}"), None).status,
        200
    );
    assert_eq!(
        call(a, &key, "DELETE", &format!("/api/v1/tokens/{id}"), None).status,
        404
    );
    assert_eq!(
        call(a, &key, "DELETE", "/api/v1/users/ivan", None).status,
        200
    );
    assert_eq!(call(a, &key, "GET", "/api/v1/users/ivan", None).status, 404);
    let v = call(a, &key, "GET", "/api/v1/stats", None).json();
    assert_eq!(v["result"]["value"]["users"], 3);
    assert!(
        v["result"]["value"]["server"]["received"].is_number(),
        "{v}"
    );
}

/// docs/openapi.json is what /api/v1/openapi.json serves, and every
/// operation it lists is routed (neither 404 nor 405), and nothing else
/// under /api/v1/ is.
#[test]
fn openapi_document_lists_every_route() {
    let ts = start(&config("", ""));
    let a = api(&ts);
    let admin = add_key(&ts, "ops", ApiScope::Admin);
    let portal = add_key(&ts, "portal", ApiScope::Validate);
    assert_eq!(
        request(a, "GET", "/api/v1/openapi.json", &[], b"").status,
        401
    );
    let r = call(a, &portal, "GET", "/api/v1/openapi.json", None);
    assert_eq!(r.status, 200);
    let doc = r.json();
    let file: Value = serde_json::from_str(include_str!("../docs/openapi.json"))
        .expect("docs/openapi.json parses");
    assert_eq!(doc, file);
    assert_eq!(doc["openapi"], "3.1.0");
    let mut ops = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "patch", "delete", "put"] {
            let Some(op) = item.get(method) else { continue };
            ops += 1;
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path}"
            );
            let concrete = path.replace("{name}", "nobody").replace("{id}", "t-none");
            let r = call(
                a,
                &admin,
                &method.to_uppercase(),
                &concrete,
                Some(json!({})),
            );
            assert!(
                r.status != 404 || path.contains('{'),
                "{method} {path}: {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
            assert_ne!(r.status, 405, "{method} {path}");
            if r.status == 404 {
                // A route that found no such user or token, not no route.
                let m = r.json()["result"]["error"]["message"]
                    .as_str()
                    .unwrap()
                    .to_string();
                assert!(
                    m.starts_with("no user") || m.starts_with("no token"),
                    "{method} {path}: {m}"
                );
            }
        }
    }
    assert_eq!(ops, 20, "operations in docs/openapi.json");
    for (method, path) in [
        ("PUT", "/api/v1/users"),
        ("POST", "/api/v1/groups"),
        ("POST", "/api/v1/stats"),
    ] {
        let r = call(a, &admin, method, path, None);
        assert!(
            matches!(r.status, 404 | 405),
            "{method} {path}: {}",
            r.status
        );
    }
}

#[test]
fn validate_requires_key_when_asked() {
    let ts = start(&config("validate_requires_key = true", ""));
    ts.add_user("judy", None);
    let a = api(&ts);
    let portal = add_key(&ts, "portal", ApiScope::Validate);
    let body = format!("user=judy&pass={}", code_at(T0));
    let r = request(
        a,
        "POST",
        "/validate/check",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 401);
    let auth = format!("Bearer {portal}");
    let r = request(
        a,
        "POST",
        "/validate/check",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", &auth),
        ],
        body.as_bytes(),
    );
    assert_eq!(authentication(&r.json()), "ACCEPT");
}

// ---- the real binary, driven with curl ----

use common::daemon::{self, cli, cli_json, require};

fn curl(args: &[&str]) -> (u16, Value) {
    let o = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    assert!(
        o.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let (body, status) = out.rsplit_once('\n').unwrap();
    let v = if body.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    };
    (status.parse().unwrap(), v)
}

fn daemon_config(dir: &std::path::Path, api: &str) -> String {
    format!(
        r#"[server]
listen = ["127.0.0.1:0"]
accounting_listen = ["127.0.0.1:0"]
control_socket = "{d}/radotp.sock"
metrics_listen = "127.0.0.1:0"

[store]
path = "{d}/db"
key_file = "{d}/radotp.key"

[audit]
path = "{d}/audit.log"

[api]
{api}

[[client]]
name = "lo"
address = "127.0.0.1"
secret = "testing123"
"#,
        d = dir.display()
    )
}

/// What privacyIDEA's PAM module does (a form POST of user and pass, then
/// of the code with the transaction id), with curl against the daemon; and
/// `radotp apikey create|list|revoke` through the control socket.
#[test]
fn daemon_serves_a_pam_style_client_and_apikeys_from_the_cli() {
    require("curl", "curl");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("radotp.toml");
    std::fs::write(
        &cfg,
        daemon_config(dir.path(), "listen = [\"127.0.0.1:0\"]"),
    )
    .unwrap();
    let d = daemon::start_listening(&cfg, &["--log-format", "json"], &[], 4);
    let base = format!("http://{}", d.api.expect("the API's listening line"));
    let seed = daemon::add_user(&cfg, "kim");
    cli_json(&cfg, &["user", "set-pin", "kim", "2468"]);
    let url = format!("{base}/validate/check");
    let (status, v) = curl(&[
        "--data-urlencode",
        "user=kim",
        "--data-urlencode",
        "pass=2468",
        &url,
    ]);
    assert_eq!(status, 200);
    assert_eq!(v["result"]["authentication"], "CHALLENGE", "{v}");
    let txn = v["detail"]["transaction_id"].as_str().unwrap();
    let code = daemon::code(&seed, daemon::now());
    let (_, v) = curl(&[
        "--data-urlencode",
        "user=kim",
        "--data-urlencode",
        &format!("pass={code}"),
        "--data-urlencode",
        &format!("transaction_id={txn}"),
        &url,
    ]);
    assert_eq!(v["result"]["value"], true, "{v}");
    // The decision is in the log and the audit trail, as HTTP.
    d.wait_log("\"transport\":\"http\"", 2);
    let audit = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\"transport\":\"http\"") && l.contains("\"result\":\"accept\"")),
        "{audit}"
    );
    assert!(
        !audit.contains(&code) && !audit.contains("2468"),
        "no code or PIN in the trail"
    );

    // API keys from the CLI.
    let o = cli(&cfg, &["apikey", "create", "ops", "--scope", "admin"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let key = String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    assert!(key.starts_with("radotp_"), "{key}");
    let v = cli_json(&cfg, &["apikey", "create", "portal", "--scope", "validate"]);
    let portal = v["result"]["secret"].as_str().unwrap().to_string();
    let users = format!("{base}/api/v1/users");
    let (status, v) = curl(&["-H", &format!("Authorization: Bearer {key}"), &users]);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["result"]["value"]["users"][0]["name"], "kim");
    let (status, _) = curl(&["-H", &format!("Authorization: Bearer {portal}"), &users]);
    assert_eq!(status, 403);
    let list = cli_json(&cfg, &["apikey", "list"]);
    let names: Vec<&str> = list["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ops", "portal"]);
    assert!(
        !list.to_string().contains(&key[7..]),
        "the list shows no key"
    );
    cli_json(&cfg, &["apikey", "revoke", "ops"]);
    let (status, v) = curl(&["-H", &format!("Authorization: Bearer {key}"), &users]);
    assert_eq!(status, 401, "revoked: {v}");
    let o = cli(&cfg, &["apikey", "revoke", "ops"]);
    assert_eq!(o.status.code(), Some(1));
    // An admin change over HTTP is in the trail with the key's name.
    let (status, _) = curl(&[
        "-X",
        "POST",
        "-H",
        &format!(
            "Authorization: Bearer {}",
            cli_json(&cfg, &["apikey", "create", "ops2", "--scope", "admin"])["result"]["secret"]
                .as_str()
                .unwrap()
        ),
        "-H",
        "Content-Type: application/json",
        "--data",
        "{\"name\": \"lee\"}",
        &users,
    ]);
    assert_eq!(status, 201);
    let audit = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
    assert!(
        audit.lines().any(|l| l.contains("\"op\":\"user-add\"")
            && l.contains("apikey:ops2")
            && l.contains("http api")),
        "{audit}"
    );
    assert!(
        !audit.contains(&key) && !audit.contains(&portal),
        "no key in the trail"
    );
}

/// HTTPS on a certificate made by openssl, checked by curl against it; a
/// plain listener on a non-loopback address is a config error.
#[test]
fn https_listener_with_a_certificate_and_plain_http_only_on_loopback() {
    require("curl", "curl");
    require("openssl", "openssl");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let cfg = dir.path().join("radotp.toml");
    std::fs::write(
        &cfg,
        daemon_config(
            dir.path(),
            &format!(
                "listen_tls = [\"127.0.0.1:0\"]\ncertificate = \"{}\"\nprivate_key = \"{}\"",
                cert.display(),
                key.display()
            ),
        ),
    )
    .unwrap();
    let o = cli(&cfg, &["config", "check", cfg.to_str().unwrap()]);
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let d = daemon::start_listening(&cfg, &["--log-format", "json"], &[], 4);
    let tls = d.api_tls.expect("an HTTPS listener");
    let seed = daemon::add_user(&cfg, "mia");
    let url = format!("https://127.0.0.1:{}/validate/check", tls.port());
    let (status, v) = curl(&[
        "--cacert",
        cert.to_str().unwrap(),
        "--data-urlencode",
        "user=mia",
        "--data-urlencode",
        &format!("pass={}", daemon::code(&seed, daemon::now())),
        &url,
    ]);
    assert_eq!(status, 200);
    assert_eq!(v["result"]["authentication"], "ACCEPT", "{v}");
    // Plain HTTP to the HTTPS port gets no answer that could carry a code.
    let plain = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            &format!("http://127.0.0.1:{}/healthz", tls.port()),
        ])
        .output()
        .unwrap();
    assert!(!plain.status.success() || !String::from_utf8_lossy(&plain.stdout).contains("ok"));

    // Plain HTTP on a non-loopback address: refused, with file and line.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        daemon_config(
            dir.path(),
            "listen = [\n  \"127.0.0.1:8080\",\n  \"0.0.0.0:8080\",\n]",
        ),
    )
    .unwrap();
    let o = cli(&bad, &["config", "check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    let line = daemon_config(dir.path(), "")
        .lines()
        .position(|l| l == "[api]")
        .unwrap()
        + 4;
    assert!(err.contains(&format!("bad.toml:{line}:")), "{err}");
    assert!(err.contains("loopback"), "{err}");
}

#[test]
fn admin_api_sets_groups_and_replies_and_lists_groups() {
    let ts = start(&config(
        "",
        "allow_groups = [\"ops\"]\n[[group]]\nname = \"ops\"\nreply = { \"Service-Type\" = \"Administrative-User\" }\n[[group]]\nname = \"vpn\"\n",
    ));
    let a = api(&ts);
    let key = add_key(&ts, "ops", ApiScope::Admin);
    let r = call(
        a,
        &key,
        "POST",
        "/api/v1/users",
        Some(json!({"name": "nina", "groups": ["vpn"]})),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["result"]["value"]["groups"], json!(["vpn"]));
    let r = call(
        a,
        &key,
        "PATCH",
        "/api/v1/users/nina",
        Some(json!({"groups": ["ops", "vpn"], "replies": [["Framed-IP-Address", "10.0.0.5"]]})),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let u = &r.json()["result"]["value"];
    assert_eq!(u["groups"], json!(["ops", "vpn"]));
    assert_eq!(u["replies"], json!([["Framed-IP-Address", "10.0.0.5"]]));
    // Checked like the CLI: an unknown group or a bad value is a 400 and
    // changes nothing.
    for bad in [
        json!({"groups": ["nope"]}),
        json!({"groups": ["vpn"], "replies": [["Framed-IP-Address", "ten"]]}),
    ] {
        let r = call(a, &key, "PATCH", "/api/v1/users/nina", Some(bad.clone()));
        assert_eq!(r.status, 400, "{bad}");
    }
    assert_eq!(
        ts.store.user("nina").unwrap().unwrap().groups,
        ["ops", "vpn"]
    );
    let g = call(a, &key, "GET", "/api/v1/groups", None).json();
    let list = g["result"]["value"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{g}");
    assert_eq!(list[0]["name"], "ops");
    assert_eq!(list[0]["members"], 1);
    assert_eq!(list[0]["clients"], json!(["lo"]));
    assert_eq!(
        list[0]["reply"],
        json!([["Service-Type", "Administrative-User"]])
    );
}

#[test]
fn triggerchallenge_needs_an_admin_key_then_the_code_alone_passes_once() {
    let ts = start(&config("", ""));
    let a = api(&ts);
    ts.add_user("tina", Some("4711"));
    let admin = add_key(&ts, "helpdesk", ApiScope::Admin);
    let validate = add_key(&ts, "vpn", ApiScope::Validate);
    let body = Some(json!({"user": "tina"}));
    // Skipping the PIN is an administrator's right.
    let r = call(a, "", "POST", "/validate/triggerchallenge", body.clone());
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    let r = call(
        a,
        &validate,
        "POST",
        "/validate/triggerchallenge",
        body.clone(),
    );
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    let r = call(a, &admin, "GET", "/validate/triggerchallenge", None);
    assert_eq!(r.status, 405);
    let r = call(
        a,
        &admin,
        "POST",
        "/validate/triggerchallenge",
        body.clone(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["result"]["value"], 1, "{v}");
    assert_eq!(authentication(&v), "CHALLENGE", "{v}");
    let txn = v["detail"]["transaction_id"].as_str().unwrap().to_string();
    assert_eq!(v["detail"]["multi_challenge"][0]["serial"], "t-tina", "{v}");
    // The code alone, with the transaction: accepted once.
    let code = code_at(T0);
    let ok = check(
        a,
        &[("user", "tina"), ("pass", &code), ("transaction_id", &txn)],
    );
    assert_eq!(authentication(&ok), "ACCEPT", "{ok}");
    let again = check(
        a,
        &[
            ("user", "tina"),
            ("pass", &code_at(T0 + 30)),
            ("transaction_id", &txn),
        ],
    );
    assert_eq!(
        authentication(&again),
        "REJECT",
        "a transaction is good once: {again}"
    );
    // Without a transaction the PIN is still needed.
    let no_pin = check(a, &[("user", "tina"), ("pass", &code_at(T0 + 30))]);
    assert_eq!(authentication(&no_pin), "REJECT", "{no_pin}");
    // An unknown user or serial triggers nothing.
    for b in [json!({"user": "nobody"}), json!({"serial": "HW-0"})] {
        let v = call(a, &admin, "POST", "/validate/triggerchallenge", Some(b)).json();
        assert_eq!(v["result"]["value"], 0, "{v}");
        assert_eq!(v["detail"]["transaction_ids"], json!([]), "{v}");
    }
}
