//! radotp-bench: a RADIUS load generator for any server, the population it
//! sends (provisioned into radotp through its admin CLI, never its store),
//! and a probe of the disk under radotp's store. A development tool of the
//! workspace; not part of the radotp package.
//!
//! - [`population`]: the users, the seed list, the CSV for
//!   `radotp token import`, FreeRADIUS's `users` file.
//! - [`provision`]: `radotp-bench provision`, and the import through the
//!   `radotp` binary.
//! - [`load`]: the generator (`radotp-bench` without a subcommand).
//! - [`disk`]: `radotp-bench disk`.
//! - [`cli`]: the command line.
#![forbid(unsafe_code)]

pub mod cli;
pub mod disk;
pub mod load;
pub mod population;
pub mod provision;

/// A usage or configuration error (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
