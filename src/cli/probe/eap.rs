//! `radotp probe --eap mschapv2|gtc`: one EAP conversation over RADIUS
//! (RFC 3579) as a NAS relays it: EAP-Identity, a Nak when the server
//! proposes another method, then EAP-MSCHAPv2 (the server's authenticator
//! response and the MS-MPPE keys checked against the MSK computed here) or
//! EAP-GTC (with `--code` answering a second GTC request: two-step).

use std::process::ExitCode;

use super::{print_reply, Link, ProbeArgs};
use crate::auth::client::ClientExchange;
use crate::auth::eap::{self, code, op, typ, EapPacket};
use crate::auth::mschap::{self, MsChapV2};
use crate::auth::Method;
use crate::radius::attribute::{ms, types};
use crate::radius::{crypto, packet, Attribute, Code, Packet};

use super::super::Ctx;

/// Rounds before the probe gives up.
const MAX_ROUNDS: usize = 12;

/// The EAP methods the probe speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EapMethod {
    /// EAP-MSCHAPv2 (type 26).
    Mschapv2,
    /// EAP-GTC (type 6).
    Gtc,
    /// PEAPv0 with EAP-MSCHAPv2 inside.
    Peap,
    /// PEAPv0 with EAP-GTC inside.
    PeapGtc,
    /// EAP-TTLS with PAP inside.
    Ttls,
}

/// What the EAP-MSCHAPv2 exchange needs to check the Accept.
pub(super) struct MsState {
    nt_response: [u8; 24],
    expected_s: String,
}

