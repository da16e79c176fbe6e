//! Hostile EAP against the real server (in-process, loopback, bounded in
//! count and time): EAP lengths disagreeing with the attribute, a State
//! from another client or never issued, PEAP fragments never finished,
//! reassembly beyond the 64 KiB limit, and 10,000 half-open conversations
//! (identity only, and with a TLS ClientHello) against a bounded table.
//! Each is dropped or rejected, never a panic, and counted.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::daemon::require;
use common::*;
use radotp::auth::eap::{code, typ, EapPacket};
use radotp::auth::eap_tls::{self, flags};
use radotp::radius::attribute::types;
use radotp::radius::{packet, Attribute, Code, Packet};

/// A self-signed tunnel certificate and key (mode 0600) in `dir`.
fn make_cert(dir: &Path) {
    require("openssl", "openssl");
    let out = Command::new("openssl")
        .current_dir(dir)
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "eap.key",
            "-out",
            "eap.pem",
            "-days",
            "2",
            "-subj",
            "/CN=radotp-eap-test",
        ])
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::set_permissions(dir.join("eap.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn server(dir: &Path, eap: &str) -> TestServer {
    make_cert(dir);
    start(&config_text(&format!(
        r#"
[[client]]
name = "lo2"
address = "127.0.0.2"
secret = "other-secret"

[eap]
methods = ["peap", "mschapv2"]
certificate = "{d}/eap.pem"
private_key = "{d}/eap.key"
{eap}
"#,
        d = dir.display()
    )))
}

/// An Access-Request carrying `eap` (split in 253-octet attributes) and `state`.
fn eap_request(eap: &[u8], state: Option<&[u8]>) -> Packet {
    let mut p = Packet::new(Code::AccessRequest, rand::random(), rand::random());
    p.push(types::USER_NAME, b"anonymous".to_vec());
    p.attributes.extend(radotp::auth::eap::split(eap));
    if let Some(s) = state {
        p.attributes.push(Attribute::new(types::STATE, s.to_vec()));
    }
    p
}

/// Sends `p` (with Message-Authenticator) from `sock` under `secret`;
/// the verified reply, or None when none came.
fn exchange(
    sock: &std::net::UdpSocket,
    to: std::net::SocketAddr,
    p: &Packet,
    secret: &[u8],
) -> Option<Packet> {
    let bytes = packet::encode_request(p, secret, true).unwrap();
    let raw = send_raw(sock, to, &bytes)?;
    assert!(packet::verify_response(&raw, &p.authenticator, secret));
    Some(Packet::decode(&raw).unwrap())
}

/// The reply's State and EAP packet.
fn state_and_eap(r: &Packet) -> (Vec<u8>, EapPacket) {
    let state = r.attr(types::STATE).map(<[u8]>::to_vec).unwrap_or_default();
    let eap = EapPacket::decode(&radotp::auth::eap::join(r).unwrap()).unwrap();
    (state, eap)
}

fn identity(id: u8) -> Vec<u8> {
    EapPacket::new(code::RESPONSE, id, typ::IDENTITY, b"anonymous".to_vec()).encode()
}

/// Identity, then the PEAP Start: the State and Request identifier.
fn open_peap(sock: &std::net::UdpSocket, ts: &TestServer) -> (Vec<u8>, u8) {
    let r = exchange(sock, ts.addr, &eap_request(&identity(1), None), SECRET).expect("a reply");
    assert_eq!(r.code, Code::AccessChallenge);
    let (state, eap) = state_and_eap(&r);
    assert_eq!(
        (eap.typ, eap.data.as_slice()),
        (typ::PEAP, &[flags::START][..])
    );
    (state, eap.identifier)
}

fn peap_response(id: u8, type_data: Vec<u8>) -> Vec<u8> {
    EapPacket::new(code::RESPONSE, id, typ::PEAP, type_data).encode()
}

fn eap_stats(ts: &TestServer) -> serde_json::Value {
    ts.stats.to_json()["eap"].clone()
}

#[test]
fn rfc3579_3_1_eap_length_disagreeing_with_the_attribute_is_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let ts = server(dir.path(), "");
    let sock = socket();
    // Length field 50, 14 octets sent; then 5 announced, 14 sent.
    for l in [50u16, 5] {
        let mut eap = identity(1);
        eap[2..4].copy_from_slice(&l.to_be_bytes());
        assert!(exchange(&sock, ts.addr, &eap_request(&eap, None), SECRET).is_none());
    }
    // An EAP-Message of 3 octets (shorter than a header).
    assert!(exchange(&sock, ts.addr, &eap_request(&[2, 1, 0], None), SECRET).is_none());
    assert_eq!(eap_stats(&ts)["dropped_malformed"], 3, "{}", eap_stats(&ts));
    // The server still answers a well-formed one.
    open_peap(&sock, &ts);
}

