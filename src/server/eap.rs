//! EAP conversations over RADIUS (RFC 3579): EAP-MSCHAPv2 and EAP-GTC, and
//! PEAPv0 and EAP-TTLS with their TLS tunnel in [`tls`].
//!
//! A conversation spans several Access-Request/Access-Challenge rounds tied
//! together by the State attribute. [`Conversations`] holds them, bounded in
//! number (`[eap] max_conversations`: a full table refuses a new
//! conversation rather than evict one in progress) and in time
//! (`[eap] timeout_secs`). [`Handler::eap_access`] runs one round; the
//! handler calls it for every Access-Request that carries EAP-Message. The
//! final Access-Accept goes through the same durability seam as every other
//! Accept ([`Reply::Durable`]); intermediate rounds are Access-Challenges
//! sent at once. The codec and the MS-CHAPv2 crypto are `auth::eap`'s and
//! `auth::mschap`'s.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::auth::eap::{self, code, op, typ, EapPacket};
use crate::auth::mschap::MsChapV2;
use crate::auth::{Credential, Method, MsChapErrorCode, Pap};
use crate::config::Client;
use crate::radius::attribute::{ms, types};
use crate::radius::{packet, Attribute, Code, Packet};
use crate::secret::Secret;
use crate::verify::{Accepted, Options, Outcome, Reason};

use super::dedup::Key;
use super::handler::{Durable, Handler, LogName, Reply, Settings};
use super::stats::DropReason;

mod tls;
pub use tls::load_tls;

/// The name sent in the EAP-MSCHAPv2 Challenge.
const SERVER_NAME: &[u8] = b"radotp";
/// The first EAP-GTC prompt.
const GTC_PROMPT: &[u8] = b"Password (PIN and code): ";

pub use super::stats::EapStats;

fn method_name(t: u8) -> &'static str {
    match t {
        typ::MSCHAPV2 => "eap-mschapv2",
        typ::PEAP => "peap",
        typ::TTLS => "ttls",
        _ => "eap-gtc",
    }
}

/// Where a conversation stands: what the server asked last.
enum Stage {
    /// EAP-MSCHAPv2 Challenge sent.
    MsChapChallenge { challenge: [u8; 16], ms_id: u8 },
    /// Success-Request sent after the code matched; the Accept waits for
    /// the peer's Success-Response.
    MsChapSuccess {
        cred: Box<Credential>,
        accepted: Box<Accepted>,
    },
    /// Failure-Request sent; the peer's Failure-Response ends in a Reject.
    MsChapFailure,
    /// EAP-GTC request sent; `pin_given`: the first answer was the PIN alone.
    Gtc { pin_given: bool },
    /// PEAP or TTLS: the TLS tunnel and its inner conversation.
    Tunnel(Box<tls::Tunnel>),
}

struct Conversation {
    client: String,
    /// The lockout source (`[lockout] scope = "user+source"`): the client
    /// and the Calling-Station-Id of the conversation's first request.
    source: Option<String>,
    user: String,
    method: u8,
    /// Identifier of the server's last EAP Request.
    id: u8,
    /// The peer may still Nak (no method answer yet).
    nak_allowed: bool,
    stage: Stage,
    expires: Instant,
}

/// The conversations in progress, keyed by State.
#[derive(Default)]
pub struct Conversations {
    map: Mutex<HashMap<[u8; 16], Conversation>>,
}

impl Conversations {
    /// Conversations held now.
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Is the table empty?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores `c` under a fresh State; `None` when `max` are in progress
    /// (expired ones are removed first and counted as timed out).
    fn insert(
        &self,
        c: Conversation,
        max: usize,
        now: Instant,
        stats: &EapStats,
    ) -> Option<[u8; 16]> {
        let mut g = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if g.len() >= max {
            let before = g.len();
            g.retain(|_, c| c.expires > now);
            stats
                .timed_out
                .fetch_add((before - g.len()) as u64, Ordering::Relaxed);
            if g.len() >= max {
                return None;
            }
        }
        loop {
            let state: [u8; 16] = rand::random();
            if let std::collections::hash_map::Entry::Vacant(v) = g.entry(state) {
                v.insert(c);
                return Some(state);
            }
        }
    }

