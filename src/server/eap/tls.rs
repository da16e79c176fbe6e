//! PEAPv0 and EAP-TTLS over RADIUS: the TLS tunnel (rustls, TLS 1.2 and
//! 1.3, driven with in-memory buffers) and the inner conversation.
//!
//! Each round of a tunnel conversation carries one EAP-TLS-style Type-Data
//! (`auth::eap_tls`): incoming fragments are acknowledged with empty
//! requests and joined up to [`MAX_TLS_MESSAGE`] (beyond: Reject); the
//! server's TLS output goes out in `[eap] fragment_size` pieces, each
//! acknowledged by the peer. Inside the tunnel: PEAPv0 with EAP-MSCHAPv2 or
//! EAP-GTC (header-less inner EAP, then the Result TLV), EAP-TTLS with PAP
//! (User-Name/User-Password AVPs) or EAP in EAP-Message AVPs. The user is
//! the *inner* identity; the outer one (anonymous@realm) is never used to
//! authenticate. The inner methods verify through the same [`Verifier`]
//! and commit path as every other method; the Accept carries the tunnel's
//! MSK (RFC 5216 §2.3, RFC 5281 §8, RFC 9427 §2.1) as MS-MPPE keys.
//!
//! [`Verifier`]: crate::verify::Verifier

use std::cell::RefCell;
use std::io::{Read, Write};
use std::sync::Arc;

use rustls::{ProtocolVersion, ServerConfig, ServerConnection};

use crate::auth::eap::{self, code, op, typ, EapPacket};
use crate::auth::eap_tls::{self, avp, flags, Fragmenter, Reassembly, TlsFrame, MAX_TLS_MESSAGE};
use crate::auth::mschap::MsChapV2;
use crate::auth::{Credential, Method, MsChapErrorCode, Pap};
use crate::config::{ConfigError, EapConfig};
use crate::radius::attribute::ms;
use crate::radius::{crypto, Attribute, Packet};
use crate::secret::Secret;
use crate::verify::{Accepted, Options, Outcome};

use super::super::handler::{Handler, LogName, Settings};
use super::{Conversation, Stage, Step, GTC_PROMPT, SERVER_NAME};

/// Rounds one tunnel conversation may take (a PEAP/MSCHAPv2 login takes
/// about ten): bounds a peer that ACKs forever.
const MAX_ROUNDS: u16 = 64;

/// The `[eap]` tunnel's rustls configuration: the certificate chain and the
/// key (refused when group or others may read it), TLS 1.3 and 1.2 with
/// ring, no client certificate, no session resumption (every login runs
/// its inner method). `None` without `certificate`/`private_key`.
pub fn load_tls(cfg: &EapConfig) -> Result<Option<Arc<ServerConfig>>, ConfigError> {
    let (Some(cert), Some(key)) = (&cfg.certificate, &cfg.private_key) else {
        return Ok(None);
    };
    let cert_path = cert.get_ref();
    let certs = super::super::radsec::read_certs_in("eap", cert_path, "certificate")?;
    let key = super::super::radsec::read_key_in("eap", key.get_ref())?;
    let err = |m: String| ConfigError {
        file: cert_path.display().to_string(),
        line: None,
        column: None,
        message: format!("[eap] certificate: {m}"),
    };
    // ring, as RadSec (no post-quantum key exchange: supplicants lack it).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| err(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| err(format!("does not go with private_key, or is unusable: {e}")))?;
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    Ok(Some(Arc::new(config)))
}

/// A tunnel conversation in progress.
pub(super) struct Tunnel {
    /// PEAP or TTLS.
    outer: u8,
    /// The NAS client's name (per-client result counters).
    client: String,
    /// The lockout source of the conversation.
    source: Option<String>,
    conn: Option<Box<ServerConnection>>,
    rx: Reassembly,
    tx: Option<Fragmenter>,
    phase: Phase,
    rounds: u16,
}

/// Where the tunnel stands.
enum Phase {
    /// TLS handshake in progress.
    Handshake,
    /// Tunnel up; the inner conversation not begun.
    Established,
    /// Inner EAP: the inner identity (once known) and what was asked.
    Inner {
        user: Option<String>,
        stage: Inner,
        nak_allowed: bool,
    },
    /// PEAP: the inner method matched, the success Result TLV was sent.
    PeapResult {
        user: String,
        cred: Box<Credential>,
        accepted: Box<Accepted>,
    },
}

