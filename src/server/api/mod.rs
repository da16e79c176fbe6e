//! The HTTP API (`[api]`): privacyIDEA-compatible `/validate/check` and
//! `/validate/radiuscheck` ([`validate`]), and the admin API under
//! `/api/v1/` with API keys ([`admin`]).
//!
//! HTTP/1.1 on hyper, plain on loopback addresses only, HTTPS (rustls,
//! ring) anywhere. A check goes the RADIUS request's way: the daemon's
//! deferred [`Verifier`](crate::verify::Verifier) (PIN policy, window and
//! drift, replay, lockout shared with RADIUS, the `access` log line and so
//! the audit trail, with `transport = "http"`), and an Accept is answered
//! only once the commit thread ([`CommitQueue`]) has made its use of the
//! code durable. Admin calls run the same [`Admin`](crate::admin::Admin)
//! service as the CLI and the control socket.
//!
//! Limits: a body larger than `max_body_bytes` is refused (413), headers
//! and body must arrive within `request_timeout_secs` (an idle keep-alive
//! connection is closed after it too), at most `max_connections` are
//! served at once (more are closed), and `validate_rate_limit` caps the
//! `/validate` requests of one source address per second (429).

pub mod admin;
pub mod http;
pub mod validate;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::config::{ApiConfig, Config, ConfigError};
use crate::server::challenge::ChallengeTable;
use crate::server::commit::CommitQueue;
use crate::server::control::AdminSlot;
use crate::server::handler::Handler;
use crate::server::ratelimit::RateLimiter;
use crate::server::ServerError;

use self::http::{ApiError, Body};

/// How long in-flight requests get to finish at shutdown.
const GRACE: Duration = Duration::from_secs(5);

/// Challenges (transaction ids) outstanding at most.
const MAX_CHALLENGES: usize = 100_000;

/// What a reload may change.
pub struct ApiSettings {
    /// Who may call `/validate/*`.
    pub validate_clients: Vec<IpNet>,
    /// `/validate/*` needs an API key too.
    pub validate_requires_key: bool,
    /// Largest body.
    pub max_body: usize,
    /// Headers, then body, must arrive within this.
    pub timeout: Duration,
    /// `/validate` requests per second and source (0: no limit).
    pub rate_limit: u32,
    /// The configuration (enrolment defaults).
    pub config: Arc<Config>,
}

impl ApiSettings {
    fn new(config: &Config) -> ApiSettings {
        let a = &config.api;
        ApiSettings {
            validate_clients: a.validate_nets(),
            validate_requires_key: a.validate_requires_key,
            max_body: a.max_body_bytes,
            timeout: Duration::from_secs(a.request_timeout_secs),
            rate_limit: a.validate_rate_limit,
            config: Arc::new(config.clone()),
        }
    }

    /// May `ip` call `/validate/*`?
    pub fn validate_client(&self, ip: IpAddr) -> bool {
        self.validate_clients.iter().any(|n| n.contains(&ip))
    }
}

/// The shared state of every connection.
pub struct State {
    handler: Arc<Handler>,
    queue: Arc<CommitQueue>,
    admin: AdminSlot,
    challenges: ChallengeTable,
    limiter: RateLimiter,
    settings: RwLock<Arc<ApiSettings>>,
    tls: RwLock<Option<TlsAcceptor>>,
}

