//! The daemon end to end on 127.0.0.1 with a fixed clock: every method, the
//! challenge flow, replay, window, retransmissions, authenticity, lockout,
//! Status-Server and accounting.

mod common;

use common::*;
use radotp::auth::mschap;
use radotp::auth::Method;
use radotp::radius::attribute::{ms, types};
use radotp::radius::{crypto, packet, Code, Packet};
use radotp::server::stats::DropReason;
use radotp::store::TokenStore;

#[test]
fn every_method_right_code_accepted_once_then_replay_rejected() {
    let ts = start(&config_text(""));
    for (i, m) in METHODS.iter().enumerate() {
        let user = format!("u{i}");
        ts.add_user(&user, None);
        let code = code_at(ts.now());
        assert_eq!(
            ask(&ts, *m, &user, &code),
            Code::AccessAccept,
            "{m} first use"
        );
        assert_eq!(ask(&ts, *m, &user, &code), Code::AccessReject, "{m} replay");
    }
    for m in METHODS {
        assert_eq!(ts.stats.results(m, 0), 1, "{m} accepts");
        assert_eq!(ts.stats.results(m, 1), 1, "{m} rejects");
    }
}

#[test]
fn every_method_pin_then_code_and_wrong_pin_rejected() {
    let ts = start(&config_text(""));
    for (i, m) in METHODS.iter().enumerate() {
        let user = format!("p{i}");
        ts.add_user(&user, Some("4711"));
        let code = code_at(ts.now());
        assert_eq!(
            ask(&ts, *m, &user, &format!("4712{code}")),
            Code::AccessReject,
            "{m} wrong PIN"
        );
        assert_eq!(ask(&ts, *m, &user, &code), Code::AccessReject, "{m} no PIN");
        assert_eq!(
            ask(&ts, *m, &user, &format!("4711{code}")),
            Code::AccessAccept,
            "{m} PIN+code"
        );
    }
}

#[test]
fn every_method_code_outside_the_window_rejected_inside_accepted() {
    let ts = start(&config_text(""));
    for (i, m) in METHODS.iter().enumerate() {
        let user = format!("w{i}");
        ts.add_user(&user, None);
        let now = ts.now();
        assert_eq!(
            ask(&ts, *m, &user, &code_at(now + 60)),
            Code::AccessReject,
            "{m} +2 steps"
        );
        assert_eq!(
            ask(&ts, *m, &user, &code_at(now - 60)),
            Code::AccessReject,
            "{m} -2 steps"
        );
        assert_eq!(
            ask(&ts, *m, &user, &code_at(now + 30)),
            Code::AccessAccept,
            "{m} +1 step"
        );
    }
}

#[test]
fn unknown_user_rejected() {
    let ts = start(&config_text(""));
    for m in METHODS {
        assert_eq!(ask(&ts, m, "nobody", "123456"), Code::AccessReject, "{m}");
    }
}

