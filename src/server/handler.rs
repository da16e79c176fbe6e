//! Request handling, without sockets: one datagram in, at most one reply out.
//!
//! [`Handler::handle`] runs the whole pipeline of the design brief: client
//! lookup by source address, strict decoding, authenticity
//! (Message-Authenticator, accounting authenticator), the duplicate cache,
//! credential extraction, the challenge flow, the OTP verification and the
//! reply. `None` means "drop silently"; every drop is counted with its
//! reason. Store calls block, so the server runs this on blocking threads.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::auth::{Credential, Method, MsChapErrorCode};
use crate::config::{Client, Config};
use crate::radius::attribute::types;
use crate::radius::packet::MessageAuthenticator;
use crate::radius::{packet, Attribute, Code, Packet};
use crate::verify::{Accepted, LockScope, Options, Outcome, Reason, Verifier};

use super::challenge::ChallengeTable;
use super::clients::ClientTable;
use super::dedup::{DedupCache, Key, Seen};
use super::ratelimit::RateLimiter;
use super::stats::{DropReason, Stats};

/// Most Proxy-State bytes a request may carry: 4096 minus the header, the
/// Message-Authenticator and 256 bytes for the largest reply (MS-CHAP-V2
/// Accept: MS-CHAP2-Success, two MPPE keys, policy and types, 159 bytes).
const MAX_ECHO: usize = 4096 - 20 - 18 - 256;

/// Which listener a datagram arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// Authentication (1812).
    Auth,
    /// Accounting (1813).
    Accounting,
}

/// What the handler answers a datagram with.
#[derive(Debug)]
pub enum Reply {
    /// Send these bytes now (Reject, Challenge, accounting, Status-Server,
    /// a retransmission answered from the duplicate cache).
    Now(Vec<u8>),
    /// An Accept that may leave only once its commit won: hand it to the
    /// commit thread, then pass the outcome to [`Handler::settle`].
    Durable(Box<Durable>),
}

/// An Accept waiting for its commit, with the Reject to send instead if
/// the commit loses (the code was used first, on this server or another).
pub struct Durable {
    /// The change to commit.
    pub commit: crate::store::UseCommit,
    key: Key,
    accept: Vec<u8>,
    reject: Vec<u8>,
    client: String,
    user: String,
    method: Method,
    drift: i64,
}

impl Durable {
    /// An Accept built elsewhere in `server/` (EAP) waiting for `commit`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        commit: crate::store::UseCommit,
        key: Key,
        accept: Vec<u8>,
        reject: Vec<u8>,
        client: String,
        user: String,
        method: Method,
        drift: i64,
    ) -> Self {
        Durable {
            commit,
            key,
            accept,
            reject,
            client,
            user,
            method,
            drift,
        }
    }
}

impl fmt::Debug for Durable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Durable")
            .field("client", &self.client)
            .field("token", &self.commit.token)
            .finish_non_exhaustive()
    }
}

/// What a reload may change: clients, secrets and policy.
pub struct Settings {
    /// NAS clients.
    pub clients: ClientTable,
    /// The verifier with the current policy.
    pub verifier: Arc<Verifier>,
    /// Reply-Message of an Access-Challenge.
    pub challenge_prompt: String,
    /// `[eap]`.
    pub eap: crate::config::EapConfig,
    /// The PEAP/TTLS tunnel's TLS configuration (when `[eap]` has a certificate).
    pub eap_tls: Option<Arc<rustls::ServerConfig>>,
    /// Groups and their reply attributes.
    pub authz: crate::authz::Authz,
}

impl Settings {
    /// Settings from a config and a verifier.
    pub fn new(
        config: &Config,
        verifier: Arc<Verifier>,
    ) -> Result<Settings, crate::config::ConfigError> {
        Ok(Settings {
            clients: ClientTable::new(config.clients()?),
            verifier,
            challenge_prompt: config.challenge.prompt.clone(),
            eap: config.eap.clone(),
            eap_tls: super::eap::load_tls(&config.eap)?,
            authz: crate::authz::Authz::new(config),
        })
    }
}

