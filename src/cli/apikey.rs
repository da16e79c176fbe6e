//! `radotp apikey ...`: create, list and revoke the API keys of the HTTP
//! API (`[api]`). A key is printed once, when it is created; the store
//! keeps only its SHA-256.

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use super::Ctx;
use crate::admin::AdminRequest;
use crate::store::ApiScope;

/// What a new key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scope {
    /// The admin API under /api/v1/ (and /validate/*).
    Admin,
    /// Only /validate/* (when [api] validate_requires_key = true).
    Validate,
}

/// API key commands.
#[derive(Debug, Subcommand)]
pub enum ApiKeyCmd {
    /// Create a key and print it (once: only its hash is stored).
    Create {
        /// A name for logs and the audit trail (letters, digits, . _ -).
        name: String,
        /// What the key may do.
        #[arg(long, value_enum)]
        scope: Scope,
    },
    /// List keys (names, scopes, last use; never the keys).
    List,
    /// Revoke a key: it stops working at once.
    Revoke { name: String },
}

/// Runs an API key command.
pub fn run(ctx: &Ctx, cmd: ApiKeyCmd) -> anyhow::Result<ExitCode> {
    let req = match cmd {
        ApiKeyCmd::Create { name, scope } => AdminRequest::ApiKeyCreate {
            name,
            scope: match scope {
                Scope::Admin => ApiScope::Admin,
                Scope::Validate => ApiScope::Validate,
            },
        },
        ApiKeyCmd::List => AdminRequest::ApiKeyList,
        ApiKeyCmd::Revoke { name } => AdminRequest::ApiKeyRevoke { name },
    };
    let reply = ctx.admin(req)?;
    ctx.print_reply(&reply);
    Ok(ExitCode::SUCCESS)
}
