//! `[lockout] scope = "user+source"` through a running server: guesses
//! from one Calling-Station-Id lock the user from that station only.

mod common;

use common::*;
use radotp::auth::Method;
use radotp::radius::attribute::types;
use radotp::radius::{Attribute, Code};
use radotp::store::TokenStore;

fn ask_from(ts: &TestServer, user: &str, password: &str, station: &str) -> Code {
    let sock = socket();
    let mut req = request(Method::Pap, user, password);
    req.packet.attributes.push(Attribute::new(
        types::CALLING_STATION_ID,
        station.as_bytes().to_vec(),
    ));
    send(&sock, ts.addr, &req).expect("an answer").code
}

#[test]
fn user_source_scope_guesses_from_one_station_lock_only_that_station() {
    let ts = start(&config_text("\n[lockout]\nscope = \"user+source\"\n"));
    ts.add_user("alice", None);
    let now = ts.now();
    let right = code_at(now);
    let mut wrong = 0;
    for g in 0..10u32 {
        let guess = format!("{:06}", (g * 7919 + 13) % 1_000_000);
        if [now - 30, now, now + 30]
            .iter()
            .any(|t| code_at(*t) == guess)
        {
            continue;
        }
        wrong += 1;
        assert_eq!(
            ask_from(&ts, "alice", &guess, "02-00-00-00-00-0A"),
            Code::AccessReject
        );
    }
    assert!(wrong >= 8);
    for _ in wrong..10 {
        assert_eq!(
            ask_from(&ts, "alice", "x", "02-00-00-00-00-0A"),
            Code::AccessReject
        );
    }
    assert_eq!(
        ask_from(&ts, "alice", &right, "02-00-00-00-00-0A"),
        Code::AccessReject,
        "locked from station A"
    );
    assert_eq!(
        ask_from(&ts, "alice", &right, "02-00-00-00-00-0B"),
        Code::AccessAccept,
        "station B still reaches the user"
    );
    let locks = ts.store.source_locks("alice").unwrap();
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert_eq!(locks[0].source, "lo/02-00-00-00-00-0A");
    assert!(locks[0].locked_at(now));
    assert_eq!(ts.store.user("alice").unwrap().unwrap().failures, 0);

    // The admin path: `user show` lists the locked station, `user unlock`
    // clears it (every source of the user).
    let cfg = radotp::config::Config::from_toml(
        &config_text("\n[lockout]\nscope = \"user+source\"\n"),
        "t.toml",
    )
    .unwrap();
    let store: std::sync::Arc<dyn TokenStore> = ts.store.clone();
    let verifier = std::sync::Arc::new(radotp::verify::Verifier::new(
        store,
        ts.clock.clone(),
        radotp::verify::Policy::of(&cfg),
    ));
    let admin = radotp::admin::Admin::new(verifier, std::sync::Arc::new(cfg));
    let shown = admin
        .execute(radotp::admin::AdminRequest::UserShow {
            name: "alice".into(),
        })
        .unwrap();
    let radotp::admin::AdminReply::User(info) = shown else {
        panic!("{shown:?}")
    };
    assert_eq!(info.locked_sources.len(), 1, "{info:?}");
    assert_eq!(info.locked_sources[0].0, "lo/02-00-00-00-00-0A");
    admin
        .execute(radotp::admin::AdminRequest::UserUnlock {
            name: "alice".into(),
        })
        .unwrap();
    assert!(ts
        .store
        .source_locks("alice")
        .unwrap()
        .iter()
        .all(|l| !l.locked_at(now)));
    ts.clock.advance(30);
    assert_eq!(
        ask_from(&ts, "alice", &code_at(ts.now()), "02-00-00-00-00-0A"),
        Code::AccessAccept,
        "unlocked: station A gets in again"
    );
}
