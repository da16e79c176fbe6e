//! `radotp user ...`: add, list, show, delete, enable, disable, set-pin, unlock.

use std::process::ExitCode;

use clap::Subcommand;

use super::Ctx;
use crate::admin::AdminRequest;

/// User commands.
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add a user.
    Add {
        /// The login name, as the NAS sends it in User-Name.
        name: String,
        /// A PIN typed in front of the code (prompted for with --pin-prompt).
        #[arg(long, conflicts_with = "pin_prompt")]
        pin: Option<String>,
        /// Read the PIN from the terminal instead of the command line.
        #[arg(long)]
        pin_prompt: bool,
        /// Always ask for the code in a second step (PAP Access-Challenge).
        #[arg(long)]
        challenge: bool,
    },
    /// List users.
    List,
    /// Show one user.
    Show { name: String },
    /// Delete a user and all their tokens.
    Delete { name: String },
    /// Enable a user.
    Enable { name: String },
    /// Disable a user (always rejected).
    Disable { name: String },
    /// Set or clear a user's PIN.
    SetPin {
        name: String,
        /// The new PIN; omit it to be prompted, or give --clear.
        pin: Option<String>,
        /// Remove the PIN.
        #[arg(long, conflicts_with = "pin")]
        clear: bool,
    },
    /// Turn the two-step challenge flow on or off for a user.
    SetChallenge {
        name: String,
        /// on or off.
        #[arg(value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
        on: bool,
    },
    /// Clear a lockout and the failure count.
    Unlock { name: String },
}

/// Runs a user command.
pub fn run(ctx: &Ctx, cmd: UserCmd) -> anyhow::Result<ExitCode> {
    let req = match cmd {
        UserCmd::Add {
            name,
            pin,
            pin_prompt,
            challenge,
        } => {
            let pin = if pin_prompt { Some(prompt_pin()?) } else { pin };
            AdminRequest::UserAdd {
                name,
                pin,
                challenge,
            }
        }
        UserCmd::List => AdminRequest::UserList,
        UserCmd::Show { name } => AdminRequest::UserShow { name },
        UserCmd::Delete { name } => AdminRequest::UserDelete { name },
        UserCmd::Enable { name } => AdminRequest::UserEnable { name },
        UserCmd::Disable { name } => AdminRequest::UserDisable { name },
        UserCmd::SetPin { name, pin, clear } => {
            let pin = if clear {
                None
            } else {
                Some(match pin {
                    Some(p) => p,
                    None => prompt_pin()?,
                })
            };
            AdminRequest::UserSetPin { name, pin }
        }
        UserCmd::SetChallenge { name, on } => AdminRequest::UserSetChallenge {
            name,
            challenge: on,
        },
        UserCmd::Unlock { name } => AdminRequest::UserUnlock { name },
    };
    let reply = ctx.admin(req)?;
    ctx.print_reply(&reply);
    Ok(ExitCode::SUCCESS)
}

/// Reads a PIN from standard input (one line).
fn prompt_pin() -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    if std::io::stdin().is_terminal() {
        eprint!("PIN: ");
        std::io::stderr().flush()?;
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let pin = line.trim_end_matches(['\r', '\n']).to_string();
    if pin.is_empty() {
        return Err(super::UsageError("no PIN given on standard input".into()).into());
    }
    Ok(pin)
}