    /// Takes the conversation of `state` out (each round gets a new State)
    /// when it is `client`'s and waits for Response `id`. A Response to
    /// another Request leaves it in place (RFC 3748 §4.1: discarded).
    fn take(&self, state: &[u8], client: &str, id: u8, now: Instant, stats: &EapStats) -> Taken {
        let Ok(key) = <[u8; 16]>::try_from(state) else {
            return Taken::Unknown;
        };
        let mut g = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let Some(c) = g.get(&key) else {
            return Taken::Unknown;
        };
        if c.expires <= now {
            g.remove(&key);
            stats.timed_out.fetch_add(1, Ordering::Relaxed);
            return Taken::Unknown;
        }
        if c.client != client {
            return Taken::Unknown;
        }
        if c.id != id {
            return Taken::OtherId;
        }
        g.remove(&key).map_or(Taken::Unknown, Taken::Found)
    }
}

enum Taken {
    Found(Conversation),
    Unknown,
    OtherId,
}

/// The next Request identifier after the peer's Response `id`.
fn next_id(id: u8) -> u8 {
    id.wrapping_add(1)
}

/// What one round answers.
enum Step {
    /// Ask again: Access-Challenge with this EAP Request.
    Ask(Conversation, EapPacket),
    /// End in Access-Reject with EAP-Failure.
    Fail,
    /// Accept (through the commit): the credential, the match and the
    /// identifier of the EAP-Success.
    Accept(Box<Credential>, Box<Accepted>, u8),
    /// Accept of a tunnel method (PEAP, TTLS): the inner credential and
    /// match, the EAP-Success identifier, the MSK and the inner user.
    TunnelAccept(Box<Credential>, Box<Accepted>, u8, Box<tls::TunnelAccept>),
}

impl Handler {
    /// One EAP round of an Access-Request that carries EAP-Message.
    pub(super) fn eap_access(
        &self,
        settings: &Settings,
        client: &Client,
        packet: &Packet,
        key: Key,
    ) -> Result<Option<Reply>, crate::store::StoreError> {
        let stats = &self.stats().eap;
        // RFC 3579 §3.2: EAP-Message without Message-Authenticator is
        // silently discarded (a wrong one never reaches here).
        if packet.attr(types::MESSAGE_AUTHENTICATOR).is_none() {
            stats
                .missing_message_authenticator
                .fetch_add(1, Ordering::Relaxed);
            self.stats()
                .count_drop(DropReason::MissingMessageAuthenticator);
            return Ok(None);
        }
        let msg = match eap::join(packet).and_then(|b| EapPacket::decode(&b)) {
            Ok(m) if m.code == code::RESPONSE => m,
            Ok(_) | Err(_) => {
                stats.malformed.fetch_add(1, Ordering::Relaxed);
                self.stats().count_drop(DropReason::Malformed);
                tracing::debug!(client = %client.name, "malformed or non-Response EAP-Message dropped");
                return Ok(None);
            }
        };
        let now = Instant::now();
        let cfg = &settings.eap;
        let timeout = Duration::from_secs(cfg.timeout_secs);
        let allowed = cfg.method_types();
        let step = match packet.attr(types::STATE) {
            None => {
                if msg.typ != typ::IDENTITY {
                    return Ok(self.eap_reject(client, packet, msg.identifier));
                }
                let user = packet
                    .user_name()
                    .map(<[u8]>::to_vec)
                    .unwrap_or_else(|| msg.data.clone());
                let Ok(user) = String::from_utf8(user) else {
                    return Ok(self.eap_reject(client, packet, msg.identifier));
                };
                let Some(&first) = allowed.first() else {
                    return Ok(self.eap_reject(client, packet, msg.identifier));
                };
                stats.started.fetch_add(1, Ordering::Relaxed);
                let source = (settings.verifier.policy().lockout_scope
                    == crate::verify::LockScope::UserSource)
                    .then(|| {
                        crate::verify::source_of(
                            &client.name,
                            packet.attr(types::CALLING_STATION_ID),
                        )
                    });
                let conv = Conversation {
                    client: client.name.clone(),
                    source,
                    user,
                    method: first,
                    id: 0,
                    nak_allowed: true,
                    stage: Stage::MsChapFailure,
                    expires: now + timeout,
                };
                start_method(conv, first, next_id(msg.identifier), stats)
            }
            Some(state) => {
                let conv = match self
                    .eap
                    .take(state, &client.name, msg.identifier, now, stats)
                {
                    Taken::Found(c) => c,
                    Taken::OtherId => {
                        stats.malformed.fetch_add(1, Ordering::Relaxed);
                        self.stats().count_drop(DropReason::Malformed);
                        return Ok(None);
                    }
                    Taken::Unknown => {
                        stats.unknown_state.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(client = %client.name, user = %LogName(packet.user_name().unwrap_or_default()), result = %"reject", reason = %"unknown_state", "eap");
                        return Ok(self.eap_reject(client, packet, msg.identifier));
                    }
                };
                self.eap_round(settings, conv, &msg, &allowed, now + timeout)?
            }
        };
        Ok(match step {
            Step::Fail => self.eap_reject(client, packet, next_id(msg.identifier)),
            Step::Ask(conv, request) => {
                self.eap_challenge(client, packet, conv, request, cfg.max_conversations, now)
            }
            Step::Accept(cred, accepted, id) => {
                self.eap_accepted(client, packet, &cred, *accepted, id, key)
            }
            Step::TunnelAccept(cred, accepted, id, tunnel) => {
                tls::set_accept(Some(*tunnel));
                let reply = self.eap_accepted(client, packet, &cred, *accepted, id, key);
                tls::set_accept(None);
                reply
            }
        })
    }

