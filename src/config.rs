//! The TOML configuration: listeners, store, OTP policy, PIN policy,
//! lockout, challenge flow and NAS clients.
//!
//! [`Config::from_toml`] parses text (no I/O) and validates it; every error
//! names the file, line and column and says what was expected.
//! [`Config::load`] reads a file. Without `--config`, radotp runs on
//! [`DEFAULT_CONFIG`], the example `etc/radotp.toml` embedded in the binary.
//! Relative paths are taken from the current directory.

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use crate::radius::dictionary::{ConfigValue, Dictionary, Reply};

use crate::otp::{Algorithm, WindowPolicy};
use crate::secret::Secret;

/// The example configuration shipped in `etc/radotp.toml`, embedded so that
/// `radotp serve` works from a fresh clone without arguments.
pub const DEFAULT_CONFIG: &str = include_str!("../etc/radotp.toml");

/// The system configuration (the Debian package's), used when no
/// `--config` is given and the file exists.
pub const SYSTEM_CONFIG: &str = "/etc/radotp/radotp.toml";

/// The name shown for the embedded configuration in messages.
pub const DEFAULT_CONFIG_NAME: &str = "<embedded etc/radotp.toml>";

/// A configuration error with its place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct ConfigError {
    /// The file (or `<embedded ...>`).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What was wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{}:{}: {}", self.file, l, c, self.message),
            (Some(l), None) => write!(f, "{}:{}: {}", self.file, l, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listeners and daemon settings.
    #[serde(default)]
    pub server: ServerConfig,
    /// The token store.
    #[serde(default)]
    pub store: StoreConfig,
    /// OTP window and defaults.
    #[serde(default)]
    pub otp: OtpConfig,
    /// PIN rules.
    #[serde(default)]
    pub pin: PinConfig,
    /// Lockout after consecutive failures.
    #[serde(default)]
    pub lockout: LockoutConfig,
    /// The two-step (Access-Challenge) flow.
    #[serde(default)]
    pub challenge: ChallengeConfig,
    /// The audit trail.
    #[serde(default)]
    pub audit: AuditConfig,
    /// EAP (EAP-MSCHAPv2, EAP-GTC).
    #[serde(default)]
    pub eap: EapConfig,
    /// RadSec (RADIUS over TLS, RFC 6614); off when the section is absent.
    #[serde(default)]
    pub radsec: Option<RadSecConfig>,
    /// The HTTP API (privacyIDEA-compatible /validate, admin /api/v1).
    #[serde(default)]
    pub api: ApiConfig,
    /// NAS clients allowed to send requests.
    #[serde(default, rename = "client")]
    pub clients: Vec<Spanned<ClientConfig>>,
    /// Groups and the reply attributes their members get.
    #[serde(default, rename = "group")]
    pub groups: Vec<Spanned<GroupConfig>>,
    /// The attribute dictionary: built in, plus `[server]
    /// dictionary_dirs` (read by [`Config::from_toml`]).
    #[serde(skip, default = "Dictionary::builtin")]
    pub dictionary: std::sync::Arc<Dictionary>,
}

/// `[[group]]`: reply attributes for the members of a group.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// The group's name, as given to users (`radotp user add --group`).
    pub name: String,
    /// Attributes put in every Accept of a member: `{ "Service-Type" =
    /// "Administrative-User", "Cisco-AVPair" = ["shell:priv-lvl=15"] }`.
    #[serde(default)]
    pub reply: Option<Spanned<toml::Table>>,
}

/// Compiles a `reply = { ... }` table against the dictionary.
pub fn compile_reply(dict: &Dictionary, table: &toml::Table) -> Result<Vec<Reply>, String> {
    let mut out = Vec::new();
    for (key, value) in table {
        let one = |v: &toml::Value| match v {
            toml::Value::String(s) => Reply::parse(dict, key, &ConfigValue::Text(s)),
            toml::Value::Integer(n) => Reply::parse(dict, key, &ConfigValue::Int(*n)),
            other => Err(format!(
                "'{key}': expected text or an integer, found {}",
                other.type_str()
            )),
        };
        match value {
            toml::Value::Array(items) => {
                let first = items
                    .first()
                    .ok_or_else(|| format!("'{key}': the list is empty"))?;
                let r = one(first)?;
                if !r.def.multi && items.len() > 1 {
                    return Err(format!(
                        "'{}' may appear once in a reply; give one value, not a list",
                        r.def.name
                    ));
                }
                out.push(r);
                for v in &items[1..] {
                    out.push(one(v)?);
                }
            }
            v => out.push(one(v)?),
        }
    }
    Ok(out)
}

/// Bytes of reply attributes an Access-Accept has room for, after the
/// header, the Message-Authenticator and the method's own attributes
/// (MS-CHAP2-Success and MPPE keys, EAP-Success).
pub const REPLY_BUDGET: usize = 4096 - 20 - 18 - 256;

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// FreeRADIUS-format dictionaries to read besides the built-in one:
    /// a directory (its `dictionary` file) or a file, e.g.
    /// `["/usr/share/freeradius"]`.
    #[serde(default)]
    pub dictionary_dirs: Vec<Spanned<String>>,
    /// Authentication listeners, `ADDR:PORT` (IPv6 as `[::1]:1812`).
    #[serde(default = "default_listen")]
    pub listen: Vec<Spanned<String>>,
    /// Accounting listeners (empty: no accounting).
    #[serde(default = "default_accounting_listen")]
    pub accounting_listen: Vec<Spanned<String>>,
    /// The admin control socket (Unix socket, mode 0660).
    #[serde(default = "default_control_socket")]
    pub control_socket: PathBuf,
    /// How long a reply is kept to answer retransmissions (RFC 5080), seconds.
    #[serde(default = "default_duplicate_secs")]
    pub duplicate_cache_secs: u64,
    /// Memory for those replies, MiB: the oldest are overwritten first
    /// (about 100 bytes a PAP reply, 250 an MS-CHAP-V2 Accept with keys).
    #[serde(default = "default_duplicate_mb")]
    pub duplicate_cache_mb: usize,
    /// Most datagrams one worker takes from its socket before answering
    /// them (capped at 64); the Accepts among them share one flush.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Worker threads per authentication socket; 0: one per CPU core (at
    /// least 2).
    #[serde(default)]
    pub workers: usize,
    /// Log level (`error`, `warn`, `info`, `debug`, `trace`); `RUST_LOG` overrides.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// Prometheus metrics listener (loopback HTTP), off when absent.
    #[serde(default)]
    pub metrics_listen: Option<Spanned<String>>,
}

/// `[store] backend`: which database engine holds the state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// One SQLite file on this host (the default).
    #[default]
    Sqlite,
    /// A PostgreSQL database shared by several servers.
    Postgres,
}

/// `[store]`
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `"sqlite"` (default) or `"postgres"`.
    #[serde(default)]
    pub backend: Backend,
    /// SQLite: the database file.
    #[serde(default = "default_store_path")]
    pub path: PathBuf,
    /// PostgreSQL: `postgresql://USER@HOST:PORT/DB` (`?sslmode=require` for TLS).
    #[serde(default)]
    pub url: Option<String>,
    /// PostgreSQL: a file whose first line is the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// PostgreSQL with TLS: PEM file of the CA(s) the server's certificate
    /// must chain to (default: the web PKI roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PostgreSQL: connections kept open at most.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// The 32-byte key file (mode 0600) that encrypts seeds and PINs.
    #[serde(default = "default_key_file")]
    pub key_file: PathBuf,
    /// Page cache when `radotp store migrate` reads a sled store of 0.1, MiB.
    #[serde(default = "default_cache_mb")]
    pub cache_mb: u64,
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("backend", &self.backend)
            .field("path", &self.path)
            .field("url", &self.url.as_deref().map(redact_url))
            .field("password_file", &self.password_file)
            .field("ca_file", &self.ca_file)
            .field("pool_size", &self.pool_size)
            .field("key_file", &self.key_file)
            .finish()
    }
}

