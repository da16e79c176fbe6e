//! RadSec: RADIUS over TLS (RFC 6614), with client certificates.
//!
//! A TCP listener per `[radsec] listen` address, on the daemon's tokio
//! runtime. Each connection:
//!
//! 1. is matched to a `[[client]]` by its source address before any TLS
//!    (unknown: closed, counted);
//! 2. gets a TLS 1.2 or 1.3 handshake (rustls, ring) within
//!    `handshake_timeout_secs`; the client must present a certificate that
//!    chains to `client_ca` (`WebPkiClientVerifier`), and, when the client
//!    block names one, carries its `tls_name`. A refused handshake is logged
//!    once, with the peer and the reason;
//! 3. carries RADIUS packets back to back, each framed by its own Length
//!    field (several per read, one split across reads); a length under 20
//!    or over 4096 closes the connection (counted). Each packet takes the
//!    same path as a UDP datagram ([`Handler::handle_with_client`], with the
//!    client's RadSec secret, `radsec` by default): immediate replies are
//!    written back at once, Accepts go through the commit thread
//!    ([`CommitQueue`]) and are written when their commit is decided. A
//!    malformed packet or a wrong authenticator closes the connection
//!    (RFC 6613 §2.6.4);
//! 4. has at most `max_in_flight` requests unanswered (past that it is not
//!    read: back-pressure on the peer) and is closed after
//!    `idle_timeout_secs` without a byte while nothing is in flight.
//!
//! Status-Server on the connection is answered like on UDP (RFC 5997), so
//! a peer can use it as the watchdog (RFC 3539). At most `max_connections`
//! are open at once; one more is closed on accept. SIGHUP rebuilds the TLS
//! configuration from the files ([`RadSec::reload`]): new connections use
//! the new certificates, open ones keep going.

use std::fmt;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::config::{Client, ConfigError, RadSecConfig};
use crate::radius::packet::MessageAuthenticator;
use crate::radius::{packet, Code, Packet};

use super::commit::{CommitQueue, Job};
use super::handler::{Handler, Port, Reply};
use super::stats::DropReason;

/// Largest RADIUS packet (RFC 2865 §3).
const MAX_PACKET: usize = 4096;
/// Smallest: the header.
const MIN_PACKET: usize = 20;

pub use super::stats::RadSecStats;

/// What a reload may change: certificates and limits.
struct Current {
    tls: Arc<ServerConfig>,
    handshake: Duration,
    idle: Duration,
    max_in_flight: usize,
    max_connections: usize,
}

impl Current {
    fn new(cfg: &RadSecConfig) -> Result<Current, ConfigError> {
        Ok(Current {
            tls: load_tls(cfg)?,
            handshake: Duration::from_secs(cfg.handshake_timeout_secs),
            idle: Duration::from_secs(cfg.idle_timeout_secs),
            max_in_flight: cfg.max_in_flight,
            max_connections: cfg.max_connections,
        })
    }
}

/// State shared by the listeners and their connections.
struct Shared {
    current: RwLock<Arc<Current>>,
    open: AtomicUsize,
    /// Refused-handshake lines logged in the current minute.
    refusals_logged: Mutex<(Instant, u32)>,
}

/// Refused handshakes logged per minute at most (each is counted anyway).
const REFUSALS_LOGGED_PER_MINUTE: u32 = 100;

impl Shared {
    fn current(&self) -> Arc<Current> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// One line per refused handshake: who, why (never a secret: the
    /// reasons are rustls's and ours). Past 100 a minute, one line says
    /// the rest are only counted.
    fn refused(&self, peer: SocketAddr, client: &str, reason: &dyn fmt::Display) {
        let now = Instant::now();
        let mut g = self
            .refusals_logged
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if now.duration_since(g.0) >= Duration::from_secs(60) {
            *g = (now, 0);
        }
        g.1 += 1;
        if g.1 <= REFUSALS_LOGGED_PER_MINUTE {
            tracing::warn!(peer = %peer, client, reason = %reason, "radsec handshake refused");
        } else if g.1 == REFUSALS_LOGGED_PER_MINUTE + 1 {
            tracing::warn!("radsec: over 100 refused handshakes this minute; the rest are only counted (radsec.handshakes_refused)");
        }
    }
}

