//! `radotp probe`: one Access-Request by any method, like radtest, with the
//! reply's authenticators and the MS-CHAP2-Success checked, and the
//! challenge flow followed when `--code` is given. Over UDP, or over
//! RadSec (`--radsec HOST:PORT` with a client certificate).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::{Ctx, UsageError};

// `--eap`: EAP-MSCHAPv2, EAP-GTC, PEAP and TTLS conversations (issue 18).
mod eap;
mod tunnel;
use crate::auth::client::{request_attributes, ClientExchange};
use crate::auth::Method;
use crate::radius::attribute::{ms, types};
use crate::radius::crypto;
use crate::radius::{packet, Code, Packet};

/// `probe` options.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The server, HOST:PORT (default port 1812).
    #[arg(long, default_value = "127.0.0.1:1812")]
    pub server: String,
    /// The shared secret (with --radsec, default `radsec`, RFC 6614).
    #[arg(long, env = "RADOTP_PROBE_SECRET")]
    pub secret: Option<String>,
    /// User-Name.
    #[arg(long)]
    pub user: String,
    /// The password: PIN followed by the code (or the PIN alone to get a challenge).
    #[arg(long)]
    pub password: String,
    /// pap, chap, mschap or mschapv2.
    #[arg(long, default_value = "pap")]
    pub method: Method,
    /// Answer an Access-Challenge with this code (two-step PAP).
    #[arg(long)]
    pub code: Option<String>,
    /// Seconds to wait for each try.
    #[arg(long, default_value_t = 3)]
    pub timeout: u64,
    /// Tries before giving up.
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// Leave out the Message-Authenticator.
    #[arg(long)]
    pub no_message_authenticator: bool,
    /// Over RadSec (RADIUS over TLS) to HOST:PORT (default port 2083)
    /// instead of UDP to --server; needs --cert, --key and --ca.
    #[arg(long, value_name = "HOST:PORT", requires_all = ["cert", "key", "ca"])]
    pub radsec: Option<String>,
    /// RadSec: this client's certificate (PEM, then its chain).
    #[arg(long, value_name = "PEM")]
    pub cert: Option<std::path::PathBuf>,
    /// RadSec: its private key (PEM).
    #[arg(long, value_name = "PEM")]
    pub key: Option<std::path::PathBuf>,
    /// RadSec: the CA(s) the server's certificate must chain to (PEM).
    #[arg(long, value_name = "PEM")]
    pub ca: Option<std::path::PathBuf>,
    /// RadSec: the name the server's certificate must carry (default: the
    /// host of --radsec).
    #[arg(long, value_name = "NAME")]
    pub tls_name: Option<String>,
    /// Speak EAP over RADIUS instead of --method: mschapv2 (checks the
    /// authenticator response and the MPPE keys) or gtc (--code answers a
    /// second GTC request).
    #[arg(long, value_name = "METHOD")]
    pub eap: Option<eap::EapMethod>,
    /// PEAP/TTLS: accept any server certificate (a test server); without
    /// it, --ca and --tls-name check the tunnel's certificate.
    #[arg(long)]
    pub eap_no_verify: bool,
}

/// Where requests go: a UDP server or a RadSec connection.
enum Link {
    Udp(UdpSocket, SocketAddr),
    Tls(
        Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>,
        String,
    ),
}

impl Link {
    fn udp(server: SocketAddr, timeout: u64) -> anyhow::Result<Link> {
        let bind: SocketAddr = if server.is_ipv4() {
            "0.0.0.0:0".parse()?
        } else {
            "[::]:0".parse()?
        };
        let sock = UdpSocket::bind(bind)?;
        sock.set_read_timeout(Some(Duration::from_secs(timeout.max(1))))?;
        Ok(Link::Udp(sock, server))
    }

