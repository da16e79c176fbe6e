//! PEAPv0 against an in-process peer (rustls for the tunnel, radotp's
//! own EAP-TLS framing with 300-octet fragments both ways), for what
//! eapol_test cannot be made to do (tests/eap_tls.rs has the real client):
//! EAP-GTC's two-step flow (RFC 3748 §5.6 with the PIN+OTP policy: the PIN
//! alone gets a second GTC request for the code), outside a tunnel and
//! inside PEAP; an inner identity that differs from the outer one; a peer
//! that answers the success Result TLV with a failure; an empty inner
//! identity. The MS-MPPE keys are checked against the MSK the peer exports.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::daemon::require;
use common::*;
use radotp::auth::eap::{code, typ, EapPacket};
use radotp::auth::eap_tls::{self, flags, Fragmenter, Reassembly, TlsFrame};
use radotp::radius::attribute::types;
use radotp::radius::{crypto, packet, Attribute, Code, Packet};

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

fn server(dir: &Path, methods: &str) -> TestServer {
    make_cert(dir);
    let ts = start(&config_text(&format!(
        "\n[eap]\nmethods = {methods}\ncertificate = \"{d}/eap.pem\"\nprivate_key = \"{d}/eap.key\"\n",
        d = dir.display()
    )));
    ts.add_user("pat", Some("4711"));
    ts
}

// The last reply of this thread's rounds, with the authenticator of its
// request (to decrypt the MPPE keys).
thread_local! {
    static LAST: std::cell::RefCell<Option<(Packet, [u8; 16])>> = const { std::cell::RefCell::new(None) };
}

/// One RADIUS round: `eap` with `state` and User-Name `outer` (the NAS
/// copies the outer identity there); the reply, its State and EAP packet.
fn round(
    ts: &TestServer,
    outer: &str,
    eap: &EapPacket,
    state: &[u8],
) -> (Code, Vec<u8>, EapPacket) {
    let mut p = Packet::new(Code::AccessRequest, rand::random(), rand::random());
    p.push(types::USER_NAME, outer.as_bytes().to_vec());
    p.attributes.extend(eap.to_attributes());
    if !state.is_empty() {
        p.attributes
            .push(Attribute::new(types::STATE, state.to_vec()));
    }
    let bytes = packet::encode_request(&p, SECRET, true).unwrap();
    let sock = socket();
    let raw = send_raw(&sock, ts.addr, &bytes).expect("a reply");
    assert!(packet::verify_response(&raw, &p.authenticator, SECRET));
    let r = Packet::decode(&raw).unwrap();
    let e = EapPacket::decode(&radotp::auth::eap::join(&r).unwrap()).unwrap();
    let s = r.attr(types::STATE).map(<[u8]>::to_vec).unwrap_or_default();
    let c = r.code;
    LAST.with(|l| *l.borrow_mut() = Some((r, p.authenticator)));
    (c, s, e)
}

fn resp(id: u8, t: u8, data: &[u8]) -> EapPacket {
    EapPacket::new(code::RESPONSE, id, t, data.to_vec())
}

#[test]
fn rfc3748_5_6_eap_gtc_pin_then_code_in_two_requests_accepts_once() {
    let dir = tempfile::tempdir().unwrap();
    let ts = server(dir.path(), r#"["gtc"]"#);
    let (c, s, e) = round(&ts, "pat", &resp(1, typ::IDENTITY, b"pat"), &[]);
    assert_eq!((c, e.typ), (Code::AccessChallenge, typ::GTC));
    // The PIN alone: a second GTC request, asking for the code.
    let (c, s, e) = round(&ts, "pat", &resp(e.identifier, typ::GTC, b"4711"), &s);
    assert_eq!(
        (c, e.typ),
        (Code::AccessChallenge, typ::GTC),
        "PIN alone: asked for the code"
    );
    let code = code_at(ts.now());
    let (c, _, e) = round(
        &ts,
        "pat",
        &resp(e.identifier, typ::GTC, code.as_bytes()),
        &s,
    );
    assert_eq!((c, e.code), (Code::AccessAccept, code::SUCCESS));
    // The same code again in a new conversation (PIN + code at once): replay.
    let (_, s, e) = round(&ts, "pat", &resp(1, typ::IDENTITY, b"pat"), &[]);
    let (c, _, e) = round(
        &ts,
        "pat",
        &resp(e.identifier, typ::GTC, format!("4711{code}").as_bytes()),
        &s,
    );
    assert_eq!((c, e.code), (Code::AccessReject, code::FAILURE));
}

/// A PEAPv0 peer in this process: the TLS tunnel from rustls, the EAP-TLS
/// framing from `auth::eap_tls`, the inner EAP header-less.
struct Peap<'a> {
    ts: &'a TestServer,
    outer: String,
    /// PEAP, or TTLS for the TTLS tests.
    method: u8,
    tls: rustls::ClientConnection,
    state: Vec<u8>,
    id: u8,
}