    /// A round of a conversation in progress.
    fn eap_round(
        &self,
        settings: &Settings,
        mut conv: Conversation,
        msg: &EapPacket,
        allowed: &[u8],
        expires: Instant,
    ) -> Result<Step, crate::store::StoreError> {
        let stats = &self.stats().eap;
        conv.expires = expires;
        let id = next_id(msg.identifier);
        if msg.typ == typ::NAK {
            if !conv.nak_allowed {
                return Ok(Step::Fail);
            }
            // RFC 3748 §5.3.1: the peer proposes types in order of preference.
            let Some(&t) = msg
                .data
                .iter()
                .find(|t| **t != conv.method && allowed.contains(t))
            else {
                return Ok(Step::Fail);
            };
            conv.nak_allowed = false;
            return Ok(start_method(conv, t, id, stats));
        }
        if msg.typ != conv.method {
            return Ok(Step::Fail);
        }
        conv.nak_allowed = false;
        let verifier = &settings.verifier;
        // `[[client]] allow_groups` and the failure cap, as the current
        // config has them.
        let client_cfg = settings.clients.named(&conv.client).cloned();
        let allow_groups = client_cfg.as_ref().and_then(|c| c.allow_groups.clone());
        let over_cap = |method| {
            client_cfg.as_ref().is_some_and(|c| {
                self.over_failure_cap(c, method, &LogName(conv.user.as_bytes()), Instant::now())
            })
        };
        let count_failure = |reason| {
            if let (Some(c), true) = (&client_cfg, super::failcap::counts(reason)) {
                self.failcap
                    .count(&c.name, c.max_failures_per_minute, Instant::now());
            }
        };
        let source = conv.source.clone();
        let base = Options {
            allow_groups: allow_groups.as_deref(),
            source: source.as_deref(),
            ..Options::default()
        };
        let log_user = LogName(conv.user.as_bytes());
        match std::mem::replace(&mut conv.stage, Stage::MsChapFailure) {
            Stage::MsChapChallenge { challenge, ms_id } => {
                let Ok(r) = eap::parse_mschapv2_response(&msg.data) else {
                    return Ok(Step::Fail);
                };
                if r.ms_id != ms_id {
                    return Ok(Step::Fail);
                }
                let cred = Credential::MsChapV2(MsChapV2::new(
                    r.ms_id,
                    challenge,
                    r.peer_challenge,
                    r.nt_response,
                    &r.name,
                ));
                if over_cap(Method::MsChapV2) {
                    return Ok(Step::Fail);
                }
                let outcome = verifier.verify(&conv.user, base, None, &|c| cred.matches(c))?;
                let Credential::MsChapV2(v2) = &cred else {
                    return Ok(Step::Fail);
                };
                match outcome {
                    Outcome::Accept(a) => {
                        let s = v2.authenticator_response(a.password.expose());
                        let text = format!("{s} M=OK");
                        let data = eap::mschapv2_message(op::SUCCESS, ms_id, text.as_bytes());
                        conv.stage = Stage::MsChapSuccess {
                            cred: Box::new(cred),
                            accepted: Box::new(a),
                        };
                        conv.id = id;
                        Ok(Step::Ask(
                            conv,
                            EapPacket::new(code::REQUEST, id, typ::MSCHAPV2, data),
                        ))
                    }
                    Outcome::Reject(reason) => {
                        tracing::info!(user = %log_user, method = %"eap-mschapv2", result = %"reject", reason = %reason, "access");
                        stats.method(typ::MSCHAPV2, 2);
                        self.stats().result(&conv.client, Method::MsChapV2, 1);
                        self.stats().reject_reason(reason);
                        count_failure(reason);
                        let e = match reason {
                            Reason::Locked | Reason::UserDisabled => {
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
                        conv.stage = Stage::MsChapFailure;
                        conv.id = id;
                        Ok(Step::Ask(
                            conv,
                            EapPacket::new(code::REQUEST, id, typ::MSCHAPV2, data),
                        ))
                    }
                    Outcome::PinOnly => Ok(Step::Fail),
                }
            }
            Stage::MsChapSuccess { cred, accepted } => {
                if eap::mschapv2_opcode(&msg.data) != Some(op::SUCCESS) {
                    return Ok(Step::Fail);
                }
                Ok(Step::Accept(cred, accepted, id))
            }
            Stage::MsChapFailure => Ok(Step::Fail),
            Stage::Tunnel(t) => self.tunnel_round(settings, conv, t, msg, id),
            Stage::Gtc { pin_given } => {
                let cred = Credential::Pap(Pap {
                    password: Secret::new(msg.data.clone()),
                });
                let opts = Options {
                    with_pin: !pin_given,
                    pin_only_challenge: !pin_given,
                    ..base
                };
                let pw = msg.data.as_slice();
                if over_cap(Method::Pap) {
                    return Ok(Step::Fail);
                }
                match verifier.verify(&conv.user, opts, Some(pw), &|c| cred.matches(c))? {
                    Outcome::Accept(a) => Ok(Step::Accept(Box::new(cred), Box::new(a), id)),
                    Outcome::PinOnly => {
                        tracing::info!(user = %log_user, method = %"eap-gtc", result = %"challenge", "access");
                        conv.stage = Stage::Gtc { pin_given: true };
                        conv.id = id;
                        let prompt = settings.challenge_prompt.as_bytes().to_vec();
                        Ok(Step::Ask(
                            conv,
                            EapPacket::new(code::REQUEST, id, typ::GTC, prompt),
                        ))
                    }
                    Outcome::Reject(reason) => {
                        tracing::info!(user = %log_user, method = %"eap-gtc", result = %"reject", reason = %reason, "access");
                        stats.method(typ::GTC, 2);
                        self.stats().result(&conv.client, Method::Pap, 1);
                        self.stats().reject_reason(reason);
                        count_failure(reason);
                        Ok(Step::Fail)
                    }
                }
            }
        }
    }

    /// Access-Challenge carrying `request`; the conversation is stored
    /// under a fresh State (a full table: Access-Reject, counted).
    fn eap_challenge(
        &self,
        client: &Client,
        packet: &Packet,
        conv: Conversation,
        request: EapPacket,
        max: usize,
        now: Instant,
    ) -> Option<Reply> {
        let stats = &self.stats().eap;
        let id = request.identifier;
        let Some(state) = self.eap.insert(conv, max, now, stats) else {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(client = %client.name, max_conversations = max, "EAP conversation refused: the table is full ([eap] max_conversations)");
            return self.eap_reject(client, packet, id);
        };
        let mut attrs = vec![Attribute::new(types::STATE, state.to_vec())];
        attrs.extend(request.to_attributes());
        eap_encode(Code::AccessChallenge, packet, attrs, client).map(Reply::Now)
    }

    /// The Access-Accept with EAP-Success (and, for EAP-MSCHAPv2, the MPPE
    /// keys of the MSK) as a [`Reply::Durable`], with its Reject.
    ///
    /// This is where an EAP Accept's reply attributes are built: anything
    /// added to every Accept must be added here too.
    fn eap_accepted(
        &self,
        client: &Client,
        packet: &Packet,
        cred: &Credential,
        a: Accepted,
        id: u8,
        key: Key,
    ) -> Option<Reply> {
        let method = cred.method();
        let secret = client.secret.expose();
        // PEAP/TTLS: the keys are the tunnel's MSK, the user the inner one.
        let tunnel = tls::take_accept();
        // RFC 3079 keys exactly as for RADIUS MS-CHAP-V2, under this
        // request's authenticator; MS-CHAP2-Success belongs to RADIUS
        // MS-CHAP-V2 only (EAP carried S= in the Success-Request).
        let mut attrs: Vec<Attribute> = cred
            .accept_attributes(a.password.expose(), packet, secret)
            .into_iter()
            .filter(|at| {
                !at.vendor().is_some_and(|(v, subs)| {
                    v == ms::VENDOR_ID && subs.iter().any(|s| s.0 == ms::MS_CHAP2_SUCCESS)
                })
            })
            .collect();
        if let Some(t) = &tunnel {
            // An inner EAP-MSCHAPv2's own keys are not the session's.
            attrs.retain(|at| {
                !at.vendor().is_some_and(|(v, subs)| {
                    v == ms::VENDOR_ID
                        && subs
                            .iter()
                            .any(|s| s.0 == ms::MS_MPPE_SEND_KEY || s.0 == ms::MS_MPPE_RECV_KEY)
                })
            });
            attrs.extend(t.attributes(packet, secret));
        }
        // The reply attributes are the inner user's in a tunnel.
        let user_name = match &tunnel {
            Some(t) => std::borrow::Cow::Borrowed(t.user.as_str()),
            None => String::from_utf8_lossy(packet.user_name().unwrap_or_default()),
        };
        attrs.extend(self.settings().authz.reply_attributes(
            client,
            &packet.authenticator,
            &user_name,
            &a.groups,
            &a.replies,
        ));
        attrs.extend(EapPacket::status(code::SUCCESS, id).to_attributes());
        let accept = eap_encode(Code::AccessAccept, packet, attrs, client)?;
        let eap_type = if let Some(t) = &tunnel {
            t.outer
        } else if method == Method::MsChapV2 {
            typ::MSCHAPV2
        } else {
            typ::GTC
        };
        let user = match tunnel {
            Some(t) => t.user,
            None => String::from_utf8_lossy(packet.user_name().unwrap_or_default()).into_owned(),
        };
        let Some(commit) = a.commit else {
            tracing::info!(client = %client.name, user = %LogName(user.as_bytes()), method = %method_name(eap_type), result = %"accept", token = %a.token_id, "access");
            self.stats().eap.method(eap_type, 1);
            self.stats().result(&client.name, method, 0);
            return Some(Reply::Now(accept));
        };
        let reject = eap_encode(
            Code::AccessReject,
            packet,
            EapPacket::status(code::FAILURE, id).to_attributes(),
            client,
        )?;
        self.stats().eap.method(eap_type, 1);
        Some(Reply::Durable(Box::new(Durable::new(
            commit,
            key,
            accept,
            reject,
            client.name.clone(),
            user,
            method,
            a.offset,
        ))))
    }

    /// Access-Reject with EAP-Failure `id`.
    fn eap_reject(&self, client: &Client, packet: &Packet, id: u8) -> Option<Reply> {
        let attrs = EapPacket::status(code::FAILURE, id).to_attributes();
        eap_encode(Code::AccessReject, packet, attrs, client).map(Reply::Now)
    }
}

/// Starts method `t` with Request identifier `id`.
fn start_method(mut conv: Conversation, t: u8, id: u8, stats: &EapStats) -> Step {
    stats.method(t, 0);
    conv.method = t;
    conv.id = id;
    if t == typ::PEAP || t == typ::TTLS {
        return tls::start(conv, t, id);
    }
    if t == typ::MSCHAPV2 {
        let challenge: [u8; 16] = rand::random();
        let ms_id = id;
        conv.stage = Stage::MsChapChallenge { challenge, ms_id };
        let data = eap::mschapv2_challenge(ms_id, &challenge, SERVER_NAME);
        Step::Ask(conv, EapPacket::new(code::REQUEST, id, typ::MSCHAPV2, data))
    } else {
        conv.stage = Stage::Gtc { pin_given: false };
        Step::Ask(
            conv,
            EapPacket::new(code::REQUEST, id, typ::GTC, GTC_PROMPT.to_vec()),
        )
    }
}

/// A reply with its Message-Authenticator (RFC 3579 §3.2: every reply
/// carrying EAP-Message has one; `encode_response` always adds it).
fn eap_encode(
    code: Code,
    request: &Packet,
    attrs: Vec<Attribute>,
    client: &Client,
) -> Option<Vec<u8>> {
    match packet::encode_response(code, request, attrs, client.secret.expose()) {
        Ok(b) => Some(b),
        Err(e) => {
            tracing::error!(client = %client.name, error = %e, "EAP reply cannot be encoded; dropped");
            None
        }
    }
}