    fn tls(a: &ProbeArgs, target: &str) -> anyhow::Result<Link> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
        let (Some(cert), Some(key), Some(ca)) = (&a.cert, &a.key, &a.ca) else {
            return Err(UsageError("--radsec needs --cert, --key and --ca".into()).into());
        };
        let server = resolve(target, 2083, "--radsec")?;
        let file_err = |p: &std::path::Path, e: &dyn std::fmt::Display| {
            UsageError(format!("{}: {e}", p.display()))
        };
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(ca).map_err(|e| file_err(ca, &e))? {
            roots
                .add(c.map_err(|e| file_err(ca, &e))?)
                .map_err(|e| file_err(ca, &e))?;
        }
        let chain = CertificateDer::pem_file_iter(cert)
            .map_err(|e| file_err(cert, &e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| file_err(cert, &e))?;
        if chain.is_empty() {
            return Err(file_err(cert, &"holds no certificate").into());
        }
        let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| file_err(key, &e))?;
        // ring, like the server side.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key_der)
            .map_err(|e| UsageError(format!("--cert and --key: {e}")))?;
        let host = match &a.tls_name {
            Some(n) => n.clone(),
            None => host_of(target),
        };
        let name = ServerName::try_from(host.clone())
            .map_err(|_| UsageError(format!("--tls-name {host}: not a DNS name or IP address")))?;
        let tcp = TcpStream::connect_timeout(&server, Duration::from_secs(a.timeout.max(1)))
            .map_err(|e| anyhow::anyhow!("cannot connect to {server}: {e}"))?;
        tcp.set_read_timeout(Some(Duration::from_secs(a.timeout.max(1))))?;
        tcp.set_nodelay(true)?;
        let conn = rustls::ClientConnection::new(Arc::new(cfg), name)?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .map_err(|e| anyhow::anyhow!("TLS handshake with {server} failed: {e}"))?;
        }
        Ok(Link::Tls(Box::new(tls), server.to_string()))
    }

    /// Sends a request and returns the verified reply to it.
    fn ask(
        &mut self,
        bytes: &[u8],
        id: u8,
        authenticator: &[u8; 16],
        secret: &[u8],
        a: &ProbeArgs,
    ) -> anyhow::Result<Packet> {
        let check = |raw: &[u8]| -> anyhow::Result<Option<Packet>> {
            let Ok(reply) = Packet::decode(raw) else {
                eprintln!("radotp: malformed reply ignored");
                return Ok(None);
            };
            if reply.identifier != id {
                return Ok(None);
            }
            if !packet::verify_response(raw, authenticator, secret) {
                anyhow::bail!("the reply's Response Authenticator or Message-Authenticator is wrong: is --secret right?");
            }
            Ok(Some(reply))
        };
        match self {
            Link::Udp(sock, server) => {
                let server = *server;
                let mut buf = [0u8; 4096];
                for _ in 0..a.retries.max(1) {
                    sock.send_to(bytes, server)?;
                    loop {
                        match sock.recv_from(&mut buf) {
                            Ok((n, from)) if from == server => {
                                if let Some(reply) = check(&buf[..n])? {
                                    return Ok(reply);
                                }
                            }
                            Ok(_) => continue,
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                                ) =>
                            {
                                break
                            }
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
                anyhow::bail!(
                    "no answer from {server} after {} tries of {} s (wrong address or secret, or this host is not a client of the server)",
                    a.retries.max(1),
                    a.timeout.max(1)
                )
            }
            // No retransmission on a stream (RFC 6614 §2.6.3): one write,
            // then packets until ours.
            Link::Tls(tls, server) => {
                let server = server.clone();
                let no_answer = |e: std::io::Error| {
                    anyhow::anyhow!(
                        "no answer from {server} over TLS ({e}): refused certificate, wrong secret (the connection closes on a wrong Message-Authenticator), or this host is not a client of the server"
                    )
                };
                tls.write_all(bytes).map_err(no_answer)?;
                tls.flush().map_err(no_answer)?;
                loop {
                    let mut head = [0u8; 4];
                    tls.read_exact(&mut head).map_err(no_answer)?;
                    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
                    if !(20..=4096).contains(&len) {
                        anyhow::bail!("{server} sent a packet length of {len}");
                    }
                    let mut raw = head.to_vec();
                    raw.resize(len, 0);
                    tls.read_exact(&mut raw[4..]).map_err(no_answer)?;
                    if let Some(reply) = check(&raw)? {
                        return Ok(reply);
                    }
                }
            }
        }
    }
}

/// The host part of HOST:PORT, `[v6]:PORT`, or a bare host.
fn host_of(target: &str) -> String {
    if let Ok(a) = target.parse::<SocketAddr>() {
        return a.ip().to_string();
    }
    let t = match target.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => h,
        _ => target,
    };
    t.trim_matches(['[', ']']).to_string()
}

