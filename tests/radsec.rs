//! RadSec (RADIUS over TLS, RFC 6614) end to end.
//!
//! A real RadSec client no one here wrote: radclient sends UDP to
//! radsecproxy, which forwards over TLS with a client certificate to
//! radotp. Certificates are made here with the `openssl` CLI. Then a plain
//! rustls client in the test for what radsecproxy will not do: framing
//! edge cases, Status-Server, accounting, `tls_name`, and hostile peers
//! (plain bytes, a handshake that stops half way, lengths of 65,535 and
//! under 20, many idle connections). All on 127.0.0.1, ephemeral ports,
//! bounded in time. radsecproxy and openssl are installed by
//! `scripts/test-deps.sh`; a missing tool fails with the command that
//! installs it.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::daemon::require;
use common::*;
use radotp::auth::Method;
use radotp::radius::attribute::{ms, types};
use radotp::radius::{packet, Code, Packet};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

const RADSEC_SECRET: &[u8] = b"radsec";

// --- Certificates, made with openssl.

const OPENSSL_CNF: &str = r#"
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
authorityKeyIdentifier = keyid
[client]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
subjectAltName = DNS:nas-1.example.net
authorityKeyIdentifier = keyid
[client_cn_only]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
"#;

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        require("openssl", "openssl");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("openssl.cnf"), OPENSSL_CNF).unwrap();
        let pki = Pki { dir };
        pki.ca("ca");
        pki.ca("other-ca");
        pki.leaf("server", "ca", "localhost", "server");
        pki.leaf("client", "ca", "nas-1.example.net", "client");
        pki.leaf("client-cn", "ca", "nas-cn.example.net", "client_cn_only");
        pki.leaf("stranger", "other-ca", "nas-1.example.net", "client");
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn ca(&self, name: &str) {
        let subj = format!("/CN=radotp test {name}");
        self.openssl(&[
            "req",
            "-x509",
            "-config",
            "openssl.cnf",
            "-extensions",
            "ca",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "3",
            "-subj",
            &subj,
        ]);
    }

    /// A certificate `name`.pem / `name`.key signed by `ca`, mode 0600 key.
    fn leaf(&self, name: &str, ca: &str, cn: &str, ext: &str) {
        self.openssl(&[
            "req",
            "-new",
            "-config",
            "openssl.cnf",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={cn}"),
        ]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "3",
            "-extfile",
            "openssl.cnf",
            "-extensions",
            ext,
        ]);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            self.path(&format!("{name}.key")),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }

    /// The `[radsec]` section, with `extra` lines.
    fn radsec_section(&self, extra: &str) -> String {
        format!(
            "[radsec]\nlisten = [\"127.0.0.1:0\"]\ncertificate = \"{}\"\nprivate_key = \"{}\"\nclient_ca = \"{}\"\n{extra}\n",
            self.p("server.pem"),
            self.p("server.key"),
            self.p("ca.pem"),
        )
    }
}

/// The test server's config: UDP on port 0, RadSec on port 0, the loopback
/// client (`client_extra` lines added to its block).
fn config(pki: &Pki, radsec_extra: &str, client_extra: &str) -> String {
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\naccounting_listen = [\"127.0.0.1:0\"]\n{}\n[[client]]\nname = \"lo\"\naddress = \"127.0.0.1\"\nsecret = \"testing123\"\n{client_extra}\n",
        pki.radsec_section(radsec_extra)
    )
}

fn start_radsec(pki: &Pki, radsec_extra: &str, client_extra: &str) -> TestServer {
    let ts = start(&config(pki, radsec_extra, client_extra));
    assert!(ts.radsec.is_some(), "RadSec listener bound");
    ts
}

// --- radsecproxy and radclient.

struct Proxy {
    child: Child,
    udp: SocketAddr,
    log: PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn free_udp_port() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap()
}

