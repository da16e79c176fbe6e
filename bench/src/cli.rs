//! The command line: the generator's options at the top level, and the
//! `provision` and `disk` subcommands.
//!
//! Exit codes: 0 ok, 1 failed (for a run: a reply failed its checks),
//! 2 usage or config error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::disk::{self, DiskArgs};
use crate::load::{run_load, RunArgs};
use crate::provision::{provision, ProvisionArgs};
use crate::UsageError;

/// radotp-bench: load generator for any RADIUS server (PAP, CHAP, MS-CHAP,
/// MS-CHAP-V2), its population (`provision`), and the disk under radotp's
/// store (`disk`).
#[derive(Debug, Parser)]
#[command(name = "radotp-bench", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Cmd>,
    /// JSON output (one document on stdout).
    #[arg(long, global = true)]
    pub json: bool,
    /// radotp's configuration file (`provision --import` hands it to radotp;
    /// `disk` probes its store's directory).
    #[arg(
        short = 'c',
        long,
        value_name = "FILE",
        env = "RADOTP_CONFIG",
        global = true
    )]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create the benchmark population: seed list, CSV, and with --import
    /// radotp's users (through `radotp token import`); FreeRADIUS users file.
    Provision(ProvisionArgs),
    /// Measure the disk under the store: write + fdatasync latency, and the
    /// share of time a durable server's Accepts must wait on it.
    Disk(DiskArgs),
}

/// Runs the command line; returns the exit code.
pub fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let json = matches.get_flag("json");
    let e = match parse(&matches).and_then(run) {
        Ok(code) => return code,
        Err(e) => e,
    };
    let usage = e.is::<UsageError>();
    if json {
        let kind = if usage { "usage" } else { "failed" };
        let doc = serde_json::json!({ "ok": false, "error": format!("{e:#}"), "kind": kind });
        println!("{doc}");
    } else {
        eprintln!("radotp-bench: {e:#}");
    }
    ExitCode::from(if usage { 2 } else { 1 })
}

/// The command line from its matches. The generator's options belong to
/// a run: with a subcommand they are refused, not ignored. (clap's
/// `args_conflicts_with_subcommands` would refuse `--config` and `--json`
/// in front of a subcommand too.)
fn parse(m: &ArgMatches) -> anyhow::Result<Cli> {
    let cli = Cli::from_arg_matches(m)?;
    if let Some((name, _)) = m.subcommand() {
        let run_ids = RunArgs::augment_args(clap::Command::new("run"));
        let given: Vec<String> = run_ids
            .get_arguments()
            .filter(|a| m.value_source(a.get_id().as_str()) == Some(ValueSource::CommandLine))
            .map(|a| format!("--{}", a.get_long().unwrap_or(a.get_id().as_str())))
            .collect();
        if !given.is_empty() {
            return Err(UsageError(format!(
                "{} belong(s) to a load run, not to `{name}`",
                given.join(", ")
            ))
            .into());
        }
    }
    Ok(cli)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Some(Cmd::Provision(p)) => {
            let report = provision(&p, cli.config.as_deref())?;
            if cli.json {
                println!("{}", serde_json::json!({"ok": true, "result": report}));
            } else {
                print!("{}", report.text(&p));
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::Disk(d)) => {
            let dir = match &d.dir {
                Some(dir) => dir.clone(),
                None => disk::default_dir(&store_path(cli.config)?),
            };
            let report = disk::probe(&dir, &d)?;
            if cli.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{}", report.text());
            }
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let report = run_load(&cli.run)?;
            if cli.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{}", report.text());
            }
            Ok(if report.errors > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// The store path of radotp's configuration: `config`, else the installed
/// one when it exists, else the embedded example (as radotp chooses).
fn store_path(config: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let config = config.or_else(|| {
        let system = PathBuf::from(radotp::config::SYSTEM_CONFIG);
        system.exists().then_some(system)
    });
    let c = radotp::config::Config::load_or_default(config.as_deref())
        .map_err(|e| UsageError(e.to_string()))?;
    Ok(c.store.path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> anyhow::Result<Cli> {
        parse(&Cli::command().try_get_matches_from(args)?)
    }

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_go_before_a_subcommand_and_run_options_are_refused_with_one() {
        let c = parse_args(&["radotp-bench", "--config", "c.toml", "--json", "disk"]).unwrap();
        assert!(c.json && matches!(c.command, Some(Cmd::Disk(_))));
        assert_eq!(c.config.as_deref(), Some(std::path::Path::new("c.toml")));
        let e = parse_args(&["radotp-bench", "--concurrency", "5", "disk"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--concurrency") && e.contains("`disk`"), "{e}");
        let run = parse_args(&["radotp-bench", "--json", "--concurrency", "5"]).unwrap();
        assert!(run.command.is_none() && run.run.concurrency == 5);
    }
}
