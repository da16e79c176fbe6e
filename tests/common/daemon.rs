//! A real `radotp serve` process for the integration tests: started on a
//! config, its ports read from its "listening" log lines, killed on drop;
//! and the admin CLI and a PAP client to talk to it.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::request_with_secret;
use radotp::auth::Method;
use radotp::otp::{self, Algorithm};
use radotp::radius::{packet, Code, Packet};

pub const BIN: &str = env!("CARGO_BIN_EXE_radotp");

/// Fails with the command that installs a missing outside tool.
pub fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} not found: install it with `apt-get install -y {package}` (scripts/test-deps.sh does)"
    );
}

/// A running `radotp serve`; killed on drop if a test fails half-way.
pub struct Daemon {
    pub child: Child,
    log: Arc<Mutex<Vec<String>>>,
    pub auth: SocketAddr,
    pub acct: SocketAddr,
    pub metrics: SocketAddr,
    /// The RadSec listener, with `[radsec]`.
    pub radsec: Option<SocketAddr>,
    /// The HTTP API's plain listener, when `[api] listen` has one.
    pub api: Option<SocketAddr>,
    /// The HTTP API's HTTPS listener, when `[api] listen_tls` has one.
    pub api_tls: Option<SocketAddr>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the daemon with JSON logs and waits (at most 20 s) for its three
/// "listening" lines.
pub fn start(config_path: &Path) -> Daemon {
    start_with(config_path, &["--log-format", "json"], &[])
}

pub fn start_with(config_path: &Path, args: &[&str], env: &[(&str, &str)]) -> Daemon {
    start_listening(config_path, args, env, 3)
}

/// Starts the daemon and waits for `listeners` "listening" lines (3 for
/// auth, accounting and metrics; more with the HTTP API).
pub fn start_listening(
    config_path: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    listeners: usize,
) -> Daemon {
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .arg("--config")
        .arg(config_path)
        .args(args)
        .env_remove("RADOTP_CONFIG")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("radotp serve starts");
    let out = child.stdout.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l2 = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            l2.lock().unwrap().push(line);
        }
    });
    let mut d = Daemon {
        child,
        log,
        auth: "0.0.0.0:0".parse().unwrap(),
        acct: "0.0.0.0:0".parse().unwrap(),
        metrics: "0.0.0.0:0".parse().unwrap(),
        radsec: None,
        api: None,
        api_tls: None,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found: Vec<(String, SocketAddr)> = d
            .lines()
            .iter()
            .filter(|l| l.contains("listening"))
            .filter_map(|l| listening(l))
            .collect();
        // RadSec's line, when there is one, comes before these three.
        if found.iter().filter(|(k, _)| k != "radsec").count() >= listeners {
            for (kind, addr) in found {
                match kind.as_str() {
                    "auth" => d.auth = addr,
                    "accounting" => d.acct = addr,
                    "metrics" => d.metrics = addr,
                    "radsec" => d.radsec = Some(addr),
                    "api" => d.api = Some(addr),
                    "api-tls" => d.api_tls = Some(addr),
                    other => panic!("unexpected listener kind {other}"),
                }
            }
            return d;
        }
        if let Ok(Some(status)) = d.child.try_wait() {
            panic!("radotp serve exited with {status}: {:?}", d.lines());
        }
        assert!(
            Instant::now() < deadline,
            "no listening lines: {:?}",
            d.lines()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// (kind, address) of a "listening" line, JSON or text.
pub fn listening(line: &str) -> Option<(String, SocketAddr)> {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
        if v["message"] != "listening" {
            return None;
        }
        return Some((
            v["kind"].as_str()?.to_string(),
            v["addr"].as_str()?.parse().ok()?,
        ));
    }
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .map(|v| v.trim_matches('"').to_string())
    };
    Some((field("kind=")?, field("addr=")?.parse().ok()?))
}

impl Daemon {
    pub fn lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits (at most 10 s) until `count` log lines contain `needle`.
    pub fn wait_log(&self, needle: &str, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let hits: Vec<String> = self
                .lines()
                .into_iter()
                .filter(|l| l.contains(needle))
                .collect();
            if hits.len() >= count {
                return hits;
            }
            assert!(
                Instant::now() < deadline,
                "log has {} of {count} lines with {needle:?}: {:#?}",
                hits.len(),
                self.lines()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits (at most `limit`) for the exit; returns the time taken.
    pub fn terminate(&mut self, limit: Duration) -> Duration {
        let t = Instant::now();
        self.signal("TERM");
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "exit status after SIGTERM: {status}");
                return t.elapsed();
            }
            assert!(t.elapsed() < limit, "still running {limit:?} after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Runs the admin CLI against the same config (through the control socket
/// while the daemon runs).
pub fn cli(config_path: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(config_path)
        .args(args)
        .env_remove("RADOTP_CONFIG")
        .output()
        .unwrap()
}

pub fn cli_json(config_path: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let o = cli(config_path, &a);
    assert!(
        o.status.success(),
        "radotp {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Adds `user` with an active TOTP token through the CLI; returns the seed.
pub fn add_user(config_path: &Path, user: &str) -> Vec<u8> {
    cli_json(config_path, &["user", "add", user]);
    let v = cli_json(
        config_path,
        &["token", "enroll", user, "--no-terminal-qr", "--activate"],
    );
    let uri = v["result"]["uri"].as_str().unwrap();
    let b32 = uri
        .split_once('?')
        .unwrap()
        .1
        .split('&')
        .find_map(|kv| kv.strip_prefix("secret="))
        .unwrap();
    data_encoding::BASE32_NOPAD
        .decode(b32.as_bytes())
        .expect("base32 secret in the URI")
}

pub fn code(seed: &[u8], unix: u64) -> String {
    otp::OtpCode::new(otp::totp(Algorithm::Sha1, seed, unix, 30, 6), 6)
        .as_str()
        .to_string()
}

pub fn udp(from: &str, timeout: Duration) -> UdpSocket {
    let s = UdpSocket::bind(from).unwrap();
    s.set_read_timeout(Some(timeout)).unwrap();
    s
}

/// One PAP Access-Request from `sock`; the reply code, or None when none
/// came within the socket's timeout. Replies must verify with `secret`.
pub fn ask(
    sock: &UdpSocket,
    to: SocketAddr,
    user: &str,
    pass: &str,
    secret: &[u8],
) -> Option<Code> {
    let req = request_with_secret(Method::Pap, user, pass, secret);
    let bytes = packet::encode_request(&req.packet, secret, true).unwrap();
    sock.send_to(&bytes, to).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        let p = Packet::decode(&buf[..n]).expect("replies decode");
        if p.identifier != req.packet.identifier {
            continue; // a late reply to an earlier request
        }
        assert!(
            packet::verify_response(&buf[..n], &req.packet.authenticator, secret),
            "reply authenticator must verify"
        );
        return Some(p.code);
    }
}