/// Slot of an open connection: freed on drop.
struct Slot {
    shared: Arc<Shared>,
    handler: Arc<Handler>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shared.open.fetch_sub(1, Ordering::Relaxed);
        self.handler
            .stats()
            .radsec
            .open
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// The bound RadSec listeners.
pub struct RadSec {
    listeners: Vec<TcpListener>,
    addrs: Vec<SocketAddr>,
    shared: Arc<Shared>,
}

/// Why RadSec cannot start: a file (certificate, key, CA) or a bind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RadSecError {
    /// Certificate, key or CA unusable.
    #[error("{0}")]
    Tls(#[from] ConfigError),
    /// A listener cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

impl RadSec {
    /// Loads the certificates and binds every listener of `cfg`.
    pub async fn bind(cfg: &RadSecConfig) -> Result<RadSec, RadSecError> {
        let current = Current::new(cfg)?;
        let mut listeners = Vec::new();
        for addr in cfg.listen_addrs() {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|source| RadSecError::Bind { addr, source })?;
            listeners.push(l);
        }
        let addrs = listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        Ok(RadSec {
            listeners,
            addrs,
            shared: Arc::new(Shared {
                current: RwLock::new(Arc::new(current)),
                open: AtomicUsize::new(0),
                refusals_logged: Mutex::new((Instant::now(), 0)),
            }),
        })
    }

    /// The bound addresses (useful with port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.addrs.clone()
    }

    /// Rebuilds the TLS configuration and limits from `cfg` (SIGHUP): new
    /// connections get them, open ones keep theirs. On error the previous
    /// ones stay.
    pub fn reload(&self, cfg: &RadSecConfig) -> Result<(), ConfigError> {
        let current = Current::new(cfg)?;
        *self
            .shared
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(current);
        Ok(())
    }