#[test]
fn rfc3579_state_from_another_client_or_never_issued_is_rejected_and_the_owner_continues() {
    let dir = tempfile::tempdir().unwrap();
    let ts = server(dir.path(), "");
    let sock = socket();
    let (state, id) = open_peap(&sock, &ts);
    let ack = peap_response(id, vec![0]);
    // The same State from another NAS client (its own secret): Reject.
    let other = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
    other
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let r = exchange(
        &other,
        ts.addr,
        &eap_request(&ack, Some(&state)),
        b"other-secret",
    )
    .unwrap();
    assert_eq!(r.code, Code::AccessReject);
    // A State never issued: Reject.
    let r = exchange(&sock, ts.addr, &eap_request(&ack, Some(&[7u8; 16])), SECRET).unwrap();
    assert_eq!(r.code, Code::AccessReject);
    assert_eq!(eap_stats(&ts)["unknown_state"], 2, "{}", eap_stats(&ts));
    // The owner's conversation was not consumed by either: it goes on.
    let hello = client_hello();
    let r = exchange(
        &sock,
        ts.addr,
        &eap_request(
            &peap_response(id, eap_tls::frame(0, 0, None, &hello)),
            Some(&state),
        ),
        SECRET,
    )
    .unwrap();
    assert_eq!(r.code, Code::AccessChallenge);
    // Its old State, once answered, is spent: Reject.
    let again = eap_request(
        &peap_response(id, eap_tls::frame(0, 0, None, &hello)),
        Some(&state),
    );
    let r = exchange(&sock, ts.addr, &again, SECRET).unwrap();
    assert_eq!(r.code, Code::AccessReject);
}

#[test]
fn rfc5216_3_1_reassembly_beyond_64k_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let ts = server(dir.path(), "");
    let sock = socket();
    // Announced beyond the limit: Reject at once.
    let (state, id) = open_peap(&sock, &ts);
    let first = peap_response(
        id,
        eap_tls::frame(0, flags::MORE, Some(70_000), &[0x16; 1000]),
    );
    let r = exchange(&sock, ts.addr, &eap_request(&first, Some(&state)), SECRET).unwrap();
    assert_eq!(r.code, Code::AccessReject);
    // No length announced: each 3000-octet fragment is acknowledged with
    // an empty request until the 22nd crosses 64 KiB.
    let (mut state, mut id) = open_peap(&sock, &ts);
    let mut acks = 0;
    loop {
        let frag = peap_response(id, eap_tls::frame(0, flags::MORE, None, &[0x16; 3000]));
        let r = exchange(&sock, ts.addr, &eap_request(&frag, Some(&state)), SECRET).unwrap();
        if r.code == Code::AccessReject {
            break;
        }
        assert_eq!(r.code, Code::AccessChallenge);
        let (s, eap) = state_and_eap(&r);
        assert_eq!(eap.data, [0], "an empty acknowledgement");
        (state, id) = (s, eap.identifier);
        acks += 1;
        assert!(acks < 40, "never rejected");
    }
    assert_eq!(
        acks,
        65_536 / 3000,
        "rejected when the 64 KiB limit is crossed"
    );
}