/// Sends the request; exit 0 on Access-Accept, 1 otherwise.
pub fn run(ctx: &Ctx, a: ProbeArgs) -> anyhow::Result<ExitCode> {
    let mut link = match &a.radsec {
        Some(target) => Link::tls(&a, target)?,
        None => Link::udp(resolve(&a.server, 1812, "--server")?, a.timeout)?,
    };
    let secret = match (&a.secret, &a.radsec) {
        (Some(s), _) => s.as_bytes().to_vec(),
        (None, Some(_)) => crate::config::RADSEC_DEFAULT_SECRET.as_bytes().to_vec(),
        (None, None) => {
            return Err(
                UsageError("--secret (or RADOTP_PROBE_SECRET) is needed over UDP".into()).into(),
            )
        }
    };
    let secret = &secret[..];
    if let Some(m) = a.eap {
        use crate::auth::eap::typ;
        use eap::EapMethod;
        // The tunnels run their inner method through `eap`'s pieces; the
        // plain methods are `eap`'s own conversation.
        return match m {
            EapMethod::Peap => tunnel::run(ctx, &a, &mut link, secret, typ::PEAP, typ::MSCHAPV2),
            EapMethod::PeapGtc => tunnel::run(ctx, &a, &mut link, secret, typ::PEAP, typ::GTC),
            EapMethod::Ttls => tunnel::run(ctx, &a, &mut link, secret, typ::TTLS, 0),
            EapMethod::Mschapv2 | EapMethod::Gtc => eap::run(ctx, &a, &mut link, secret, m),
        };
    }
    let (reply, exchange, req_auth) =
        exchange_once(&mut link, &a, a.password.as_bytes(), None, secret)?;
    let mut reply = reply;
    let mut exchange = exchange;
    let mut req_auth = req_auth;
    if reply.code == Code::AccessChallenge {
        print_reply(ctx, &reply, &exchange, secret, &req_auth);
        let Some(code) = &a.code else {
            if !ctx.json {
                println!("(Access-Challenge: answer with --code CODE)");
            }
            return Ok(ExitCode::from(1));
        };
        let state = reply.attr(types::STATE).map(|s| s.to_vec());
        let (r2, e2, a2) = exchange_once(&mut link, &a, code.as_bytes(), state, secret)?;
        reply = r2;
        exchange = e2;
        req_auth = a2;
    }
    print_reply(ctx, &reply, &exchange, secret, &req_auth);
    if reply.code != Code::AccessAccept {
        return Ok(ExitCode::from(1));
    }
    if let Err(e) = exchange.check_accept(&reply) {
        anyhow::bail!("Access-Accept fails the method's check: {e}");
    }
    Ok(ExitCode::SUCCESS)
}

fn resolve(s: &str, port: u16, flag: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = s.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let with_port = if s.contains(':') {
        s.to_string()
    } else {
        format!("{s}:{port}")
    };
    with_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut i| i.next())
        .ok_or_else(|| {
            UsageError(format!(
                "{flag} {s}: expected HOST:PORT, e.g. 127.0.0.1:{port}"
            ))
            .into()
        })
}

fn exchange_once(
    link: &mut Link,
    a: &ProbeArgs,
    password: &[u8],
    state: Option<Vec<u8>>,
    secret: &[u8],
) -> anyhow::Result<(Packet, ClientExchange, [u8; 16])> {
    let authenticator: [u8; 16] = rand::random();
    let random: [u8; 32] = rand::random();
    let method = if state.is_some() {
        Method::Pap
    } else {
        a.method
    };
    let (attrs, exchange) = request_attributes(
        method,
        a.user.as_bytes(),
        password,
        secret,
        &authenticator,
        &random,
    );
    let mut p = Packet::new(Code::AccessRequest, rand::random(), authenticator);
    p.push(types::USER_NAME, a.user.as_bytes().to_vec());
    p.attributes.extend(attrs);
    p.push(types::NAS_IDENTIFIER, b"radotp-probe".to_vec());
    if let Some(s) = state {
        p.push(types::STATE, s);
    }
    let bytes = packet::encode_request(&p, secret, !a.no_message_authenticator)?;
    let reply = link.ask(&bytes, p.identifier, &authenticator, secret, a)?;
    Ok((reply, exchange, authenticator))
}

fn code_name(c: Code) -> String {
    match c {
        Code::AccessAccept => "Access-Accept".into(),
        Code::AccessReject => "Access-Reject".into(),
        Code::AccessChallenge => "Access-Challenge".into(),
        other => format!("code {}", other.to_u8()),
    }
}