    /// Starts accepting on every listener until `stop` turns true.
    pub fn start(
        &mut self,
        handler: Arc<Handler>,
        queue: Arc<CommitQueue>,
        stop: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        self.listeners
            .drain(..)
            .map(|l| {
                tokio::spawn(accept_loop(
                    l,
                    self.shared.clone(),
                    handler.clone(),
                    queue.clone(),
                    stop.clone(),
                ))
            })
            .collect()
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    handler: Arc<Handler>,
    queue: Arc<CommitQueue>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => return,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, say: do not spin.
                tracing::debug!(error = %e, "radsec accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let stats = &handler.stats().radsec;
        stats.connections.fetch_add(1, Ordering::Relaxed);
        let current = shared.current();
        if shared.open.load(Ordering::Relaxed) >= current.max_connections {
            stats.over_limit.fetch_add(1, Ordering::Relaxed);
            if handler.first_warning(peer.ip(), 11, Instant::now()) {
                tracing::warn!(peer = %peer, max_connections = current.max_connections, "radsec connection closed: max_connections are open; further ones from this address are not logged for a minute");
            }
            drop(tcp);
            continue;
        }
        shared.open.fetch_add(1, Ordering::Relaxed);
        stats.open.fetch_add(1, Ordering::Relaxed);
        let slot = Slot {
            shared: shared.clone(),
            handler: handler.clone(),
        };
        let conn = Connection {
            peer,
            handler: handler.clone(),
            queue: queue.clone(),
            shared: shared.clone(),
            current,
            stop: stop.clone(),
        };
        tokio::spawn(async move {
            conn.run(tcp).await;
            drop(slot);
        });
    }
}

struct Connection {
    peer: SocketAddr,
    handler: Arc<Handler>,
    queue: Arc<CommitQueue>,
    shared: Arc<Shared>,
    current: Arc<Current>,
    stop: watch::Receiver<bool>,
}

/// A reply for the writer, with the in-flight slot it frees once written.
type Outgoing = (Vec<u8>, OwnedSemaphorePermit);

impl Connection {
    async fn run(self, tcp: TcpStream) {
        let peer = self.peer;
        let stats = &self.handler.stats().radsec;
        let settings = self.handler.settings();
        let Some(client) = settings.clients.lookup(peer.ip()).cloned() else {
            stats.unknown_client.fetch_add(1, Ordering::Relaxed);
            if self.handler.first_warning(peer.ip(), 10, Instant::now()) {
                tracing::warn!(source = %peer.ip(), "radsec connection from an unknown client closed (add a [[client]] for this address); further ones from it are not logged for a minute");
            }
            return;
        };
        drop(settings);
        let _ = tcp.set_nodelay(true);
        let acceptor = TlsAcceptor::from(self.current.tls.clone());
        let tls = match tokio::time::timeout(self.current.handshake, acceptor.accept(tcp)).await {
            Err(_) => {
                stats.handshake_timeouts.fetch_add(1, Ordering::Relaxed);
                let why = format!(
                    "handshake not finished within {} s",
                    self.current.handshake.as_secs()
                );
                self.shared.refused(peer, &client.name, &why);
                return;
            }
            Ok(Err(e)) => {
                stats.handshakes_refused.fetch_add(1, Ordering::Relaxed);
                self.shared.refused(peer, &client.name, &e);
                return;
            }
            Ok(Ok(t)) => t,
        };
        let (_, conn) = tls.get_ref();
        let version = conn
            .protocol_version()
            .map(|v| format!("{v:?}"))
            .unwrap_or_default();
        let cert = conn.peer_certificates().and_then(|c| c.first()).cloned();
        if let Some(name) = &client.tls_name {
            let ok = cert.as_ref().is_some_and(|c| cert_has_name(c, name));
            if !ok {
                stats.tls_name_mismatch.fetch_add(1, Ordering::Relaxed);
                stats.handshakes_refused.fetch_add(1, Ordering::Relaxed);
                let subject = cert
                    .as_ref()
                    .map(|c| subject_common_names(c).join(","))
                    .unwrap_or_default();
                let why = format!(
                    "the client certificate (CN={subject}) does not carry tls_name \"{name}\""
                );
                self.shared.refused(peer, &client.name, &why);
                return;
            }
        }
        stats.handshakes.fetch_add(1, Ordering::Relaxed);
        tracing::info!(peer = %peer, client = %client.name, tls = %version, "radsec connection");
        // The same client, with the RadSec secret for everything the
        // handler does with a secret.
        let mut on_tls = (*client).clone();
        on_tls.secret = client.radsec_secret.clone();
        let why = self.serve(tls, Arc::new(on_tls)).await;
        tracing::info!(peer = %peer, client = %client.name, reason = why, "radsec connection closed");
    }

