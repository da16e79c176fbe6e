//! Brute force and abuse: lockout under a guessing attack through every
//! method (sequential and as a concurrent burst), and the per-client rate
//! limit that drops one client's excess without touching another client.

mod common;

use std::collections::HashSet;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::*;
use radotp::auth::Method;
use radotp::radius::{packet, Code, Packet};
use radotp::server::stats::DropReason;
use radotp::store::TokenStore;

/// Six-digit guesses that are none of the codes valid around `now`.
fn wrong_guesses(now: u64, n: usize) -> Vec<String> {
    let valid: HashSet<String> = [now - 60, now - 30, now, now + 30, now + 60]
        .iter()
        .map(|t| code_at(*t))
        .collect();
    let mut out = Vec::new();
    let mut g = 0u32;
    while out.len() < n {
        let c = format!("{:06}", (g * 7919 + 13) % 1_000_000);
        if !valid.contains(&c) {
            out.push(c);
        }
        g += 1;
    }
    out
}

/// The user once `n` failures are written: a Reject leaves at once and its
/// failure is written by the commit thread's next transaction (the lock
/// check counts it while it waits).
fn user_after_failures(ts: &TestServer, user: &str, n: u32) -> radotp::store::User {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let u = ts.store.user(user).unwrap().unwrap();
        if u.failures >= n || std::time::Instant::now() > deadline {
            return u;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn guessing_attack_locks_after_10_failures_through_every_method() {
    // Defaults: ±1 step, lockout after 10 failures for 300 s.
    let ts = start(&config_text(""));
    for m in METHODS {
        let user = format!("victim-{m}");
        ts.add_user(&user, None);
        let now = ts.now();
        for (i, g) in wrong_guesses(now, 10).iter().enumerate() {
            assert_eq!(ask(&ts, m, &user, g), Code::AccessReject, "{m} guess {i}");
        }
        let u = user_after_failures(&ts, &user, 10);
        assert_eq!(u.failures, 10, "{m}: every guess counted");
        assert!(u.locked_at(now), "{m}: locked after 10 failures");
        // Locked: even the right code is refused, through every method, and
        // further guesses are not evaluated.
        for m2 in METHODS {
            assert_eq!(
                ask(&ts, m2, &user, &code_at(now)),
                Code::AccessReject,
                "{m} locked, right code over {m2}"
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(ts.store.user(&user).unwrap().unwrap().failures, 10);
    }
    // Mixed methods share one failure count.
    ts.add_user("mixed", None);
    let now = ts.now();
    for (i, g) in wrong_guesses(now, 10).iter().enumerate() {
        assert_eq!(ask(&ts, METHODS[i % 4], "mixed", g), Code::AccessReject);
    }
    assert!(user_after_failures(&ts, "mixed", 10).locked_at(now));
    // The lock ends after 300 s; the right code then works.
    ts.clock.advance(301);
    let later = ts.now();
    assert_eq!(
        ask(&ts, Method::Pap, "mixed", &code_at(later)),
        Code::AccessAccept,
        "after the lock"
    );
}

#[test]
fn concurrent_guessing_burst_gets_no_more_than_the_threshold_evaluated() {
    // A burst of guesses sent at once must not all be evaluated before the
    // lock is recorded: at most `threshold` guesses per lock period.
    let ts = start(&config_text(""));
    ts.add_user("burst", None);
    let now = ts.now();
    let guesses = wrong_guesses(now, 200);
    let socks: Vec<UdpSocket> = (0..8).map(|_| socket()).collect();
    let mut auths = Vec::new();
    for (i, g) in guesses.iter().enumerate() {
        let req = request(METHODS[i % 4], "burst", g);
        let bytes = packet::encode_request(&req.packet, SECRET, true).unwrap();
        socks[i % socks.len()].send_to(&bytes, ts.addr).unwrap();
        auths.push(req.packet.authenticator);
    }
    let mut rejects = 0;
    for s in &socks {
        s.set_read_timeout(Some(Duration::from_millis(1500)))
            .unwrap();
        let mut buf = [0u8; 4096];
        while let Ok((n, _)) = s.recv_from(&mut buf) {
            let p = Packet::decode(&buf[..n]).unwrap();
            assert_eq!(p.code, Code::AccessReject);
            rejects += 1;
        }
    }
    let u = ts.store.user("burst").unwrap().unwrap();
    eprintln!(
        "burst: {} guesses sent, {rejects} rejects received, {} evaluated (failures counted)",
        guesses.len(),
        u.failures
    );
    assert!(u.locked_at(now), "locked");
    assert!(
        u.failures <= 10,
        "{} guesses were evaluated in the burst: the lock check and the failure count race",
        u.failures
    );
}

/// Sends `n` distinct requests from `sock` as fast as possible; the replies received.
/// Sends `n` requests as fast as it can, then collects the answers: how
/// many came back, and how long the sending took (the bucket can refill
/// only while requests arrive, not while the answers drain).
fn blast_timed(sock: &UdpSocket, to: std::net::SocketAddr, n: usize) -> (usize, f64) {
    let datagrams: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let req = request(Method::Pap, &format!("nobody{i}"), "123456");
            packet::encode_request(&req.packet, SECRET, true).unwrap()
        })
        .collect();
    let t0 = Instant::now();
    for bytes in &datagrams {
        sock.send_to(bytes, to).unwrap();
    }
    let sending = t0.elapsed().as_secs_f64();
    sock.set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let mut got = 0;
    let mut buf = [0u8; 4096];
    while sock.recv_from(&mut buf).is_ok() {
        got += 1;
    }
    (got, sending)
}

fn blast(sock: &UdpSocket, to: std::net::SocketAddr, n: usize) -> usize {
    blast_timed(sock, to, n).0
}

#[test]
fn rate_limit_drops_one_clients_excess_and_leaves_other_clients_alone() {
    let cfg = config_text(
        r#"rate_limit = 20

[[client]]
name = "other"
address = "127.0.0.2"
secret = "testing123"
"#,
    );
    let ts = start(&cfg);
    let limited = socket();
    let other = UdpSocket::bind("127.0.0.2:0").unwrap();
    let (got_limited, sending) = blast_timed(&limited, ts.addr, 100);
    let got_other = blast(&other, ts.addr, 100);
    let dropped = ts.stats.drops(DropReason::RateLimited);
    eprintln!("rate limit 20/s: limited client got {got_limited}/100 answers, sent in {sending:.3} s, {dropped} dropped; other client got {got_other}/100");
    // The burst of 20, plus the 20/s refill while the requests arrived:
    // the sending time and 50 ms for the server to take the last ones off
    // its socket (the answers' drain does not count).
    let allowed = 20.0 + 20.0 * (sending + 0.05) + 1.0;
    assert!(got_limited >= 20, "the burst is answered");
    assert!(
        (got_limited as f64) <= allowed,
        "{got_limited} answers > {allowed:.0} allowed"
    );
    assert_eq!(
        dropped as usize,
        100 - got_limited,
        "each excess datagram counted"
    );
    assert_eq!(got_other, 100, "a client without a limit is not affected");
    // The bucket refills.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(ask(&ts, Method::Pap, "nobody", "1"), Code::AccessReject);
}

#[test]
fn rate_limit_is_off_by_default() {
    let ts = start(&config_text(""));
    let s = socket();
    assert_eq!(blast(&s, ts.addr, 100), 100);
    assert_eq!(ts.stats.drops(DropReason::RateLimited), 0);
}

fn ask_from(ts: &TestServer, from: &str, method: Method, user: &str, password: &str) -> Code {
    let sock = UdpSocket::bind((from, 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    send(&sock, ts.addr, &request(method, user, password))
        .expect("an answer")
        .code
}

#[test]
fn per_client_failure_cap_refuses_that_client_unverified_and_spares_the_others() {
    let ts = start(&config_text(
        "max_failures_per_minute = 5\n\n[[client]]\nname = \"other\"\naddress = \"127.0.0.2\"\nsecret = \"testing123\"\n",
    ));
    ts.add_user("target", None);
    ts.add_user("bystander", None);
    let now = ts.now();
    // A vandal behind 127.0.0.1 spreads guesses over user names.
    for (i, g) in wrong_guesses(now, 5).iter().enumerate() {
        let user = if i % 2 == 0 { "target" } else { "nobody" };
        assert_eq!(
            ask_from(&ts, "127.0.0.1", Method::Pap, user, g),
            Code::AccessReject
        );
    }
    let target = user_after_failures(&ts, "target", 3);
    assert_eq!(target.failures, 3);
    // The cap is reached: more guesses are refused unverified, counted
    // against nobody; even a right code through this client is refused.
    for (i, g) in wrong_guesses(now, 20).iter().enumerate() {
        let m = METHODS[i % METHODS.len()];
        assert_eq!(
            ask_from(&ts, "127.0.0.1", m, "target", g),
            Code::AccessReject
        );
    }
    let code = code_at(now);
    assert_eq!(
        ask_from(&ts, "127.0.0.1", Method::Pap, "bystander", &code),
        Code::AccessReject
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        ts.store.user("target").unwrap().unwrap().failures,
        3,
        "no lock from the flood"
    );
    assert_eq!(
        ts.stats
            .failure_cap_rejects
            .load(std::sync::atomic::Ordering::Relaxed),
        21
    );
    // Another client is not capped, and the refused code was not spent.
    assert_eq!(
        ask_from(&ts, "127.0.0.2", Method::Pap, "bystander", &code),
        Code::AccessAccept
    );
}