fn print_reply(
    ctx: &Ctx,
    reply: &Packet,
    exchange: &ClientExchange,
    secret: &[u8],
    req_auth: &[u8; 16],
) {
    // Names from the config's dictionary (dictionary_dirs included) when
    // there is a config, else the built-in one.
    let dict = crate::config::Config::load_or_default(ctx.config_path.as_deref())
        .map(|c| c.dictionary.clone())
        .unwrap_or_else(|_| crate::radius::dictionary::Dictionary::builtin());
    let mut attrs = Vec::new();
    for a in &reply.attributes {
        attrs.extend(describe(&dict, a.typ, &a.value, secret, req_auth));
    }
    let check = (reply.code == Code::AccessAccept).then(|| exchange.check_accept(reply));
    if ctx.json {
        let v = serde_json::json!({
            "reply": code_name(reply.code),
            "method": exchange.method.as_str(),
            "attributes": attrs.iter().map(|(n, v)| serde_json::json!({"name": n, "value": v})).collect::<Vec<_>>(),
            "method_check": check.as_ref().map(|r| r.as_ref().map(|_| "ok".to_string()).unwrap_or_else(|e| e.clone())),
        });
        println!("{v}");
        return;
    }
    println!("{} (id {})", code_name(reply.code), reply.identifier);
    for (n, v) in attrs {
        println!("  {n} = {v}");
    }
    if let Some(Ok(())) = check {
        if exchange.method == Method::MsChapV2 {
            println!("  (MS-CHAP2-Success authenticator response verified)");
        }
    }
}

/// An ident octet followed by text (MS-CHAP2-Success, MS-CHAP-Error).
fn ident_text(v: &[u8]) -> String {
    match v.split_first() {
        Some((ident, rest)) => format!("ident {ident}, {:?}", String::from_utf8_lossy(rest)),
        None => "(empty)".into(),
    }
}

fn describe(
    dict: &crate::radius::dictionary::Dictionary,
    typ: u8,
    value: &[u8],
    secret: &[u8],
    req_auth: &[u8; 16],
) -> Vec<(String, String)> {
    let by_dict = || dict.describe(&crate::radius::Attribute::new(typ, value.to_vec()));
    let one = |n: &str, v: String| vec![(n.to_string(), v)];
    let text = |v: &[u8]| format!("{:?}", String::from_utf8_lossy(v));
    let hex = |v: &[u8]| v.iter().map(|b| format!("{b:02x}")).collect::<String>();
    match typ {
        types::REPLY_MESSAGE => one("Reply-Message", text(value)),
        types::STATE => one("State", format!("0x{}", hex(value))),
        types::MESSAGE_AUTHENTICATOR => one("Message-Authenticator", "(verified)".into()),
        types::PROXY_STATE => one("Proxy-State", format!("0x{}", hex(value))),
        // RFC 2868 §3.5: shown as decrypted, not in the clear.
        69 if value.len() >= 19 => {
            let salt = [value[1], value[2]];
            let shown =
                match crate::radius::dictionary::salt_decrypt(&value[3..], secret, req_auth, &salt)
                {
                    Some(p) => format!("({} bytes, decrypted) (tag {})", p.len(), value[0]),
                    None => "(does not decrypt!)".into(),
                };
            one("Tunnel-Password", shown)
        }
        types::VENDOR_SPECIFIC => {
            let a = crate::radius::Attribute::new(typ, value.to_vec());
            match a.vendor() {
                Some((ms::VENDOR_ID, subs)) => {
                    let mut out = Vec::new();
                    for (t, v) in subs {
                        let (n, d) = match t {
                            ms::MS_CHAP2_SUCCESS => ("MS-CHAP2-Success", ident_text(v)),
                            ms::MS_CHAP_ERROR => ("MS-CHAP-Error", ident_text(v)),
                            ms::MS_MPPE_SEND_KEY | ms::MS_MPPE_RECV_KEY => (
                                if t == ms::MS_MPPE_SEND_KEY {
                                    "MS-MPPE-Send-Key"
                                } else {
                                    "MS-MPPE-Recv-Key"
                                },
                                match crypto::mppe_decrypt_key(v, secret, req_auth) {
                                    Some(k) => format!("({} bytes, decrypted)", k.len()),
                                    None => "(does not decrypt!)".into(),
                                },
                            ),
                            ms::MS_CHAP_MPPE_KEYS => (
                                "MS-CHAP-MPPE-Keys",
                                format!("({} bytes, encrypted)", v.len()),
                            ),
                            ms::MS_MPPE_ENCRYPTION_POLICY => {
                                ("MS-MPPE-Encryption-Policy", format!("0x{}", hex(v)))
                            }
                            ms::MS_MPPE_ENCRYPTION_TYPES => {
                                ("MS-MPPE-Encryption-Types", format!("0x{}", hex(v)))
                            }
                            _ => ("Microsoft", format!("type {t} 0x{}", hex(v))),
                        };
                        out.push(format!("{n}: {d}"));
                    }
                    one("Vendor-Specific", out.join("; "))
                }
                _ => by_dict(),
            }
        }
        _ => by_dict(),
    }
}
