//! `radotp probe --eap peap|peap-gtc|ttls`: one PEAPv0 or EAP-TTLS
//! conversation as a supplicant would run it: outer identity "anonymous",
//! a rustls tunnel (the server certificate checked against `--ca` and
//! `--tls-name`, or `--eap-no-verify`), the EAP-TLS framing of
//! `auth::eap_tls`, then EAP-MSCHAPv2 or EAP-GTC (PEAP) or PAP (TTLS)
//! inside as `--user`. The Accept's MS-MPPE keys must be the tunnel's MSK.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::Arc;

use super::eap::{answer, MsState};
use super::{print_reply, Link, ProbeArgs, UsageError};
use crate::auth::client::ClientExchange;
use crate::auth::eap::{self, code, typ, EapPacket};
use crate::auth::eap_tls::{self, avp, Fragmenter, Reassembly, TlsFrame};
use crate::auth::Method;
use crate::radius::attribute::{ms, types};
use crate::radius::{crypto, packet, Attribute, Code, Packet};

use super::super::Ctx;

/// RADIUS rounds before the probe gives up.
const MAX_ROUNDS: usize = 64;

/// The conversation's RADIUS side.
struct Conv<'a> {
    link: &'a mut Link,
    a: &'a ProbeArgs,
    secret: &'a [u8],
    state: Option<Vec<u8>>,
    rounds: usize,
}

/// How a round ended when it was not an Access-Challenge.
struct End {
    reply: Packet,
    authenticator: [u8; 16],
}

impl Conv<'_> {
    /// One round: `msg` out, the server's EAP Request back (or the end).
    fn round(&mut self, msg: &EapPacket) -> anyhow::Result<Result<EapPacket, End>> {
        self.rounds += 1;
        if self.rounds > MAX_ROUNDS {
            anyhow::bail!("the EAP conversation did not end within {MAX_ROUNDS} rounds");
        }
        let authenticator: [u8; 16] = rand::random();
        let mut p = Packet::new(Code::AccessRequest, rand::random(), authenticator);
        p.push(types::USER_NAME, b"anonymous".to_vec());
        p.push(types::NAS_IDENTIFIER, b"radotp-probe".to_vec());
        p.attributes.extend(msg.to_attributes());
        if let Some(s) = &self.state {
            p.attributes.push(Attribute::new(types::STATE, s.clone()));
        }
        let bytes = packet::encode_request(&p, self.secret, true)?;
        let reply = self
            .link
            .ask(&bytes, p.identifier, &authenticator, self.secret, self.a)?;
        if reply.code != Code::AccessChallenge {
            return Ok(Err(End {
                reply,
                authenticator,
            }));
        }
        self.state = reply.attr(types::STATE).map(<[u8]>::to_vec);
        let req = eap::join(&reply)
            .and_then(|b| EapPacket::decode(&b))
            .map_err(|e| anyhow::anyhow!("the Access-Challenge's EAP-Message: {e}"))?;
        Ok(Ok(req))
    }
}

/// Sends `tls` in fragments and gathers the server's next TLS message.
fn exchange(
    c: &mut Conv<'_>,
    outer: u8,
    id: &mut u8,
    tls: Vec<u8>,
) -> anyhow::Result<Result<Vec<u8>, End>> {
    let mut out = Fragmenter::new(tls, 1000, 0);
    let mut back = Reassembly::new(eap_tls::MAX_TLS_MESSAGE);
    loop {
        let td = if !out.done() {
            out.next_fragment()
        } else {
            eap_tls::frame(0, 0, None, &[])
        };
        let req = match c.round(&EapPacket::new(code::RESPONSE, *id, outer, td))? {
            Ok(r) => r,
            Err(end) => return Ok(Err(end)),
        };
        *id = req.identifier;
        if req.typ != outer {
            anyhow::bail!("the server switched to EAP type {} mid-tunnel", req.typ);
        }
        let f = TlsFrame::parse(&req.data).map_err(|e| anyhow::anyhow!("{e}"))?;
        if !out.done() {
            continue; // the server's acknowledgement of our fragment
        }
        if let Some(m) = back.push(&f).map_err(|e| anyhow::anyhow!("{e}"))? {
            return Ok(Ok(m));
        }
    }
}