#[test]
fn rfc5080_retransmission_gets_identical_bytes_not_a_replay_reject() {
    let ts = start(&config_text(""));
    ts.add_user("alice", None);
    let sock = socket();
    let req = request(Method::MsChapV2, "alice", &code_at(ts.now()));
    let bytes = packet::encode_request(&req.packet, SECRET, true).unwrap();
    let first = send_raw(&sock, ts.addr, &bytes).unwrap();
    let again = send_raw(&sock, ts.addr, &bytes).unwrap();
    assert_eq!(first, again, "same reply bytes");
    assert_eq!(Packet::decode(&first).unwrap().code, Code::AccessAccept);
    assert_eq!(
        ts.stats
            .duplicates_answered
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // A new request (new authenticator) with the same code is a replay.
    assert_eq!(
        ask(&ts, Method::Pap, "alice", &code_at(ts.now())),
        Code::AccessReject
    );
}

#[test]
fn missing_message_authenticator_dropped_when_required() {
    let ts = start(&config_text(""));
    ts.add_user("alice", None);
    let sock = socket();
    let req = request(Method::Pap, "alice", &code_at(ts.now()));
    let bytes = packet::encode_request(&req.packet, SECRET, false).unwrap();
    assert_eq!(send_raw(&sock, ts.addr, &bytes), None);
    assert_eq!(ts.stats.drops(DropReason::MissingMessageAuthenticator), 1);
}

#[test]
fn wrong_message_authenticator_dropped() {
    let ts = start(&config_text(""));
    ts.add_user("alice", None);
    let sock = socket();
    let req = request(Method::Pap, "alice", &code_at(ts.now()));
    let mut bytes = packet::encode_request(&req.packet, SECRET, true).unwrap();
    // Flip one bit of the Message-Authenticator value (first attribute).
    let pos = (20..bytes.len() - 2)
        .find(|&i| bytes[i] == types::MESSAGE_AUTHENTICATOR && bytes[i + 1] == 18)
        .unwrap();
    bytes[pos + 2] ^= 1;
    assert_eq!(send_raw(&sock, ts.addr, &bytes), None);
    assert_eq!(ts.stats.drops(DropReason::BadAuthenticator), 1);
}

#[test]
fn wrong_secret_never_accepted() {
    // With Message-Authenticator required: dropped.
    let ts = start(&config_text(""));
    ts.add_user("alice", None);
    let sock = socket();
    let req = request_with_secret(Method::Pap, "alice", &code_at(ts.now()), b"wrong-secret");
    let bytes = packet::encode_request(&req.packet, b"wrong-secret", true).unwrap();
    assert_eq!(send_raw(&sock, ts.addr, &bytes), None);
    // Without it (a weak client): the hidden password is garbage, so Reject.
    let ts = start(&config_text("require_message_authenticator = false"));
    ts.add_user("alice", None);
    for m in [Method::Pap, Method::MsChap] {
        let code = code_at(ts.now());
        let req = request_with_secret(m, "alice", &code, b"wrong-secret");
        let bytes = packet::encode_request(&req.packet, b"wrong-secret", false).unwrap();
        let raw = send_raw(&sock, ts.addr, &bytes).unwrap();
        let reply = Packet::decode(&raw).unwrap();
        if m == Method::Pap {
            assert_eq!(reply.code, Code::AccessReject, "{m}");
        }
        // Whatever the server answered, it is signed with the real secret,
        // which the sender cannot check without knowing it.
        assert!(!packet::verify_response(
            &raw,
            &req.packet.authenticator,
            b"wrong-secret"
        ));
    }
}

#[test]
fn unknown_client_dropped_and_counted() {
    let text = r#"
[server]
listen = ["127.0.0.1:0"]
[[client]]
name = "elsewhere"
address = "192.0.2.0/24"
secret = "testing123"
"#;
    let ts = start(text);
    ts.add_user("alice", None);
    let sock = socket();
    let req = request(Method::Pap, "alice", &code_at(ts.now()));
    let bytes = packet::encode_request(&req.packet, SECRET, true).unwrap();
    assert_eq!(send_raw(&sock, ts.addr, &bytes), None);
    assert_eq!(ts.stats.drops(DropReason::UnknownClient), 1);
}

#[test]
fn lockout_after_ten_failures_then_unlock() {
    let ts = start(&config_text(""));
    ts.add_user("alice", None);
    for _ in 0..10 {
        assert_eq!(
            ask(&ts, Method::Chap, "alice", "000000"),
            Code::AccessReject
        );
    }
    let code = code_at(ts.now());
    // Locked: even the right code is refused, and MS-CHAP-V2 says 647.
    let sock = socket();
    let req = request(Method::MsChapV2, "alice", &code);
    let reply = send(&sock, ts.addr, &req).unwrap();
    assert_eq!(reply.code, Code::AccessReject);
    let err = reply.vendor_attr(ms::VENDOR_ID, ms::MS_CHAP_ERROR).unwrap();
    assert!(
        String::from_utf8_lossy(err).contains("E=647"),
        "{:?}",
        String::from_utf8_lossy(err)
    );
    // Unlock (what `radotp user unlock` does) and the code works. The
    // tenth failure is written by the commit thread's next transaction,
    // after its Reject left: wait for it (bounded).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut u = loop {
        let u = ts.store.user("alice").unwrap().unwrap();
        if u.locked_until.is_some() || std::time::Instant::now() > deadline {
            break u;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert!(u.locked_until.is_some());
    u.failures = 0;
    u.locked_until = None;
    ts.store.update_user(&u).unwrap();
    assert_eq!(ask(&ts, Method::Pap, "alice", &code), Code::AccessAccept);
}

#[test]
fn lock_expires_by_itself() {
    let ts = start(&config_text(""));
    ts.add_user("alice", None);
    for _ in 0..10 {
        ask(&ts, Method::Pap, "alice", "000000");
    }
    assert_eq!(
        ask(&ts, Method::Pap, "alice", &code_at(ts.now())),
        Code::AccessReject
    );
    ts.clock.advance(301);
    assert_eq!(
        ask(&ts, Method::Pap, "alice", &code_at(ts.now())),
        Code::AccessAccept
    );
}

#[test]
fn rfc2759_mschapv2_success_and_rfc3079_mppe_keys_end_to_end() {
    let ts = start(&config_text(""));
    ts.add_user("bob", Some("1234"));
    let password = format!("1234{}", code_at(ts.now()));
    let sock = socket();
    let req = request(Method::MsChapV2, "bob", &password);
    let reply = send(&sock, ts.addr, &req).unwrap();
    assert_eq!(reply.code, Code::AccessAccept);
    req.exchange
        .check_accept(&reply)
        .expect("S= authenticator response");
    // The keys the NAS gets are the RFC 3079 keys of this password.
    let challenge: [u8; 16] = req
        .packet
        .vendor_attr(ms::VENDOR_ID, ms::MS_CHAP_CHALLENGE)
        .unwrap()
        .try_into()
        .unwrap();
    let resp = req
        .packet
        .vendor_attr(ms::VENDOR_ID, ms::MS_CHAP2_RESPONSE)
        .unwrap();
    let nt_response: [u8; 24] = resp[26..50].try_into().unwrap();
    let _ = challenge;
    let hash_hash = mschap::hash_nt_password_hash(&mschap::nt_password_hash(password.as_bytes()));
    let master = mschap::get_master_key(&hash_hash, &nt_response);
    let send_key = mschap::get_asymmetric_start_key(&master, true, true);
    let recv_key = mschap::get_asymmetric_start_key(&master, false, true);
    let got_send = crypto::mppe_decrypt_key(
        reply
            .vendor_attr(ms::VENDOR_ID, ms::MS_MPPE_SEND_KEY)
            .unwrap(),
        SECRET,
        &req.packet.authenticator,
    )
    .unwrap();
    let got_recv = crypto::mppe_decrypt_key(
        reply
            .vendor_attr(ms::VENDOR_ID, ms::MS_MPPE_RECV_KEY)
            .unwrap(),
        SECRET,
        &req.packet.authenticator,
    )
    .unwrap();
    assert_eq!(&got_send[..16], &send_key[..]);
    assert_eq!(&got_recv[..16], &recv_key[..]);
    assert!(reply
        .vendor_attr(ms::VENDOR_ID, ms::MS_MPPE_ENCRYPTION_POLICY)
        .is_some());
    assert!(reply
        .vendor_attr(ms::VENDOR_ID, ms::MS_MPPE_ENCRYPTION_TYPES)
        .is_some());
}

#[test]
fn rfc2759_mschapv2_reject_carries_ms_chap_error_691() {
    let ts = start(&config_text(""));
    ts.add_user("bob", None);
    let sock = socket();
    let req = request(Method::MsChapV2, "bob", "000000");
    let reply = send(&sock, ts.addr, &req).unwrap();
    assert_eq!(reply.code, Code::AccessReject);
    let err = String::from_utf8_lossy(reply.vendor_attr(ms::VENDOR_ID, ms::MS_CHAP_ERROR).unwrap())
        .to_string();
    assert!(
        err.contains("E=691") && err.contains("R=0") && err.contains("V=3"),
        "{err}"
    );
}

#[test]
fn replies_put_message_authenticator_first_and_copy_proxy_state() {
    let ts = start(&config_text(""));
    ts.add_user("alice", None);
    let sock = socket();
    let mut req = request(Method::Pap, "alice", &code_at(ts.now()));
    req.packet.push(types::PROXY_STATE, b"ps-1".to_vec());
    req.packet.push(types::PROXY_STATE, b"ps-2".to_vec());
    let reply = send(&sock, ts.addr, &req).unwrap();
    assert_eq!(reply.code, Code::AccessAccept);
    assert_eq!(reply.attributes[0].typ, types::MESSAGE_AUTHENTICATOR);
    let ps: Vec<_> = reply.attrs(types::PROXY_STATE).collect();
    assert_eq!(ps, [b"ps-1".as_slice(), b"ps-2".as_slice()]);
}

#[test]
fn two_step_pap_challenge_state_single_use() {
    let ts = start(&config_text(""));
    ts.add_user("carol", Some("2468"));
    let sock = socket();
    // Step 1: the PIN alone gets an Access-Challenge with a State.
    let req = request(Method::Pap, "carol", "2468");
    let reply = send(&sock, ts.addr, &req).unwrap();
    assert_eq!(reply.code, Code::AccessChallenge);
    assert!(reply.attr(types::REPLY_MESSAGE).is_some());
    let state = reply.attr(types::STATE).unwrap().to_vec();
    // Step 2: the code alone, with the State.
    let code = code_at(ts.now());
    let mut req2 = request(Method::Pap, "carol", &code);
    req2.packet.push(types::STATE, state.clone());
    assert_eq!(
        send(&sock, ts.addr, &req2).unwrap().code,
        Code::AccessAccept
    );
    // The State cannot be used twice (with the next step's code).
    let mut req3 = request(Method::Pap, "carol", &code_at(ts.now() + 30));
    req3.packet.push(types::STATE, state);
    assert_eq!(
        send(&sock, ts.addr, &req3).unwrap().code,
        Code::AccessReject
    );
    // A State never issued is refused.
    let mut req4 = request(Method::Pap, "carol", &code_at(ts.now() + 30));
    req4.packet.push(types::STATE, vec![9; 16]);
    assert_eq!(
        send(&sock, ts.addr, &req4).unwrap().code,
        Code::AccessReject
    );
}

#[test]
fn challenge_state_expires() {
    let ts = start(&config_text(""));
    ts.add_user("carol", Some("2468"));
    let sock = socket();
    let reply = send(&sock, ts.addr, &request(Method::Pap, "carol", "2468")).unwrap();
    let state = reply.attr(types::STATE).unwrap().to_vec();
    // The challenge table runs on the monotonic clock: use a short timeout config instead.
    drop(ts);
    let ts = start(&format!(
        "[challenge]\ntimeout_secs = 1\n{}",
        config_text("")
    ));
    ts.add_user("carol", Some("2468"));
    let reply = send(&sock, ts.addr, &request(Method::Pap, "carol", "2468")).unwrap();
    let state2 = reply.attr(types::STATE).unwrap().to_vec();
    assert_ne!(state, state2);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut req = request(Method::Pap, "carol", &code_at(ts.now()));
    req.packet.push(types::STATE, state2);
    assert_eq!(send(&sock, ts.addr, &req).unwrap().code, Code::AccessReject);
}

#[test]
fn rfc5997_status_server_answered() {
    let ts = start(&config_text(""));
    let sock = socket();
    let p = Packet::new(Code::StatusServer, 7, rand::random());
    let bytes = packet::encode_request(&p, SECRET, true).unwrap();
    let raw = send_raw(&sock, ts.addr, &bytes).unwrap();
    assert!(packet::verify_response(&raw, &p.authenticator, SECRET));
    assert_eq!(Packet::decode(&raw).unwrap().code, Code::AccessAccept);
    // Without Message-Authenticator it is dropped (RFC 5997 §3).
    let bytes = packet::encode_request(&p, SECRET, false).unwrap();
    assert_eq!(send_raw(&sock, ts.addr, &bytes), None);
}

#[test]
fn rfc2866_accounting_request_answered() {
    let ts = start(&config_text(""));
    let sock = socket();
    let mut p = Packet::new(Code::AccountingRequest, 3, [0; 16]);
    p.push(types::USER_NAME, b"alice".to_vec());
    p.push(types::ACCT_STATUS_TYPE, 1u32.to_be_bytes().to_vec());
    p.push(types::ACCT_SESSION_ID, b"sess-1".to_vec());
    let bytes = packet::encode_request(&p, SECRET, false).unwrap();
    let req_auth: [u8; 16] = bytes[4..20].try_into().unwrap();
    let raw = send_raw(&sock, ts.acct.unwrap(), &bytes).unwrap();
    assert!(packet::verify_response(&raw, &req_auth, SECRET));
    assert_eq!(Packet::decode(&raw).unwrap().code, Code::AccountingResponse);
    // With a wrong secret: dropped.
    let bytes = packet::encode_request(&p, b"nope", false).unwrap();
    assert_eq!(send_raw(&sock, ts.acct.unwrap(), &bytes), None);
}

#[test]
fn access_accept_sent_to_the_server_is_dropped() {
    let ts = start(&config_text(""));
    let sock = socket();
    let p = Packet::new(Code::AccessAccept, 1, [0; 16]);
    let bytes = packet::encode_request(&p, SECRET, true).unwrap();
    assert_eq!(send_raw(&sock, ts.addr, &bytes), None);
    assert_eq!(ts.stats.drops(DropReason::UnexpectedCode), 1);
}

#[test]
fn malformed_datagram_dropped_and_server_still_answers() {
    let ts = start(&config_text(""));
    ts.add_user("alice", None);
    let sock = socket();
    assert_eq!(send_raw(&sock, ts.addr, &[1, 2, 0, 5]), None);
    assert_eq!(ts.stats.drops(DropReason::Malformed), 1);
    assert_eq!(
        ask(&ts, Method::Pap, "alice", &code_at(ts.now())),
        Code::AccessAccept
    );
}

#[test]
fn ipv6_listener_and_client() {
    let text = r#"
[server]
listen = ["[::1]:0"]
accounting_listen = []
[[client]]
name = "lo6"
address = "::1"
secret = "testing123"
"#;
    let ts = start(text);
    assert!(ts.addr.is_ipv6());
    ts.add_user("six", None);
    let sock = std::net::UdpSocket::bind("[::1]:0").unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_millis(1500)))
        .unwrap();
    let req = request(Method::Chap, "six", &code_at(ts.now()));
    let reply = send(&sock, ts.addr, &req).unwrap();
    assert_eq!(reply.code, Code::AccessAccept);
}
