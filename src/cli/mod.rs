//! The command line: clap definitions and dispatch, one file per command
//! group. Admin commands build an [`AdminRequest`] and hand it to the
//! running daemon over its control socket, or, with the daemon stopped,
//! execute it on the store directly: the same service code either way.
//!
//! Exit codes: 0 ok, 1 check or operation failed, 2 usage or config error.

pub mod apikey;
pub mod configcmd;
mod ctx;
pub mod generate;
pub mod otpcmd;
pub mod probe;
pub mod serve;
pub mod storecmd;
pub mod token;
pub mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use self::ctx::{format_unix, open_store, open_store_waiting, Ctx};
use crate::admin::{AdminError, AdminRequest, ErrorKind};

/// radotp: a RADIUS server for one-time passwords (TOTP/HOTP) over PAP,
/// CHAP, MS-CHAP and MS-CHAP-V2.
#[derive(Debug, Parser)]
#[command(name = "radotp", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Configuration file (default: /etc/radotp/radotp.toml when it exists,
    /// else the embedded example etc/radotp.toml).
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "RADOTP_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the RADIUS server in the foreground.
    Serve(serve::ServeArgs),
    /// Manage users.
    #[command(subcommand)]
    User(user::UserCmd),
    /// Manage tokens: enroll, activate, import, resync.
    #[command(subcommand)]
    Token(token::TokenCmd),
    /// Check a code offline, on the same path the server uses.
    #[command(subcommand)]
    Otp(otpcmd::OtpCmd),
    /// Check a configuration file.
    #[command(subcommand)]
    Config(configcmd::ConfigCmd),
    /// Send one Access-Request to a RADIUS server and show the reply.
    Probe(probe::ProbeArgs),
    /// Show the running daemon's counters.
    Stats,
    /// Groups ([[group]] in the config): their reply attributes, members
    /// and the clients that allow them.
    #[command(subcommand)]
    Group(user::GroupCmd),
    /// API keys of the HTTP API ([api]): create, list, revoke.
    #[command(subcommand)]
    Apikey(apikey::ApiKeyCmd),
    /// The token store itself: migrate, back up, show kind and size.
    #[command(subcommand)]
    Store(storecmd::StoreCmd),
    /// Generate the man page or shell completions (packaging).
    #[command(subcommand, hide = true)]
    Generate(generate::GenerateCmd),
}

/// Runs the CLI; returns the process exit code.
pub fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli) {
        Ok(code) => code,
        Err(e) if closed_stdout(&e) => ExitCode::from(141),
        Err(e) => {
            let (code, kind) = match e.downcast_ref::<AdminError>() {
                Some(a) if a.kind == ErrorKind::Usage => (2, "usage"),
                Some(_) => (1, "failed"),
                None => match e.downcast_ref::<UsageError>() {
                    Some(_) => (2, "usage"),
                    None => (1, "failed"),
                },
            };
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "ok": false, "error": format!("{e:#}"), "kind": kind })
                );
            } else {
                eprintln!("radotp: {e:#}");
            }
            ExitCode::from(code)
        }
    }
}

/// `radotp user list | head` closes the pipe early. Rust ignores SIGPIPE,
/// so the next write to stdout fails with EPIPE and `println!` panics
/// (other writes return the error: [`closed_stdout`]); the reader has all
/// it wanted, so the process ends quietly instead of printing a panic,
/// with the exit status a shell gives a program that SIGPIPE ended
/// (128 + 13). Every other panic goes to the default hook.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// Did the command fail writing to a stdout whose reader went away?
fn closed_stdout(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A usage or configuration error (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let ctx = Ctx {
        config_path: cli.config.clone().or_else(|| {
            let system = PathBuf::from(crate::config::SYSTEM_CONFIG);
            system.exists().then_some(system)
        }),
        json: cli.json,
        store: Default::default(),
    };
    match cli.command {
        Command::Serve(a) => serve::run(&ctx, a),
        Command::User(c) => user::run(&ctx, c),
        Command::Token(c) => token::run(&ctx, c),
        Command::Otp(c) => otpcmd::run(&ctx, c),
        Command::Config(c) => configcmd::run(&ctx, c),
        Command::Probe(a) => probe::run(&ctx, a),
        Command::Generate(c) => generate::run(c),
        Command::Store(cmd) => storecmd::run(&ctx, cmd),
        Command::Apikey(c) => apikey::run(&ctx, c),
        Command::Group(user::GroupCmd::List) => {
            let reply = ctx.admin(AdminRequest::GroupList)?;
            ctx.print_reply(&reply);
            Ok(ExitCode::SUCCESS)
        }
        Command::Stats => {
            let reply = ctx.admin(AdminRequest::Stats)?;
            ctx.print_reply(&reply);
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definitions_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