impl State {
    /// The settings in force.
    pub fn settings(&self) -> Arc<ApiSettings> {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn acceptor(&self) -> Option<TlsAcceptor> {
        self.tls.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn admin(&self) -> Arc<crate::admin::Admin> {
        self.admin.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Takes a reloaded configuration: clients, limits, and a new
    /// certificate and key when there are HTTPS listeners (the old ones
    /// stay in force when the new ones cannot be read). Listener changes
    /// need a restart.
    pub fn reload(&self, config: &Config) {
        if !config.api.listen_tls.is_empty() {
            match tls_acceptor(&config.api) {
                Ok(a) => *self.tls.write().unwrap_or_else(|e| e.into_inner()) = Some(a),
                Err(e) => {
                    tracing::error!(error = %e, "reload: the API's certificate or key cannot be read; the old ones stay in force")
                }
            }
        }
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) =
            Arc::new(ApiSettings::new(config));
    }
}

/// The bound, not yet serving, API.
pub struct Api {
    state: Arc<State>,
    plain: Vec<TcpListener>,
    tls: Vec<TcpListener>,
    max_connections: usize,
}

impl Api {
    /// Binds the listeners of `[api]` and reads its certificate; `None`
    /// when the API is off.
    pub async fn bind(
        config: &Config,
        handler: Arc<Handler>,
        queue: Arc<CommitQueue>,
        admin: AdminSlot,
    ) -> Result<Option<Api>, ServerError> {
        let a = &config.api;
        if !a.enabled() {
            return Ok(None);
        }
        let acceptor = if a.listen_tls.is_empty() {
            None
        } else {
            Some(tls_acceptor(a)?)
        };
        let bind = |addrs: Vec<SocketAddr>| async move {
            let mut out = Vec::new();
            for addr in addrs {
                out.push(
                    TcpListener::bind(addr)
                        .await
                        .map_err(|source| ServerError::Bind { addr, source })?,
                );
            }
            Ok::<_, ServerError>(out)
        };
        let plain = bind(a.listen_addrs()).await?;
        let tls = bind(a.tls_addrs()).await?;
        let state = Arc::new(State {
            handler,
            queue,
            admin,
            challenges: ChallengeTable::new(
                Duration::from_secs(config.challenge.timeout_secs),
                MAX_CHALLENGES,
            ),
            limiter: RateLimiter::new(),
            settings: RwLock::new(Arc::new(ApiSettings::new(config))),
            tls: RwLock::new(acceptor),
        });
        Ok(Some(Api {
            state,
            plain,
            tls,
            max_connections: a.max_connections,
        }))
    }

    /// The shared state (for reloads).
    pub fn state(&self) -> Arc<State> {
        self.state.clone()
    }

    /// The bound addresses: ("api", plain) and ("api-tls", HTTPS).
    pub fn addrs(&self) -> Vec<(&'static str, SocketAddr)> {
        let plain = self.plain.iter().map(|l| ("api", l));
        let tls = self.tls.iter().map(|l| ("api-tls", l));
        plain
            .chain(tls)
            .filter_map(|(k, l)| l.local_addr().ok().map(|a| (k, a)))
            .collect()
    }

    /// Starts serving.
    pub fn start(self) -> Running {
        let (stop, stop_rx) = watch::channel(false);
        let conns = Arc::new(Semaphore::new(self.max_connections));
        let listeners = self
            .plain
            .into_iter()
            .map(|l| (l, false))
            .chain(self.tls.into_iter().map(|l| (l, true)));
        let tasks = listeners
            .map(|(l, tls)| {
                tokio::spawn(accept_loop(
                    l,
                    tls,
                    self.state.clone(),
                    conns.clone(),
                    stop_rx.clone(),
                ))
            })
            .collect();
        Running {
            tasks,
            stop,
            conns,
            max: self.max_connections,
        }
    }
}

/// The serving API.
pub struct Running {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stop: watch::Sender<bool>,
    conns: Arc<Semaphore>,
    max: usize,
}

impl Running {
    /// Stops accepting, asks every connection to finish its request in
    /// flight and close, and waits for them (at most [`GRACE`]).
    pub async fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = self.stop.send(true);
        let all = self.conns.acquire_many(self.max as u32);
        if tokio::time::timeout(GRACE, all).await.is_err() {
            tracing::warn!("API connections still open after 5 s; closing them");
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: bool,
    state: Arc<State>,
    conns: Arc<Semaphore>,
    stop: watch::Receiver<bool>,
) {
    let mut warned: Option<std::time::Instant> = None;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: wait a little.
                if warned.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                    tracing::warn!(error = %e, "API: accept failed");
                    warned = Some(std::time::Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = conns.clone().try_acquire_owned() else {
            if warned.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                tracing::warn!(source = %peer.ip(), "API: max_connections reached; new connections are closed (not logged again for a minute)");
                warned = Some(std::time::Instant::now());
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let timeout = state.settings().timeout;
            if tls {
                let Some(acceptor) = state.acceptor() else {
                    return;
                };
                match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                    Ok(Ok(s)) => serve(s, peer, state, stop, timeout).await,
                    Ok(Err(e)) => {
                        tracing::debug!(source = %peer, error = %e, "API: TLS handshake failed")
                    }
                    Err(_) => tracing::debug!(source = %peer, "API: TLS handshake timed out"),
                }
            } else {
                serve(stream, peer, state, stop, timeout).await;
            }
        });
    }
}

async fn serve<IO>(
    io: IO,
    peer: SocketAddr,
    state: Arc<State>,
    mut stop: watch::Receiver<bool>,
    timeout: Duration,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(route(state, peer, req).await) }
    });
    let mut b = http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .max_buf_size(64 * 1024)
        .max_headers(64)
        .keep_alive(true);
    let conn = b.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(source = %peer, error = %e, "API connection closed");
            }
        }
        _ = async { let _ = stop.wait_for(|s| *s).await; } => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(GRACE, conn.as_mut()).await;
        }
    }
}

async fn route(state: Arc<State>, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    // An IPv4 client on a dual-stack socket is an IPv4 address here.
    let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
    let path = req.uri().path();
    if path.starts_with("/validate/") {
        validate::handle(&state, peer, req).await
    } else if path == "/api/v1" || path.starts_with("/api/v1/") {
        admin::handle(&state, peer, req).await
    } else if path == "/healthz" {
        http::ok(StatusCode::OK, serde_json::json!("ok"), None)
    } else {
        ApiError::not_found(
            "no such path: expected /validate/check, /validate/radiuscheck, /validate/triggerchallenge or /api/v1/...",
        )
        .response()
    }
}

/// The TLS acceptor of `[api]`'s certificate and key (rustls, ring).
pub fn tls_acceptor(api: &ApiConfig) -> Result<TlsAcceptor, ConfigError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let err = |path: &std::path::Path, message: String| ConfigError {
        file: path.display().to_string(),
        line: None,
        column: None,
        message,
    };
    let (Some(cert), Some(key)) = (&api.certificate, &api.private_key) else {
        return Err(ConfigError {
            file: "[api]".into(),
            line: None,
            column: None,
            message: "listen_tls needs certificate and private_key".into(),
        });
    };
    let (cert, key) = (cert.get_ref().as_path(), key.get_ref().as_path());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| err(cert, format!("[api] certificate: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(cert, format!("[api] certificate: {e}")))?;
    if certs.is_empty() {
        return Err(err(
            cert,
            "[api] certificate: no CERTIFICATE in this PEM file".into(),
        ));
    }
    let pkey = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| err(key, format!("[api] private_key: {e}")))?;
    // ring, as for the PostgreSQL link: it builds without cmake.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(cert, format!("[api] TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, pkey)
        .map_err(|e| err(key, format!("[api] certificate and private_key: {e}")))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}