    /// Reads packets until the peer closes, goes idle or breaks the
    /// framing; waits for the replies in flight; says why it stopped.
    async fn serve(
        mut self,
        tls: tokio_rustls::server::TlsStream<TcpStream>,
        client: Arc<Client>,
    ) -> &'static str {
        let stats = &self.handler.stats().radsec;
        let (mut rd, mut wr) = tokio::io::split(tls);
        // Unbounded, but each entry holds one of `max_in_flight` permits.
        let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
        let writer = tokio::spawn(async move {
            while let Some((bytes, permit)) = rx.recv().await {
                if wr.write_all(&bytes).await.is_err() {
                    return;
                }
                drop(permit);
                // Whatever else is ready goes in the same flush.
                while let Ok((bytes, permit)) = rx.try_recv() {
                    if wr.write_all(&bytes).await.is_err() {
                        return;
                    }
                    drop(permit);
                }
                if wr.flush().await.is_err() {
                    return;
                }
            }
            let _ = wr.shutdown().await;
        });
        let max = self.current.max_in_flight;
        let in_flight = Arc::new(Semaphore::new(max));
        let mut buf: Vec<u8> = Vec::with_capacity(MAX_PACKET);
        let mut chunk = vec![0u8; 8192];
        let why = 'conn: loop {
            // Every whole packet in the buffer first: it never holds more
            // than one packet and one read.
            while buf.len() >= 4 {
                let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
                if !(MIN_PACKET..=MAX_PACKET).contains(&len) {
                    stats.bad_length.fetch_add(1, Ordering::Relaxed);
                    if self
                        .handler
                        .first_warning(self.peer.ip(), 12, Instant::now())
                    {
                        tracing::warn!(peer = %self.peer, client = %client.name, length = len, "radsec connection closed: a packet length outside 20..4096");
                    }
                    writer.abort();
                    return "bad_length";
                }
                if buf.len() < len {
                    break;
                }
                let packet: Vec<u8> = buf.drain(..len).collect();
                if let Err(why) = self.well_formed(&packet, &client) {
                    stats.bad_packet.fetch_add(1, Ordering::Relaxed);
                    if self
                        .handler
                        .first_warning(self.peer.ip(), 13, Instant::now())
                    {
                        tracing::warn!(peer = %self.peer, client = %client.name, reason = why, "radsec connection closed: a packet that would be dropped on UDP (RFC 6613 §2.6.4)");
                    }
                    writer.abort();
                    return why;
                }
                // A peer that does not read its replies stops the writer,
                // which holds the permits: closed after the idle timeout.
                let permit = tokio::select! {
                    p = tokio::time::timeout(self.current.idle, in_flight.clone().acquire_owned()) => match p {
                        Ok(Ok(p)) => p,
                        Ok(Err(_)) => break 'conn "closed",
                        Err(_) => {
                            stats.idle_closed.fetch_add(1, Ordering::Relaxed);
                            writer.abort();
                            return "stalled";
                        }
                    },
                    _ = self.stop.changed() => break 'conn "shutdown",
                };
                stats.packets.fetch_add(1, Ordering::Relaxed);
                self.dispatch(packet, permit, &client, &tx);
            }
            let read = tokio::select! {
                r = tokio::time::timeout(self.current.idle, rd.read(&mut chunk)) => r,
                _ = self.stop.changed() => break "shutdown",
            };
            match read {
                Ok(Ok(0)) => break "peer_closed",
                Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                Ok(Err(_)) => break "read_error",
                Err(_) if in_flight.available_permits() == max => {
                    stats.idle_closed.fetch_add(1, Ordering::Relaxed);
                    break "idle";
                }
                Err(_) => continue,
            }
        };
        // The replies in flight are still written (each holds a sender),
        // unless the peer stops reading them.
        drop(tx);
        let abort = writer.abort_handle();
        if tokio::time::timeout(self.current.idle, writer)
            .await
            .is_err()
        {
            abort.abort();
        }
        why
    }

    /// RFC 6613 §2.6.4: the packets whose "silently discard" closes a
    /// stream: malformed, or a wrong (accounting or Message-)
    /// authenticator. Other drops (duplicate, rate limit, store down) keep
    /// the connection. Counted like the handler counts them.
    fn well_formed(&self, raw: &[u8], client: &Client) -> Result<(), &'static str> {
        let stats = self.handler.stats();
        let Ok(packet) = Packet::decode(raw) else {
            stats.count_drop(DropReason::Malformed);
            return Err("malformed_packet");
        };
        let secret = client.secret.expose();
        let authentic = (packet.code != Code::AccountingRequest
            || packet::verify_accounting_request(raw, secret))
            && packet::check_message_authenticator(raw, &packet, secret, None)
                != MessageAuthenticator::Invalid;
        if !authentic {
            stats.count_drop(DropReason::BadAuthenticator);
            return Err("bad_authenticator");
        }
        Ok(())
    }

    /// Hands one packet to the handler on a blocking thread (store calls
    /// block); its reply goes to the writer.
    fn dispatch(
        &self,
        packet: Vec<u8>,
        permit: OwnedSemaphorePermit,
        client: &Arc<Client>,
        tx: &mpsc::UnboundedSender<Outgoing>,
    ) {
        // RFC 6614 §2.1: authentication and accounting share the connection.
        let port = if packet[0] == Code::AccountingRequest.to_u8() {
            Port::Accounting
        } else {
            Port::Auth
        };
        let method = method_of(&packet);
        let handler = self.handler.clone();
        let queue = self.queue.clone();
        let client = client.clone();
        let tx = tx.clone();
        let peer = self.peer;
        tokio::task::spawn_blocking(move || {
            // The audit trail tells the transport by this span.
            let span = tracing::info_span!("radsec");
            let _in_span = span.enter();
            match handler.handle_with_client(peer, &packet, port, &client) {
                None => {}
                Some(Reply::Now(bytes)) => {
                    handler.stats().radsec.count_reply(method, &bytes);
                    let _ = tx.send((bytes, permit));
                }
                Some(Reply::Durable(d)) => {
                    let commit = d.commit.clone();
                    let h = handler.clone();
                    queue.submit(std::iter::once(Job {
                        commit,
                        done: Box::new(move |decided| {
                            let _in_span = tracing::info_span!("radsec").entered();
                            if let Some(bytes) = h.settle(*d, decided) {
                                h.stats().radsec.count_reply(method, &bytes);
                                let _ = tx.send((bytes, permit));
                            }
                        }),
                    }));
                }
            }
        });
    }
}