/// The inner EAP method's last request.
enum Inner {
    Identity,
    MsChap {
        challenge: [u8; 16],
        ms_id: u8,
    },
    MsChapSuccess {
        cred: Box<Credential>,
        accepted: Box<Accepted>,
    },
    /// The inner MS-CHAPv2 Failure Request was sent (so that the peer shows
    /// why: E=691 or E=647); its Failure Response ends the tunnel.
    MsChapFailure,
    Gtc {
        pin_given: bool,
    },
}

/// What the inner conversation answers.
enum TunnelStep {
    /// Plaintext to send in the tunnel (empty: a bare request).
    Write(Vec<u8>),
    /// The inner method matched: Accept (through the commit).
    Accept(Box<Credential>, Box<Accepted>, String),
    /// Reject; the reason is logged.
    Fail(&'static str),
}

/// The tunnel's part of an Accept: which method, the inner user and the MSK.
pub(super) struct TunnelAccept {
    /// PEAP or TTLS.
    pub(super) outer: u8,
    /// The inner identity.
    pub(super) user: String,
    msk: Secret,
}

impl TunnelAccept {
    /// MS-MPPE-Recv-Key (MSK octets 0..32) and MS-MPPE-Send-Key (32..64),
    /// encrypted under the request's authenticator (RFC 2548 §2.4).
    pub(super) fn attributes(&self, request: &Packet, secret: &[u8]) -> Vec<Attribute> {
        let msk = self.msk.expose();
        let (recv, send) = (
            msk.get(..32).unwrap_or_default(),
            msk.get(32..64).unwrap_or_default(),
        );
        let s1 = rand::random::<u16>() | 0x8000;
        let mut s2 = rand::random::<u16>() | 0x8000;
        while s2 == s1 {
            s2 = rand::random::<u16>() | 0x8000;
        }
        let recv = crypto::mppe_encrypt_key(recv, secret, &request.authenticator, s1);
        let send = crypto::mppe_encrypt_key(send, secret, &request.authenticator, s2);
        vec![
            Attribute::vendor_specific(ms::VENDOR_ID, ms::MS_MPPE_RECV_KEY, &recv),
            Attribute::vendor_specific(ms::VENDOR_ID, ms::MS_MPPE_SEND_KEY, &send),
        ]
    }
}

thread_local! {
    /// The tunnel part of the Accept being built on this thread: set by
    /// `eap_access` just before it calls `eap_accepted`, which takes it.
    static ACCEPT: RefCell<Option<TunnelAccept>> = const { RefCell::new(None) };
}

/// Hands `t` to the next `eap_accepted` on this thread.
pub(super) fn set_accept(t: Option<TunnelAccept>) {
    ACCEPT.with(|a| *a.borrow_mut() = t);
}

/// The tunnel part of the Accept being built, if it is a tunnel's.
pub(super) fn take_accept() -> Option<TunnelAccept> {
    ACCEPT.with(|a| a.borrow_mut().take())
}

/// Starts PEAP or TTLS (`t`): the Start request (S flag, version 0).
pub(super) fn start(mut conv: Conversation, t: u8, id: u8) -> Step {
    conv.stage = Stage::Tunnel(Box::new(Tunnel {
        outer: t,
        client: conv.client.clone(),
        source: conv.source.clone(),
        conn: None,
        rx: Reassembly::new(MAX_TLS_MESSAGE),
        tx: None,
        phase: Phase::Handshake,
        rounds: 0,
    }));
    let data = eap_tls::frame(0, flags::START, None, &[]);
    Step::Ask(conv, EapPacket::new(code::REQUEST, id, t, data))
}

/// The Request carrying `type_data` in conversation `conv`.
fn ask(mut conv: Conversation, t: Box<Tunnel>, id: u8, type_data: Vec<u8>) -> Step {
    let outer = t.outer;
    conv.stage = Stage::Tunnel(t);
    conv.id = id;
    Step::Ask(conv, EapPacket::new(code::REQUEST, id, outer, type_data))
}

/// Feeds one TLS message to `conn`; the plaintext it yields.
fn feed(conn: &mut ServerConnection, message: &[u8]) -> Result<Vec<u8>, String> {
    let mut plain = Vec::new();
    let mut rd = message;
    while !rd.is_empty() {
        match conn.read_tls(&mut rd) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("TLS input: {e}")),
        }
        conn.process_new_packets()
            .map_err(|e| format!("TLS: {e}"))?;
        let mut buf = [0u8; 4096];
        loop {
            match conn.reader().read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if plain.len() + n > MAX_TLS_MESSAGE {
                        return Err("tunnel data beyond the limit".into());
                    }
                    plain.extend_from_slice(&buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(format!("TLS read: {e}")),
            }
        }
    }
    Ok(plain)
}

