//! The daemon: UDP listeners (authentication and accounting, IPv4 and
//! IPv6), RadSec (RADIUS over TLS, [`radsec`]), the control socket, the metrics listener, reload on SIGHUP and a
//! bounded graceful shutdown.
//!
//! Only this module (with `server::api`, the HTTP API it starts) touches sockets. Datagrams are handled by
//! [`handler::Handler`] on a few worker threads per socket ([`workers`]),
//! and Accepts are sent by the commit thread once their use of the code is
//! committed ([`commit`]). `docs/ARCHITECTURE.md` draws the whole path.

pub mod api;
pub mod challenge;
pub mod clients;
pub mod commit;
pub mod control;
pub mod dedup;
pub mod eap;
pub mod failcap;
pub mod handler;
pub mod metrics;
pub mod radsec;
pub mod ratelimit;
pub mod stats;
pub mod workers;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

// Plain std sockets: the workers block on them; registered with tokio's
// reactor they would wake its threads on every datagram for nothing.
use std::net::UdpSocket;
use tokio::sync::watch;

use crate::admin::Admin;
use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::store::TokenStore;
use crate::verify::{Policy, Verifier};

use self::commit::{CommitQueue, CommitStats};
use self::handler::{Handler, Port, Settings};
use self::stats::Stats;
use self::workers::{WorkerStats, Workers};