/// The method of an Access-Request, from its attributes (for the
/// per-transport counters only; the handler decides for itself).
fn method_of(packet: &[u8]) -> Option<usize> {
    if packet.first() != Some(&1) {
        return None;
    }
    let mut method = None;
    let mut i = MIN_PACKET;
    while i + 2 <= packet.len() {
        let (t, l) = (packet[i], usize::from(packet[i + 1]));
        if l < 2 || i + l > packet.len() {
            return None;
        }
        let v = &packet[i + 2..i + l];
        match t {
            2 => method = Some(0),
            3 => method = Some(1),
            79 => method = method.or(Some(4)),
            // Microsoft (311): MS-CHAP-Response 1, MS-CHAP2-Response 25.
            26 if v.len() >= 6 && v[..4] == [0, 0, 1, 55] => match v[4] {
                1 => method = Some(2),
                25 => method = Some(3),
                _ => {}
            },
            _ => {}
        }
        i += l;
    }
    method
}

fn tls_err(path: &Path, what: &str, message: String) -> ConfigError {
    tls_err_in("radsec", path, what, message)
}

fn tls_err_in(section: &str, path: &Path, what: &str, message: String) -> ConfigError {
    ConfigError {
        file: path.display().to_string(),
        line: None,
        column: None,
        message: format!("[{section}] {what}: {message}"),
    }
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    read_certs_in("radsec", path, what)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, ConfigError> {
    read_key_in("radsec", path)
}

/// The certificates of a PEM file; errors name `[section] what`.
pub(crate) fn read_certs_in(
    section: &str,
    path: &Path,
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let tls_err = |path: &Path, what: &str, m: String| tls_err_in(section, path, what, m);
    let pem = std::fs::read(path).map_err(|e| tls_err(path, what, format!("cannot read: {e}")))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| tls_err(path, what, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(tls_err(
            path,
            what,
            "holds no certificate: expected -----BEGIN CERTIFICATE----- blocks".into(),
        ));
    }
    Ok(certs)
}

/// The private key of a PEM file, refused when group or others may read
/// it (as the seed key file is); errors name `[section] private_key`.
pub(crate) fn read_key_in(
    section: &str,
    path: &Path,
) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let tls_err = |path: &Path, what: &str, m: String| tls_err_in(section, path, what, m);
    let what = "private_key";
    let meta =
        std::fs::metadata(path).map_err(|e| tls_err(path, what, format!("cannot stat: {e}")))?;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(tls_err(
            path,
            what,
            format!(
                "mode {:04o} lets group or others access the key; run `chmod 600 {}`",
                mode & 0o7777,
                path.display()
            ),
        ));
    }
    let pem = std::fs::read(path).map_err(|e| tls_err(path, what, format!("cannot read: {e}")))?;
    // The error of the PEM parser names no key material.
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        tls_err(
            path,
            what,
            format!("no usable private key (PKCS#8, PKCS#1 or SEC1 PEM): {e}"),
        )
    })
}

/// The rustls server configuration of `[radsec]`: TLS 1.3 and 1.2 with
/// ring, a client certificate required and verified against `client_ca`.
pub fn load_tls(cfg: &RadSecConfig) -> Result<Arc<ServerConfig>, ConfigError> {
    // ring, like the PostgreSQL client: it builds without cmake. (No
    // post-quantum key exchange: RADIUS peers do not offer it yet.)
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cert_path = cfg.certificate.get_ref();
    let certs = read_certs(cert_path, "certificate")?;
    let key = read_key(cfg.private_key.get_ref())?;
    let ca_path = cfg.client_ca.get_ref();
    let mut roots = RootCertStore::empty();
    for ca in read_certs(ca_path, "client_ca")? {
        roots.add(ca).map_err(|e| {
            tls_err(
                ca_path,
                "client_ca",
                format!("unusable CA certificate: {e}"),
            )
        })?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| tls_err(ca_path, "client_ca", e.to_string()))?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| tls_err(cert_path, "certificate", e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| {
            tls_err(
                cert_path,
                "certificate",
                format!("does not go with private_key, or is unusable: {e}"),
            )
        })?;
    Ok(Arc::new(config))
}