/// The TLS records `conn` has to send.
fn drain(conn: &mut ServerConnection) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out)
            .map_err(|e| format!("TLS output: {e}"))?;
        if out.len() > MAX_TLS_MESSAGE {
            return Err("TLS output beyond the limit".into());
        }
    }
    Ok(out)
}

/// The method's name in logs and stats.
fn outer_name(t: u8) -> &'static str {
    if t == typ::PEAP {
        "peap"
    } else {
        "ttls"
    }
}

impl Handler {
    /// One round of a PEAP or TTLS conversation.
    pub(super) fn tunnel_round(
        &self,
        settings: &Settings,
        conv: Conversation,
        mut t: Box<Tunnel>,
        msg: &EapPacket,
        id: u8,
    ) -> Result<Step, crate::store::StoreError> {
        t.rounds += 1;
        if t.rounds > MAX_ROUNDS {
            return Ok(self.tunnel_fail(&conv, &t, "too_many_rounds"));
        }
        let frame = match TlsFrame::parse(&msg.data) {
            Ok(f) => f,
            Err(_) => return Ok(self.tunnel_fail(&conv, &t, "malformed_tls_frame")),
        };
        // Our fragments still going out: the peer ACKs each one.
        if let Some(tx) = t.tx.as_mut() {
            if !frame.is_ack() {
                return Ok(self.tunnel_fail(&conv, &t, "data_while_fragments_pending"));
            }
            let td = tx.next_fragment();
            if tx.done() {
                t.tx = None;
            }
            return Ok(ask(conv, t, id, td));
        }
        let message = match t.rx.push(&frame) {
            Ok(Some(m)) => m,
            // More fragments to come: acknowledge this one.
            Ok(None) => return Ok(ask(conv, t, id, eap_tls::frame(0, 0, None, &[]))),
            Err(e) => {
                tracing::info!(client = %conv.client, error = %e, "EAP TLS fragment refused");
                return Ok(self.tunnel_fail(&conv, &t, "tls_reassembly"));
            }
        };
        let Some(config) = settings.eap_tls.clone() else {
            return Ok(self.tunnel_fail(&conv, &t, "no_eap_certificate"));
        };
        if t.conn.is_none() {
            match ServerConnection::new(config) {
                Ok(c) => t.conn = Some(Box::new(c)),
                Err(_) => return Ok(self.tunnel_fail(&conv, &t, "tls_setup")),
            }
        }
        let Some(conn) = t.conn.as_mut() else {
            return Ok(self.tunnel_fail(&conv, &t, "tls_setup"));
        };
        let plain = match feed(conn, &message) {
            Ok(p) => p,
            Err(e) => {
                tracing::info!(client = %conv.client, error = %e, "EAP TLS tunnel failed");
                return Ok(self.tunnel_fail(&conv, &t, "tls_handshake"));
            }
        };
        let mut write = Vec::new();
        if !conn.is_handshaking() {
            if matches!(t.phase, Phase::Handshake) {
                t.phase = Phase::Established;
            }
            let pending = conn.wants_write();
            match self.tunnel_inner(settings, &mut t, plain, msg.identifier, id, pending)? {
                TunnelStep::Write(w) => write = w,
                TunnelStep::Accept(cred, accepted, user) => {
                    let Some(msk) = t.conn.as_ref().and_then(|c| export_msk(c, t.outer)) else {
                        return Ok(self.tunnel_fail(&conv, &t, "msk_export"));
                    };
                    let accept = TunnelAccept {
                        outer: t.outer,
                        user,
                        msk,
                    };
                    return Ok(Step::TunnelAccept(cred, accepted, id, Box::new(accept)));
                }
                TunnelStep::Fail(reason) => return Ok(self.tunnel_fail(&conv, &t, reason)),
            }
        } else if !plain.is_empty() {
            return Ok(self.tunnel_fail(&conv, &t, "data_before_handshake"));
        }
        let Some(conn) = t.conn.as_mut() else {
            return Ok(self.tunnel_fail(&conv, &t, "tls_setup"));
        };
        if !write.is_empty() && conn.writer().write_all(&write).is_err() {
            return Ok(self.tunnel_fail(&conv, &t, "tls_write"));
        }
        let out = match drain(conn) {
            Ok(o) => o,
            Err(_) => return Ok(self.tunnel_fail(&conv, &t, "tls_write")),
        };
        let mut f = Fragmenter::new(out, settings.eap.fragment_size, 0);
        let td = f.next_fragment();
        if !f.done() {
            t.tx = Some(f);
        }
        Ok(ask(conv, t, id, td))
    }

