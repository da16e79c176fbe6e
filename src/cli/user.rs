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
        /// A group ([[group]] or a client's allow_groups); repeat it for
        /// several, the most specific first.
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
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
    /// Replace a user's groups or own reply attributes.
    #[command(arg_required_else_help = true)]
    Set {
        name: String,
        /// The user's groups, replacing the old ones; repeat it for several,
        /// the most specific first (a single-valued reply attribute comes
        /// from the first group that sets it).
        #[arg(long = "group", value_name = "GROUP", conflicts_with = "no_groups")]
        groups: Vec<String>,
        /// Take the user out of every group.
        #[arg(long)]
        no_groups: bool,
        /// The user's own reply attributes, replacing the old ones:
        /// `Attribute=value`, e.g. `Framed-IP-Address=10.0.0.5` or
        /// `Cisco-AVPair=shell:priv-lvl=15`; repeat it for several. They
        /// take precedence over the groups' and the client's.
        #[arg(
            long = "reply",
            value_name = "ATTRIBUTE=VALUE",
            conflicts_with = "no_reply"
        )]
        replies: Vec<String>,
        /// Remove the user's own reply attributes.
        #[arg(long)]
        no_reply: bool,
    },
}

/// Group commands.
#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    /// List the groups: reply attributes, members, clients that allow them.
    List,
}

/// Runs a user command.
pub fn run(ctx: &Ctx, cmd: UserCmd) -> anyhow::Result<ExitCode> {
    let req = match cmd {
        UserCmd::Add {
            name,
            pin,
            pin_prompt,
            challenge,
            groups,
        } => {
            let pin = if pin_prompt { Some(prompt_pin()?) } else { pin };
            AdminRequest::UserAdd {
                name,
                pin,
                challenge,
                groups,
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
        UserCmd::Set {
            name,
            groups,
            no_groups,
            replies,
            no_reply,
        } => {
            let replies: Vec<(String, String)> = replies
                .iter()
                .map(|r| parse_reply_arg(r))
                .collect::<Result<_, _>>()?;
            let groups = (no_groups || !groups.is_empty()).then_some(groups);
            let replies = (no_reply || !replies.is_empty()).then_some(replies);
            if groups.is_none() && replies.is_none() {
                return Err(super::UsageError(
                    "nothing to set: give --group, --no-groups, --reply or --no-reply".into(),
                )
                .into());
            }
            AdminRequest::UserSet {
                name,
                groups,
                replies,
            }
        }
    };
    let reply = ctx.admin(req)?;
    ctx.print_reply(&reply);
    Ok(ExitCode::SUCCESS)
}

/// `Attribute=value` (the value may itself hold `=`).
fn parse_reply_arg(s: &str) -> Result<(String, String), super::UsageError> {
    match s.split_once('=') {
        Some((a, v)) if !a.trim().is_empty() => Ok((a.trim().to_string(), v.to_string())),
        _ => Err(super::UsageError(format!(
            "'{s}': expected ATTRIBUTE=VALUE, e.g. Service-Type=Administrative-User"
        ))),
    }
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