/// radsecproxy: UDP in on 127.0.0.1 (secret testing123), TLS out to
/// `server` with the client certificate `cert` (.pem and .key).
fn radsecproxy(pki: &Pki, tag: &str, server: SocketAddr, cert: &str) -> Proxy {
    require("radsecproxy", "radsecproxy");
    let udp = free_udp_port();
    let conf = pki.path(&format!("radsecproxy-{tag}.conf"));
    let log = pki.path(&format!("radsecproxy-{tag}.log"));
    std::fs::write(
        &conf,
        format!(
            r#"ListenUDP 127.0.0.1:{udp_port}
LogLevel 5
tls default {{
    CACertificateFile {ca}
    CertificateFile {cert_pem}
    CertificateKeyFile {cert_key}
}}
client lo {{
    host 127.0.0.1
    type udp
    secret testing123
}}
server radotp {{
    host 127.0.0.1
    port {port}
    type tls
    tls default
    secret radsec
    StatusServer on
}}
realm * {{
    server radotp
    accountingServer radotp
}}
"#,
            udp_port = udp.port(),
            ca = pki.p("ca.pem"),
            cert_pem = pki.p(&format!("{cert}.pem")),
            cert_key = pki.p(&format!("{cert}.key")),
            port = server.port(),
        ),
    )
    .unwrap();
    let logfile = std::fs::File::create(&log).unwrap();
    let child = Command::new("radsecproxy")
        .args(["-f", "-d", "5", "-c"])
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(logfile.try_clone().unwrap())
        .stderr(logfile)
        .spawn()
        .expect("radsecproxy starts");
    let p = Proxy { child, udp, log };
    // Up when its UDP port is taken.
    let deadline = Instant::now() + Duration::from_secs(10);
    while UdpSocket::bind(udp).is_ok() {
        assert!(
            Instant::now() < deadline,
            "radsecproxy did not start:\n{}",
            p.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    p
}

/// Sends one request with radclient to the proxy; stdout and stderr.
fn radclient(proxy: &Proxy, kind: &str, attrs: &str) -> String {
    require("radclient", "freeradius-utils");
    let mut child = Command::new("radclient")
        .args(["-r", "2", "-t", "3", "-x"])
        .arg(proxy.udp.to_string())
        .args([kind, "testing123"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("radclient runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(attrs.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

fn outcome(out: &str) -> &'static str {
    if out.contains("Received Access-Accept") {
        "accept"
    } else if out.contains("Received Access-Reject") {
        "reject"
    } else {
        "none"
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// radclient attributes of an MS-CHAP-V2 request (radclient computes
/// MS-CHAP v1 from a password, not v2): MS-CHAP-Challenge and
/// MS-CHAP2-Response computed here; neither depends on the secret.
fn mschapv2_attrs(user: &str, password: &str) -> String {
    let req = request(Method::MsChapV2, user, password);
    let mut out = format!("User-Name = \"{user}\"");
    for a in &req.packet.attributes {
        if let Some((ms::VENDOR_ID, subs)) = a.vendor() {
            for (t, v) in subs {
                let name = match t {
                    ms::MS_CHAP_CHALLENGE => "MS-CHAP-Challenge",
                    ms::MS_CHAP2_RESPONSE => "MS-CHAP2-Response",
                    _ => continue,
                };
                out += &format!(", {name} = 0x{}", hex(v));
            }
        }
    }
    out + ", Message-Authenticator = 0x00\n"
}

#[test]
fn radsecproxy_carries_all_four_methods_once_each_and_replays_are_rejected() {
    let pki = Pki::new();
    let ts = start_radsec(&pki, "", "");
    let proxy = radsecproxy(&pki, "good", ts.radsec.unwrap(), "client");
    let cases = [
        ("pap", "User-Password"),
        ("chap", "CHAP-Password"),
        ("mschap", "MS-CHAP-Password"),
        ("mschapv2", ""),
    ];
    for (name, attr) in cases {
        let user = format!("rs-{name}");
        ts.add_user(&user, Some("9753"));
        let password = format!("9753{}", code_at(ts.now()));
        let req = if attr.is_empty() {
            mschapv2_attrs(&user, &password)
        } else {
            format!(
                "User-Name = \"{user}\", {attr} = \"{password}\", Message-Authenticator = 0x00\n"
            )
        };
        let first = radclient(&proxy, "auth", &req);
        assert_eq!(
            outcome(&first),
            "accept",
            "{name} first use:\n{first}\nradsecproxy:\n{}",
            proxy.log()
        );
        if name == "mschapv2" {
            assert!(first.contains("MS-CHAP2-Success"), "{first}");
        }
        let replay = radclient(&proxy, "auth", &req);
        assert_eq!(outcome(&replay), "reject", "{name} replay:\n{replay}");
        let s = &ts.stats.radsec;
        assert_eq!(s.results(name, 0), 1, "{name}: one Accept over RadSec");
        assert!(s.results(name, 1) >= 1, "{name}: the replay's Reject");
    }
    // A wrong code, rejected.
    ts.add_user("rs-wrong", None);
    let out = radclient(
        &proxy,
        "auth",
        "User-Name = \"rs-wrong\", User-Password = \"000000\", Message-Authenticator = 0x00\n",
    );
    assert_eq!(outcome(&out), "reject", "{out}");
    // Accounting over the same TLS connection.
    let out = radclient(
        &proxy,
        "acct",
        "User-Name = \"rs-pap\", Acct-Status-Type = Start, Acct-Session-Id = \"s-1\"\n",
    );
    assert!(
        out.contains("Received Accounting-Response"),
        "{out}\n{}",
        proxy.log()
    );
    let s = &ts.stats.radsec;
    assert!(s.handshakes.load(Ordering::Relaxed) >= 1);
    assert_eq!(s.handshakes_refused.load(Ordering::Relaxed), 0);
    assert_eq!(
        ts.stats
            .drops(radotp::server::stats::DropReason::BadAuthenticator),
        0,
        "the radsec secret is used on TLS"
    );
}

#[test]
fn radsecproxy_with_a_certificate_from_another_ca_gets_no_accept() {
    let pki = Pki::new();
    let ts = start_radsec(&pki, "", "");
    let proxy = radsecproxy(&pki, "stranger", ts.radsec.unwrap(), "stranger");
    ts.add_user("rs-x", None);
    let req = format!(
        "User-Name = \"rs-x\", User-Password = \"{}\", Message-Authenticator = 0x00\n",
        code_at(ts.now())
    );
    let out = radclient(&proxy, "auth", &req);
    assert_eq!(outcome(&out), "none", "{out}");
    assert!(
        ts.stats.radsec.handshakes_refused.load(Ordering::Relaxed) >= 1,
        "the handshake was refused"
    );
    assert_eq!(ts.stats.radsec.handshakes.load(Ordering::Relaxed), 0);
    // The code is still good: nothing consumed it.
    let ok = radsecproxy(&pki, "good", ts.radsec.unwrap(), "client");
    let out = radclient(&ok, "auth", &req);
    assert_eq!(outcome(&out), "accept", "{out}\n{}", ok.log());
}

// --- A rustls client in the test.

fn client_config(pki: &Pki, cert: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(pki.path("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let chain: Vec<_> = CertificateDer::pem_file_iter(pki.path(&format!("{cert}.pem")))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(pki.path(&format!("{cert}.key"))).unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .unwrap(),
    )
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn tls_connect(addr: SocketAddr, cfg: &Arc<rustls::ClientConfig>) -> std::io::Result<Tls> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
    let conn =
        rustls::ClientConnection::new(cfg.clone(), ServerName::try_from("127.0.0.1").unwrap())
            .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    // Drive the handshake (TLS 1.3: the server's verdict on our
    // certificate arrives with its first application data or an alert).
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

/// Reads one RADIUS packet from the stream.
fn read_packet(tls: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut head = [0u8; 4];
    tls.read_exact(&mut head)?;
    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    let mut p = head.to_vec();
    p.resize(len.max(4), 0);
    tls.read_exact(&mut p[4..])?;
    Ok(p)
}

fn status_server(id: u8) -> (Vec<u8>, [u8; 16]) {
    let p = Packet::new(Code::StatusServer, id, rand::random());
    (
        packet::encode_request(&p, RADSEC_SECRET, true).unwrap(),
        p.authenticator,
    )
}

/// One exchange on a TLS stream; the reply's code (authenticators checked).
fn exchange(tls: &mut Tls, bytes: &[u8], auth: &[u8; 16]) -> Code {
    tls.write_all(bytes).unwrap();
    tls.flush().unwrap();
    let raw = read_packet(tls).expect("a reply");
    assert!(
        packet::verify_response(&raw, auth, RADSEC_SECRET),
        "reply signed with the radsec secret"
    );
    Packet::decode(&raw).unwrap().code
}

/// Is the connection closed by the server (EOF or error within `wait`)?
fn closed_within(stream: &mut impl Read, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let mut b = [0u8; 512];
    loop {
        match stream.read(&mut b) {
            Ok(0) | Err(_) => return true,
            Ok(_) if Instant::now() < deadline => continue,
            Ok(_) => return false,
        }
    }
}

fn wait_until(what: &str, wait: Duration, f: impl Fn() -> bool) {
    let deadline = Instant::now() + wait;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn framing_several_packets_per_write_one_split_across_writes_status_server_and_accounting() {
    let pki = Pki::new();
    let ts = start_radsec(&pki, "", "");
    let cfg = client_config(&pki, "client");
    let mut tls = tls_connect(ts.radsec.unwrap(), &cfg).unwrap();
    // Status-Server: the watchdog (RFC 5997), answered with Access-Accept.
    let (ss, a) = status_server(1);
    assert_eq!(exchange(&mut tls, &ss, &a), Code::AccessAccept);
    // Two Access-Requests in one write.
    ts.add_user("f1", None);
    ts.add_user("f2", None);
    let code = code_at(ts.now());
    let r1 = request_with_secret(Method::Pap, "f1", &code, RADSEC_SECRET);
    let r2 = request_with_secret(Method::MsChapV2, "f2", &code, RADSEC_SECRET);
    let mut both = packet::encode_request(&r1.packet, RADSEC_SECRET, true).unwrap();
    both.extend(packet::encode_request(&r2.packet, RADSEC_SECRET, true).unwrap());
    tls.write_all(&both).unwrap();
    tls.flush().unwrap();
    let mut replies = Vec::new();
    for _ in 0..2 {
        let raw = read_packet(&mut tls).unwrap();
        replies.push(Packet::decode(&raw).unwrap());
    }
    replies.sort_by_key(|p| p.identifier != r1.packet.identifier);
    for (reply, req) in replies.iter().zip([&r1, &r2]) {
        assert_eq!(reply.identifier, req.packet.identifier);
        assert_eq!(reply.code, Code::AccessAccept);
        req.exchange
            .check_accept(reply)
            .expect("MS-CHAP2-Success and MPPE keys under the radsec secret");
    }
    // One packet split across three writes, a pause between.
    let (ss, a) = status_server(9);
    for part in [&ss[..3], &ss[3..11], &ss[11..]] {
        tls.write_all(part).unwrap();
        tls.flush().unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let raw = read_packet(&mut tls).unwrap();
    assert!(packet::verify_response(&raw, &a, RADSEC_SECRET));
    // Accounting on the same connection.
    let mut p = Packet::new(Code::AccountingRequest, 3, [0; 16]);
    p.push(types::USER_NAME, b"f1".to_vec());
    p.push(types::ACCT_STATUS_TYPE, 1u32.to_be_bytes().to_vec());
    let bytes = packet::encode_request(&p, RADSEC_SECRET, false).unwrap();
    let auth: [u8; 16] = bytes[4..20].try_into().unwrap();
    assert_eq!(exchange(&mut tls, &bytes, &auth), Code::AccountingResponse);
    // The UDP secret is not the one on TLS: a wrong Message-Authenticator,
    // which closes the stream (RFC 6613 §2.6.4), unanswered.
    let r = request_with_secret(Method::Pap, "f1", "123456", SECRET);
    let bytes = packet::encode_request(&r.packet, SECRET, true).unwrap();
    tls.write_all(&bytes).unwrap();
    tls.flush().unwrap();
    assert!(
        read_packet(&mut tls).is_err(),
        "no reply under the UDP secret"
    );
    assert_eq!(ts.stats.radsec.bad_packet.load(Ordering::Relaxed), 1);
    assert!(ts.stats.status_server.load(Ordering::Relaxed) >= 2);
    assert_eq!(ts.stats.radsec.results("pap", 0), 1);
    assert_eq!(ts.stats.radsec.results("mschapv2", 0), 1);
}

#[test]
fn tls_name_must_be_carried_by_the_certificate_san_or_cn() {
    let pki = Pki::new();
    // The SAN (DNS:nas-1.example.net) matches.
    let ts = start_radsec(&pki, "", "tls_name = \"nas-1.example.net\"");
    let mut tls = tls_connect(ts.radsec.unwrap(), &client_config(&pki, "client")).unwrap();
    let (ss, a) = status_server(1);
    assert_eq!(exchange(&mut tls, &ss, &a), Code::AccessAccept);
    // A certificate of the same CA with another name: closed, no answer.
    let mut tls = tls_connect(ts.radsec.unwrap(), &client_config(&pki, "client-cn")).unwrap();
    let _ = tls.write_all(&ss);
    let _ = tls.flush();
    assert!(read_packet(&mut tls).is_err());
    assert_eq!(ts.stats.radsec.tls_name_mismatch.load(Ordering::Relaxed), 1);
    drop(ts);
    // The subject's CN matches when there is no SAN.
    let ts = start_radsec(&pki, "", "tls_name = \"NAS-CN.example.net\"");
    let mut tls = tls_connect(ts.radsec.unwrap(), &client_config(&pki, "client-cn")).unwrap();
    assert_eq!(exchange(&mut tls, &ss, &a), Code::AccessAccept);
    let radsec_secret = "radsec_secret = \"s3cret-on-tls\"";
    drop(ts);
    // A per-client RadSec secret replaces `radsec`.
    let ts = start_radsec(&pki, "", radsec_secret);
    let mut tls = tls_connect(ts.radsec.unwrap(), &client_config(&pki, "client")).unwrap();
    let p = Packet::new(Code::StatusServer, 2, rand::random());
    let bytes = packet::encode_request(&p, b"s3cret-on-tls", true).unwrap();
    tls.write_all(&bytes).unwrap();
    tls.flush().unwrap();
    let raw = read_packet(&mut tls).unwrap();
    assert!(packet::verify_response(
        &raw,
        &p.authenticator,
        b"s3cret-on-tls"
    ));
}

#[test]
fn a_client_without_a_certificate_or_from_an_unknown_address_is_refused() {
    let pki = Pki::new();
    let ts = start_radsec(&pki, "", "");
    let addr = ts.radsec.unwrap();
    // No client certificate.
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(pki.path("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let anon = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    if let Ok(mut tls) = tls_connect(addr, &anon) {
        let (ss, _) = status_server(1);
        let _ = tls.write_all(&ss);
        let _ = tls.flush();
        assert!(
            read_packet(&mut tls).is_err(),
            "no answer without a certificate"
        );
    }
    wait_until("the refusal counted", Duration::from_secs(5), || {
        ts.stats.radsec.handshakes_refused.load(Ordering::Relaxed) == 1
    });
    // From 127.0.0.9, which no [[client]] covers: closed before any TLS.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use tokio::io::AsyncReadExt;
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind("127.0.0.9:0".parse().unwrap()).unwrap();
        let mut c = s.connect(addr).await.unwrap();
        let mut b = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut b))
            .await
            .expect("closed at once");
        assert!(matches!(n, Ok(0) | Err(_)));
    });
    assert_eq!(ts.stats.radsec.unknown_client.load(Ordering::Relaxed), 1);
}

// --- Hostile peers.

#[test]
fn hostile_plain_bytes_and_a_half_handshake_are_closed_and_free_their_slot() {
    let pki = Pki::new();
    let ts = start_radsec(&pki, "handshake_timeout_secs = 1", "");
    let addr = ts.radsec.unwrap();
    let s = &ts.stats.radsec;
    // A plain RADIUS packet instead of a ClientHello.
    let mut plain = TcpStream::connect(addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let (ss, _) = status_server(1);
    plain.write_all(&ss).unwrap();
    assert!(closed_within(&mut plain, Duration::from_secs(5)));
    wait_until("refusal counted", Duration::from_secs(5), || {
        s.handshakes_refused.load(Ordering::Relaxed) == 1
    });
    // Half a ClientHello, then silence: closed after the handshake timeout.
    let cfg = client_config(&pki, "client");
    let mut conn =
        rustls::ClientConnection::new(cfg.clone(), ServerName::try_from("127.0.0.1").unwrap())
            .unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    assert!(hello.len() > 40);
    let mut half = TcpStream::connect(addr).unwrap();
    half.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    half.write_all(&hello[..hello.len() / 2]).unwrap();
    let started = Instant::now();
    assert!(closed_within(&mut half, Duration::from_secs(5)));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(4),
        "closed after the 1 s handshake timeout, took {took:?}"
    );
    wait_until("the slots freed", Duration::from_secs(5), || {
        s.open.load(Ordering::Relaxed) == 0
    });
    assert_eq!(s.handshake_timeouts.load(Ordering::Relaxed), 1);
    // Still served.
    let mut tls = tls_connect(addr, &cfg).unwrap();
    let (ss, a) = status_server(2);
    assert_eq!(exchange(&mut tls, &ss, &a), Code::AccessAccept);
}

#[test]
fn hostile_lengths_of_65535_and_under_20_close_the_connection_and_are_counted() {
    let pki = Pki::new();
    let ts = start_radsec(&pki, "", "");
    let addr = ts.radsec.unwrap();
    let cfg = client_config(&pki, "client");
    for (n, len) in [(1u64, 65_535u16), (2, 19), (3, 0), (4, 4097)] {
        let mut tls = tls_connect(addr, &cfg).unwrap();
        let mut bytes = vec![1u8, 1];
        bytes.extend(len.to_be_bytes());
        bytes.extend([0u8; 60]);
        tls.write_all(&bytes).unwrap();
        tls.flush().unwrap();
        assert!(
            closed_within(&mut tls, Duration::from_secs(5)),
            "length {len}: closed"
        );
        wait_until("bad length counted", Duration::from_secs(5), || {
            ts.stats.radsec.bad_length.load(Ordering::Relaxed) == n
        });
    }
    // A good packet after a bad one on the same write is never handled.
    assert_eq!(ts.stats.status_server.load(Ordering::Relaxed), 0);
    // A length that frames but attributes that do not fill the packet
    // (an attribute of length 1): malformed, closed too.
    let mut tls = tls_connect(addr, &cfg).unwrap();
    let mut bytes = vec![1u8, 1, 0, 23];
    bytes.extend([0u8; 16]);
    bytes.extend([1u8, 1, 0]);
    tls.write_all(&bytes).unwrap();
    tls.flush().unwrap();
    assert!(closed_within(&mut tls, Duration::from_secs(5)));
    wait_until("malformed counted", Duration::from_secs(5), || {
        ts.stats.radsec.bad_packet.load(Ordering::Relaxed) == 1
    });
    let mut tls = tls_connect(addr, &cfg).unwrap();
    let (ss, a) = status_server(2);
    assert_eq!(exchange(&mut tls, &ss, &a), Code::AccessAccept);
}

#[test]
fn hostile_many_idle_connections_are_bounded_and_another_client_is_still_served() {
    let pki = Pki::new();
    const MAX: usize = 1100;
    let ts = start_radsec(
        &pki,
        &format!("max_connections = {MAX}\nhandshake_timeout_secs = 30\nidle_timeout_secs = 2"),
        "",
    );
    let addr = ts.radsec.unwrap();
    let s = &ts.stats.radsec;
    let cfg = client_config(&pki, "client");
    // 1,000 TCP connections that never say a word.
    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(TcpStream::connect(addr).unwrap());
    }
    // And a few TLS connections that handshake and then stay silent.
    let mut quiet = Vec::new();
    for _ in 0..5 {
        quiet.push(tls_connect(addr, &cfg).unwrap());
    }
    wait_until("1,005 connections open", Duration::from_secs(10), || {
        s.open.load(Ordering::Relaxed) == 1005
    });
    // Another client is still served, at once.
    ts.add_user("busy", None);
    let started = Instant::now();
    let mut tls = tls_connect(addr, &cfg).unwrap();
    let r = request_with_secret(Method::Pap, "busy", &code_at(ts.now()), RADSEC_SECRET);
    let bytes = packet::encode_request(&r.packet, RADSEC_SECRET, true).unwrap();
    assert_eq!(
        exchange(&mut tls, &bytes, &r.packet.authenticator),
        Code::AccessAccept
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(tls);
    // Past max_connections, a connection is closed at once.
    let mut over = Vec::new();
    for _ in 0..(MAX + 50 - 1005) {
        over.push(TcpStream::connect(addr).unwrap());
    }
    wait_until("over the limit counted", Duration::from_secs(10), || {
        s.over_limit.load(Ordering::Relaxed) >= 50
    });
    assert!(s.open.load(Ordering::Relaxed) <= MAX as u64);
    // The silent TLS connections are closed after the idle timeout.
    for q in &mut quiet {
        assert!(closed_within(q, Duration::from_secs(5)), "idle closed");
    }
    assert!(s.idle_closed.load(Ordering::Relaxed) >= 5);
    drop(idle);
    drop(over);
    wait_until("every slot freed", Duration::from_secs(10), || {
        s.open.load(Ordering::Relaxed) == 0
    });
}

#[test]
fn sighup_reload_takes_new_certificates_and_open_connections_keep_going() {
    let pki = Pki::new();
    let path = pki.path("radotp.toml");
    std::fs::write(&path, config(&pki, "", "")).unwrap();
    let ts = start_with(&std::fs::read_to_string(&path).unwrap(), Some(path.clone()));
    let addr = ts.radsec.unwrap();
    let cfg = client_config(&pki, "client");
    let mut before = tls_connect(addr, &cfg).unwrap();
    let old_cert = before.conn.peer_certificates().unwrap()[0].clone();
    // A renewed server certificate, same files.
    pki.leaf("server", "ca", "localhost", "server");
    let _ = ts.reload.send(1);
    let deadline = Instant::now() + Duration::from_secs(10);
    let new_cert = loop {
        let t = tls_connect(addr, &cfg).unwrap();
        let c = t.conn.peer_certificates().unwrap()[0].clone();
        if c != old_cert {
            break c;
        }
        assert!(Instant::now() < deadline, "new certificate not served");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_ne!(new_cert, old_cert);
    // The connection made before the reload still works.
    let (ss, a) = status_server(5);
    assert_eq!(exchange(&mut before, &ss, &a), Code::AccessAccept);
    // A reload with a key that others can read is refused; the old
    // certificates stay in force.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        pki.path("server.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let _ = ts.reload.send(2);
    std::thread::sleep(Duration::from_millis(300));
    let mut t = tls_connect(addr, &cfg).unwrap();
    assert_eq!(t.conn.peer_certificates().unwrap()[0], new_cert);
    assert_eq!(exchange(&mut t, &ss, &a), Code::AccessAccept);
}

#[test]
fn a_private_key_others_can_read_is_refused_at_start_with_the_file_named() {
    let pki = Pki::new();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        pki.path("server.key"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let cfg = radotp::config::Config::from_toml(&config(&pki, "", ""), "t.toml").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = Arc::new(radotp::store::MemoryStore::new());
    let clock = Arc::new(radotp::clock::FixedClock::new(T0));
    let e = rt
        .block_on(radotp::server::Server::bind(cfg, None, store, clock, false))
        .err()
        .expect("refused");
    let msg = e.to_string();
    assert!(
        msg.contains("server.key") && msg.contains("chmod 600") && msg.contains("0640"),
        "{msg}"
    );
    // A certificate file that is not PEM names that file.
    std::fs::set_permissions(
        pki.path("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(pki.path("server.pem"), "not a certificate\n").unwrap();
    let cfg = radotp::config::Config::from_toml(&config(&pki, "", ""), "t.toml").unwrap();
    let store = Arc::new(radotp::store::MemoryStore::new());
    let clock = Arc::new(radotp::clock::FixedClock::new(T0));
    let e = rt
        .block_on(radotp::server::Server::bind(cfg, None, store, clock, false))
        .err()
        .expect("refused");
    assert!(e.to_string().contains("server.pem"), "{e}");
}

#[test]
fn the_subject_common_name_is_read_from_an_openssl_certificate() {
    let pki = Pki::new();
    let der = |name: &str| CertificateDer::from_pem_file(pki.path(&format!("{name}.pem"))).unwrap();
    assert_eq!(
        radotp::server::radsec::subject_common_names(&der("client-cn")),
        ["nas-cn.example.net"]
    );
    assert!(radotp::server::radsec::cert_has_name(
        &der("client"),
        "nas-1.example.net"
    ));
    assert!(!radotp::server::radsec::cert_has_name(
        &der("client"),
        "nas-2.example.net"
    ));
    assert!(radotp::server::radsec::cert_has_name(
        &der("server"),
        "127.0.0.1"
    ));
}

#[test]
fn probe_over_radsec_accepts_once_and_names_a_refused_certificate() {
    let pki = Pki::new();
    let ts = start_radsec(&pki, "", "");
    let target = ts.radsec.unwrap().to_string();
    let probe = |cert: &str, user: &str, password: &str, method: &str| {
        Command::new(common::daemon::BIN)
            .args(["probe", "--radsec", &target, "--user", user])
            .args(["--password", password, "--method", method])
            .arg("--cert")
            .arg(pki.path(&format!("{cert}.pem")))
            .arg("--key")
            .arg(pki.path(&format!("{cert}.key")))
            .arg("--ca")
            .arg(pki.path("ca.pem"))
            .env_remove("RADOTP_PROBE_SECRET")
            .env_remove("RADOTP_CONFIG")
            .output()
            .unwrap()
    };
    let text = |o: &std::process::Output| {
        String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
    };
    for method in ["pap", "chap", "mschap", "mschapv2"] {
        let user = format!("probe-{method}");
        ts.add_user(&user, None);
        let code = code_at(ts.now());
        let first = probe("client", &user, &code, method);
        assert!(first.status.success(), "{method}: {}", text(&first));
        assert!(text(&first).contains("Access-Accept"), "{}", text(&first));
        let replay = probe("client", &user, &code, method);
        assert_eq!(replay.status.code(), Some(1), "{method}: {}", text(&replay));
        assert!(text(&replay).contains("Access-Reject"), "{}", text(&replay));
    }
    // A certificate from another CA: no answer, and the error says why.
    let out = probe("stranger", "probe-pap", "123456", "pap");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("TLS") || t.contains("certificate"), "{t}");
    // Without --cert: a usage error.
    let out = Command::new(common::daemon::BIN)
        .args([
            "probe",
            "--radsec",
            &target,
            "--user",
            "u",
            "--password",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

/// The real `radotp serve`: RadSec next to UDP, the audit trail names the
/// transport, a refused handshake is one log line with peer and reason and
/// no secret, the metrics carry the RadSec counters, SIGHUP reloads the
/// certificates, and `config check` loads them.
#[test]
fn the_daemon_serves_radsec_audits_its_transport_and_logs_refusals_without_secrets() {
    use common::daemon;
    let pki = Pki::new();
    let d = pki.dir.path().display().to_string();
    let cfg_path = pki.path("radotp-daemon.toml");
    std::fs::write(
        &cfg_path,
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\naccounting_listen = [\"127.0.0.1:0\"]\ncontrol_socket = \"{d}/radotp.sock\"\nmetrics_listen = \"127.0.0.1:0\"\n\n[store]\npath = \"{d}/db\"\nkey_file = \"{d}/radotp.key\"\n\n[audit]\npath = \"{d}/audit.log\"\n\n{}\n[[client]]\nname = \"lo\"\naddress = \"127.0.0.1\"\nsecret = \"testing123\"\nradsec_secret = \"tls-only-secret-42\"\ntls_name = \"nas-1.example.net\"\n",
            pki.radsec_section("")
        ),
    )
    .unwrap();
    let check = daemon::cli(&cfg_path, &["config", "check"]);
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success() && out.contains("RadSec on 127.0.0.1:0"),
        "{out}"
    );
    let mut dm = daemon::start(&cfg_path);
    let addr = dm.radsec.expect("a radsec listening line");
    let seed = daemon::add_user(&cfg_path, "tina");
    let secret = b"tls-only-secret-42";
    let mut tls = tls_connect(addr, &client_config(&pki, "client")).unwrap();
    let r = request_with_secret(
        Method::Pap,
        "tina",
        &daemon::code(&seed, daemon::now()),
        secret,
    );
    let bytes = packet::encode_request(&r.packet, secret, true).unwrap();
    tls.write_all(&bytes).unwrap();
    tls.flush().unwrap();
    let raw = read_packet(&mut tls).unwrap();
    assert!(packet::verify_response(
        &raw,
        &r.packet.authenticator,
        secret
    ));
    assert_eq!(Packet::decode(&raw).unwrap().code, Code::AccessAccept);
    // The audit trail says it came over RadSec.
    let trail = pki.path("audit.log");
    wait_until("the audit line", Duration::from_secs(10), || {
        std::fs::read_to_string(&trail)
            .unwrap_or_default()
            .contains("\"event\":\"auth\"")
    });
    let text = std::fs::read_to_string(&trail).unwrap();
    let auth: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["event"] == "auth")
        .unwrap();
    assert_eq!(auth["transport"], "radsec", "{auth}");
    assert_eq!(auth["user"], "tina");
    assert_eq!(auth["result"], "accept");
    // A certificate from another CA: one line, with peer and reason.
    let _ = tls_connect(addr, &client_config(&pki, "stranger")).map(|mut t| {
        let _ = t.write_all(&bytes);
        let _ = t.flush();
        let _ = read_packet(&mut t);
    });
    let refused = dm.wait_log("radsec handshake refused", 1);
    assert_eq!(refused.len(), 1, "{refused:#?}");
    let line: serde_json::Value = serde_json::from_str(&refused[0]).unwrap();
    assert!(
        line["peer"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{line}"
    );
    assert_eq!(line["client"], "lo");
    assert!(
        line["reason"].as_str().unwrap().contains("certificate"),
        "{line}"
    );
    // The metrics.
    let mut m = TcpStream::connect(dm.metrics).unwrap();
    m.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut body = String::new();
    m.read_to_string(&mut body).unwrap();
    assert!(
        body.contains("radotp_radsec_requests_total{method=\"pap\",result=\"accept\"} 1"),
        "{body}"
    );
    assert!(body.contains("radotp_radsec_events_total{event=\"handshake_refused\"} 1"));
    // SIGHUP: renewed certificate served to the next connection.
    let old = tls.conn.peer_certificates().unwrap()[0].clone();
    pki.leaf("server", "ca", "localhost", "server");
    dm.signal("HUP");
    dm.wait_log("radsec: certificates reloaded", 1);
    let t = tls_connect(addr, &client_config(&pki, "client")).unwrap();
    assert_ne!(t.conn.peer_certificates().unwrap()[0], old);
    // SIGTERM with RadSec connections open: a prompt, clean exit.
    let took = dm.terminate(Duration::from_secs(10));
    assert!(took < Duration::from_secs(5), "{took:?}");
    drop((t, tls));
    // No secret anywhere in the log.
    for l in dm.lines() {
        assert!(
            !l.contains("tls-only-secret-42") && !l.contains("testing123"),
            "{l}"
        );
    }
}