    /// Ends a tunnel conversation in Reject, logged and counted.
    fn tunnel_fail(&self, conv: &Conversation, t: &Tunnel, reason: &'static str) -> Step {
        let user = match &t.phase {
            Phase::Inner { user: Some(u), .. } | Phase::PeapResult { user: u, .. } => u.as_str(),
            _ => "",
        };
        tracing::info!(client = %conv.client, outer = %LogName(conv.user.as_bytes()), user = %LogName(user.as_bytes()), method = %outer_name(t.outer), result = %"reject", reason = %reason, "access");
        self.stats().eap.method(t.outer, 2);
        Step::Fail
    }

    /// The inner conversation: `plain` is what the peer sent in the tunnel
    /// (empty after a bare ACK), `outer_id` its Response's identifier, `id`
    /// the next Request's. `tls_pending`: TLS records (the server's
    /// Finished) wait to go out first.
    fn tunnel_inner(
        &self,
        settings: &Settings,
        t: &mut Tunnel,
        plain: Vec<u8>,
        outer_id: u8,
        id: u8,
        tls_pending: bool,
    ) -> Result<TunnelStep, crate::store::StoreError> {
        let peap = t.outer == typ::PEAP;
        let phase = std::mem::replace(&mut t.phase, Phase::Established);
        match phase {
            Phase::Handshake | Phase::Established => {
                if plain.is_empty() {
                    if peap && !tls_pending {
                        // PEAPv0: the server asks the inner identity.
                        t.phase = Phase::Inner {
                            user: None,
                            stage: Inner::Identity,
                            nak_allowed: false,
                        };
                        let req = EapPacket::new(code::REQUEST, id, typ::IDENTITY, Vec::new());
                        return Ok(TunnelStep::Write(eap_tls::peap_inner_request(&req)));
                    }
                    // TTLS: the peer speaks first; send what TLS has, or a bare request.
                    return Ok(TunnelStep::Write(Vec::new()));
                }
                if peap {
                    return Ok(TunnelStep::Fail("peap_data_before_identity_request"));
                }
                self.ttls_message(settings, t, None, Inner::Identity, true, &plain, id)
            }
            Phase::Inner {
                user,
                stage,
                nak_allowed,
            } => {
                if plain.is_empty() {
                    return Ok(TunnelStep::Fail("empty_inner_response"));
                }
                if peap {
                    let Ok(pkt) = eap_tls::peap_inner_response(&plain, outer_id) else {
                        return Ok(TunnelStep::Fail("malformed_inner_eap"));
                    };
                    let step = self.inner_eap(settings, t, user, stage, nak_allowed, pkt, id)?;
                    Ok(match step {
                        InnerStep::Send(p) => TunnelStep::Write(eap_tls::peap_inner_request(&p)),
                        InnerStep::Done(cred, accepted, user) => {
                            t.phase = Phase::PeapResult {
                                user,
                                cred,
                                accepted,
                            };
                            let r = eap_tls::peap_result(code::REQUEST, id, true);
                            TunnelStep::Write(eap_tls::peap_inner_request(&r))
                        }
                        InnerStep::Fail(r) => TunnelStep::Fail(r),
                    })
                } else {
                    self.ttls_message(settings, t, user, stage, nak_allowed, &plain, id)
                }
            }
            Phase::PeapResult {
                user,
                cred,
                accepted,
            } => {
                let Ok(pkt) = eap_tls::peap_inner_response(&plain, outer_id) else {
                    return Ok(TunnelStep::Fail("malformed_result_tlv"));
                };
                if pkt.typ == typ::EXTENSIONS && eap_tls::parse_peap_result(&pkt.data) == Some(true)
                {
                    Ok(TunnelStep::Accept(cred, accepted, user))
                } else {
                    Ok(TunnelStep::Fail("peer_result_tlv_not_success"))
                }
            }
        }
    }