/// `[otp]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtpConfig {
    /// TOTP steps accepted on each side of the expected one.
    #[serde(default = "default_totp_window")]
    pub totp_window: u32,
    /// HOTP counters accepted beyond the next expected one.
    #[serde(default = "default_hotp_lookahead")]
    pub hotp_lookahead: u32,
    /// Largest remembered TOTP drift, in steps.
    #[serde(default = "default_max_drift")]
    pub max_drift: u32,
    /// TOTP resync window, steps on each side of now.
    #[serde(default = "default_resync_totp")]
    pub resync_totp_steps: u32,
    /// HOTP resync window, counters.
    #[serde(default = "default_resync_hotp")]
    pub resync_hotp: u32,
    /// Default digits for new tokens.
    #[serde(default = "default_digits")]
    pub digits: u32,
    /// Default TOTP period for new tokens, seconds.
    #[serde(default = "default_period")]
    pub period: u32,
    /// Default algorithm for new tokens.
    #[serde(default)]
    pub algorithm: Algorithm,
    /// Issuer shown in authenticator apps.
    #[serde(default = "default_issuer")]
    pub issuer: String,
}

/// `[pin]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinConfig {
    /// Every user must have a PIN.
    #[serde(default)]
    pub required: bool,
    /// Shortest PIN.
    #[serde(default = "default_pin_min")]
    pub min_length: usize,
    /// Longest PIN.
    #[serde(default = "default_pin_max")]
    pub max_length: usize,
    /// Only digits allowed.
    #[serde(default)]
    pub digits_only: bool,
}

/// `[audit]`: a JSON line per authentication decision and admin change.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The file (appended to, reopened on SIGHUP); absent: no file.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Also send every line to the systemd journal
    /// (`journalctl -t radotp-audit`).
    #[serde(default)]
    pub journal: bool,
}

/// `[lockout]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockoutConfig {
    /// Consecutive failures that lock a user (0: never).
    #[serde(default = "default_lock_threshold")]
    pub threshold: u32,
    /// How long the first lock lasts, seconds.
    #[serde(default = "default_lock_secs")]
    pub duration_secs: u64,
    /// The longest lock, seconds: each lock after the first (without a
    /// success between) lasts twice the one before, up to this.
    #[serde(default = "default_lock_max_secs")]
    pub max_duration_secs: u64,
    // --- lockout scope (issue 21 item 2) ---
    /// What failures count against and a lock refuses: "user" (default)
    /// or "user+source" (the user from one client and Calling-Station-Id
    /// only; see [`LockScope`]).
    #[serde(default = "default_lock_scope")]
    pub scope: Spanned<String>,
}

impl LockoutConfig {
    /// The scope, as validated by [`Config::from_toml`] ("user" if not).
    pub fn lock_scope(&self) -> LockScope {
        LockScope::parse(self.scope.get_ref()).unwrap_or_default()
    }
}

/// What failures count against and a lock refuses (`[lockout] scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockScope {
    /// The user, from wherever the attempts come (`"user"`).
    #[default]
    User,
    /// The user from one source ([`Options::source`]: the client name,
    /// and `/` and the Calling-Station-Id where the NAS sends one):
    /// a lock refuses that source only (`"user+source"`). A verification
    /// without a source counts against the user as under [`LockScope::User`].
    UserSource,
}

impl LockScope {
    /// The configuration's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LockScope::User => "user",
            LockScope::UserSource => "user+source",
        }
    }

    /// Parses the configuration's spelling.
    pub fn parse(s: &str) -> Option<LockScope> {
        match s {
            "user" => Some(LockScope::User),
            "user+source" => Some(LockScope::UserSource),
            _ => None,
        }
    }
}

fn default_lock_scope() -> Spanned<String> {
    Spanned::new(0..0, "user".into())
}

/// `[challenge]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeConfig {
    /// How long an issued State stays valid, seconds.
    #[serde(default = "default_challenge_secs")]
    pub timeout_secs: u64,
    /// Reply-Message of the Access-Challenge.
    #[serde(default = "default_challenge_prompt")]
    pub prompt: String,
}

/// `[eap]`: EAP over RADIUS (RFC 3579) with EAP-MSCHAPv2 and EAP-GTC.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EapConfig {
    /// Answer EAP (default true; false: an EAP request is rejected like
    /// one without a supported credential).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Methods offered, first proposed first: "peap", "ttls", "mschapv2", "gtc".
    #[serde(default = "default_eap_methods")]
    pub methods: Vec<Spanned<String>>,
    /// How long a conversation may wait for the peer's next round, seconds.
    #[serde(default = "default_eap_timeout")]
    pub timeout_secs: u64,
    /// Conversations in progress at most; a new one beyond is refused.
    #[serde(default = "default_eap_max")]
    pub max_conversations: usize,
    // --- PEAP and EAP-TTLS (the TLS tunnel methods).
    /// PEM file: the server certificate of the PEAP/TTLS tunnel, then its chain.
    #[serde(default)]
    pub certificate: Option<Spanned<PathBuf>>,
    /// PEM file: its private key (refused when group or others can read it).
    #[serde(default)]
    pub private_key: Option<Spanned<PathBuf>>,
    /// Largest TLS data sent in one EAP-Request, octets (fragments beyond).
    #[serde(default = "default_eap_fragment")]
    pub fragment_size: usize,
}

impl EapConfig {
    /// The EAP types of `methods`, in order (unknown names were refused by
    /// validation and are skipped here).
    pub fn method_types(&self) -> Vec<u8> {
        self.methods
            .iter()
            .filter_map(|m| eap_method_type(m.get_ref()))
            .collect()
    }

