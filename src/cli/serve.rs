//! `radotp serve`: the daemon in the foreground, logging to stdout.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use tokio::sync::watch;

use super::{open_store_waiting, Ctx};
use crate::clock::SystemClock;
use crate::server::Server;

/// Log line formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Plain lines; without timestamps under systemd (the journal adds them).
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// `serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// Sets up logging: level from RUST_LOG, else the config.
pub fn init_logging(level: &str, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let under_journal = std::env::var_os("JOURNAL_STREAM").is_some();
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stdout)
        .with_target(false);
    let fmt = match (format, under_journal) {
        (LogFormat::Json, _) => fmt.json().flatten_event(true).boxed(),
        (LogFormat::Text, true) => fmt.without_time().with_ansi(false).boxed(),
        (LogFormat::Text, false) => fmt.with_ansi(false).boxed(),
    };
    // The log has the configured level; the audit layer sees every
    // decision whatever that level is.
    let _ = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(crate::audit::AuditLayer.with_filter(tracing_subscriber::filter::LevelFilter::INFO))
        .try_init();
}

/// Runs the daemon until SIGTERM or SIGINT; SIGHUP reloads the config.
pub fn run(ctx: &Ctx, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = ctx.config()?;
    init_logging(&config.server.log_level, args.log_format);
    crate::audit::configure(config.audit.path.as_deref()).map_err(|e| {
        anyhow::anyhow!(
            "[audit] path {}: {e}",
            config
                .audit
                .path
                .as_deref()
                .unwrap_or(std::path::Path::new(""))
                .display()
        )
    })?;
    crate::audit::configure_journal(config.audit.journal)
        .map_err(|e| anyhow::anyhow!("[audit] journal: {e}"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // Opened outside the runtime, and dropped outside it at the end: the
    // PostgreSQL client runs its own, which may not be started or dropped
    // inside another's task.
    let store = open_store_waiting(&config, std::time::Duration::from_secs(10))?;
    let (users, tokens) = store.counts()?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        config = %ctx.config_path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| crate::config::DEFAULT_CONFIG_NAME.into()),
        store = %store_shown(&config),
        users, tokens,
        "radotp starting"
    );
    let keep = store.clone();
    let result = rt.block_on(async move {
        let server = Server::bind(
            config,
            ctx.config_path.clone(),
            store,
            Arc::new(SystemClock),
            true,
        )
        .await?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let (reload_tx, reload_rx) = watch::channel(0u64);
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            let mut n = 0u64;
            loop {
                tokio::select! {
                    _ = term.recv() => { tracing::info!("SIGTERM"); let _ = stop_tx.send(true); return; }
                    _ = int.recv() => { tracing::info!("SIGINT"); let _ = stop_tx.send(true); return; }
                    _ = hup.recv() => { n += 1; tracing::info!("SIGHUP: reloading"); let _ = reload_tx.send(n); }
                }
            }
        });
        server.run(stop_rx, reload_rx).await?;
        Ok::<_, anyhow::Error>(())
    });
    drop(rt);
    drop(keep);
    result?;
    Ok(ExitCode::SUCCESS)
}

/// Where the store is, for the start line (no password).
fn store_shown(config: &crate::config::Config) -> String {
    match config.store.backend {
        crate::config::Backend::Sqlite => config.store.path.display().to_string(),
        crate::config::Backend::Postgres => config
            .store
            .url
            .as_deref()
            .map(crate::store::postgres::redact_url)
            .unwrap_or_default(),
    }
}