/// Why the daemon cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("control socket {path}: {source}")]
    Control {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(#[from] ConfigError),
}

impl From<radsec::RadSecError> for ServerError {
    fn from(e: radsec::RadSecError) -> Self {
        match e {
            radsec::RadSecError::Tls(c) => ServerError::Config(c),
            radsec::RadSecError::Bind { addr, source } => ServerError::Bind { addr, source },
        }
    }
}

/// A bound, not yet running, daemon.
pub struct Server {
    handler: Arc<Handler>,
    auth: Vec<Arc<UdpSocket>>,
    acct: Vec<Arc<UdpSocket>>,
    control: Option<tokio::net::UnixListener>,
    metrics: Option<tokio::net::TcpListener>,
    radsec: Option<radsec::RadSec>,
    admin: control::AdminSlot,
    api: Option<api::Api>,
    api_state: Option<Arc<api::State>>,
    stats_fn: Arc<dyn Fn() -> serde_json::Value + Send + Sync>,
    store: Arc<dyn TokenStore>,
    commit: Arc<CommitStats>,
    queue: Arc<CommitQueue>,
    worker_stats: Arc<WorkerStats>,
    max_in_flight: usize,
    workers: usize,
    config_path: Option<PathBuf>,
    control_path: Option<PathBuf>,
}

impl Server {
    /// Binds every listener of `config`. `config_path` is re-read on reload
    /// (`None`: the embedded default, which does not change). With
    /// `control = false` no control socket is bound (tests).
    pub async fn bind(
        config: Config,
        config_path: Option<PathBuf>,
        store: Arc<dyn TokenStore>,
        clock: Arc<dyn Clock>,
        control: bool,
    ) -> Result<Server, ServerError> {
        let config = Arc::new(config);
        let verifier = Arc::new(Verifier::new(
            store.clone(),
            clock.clone(),
            Policy::of(&config),
        ));
        let stats = Arc::new(Stats::default());
        let commit = Arc::new(CommitStats::default());
        let worker_stats = Arc::new(WorkerStats::default());
        // The request path writes nothing itself: Accepts and failures go
        // to the commit thread, one transaction per batch (commit.rs).
        let queue = Arc::new(CommitQueue::new(
            store.clone(),
            commit.clone(),
            stats.clone(),
        ));
        let deferred = Arc::new(
            Verifier::new(store.clone(), clock.clone(), Policy::of(&config))
                .with_deferred_commit(queue.clone()),
        );
        let handler = Arc::new(Handler::new(
            Settings::new(&config, deferred)?,
            stats.clone(),
            Duration::from_secs(config.server.duplicate_cache_secs),
            config.server.duplicate_cache_mb << 20,
            Duration::from_secs(config.challenge.timeout_secs),
        ));
        let auth = bind_all(&config.listen_addrs())?;
        let acct = bind_all(&config.accounting_addrs())?;
        let radsec = match &config.radsec {
            Some(r) => Some(radsec::RadSec::bind(r).await?),
            None => None,
        };
        let metrics = match config.metrics_addr() {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServerError::Bind { addr, source })?,
            ),
            None => None,
        };
        let (control, control_path) = if control {
            let path = config.server.control_socket.clone();
            let l = control::bind(&path).map_err(|source| ServerError::Control {
                path: path.display().to_string(),
                source,
            })?;
            (Some(l), Some(path))
        } else {
            (None, None)
        };
        let stats_fn = {
            let stats = stats.clone();
            let commit = commit.clone();
            let ws = worker_stats.clone();
            Arc::new(move || {
                let mut v = stats.to_json();
                v["group_commit"] = commit.to_json();
                let (d, b) = (
                    ws.datagrams.load(std::sync::atomic::Ordering::Relaxed),
                    ws.batches.load(std::sync::atomic::Ordering::Relaxed),
                );
                v["group_commit"]["datagrams"] = serde_json::json!(d);
                v["group_commit"]["mean_datagrams_per_wakeup"] =
                    serde_json::json!(if b == 0 { 0.0 } else { d as f64 / b as f64 });
                // Waits that hold up every Accept of their batch: the tail.
                v["group_commit"]["waits_over_2500us"] =
                    serde_json::json!(stats.commit_latency.count_over(2_500));
                v
            }) as Arc<dyn Fn() -> serde_json::Value + Send + Sync>
        };
        let admin = Arc::new(std::sync::RwLock::new(Arc::new(
            Admin::new(verifier, config.clone()).with_stats(stats_fn.clone()),
        )));
        let api = api::Api::bind(&config, handler.clone(), queue.clone(), admin.clone()).await?;
        let api_state = api.as_ref().map(|a| a.state());
        Ok(Server {
            handler,
            auth,
            acct,
            control,
            metrics,
            radsec,
            admin,
            api,
            api_state,
            stats_fn,
            store,
            commit,
            queue,
            worker_stats,
            max_in_flight: config.server.max_in_flight,
            workers: config.server.workers,
            config_path,
            control_path,
        })
    }

    /// The bound authentication addresses (useful with port 0).
    pub fn auth_addrs(&self) -> Vec<SocketAddr> {
        self.auth
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }

    /// The bound accounting addresses.
    pub fn accounting_addrs(&self) -> Vec<SocketAddr> {
        self.acct
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }

    /// The bound RadSec (TLS) addresses; empty without `[radsec]`.
    pub fn radsec_addrs(&self) -> Vec<SocketAddr> {
        self.radsec
            .as_ref()
            .map(|r| r.local_addrs())
            .unwrap_or_default()
    }

    /// The bound HTTP API addresses: ("api", plain) and ("api-tls", HTTPS).
    pub fn api_addrs(&self) -> Vec<(&'static str, SocketAddr)> {
        self.api.as_ref().map(|a| a.addrs()).unwrap_or_default()
    }

    /// The bound metrics address.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The counters.
    pub fn stats(&self) -> Arc<Stats> {
        self.handler.stats().clone()
    }

    /// Group-commit counters (flushes, Accepts per flush).
    pub fn commit_stats(&self) -> Arc<CommitStats> {
        self.commit.clone()
    }

    /// The handler (tests drive it directly).
    pub fn handler(&self) -> Arc<Handler> {
        self.handler.clone()
    }

    /// Runs until `shutdown` turns true; then stops taking requests,
    /// finishes those in flight (at most 10 s), flushes the store and
    /// returns. A `reload` tick re-reads the config file.
    pub async fn run(
        self,
        mut shutdown: watch::Receiver<bool>,
        mut reload: watch::Receiver<u64>,
    ) -> Result<(), ServerError> {
        let per_auth = match self.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8)),
            n => n,
        };
        let mut sockets = Vec::new();
        for (sock, port, n) in self
            .auth
            .iter()
            .map(|s| (s, Port::Auth, per_auth))
            .chain(self.acct.iter().map(|s| (s, Port::Accounting, 1)))
        {
            let addr = sock.local_addr().ok();
            let std = workers::std_socket(sock).map_err(|source| ServerError::Bind {
                addr: addr.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
                source,
            })?;
            sockets.push((std, port, n));
        }
        let thread_err = |source| ServerError::Bind {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            source,
        };
        let committer = self.queue.start().map_err(thread_err)?;
        let workers = Workers::start(
            sockets,
            self.handler.clone(),
            self.queue.clone(),
            self.worker_stats.clone(),
            self.max_in_flight,
        )
        .map_err(thread_err)?;
        let mut this = self;
        let metrics_addr = this.metrics_addr();
        let api_addrs = this.api_addrs();
        let api = this.api.take().map(|a| a.start());
        let control = this
            .control
            .take()
            .map(|l| tokio::spawn(control::serve(l, this.admin.clone())));
        let metrics = this.metrics.take().map(|l| {
            tokio::spawn(metrics::serve(
                l,
                this.handler.stats().clone(),
                this.store.clone(),
            ))
        });
        let radsec_addrs = this.radsec_addrs();
        let (radsec_stop, radsec_stop_rx) = watch::channel(false);
        let radsec_tasks = match this.radsec.as_mut() {
            Some(r) => r.start(this.handler.clone(), this.queue.clone(), radsec_stop_rx),
            None => Vec::new(),
        };
        let this = this;
        for addr in &radsec_addrs {
            tracing::info!(%addr, kind = "radsec", "listening");
        }
        let udp = |s: &Arc<UdpSocket>| s.local_addr().ok();
        let auth = this.auth.iter().filter_map(udp).map(|a| ("auth", a));
        let acct = this.acct.iter().filter_map(udp).map(|a| ("accounting", a));
        for (kind, addr) in auth
            .chain(acct)
            .chain(metrics_addr.map(|a| ("metrics", a)))
            .chain(api_addrs)
        {
            tracing::info!(%addr, kind, "listening");
        }
        notify_systemd("READY=1");
        loop {
            tokio::select! {
                _ = shutdown.changed() => {
                    if *shutdown.borrow() { break; }
                }
                r = reload.changed() => {
                    if r.is_err() { continue; }
                    this.reload();
                }
            }
        }
        notify_systemd("STOPPING=1");
        tracing::info!("shutting down: finishing requests in flight");
        // RadSec: no new connections, no more reads; the replies in flight
        // are still written.
        let _ = radsec_stop.send(true);
        for t in radsec_tasks {
            t.abort();
        }
        // HTTP first: its Accepts in flight still reach the commit thread.
        if let Some(api) = api {
            api.stop().await;
        }
        let queue = this.queue.clone();
        let stopping = tokio::task::spawn_blocking(move || {
            workers.stop();
            // The commit thread decides and sends every Accept handed over.
            queue.stop();
            let _ = committer.join();
        });
        if tokio::time::timeout(Duration::from_secs(10), stopping)
            .await
            .is_err()
        {
            tracing::warn!("requests still in flight after 10 s; stopping anyway");
        }
        tracing::info!(group_commit = %this.commit.to_json(), "request path stopped");
        if let Some(c) = control {
            c.abort();
        }
        if let Some(m) = metrics {
            m.abort();
        }
        if let Some(p) = &this.control_path {
            let _ = std::fs::remove_file(p);
        }
        let store = this.store.clone();
        match tokio::task::spawn_blocking(move || store.sync()).await {
            Ok(Ok(())) => tracing::info!("store flushed; bye"),
            Ok(Err(e)) => tracing::error!(error = %e, "final store flush failed"),
            Err(e) => tracing::error!(error = %e, "final store flush failed"),
        }
        Ok(())
    }

    fn reload(&self) {
        // Type=notify-reload (systemd 253+) wants MONOTONIC_USEC with
        // RELOADING=1; under Type=notify it is harmless.
        notify_systemd(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
        let Some(path) = &self.config_path else {
            tracing::info!("reload: running on the embedded default config; nothing to re-read");
            notify_systemd("READY=1");
            return;
        };
        let result = Config::load(path).and_then(|c| {
            // The same store, clock, failure sink and per-user stripes: a
            // verification under way on the old policy and one on the new
            // still take turns per user, and no failure waiting to be
            // written is lost (locks and counts live in the store).
            let verifier = Arc::new(self.handler.settings().verifier.with_policy(Policy::of(&c)));
            Settings::new(&c, verifier).map(|s| (c, s))
        });
        match result {
            Ok((c, settings)) => {
                let n = settings.clients.len();
                // Reopened: logrotate moved the old file away.
                if let Err(e) = crate::audit::configure(c.audit.path.as_deref()) {
                    tracing::error!(error = %e, "reload: cannot open the audit trail; audit lines are lost until it opens");
                }
                if let Err(e) = crate::audit::configure_journal(c.audit.journal) {
                    tracing::error!(error = %e, "reload: [audit] journal: audit lines do not reach the journal");
                }
                // The admin path (control socket) gets the same policy.
                let admin = Admin::new(settings.verifier.clone(), Arc::new(c.clone()))
                    .with_stats(self.stats_fn.clone());
                *self.admin.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(admin);
                self.handler.replace_settings(settings);
                self.reload_radsec(&c);
                if let Some(api) = &self.api_state {
                    api.reload(&c);
                }
                let old: Vec<_> = self.auth_addrs();
                if c.listen_addrs()
                    .iter()
                    .any(|a| !old.contains(a) && a.port() != 0)
                {
                    tracing::warn!("reload: listener changes take effect only after a restart");
                }
                // The HTTP API's listeners likewise: say so rather than
                // leave an admin to wonder why the new port is closed.
                let bound: Vec<SocketAddr> = self.api_addrs().iter().map(|(_, a)| *a).collect();
                let wanted: Vec<SocketAddr> = c
                    .api
                    .listen_addrs()
                    .into_iter()
                    .chain(c.api.tls_addrs())
                    .collect();
                if wanted.iter().any(|a| !bound.contains(a) && a.port() != 0)
                    || (bound.is_empty() != wanted.is_empty())
                {
                    tracing::warn!(
                        "reload: [api] listener changes take effect only after a restart"
                    );
                }
                tracing::info!(clients = n, "configuration reloaded");
            }
            Err(e) => {
                tracing::error!(error = %e, "reload refused; the previous configuration stays in force");
            }
        }
        notify_systemd("READY=1");
    }
}