    fn validate(
        &self,
        err: &dyn Fn(Option<std::ops::Range<usize>>, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let mut seen = HashSet::new();
        for m in &self.methods {
            let Some(t) = eap_method_type(m.get_ref()) else {
                return Err(err(
                    Some(m.span()),
                    format!(
                        "[eap] methods: unknown method '{}': expected \"peap\", \"ttls\", \"mschapv2\" or \"gtc\"",
                        m.get_ref()
                    ),
                ));
            };
            if !seen.insert(t) {
                return Err(err(
                    Some(m.span()),
                    format!("[eap] methods: '{}' appears twice", m.get_ref()),
                ));
            }
        }
        if self.enabled && self.methods.is_empty() {
            return Err(err(
                None,
                "[eap] methods is empty: expected [\"mschapv2\", \"gtc\"] or a part, or enabled = false".into(),
            ));
        }
        if !(1..=600).contains(&self.timeout_secs) {
            return Err(err(
                None,
                format!(
                    "[eap] timeout_secs = {}: expected 1 to 600 (seconds)",
                    self.timeout_secs
                ),
            ));
        }
        if !(1..=1_000_000).contains(&self.max_conversations) {
            return Err(err(
                None,
                format!(
                    "[eap] max_conversations = {}: expected 1 to 1000000",
                    self.max_conversations
                ),
            ));
        }
        // PEAP and TTLS need the tunnel's certificate and key.
        if !(200..=3000).contains(&self.fragment_size) {
            return Err(err(
                None,
                format!(
                    "[eap] fragment_size = {}: expected 200 to 3000 (octets)",
                    self.fragment_size
                ),
            ));
        }
        let tunnel = self.methods.iter().find(|m| {
            matches!(
                eap_method_type(m.get_ref()),
                Some(crate::auth::eap::typ::PEAP | crate::auth::eap::typ::TTLS)
            )
        });
        if let Some(m) = tunnel {
            if self.enabled && (self.certificate.is_none() || self.private_key.is_none()) {
                return Err(err(
                    Some(m.span()),
                    format!(
                        "[eap] methods: '{}' needs [eap] certificate and private_key (PEM files)",
                        m.get_ref()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// `[radsec]`: RADIUS over TLS (RFC 6614) with client certificates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadSecConfig {
    /// TCP listeners, `ADDR:PORT` (default `0.0.0.0:2083`).
    #[serde(default = "default_radsec_listen")]
    pub listen: Vec<Spanned<String>>,
    /// PEM file: the server's certificate, then its chain.
    pub certificate: Spanned<PathBuf>,
    /// PEM file: the server's private key (refused if group or others can
    /// access it).
    pub private_key: Spanned<PathBuf>,
    /// PEM file: the CA(s) a client certificate must chain to.
    pub client_ca: Spanned<PathBuf>,
    /// Seconds a TLS handshake may take before the connection is closed.
    #[serde(default = "default_radsec_handshake")]
    pub handshake_timeout_secs: u64,
    /// Seconds a connection may stay silent (nothing in flight) before it
    /// is closed.
    #[serde(default = "default_radsec_idle")]
    pub idle_timeout_secs: u64,
    /// Requests one connection may have unanswered at once; past that the
    /// connection is not read until one is answered.
    #[serde(default = "default_radsec_in_flight")]
    pub max_in_flight: usize,
    /// Connections open at once (handshaking or not); one more is closed
    /// at once.
    #[serde(default = "default_radsec_connections")]
    pub max_connections: usize,
}

impl RadSecConfig {
    /// The parsed listeners.
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        parse_addrs(&self.listen)
    }

    fn validate(
        &self,
        err: &dyn Fn(Option<std::ops::Range<usize>>, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        for l in &self.listen {
            if l.get_ref().parse::<SocketAddr>().is_err() {
                return Err(err(
                    Some(l.span()),
                    format!(
                        "[radsec] listen: '{}' is not a socket address: expected \"ADDRESS:PORT\", e.g. \"0.0.0.0:2083\"",
                        l.get_ref()
                    ),
                ));
            }
        }
        if self.listen.is_empty() {
            return Err(err(
                None,
                "[radsec] listen is empty: expected at least one \"ADDRESS:PORT\" (remove [radsec] to turn RadSec off)".into(),
            ));
        }
        for (name, p) in [
            ("certificate", &self.certificate),
            ("private_key", &self.private_key),
            ("client_ca", &self.client_ca),
        ] {
            if p.get_ref().as_os_str().is_empty() {
                return Err(err(
                    Some(p.span()),
                    format!("[radsec] {name} is empty: expected the path of a PEM file"),
                ));
            }
        }
        let ranges: [(&str, u64, u64, u64); 4] = [
            (
                "handshake_timeout_secs",
                self.handshake_timeout_secs,
                1,
                300,
            ),
            ("idle_timeout_secs", self.idle_timeout_secs, 1, 86_400),
            ("max_in_flight", self.max_in_flight as u64, 1, 4096),
            ("max_connections", self.max_connections as u64, 1, 100_000),
        ];
        for (name, v, lo, hi) in ranges {
            if !(lo..=hi).contains(&v) {
                return Err(err(
                    None,
                    format!("[radsec] {name} = {v}: expected {lo} to {hi}"),
                ));
            }
        }
        Ok(())
    }
}

fn default_radsec_listen() -> Vec<Spanned<String>> {
    vec![Spanned::new(0..0, "0.0.0.0:2083".to_string())]
}
fn default_radsec_handshake() -> u64 {
    10
}
fn default_radsec_idle() -> u64 {
    300
}
fn default_radsec_in_flight() -> usize {
    256
}
fn default_radsec_connections() -> usize {
    1024
}

/// The RADIUS shared secret on TLS when a client sets none (RFC 6614 §2.3).
pub const RADSEC_DEFAULT_SECRET: &str = "radsec";

fn eap_method_type(name: &str) -> Option<u8> {
    match name.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
        "mschapv2" | "eapmschapv2" => Some(crate::auth::eap::typ::MSCHAPV2),
        "gtc" | "eapgtc" => Some(crate::auth::eap::typ::GTC),
        "peap" | "peapv0" => Some(crate::auth::eap::typ::PEAP),
        "ttls" | "eapttls" => Some(crate::auth::eap::typ::TTLS),
        _ => None,
    }
}

fn default_eap_methods() -> Vec<Spanned<String>> {
    vec![
        Spanned::new(0..0, "mschapv2".into()),
        Spanned::new(0..0, "gtc".into()),
    ]
}
fn default_eap_timeout() -> u64 {
    30
}
fn default_eap_max() -> usize {
    4096
}
fn default_eap_fragment() -> usize {
    1000
}

/// `[api]`: the HTTP API — privacyIDEA-compatible `/validate/check` and
/// `/validate/radiuscheck`, and the admin API under `/api/v1/` (API keys).
/// Off while both listener lists are empty (the default).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Plain HTTP listeners, `ADDR:PORT`: loopback addresses only.
    #[serde(default)]
    pub listen: Vec<Spanned<String>>,
    /// HTTPS listeners (any address); need `certificate` and `private_key`.
    #[serde(default)]
    pub listen_tls: Vec<Spanned<String>>,
    /// PEM certificate chain of the HTTPS listeners, the server's first.
    #[serde(default)]
    pub certificate: Option<Spanned<PathBuf>>,
    /// PEM private key of that certificate (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub private_key: Option<Spanned<PathBuf>>,
    /// Who may call `/validate/*`: addresses or CIDRs (the TCP peer).
    #[serde(default = "default_validate_clients")]
    pub validate_clients: Vec<Spanned<String>>,
    /// `/validate/*` also needs an API key (scope `validate` or `admin`)
    /// in `Authorization: Bearer KEY`.
    #[serde(default)]
    pub validate_requires_key: bool,
    /// Largest request body, bytes; more is answered 413.
    #[serde(default = "default_api_max_body")]
    pub max_body_bytes: usize,
    /// Time a client has to send a request's headers, and then its body,
    /// seconds; an idle keep-alive connection is closed after it too.
    #[serde(default = "default_api_timeout")]
    pub request_timeout_secs: u64,
    /// Connections served at once; more are closed at once.
    #[serde(default = "default_api_max_connections")]
    pub max_connections: usize,
    /// `/validate/*` requests per second from one source address (token
    /// bucket, burst of the same size); more are answered 429. 0: no limit.
    #[serde(default)]
    pub validate_rate_limit: u32,
}

impl ApiConfig {
    /// Is the API on (any listener)?
    pub fn enabled(&self) -> bool {
        !self.listen.is_empty() || !self.listen_tls.is_empty()
    }

    /// The parsed plain listeners.
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        parse_addrs(&self.listen)
    }

    /// The parsed HTTPS listeners.
    pub fn tls_addrs(&self) -> Vec<SocketAddr> {
        parse_addrs(&self.listen_tls)
    }

    /// The parsed `validate_clients`.
    pub fn validate_nets(&self) -> Vec<IpNet> {
        self.validate_clients
            .iter()
            .filter_map(|s| parse_net(s.get_ref()))
            .map(|n| n.trunc())
            .collect()
    }

    fn validate(
        &self,
        err: &dyn Fn(Option<std::ops::Range<usize>>, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        for (l, tls) in self
            .listen
            .iter()
            .map(|l| (l, false))
            .chain(self.listen_tls.iter().map(|l| (l, true)))
        {
            let Ok(addr) = l.get_ref().parse::<SocketAddr>() else {
                return Err(err(
                    Some(l.span()),
                    format!(
                        "[api] '{}' is not a socket address: expected \"ADDRESS:PORT\", e.g. \"127.0.0.1:8080\" or \"[::]:8443\"",
                        l.get_ref()
                    ),
                ));
            };
            if !tls && !addr.ip().is_loopback() {
                return Err(err(
                    Some(l.span()),
                    format!(
                        "[api] listen '{}': plain HTTP is allowed on loopback addresses only (127.0.0.0/8, ::1); put it in listen_tls with a certificate and private_key",
                        l.get_ref()
                    ),
                ));
            }
        }
        match (&self.certificate, &self.private_key) {
            (None, None) if !self.listen_tls.is_empty() => {
                return Err(err(
                    self.listen_tls.first().map(|l| l.span()),
                    "[api] listen_tls needs certificate = \"PEM FILE\" and private_key = \"PEM FILE\"".into(),
                ))
            }
            (Some(_), None) | (None, Some(_)) => {
                let span = self
                    .certificate
                    .as_ref()
                    .map(|c| c.span())
                    .or_else(|| self.private_key.as_ref().map(|k| k.span()));
                return Err(err(
                    span,
                    "[api] give certificate and private_key together".into(),
                ));
            }
            (Some(c), Some(_)) if self.listen_tls.is_empty() => {
                return Err(err(
                    Some(c.span()),
                    "[api] certificate and private_key are given but listen_tls is empty: expected e.g. listen_tls = [\"0.0.0.0:8443\"]".into(),
                ))
            }
            _ => {}
        }
        for c in &self.validate_clients {
            if parse_net(c.get_ref()).is_none() {
                return Err(err(
                    Some(c.span()),
                    format!(
                        "[api] validate_clients: '{}' is not an IP address or CIDR: expected e.g. \"127.0.0.1/32\", \"10.0.0.0/8\" or \"::1\"",
                        c.get_ref()
                    ),
                ));
            }
        }
        if !(1024..=16 << 20).contains(&self.max_body_bytes) {
            return Err(err(
                None,
                format!(
                    "[api] max_body_bytes = {}: expected 1024 to 16777216",
                    self.max_body_bytes
                ),
            ));
        }
        if !(1..=300).contains(&self.request_timeout_secs) {
            return Err(err(
                None,
                format!(
                    "[api] request_timeout_secs = {}: expected 1 to 300 (seconds)",
                    self.request_timeout_secs
                ),
            ));
        }
        if !(1..=65_536).contains(&self.max_connections) {
            return Err(err(
                None,
                format!(
                    "[api] max_connections = {}: expected 1 to 65536",
                    self.max_connections
                ),
            ));
        }
        Ok(())
    }
}

fn parse_net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

fn default_validate_clients() -> Vec<Spanned<String>> {
    vec![
        Spanned::new(0..0, "127.0.0.1/32".into()),
        Spanned::new(0..0, "::1/128".into()),
    ]
}
fn default_api_max_body() -> usize {
    64 * 1024
}
fn default_api_timeout() -> u64 {
    10
}
fn default_api_max_connections() -> usize {
    256
}

/// `[[client]]`: one NAS or a network of them.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// A name for logs and metrics.
    pub name: String,
    /// Source address or CIDR.
    #[serde(deserialize_with = "de_ipnet")]
    pub address: IpNet,
    /// The shared secret (or use `secret_file`).
    #[serde(default, deserialize_with = "de_secret_opt")]
    pub secret: Option<Secret>,
    /// A file holding the shared secret (first line).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Drop Access-Requests without a Message-Authenticator (BlastRADIUS).
    #[serde(default = "default_true")]
    pub require_message_authenticator: bool,
    /// Requests per second accepted from this client (token bucket, burst
    /// of the same size); excess datagrams are dropped and counted as
    /// `rate_limited`. 0 (the default): no limit.
    #[serde(default)]
    pub rate_limit: u32,
    /// RadSec: the name the client certificate must carry (a DNS or IP
    /// subjectAltName, or the subject's common name); absent: any
    /// certificate from `[radsec] client_ca` will do for this address.
    #[serde(default)]
    pub tls_name: Option<String>,
    /// RadSec: the RADIUS shared secret on TLS (default `radsec`, RFC
    /// 6614 §2.3); `secret` stays the one for UDP.
    #[serde(default, deserialize_with = "de_secret_opt")]
    pub radsec_secret: Option<Secret>,
    /// Only members of these groups may log in through this client
    /// (absent: every user may).
    #[serde(default)]
    pub allow_groups: Option<Vec<String>>,
    /// Failed attempts a minute after which this client's requests are
    /// refused until the minute ends (0: no cap); see `server::failcap`.
    #[serde(default)]
    pub max_failures_per_minute: u32,
    /// Attributes put in every Accept sent to this client.
    #[serde(default)]
    pub reply: Option<Spanned<toml::Table>>,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("secret_file", &self.secret_file)
            .field(
                "require_message_authenticator",
                &self.require_message_authenticator,
            )
            .field("rate_limit", &self.rate_limit)
            .field("tls_name", &self.tls_name)
            .field(
                "radsec_secret",
                &self.radsec_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

fn de_ipnet<'de, D: serde::Deserializer<'de>>(d: D) -> Result<IpNet, D::Error> {
    let s = String::deserialize(d)?;
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net);
    }
    s.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
        serde::de::Error::custom(format!(
            "'{s}' is not an IP address or CIDR: expected e.g. \"192.0.2.10\", \"10.0.0.0/8\" or \"::1\""
        ))
    })
}

fn de_secret_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    let s = String::deserialize(d)?;
    Ok(Some(Secret::from(s)))
}

fn default_listen() -> Vec<Spanned<String>> {
    vec![Spanned::new(0..0, "127.0.0.1:1812".to_string())]
}
fn default_accounting_listen() -> Vec<Spanned<String>> {
    Vec::new()
}
fn default_control_socket() -> PathBuf {
    PathBuf::from("var/radotp.sock")
}
fn default_duplicate_secs() -> u64 {
    30
}
fn default_duplicate_mb() -> usize {
    8
}
fn default_max_in_flight() -> usize {
    1024
}
fn default_log_level() -> String {
    "info".into()
}
fn default_store_path() -> PathBuf {
    PathBuf::from("var/radotp.sqlite")
}
fn default_pool_size() -> usize {
    8
}
fn default_key_file() -> PathBuf {
    PathBuf::from("var/radotp.key")
}
fn default_cache_mb() -> u64 {
    16
}
fn default_totp_window() -> u32 {
    1
}
fn default_hotp_lookahead() -> u32 {
    10
}
fn default_max_drift() -> u32 {
    10
}
fn default_resync_totp() -> u32 {
    20
}
fn default_resync_hotp() -> u32 {
    1000
}
fn default_digits() -> u32 {
    6
}
fn default_period() -> u32 {
    30
}
fn default_issuer() -> String {
    "radotp".into()
}
fn default_pin_min() -> usize {
    4
}
fn default_pin_max() -> usize {
    32
}
fn default_lock_threshold() -> u32 {
    10
}
fn default_lock_secs() -> u64 {
    300
}
fn default_lock_max_secs() -> u64 {
    172_800
}
fn default_challenge_secs() -> u64 {
    60
}
fn default_challenge_prompt() -> String {
    "Enter your one-time code".into()
}
fn default_true() -> bool {
    true
}

macro_rules! default_from_serde {
    ($($t:ty),*) => {$(
        impl Default for $t {
            fn default() -> Self {
                toml::from_str("").expect("all fields have defaults")
            }
        }
    )*};
}
default_from_serde!(
    ServerConfig,
    StoreConfig,
    OtpConfig,
    PinConfig,
    LockoutConfig,
    ChallengeConfig,
    EapConfig,
    ApiConfig
);

/// A NAS client ready for use: the secret resolved.
#[derive(Clone)]
pub struct Client {
    /// Name for logs.
    pub name: String,
    /// Address or network.
    pub address: IpNet,
    /// Shared secret.
    pub secret: Secret,
    /// See [`ClientConfig::require_message_authenticator`].
    pub require_message_authenticator: bool,
    /// See [`ClientConfig::rate_limit`] (0: no limit).
    pub rate_limit: u32,
    /// See [`ClientConfig::tls_name`].
    pub tls_name: Option<String>,
    /// The shared secret on RadSec (`radsec` unless the client sets one).
    pub radsec_secret: Secret,
    /// See [`ClientConfig::allow_groups`].
    pub allow_groups: Option<Vec<String>>,
    /// See [`ClientConfig::max_failures_per_minute`].
    pub max_failures_per_minute: u32,
    /// The client's reply attributes.
    pub reply: Vec<Reply>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("secret", &"[redacted]")
            .field(
                "require_message_authenticator",
                &self.require_message_authenticator,
            )
            .field("rate_limit", &self.rate_limit)
            .field("tls_name", &self.tls_name)
            .field("allow_groups", &self.allow_groups)
            .field("max_failures_per_minute", &self.max_failures_per_minute)
            .field("reply", &self.reply.len())
            .finish()
    }
}