/// The request pipeline and its shared state.
pub struct Handler {
    settings: RwLock<Arc<Settings>>,
    dedup: DedupCache,
    challenges: ChallengeTable,
    limiter: RateLimiter,
    /// `[[client]] max_failures_per_minute`.
    pub(super) failcap: super::failcap::FailureCap,
    stats: Arc<Stats>,
    warned: Mutex<HashMap<(IpAddr, u8), Instant>>,
    pub(super) eap: super::eap::Conversations,
}

pub use crate::audit::LogName;

impl Handler {
    /// A handler; `dedup_ttl`, `dedup_bytes` and `challenge_ttl` from the
    /// config.
    pub fn new(
        settings: Settings,
        stats: Arc<Stats>,
        dedup_ttl: Duration,
        dedup_bytes: usize,
        challenge_ttl: Duration,
    ) -> Self {
        Handler {
            settings: RwLock::new(Arc::new(settings)),
            dedup: DedupCache::new(dedup_ttl, dedup_bytes),
            challenges: ChallengeTable::new(challenge_ttl, 100_000),
            limiter: RateLimiter::new(),
            failcap: Default::default(),
            stats,
            warned: Mutex::new(HashMap::new()),
            eap: Default::default(),
        }
    }

    /// Swaps in new settings (reload); requests in flight finish on the old ones.
    pub fn replace_settings(&self, settings: Settings) {
        let mut g = self.settings.write().unwrap_or_else(|e| e.into_inner());
        *g = Arc::new(settings);
    }

    /// The current settings.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Handles one datagram from `src`; the reply to send, if any.
    pub fn handle(&self, src: SocketAddr, datagram: &[u8], port: Port) -> Option<Reply> {
        let started = Instant::now();
        self.stats
            .received
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let settings = self.settings();
        let Some(client) = settings.clients.lookup(src.ip()) else {
            self.stats.count_drop(DropReason::UnknownClient);
            if self.first_warning(src.ip(), 0, started) {
                tracing::warn!(source = %src.ip(), "datagram from unknown client dropped (add a [[client]] for this address); further ones from it are not logged for a minute");
            }
            return None;
        };
        self.handle_client(src, datagram, port, &settings, client, started)
    }

    /// Handles one packet from `src` for a client the transport has already
    /// identified (RadSec: by address and certificate), with that client's
    /// secret as given (the RadSec secret); the reply to send, if any.
    pub fn handle_with_client(
        &self,
        src: SocketAddr,
        packet: &[u8],
        port: Port,
        client: &Client,
    ) -> Option<Reply> {
        let started = Instant::now();
        self.stats
            .received
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let settings = self.settings();
        self.handle_client(src, packet, port, &settings, client, started)
    }