impl Peap<'_> {
    /// Sends `tls` (fragmented, 300 octets) and gathers the server's whole
    /// answer (acknowledging its fragments): its TLS data, or the final
    /// RADIUS code and EAP code when the conversation ended.
    fn exchange(&mut self, tls: Vec<u8>) -> Result<Vec<u8>, (Code, u8)> {
        let mut out = Fragmenter::new(tls, 300, 0);
        let mut back = Reassembly::new(eap_tls::MAX_TLS_MESSAGE);
        let mut first = true;
        loop {
            let td = if first || !out.done() {
                first = false;
                out.next_fragment()
            } else {
                vec![0] // ACK
            };
            let (c, s, e) = round(
                self.ts,
                &self.outer,
                &resp(self.id, self.method, &td),
                &self.state,
            );
            if c != Code::AccessChallenge {
                return Err((c, e.code));
            }
            self.state = s;
            self.id = e.identifier;
            assert_eq!(e.typ, self.method);
            let f = TlsFrame::parse(&e.data).unwrap();
            if !out.done() {
                assert!(f.is_ack(), "the server acknowledges each fragment");
                continue;
            }
            if let Some(m) = back.push(&f).unwrap() {
                return Ok(m);
            }
        }
    }

    /// Feeds the server's TLS data; what the tunnel yields in clear.
    fn feed(&mut self, m: &[u8]) -> Vec<u8> {
        let mut rd = m;
        while !rd.is_empty() {
            self.tls.read_tls(&mut rd).unwrap();
            self.tls.process_new_packets().unwrap();
        }
        let mut plain = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.tls.reader().read(&mut buf) {
            if n == 0 {
                break;
            }
            plain.extend_from_slice(&buf[..n]);
        }
        plain
    }

    fn pending(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.tls.wants_write() {
            self.tls.write_tls(&mut out).unwrap();
        }
        out
    }

    /// Sends an inner (header-less) response; the server's inner request.
    fn inner(&mut self, plain: &[u8]) -> Result<Vec<u8>, (Code, u8)> {
        self.tls.writer().write_all(plain).unwrap();
        let out = self.pending();
        let m = self.exchange(out)?;
        Ok(self.feed(&m))
    }
}

/// Identity (outer `outer`), PEAP Start and the TLS handshake, until the
/// server asks the inner identity.
fn peap_open<'a>(ts: &'a TestServer, outer: &str) -> Peap<'a> {
    let (c, state, e) = round(ts, outer, &resp(1, typ::IDENTITY, outer.as_bytes()), &[]);
    assert_eq!((c, e.typ), (Code::AccessChallenge, typ::PEAP));
    let mut p = Peap {
        ts,
        outer: outer.to_string(),
        method: typ::PEAP,
        tls: tls_client(),
        state,
        id: e.identifier,
    };
    for _ in 0..6 {
        let out = p.pending();
        let m = p.exchange(out).expect("handshake goes on");
        if p.feed(&m) == [typ::IDENTITY] {
            return p;
        }
    }
    panic!("no inner Identity request after the handshake");
}