impl Config {
    /// Parses and validates TOML `text`; `file` names it in errors.
    /// Secret files are not read here (see [`Config::clients`]).
    pub fn from_toml(text: &str, file: &str) -> Result<Config, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| line_col(text, s.start))
                .map_or((None, None), |(l, c)| (Some(l), Some(c)));
            ConfigError {
                file: file.to_string(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        if !cfg.server.dictionary_dirs.is_empty() {
            let paths: Vec<PathBuf> = cfg
                .server
                .dictionary_dirs
                .iter()
                .map(|d| PathBuf::from(d.get_ref()))
                .collect();
            let dict = crate::radius::dictfile::load(&paths).map_err(|e| ConfigError {
                file: e.file.clone(),
                line: (e.line > 0).then_some(e.line),
                column: None,
                message: format!("{} (a dictionary of [server] dictionary_dirs)", e.message),
            })?;
            cfg.dictionary = std::sync::Arc::new(dict);
        }
        cfg.validate(text, file)?;
        Ok(cfg)
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: name.clone(),
            line: None,
            column: None,
            message: format!("cannot read: {e}"),
        })?;
        Config::from_toml(&text, &name)
    }

    /// The file given, or the embedded default.
    pub fn load_or_default(path: Option<&Path>) -> Result<Config, ConfigError> {
        match path {
            Some(p) => Config::load(p),
            None => Config::from_toml(DEFAULT_CONFIG, DEFAULT_CONFIG_NAME),
        }
    }

    fn validate(&self, text: &str, file: &str) -> Result<(), ConfigError> {
        let err = |span: Option<std::ops::Range<usize>>, message: String| {
            let (line, column) = span
                .filter(|s| !(s.start == 0 && s.end == 0))
                .map(|s| line_col(text, s.start))
                .map_or((None, None), |(l, c)| (Some(l), Some(c)));
            ConfigError {
                file: file.to_string(),
                line,
                column,
                message,
            }
        };
        for l in self
            .server
            .listen
            .iter()
            .chain(&self.server.accounting_listen)
            .chain(&self.server.metrics_listen)
        {
            if l.get_ref().parse::<SocketAddr>().is_err() {
                return Err(err(
                    Some(l.span()),
                    format!(
                        "'{}' is not a socket address: expected \"ADDRESS:PORT\", e.g. \"0.0.0.0:1812\" or \"[::]:1812\"",
                        l.get_ref()
                    ),
                ));
            }
        }
        if self.server.listen.is_empty() {
            return Err(err(
                None,
                "[server] listen is empty: expected at least one \"ADDRESS:PORT\"".into(),
            ));
        }
        if !(1..=1024).contains(&self.server.duplicate_cache_mb) {
            return Err(err(
                None,
                format!(
                    "[server] duplicate_cache_mb = {}: expected 1 to 1024 (MiB)",
                    self.server.duplicate_cache_mb
                ),
            ));
        }
        if self.server.max_in_flight == 0 {
            return Err(err(
                None,
                "[server] max_in_flight must be at least 1".into(),
            ));
        }
        if tracing_level_ok(&self.server.log_level).is_none() {
            return Err(err(
                None,
                format!(
                    "[server] log_level '{}': expected error, warn, info, debug or trace",
                    self.server.log_level
                ),
            ));
        }
        let l = &self.lockout;
        if l.threshold != 0 && l.max_duration_secs < l.duration_secs {
            return Err(err(
                None,
                format!(
                    "[lockout] max_duration_secs = {} is below duration_secs = {}: expected the longest lock to be at least the first",
                    l.max_duration_secs, l.duration_secs
                ),
            ));
        }
        if LockScope::parse(l.scope.get_ref()).is_none() {
            return Err(err(
                Some(l.scope.span()),
                format!(
                    "[lockout] scope = \"{}\": expected \"user\" or \"user+source\"",
                    l.scope.get_ref()
                ),
            ));
        }
        let o = &self.otp;
        if !crate::otp::valid_digits(o.digits) {
            return Err(err(
                None,
                format!("[otp] digits = {}: expected 6, 7 or 8", o.digits),
            ));
        }
        if !crate::otp::valid_period(o.period) {
            return Err(err(
                None,
                format!("[otp] period = {}: expected 10 to 300 seconds", o.period),
            ));
        }
        if o.totp_window > 10 || o.hotp_lookahead > 100 {
            return Err(err(
                None,
                "[otp] totp_window must be at most 10 and hotp_lookahead at most 100: wider windows make guessing easier".into(),
            ));
        }
        match (self.store.backend, &self.store.url) {
            (Backend::Postgres, None) => {
                return Err(err(
                    None,
                    "[store] backend = \"postgres\" needs url = \"postgresql://USER@HOST:5432/DB\""
                        .into(),
                ))
            }
            (Backend::Postgres, Some(u))
                if !(u.starts_with("postgresql://") || u.starts_with("postgres://")) =>
            {
                return Err(err(
                    None,
                    format!(
                        "[store] url '{}': expected postgresql://USER@HOST:PORT/DB",
                        redact_url(u)
                    ),
                ))
            }
            _ => {}
        }
        if !(1..=256).contains(&self.store.pool_size) {
            return Err(err(None, "[store] pool_size: expected 1 to 256".into()));
        }
        if self.pin.min_length > self.pin.max_length || self.pin.max_length > 64 {
            return Err(err(
                None,
                "[pin] expected min_length <= max_length <= 64".into(),
            ));
        }
        self.eap.validate(&err)?;
        if let Some(r) = &self.radsec {
            r.validate(&err)?;
        }
        self.api.validate(&err)?;
        let mut names = HashSet::new();
        let mut nets = HashSet::new();
        for c in &self.clients {
            let span = Some(c.span());
            let cl = c.get_ref();
            if cl.name.trim().is_empty() {
                return Err(err(span, "[[client]] name is empty".into()));
            }
            match (&cl.secret, &cl.secret_file) {
                (Some(_), Some(_)) => {
                    return Err(err(
                        span,
                        format!("client '{}': give secret or secret_file, not both", cl.name),
                    ))
                }
                (None, None) => {
                    return Err(err(
                        span,
                        format!(
                            "client '{}': expected secret = \"...\" or secret_file = \"PATH\"",
                            cl.name
                        ),
                    ))
                }
                (Some(s), None) if s.is_empty() => {
                    return Err(err(span, format!("client '{}': secret is empty", cl.name)))
                }
                _ => {}
            }
            if cl.tls_name.as_deref().is_some_and(|n| n.trim().is_empty()) {
                return Err(err(
                    span,
                    format!("client '{}': tls_name is empty", cl.name),
                ));
            }
            if cl.radsec_secret.as_ref().is_some_and(|s| s.is_empty()) {
                return Err(err(
                    span,
                    format!("client '{}': radsec_secret is empty", cl.name),
                ));
            }
            if !names.insert(cl.name.clone()) {
                return Err(err(
                    span,
                    format!("client name '{}' appears twice", cl.name),
                ));
            }
            if !nets.insert(cl.address.trunc()) {
                return Err(err(
                    span,
                    format!("client address {} appears twice", cl.address),
                ));
            }
        }
        let mut group_names = HashSet::new();
        let mut group_bytes = 0;
        for g in &self.groups {
            let name = &g.get_ref().name;
            if name.trim().is_empty() {
                return Err(err(Some(g.span()), "[[group]] name is empty".into()));
            }
            if !group_names.insert(name.clone()) {
                return Err(err(
                    Some(g.span()),
                    format!("group name '{name}' appears twice"),
                ));
            }
            if let Some(t) = &g.get_ref().reply {
                let replies = compile_reply(&self.dictionary, t.get_ref())
                    .map_err(|m| err(Some(t.span()), format!("group '{name}': reply: {m}")))?;
                group_bytes += replies.iter().map(Reply::wire_len).sum::<usize>();
            }
        }
        for c in &self.clients {
            let cl = c.get_ref();
            if let Some(t) = &cl.reply {
                let replies = compile_reply(&self.dictionary, t.get_ref()).map_err(|m| {
                    err(Some(t.span()), format!("client '{}': reply: {m}", cl.name))
                })?;
                let total = group_bytes + replies.iter().map(Reply::wire_len).sum::<usize>();
                if total > REPLY_BUDGET {
                    return Err(err(
                        Some(t.span()),
                        format!(
                            "client '{}': its reply attributes and those of every group take {total} bytes; an Access-Accept has room for {REPLY_BUDGET}",
                            cl.name
                        ),
                    ));
                }
            }
            if let Some(groups) = &cl.allow_groups {
                if groups.iter().any(|g| g.trim().is_empty()) {
                    return Err(err(
                        Some(c.span()),
                        format!("client '{}': allow_groups has an empty name", cl.name),
                    ));
                }
            }
        }
        if group_bytes > REPLY_BUDGET {
            return Err(err(
                None,
                format!("the reply attributes of all groups take {group_bytes} bytes; an Access-Accept has room for {REPLY_BUDGET}"),
            ));
        }
        Ok(())
    }

    /// Each `[[group]]`'s reply attributes.
    pub fn group_replies(&self) -> Vec<(String, Vec<Reply>)> {
        self.groups
            .iter()
            .map(|g| {
                let g = g.get_ref();
                let replies = g
                    .reply
                    .as_ref()
                    .and_then(|t| compile_reply(&self.dictionary, t.get_ref()).ok())
                    .unwrap_or_default();
                (g.name.clone(), replies)
            })
            .collect()
    }

    /// The clients with their secrets resolved (reads `secret_file`s).
    pub fn clients(&self) -> Result<Vec<Client>, ConfigError> {
        self.clients
            .iter()
            .map(|c| {
                let c = c.get_ref();
                let secret = match (&c.secret, &c.secret_file) {
                    (Some(s), _) => s.clone(),
                    (None, Some(path)) => {
                        read_secret_file(path).map_err(|message| ConfigError {
                            file: path.display().to_string(),
                            line: None,
                            column: None,
                            message: format!("secret_file of client '{}': {message}", c.name),
                        })?
                    }
                    (None, None) => unreachable_secret(),
                };
                Ok(Client {
                    name: c.name.clone(),
                    address: c.address.trunc(),
                    secret,
                    require_message_authenticator: c.require_message_authenticator,
                    rate_limit: c.rate_limit,
                    tls_name: c.tls_name.clone(),
                    radsec_secret: c
                        .radsec_secret
                        .clone()
                        .unwrap_or_else(|| Secret::from(RADSEC_DEFAULT_SECRET)),
                    allow_groups: c.allow_groups.clone(),
                    max_failures_per_minute: c.max_failures_per_minute,
                    reply: match &c.reply {
                        Some(t) => {
                            compile_reply(&self.dictionary, t.get_ref()).map_err(|message| {
                                ConfigError {
                                    file: String::new(),
                                    line: None,
                                    column: None,
                                    message: format!("client '{}': reply: {message}", c.name),
                                }
                            })?
                        }
                        None => Vec::new(),
                    },
                })
            })
            .collect()
    }

    /// The OTP search policy.
    pub fn window(&self) -> WindowPolicy {
        WindowPolicy {
            totp_window: self.otp.totp_window,
            hotp_lookahead: self.otp.hotp_lookahead,
            max_drift: self.otp.max_drift,
            resync_totp_steps: self.otp.resync_totp_steps,
            resync_hotp: self.otp.resync_hotp,
        }
    }

    /// The parsed authentication listeners.
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        parse_addrs(&self.server.listen)
    }

    /// The parsed accounting listeners.
    pub fn accounting_addrs(&self) -> Vec<SocketAddr> {
        parse_addrs(&self.server.accounting_listen)
    }

    /// The parsed metrics listener.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.server
            .metrics_listen
            .as_ref()
            .and_then(|s| s.get_ref().parse().ok())
    }

    /// Checks a PIN against `[pin]`; the error says what is expected.
    pub fn check_pin(&self, pin: &str) -> Result<(), String> {
        let n = pin.chars().count();
        if n < self.pin.min_length || n > self.pin.max_length {
            return Err(format!(
                "PIN must be {} to {} characters",
                self.pin.min_length, self.pin.max_length
            ));
        }
        if self.pin.digits_only && !pin.chars().all(|c| c.is_ascii_digit()) {
            return Err("PIN must be digits only".into());
        }
        if pin.chars().any(|c| c.is_control()) {
            return Err("PIN must not contain control characters".into());
        }
        Ok(())
    }
}