    /// A TTLS message: PAP (User-Name, User-Password) or an EAP-Message.
    #[allow(clippy::too_many_arguments)]
    fn ttls_message(
        &self,
        settings: &Settings,
        t: &mut Tunnel,
        user: Option<String>,
        stage: Inner,
        nak_allowed: bool,
        plain: &[u8],
        id: u8,
    ) -> Result<TunnelStep, crate::store::StoreError> {
        let Ok(req) = eap_tls::parse_ttls(plain) else {
            return Ok(TunnelStep::Fail("malformed_ttls_avps"));
        };
        if let (Some(name), Some(password), None, Inner::Identity) =
            (&req.user_name, &req.password, &req.eap, &stage)
        {
            let Ok(user) = String::from_utf8(name.clone()) else {
                return Ok(TunnelStep::Fail("inner_user_not_utf8"));
            };
            if user.is_empty() {
                return Ok(TunnelStep::Fail("no_inner_user"));
            }
            let cred = Credential::Pap(Pap {
                password: Secret::new(password.clone()),
            });
            let pw = password.as_slice();
            // The NAS client's group restriction holds inside the tunnel too.
            let allow_groups = client_groups(settings, &t.client);
            let source = t.source.clone();
            let base = Options {
                allow_groups: allow_groups.as_deref(),
                source: source.as_deref(),
                ..Options::default()
            };
            if self.over_failure_cap_named(settings, &t.client, Method::Pap, &user) {
                return Ok(TunnelStep::Fail("client_failure_cap"));
            }
            let outcome = settings
                .verifier
                .verify(&user, base, Some(pw), &|c| cred.matches(c))?;
            return Ok(match outcome {
                Outcome::Accept(a) => TunnelStep::Accept(Box::new(cred), Box::new(a), user),
                Outcome::Reject(reason) => {
                    tracing::info!(user = %LogName(user.as_bytes()), method = %"ttls/pap", result = %"reject", reason = %reason, "access");
                    self.stats().result(&t.client, Method::Pap, 1);
                    self.count_reject_named(settings, &t.client, reason);
                    TunnelStep::Fail("inner_pap_rejected")
                }
                Outcome::PinOnly => TunnelStep::Fail("inner_pap_pin_only"),
            });
        }
        let Some(e) = req.eap else {
            return Ok(TunnelStep::Fail("ttls_without_credential"));
        };
        let Ok(pkt) = EapPacket::decode(&e) else {
            return Ok(TunnelStep::Fail("malformed_inner_eap"));
        };
        Ok(
            match self.inner_eap(settings, t, user, stage, nak_allowed, pkt, id)? {
                InnerStep::Send(p) => {
                    TunnelStep::Write(eap_tls::encode_avp(avp::EAP_MESSAGE, true, &p.encode()))
                }
                InnerStep::Done(cred, accepted, user) => TunnelStep::Accept(cred, accepted, user),
                InnerStep::Fail(r) => TunnelStep::Fail(r),
            },
        )
    }