#[test]
fn peapv0_gtc_pin_then_code_inside_the_tunnel_accepts_once_with_mppe_keys() {
    let dir = tempfile::tempdir().unwrap();
    let ts = server(dir.path(), r#"["peap", "gtc"]"#);
    let (c, state, e) = round(&ts, "anonymous", &resp(1, typ::IDENTITY, b"anonymous"), &[]);
    assert_eq!(
        (c, e.typ, e.data.as_slice()),
        (Code::AccessChallenge, typ::PEAP, &[flags::START][..])
    );
    let mut p = Peap {
        ts: &ts,
        outer: "anonymous".into(),
        method: typ::PEAP,
        tls: tls_client(),
        state,
        id: e.identifier,
    };
    // The handshake, until the server asks the inner identity.
    let mut plain = Vec::new();
    for _ in 0..6 {
        let out = p.pending();
        let m = p.exchange(out).expect("handshake goes on");
        plain = p.feed(&m);
        if !plain.is_empty() {
            break;
        }
    }
    assert_eq!(
        plain,
        [typ::IDENTITY],
        "PEAPv0 inner Identity request, header-less"
    );
    let req = p.inner(&[typ::IDENTITY, b'p', b'a', b't']).unwrap();
    assert_eq!(req[0], typ::GTC);
    // The PIN alone: asked again for the code.
    let req = p.inner(&[typ::GTC, b'4', b'7', b'1', b'1']).unwrap();
    assert_eq!(req[0], typ::GTC, "asked for the code");
    let mut answer = vec![typ::GTC];
    answer.extend_from_slice(code_at(ts.now()).as_bytes());
    let req = p.inner(&answer).unwrap();
    // The Result TLV (success), whole with its EAP header.
    let tlv = EapPacket::decode(&req).unwrap();
    assert_eq!(tlv.typ, typ::EXTENSIONS);
    assert_eq!(eap_tls::parse_peap_result(&tlv.data), Some(true));
    let ok = eap_tls::peap_result(code::RESPONSE, tlv.identifier, true).encode();
    assert_eq!(p.inner(&ok), Err((Code::AccessAccept, code::SUCCESS)));
    // The MPPE keys are the tunnel's MSK as the peer derives it.
    let (accept, auth) = LAST.with(|l| l.borrow_mut().take()).unwrap();
    let tls13 = p.tls.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3);
    let (label, ctx) = if tls13 {
        (
            &b"EXPORTER_EAP_TLS_Key_Material"[..],
            Some(&[typ::PEAP][..]),
        )
    } else {
        (&b"client EAP encryption"[..], None)
    };
    let km = p
        .tls
        .export_keying_material([0u8; 128], label, ctx)
        .unwrap();
    let key = |sub: u8| {
        let v = accept
            .attributes
            .iter()
            .find_map(|a| {
                // Vendor-Specific: vendor 311 (Microsoft), one sub-attribute.
                let v = &a.value;
                (a.typ == types::VENDOR_SPECIFIC
                    && v.get(..4) == Some(&311u32.to_be_bytes()[..])
                    && v.get(4) == Some(&sub))
                .then(|| v[6..].to_vec())
            })
            .expect("MS-MPPE key attribute");
        crypto::mppe_decrypt_key(&v, SECRET, &auth).unwrap()
    };
    assert_eq!(key(17), km[..32], "MS-MPPE-Recv-Key = MSK[0..32]");
    assert_eq!(key(16), km[32..64], "MS-MPPE-Send-Key = MSK[32..64]");

    // A second login with the same code (PIN + code at once) is a replay.
    let (_, state, e) = round(&ts, "anonymous", &resp(1, typ::IDENTITY, b"anonymous"), &[]);
    let mut p = Peap {
        ts: &ts,
        outer: "anonymous".into(),
        method: typ::PEAP,
        tls: tls_client(),
        state,
        id: e.identifier,
    };
    for _ in 0..6 {
        let out = p.pending();
        let m = p.exchange(out).expect("handshake goes on");
        if !p.feed(&m).is_empty() {
            break;
        }
    }
    p.inner(&[typ::IDENTITY, b'p', b'a', b't']).unwrap();
    let mut again = vec![typ::GTC];
    again.extend_from_slice(format!("4711{}", code_at(ts.now())).as_bytes());
    assert_eq!(p.inner(&again), Err((Code::AccessReject, code::FAILURE)));
}

// --- A TLS client that takes any server certificate.

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

fn tls_client() -> rustls::ClientConnection {
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    rustls::ClientConnection::new(Arc::new(cfg), "radotp-eap-test".try_into().unwrap()).unwrap()
}

/// The inner GTC answer `password` for inner user `inner`, outer `outer`:
/// the final RADIUS code (after the Result TLV when the server sends one).
fn peap_gtc_login(ts: &TestServer, outer: &str, inner: &str, password: &str) -> Code {
    let mut p = peap_open(ts, outer);
    let mut id = vec![typ::IDENTITY];
    id.extend_from_slice(inner.as_bytes());
    let req = match p.inner(&id) {
        Ok(r) => r,
        Err((c, _)) => return c,
    };
    assert_eq!(req[0], typ::GTC);
    let mut answer = vec![typ::GTC];
    answer.extend_from_slice(password.as_bytes());
    let tlv = match p.inner(&answer) {
        Ok(r) => EapPacket::decode(&r).unwrap(),
        Err((c, _)) => return c,
    };
    let ok = eap_tls::peap_result(code::RESPONSE, tlv.identifier, true).encode();
    p.inner(&ok).expect_err("the conversation ends").0
}