    fn handle_client(
        &self,
        src: SocketAddr,
        datagram: &[u8],
        port: Port,
        settings: &Settings,
        client: &Client,
        started: Instant,
    ) -> Option<Reply> {
        if !self.limiter.allow(&client.name, client.rate_limit, started) {
            self.stats.count_drop(DropReason::RateLimited);
            if self.first_warning(src.ip(), 5, started) {
                tracing::warn!(client = %client.name, rate_limit = client.rate_limit, "client over its rate limit: datagrams dropped; further drops are not logged for a minute");
            }
            return None;
        }
        let packet = match Packet::decode(datagram) {
            Ok(p) => p,
            Err(e) => {
                self.stats.count_drop(DropReason::Malformed);
                if self.first_warning(src.ip(), 1, started) {
                    tracing::warn!(client = %client.name, source = %src, error = %e, "malformed packet dropped");
                }
                return None;
            }
        };
        let expected = match port {
            Port::Auth => matches!(packet.code, Code::AccessRequest | Code::StatusServer),
            Port::Accounting => {
                matches!(packet.code, Code::AccountingRequest | Code::StatusServer)
            }
        };
        if !expected {
            self.stats.count_drop(DropReason::UnexpectedCode);
            if self.first_warning(src.ip(), 2, started) {
                tracing::warn!(client = %client.name, code = packet.code.to_u8(), ?port, "packet with a code this port does not take dropped");
            }
            return None;
        }
        if !self.authentic(client, &packet, datagram, src, started) {
            return None;
        }
        // The reply echoes every Proxy-State: when they leave no room for the
        // largest reply, drop now, before a code is verified and consumed
        // without an answer that could carry the Accept.
        let echoed: usize = packet
            .attributes
            .iter()
            .filter(|a| a.typ == types::PROXY_STATE)
            .map(|a| 2 + a.value.len())
            .sum();
        if echoed > MAX_ECHO {
            self.stats.count_drop(DropReason::Malformed);
            if self.first_warning(src.ip(), 1, started) {
                tracing::warn!(client = %client.name, proxy_state_bytes = echoed, "request dropped: its Proxy-State attributes leave no room for a reply");
            }
            return None;
        }
        let key = (src, packet.identifier, packet.authenticator);
        match self.dedup.check(key, started) {
            Seen::New => {}
            Seen::Answered(bytes) => {
                self.stats
                    .duplicates_answered
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::debug!(client = %client.name, id = packet.identifier, "retransmission answered from the duplicate cache");
                return Some(Reply::Now(bytes));
            }
            Seen::InProgress => {
                self.stats.count_drop(DropReason::DuplicateInProgress);
                return None;
            }
            Seen::Dropped => return None,
        }
        let reply = match packet.code {
            Code::StatusServer => {
                self.stats
                    .status_server
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let code = match port {
                    Port::Auth => Code::AccessAccept,
                    Port::Accounting => Code::AccountingResponse,
                };
                self.encode(code, &packet, Vec::new(), client)
                    .map(Reply::Now)
            }
            Code::AccountingRequest => self.accounting(client, &packet).map(Reply::Now),
            _ => match self.access(settings, client, &packet, key) {
                Ok(reply) => reply,
                Err(e) => {
                    // No answer rather than a wrong one; the NAS will retry.
                    self.stats.count_drop(DropReason::StoreError);
                    self.stats.store.failed("read", &e);
                    self.dedup.forget(key);
                    return None;
                }
            },
        };
        if packet.code == Code::AccessRequest {
            self.stats.store.ok();
        }
        match &reply {
            Some(Reply::Durable(_)) => {}
            Some(Reply::Now(bytes)) => self.dedup.finish(key, Some(bytes)),
            None => self.dedup.finish(key, None),
        }
        self.stats.latency(started.elapsed().as_micros() as u64);
        reply
    }

    /// The outcome of a [`Reply::Durable`]'s commit: the bytes to send (the
    /// Accept if it won, the Reject if it lost), or `None` when the store
    /// failed (nothing is sent; the NAS's retry is verified afresh).
    pub fn settle(
        &self,
        d: Durable,
        decided: Result<bool, &crate::store::StoreError>,
    ) -> Option<Vec<u8>> {
        let log_user = LogName(d.user.as_bytes());
        match decided {
            Ok(true) => {
                tracing::info!(client = %d.client, user = %log_user, method = %d.method, result = %"accept", token = %d.commit.token, drift = d.drift, "access");
                self.stats.result(&d.client, d.method, 0);
                self.dedup.finish(d.key, Some(&d.accept));
                Some(d.accept)
            }
            Ok(false) => {
                tracing::info!(client = %d.client, user = %log_user, method = %d.method, result = %"reject", reason = %Reason::ReplayedCode, token = %d.commit.token, "access");
                self.stats.result(&d.client, d.method, 1);
                self.dedup.finish(d.key, Some(&d.reject));
                Some(d.reject)
            }
            Err(_) => {
                self.stats.count_drop(DropReason::StoreError);
                self.dedup.forget(d.key);
                None
            }
        }
    }