fn tls_config(a: &ProbeArgs) -> anyhow::Result<(Arc<rustls::ClientConfig>, String)> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    if a.eap_no_verify {
        let cfg = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
            .with_no_client_auth();
        return Ok((Arc::new(cfg), "radotp-probe".into()));
    }
    let (Some(ca), Some(name)) = (&a.ca, &a.tls_name) else {
        return Err(UsageError(
            "--eap peap/ttls checks the server certificate: give --ca PEM and --tls-name NAME (or --eap-no-verify for a test server)".into(),
        )
        .into());
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca)
        .map_err(|e| UsageError(format!("{}: {e}", ca.display())))?
    {
        roots
            .add(c.map_err(|e| UsageError(format!("{}: {e}", ca.display())))?)
            .map_err(|e| UsageError(format!("{}: {e}", ca.display())))?;
    }
    let cfg = builder.with_root_certificates(roots).with_no_client_auth();
    Ok((Arc::new(cfg), name.clone()))
}

/// Runs the conversation; exit 0 on an Access-Accept whose checks pass.
pub fn run(
    ctx: &Ctx,
    a: &ProbeArgs,
    link: &mut Link,
    secret: &[u8],
    outer: u8,
    inner: u8,
) -> anyhow::Result<ExitCode> {
    let (cfg, name) = tls_config(a)?;
    let name = rustls::pki_types::ServerName::try_from(name.clone())
        .map_err(|_| UsageError(format!("--tls-name {name}: not a DNS name or IP address")))?;
    let mut tls = rustls::ClientConnection::new(cfg, name)?;
    let mut c = Conv {
        link,
        a,
        secret,
        state: None,
        rounds: 0,
    };
    let ident = EapPacket::new(code::RESPONSE, 0, typ::IDENTITY, b"anonymous".to_vec());
    let mut req = match c.round(&ident)? {
        Ok(r) => r,
        Err(end) => return finish(ctx, end, None, secret),
    };
    // Nak until the server proposes ours.
    while req.typ != outer {
        let nak = EapPacket::new(code::RESPONSE, req.identifier, typ::NAK, vec![outer]);
        req = match c.round(&nak)? {
            Ok(r) => r,
            Err(end) => return finish(ctx, end, None, secret),
        };
    }
    let mut id = req.identifier;
    let mut ms: Option<MsState> = None;
    let mut gtc_rounds = 0u32;
    let mut plain_out: Vec<u8> = Vec::new();
    loop {
        if !plain_out.is_empty() {
            tls.writer().write_all(&plain_out)?;
            plain_out.clear();
        }
        let mut out = Vec::new();
        while tls.wants_write() {
            tls.write_tls(&mut out)?;
        }
        let m = match exchange(&mut c, outer, &mut id, out)? {
            Ok(m) => m,
            Err(end) => return finish(ctx, end, Some((&tls, outer)), secret),
        };
        let mut rd = &m[..];
        while !rd.is_empty() {
            tls.read_tls(&mut rd)?;
            tls.process_new_packets()
                .map_err(|e| anyhow::anyhow!("TLS with the server: {e}"))?;
        }
        if tls.is_handshaking() {
            continue;
        }
        let mut plain = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = tls.reader().read(&mut buf) {
            if n == 0 {
                break;
            }
            plain.extend_from_slice(&buf[..n]);
        }
        if outer == typ::TTLS {
            if gtc_rounds == 0 {
                // PAP: User-Name and User-Password (padded to 16 octets).
                gtc_rounds = 1;
                let mut pw = a.password.as_bytes().to_vec();
                pw.resize(pw.len().div_ceil(16).max(1) * 16, 0);
                plain_out = eap_tls::encode_avp(avp::USER_NAME, true, a.user.as_bytes());
                plain_out.extend(eap_tls::encode_avp(avp::USER_PASSWORD, true, &pw));
            }
            continue;
        }
        if plain.is_empty() {
            continue; // an ACK of the server's Finished
        }
        let inner_req = inner_request(&plain, id)?;
        let resp = if inner_req.typ == typ::IDENTITY {
            EapPacket::new(
                code::RESPONSE,
                inner_req.identifier,
                typ::IDENTITY,
                a.user.as_bytes().to_vec(),
            )
        } else if inner_req.typ == typ::EXTENSIONS {
            let ok = eap_tls::parse_peap_result(&inner_req.data) == Some(true);
            eap_tls::peap_result(code::RESPONSE, inner_req.identifier, ok)
        } else {
            match answer(ctx, a, &inner_req, inner, &mut ms, &mut gtc_rounds)? {
                Some(r) => r,
                None => return Ok(ExitCode::from(1)),
            }
        };
        let wire = resp.encode();
        plain_out = if resp.typ == typ::EXTENSIONS {
            wire
        } else {
            wire.get(4..).unwrap_or_default().to_vec()
        };
    }
}