#[test]
fn peapv0_the_inner_identity_is_the_user_never_the_outer_one() {
    let dir = tempfile::tempdir().unwrap();
    let ts = server(dir.path(), r#"["peap", "gtc"]"#);
    let pw = format!("4711{}", code_at(ts.now()));
    // The outer identity names the real user, the inner one nobody: Reject.
    assert_eq!(
        peap_gtc_login(&ts, "pat", "mallory", &pw),
        Code::AccessReject
    );
    // The outer one nobody, the inner one the user: Accept.
    assert_eq!(
        peap_gtc_login(&ts, "anonymous@example.org", "pat", &pw),
        Code::AccessAccept
    );
}

#[test]
fn peapv0_peer_result_tlv_failure_rejects_and_the_code_stays_unused() {
    let dir = tempfile::tempdir().unwrap();
    let ts = server(dir.path(), r#"["peap", "gtc"]"#);
    let pw = format!("4711{}", code_at(ts.now()));
    let mut p = peap_open(&ts, "anonymous");
    p.inner(&[typ::IDENTITY, b'p', b'a', b't']).unwrap();
    let mut answer = vec![typ::GTC];
    answer.extend_from_slice(pw.as_bytes());
    let tlv = EapPacket::decode(&p.inner(&answer).unwrap()).unwrap();
    assert_eq!(eap_tls::parse_peap_result(&tlv.data), Some(true));
    // The peer says failure (it does not trust the tunnel, say): Reject.
    let no = eap_tls::peap_result(code::RESPONSE, tlv.identifier, false).encode();
    assert_eq!(p.inner(&no), Err((Code::AccessReject, code::FAILURE)));
    // Nothing was committed: the same code logs in once, then is spent.
    assert_eq!(
        peap_gtc_login(&ts, "anonymous", "pat", &pw),
        Code::AccessAccept
    );
    assert_eq!(
        peap_gtc_login(&ts, "anonymous", "pat", &pw),
        Code::AccessReject
    );
}

#[test]
fn peapv0_empty_or_malformed_inner_responses_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let ts = server(dir.path(), r#"["peap", "mschapv2"]"#);
    // An empty inner identity.
    let mut p = peap_open(&ts, "anonymous");
    assert_eq!(
        p.inner(&[typ::IDENTITY]),
        Err((Code::AccessReject, code::FAILURE))
    );
    // A truncated inner EAP-MSCHAPv2 Response.
    let mut p = peap_open(&ts, "anonymous");
    let req = p.inner(&[typ::IDENTITY, b'p', b'a', b't']).unwrap();
    assert_eq!(req[0], typ::MSCHAPV2);
    assert_eq!(
        p.inner(&[typ::MSCHAPV2, 2, req[2], 0, 9, 49]),
        Err((Code::AccessReject, code::FAILURE))
    );
    // An inner Response of a type the server did not ask for.
    let mut p = peap_open(&ts, "anonymous");
    p.inner(&[typ::IDENTITY, b'p', b'a', b't']).unwrap();
    assert_eq!(
        p.inner(&[0xfe, 1, 2, 3]),
        Err((Code::AccessReject, code::FAILURE))
    );
}

/// A TTLS tunnel up (the server proposes TTLS first): the peer, and the
/// server's answer to the client Finished (TLS data, possibly none).
fn ttls_open(ts: &TestServer) -> Peap<'_> {
    let (c, state, e) = round(ts, "anonymous", &resp(1, typ::IDENTITY, b"anonymous"), &[]);
    assert_eq!(
        (c, e.typ, e.data.as_slice()),
        (Code::AccessChallenge, typ::TTLS, &[flags::START][..])
    );
    let mut p = Peap {
        ts,
        outer: "anonymous".into(),
        method: typ::TTLS,
        tls: tls_client(),
        state,
        id: e.identifier,
    };
    for _ in 0..6 {
        let out = p.pending();
        if out.is_empty() && !p.tls.is_handshaking() {
            return p;
        }
        let m = p.exchange(out).expect("handshake goes on");
        p.feed(&m);
    }
    panic!("TTLS handshake did not finish");
}

#[test]
fn rfc5281_ttls_pap_in_process_mppe_keys_from_ttls_keying_material_and_bad_avps_rejected() {
    use radotp::auth::eap_tls::{avp, encode_avp};
    let dir = tempfile::tempdir().unwrap();
    let ts = server(dir.path(), r#"["ttls"]"#);
    // An unknown AVP with the M flag: Reject (RFC 5281 §10.1).
    let mut p = ttls_open(&ts);
    let mut m = encode_avp(avp::USER_NAME, true, b"pat");
    m.extend(encode_avp(4242, true, b"?"));
    assert_eq!(p.inner(&m), Err((Code::AccessReject, code::FAILURE)));
    // An AVP whose length runs past the message: Reject.
    let mut p = ttls_open(&ts);
    assert_eq!(
        p.inner(&[0, 0, 0, 1, 0x40, 0, 0, 200, b'p']),
        Err((Code::AccessReject, code::FAILURE))
    );
    // PAP with PIN + code: Accept, keys from "ttls keying material" (TLS
    // 1.2) or RFC 9427's exporter (TLS 1.3).
    let mut p = ttls_open(&ts);
    let mut m = encode_avp(avp::USER_NAME, true, b"pat");
    m.extend(encode_avp(
        avp::USER_PASSWORD,
        true,
        format!("4711{}\0\0", code_at(ts.now())).as_bytes(),
    ));
    assert_eq!(p.inner(&m), Err((Code::AccessAccept, code::SUCCESS)));
    let (accept, auth) = LAST.with(|l| l.borrow_mut().take()).unwrap();
    let tls13 = p.tls.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3);
    let (label, ctx) = if tls13 {
        (
            &b"EXPORTER_EAP_TLS_Key_Material"[..],
            Some(&[typ::TTLS][..]),
        )
    } else {
        (&b"ttls keying material"[..], None)
    };
    let km = p
        .tls
        .export_keying_material([0u8; 128], label, ctx)
        .unwrap();
    assert_eq!(mppe(&accept, &auth, 17), km[..32], "MS-MPPE-Recv-Key");
    assert_eq!(mppe(&accept, &auth, 16), km[32..64], "MS-MPPE-Send-Key");
}

/// The decrypted Microsoft MPPE key `sub` (16 Send, 17 Recv) of `accept`.
fn mppe(accept: &Packet, auth: &[u8; 16], sub: u8) -> Vec<u8> {
    let v = accept
        .attributes
        .iter()
        .find_map(|a| {
            let v = &a.value;
            (a.typ == types::VENDOR_SPECIFIC
                && v.get(..4) == Some(&311u32.to_be_bytes()[..])
                && v.get(4) == Some(&sub))
            .then(|| v[6..].to_vec())
        })
        .expect("MS-MPPE key attribute");
    crypto::mppe_decrypt_key(&v, SECRET, auth).unwrap()
}

#[test]
fn peapv0_allow_groups_and_reply_attributes_apply_to_the_inner_user() {
    use radotp::store::TokenStore;
    let dir = tempfile::tempdir().unwrap();
    make_cert(dir.path());
    let ts = start(&config_text(&format!(
        r#"allow_groups = ["netadmins"]

[[group]]
name = "netadmins"
reply = {{ "Session-Timeout" = 3600 }}

[eap]
methods = ["peap", "gtc"]
certificate = "{d}/eap.pem"
private_key = "{d}/eap.key"
"#,
        d = dir.path().display()
    )));
    ts.add_user("pat", Some("4711"));
    ts.add_user("sam", Some("4711"));
    let mut u = ts.store.user("pat").unwrap().unwrap();
    u.groups = vec!["netadmins".into()];
    ts.store.update_user(&u).unwrap();
    let pw = format!("4711{}", code_at(ts.now()));
    // sam is not in netadmins: this NAS lets him in through no method,
    // the tunnel included (the outer identity "anonymous" changes nothing).
    assert_eq!(
        peap_gtc_login(&ts, "anonymous", "sam", &pw),
        Code::AccessReject
    );
    // pat is: Accept, with the group's reply attribute.
    assert_eq!(
        peap_gtc_login(&ts, "anonymous", "pat", &pw),
        Code::AccessAccept
    );
    let (accept, _) = LAST.with(|l| l.borrow_mut().take()).unwrap();
    assert_eq!(
        accept.attr(types::SESSION_TIMEOUT),
        Some(&3600u32.to_be_bytes()[..]),
        "the inner user's group reply in the PEAP Accept"
    );
}
