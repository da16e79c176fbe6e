//! `radotp generate man|completions SHELL` (hidden): the man page and the
//! shell completions, generated from the clap definitions so that they never
//! disagree with `--help`. The Debian package build calls it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Subcommand};
use clap_complete::Shell;

use super::Cli;

/// What to generate.
#[derive(Debug, Subcommand)]
pub enum GenerateCmd {
    /// The man pages in roff: radotp(1) on stdout, or with --dir one file per
    /// (sub)command (radotp.1, radotp-serve.1, ...).
    Man {
        /// Write every page into this directory instead of radotp(1) to stdout.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// A completion script for SHELL on stdout.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: Shell,
    },
}

/// Runs a generate command.
pub fn run(cmd: GenerateCmd) -> anyhow::Result<ExitCode> {
    let mut command = Cli::command();
    match cmd {
        GenerateCmd::Man { dir: Some(dir) } => {
            std::fs::create_dir_all(&dir)?;
            clap_mangen::generate_to(command, &dir)?;
        }
        GenerateCmd::Man { dir: None } => {
            let mut out = Vec::new();
            clap_mangen::Man::new(command).render(&mut out)?;
            std::io::stdout().write_all(&out)?;
        }
        GenerateCmd::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command, "radotp", &mut out);
            std::io::stdout().write_all(&out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