    /// One inner EAP Response (EAP-MSCHAPv2 or EAP-GTC, as the outer
    /// conversation runs them): the next inner Request, or the result.
    #[allow(clippy::too_many_arguments)]
    fn inner_eap(
        &self,
        settings: &Settings,
        t: &mut Tunnel,
        user: Option<String>,
        stage: Inner,
        nak_allowed: bool,
        pkt: EapPacket,
        id: u8,
    ) -> Result<InnerStep, crate::store::StoreError> {
        if pkt.code != code::RESPONSE {
            return Ok(InnerStep::Fail("inner_not_a_response"));
        }
        let methods = inner_methods(settings);
        let set = |t: &mut Tunnel, user: String, stage: Inner, nak_allowed: bool| {
            t.phase = Phase::Inner {
                user: Some(user),
                stage,
                nak_allowed,
            };
        };
        let (user, stage) = match (user, stage) {
            (None, Inner::Identity) => {
                if pkt.typ != typ::IDENTITY {
                    return Ok(InnerStep::Fail("inner_identity_expected"));
                }
                let Ok(u) = String::from_utf8(pkt.data) else {
                    return Ok(InnerStep::Fail("inner_user_not_utf8"));
                };
                if u.is_empty() {
                    return Ok(InnerStep::Fail("no_inner_user"));
                }
                let (stage, req) = start_inner(methods[0], id);
                set(t, u, stage, true);
                return Ok(InnerStep::Send(req));
            }
            (Some(u), s) => (u, s),
            (None, _) => return Ok(InnerStep::Fail("no_inner_user")),
        };
        if pkt.typ == typ::NAK {
            let current = match stage {
                Inner::Gtc { .. } => typ::GTC,
                _ => typ::MSCHAPV2,
            };
            let next = pkt
                .data
                .iter()
                .find(|m| **m != current && methods.contains(m));
            return Ok(match (nak_allowed, next) {
                (true, Some(&m)) => {
                    let (stage, req) = start_inner(m, id);
                    set(t, user, stage, false);
                    InnerStep::Send(req)
                }
                _ => InnerStep::Fail("inner_nak_without_method"),
            });
        }
        let verifier = &settings.verifier;
        let log_user = LogName(user.as_bytes());
        let name = outer_name(t.outer);
        // The NAS client's group restriction holds inside the tunnel too.
        let allow_groups = client_groups(settings, &t.client);
        let source = t.source.clone();
        let base = Options {
            allow_groups: allow_groups.as_deref(),
            source: source.as_deref(),
            ..Options::default()
        };
        match stage {
            Inner::Identity => Ok(InnerStep::Fail("inner_identity_twice")),
            Inner::MsChap { challenge, ms_id } => {
                if pkt.typ != typ::MSCHAPV2 {
                    return Ok(InnerStep::Fail("inner_method_mismatch"));
                }
                let Ok(r) = eap::parse_mschapv2_response(&pkt.data) else {
                    return Ok(InnerStep::Fail("malformed_inner_mschapv2"));
                };
                if r.ms_id != ms_id {
                    return Ok(InnerStep::Fail("inner_mschapv2_id"));
                }
                let cred = Credential::MsChapV2(MsChapV2::new(
                    r.ms_id,
                    challenge,
                    r.peer_challenge,
                    r.nt_response,
                    &r.name,
                ));
                if self.over_failure_cap_named(settings, &t.client, Method::MsChapV2, &user) {
                    return Ok(InnerStep::Fail("client_failure_cap"));
                }
                let outcome = verifier.verify(&user, base, None, &|c| cred.matches(c))?;
                let Credential::MsChapV2(v2) = &cred else {
                    return Ok(InnerStep::Fail("inner_mschapv2"));
                };
                match outcome {
                    Outcome::Accept(a) => {
                        let text =
                            format!("{} M=OK", v2.authenticator_response(a.password.expose()));
                        let data = eap::mschapv2_message(op::SUCCESS, ms_id, text.as_bytes());
                        set(
                            t,
                            user,
                            Inner::MsChapSuccess {
                                cred: Box::new(cred),
                                accepted: Box::new(a),
                            },
                            false,
                        );
                        Ok(InnerStep::Send(EapPacket::new(
                            code::REQUEST,
                            id,
                            typ::MSCHAPV2,
                            data,
                        )))
                    }
                    Outcome::Reject(reason) => {
                        tracing::info!(user = %log_user, method = %format!("{name}/eap-mschapv2"), result = %"reject", reason = %reason, "access");
                        self.stats().result(&t.client, Method::MsChapV2, 1);
                        self.count_reject_named(settings, &t.client, reason);
                        // draft-kamath-pppext-eap-mschapv2 §2: a Failure
                        // Request with the error (no retry), answered by a
                        // Failure Response, then EAP-Failure: the peer can
                        // tell a wrong code from a locked account.
                        let e = match reason {
                            crate::verify::Reason::Locked | crate::verify::Reason::UserDisabled => {
                                MsChapErrorCode::AccountDisabled
                            }
                            _ => MsChapErrorCode::AuthenticationFailure,
                        };
                        let c: [u8; 16] = rand::random();
                        let text = format!(
                            "E={} R=0 C={} V=3 M={}",
                            e.code(),
                            data_encoding::HEXUPPER.encode(&c),
                            e.message()
                        );
                        let data = eap::mschapv2_message(op::FAILURE, ms_id, text.as_bytes());
                        set(t, user, Inner::MsChapFailure, false);
                        Ok(InnerStep::Send(EapPacket::new(
                            code::REQUEST,
                            id,
                            typ::MSCHAPV2,
                            data,
                        )))
                    }
                    Outcome::PinOnly => Ok(InnerStep::Fail("inner_mschapv2_pin_only")),
                }
            }
            Inner::MsChapFailure => Ok(InnerStep::Fail("inner_mschapv2_rejected")),
            Inner::MsChapSuccess { cred, accepted } => {
                if pkt.typ != typ::MSCHAPV2 || eap::mschapv2_opcode(&pkt.data) != Some(op::SUCCESS)
                {
                    return Ok(InnerStep::Fail("inner_mschapv2_success_expected"));
                }
                Ok(InnerStep::Done(cred, accepted, user))
            }
            Inner::Gtc { pin_given } => {
                if pkt.typ != typ::GTC {
                    return Ok(InnerStep::Fail("inner_method_mismatch"));
                }
                let cred = Credential::Pap(Pap {
                    password: Secret::new(pkt.data.clone()),
                });
                let opts = Options {
                    with_pin: !pin_given,
                    pin_only_challenge: !pin_given,
                    ..base
                };
                let pw = pkt.data.as_slice();
                if self.over_failure_cap_named(settings, &t.client, Method::Pap, &user) {
                    return Ok(InnerStep::Fail("client_failure_cap"));
                }
                match verifier.verify(&user, opts, Some(pw), &|c| cred.matches(c))? {
                    Outcome::Accept(a) => Ok(InnerStep::Done(Box::new(cred), Box::new(a), user)),
                    Outcome::PinOnly => {
                        tracing::info!(user = %log_user, method = %format!("{name}/eap-gtc"), result = %"challenge", "access");
                        let prompt = settings.challenge_prompt.as_bytes().to_vec();
                        set(t, user, Inner::Gtc { pin_given: true }, false);
                        Ok(InnerStep::Send(EapPacket::new(
                            code::REQUEST,
                            id,
                            typ::GTC,
                            prompt,
                        )))
                    }
                    Outcome::Reject(reason) => {
                        tracing::info!(user = %log_user, method = %format!("{name}/eap-gtc"), result = %"reject", reason = %reason, "access");
                        self.stats().result(&t.client, Method::Pap, 1);
                        self.count_reject_named(settings, &t.client, reason);
                        Ok(InnerStep::Fail("inner_gtc_rejected"))
                    }
                }
            }
        }
    }
}

