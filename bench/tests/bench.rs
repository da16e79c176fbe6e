//! Smoke test of the load generator against an in-process radotp server:
//! about 1 s of load per method, every reply checked; the population goes
//! in through the generator's CSV and radotp's import. The full benchmark
//! is bench/compare.sh (not run in CI).

mod common;

use radotp::auth::Method;
use radotp_bench::load::{run_population, Mode, RunArgs};
use radotp_bench::population::{generate, Group};

fn args(server: std::net::SocketAddr, method: Method, mode: Mode) -> RunArgs {
    RunArgs {
        server,
        secret: "testing123".into(),
        method,
        seed_file: None,
        group: Group::HotpPin,
        users: 0,
        state_file: None,
        static_password: false,
        reuse: false,
        no_pin: false,
        mode,
        wrong_percent: 10,
        concurrency: 16,
        rate: None,
        duration: 0.5,
        warmup: 0.0,
        threads: 1,
        sockets: 2,
        timeout_ms: 2000,
        no_message_authenticator: false,
        at: Some(common::T0),
    }
}

// Every request of a closed-loop run with fresh HOTP codes is accepted
// (PAP with PIN, CHAP, MS-CHAP-V2 with its MS-CHAP2-Success checked), with
// no errors, timeouts or unexpected rejects.
#[test]
fn bench_fresh_hotp_codes_are_all_accepted_without_errors() {
    common::with_server(&common::config_text(""), |srv| {
        for method in [Method::Pap, Method::Chap, Method::MsChapV2] {
            // Fresh users per method, so counters start at 0 for each run.
            let users = generate(Group::HotpPin, 64, 4)
                .into_iter()
                .enumerate()
                .map(|(i, mut u)| {
                    u.name = format!("{}-{i}", method.as_str());
                    u
                })
                .collect::<Vec<_>>();
            srv.import(&users);
            let r = run_population(&args(srv.addr, method, Mode::Valid), users).unwrap();
            assert!(r.accepts > 50, "{method}: {r:?}");
            assert_eq!(r.rejects, 0, "{method}: {r:?}");
            assert_eq!(r.errors, 0, "{method}: {r:?}");
            assert_eq!(r.timeouts, 0, "{method}: {r:?}");
            assert_eq!(r.unexpected, 0, "{method}: {r:?}");
            assert!(r.latency_us.p50 > 0 && r.latency_us.p50 <= r.latency_us.max);
        }
    });
}

// Wrong codes are all rejected, and in the mixed mode the wrong share is
// rejected while the rest is accepted: nothing unexpected either way.
#[test]
fn bench_wrong_and_mixed_codes_get_the_expected_answers() {
    // No lockout: with 30 % wrong codes some user would now and then fail
    // ten times in a row, and its next valid code would be refused.
    common::with_server(&common::config_text("[lockout]\nthreshold = 0\n"), |srv| {
        let users = generate(Group::HotpPin, 64, 4);
        srv.import(&users);
        let r = run_population(&args(srv.addr, Method::Pap, Mode::Wrong), users.clone()).unwrap();
        assert!(r.rejects > 50, "{r:?}");
        assert_eq!((r.accepts, r.errors, r.unexpected), (0, 0, 0), "{r:?}");
        let mut mixed = args(srv.addr, Method::Pap, Mode::Mixed);
        mixed.wrong_percent = 30;
        let others = generate(Group::HotpPin, 64, 4)
            .into_iter()
            .enumerate()
            .map(|(i, mut u)| {
                u.name = format!("mixed-{i}");
                u
            })
            .collect::<Vec<_>>();
        srv.import(&others);
        let r = run_population(&mixed, others).unwrap();
        assert!(r.accepts > 20 && r.rejects > 5, "{r:?}");
        assert_eq!((r.errors, r.unexpected, r.timeouts), (0, 0, 0), "{r:?}");
    });
}

// A server whose replies carry a wrong Response Authenticator: every reply
// is counted as an error, never as an accept.
#[test]
fn bench_counts_replies_with_wrong_authenticators_as_errors() {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .unwrap();
    let addr = sock.local_addr().unwrap();
    let fake = std::thread::spawn(move || {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let mut buf = [0u8; 4096];
        while std::time::Instant::now() < until {
            if let Ok((n, src)) = sock.recv_from(&mut buf) {
                if n >= 20 {
                    // Access-Accept, same identifier, authenticator all zero.
                    let mut reply = [0u8; 20];
                    reply[0] = 2;
                    reply[1] = buf[1];
                    reply[3] = 20;
                    let _ = sock.send_to(&reply, src);
                }
            }
        }
    });
    let users = generate(Group::HotpPin, 8, 4);
    let mut a = args(addr, Method::Pap, Mode::Valid);
    a.duration = 0.3;
    let r = run_population(&a, users).unwrap();
    fake.join().unwrap();
    assert!(r.errors > 10, "{r:?}");
    assert_eq!((r.accepts, r.rejects), (0, 0), "{r:?}");
}

// TOTP users reused many times at one server time: the generator follows
// the drift radotp learns from every accepted code (its window of ±1 steps
// is centred on the last drift), so each user yields exactly the codes of
// steps -1 to +TOTP_AHEAD (8) one after the other, all accepted, and then
// none: 16 users, 10 Accepts each, no Reject, nothing unexpected.
#[test]
fn bench_totp_codes_follow_the_drift_the_server_learns() {
    common::with_server(&common::config_text(""), |srv| {
        let users = generate(Group::TotpPin, 16, 4);
        srv.import(&users);
        let mut a = args(srv.addr, Method::Pap, Mode::Valid);
        a.group = Group::TotpPin;
        let r = run_population(&a, users).unwrap();
        assert_eq!(r.accepts, 16 * 10, "{r:?}");
        assert_eq!(
            (r.rejects, r.errors, r.unexpected, r.timeouts),
            (0, 0, 0, 0),
            "{r:?}"
        );
    });
}

// The step boundary: requests the generator sends in the last second of a
// step (its clock at T0 + 29) and the server verifies in the next one (its
// clock at T0 + 30, one step on): each code lies in the windows of both
// steps and the drift is tracked as a range, so every request is accepted
// on both sides of the boundary.
#[test]
fn bench_totp_codes_sent_late_in_a_step_are_accepted_after_the_boundary() {
    common::with_server(&common::config_text(""), |srv| {
        let users = generate(Group::TotpPin, 16, 4);
        srv.import(&users);
        srv.clock.set(common::T0 + 30);
        let mut a = args(srv.addr, Method::Pap, Mode::Valid);
        a.group = Group::TotpPin;
        a.at = Some(common::T0 + 29);
        let r = run_population(&a, users).unwrap();
        assert!(r.accepts >= 16 * 5, "{r:?}");
        assert_eq!(
            (r.rejects, r.errors, r.unexpected, r.timeouts),
            (0, 0, 0, 0),
            "{r:?}"
        );
    });
}
