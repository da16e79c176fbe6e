//! `radotp config check [FILE]` and `radotp config show-default`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::{Ctx, UsageError};
use crate::config::{Config, DEFAULT_CONFIG, DEFAULT_CONFIG_NAME};

/// Config commands.
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Parse and validate a config file (default: --config, or the embedded one).
    /// Exit 0 when valid, 2 with file:line:column and the reason when not.
    Check {
        /// The file.
        file: Option<PathBuf>,
        /// With --client: show what this user would get through that client
        /// (reads the store, or asks the running daemon).
        #[arg(long, requires = "client")]
        user: Option<String>,
        /// The [[client]] name for --user.
        #[arg(long, requires = "user")]
        client: Option<String>,
    },
    /// Print the embedded default config (a starting point for your own).
    ShowDefault,
}

/// Runs a config command.
pub fn run(ctx: &Ctx, cmd: ConfigCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ConfigCmd::ShowDefault => {
            print!("{DEFAULT_CONFIG}");
            Ok(ExitCode::SUCCESS)
        }
        ConfigCmd::Check {
            file,
            user: Some(user),
            client: Some(client),
        } => {
            let ctx = Ctx {
                config_path: file.or_else(|| ctx.config_path.clone()),
                json: ctx.json,
                store: Default::default(),
            };
            let reply = ctx.admin(crate::admin::AdminRequest::ReplyPreview { user, client })?;
            ctx.print_reply(&reply);
            Ok(ExitCode::SUCCESS)
        }
        ConfigCmd::Check { file, .. } => {
            let path = file.or_else(|| ctx.config_path.clone());
            let name = path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| DEFAULT_CONFIG_NAME.to_string());
            let cfg =
                Config::load_or_default(path.as_deref()).map_err(|e| UsageError(e.to_string()))?;
            let clients = cfg.clients().map_err(|e| UsageError(e.to_string()))?;
            // RadSec: the certificate, key (and its mode) and CA load.
            let radsec: Vec<String> = match &cfg.radsec {
                Some(r) => {
                    crate::server::radsec::load_tls(r).map_err(|e| UsageError(e.to_string()))?;
                    r.listen_addrs().iter().map(|a| a.to_string()).collect()
                }
                None => Vec::new(),
            };
            // EAP: the PEAP/TTLS tunnel's certificate and key (and its mode).
            crate::server::eap::load_tls(&cfg.eap).map_err(|e| UsageError(e.to_string()))?;
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({ "ok": true, "file": name, "clients": clients.len(),
                        "listen": cfg.listen_addrs().iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                        "radsec": radsec })
                );
            } else {
                let radsec = if radsec.is_empty() {
                    String::new()
                } else {
                    format!("; RadSec on {}", radsec.join(", "))
                };
                println!(
                    "{name}: ok ({} client(s), listening on {}{radsec})",
                    clients.len(),
                    cfg.listen_addrs()
                        .iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