/// Does the certificate carry `name`: a DNS or IP subjectAltName (as
/// webpki matches a server name), or the subject's common name?
pub fn cert_has_name(cert: &CertificateDer<'_>, name: &str) -> bool {
    if let (Ok(sn), Ok(ee)) = (
        ServerName::try_from(name),
        webpki::EndEntityCert::try_from(cert),
    ) {
        if ee.verify_is_valid_for_subject_name(&sn).is_ok() {
            return true;
        }
    }
    subject_common_names(cert)
        .iter()
        .any(|cn| cn.eq_ignore_ascii_case(name))
}

/// One DER element: (tag, contents, the rest).
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&l0, mut rest) = rest.split_first()?;
    let len = if l0 < 0x80 {
        usize::from(l0)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let l = rest[..n]
            .iter()
            .fold(0usize, |l, &b| (l << 8) | usize::from(b));
        rest = &rest[n..];
        l
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The subject's common names (OID 2.5.4.3) of a certificate.
pub fn subject_common_names(cert: &[u8]) -> Vec<String> {
    fn walk(cert: &[u8]) -> Option<Vec<String>> {
        let (0x30, cert, _) = der(cert)? else {
            return None;
        };
        let (0x30, mut tbs, _) = der(cert)? else {
            return None;
        };
        // [0] version (optional), serial, signature, issuer, validity.
        let (tag, _, rest) = der(tbs)?;
        if tag == 0xa0 {
            tbs = rest;
        }
        for _ in 0..4 {
            tbs = der(tbs)?.2;
        }
        let (0x30, mut rdns, _) = der(tbs)? else {
            return None;
        };
        let mut out = Vec::new();
        while !rdns.is_empty() {
            let (_, mut set, rest) = der(rdns)?;
            rdns = rest;
            while !set.is_empty() {
                let (_, atv, rest) = der(set)?;
                set = rest;
                let (0x06, oid, value) = der(atv)? else {
                    continue;
                };
                if oid == [0x55, 0x04, 0x03] {
                    let (_, v, _) = der(value)?;
                    if let Ok(s) = std::str::from_utf8(v) {
                        out.push(s.to_string());
                    }
                }
            }
        }
        Some(out)
    }
    walk(cert).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_of_sniffs_each_credential() {
        let mut p = vec![1u8, 7, 0, 0];
        p.extend([0u8; 16]);
        let with = |attrs: &[u8]| {
            let mut q = p.clone();
            q.extend_from_slice(attrs);
            let n = q.len() as u16;
            q[2..4].copy_from_slice(&n.to_be_bytes());
            method_of(&q)
        };
        assert_eq!(with(&[1, 3, b'a', 2, 4, 0, 0]), Some(0));
        assert_eq!(with(&[3, 4, 0, 0]), Some(1));
        assert_eq!(with(&[26, 8, 0, 0, 1, 55, 1, 2]), Some(2));
        assert_eq!(with(&[26, 8, 0, 0, 1, 55, 25, 2]), Some(3));
        assert_eq!(with(&[79, 3, 2]), Some(4));
        assert_eq!(with(&[1, 3, b'a']), None);
        assert_eq!(with(&[1, 9, b'a']), None, "overrunning attribute");
        let mut acct = p.clone();
        acct[0] = 4;
        assert_eq!(method_of(&acct), None);
    }

    #[test]
    fn der_walker_survives_garbage() {
        assert!(subject_common_names(&[]).is_empty());
        assert!(subject_common_names(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_empty());
        for n in 0..64u8 {
            let junk: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37) ^ 0x30).collect();
            let _ = subject_common_names(&junk);
        }
    }
}