// Validation guarantees a secret or a secret_file; keep the type total anyway.
fn unreachable_secret() -> Secret {
    Secret::default()
}

fn parse_addrs(list: &[Spanned<String>]) -> Vec<SocketAddr> {
    list.iter()
        .filter_map(|s| s.get_ref().parse().ok())
        .collect()
}

fn read_secret_file(path: &Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if line.is_empty() {
        return Err("the first line is empty: expected the shared secret".into());
    }
    Ok(Secret::from(line.to_string()))
}

/// The tracing level for a config name.
pub fn tracing_level_ok(level: &str) -> Option<tracing::Level> {
    level.parse().ok()
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A database URL with any password replaced, for logs, errors and
/// `Debug` (here, beside the `[store] url` it redacts).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "[unparsable url]".into();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some((a, h)) => (Some(a), h),
        None => (None, rest),
    };
    match auth {
        Some(a) if a.contains(':') => {
            let user = a.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:[redacted]@{host}")
        }
        Some(a) => format!("{scheme}://{a}@{host}"),
        None => format!("{scheme}://{host}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eap_defaults_and_bad_method_names_its_line() {
        let c = Config::from_toml("", "t.toml").unwrap();
        assert!(c.eap.enabled);
        assert_eq!(c.eap.method_types(), [26, 6]);
        assert_eq!(c.eap.max_conversations, 4096);
        let e =
            Config::from_toml("[eap]\nmethods = [\"gtc\",\n \"peapv2\"]\n", "t.toml").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.to_string().contains("peapv2"), "{e}");
        let e = Config::from_toml("[eap]\nmax_conversations = 0\n", "t.toml").unwrap_err();
        assert!(e.to_string().contains("max_conversations"), "{e}");
    }

    // --- [eap] PEAP/TTLS keys.
    #[test]
    fn eap_peap_ttls_names_need_certificate_and_fragment_size_is_bounded() {
        let c = Config::from_toml(
            "[eap]\nmethods = [\"peap\", \"ttls\"]\ncertificate = \"c.pem\"\nprivate_key = \"k.pem\"\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.eap.method_types(), [25, 21]);
        assert_eq!(c.eap.fragment_size, 1000);
        let e = Config::from_toml("[eap]\nmethods = [\"ttls\"]\n", "t.toml").unwrap_err();
        assert!(e.to_string().contains("certificate and private_key"), "{e}");
        assert_eq!(e.line, Some(2), "{e}");
        let e = Config::from_toml("[eap]\nfragment_size = 100\n", "t.toml").unwrap_err();
        assert!(e.to_string().contains("fragment_size"), "{e}");
        // Disabled EAP needs no certificate.
        assert!(
            Config::from_toml("[eap]\nenabled = false\nmethods = [\"peap\"]\n", "t.toml").is_ok()
        );
    }

    #[test]
    fn group_and_client_replies_are_checked_with_their_line() {
        let ok = "[[group]]\nname = \"ops\"\nreply = { \"Service-Type\" = \"Administrative-User\", \"Cisco-AVPair\" = [\"a=1\", \"b=2\"] }\n";
        let c = Config::from_toml(ok, "t.toml").unwrap();
        let g = c.group_replies();
        assert_eq!((g[0].0.as_str(), g[0].1.len()), ("ops", 3));
        for (text, line, says) in [
            ("[[group]]\nname = \"a\"\n\nreply = { \"No-Such\" = 1 }\n", 4, "unknown attribute 'No-Such'"),
            ("[[group]]\nname = \"a\"\nreply = { \"Session-Timeout\" = \"soon\" }\n", 3, "Session-Timeout"),
            ("[[group]]\nname = \"a\"\nreply = { \"Service-Type\" = [\"Login-User\", \"Framed-User\"] }\n", 3, "may appear once"),
            ("[[group]]\nname = \"a\"\n[[group]]\nname = \"a\"\n", 3, "appears twice"),
            ("[[client]]\nname = \"c\"\naddress = \"127.0.0.1\"\nsecret = \"s\"\nreply = { \"Framed-IP-Address\" = \"10.0.0\" }\n", 5, "IPv4"),
        ] {
            let e = Config::from_toml(text, "t.toml").unwrap_err();
            assert_eq!(e.line, Some(line), "{text}: {e}");
            assert!(e.message.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn replies_that_would_overflow_an_accept_are_a_config_error() {
        let long = "x".repeat(240);
        let many: Vec<String> = (0..17).map(|_| format!("\"{long}\"")).collect();
        let text = format!(
            "[[group]]\nname = \"big\"\nreply = {{ \"Reply-Message\" = [{}] }}\n",
            many.join(", ")
        );
        let e = Config::from_toml(&text, "t.toml").unwrap_err();
        assert!(e.message.contains("room for 3802"), "{e}");
        let fits: Vec<String> = (0..15).map(|_| format!("\"{long}\"")).collect();
        let text = format!(
            "[[group]]\nname = \"big\"\nreply = {{ \"Reply-Message\" = [{}] }}\n[[client]]\nname = \"c\"\naddress = \"127.0.0.1\"\nsecret = \"s\"\nreply = {{ \"Reply-Message\" = [\"{long}\", \"{long}\"] }}\n",
            fits.join(", ")
        );
        let e = Config::from_toml(&text, "t.toml").unwrap_err();
        assert!(e.message.contains("client 'c'"), "{e}");
    }

    #[test]
    fn a_bad_dictionary_file_is_reported_with_its_own_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("dictionary");
        std::fs::write(
            &f,
            "VENDOR Acme 65000\n\nATTRIBUTE Acme-X 1 nonsense Acme\n",
        )
        .unwrap();
        let text = format!("[server]\ndictionary_dirs = [\"{}\"]\n", d.path().display());
        let e = Config::from_toml(&text, "t.toml").unwrap_err();
        assert_eq!(e.file, f.display().to_string());
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("nonsense"), "{e}");
        std::fs::write(&f, "VENDOR Acme 65000\nATTRIBUTE Acme-X 1 string Acme\n").unwrap();
        let text = format!(
            "[server]\ndictionary_dirs = [\"{}\"]\n[[group]]\nname = \"g\"\nreply = {{ \"Acme-X\" = \"hello\" }}\n",
            d.path().display()
        );
        let c = Config::from_toml(&text, "t.toml").unwrap();
        assert_eq!(c.group_replies()[0].1[0].def.vendor, 65000);
    }

    #[test]
    fn api_is_off_by_default_and_plain_http_only_on_loopback() {
        let c = Config::from_toml("", "t.toml").unwrap();
        assert!(!c.api.enabled());
        assert_eq!(c.api.validate_nets().len(), 2, "127.0.0.1 and ::1");
        let ok = "[api]\nlisten = [\"127.0.0.1:8080\", \"[::1]:8080\", \"127.0.0.2:1\"]\n";
        let c = Config::from_toml(ok, "t.toml").unwrap();
        assert!(c.api.enabled());
        assert_eq!(c.api.listen_addrs().len(), 3);
        for bad in ["0.0.0.0:8080", "[::]:8080", "192.0.2.1:80"] {
            let text = format!("[api]\nlisten = [\n  \"127.0.0.1:8080\",\n  \"{bad}\",\n]\n");
            let e = Config::from_toml(&text, "t.toml").unwrap_err();
            assert_eq!(e.line, Some(4), "{e}");
            assert!(
                e.message.contains("loopback") && e.message.contains("listen_tls"),
                "{e}"
            );
        }
        let e = Config::from_toml("[api]\nlisten = [\"localhost:80\"]\n", "t.toml").unwrap_err();
        assert!(e.message.contains("ADDRESS:PORT"), "{e}");
    }

    #[test]
    fn api_tls_needs_certificate_and_key_and_checks_its_values() {
        let e =
            Config::from_toml("[api]\nlisten_tls = [\"0.0.0.0:8443\"]\n", "t.toml").unwrap_err();
        assert!(e.message.contains("certificate"), "{e}");
        assert_eq!(e.line, Some(2), "{e}");
        let e = Config::from_toml(
            "[api]\nlisten_tls = [\"0.0.0.0:8443\"]\ncertificate = \"c.pem\"\n",
            "t.toml",
        )
        .unwrap_err();
        assert!(e.message.contains("together"), "{e}");
        let e = Config::from_toml(
            "[api]\ncertificate = \"c\"\nprivate_key = \"k\"\n",
            "t.toml",
        )
        .unwrap_err();
        assert!(e.message.contains("listen_tls is empty"), "{e}");
        let c = Config::from_toml(
            "[api]\nlisten_tls = [\"0.0.0.0:8443\"]\ncertificate = \"c\"\nprivate_key = \"k\"\nvalidate_clients = [\"10.0.0.0/8\", \"192.0.2.7\"]\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.api.tls_addrs().len(), 1);
        let nets = c.api.validate_nets();
        assert!(nets
            .iter()
            .any(|n| n.contains(&"10.1.2.3".parse::<IpAddr>().unwrap())));
        assert!(!nets
            .iter()
            .any(|n| n.contains(&"127.0.0.1".parse::<IpAddr>().unwrap())));
        let e = Config::from_toml("[api]\nvalidate_clients = [\n \"10.0.0.0/33\"]\n", "t.toml")
            .unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        for (k, v) in [
            ("max_body_bytes", "10"),
            ("request_timeout_secs", "0"),
            ("max_connections", "0"),
        ] {
            let e = Config::from_toml(&format!("[api]\n{k} = {v}\n"), "t.toml").unwrap_err();
            assert!(
                e.message.contains(k) && e.message.contains("expected"),
                "{e}"
            );
        }
        let e = Config::from_toml("[api]\nlisten_tsl = []\n", "t.toml").unwrap_err();
        assert_eq!(e.line, Some(2), "typo: {e}");
    }

    #[test]
    fn embedded_default_config_is_valid() {
        let c = Config::from_toml(DEFAULT_CONFIG, DEFAULT_CONFIG_NAME).unwrap();
        assert!(!c.listen_addrs().is_empty());
        assert!(!c.clients().unwrap().is_empty());
    }

    #[test]
    fn empty_config_takes_defaults() {
        let c = Config::from_toml("", "x.toml").unwrap();
        assert_eq!(c.otp.totp_window, 1);
        assert_eq!(c.otp.hotp_lookahead, 10);
        assert_eq!(c.lockout.threshold, 10);
        assert_eq!(c.lockout.duration_secs, 300);
        assert_eq!(c.lockout.max_duration_secs, 172_800);
        assert_eq!(c.challenge.timeout_secs, 60);
        assert!(c.clients.is_empty());
    }

    #[test]
    fn lockout_longest_lock_below_the_first_is_refused() {
        let text = "[lockout]\nduration_secs = 600\nmax_duration_secs = 60\n";
        let e = Config::from_toml(text, "x.toml").unwrap_err().to_string();
        assert!(
            e.contains("max_duration_secs = 60") && e.contains("expected"),
            "{e}"
        );
    }

    #[test]
    fn lockout_scope_unknown_value_names_its_line_and_the_choices() {
        let text = "[server]\n\n[lockout]\nthreshold = 5\nscope = \"source\"\n";
        let e = Config::from_toml(text, "s.toml").unwrap_err();
        assert_eq!(e.line, Some(5), "{e}");
        assert!(e.message.contains("scope = \"source\""), "{e}");
        assert!(e.message.contains("\"user+source\""), "{e}");
        for (v, want) in [
            ("user", LockScope::User),
            ("user+source", LockScope::UserSource),
        ] {
            let c = Config::from_toml(&format!("[lockout]\nscope = \"{v}\"\n"), "s.toml").unwrap();
            assert_eq!(c.lockout.lock_scope(), want);
        }
        let c = Config::from_toml("", "s.toml").unwrap();
        assert_eq!(c.lockout.lock_scope(), LockScope::User);
    }

    #[test]
    fn typo_in_key_names_file_line_and_column() {
        let text = "[server]\nlisten = [\"127.0.0.1:1812\"]\n\n[otp]\ntotp_windwo = 2\n";
        let e = Config::from_toml(text, "etc/x.toml").unwrap_err();
        assert_eq!(e.file, "etc/x.toml");
        assert_eq!(e.line, Some(5), "{e}");
        assert_eq!(e.column, Some(1), "{e}");
        assert!(e.message.contains("totp_windwo"), "{e}");
        assert!(e.message.contains("expected"), "{e}");
        assert!(e.to_string().starts_with("etc/x.toml:5:1: "), "{e}");
    }

    #[test]
    fn wrong_type_names_line_and_column() {
        let text = "[lockout]\nthreshold = \"ten\"\n";
        let e = Config::from_toml(text, "c.toml").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert_eq!(e.column, Some(13), "{e}");
        assert!(e.message.contains("expected u32"), "{e}");
    }

    #[test]
    fn duplicate_cache_mb_out_of_range_says_what_is_expected() {
        for v in ["0", "2048"] {
            let text = format!("[server]\nduplicate_cache_mb = {v}\n");
            let e = Config::from_toml(&text, "c.toml").unwrap_err();
            assert_eq!(e.file, "c.toml");
            assert!(e.message.contains("duplicate_cache_mb"), "{e}");
            assert!(e.message.contains("expected 1 to 1024"), "{e}");
        }
        let ok = Config::from_toml("[server]\nduplicate_cache_mb = 16\n", "c.toml").unwrap();
        assert_eq!(ok.server.duplicate_cache_mb, 16);
    }

    #[test]
    fn bad_client_address_names_its_line() {
        let text = "[[client]]\nname = \"sw1\"\naddress = \"10.0.0.300\"\nsecret = \"s\"\n";
        let e = Config::from_toml(text, "c.toml").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("10.0.0.300"), "{e}");
    }

    #[test]
    fn bad_listen_address_names_its_line() {
        let text = "[server]\nlisten = [\n  \"127.0.0.1:1812\",\n  \"localhost\",\n]\n";
        let e = Config::from_toml(text, "c.toml").unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("ADDRESS:PORT"), "{e}");
    }

    #[test]
    fn client_needs_exactly_one_secret_source() {
        let none = "[[client]]\nname = \"a\"\naddress = \"10.0.0.1\"\n";
        let e = Config::from_toml(none, "c.toml").unwrap_err();
        assert!(e.message.contains("secret"), "{e}");
        assert_eq!(e.line, Some(1), "the [[client]] table: {e}");
        let both = "[[client]]\nname = \"a\"\naddress = \"10.0.0.1\"\nsecret = \"x\"\nsecret_file = \"/f\"\n";
        let e = Config::from_toml(both, "c.toml").unwrap_err();
        assert!(e.message.contains("not both"), "{e}");
    }

    #[test]
    fn duplicate_client_addresses_are_refused() {
        let text = "[[client]]\nname = \"a\"\naddress = \"10.0.0.1\"\nsecret = \"x\"\n\n[[client]]\nname = \"b\"\naddress = \"10.0.0.1/32\"\nsecret = \"y\"\n";
        let e = Config::from_toml(text, "c.toml").unwrap_err();
        assert!(e.message.contains("twice"), "{e}");
        assert_eq!(e.line, Some(6), "the second [[client]] table: {e}");
    }

    #[test]
    fn secret_file_is_read_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, "from-file\nignored\n").unwrap();
        let text = format!(
            "[[client]]\nname = \"a\"\naddress = \"10.0.0.0/8\"\nsecret_file = \"{}\"\n",
            p.display()
        );
        let c = Config::from_toml(&text, "c.toml").unwrap();
        let clients = c.clients().unwrap();
        assert!(clients[0].secret.ct_eq(b"from-file"));
        assert!(clients[0].require_message_authenticator);
    }

    #[test]
    fn debug_output_hides_client_secrets() {
        let text = "[[client]]\nname = \"a\"\naddress = \"10.0.0.1\"\nsecret = \"topsecret99\"\n";
        let c = Config::from_toml(text, "c.toml").unwrap();
        assert!(!format!("{c:?}").contains("topsecret99"));
        assert!(!format!("{:?}", c.clients().unwrap()).contains("topsecret99"));
    }

    #[test]
    fn radsec_defaults_and_errors_name_their_line() {
        let base = "[radsec]\ncertificate = \"/c.pem\"\nprivate_key = \"/k.pem\"\nclient_ca = \"/ca.pem\"\n";
        let c = Config::from_toml(base, "t.toml").unwrap();
        let r = c.radsec.as_ref().unwrap();
        assert_eq!(r.listen_addrs(), ["0.0.0.0:2083".parse().unwrap()]);
        assert_eq!(r.handshake_timeout_secs, 10);
        assert_eq!(r.idle_timeout_secs, 300);
        assert_eq!(r.max_in_flight, 256);
        assert_eq!(r.max_connections, 1024);
        assert!(Config::from_toml("", "t.toml").unwrap().radsec.is_none());
        // A bad address names its line.
        let text = format!("{base}listen = [\n \"127.0.0.1:2083\",\n \"nowhere\"]\n");
        let e = Config::from_toml(&text, "t.toml").unwrap_err();
        assert_eq!(e.line, Some(7), "{e}");
        assert!(e.message.contains("[radsec] listen"), "{e}");
        // A missing file key, with its line.
        let e = Config::from_toml("[radsec]\ncertificate = \"/c.pem\"\n", "t.toml").unwrap_err();
        assert!(e.message.contains("private_key"), "{e}");
        assert_eq!(e.line, Some(1), "{e}");
        for (k, v) in [
            ("handshake_timeout_secs", "0"),
            ("idle_timeout_secs", "0"),
            ("max_in_flight", "0"),
            ("max_connections", "0"),
        ] {
            let e = Config::from_toml(&format!("{base}{k} = {v}\n"), "t.toml").unwrap_err();
            assert!(
                e.message.contains(k) && e.message.contains("expected"),
                "{e}"
            );
        }
        let e = Config::from_toml(&format!("{base}tls_versions = 1\n"), "t.toml").unwrap_err();
        assert_eq!(e.line, Some(5), "{e}");
    }

    #[test]
    fn client_radsec_secret_defaults_to_radsec_and_tls_name_is_optional() {
        let text = "[[client]]\nname = \"a\"\naddress = \"10.0.0.1\"\nsecret = \"udp\"\n\n[[client]]\nname = \"b\"\naddress = \"10.0.0.2\"\nsecret = \"udp\"\ntls_name = \"nas-b.example.net\"\nradsec_secret = \"tls-secret-77\"\n";
        let c = Config::from_toml(text, "c.toml").unwrap();
        let clients = c.clients().unwrap();
        assert!(clients[0].radsec_secret.ct_eq(b"radsec"));
        assert_eq!(clients[0].tls_name, None);
        assert!(clients[1].radsec_secret.ct_eq(b"tls-secret-77"));
        assert_eq!(clients[1].tls_name.as_deref(), Some("nas-b.example.net"));
        assert!(!format!("{c:?}").contains("tls-secret-77"));
        let e = Config::from_toml(
            "[[client]]\nname = \"a\"\naddress = \"10.0.0.1\"\nsecret = \"x\"\nradsec_secret = \"\"\n",
            "c.toml",
        )
        .unwrap_err();
        assert!(e.message.contains("radsec_secret is empty"), "{e}");
    }

    #[test]
    fn pin_policy() {
        let c = Config::from_toml("[pin]\nmin_length = 4\ndigits_only = true\n", "c").unwrap();
        assert!(c.check_pin("1234").is_ok());
        assert!(c.check_pin("123").is_err());
        assert!(c.check_pin("12a4").is_err());
    }
}
