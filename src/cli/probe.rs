//! `radotp probe`: one Access-Request by any method, like radtest, with the
//! reply's authenticators and the MS-CHAP2-Success checked, and the
//! challenge flow followed when `--code` is given.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::{Ctx, UsageError};
use crate::auth::client::{request_attributes, ClientExchange};
use crate::auth::Method;
use crate::radius::attribute::{ms, types};
use crate::radius::crypto;
use crate::radius::{Code, Packet};

/// `probe` options.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The server, HOST:PORT (default port 1812).
    #[arg(long, default_value = "127.0.0.1:1812")]
    pub server: String,
    /// The shared secret.
    #[arg(long, env = "RADOTP_PROBE_SECRET")]
    pub secret: String,
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
}

/// Sends the request; exit 0 on Access-Accept, 1 otherwise.
pub fn run(ctx: &Ctx, a: ProbeArgs) -> anyhow::Result<ExitCode> {
    let server = resolve(&a.server)?;
    let secret = a.secret.as_bytes();
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse()?
    } else {
        "[::]:0".parse()?
    };
    let sock = UdpSocket::bind(bind)?;
    sock.set_read_timeout(Some(Duration::from_secs(a.timeout.max(1))))?;
    let (reply, exchange, req_auth) =
        exchange_once(&sock, server, &a, a.password.as_bytes(), None, secret)?;
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
        let (r2, e2, a2) = exchange_once(&sock, server, &a, code.as_bytes(), state, secret)?;
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

fn resolve(s: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = s.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, 1812));
    }
    let with_port = if s.contains(':') {
        s.to_string()
    } else {
        format!("{s}:1812")
    };
    with_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut i| i.next())
        .ok_or_else(|| {
            UsageError(format!(
                "--server {s}: expected HOST:PORT, e.g. 127.0.0.1:1812"
            ))
            .into()
        })
}

fn exchange_once(
    sock: &UdpSocket,
    server: SocketAddr,
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
    let bytes = crypto::encode_request(&p, secret, !a.no_message_authenticator)?;
    let mut buf = [0u8; 4096];
    for _ in 0..a.retries.max(1) {
        sock.send_to(&bytes, server)?;
        loop {
            match sock.recv_from(&mut buf) {
                Ok((n, from)) if from == server => {
                    let raw = &buf[..n];
                    let Ok(reply) = Packet::decode(raw) else {
                        eprintln!("radotp: malformed reply ignored");
                        continue;
                    };
                    if reply.identifier != p.identifier {
                        continue;
                    }
                    if !crypto::verify_response(raw, &authenticator, secret) {
                        anyhow::bail!("the reply's Response Authenticator or Message-Authenticator is wrong: is --secret right?");
                    }
                    return Ok((reply, exchange, authenticator));
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
    let mut attrs = Vec::new();
    for a in &reply.attributes {
        let (name, value) = describe(a.typ, &a.value, secret, req_auth);
        attrs.push((name, value));
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

fn describe(typ: u8, value: &[u8], secret: &[u8], req_auth: &[u8; 16]) -> (String, String) {
    let text = |v: &[u8]| format!("{:?}", String::from_utf8_lossy(v));
    let hex = |v: &[u8]| v.iter().map(|b| format!("{b:02x}")).collect::<String>();
    match typ {
        types::REPLY_MESSAGE => ("Reply-Message".into(), text(value)),
        types::STATE => ("State".into(), format!("0x{}", hex(value))),
        types::MESSAGE_AUTHENTICATOR => ("Message-Authenticator".into(), "(verified)".into()),
        types::PROXY_STATE => ("Proxy-State".into(), format!("0x{}", hex(value))),
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
                    ("Vendor-Specific".into(), out.join("; "))
                }
                _ => ("Vendor-Specific".into(), format!("0x{}", hex(value))),
            }
        }
        t => (format!("Attr-{t}"), format!("0x{}", hex(value))),
    }
}
