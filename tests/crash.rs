//! Crash safety of the real daemon on its sled store: 20 times, a stream of
//! HOTP authentications (PAP over UDP) and enrollments (the CLI through the
//! control socket) runs while the daemon is killed with SIGKILL at a random
//! moment; after a restart every enrollment the CLI reported done must be
//! there, every code answered with Access-Accept before the kill must be
//! rejected (no replay after a crash), and the store must open cleanly.

mod common;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{request, send};
use radotp::auth::Method;
use radotp::otp::{self, Algorithm};
use radotp::radius::{packet, Code, Packet};
use rand::Rng;

const ROUNDS: usize = 20;
const HOTP_USERS: usize = 3;

struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
    port: u16,
}

fn cli(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_radotp"))
        .arg("--config")
        .arg(config)
        .arg("--json")
        .args(args)
        .env_remove("RADOTP_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("radotp.toml");
        std::fs::write(
            &config,
            format!(
                r#"[server]
listen = ["127.0.0.1:{port}"]
control_socket = "{d}/radotp.sock"
log_level = "warn"
[store]
path = "{d}/db"
key_file = "{d}/radotp.key"
[lockout]
# Replays after each restart are rejected on purpose: no lockout here.
threshold = 0
[[client]]
name = "lo"
address = "127.0.0.1"
secret = "testing123"
"#,
                d = dir.path().display()
            ),
        )
        .unwrap();
        Env { dir, config, port }
    }

    fn start(&self) -> Child {
        let child = Command::new(env!("CARGO_BIN_EXE_radotp"))
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .env_remove("RADOTP_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.path().join("daemon.log"))
                    .unwrap(),
            )
            .spawn()
            .unwrap();
        // Up when it answers a Status-Server (not through the CLI: an admin
        // command that finds no daemon opens the store itself, and would
        // hold the store's lock while the daemon starts).
        let deadline = Instant::now() + Duration::from_secs(20);
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut child = child;
        loop {
            let p = Packet::new(Code::StatusServer, 1, rand::random());
            let bytes = packet::encode_request(&p, common::SECRET, true).unwrap();
            if common::send_raw(&sock, self.addr(), &bytes).is_some() {
                return child;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("daemon exited at start ({status}): {}", self.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not come up: {}",
                self.log_tail()
            );
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn addr(&self) -> std::net::SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }
}

fn hotp_code(seed: &[u8], counter: u64) -> String {
    otp::OtpCode::new(otp::hotp(Algorithm::Sha1, seed, counter, 6), 6)
        .as_str()
        .to_string()
}

/// One PAP exchange; `None` when no answer came.
fn pap(to: std::net::SocketAddr, user: &str, code: &str) -> Option<Code> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    send(&sock, to, &request(Method::Pap, user, code)).map(|p| p.code)
}

#[derive(Default)]
struct Log {
    /// (user, counter, code) answered with Access-Accept.
    accepted: Vec<(String, u64, String)>,
    /// Token ids of enrollments the CLI reported done.
    enrolled: Vec<(String, String)>,
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_write_and_allows_no_replay() {
    let env = Env::new();
    let _keep = std::env::var_os("RADOTP_CRASH_KEEP").map(|_| env.dir.path().to_path_buf());
    eprintln!("crash test directory: {}", env.dir.path().display());
    // HOTP users with known seeds, imported on the store directly.
    let seeds: Vec<Vec<u8>> = (0..HOTP_USERS)
        .map(|_| rand::random::<[u8; 20]>().to_vec())
        .collect();
    let csv: String = seeds
        .iter()
        .enumerate()
        .map(|(i, s)| format!("h{i},{},hotp\n", otp::uri::encode_base32_secret(s)))
        .collect();
    let csv_path = env.dir.path().join("hotp.csv");
    std::fs::write(&csv_path, csv).unwrap();
    let o = cli(
        &env.config,
        &["token", "import", csv_path.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let mut next = vec![0u64; HOTP_USERS];
    let mut all = Log::default();
    let mut rng = rand::thread_rng();
    let started = Instant::now();
    let mut total_accepts = 0;
    let mut total_enrolled = 0;
    let mut kill_points = Vec::new();
    for round in 0..ROUNDS {
        let mut daemon = env.start();
        let log = Arc::new(Mutex::new(Log::default()));
        let stop = Arc::new(AtomicBool::new(false));

        // Authentications: each user's next HOTP counter in turn.
        let auth = {
            let (log, stop, seeds, to) = (log.clone(), stop.clone(), seeds.clone(), env.addr());
            let mut next = next.clone();
            std::thread::spawn(move || {
                let mut u = 0;
                while !stop.load(Ordering::Relaxed) {
                    let user = format!("h{u}");
                    let code = hotp_code(&seeds[u], next[u]);
                    if pap(to, &user, &code) == Some(Code::AccessAccept) {
                        log.lock().unwrap().accepted.push((user, next[u], code));
                    }
                    // On a reject or no answer (a kill) move on: the
                    // look-ahead window covers the gap.
                    next[u] += 1;
                    u = (u + 1) % HOTP_USERS;
                }
                next
            })
        };
        // Enrollments through the control socket.
        let enroll = {
            let (log, stop, config) = (log.clone(), stop.clone(), env.config.clone());
            std::thread::spawn(move || {
                let mut k = 0;
                while !stop.load(Ordering::Relaxed) {
                    let user = format!("e{round}-{k}");
                    k += 1;
                    if !cli(&config, &["user", "add", &user]).status.success() {
                        continue;
                    }
                    let o = cli(
                        &config,
                        &["token", "enroll", &user, "--activate", "--no-terminal-qr"],
                    );
                    if o.status.success() {
                        let id = json(&o)["result"]["token"]["id"]
                            .as_str()
                            .unwrap()
                            .to_string();
                        log.lock().unwrap().enrolled.push((user, id));
                    }
                }
            })
        };

        let wait = Duration::from_millis(rng.gen_range(150..1200));
        std::thread::sleep(wait);
        daemon.kill().unwrap(); // SIGKILL
        let _ = daemon.wait();
        kill_points.push(wait.as_millis());
        stop.store(true, Ordering::Relaxed);
        next = auth.join().unwrap();
        enroll.join().unwrap();

        // Restart: the store must open, and everything acknowledged be there.
        let mut daemon = env.start();
        let log = std::mem::take(&mut *log.lock().unwrap());
        let o = cli(&env.config, &["token", "list"]);
        assert!(o.status.success(), "token list after restart {round}");
        let ids: Vec<String> = json(&o)["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect();
        for (user, id) in log.enrolled.iter().chain(&all.enrolled) {
            assert!(
                ids.contains(id),
                "round {round}: enrollment of {user} ({id}) reported done by the CLI is lost after SIGKILL"
            );
        }
        // No replay: the last accepted codes of each user, and a sample of
        // older ones, are rejected now.
        let mut check: Vec<&(String, u64, String)> = Vec::new();
        for u in 0..HOTP_USERS {
            let user = format!("h{u}");
            check.extend(log.accepted.iter().filter(|a| a.0 == user).rev().take(3));
        }
        check.extend(all.accepted.iter().rev().step_by(17).take(5));
        for (user, counter, code) in check {
            let got = pap(env.addr(), user, code);
            if got.is_none() {
                eprintln!("daemon log tail:\n{}", env.log_tail());
            }
            assert_eq!(
                got,
                Some(Code::AccessReject),
                "round {round}: {user}'s code of counter {counter}, accepted before the kill, accepted again after it (replay after a crash)"
            );
        }
        // The stream continues where it stopped: the next code still works.
        let code = hotp_code(&seeds[0], next[0]);
        assert_eq!(
            pap(env.addr(), "h0", &code),
            Some(Code::AccessAccept),
            "round {round}: h0 next code after restart"
        );
        next[0] += 1;
        total_accepts += log.accepted.len();
        total_enrolled += log.enrolled.len();
        all.accepted.extend(log.accepted);
        all.enrolled.extend(log.enrolled);
        daemon.kill().unwrap();
        let _ = daemon.wait();
    }
    // Offline: the store opens cleanly without the daemon.
    let o = cli(&env.config, &["user", "list"]);
    assert!(
        o.status.success(),
        "store opens offline: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let users = json(&o)["result"].as_array().unwrap().len();
    // Users added by a CLI run that was cut before its enrollment also count.
    assert!(users >= HOTP_USERS + all.enrolled.len());
    eprintln!(
        "crash: {ROUNDS} SIGKILLs at {kill_points:?} ms; {total_accepts} accepts and {total_enrolled} enrollments acknowledged, none lost, no replay; {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
