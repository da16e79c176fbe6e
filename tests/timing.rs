//! Reply-time distributions of rejects that must not tell an attacker which
//! case they hit: a wrong code for an existing user (one token, three
//! tokens), a wrong code for an unknown user, and a wrong PIN. Measured
//! side by side (interleaved, same server, same socket) over UDP.
//!
//! The figures are printed (run with `--nocapture`); the assertion is coarse
//! (medians within a factor 2) so that it fails on a real leak — an unknown
//! user skipping the token search — and not on scheduler noise.

mod common;

use std::time::Instant;

use common::*;
use radotp::auth::Method;
use radotp::otp::{Algorithm, Kind};
use radotp::radius::{packet, Code};
use radotp::secret::Secret;
use radotp::store::{Token, TokenState, TokenStore};

const ROUNDS: usize = 200;

fn extra_token(ts: &TestServer, owner: &str, id: &str) {
    ts.store
        .insert_token(&Token {
            id: id.into(),
            owner: owner.into(),
            serial: None,
            kind: Kind::Totp,
            algorithm: Algorithm::Sha1,
            digits: 6,
            period: 30,
            seed: Secret::new(id.as_bytes().repeat(4)),
            last: None,
            drift: 0,
            state: TokenState::Active,
            description: String::new(),
            created: T0,
            last_used: None,
        })
        .unwrap();
}

fn pct(v: &mut [u64], p: f64) -> u64 {
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn wrong_code_unknown_user_and_wrong_pin_take_the_same_time() {
    // No lockout: thousands of failures on purpose.
    let ts = start(&format!("{}\n[lockout]\nthreshold = 0\n", config_text("")));
    ts.add_user("known", None);
    ts.add_user("three", None);
    extra_token(&ts, "three", "t-three-2");
    extra_token(&ts, "three", "t-three-3");
    ts.add_user("pinned", Some("4711"));
    ts.add_user("used", None);
    ts.add_user("used2", None);
    extra_token(&ts, "used2", "t-used2-2");
    // Tokens with a used step: a reject also searches back for a replay.
    for u in ["used", "used2", "pinned"] {
        for t in ts.store.tokens_of(u).unwrap() {
            assert!(ts
                .store
                .commit_use(&t.id, None, T0 / 30 - 5, 0, T0, false)
                .unwrap());
        }
    }
    let wrong = "000000"; // not a valid code around T0 (checked below)
    for t in [T0 - 30, T0, T0 + 30] {
        assert_ne!(code_at(t), wrong);
    }
    let cases: [(&str, &str, String); 7] = [
        ("wrong code, user with 1 token", "known", wrong.to_string()),
        ("wrong code, 1 used token", "used", wrong.to_string()),
        ("wrong code, 2 used tokens", "used2", wrong.to_string()),
        ("wrong code, user with 3 tokens", "three", wrong.to_string()),
        ("wrong code, unknown user", "ghost", wrong.to_string()),
        (
            "wrong PIN, right code",
            "pinned",
            format!("9999{}", code_at(T0)),
        ),
        ("right PIN, wrong code", "pinned", format!("4711{wrong}")),
    ];
    let sock = socket();
    for m in [Method::Pap, Method::MsChapV2] {
        let mut times: Vec<Vec<u64>> = vec![Vec::new(); cases.len()];
        for round in 0..ROUNDS + 20 {
            for (i, (_, user, pw)) in cases.iter().enumerate() {
                let req = request(m, user, pw);
                let bytes = packet::encode_request(&req.packet, SECRET, true).unwrap();
                let t = Instant::now();
                let raw = send_raw(&sock, ts.addr, &bytes).expect("an answer");
                let us = t.elapsed().as_micros() as u64;
                assert_eq!(raw[0], Code::AccessReject.to_u8());
                if round >= 20 {
                    times[i].push(us); // the first 20 rounds warm up
                }
            }
        }
        let mut medians = Vec::new();
        for (i, (name, _, _)) in cases.iter().enumerate() {
            let med = pct(&mut times[i], 0.5);
            let p90 = pct(&mut times[i], 0.9);
            eprintln!("timing {m}: {name:32} median {med:5} us  p90 {p90:5} us  (n={ROUNDS})");
            medians.push(med);
        }
        let lo = *medians.iter().min().unwrap() as f64;
        let hi = *medians.iter().max().unwrap() as f64;
        assert!(
            hi <= 2.0 * lo + 100.0,
            "{m}: reject medians differ too much: {medians:?} us"
        );
    }
}