/// A PEAPv0 inner Request: whole for the Extensions method (Result TLV),
/// header-less otherwise (rebuilt with the outer identifier).
fn inner_request(plain: &[u8], outer_id: u8) -> anyhow::Result<EapPacket> {
    let whole = plain.len() >= 5 && plain[0] == code::REQUEST && plain[4] == typ::EXTENSIONS;
    let full = if whole {
        plain.to_vec()
    } else {
        let mut v = vec![code::REQUEST, outer_id, 0, 0];
        v.extend_from_slice(plain);
        let len = u16::try_from(v.len()).unwrap_or(u16::MAX).to_be_bytes();
        v[2..4].copy_from_slice(&len);
        v
    };
    EapPacket::decode(&full).map_err(|e| anyhow::anyhow!("inner EAP from the server: {e}"))
}

/// Prints the final reply; on Accept, checks the MPPE keys against the
/// tunnel's MSK.
fn finish(
    ctx: &Ctx,
    end: End,
    tls: Option<(&rustls::ClientConnection, u8)>,
    secret: &[u8],
) -> anyhow::Result<ExitCode> {
    let exchange = ClientExchange {
        method: Method::Pap,
        expected_success: None,
    };
    print_reply(ctx, &end.reply, &exchange, secret, &end.authenticator);
    if end.reply.code != Code::AccessAccept {
        return Ok(ExitCode::from(1));
    }
    let Some((tls, outer)) = tls else {
        anyhow::bail!("Access-Accept without a tunnel");
    };
    let tls13 = tls.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3);
    let (label, context) = eap_tls::msk_label(outer, tls13);
    let km = tls
        .export_keying_material([0u8; 128], label, context.as_ref().map(|c| &c[..]))
        .map_err(|e| anyhow::anyhow!("MSK: {e}"))?;
    let mut recv = None;
    let mut send = None;
    for at in &end.reply.attributes {
        if let Some((ms::VENDOR_ID, subs)) = at.vendor() {
            for (t, v) in subs {
                let k = crypto::mppe_decrypt_key(v, secret, &end.authenticator);
                match t {
                    ms::MS_MPPE_RECV_KEY => recv = k,
                    ms::MS_MPPE_SEND_KEY => send = k,
                    _ => {}
                }
            }
        }
    }
    let same = |k: &Option<Vec<u8>>, want: &[u8]| {
        k.as_deref()
            .is_some_and(|k| k.len() == 32 && crate::secret::ct_eq(k, want))
    };
    if !same(&recv, &km[..32]) || !same(&send, &km[32..64]) {
        anyhow::bail!("Access-Accept: MS-MPPE-Recv-Key/Send-Key are not the tunnel's MSK");
    }
    if !ctx.json {
        println!(
            "  (MS-MPPE keys = the {} tunnel's MSK, {})",
            if outer == typ::PEAP { "PEAP" } else { "TTLS" },
            if tls13 { "TLS 1.3" } else { "TLS 1.2" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `--eap-no-verify`: any server certificate (signatures still checked).
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