    fn authentic(
        &self,
        client: &Client,
        packet: &Packet,
        raw: &[u8],
        src: SocketAddr,
        now: Instant,
    ) -> bool {
        let secret = client.secret.expose();
        if packet.code == Code::AccountingRequest && !packet::verify_accounting_request(raw, secret)
        {
            self.stats.count_drop(DropReason::BadAuthenticator);
            if self.first_warning(src.ip(), 3, now) {
                tracing::warn!(client = %client.name, "Accounting-Request with a wrong authenticator dropped: is the shared secret the same on both sides?");
            }
            return false;
        }
        match packet::check_message_authenticator(raw, packet, secret, None) {
            MessageAuthenticator::Valid => true,
            MessageAuthenticator::Invalid => {
                self.stats.count_drop(DropReason::BadAuthenticator);
                if self.first_warning(src.ip(), 3, now) {
                    tracing::warn!(client = %client.name, "request with a wrong Message-Authenticator dropped: is the shared secret the same on both sides?");
                }
                false
            }
            MessageAuthenticator::Absent => {
                let required = match packet.code {
                    Code::AccessRequest => client.require_message_authenticator,
                    Code::StatusServer => true,
                    _ => false,
                };
                if required {
                    self.stats
                        .count_drop(DropReason::MissingMessageAuthenticator);
                    if self.first_warning(src.ip(), 4, now) {
                        tracing::warn!(client = %client.name, "request without Message-Authenticator dropped: configure the NAS to send it, or set require_message_authenticator = false for this client (weaker: BlastRADIUS, CVE-2024-3596)");
                    }
                }
                !required
            }
        }
    }