/// Runs the conversation; exit 0 on Access-Accept whose checks pass.
pub fn run(
    ctx: &Ctx,
    a: &ProbeArgs,
    link: &mut Link,
    secret: &[u8],
    m: EapMethod,
) -> anyhow::Result<ExitCode> {
    let want = match m {
        EapMethod::Mschapv2 => typ::MSCHAPV2,
        EapMethod::Gtc => typ::GTC,
        EapMethod::Peap | EapMethod::PeapGtc | EapMethod::Ttls => {
            anyhow::bail!("internal: the tunnelled methods run in probe::tunnel")
        }
    };
    let user = a.user.as_bytes();
    let password = a.password.as_bytes();
    let mut msg = EapPacket::new(code::RESPONSE, 0, typ::IDENTITY, user.to_vec());
    let mut state: Option<Vec<u8>> = None;
    let mut ms: Option<MsState> = None;
    let mut gtc_rounds = 0u32;
    for _ in 0..MAX_ROUNDS {
        let authenticator: [u8; 16] = rand::random();
        let mut p = Packet::new(Code::AccessRequest, rand::random(), authenticator);
        p.push(types::USER_NAME, user.to_vec());
        p.push(types::NAS_IDENTIFIER, b"radotp-probe".to_vec());
        p.attributes.extend(msg.to_attributes());
        if let Some(s) = &state {
            p.attributes.push(Attribute::new(types::STATE, s.clone()));
        }
        // RFC 3579 §3.2: Message-Authenticator on every EAP request.
        let bytes = packet::encode_request(&p, secret, true)?;
        let reply = link.ask(&bytes, p.identifier, &authenticator, secret, a)?;
        // The EAP checks are below; nothing RADIUS-method-specific to check.
        let exchange = ClientExchange {
            method: Method::Pap,
            expected_success: None,
        };
        if reply.code != Code::AccessChallenge {
            print_reply(ctx, &reply, &exchange, secret, &authenticator);
            if reply.code != Code::AccessAccept {
                return Ok(ExitCode::from(1));
            }
            if let Some(s) = &ms {
                check_mppe(&reply, secret, &authenticator, password, &s.nt_response)?;
                if !ctx.json {
                    println!("  (EAP-MSCHAPv2 authenticator response and MPPE keys verified)");
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        state = reply.attr(types::STATE).map(<[u8]>::to_vec);
        let req = eap::join(&reply)
            .and_then(|b| EapPacket::decode(&b))
            .map_err(|e| anyhow::anyhow!("the Access-Challenge's EAP-Message: {e}"))?;
        if req.code != code::REQUEST {
            anyhow::bail!(
                "the Access-Challenge carries EAP code {}, not a Request",
                req.code
            );
        }
        match answer(ctx, a, &req, want, &mut ms, &mut gtc_rounds)? {
            Some(r) => msg = r,
            None => return Ok(ExitCode::from(1)),
        }
    }
    anyhow::bail!("the EAP conversation did not end within {MAX_ROUNDS} rounds")
}

/// What the peer answers to EAP Request `req` for method `want` (a Nak
/// when the server proposes another); `None` when GTC asks again and no
/// `--code` was given.
pub(super) fn answer(
    ctx: &Ctx,
    a: &ProbeArgs,
    req: &EapPacket,
    want: u8,
    ms: &mut Option<MsState>,
    gtc_rounds: &mut u32,
) -> anyhow::Result<Option<EapPacket>> {
    let user = a.user.as_bytes();
    let password = a.password.as_bytes();
    let id = req.identifier;
    Ok(Some(if req.typ != want {
        // RFC 3748 §5.3.1: propose ours instead.
        EapPacket::new(code::RESPONSE, id, typ::NAK, vec![want])
    } else if want == typ::GTC {
        *gtc_rounds += 1;
        let answer = match (*gtc_rounds, &a.code) {
            (1, _) => password.to_vec(),
            (_, Some(c)) => c.as_bytes().to_vec(),
            (_, None) => {
                if !ctx.json {
                    println!(
                        "(EAP-GTC asks again: {:?}; answer with --code CODE)",
                        String::from_utf8_lossy(&req.data)
                    );
                }
                return Ok(None);
            }
        };
        EapPacket::new(code::RESPONSE, id, typ::GTC, answer)
    } else {
        match eap::mschapv2_opcode(&req.data) {
            Some(op::CHALLENGE) => {
                let (ms_id, auth_challenge) = parse_challenge(&req.data)?;
                let peer: [u8; 16] = rand::random();
                let nt = mschap::generate_nt_response(&auth_challenge, &peer, user, password);
                let v2 = MsChapV2::new(ms_id, auth_challenge, peer, nt, user);
                *ms = Some(MsState {
                    nt_response: nt,
                    expected_s: v2.authenticator_response(password),
                });
                EapPacket::new(
                    code::RESPONSE,
                    id,
                    typ::MSCHAPV2,
                    response(ms_id, &peer, &nt, user),
                )
            }
            Some(op::SUCCESS) => {
                let text = String::from_utf8_lossy(req.data.get(4..).unwrap_or_default());
                let Some(s) = ms.as_ref() else {
                    anyhow::bail!("EAP-MSCHAPv2 Success-Request before any Challenge");
                };
                if !text.starts_with(&s.expected_s) {
                    anyhow::bail!("EAP-MSCHAPv2 Success-Request: the authenticator response is wrong (not the server that knows this code)");
                }
                EapPacket::new(code::RESPONSE, id, typ::MSCHAPV2, vec![op::SUCCESS])
            }
            Some(op::FAILURE) => {
                if !ctx.json {
                    println!(
                        "EAP-MSCHAPv2 Failure-Request: {:?}",
                        String::from_utf8_lossy(req.data.get(4..).unwrap_or_default())
                    );
                }
                EapPacket::new(code::RESPONSE, id, typ::MSCHAPV2, vec![op::FAILURE])
            }
            other => anyhow::bail!("unexpected EAP-MSCHAPv2 op-code {other:?}"),
        }
    }))
}

/// MS-CHAPv2-ID and the 16-octet challenge of a Challenge Type-Data.
fn parse_challenge(data: &[u8]) -> anyhow::Result<(u8, [u8; 16])> {
    match data {
        [op::CHALLENGE, ms_id, _, _, 16, rest @ ..] if rest.len() >= 16 => {
            let mut c = [0u8; 16];
            c.copy_from_slice(&rest[..16]);
            Ok((*ms_id, c))
        }
        _ => anyhow::bail!("malformed EAP-MSCHAPv2 Challenge"),
    }
}

/// An EAP-MSCHAPv2 Response Type-Data (draft-kamath §2.2).
fn response(ms_id: u8, peer: &[u8; 16], nt: &[u8; 24], name: &[u8]) -> Vec<u8> {
    let mut v = vec![op::RESPONSE, ms_id, 0, 0, 49];
    v.extend_from_slice(peer);
    v.extend_from_slice(&[0u8; 8]);
    v.extend_from_slice(nt);
    v.push(0);
    v.extend_from_slice(name);
    let len = (v.len() as u16).to_be_bytes();
    v[2..4].copy_from_slice(&len);
    v
}

/// The Accept's MS-MPPE-Send-Key/Recv-Key must be the MSK of this exchange.
fn check_mppe(
    reply: &Packet,
    secret: &[u8],
    authenticator: &[u8; 16],
    password: &[u8],
    nt: &[u8; 24],
) -> anyhow::Result<()> {
    let (send, recv) = mschap::ms_chap_v2_server_mppe_keys(password, nt);
    let mut got_send = None;
    let mut got_recv = None;
    for at in &reply.attributes {
        if let Some((ms::VENDOR_ID, subs)) = at.vendor() {
            for (t, v) in subs {
                let k = crypto::mppe_decrypt_key(v, secret, authenticator);
                match t {
                    ms::MS_MPPE_SEND_KEY => got_send = k,
                    ms::MS_MPPE_RECV_KEY => got_recv = k,
                    _ => {}
                }
            }
        }
    }
    let ok = |got: &Option<Vec<u8>>, want: &[u8; 16]| {
        got.as_deref()
            .is_some_and(|g| g.len() >= 16 && crate::secret::ct_eq(&g[..16], want))
    };
    if !ok(&got_send, &send) || !ok(&got_recv, &recv) {
        anyhow::bail!(
            "Access-Accept: MS-MPPE-Send-Key/Recv-Key missing or not the MSK of this exchange"
        );
    }
    Ok(())
}
