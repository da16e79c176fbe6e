//! The shared store on a real PostgreSQL (started by the test itself, see
//! common/pg.rs): the store conformance suite, and two `radotp serve`
//! processes on one database — the same fresh code sent to both at the
//! same moment is accepted exactly once (RFC 6238 §5.2 across servers), a
//! user enrolled through one authenticates through the other, failures
//! spread over both lock the user, a token deleted through one is refused
//! by the other at once, and a database stopped under load gives no
//! Accept while it is down and Accepts again within seconds of its return.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::daemon::*;
use common::pg::PgServer;
use common::SECRET;
use radotp::radius::Code;
use radotp::store::{PgStore, StoreKey};

#[test]
fn shared_store_suite_on_postgresql() {
    let pg = PgServer::start();
    radotp::store::conformance::suite(&|| {
        let opts = radotp::store::postgres::PgOptions {
            url: pg.fresh_db(),
            password_file: None,
            ca_file: None,
            pool_size: 8,
        };
        Box::new(PgStore::open(&opts, StoreKey::from_bytes([9; 32])).unwrap())
    });
}

/// A config for one of two servers on `url`, sharing `key`.
fn config(dir: &Path, url: &str, key: &Path) -> PathBuf {
    let text = format!(
        r#"[server]
listen = ["127.0.0.1:0"]
accounting_listen = ["127.0.0.1:0"]
control_socket = "{d}/radotp.sock"
metrics_listen = "127.0.0.1:0"

[store]
backend = "postgres"
url = "{url}"
key_file = "{k}"

[[client]]
name = "lo"
address = "127.0.0.1"
secret = "testing123"
"#,
        d = dir.display(),
        k = key.display()
    );
    let p = dir.join("radotp.toml");
    std::fs::write(&p, text).unwrap();
    p
}

struct Pair {
    _dirs: Vec<tempfile::TempDir>,
    configs: Vec<PathBuf>,
    daemons: Vec<Daemon>,
}

fn two_servers(pg: &PgServer) -> Pair {
    let url = pg.fresh_db();
    let keydir = tempfile::tempdir().unwrap();
    let key = keydir.path().join("radotp.key");
    StoreKey::load_or_create(&key).unwrap();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let configs: Vec<PathBuf> = dirs.iter().map(|d| config(d.path(), &url, &key)).collect();
    let daemons = configs.iter().map(|c| start(c)).collect();
    let mut all = dirs;
    all.push(keydir);
    Pair {
        _dirs: all,
        configs,
        daemons,
    }
}

fn b32(seed: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(seed)
}

/// `users` users with one TOTP token each, imported through server A.
fn import_users(p: &Pair, users: usize) -> Vec<Vec<u8>> {
    let seeds: Vec<Vec<u8>> = (0..users)
        .map(|i| format!("seed-of-user-{i:04}-xyz").into_bytes())
        .collect();
    let csv: String = seeds
        .iter()
        .enumerate()
        .map(|(i, s)| format!("u{i},{},totp,sha1,6,30\n", b32(s)))
        .collect();
    let file = p._dirs[0].path().join("users.csv");
    std::fs::write(&file, csv).unwrap();
    let v = cli_json(&p.configs[0], &["token", "import", file.to_str().unwrap()]);
    assert_eq!(v["imported"], users, "{v}");
    seeds
}