    fn access(
        &self,
        settings: &Settings,
        client: &Client,
        packet: &Packet,
        key: Key,
    ) -> Result<Option<Reply>, crate::store::StoreError> {
        let user_bytes = packet.user_name().unwrap_or_default();
        let log_user = LogName(user_bytes);
        let cred = match Credential::from_packet(packet, client.secret.expose()) {
            Ok(Some(c)) => c,
            Ok(None) if settings.eap.enabled && packet.attr(types::EAP_MESSAGE).is_some() => {
                return self.eap_access(settings, client, packet, key);
            }
            Ok(None) => {
                return Ok(self
                    .reject_early(client, packet, &log_user, "no_supported_credential")
                    .map(Reply::Now));
            }
            Err(e) => {
                tracing::info!(client = %client.name, user = %log_user, result = %"reject", reason = %"malformed_credential", error = %e, "access");
                self.stats
                    .rejected_no_method
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Ok(self
                    .encode(Code::AccessReject, packet, Vec::new(), client)
                    .map(Reply::Now));
            }
        };
        let method = cred.method();
        let Ok(user) = std::str::from_utf8(user_bytes) else {
            return Ok(self
                .rejected(client, packet, &cred, &log_user, Reason::UnknownUser)
                .map(Reply::Now));
        };
        if user.is_empty() {
            return Ok(self
                .reject_early(client, packet, &log_user, "no_user_name")
                .map(Reply::Now));
        }
        let verifier = &settings.verifier;
        // [lockout] scope = "user+source": the client and the station.
        let source = (verifier.policy().lockout_scope == LockScope::UserSource).then(|| {
            crate::verify::source_of(&client.name, packet.attr(types::CALLING_STATION_ID))
        });
        let mut opts = Options {
            allow_groups: client.allow_groups.as_deref(),
            source: source.as_deref(),
            ..Options::default()
        };
        let now = Instant::now();
        if let Some(state) = packet.attr(types::STATE) {
            // Second step of the challenge flow: the code alone.
            let pending = self.challenges.take(state, now);
            let valid = pending
                .as_ref()
                .is_some_and(|p| p.user == user && p.client == client.name)
                && method == Method::Pap;
            if !valid {
                tracing::info!(client = %client.name, user = %log_user, method = %method, result = %"reject", reason = %"unknown_state", "access");
                self.stats.result(&client.name, method, 1);
                let attrs = cred.reject_attributes(MsChapErrorCode::AuthenticationFailure);
                return Ok(self
                    .encode(Code::AccessReject, packet, attrs, client)
                    .map(Reply::Now));
            }
            opts.with_pin = false;
        } else if matches!(cred, Credential::Pap(_)) {
            // First step: a PAP password that is the PIN alone gets a
            // challenge (the verifier checks it on the record it reads).
            opts.pin_only_challenge = true;
        }
        let pap_pw = match &cred {
            Credential::Pap(p) => Some(p.password.expose()),
            _ => None,
        };
        if self.over_failure_cap(client, method, &log_user, now) {
            let attrs = cred.reject_attributes(MsChapErrorCode::AuthenticationFailure);
            return Ok(self
                .encode(Code::AccessReject, packet, attrs, client)
                .map(Reply::Now));
        }
        Ok(
            match verifier.verify(user, opts, pap_pw, &|c| cred.matches(c))? {
                Outcome::PinOnly => self
                    .challenge(client, packet, user, &settings.challenge_prompt, now)
                    .map(Reply::Now),
                Outcome::Accept(a) => self.accepted(settings, client, packet, &cred, user, a, key),
                Outcome::Reject(r) => self
                    .rejected(client, packet, &cred, &log_user, r)
                    .map(Reply::Now),
            },
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn accepted(
        &self,
        settings: &Settings,
        client: &Client,
        packet: &Packet,
        cred: &Credential,
        user: &str,
        a: Accepted,
        key: Key,
    ) -> Option<Reply> {
        let method = cred.method();
        let mut attrs = cred.accept_attributes(a.password.expose(), packet, client.secret.expose());
        attrs.extend(settings.authz.reply_attributes(
            client,
            &packet.authenticator,
            user,
            &a.groups,
            &a.replies,
        ));
        let accept = self.encode(Code::AccessAccept, packet, attrs, client)?;
        let Some(commit) = a.commit else {
            // Already committed (a verifier that writes itself).
            let log_user = LogName(user.as_bytes());
            tracing::info!(client = %client.name, user = %log_user, method = %method, result = %"accept", token = %a.token_id, drift = a.offset, "access");
            self.stats.result(&client.name, method, 0);
            return Some(Reply::Now(accept));
        };
        let reject = self.encode(
            Code::AccessReject,
            packet,
            cred.reject_attributes(MsChapErrorCode::AuthenticationFailure),
            client,
        )?;
        Some(Reply::Durable(Box::new(Durable {
            commit,
            key,
            accept,
            reject,
            client: client.name.clone(),
            user: user.to_string(),
            method,
            drift: a.offset,
        })))
    }

    fn rejected(
        &self,
        client: &Client,
        packet: &Packet,
        cred: &Credential,
        log_user: &LogName<'_>,
        reason: Reason,
    ) -> Option<Vec<u8>> {
        let method = cred.method();
        tracing::info!(client = %client.name, user = %log_user, method = %method, result = %"reject", reason = %reason, "access");
        self.stats.result(&client.name, method, 1);
        self.stats.reject_reason(reason);
        if super::failcap::counts(reason) {
            self.failcap
                .count(&client.name, client.max_failures_per_minute, Instant::now());
        }
        let code = match reason {
            Reason::Locked | Reason::UserDisabled => MsChapErrorCode::AccountDisabled,
            _ => MsChapErrorCode::AuthenticationFailure,
        };
        self.encode(
            Code::AccessReject,
            packet,
            cred.reject_attributes(code),
            client,
        )
    }

    /// A verification through the client named `client` is about to run
    /// (an EAP round): true when its failure cap refuses it.
    pub(super) fn over_failure_cap_named(
        &self,
        settings: &Settings,
        client: &str,
        method: Method,
        user: &str,
    ) -> bool {
        settings.clients.named(client).is_some_and(|c| {
            self.over_failure_cap(c, method, &LogName(user.as_bytes()), Instant::now())
        })
    }

    /// Counts a verifier's reject of a request through the client named
    /// `client` (by reason, and toward the client's failure cap).
    pub(super) fn count_reject_named(&self, settings: &Settings, client: &str, reason: Reason) {
        self.stats.reject_reason(reason);
        if let (Some(c), true) = (
            settings.clients.named(client),
            super::failcap::counts(reason),
        ) {
            self.failcap
                .count(&c.name, c.max_failures_per_minute, Instant::now());
        }
    }

    /// Is `client` over its `max_failures_per_minute`? Then the request is
    /// refused unverified: it tries no code and counts against no user.
    pub(super) fn over_failure_cap(
        &self,
        client: &Client,
        method: Method,
        log_user: &LogName<'_>,
        now: Instant,
    ) -> bool {
        use super::failcap::Cap;
        match self
            .failcap
            .check(&client.name, client.max_failures_per_minute, now)
        {
            Cap::Open => false,
            Cap::Closed { first } => {
                if first {
                    tracing::warn!(client = %client.name, max_failures_per_minute = client.max_failures_per_minute, "client reached its failed-attempt cap: its requests are refused until the minute ends");
                }
                tracing::info!(client = %client.name, user = %log_user, method = %method, result = %"reject", reason = %"client_failure_cap", "access");
                self.stats.result(&client.name, method, 1);
                self.stats
                    .failure_cap_rejects
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                true
            }
        }
    }

    fn reject_early(
        &self,
        client: &Client,
        packet: &Packet,
        log_user: &LogName<'_>,
        reason: &str,
    ) -> Option<Vec<u8>> {
        tracing::info!(client = %client.name, user = %log_user, result = %"reject", reason = %reason, "access");
        self.stats
            .rejected_no_method
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.encode(Code::AccessReject, packet, Vec::new(), client)
    }

    fn challenge(
        &self,
        client: &Client,
        packet: &Packet,
        user: &str,
        prompt: &str,
        now: Instant,
    ) -> Option<Vec<u8>> {
        let log_user = LogName(user.as_bytes());
        let Some(state) = self.challenges.issue(user, &client.name, now) else {
            tracing::warn!(client = %client.name, user = %log_user, result = %"reject", reason = %"too_many_challenges", "access");
            self.stats.result(&client.name, Method::Pap, 1);
            return self.encode(Code::AccessReject, packet, Vec::new(), client);
        };
        tracing::info!(client = %client.name, user = %log_user, method = %"pap", result = %"challenge", "access");
        self.stats.result(&client.name, Method::Pap, 2);
        let mut attrs = vec![Attribute::new(types::STATE, state.to_vec())];
        for chunk in prompt.as_bytes().chunks(253) {
            attrs.push(Attribute::new(types::REPLY_MESSAGE, chunk.to_vec()));
        }
        self.encode(Code::AccessChallenge, packet, attrs, client)
    }

    fn accounting(&self, client: &Client, packet: &Packet) -> Option<Vec<u8>> {
        self.stats
            .accounting
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let status = packet
            .attr(types::ACCT_STATUS_TYPE)
            .and_then(|v| <[u8; 4]>::try_from(v).ok())
            .map(u32::from_be_bytes);
        let status = match status {
            Some(1) => "start",
            Some(2) => "stop",
            Some(3) => "interim-update",
            Some(7) => "accounting-on",
            Some(8) => "accounting-off",
            Some(_) => "other",
            None => "missing",
        };
        let user = LogName(packet.user_name().unwrap_or_default());
        let session = LogName(packet.attr(types::ACCT_SESSION_ID).unwrap_or_default());
        tracing::info!(client = %client.name, user = %user, status, session = %session, "accounting");
        self.encode(Code::AccountingResponse, packet, Vec::new(), client)
    }

    fn encode(
        &self,
        code: Code,
        request: &Packet,
        attrs: Vec<Attribute>,
        client: &Client,
    ) -> Option<Vec<u8>> {
        match packet::encode_response(code, request, attrs, client.secret.expose()) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                tracing::error!(client = %client.name, error = %e, "reply cannot be encoded; dropped");
                None
            }
        }
    }

    /// Rate-limits warnings: true at most once a minute per (address, kind).
    pub(super) fn first_warning(&self, ip: IpAddr, kind: u8, now: Instant) -> bool {
        let mut g = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        if g.len() > 10_000 {
            g.retain(|_, t| now.duration_since(*t) < Duration::from_secs(60));
            if g.len() > 10_000 {
                return false;
            }
        }
        match g.get(&(ip, kind)) {
            Some(t) if now.duration_since(*t) < Duration::from_secs(60) => false,
            _ => {
                g.insert((ip, kind), now);
                true
            }
        }
    }
}
