//! `radotp otp check USER CODE`: the server's verification path, offline.

use std::process::ExitCode;

use clap::Subcommand;

use super::Ctx;
use crate::admin::{AdminReply, AdminRequest};

/// OTP commands.
#[derive(Debug, Subcommand)]
pub enum OtpCmd {
    /// Check a user's code (PIN followed by code when the user has a PIN).
    /// Exit 0 when accepted, 1 when rejected.
    Check {
        /// The user.
        user: String,
        /// The code, with the PIN in front if the user has one.
        code: String,
        /// Check only: record neither the use nor a failure.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs an OTP command.
pub fn run(ctx: &Ctx, cmd: OtpCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        OtpCmd::Check {
            user,
            code,
            dry_run,
        } => {
            let reply = ctx.admin(AdminRequest::OtpCheck {
                user,
                code,
                dry_run,
            })?;
            ctx.print_reply(&reply);
            Ok(match reply {
                AdminReply::Check(c) if c.accepted => ExitCode::SUCCESS,
                _ => ExitCode::from(1),
            })
        }
    }
}