#[test]
fn two_servers_one_database_accept_each_fresh_code_exactly_once() {
    let pg = PgServer::start();
    let p = two_servers(&pg);
    let rounds = 100;
    let seeds = import_users(&p, rounds);
    let addrs = [p.daemons[0].auth, p.daemons[1].auth];
    let mut both_answered = 0;
    for (i, seed) in seeds.iter().enumerate() {
        let user = format!("u{i}");
        let c = code(seed, now());
        let barrier = Arc::new(Barrier::new(2));
        let replies: Vec<Option<Code>> = std::thread::scope(|sc| {
            let hs: Vec<_> = addrs
                .iter()
                .map(|&to| {
                    let (b, user, c) = (barrier.clone(), user.clone(), c.clone());
                    sc.spawn(move || {
                        let sock = udp("127.0.0.1:0", Duration::from_secs(3));
                        b.wait();
                        ask(&sock, to, &user, &c, SECRET)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let accepts = replies
            .iter()
            .filter(|r| **r == Some(Code::AccessAccept))
            .count();
        assert_eq!(accepts, 1, "round {i}: {replies:?}");
        both_answered += usize::from(replies.iter().all(|r| r.is_some()));
    }
    assert_eq!(
        both_answered, rounds,
        "the loser gets a Reject, not silence"
    );

    // Enrolled through A (the import), used through B above; a token deleted
    // through B is refused by A for the next request: nothing is cached.
    let seed = &seeds[0];
    let v = cli_json(&p.configs[1], &["token", "list"]);
    let id = v["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["owner"] == "u0")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    cli_json(&p.configs[1], &["token", "delete", &id]);
    let sock = udp("127.0.0.1:0", Duration::from_secs(3));
    let c = code(seed, now() + 30);
    assert_eq!(
        ask(&sock, addrs[0], "u0", &c, SECRET),
        Some(Code::AccessReject),
        "deleted through B, refused by A"
    );
}

#[test]
fn lockout_counts_failures_spread_over_both_servers() {
    let pg = PgServer::start();
    let p = two_servers(&pg);
    let seeds = import_users(&p, 1);
    let sock = udp("127.0.0.1:0", Duration::from_secs(3));
    let right = code(&seeds[0], now());
    for i in 0..10 {
        let wrong = if right == "000000" {
            "111111"
        } else {
            "000000"
        };
        let to = p.daemons[i % 2].auth;
        assert_eq!(
            ask(&sock, to, "u0", wrong, SECRET),
            Some(Code::AccessReject)
        );
    }
    // The last failure is written by the commit after its Reject.
    let deadline = Instant::now() + Duration::from_secs(5);
    let v = loop {
        let v = cli_json(&p.configs[1], &["user", "show", "u0"]);
        if v["result"]["locked"] == true || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(v["result"]["locked"], true, "{v}");
    assert_eq!(v["result"]["failures"], 10, "{v}");
    for d in &p.daemons {
        assert_eq!(
            ask(&sock, d.auth, "u0", &right, SECRET),
            Some(Code::AccessReject),
            "locked on both servers"
        );
    }
}

#[test]
fn database_stopped_under_load_never_accepts_and_recovers_within_seconds() {
    let pg = PgServer::start();
    let p = two_servers(&pg);
    let seeds = import_users(&p, 40);
    let a = p.daemons[0].auth;
    let sock = udp("127.0.0.1:0", Duration::from_millis(500));
    assert_eq!(
        ask(&sock, a, "u0", &code(&seeds[0], now()), SECRET),
        Some(Code::AccessAccept)
    );
    pg.stop();
    // While it is down: fresh codes of other users get no Accept.
    for (i, seed) in seeds.iter().enumerate().take(20).skip(1) {
        let r = ask(&sock, a, &format!("u{i}"), &code(seed, now()), SECRET);
        assert_ne!(
            r,
            Some(Code::AccessAccept),
            "u{i} accepted with the database down"
        );
    }
    // Logged once for the outage, not per request.
    std::thread::sleep(Duration::from_millis(300));
    let errors = p.daemons[0]
        .lines()
        .iter()
        .filter(|l| l.contains("store unavailable"))
        .count();
    assert_eq!(
        errors,
        1,
        "{errors} error lines for one outage: {:#?}",
        p.daemons[0].lines()
    );
    pg.start_again();
    let back = Instant::now();
    let mut accepted = None;
    for (i, seed) in seeds.iter().enumerate().skip(20) {
        if ask(&sock, a, &format!("u{i}"), &code(seed, now()), SECRET) == Some(Code::AccessAccept) {
            accepted = Some(back.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let took = accepted.expect("no Accept within 20 tries after the database came back");
    assert!(
        took < Duration::from_secs(10),
        "Accepts again only after {took:?}"
    );
    eprintln!("first Accept {took:?} after the database came back");
    let v = cli_json(&p.configs[0], &["stats"]);
    let s = &v["result"]["server"];
    assert_eq!(s["store"]["healthy"], true, "{v}");
    assert_eq!(s["store"]["outages"], 1, "{v}");
}