impl Server {
    /// RadSec on reload: new certificates and limits for new connections.
    fn reload_radsec(&self, c: &Config) {
        match (&self.radsec, &c.radsec) {
            (Some(r), Some(cfg)) => {
                match r.reload(cfg) {
                    Ok(()) => tracing::info!("radsec: certificates reloaded"),
                    Err(e) => {
                        tracing::error!(error = %e, "radsec reload refused; the previous certificates stay in force")
                    }
                }
                let old = r.local_addrs();
                if cfg
                    .listen_addrs()
                    .iter()
                    .any(|a| !old.contains(a) && a.port() != 0)
                {
                    tracing::warn!(
                        "reload: radsec listener changes take effect only after a restart"
                    );
                }
            }
            (None, Some(_)) | (Some(_), None) => {
                tracing::warn!(
                    "reload: turning [radsec] on or off takes effect only after a restart"
                );
            }
            (None, None) => {}
        }
    }
}

fn bind_all(addrs: &[SocketAddr]) -> Result<Vec<Arc<UdpSocket>>, ServerError> {
    let mut out = Vec::new();
    for &addr in addrs {
        let s = UdpSocket::bind(addr).map_err(|source| ServerError::Bind { addr, source })?;
        out.push(Arc::new(s));
    }
    Ok(out)
}

/// CLOCK_MONOTONIC in microseconds, as sd_notify's MONOTONIC_USEC wants it.
fn monotonic_usec() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64)
        .saturating_mul(1_000_000)
        .saturating_add(t.tv_nsec as u64 / 1_000)
}

/// Tells systemd (Type=notify) about the daemon's state, without libsystemd.
pub fn notify_systemd(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    let result = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|a| sock.send_to_addr(state.as_bytes(), &a))
    } else {
        sock.send_to(state.as_bytes(), &path)
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}