#[test]
fn rfc5216_fragments_never_finished_time_out_and_their_state_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let ts = server(dir.path(), "timeout_secs = 1");
    let sock = socket();
    let (state, id) = open_peap(&sock, &ts);
    let frag = peap_response(
        id,
        eap_tls::frame(0, flags::MORE, Some(5000), &[0x16; 1000]),
    );
    let r = exchange(&sock, ts.addr, &eap_request(&frag, Some(&state)), SECRET).unwrap();
    assert_eq!(r.code, Code::AccessChallenge);
    let (state, eap) = state_and_eap(&r);
    std::thread::sleep(Duration::from_millis(1300));
    let next = peap_response(
        eap.identifier,
        eap_tls::frame(0, flags::MORE, None, &[0x16; 1000]),
    );
    let r = exchange(&sock, ts.addr, &eap_request(&next, Some(&state)), SECRET).unwrap();
    assert_eq!(r.code, Code::AccessReject);
    let s = eap_stats(&ts);
    assert_eq!(s["conversations_timed_out"], 1, "{s}");
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn rfc3579_ten_thousand_half_open_conversations_stay_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let ts = server(dir.path(), "max_conversations = 1000\ntimeout_secs = 60");
    let sock = socket();
    let before = rss_kib();
    let mut open = Vec::new();
    let mut rejected = 0;
    for _ in 0..10_000 {
        let r =
            exchange(&sock, ts.addr, &eap_request(&identity(1), None), SECRET).expect("a reply");
        match r.code {
            Code::AccessChallenge => open.push(state_and_eap(&r)),
            Code::AccessReject => rejected += 1,
            c => panic!("unexpected {c:?}"),
        }
    }
    assert_eq!(open.len(), 1000, "the table holds max_conversations");
    assert_eq!(rejected, 9000);
    // Each open one gets as far as a TLS ClientHello (the server holds a
    // TLS connection for it and sends its first flight): still bounded.
    let hello = client_hello();
    for (state, eap) in &open {
        let m = peap_response(eap.identifier, eap_tls::frame(0, 0, None, &hello));
        let r = exchange(&sock, ts.addr, &eap_request(&m, Some(state)), SECRET).expect("a reply");
        assert_eq!(r.code, Code::AccessChallenge);
    }
    // And 1000 more new ones are refused: nothing in progress is evicted.
    for _ in 0..1000 {
        let r = exchange(&sock, ts.addr, &eap_request(&identity(1), None), SECRET).unwrap();
        assert_eq!(r.code, Code::AccessReject);
    }
    let grown = rss_kib().saturating_sub(before);
    let s = eap_stats(&ts);
    assert_eq!(s["conversations_refused"], 10_000, "{s}");
    assert_eq!(s["conversations_started"], 11_000, "{s}");
    eprintln!("RSS growth with 1000 half-open TLS conversations: {grown} KiB");
    // About 14 KiB each when measured; 64 MiB would be a leak.
    assert!(grown < 64 * 1024, "memory grew by {grown} KiB");
}

// --- A TLS client to produce a real ClientHello.

#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS 1.3/1.2 ClientHello from rustls.
fn client_hello() -> Vec<u8> {
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    let mut c = rustls::ClientConnection::new(Arc::new(cfg), "radotp-eap-test".try_into().unwrap())
        .unwrap();
    let mut out = Vec::new();
    while c.wants_write() {
        c.write_tls(&mut out).unwrap();
    }
    out
}

#[test]
fn rfc3748_4_1_fragment_with_a_stale_identifier_is_discarded_and_the_conversation_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let ts = server(dir.path(), "");
    let sock = socket();
    let (state, id) = open_peap(&sock, &ts);
    let frag = peap_response(
        id,
        eap_tls::frame(0, flags::MORE, Some(2000), &[0x16; 1000]),
    );
    let r = exchange(&sock, ts.addr, &eap_request(&frag, Some(&state)), SECRET).unwrap();
    assert_eq!(r.code, Code::AccessChallenge);
    let (state, ack) = state_and_eap(&r);
    // The next fragment under the previous Request's identifier (out of
    // order): silently discarded, the conversation stays.
    let stale = peap_response(id, eap_tls::frame(0, 0, None, &[0x16; 1000]));
    assert!(exchange(&sock, ts.addr, &eap_request(&stale, Some(&state)), SECRET).is_none());
    // In order, it completes the (garbage) TLS message: the handshake
    // fails and the conversation ends in Reject, not a panic.
    let last = peap_response(ack.identifier, eap_tls::frame(0, 0, None, &[0x16; 1000]));
    let r = exchange(&sock, ts.addr, &eap_request(&last, Some(&state)), SECRET).unwrap();
    assert_eq!(r.code, Code::AccessReject);
    let s = eap_stats(&ts);
    assert_eq!(s["methods"]["peap"]["rejected"], 1, "{s}");
}

#[test]
fn rfc3579_retransmitted_tls_round_gets_the_cached_reply_not_a_second_run() {
    let dir = tempfile::tempdir().unwrap();
    let ts = server(dir.path(), "");
    let sock = socket();
    let (state, id) = open_peap(&sock, &ts);
    let m = peap_response(id, eap_tls::frame(0, 0, None, &client_hello()));
    let bytes = packet::encode_request(&eap_request(&m, Some(&state)), SECRET, true).unwrap();
    let first = send_raw(&sock, ts.addr, &bytes).expect("a reply");
    let again = send_raw(&sock, ts.addr, &bytes).expect("a reply");
    assert_eq!(first, again, "the same bytes, from the duplicate cache");
    assert_eq!(Packet::decode(&first).unwrap().code, Code::AccessChallenge);
}
