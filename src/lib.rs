//! radotp: a RADIUS server that authenticates network devices with one-time
//! passwords (TOTP, HOTP) over PAP, CHAP, MS-CHAP and MS-CHAP-V2.
//!
//! # Layout
//!
//! - [`secret`]: the `Secret` byte type (zeroed on drop, redacted in `Debug`,
//!   constant-time comparison) that carries every seed, PIN and password.
//! - [`clock`]: the injected clock; tests use a fixed one.
//! - [`otp`]: pure HOTP/TOTP computation and the candidate search around a
//!   token's drift, with replay protection and resync.
//! - [`qr`]: enrolment QR codes (terminal half blocks, SVG, PNG) for
//!   `otpauth://` URIs.
//! - [`radius`]: the RADIUS wire format — the codec (strict decoding,
//!   signed encoding), attributes, dictionary — and its cryptography; no I/O.
//! - [`auth`]: PAP, CHAP, MS-CHAP and MS-CHAP-V2: credential extraction,
//!   candidate matching and reply attributes (MPPE keys, MS-CHAP2-Success).
//! - [`store`]: users and tokens behind the `TokenStore` trait, with seeds
//!   and PINs encrypted: SQLite (default) or PostgreSQL (shared by several
//!   servers) on one schema, memory for tests; the old directory stores of
//!   0.1 and 0.2 are only read, by `radotp store migrate`.
//! - [`verify`]: the one verification path (server and `radotp otp check`):
//!   policy, candidate search with the PIN in front, the commit an Accept needs,
//!   failure counting and lockout, decoy work for unknown users.
//! - [`admin`]: every user and token operation as a request/reply pair,
//!   executed in the CLI process or by the daemon over its control socket.
//! - [`provision`]: hardware-token seed files — PSKC (RFC 6030) read and
//!   written, encrypted under a pre-shared key or a PBKDF2 password, and the
//!   Yubico OATH CSV and `serial,hex-seed` lists — as tokens to import.
//! - [`audit`]: the audit trail, a JSON line per authentication decision
//!   and per admin change.
//! - [`authz`]: authorization — the reply attributes of users, groups and
//!   clients merged into an Accept within the packet budget.
//! - [`config`]: the TOML configuration, with file:line:column errors.
//! - [`server`]: the daemon — UDP listeners and worker threads, the request
//!   pipeline (`handler`), the commit thread (`commit`), duplicate cache, challenge states,
//!   rate limit, control socket, metrics, RadSec, EAP conversations, the HTTP
//!   API (`server::api`: privacyIDEA-compatible `/validate/check` and the
//!   admin API under `/api/v1/`), reload and shutdown.
//! - [`cli`]: the command line (serve, user, token, otp, config, probe,
//!   stats). The load generator is the workspace's `radotp-bench` crate.
#![forbid(unsafe_code)]

pub mod admin;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod cli;
pub mod clock;
pub mod config;
pub mod otp;
pub mod provision;
pub mod qr;
pub mod radius;
pub mod secret;
pub mod server;
pub mod store;
pub mod verify;