/// What one inner EAP round answers.
enum InnerStep {
    Send(EapPacket),
    Done(Box<Credential>, Box<Accepted>, String),
    Fail(&'static str),
}

/// The `allow_groups` of NAS client `name`.
fn client_groups(settings: &Settings, name: &str) -> Option<Vec<String>> {
    settings
        .clients
        .named(name)
        .and_then(|c| c.allow_groups.clone())
}

/// The inner methods offered, in `[eap] methods` order (both when the list
/// names only tunnel methods).
fn inner_methods(settings: &Settings) -> Vec<u8> {
    let m: Vec<u8> = settings
        .eap
        .method_types()
        .into_iter()
        .filter(|t| matches!(*t, typ::MSCHAPV2 | typ::GTC))
        .collect();
    if m.is_empty() {
        vec![typ::MSCHAPV2, typ::GTC]
    } else {
        m
    }
}

/// The first inner Request of method `m`.
fn start_inner(m: u8, id: u8) -> (Inner, EapPacket) {
    if m == typ::MSCHAPV2 {
        let challenge: [u8; 16] = rand::random();
        let data = eap::mschapv2_challenge(id, &challenge, SERVER_NAME);
        (
            Inner::MsChap {
                challenge,
                ms_id: id,
            },
            EapPacket::new(code::REQUEST, id, typ::MSCHAPV2, data),
        )
    } else {
        (
            Inner::Gtc { pin_given: false },
            EapPacket::new(code::REQUEST, id, typ::GTC, GTC_PROMPT.to_vec()),
        )
    }
}

/// The MSK (64 octets) of an established tunnel.
fn export_msk(conn: &ServerConnection, outer: u8) -> Option<Secret> {
    let tls13 = conn.protocol_version() == Some(ProtocolVersion::TLSv1_3);
    let (label, context) = eap_tls::msk_label(outer, tls13);
    // RFC 9427 exports 128 octets (MSK then EMSK); TLS 1.3's exporter
    // output depends on the length asked, so ask for all 128.
    let km = conn
        .export_keying_material(vec![0u8; 128], label, context.as_ref().map(|c| &c[..]))
        .ok()?;
    let msk = Secret::new(km.get(..64)?.to_vec());
    let mut km = km;
    zeroize::Zeroize::zeroize(&mut km);
    Some(msk)
}
