//! What every command shares: [`Ctx`] (the config, `--json`, an admin
//! request sent to the daemon's control socket or run on the store), the
//! store opening of the CLI, and the printing of replies.

use std::path::PathBuf;
use std::sync::Arc;

use super::UsageError;
use crate::admin::{Admin, AdminReply, AdminRequest, TokenInfo, UserInfo};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::store::{StoreError, TokenStore};
use crate::verify::Verifier;

/// What every command knows.
pub struct Ctx {
    /// `--config`.
    pub config_path: Option<PathBuf>,
    /// `--json`.
    pub json: bool,
    /// The store, once an admin request ran offline (no daemon): kept for
    /// the command's next requests, so that an import of many batches
    /// opens it once (and SQLite's connection checkpoints its WAL as it
    /// goes).
    pub store: std::sync::OnceLock<Arc<dyn TokenStore>>,
}

impl Ctx {
    /// Loads the configuration (a config error is a usage error: exit 2).
    pub fn config(&self) -> anyhow::Result<Config> {
        Config::load_or_default(self.config_path.as_deref())
            .map_err(|e| UsageError(e.to_string()).into())
    }

    /// Executes an admin request: through the daemon when it runs, on the
    /// store directly otherwise.
    pub fn admin(&self, req: AdminRequest) -> anyhow::Result<AdminReply> {
        let config = self.config()?;
        let sock = &config.server.control_socket;
        match crate::admin::wire::request(sock, &req) {
            Ok(Some(reply)) => return Ok(reply?),
            Ok(None) => {}
            Err(e) => {
                anyhow::bail!(
                    "control socket {}: {e} (is the daemon running as another user? check the socket's group)",
                    sock.display()
                )
            }
        }
        let store = match self.store.get() {
            Some(s) => s.clone(),
            None => {
                let s = open_store(&config)?;
                self.store.get_or_init(|| s).clone()
            }
        };
        let verifier = Arc::new(Verifier::new(
            store,
            Arc::new(SystemClock),
            crate::verify::Policy::of(&config),
        ));
        let audit = config.audit.path.clone();
        let journal = config.audit.journal;
        let (op, subject) = (req.name(), req.subject().map(str::to_string));
        let admin = Admin::new(verifier, Arc::new(config));
        let r = admin.execute(req);
        if crate::audit::is_change(op) {
            crate::audit::record_local(
                audit.as_deref(),
                journal,
                op,
                subject.as_deref(),
                r.is_ok(),
            );
        }
        Ok(r?)
    }

    /// Prints a reply for humans or as JSON.
    pub fn print_reply(&self, reply: &AdminReply) {
        if self.json {
            println!("{}", reply_json(reply));
            return;
        }
        match reply {
            AdminReply::Done(m) => println!("{m}"),
            AdminReply::User(u) => print_user(u),
            AdminReply::Users(us) => {
                println!(
                    "{:<24} {:>3} {:<8} {:<7} {:>8} {:>6}",
                    "USER", "PIN", "STATE", "LOCKED", "FAILURES", "TOKENS"
                );
                for u in us {
                    println!(
                        "{:<24} {:>3} {:<8} {:<7} {:>8} {:>6}",
                        u.name,
                        if u.has_pin { "yes" } else { "no" },
                        if u.enabled { "enabled" } else { "disabled" },
                        if u.locked { "yes" } else { "no" },
                        u.failures,
                        u.tokens
                    );
                }
                println!("{} user(s)", us.len());
            }
            AdminReply::Token(t) => print_token(t),
            AdminReply::Preview {
                user,
                client,
                groups,
                allowed,
                attributes,
            } => {
                let groups = if groups.is_empty() {
                    "no group".to_string()
                } else {
                    format!("groups {}", groups.join(", "))
                };
                if !allowed {
                    println!("{user} ({groups}) through {client}: Access-Reject (not in the client's allow_groups)");
                } else {
                    println!("{user} ({groups}) through {client}: Access-Accept with");
                    for (n, v) in attributes {
                        println!("  {n} = {v}");
                    }
                    if attributes.is_empty() {
                        println!("  (no reply attributes)");
                    }
                }
            }
            AdminReply::Groups(gs) => {
                println!("{:<20} {:>7} {:<24} REPLY", "GROUP", "MEMBERS", "CLIENTS");
                for g in gs {
                    let clients = if g.clients.is_empty() {
                        "-".to_string()
                    } else {
                        g.clients.join(",")
                    };
                    let reply: Vec<String> =
                        g.reply.iter().map(|(a, v)| format!("{a}={v}")).collect();
                    let reply = if g.configured {
                        reply.join(" ")
                    } else {
                        "(not in the config: no [[group]] or allow_groups names it)".into()
                    };
                    println!("{:<20} {:>7} {:<24} {reply}", g.name, g.members, clients);
                }
                println!("{} group(s)", gs.len());
            }
            AdminReply::Tokens(ts) => {
                println!(
                    "{:<16} {:<20} {:<5} {:<7} {:>6} {:>6} {:<9} {:>6} SERIAL",
                    "TOKEN", "OWNER", "TYPE", "ALG", "DIGITS", "PERIOD", "STATE", "DRIFT"
                );
                for t in ts {
                    println!(
                        "{:<16} {:<20} {:<5} {:<7} {:>6} {:>6} {:<9} {:>6} {}",
                        t.id,
                        if t.owner.is_empty() { "-" } else { &t.owner },
                        t.kind.as_str(),
                        t.algorithm.as_str(),
                        t.digits,
                        t.period,
                        t.state.as_str(),
                        t.drift,
                        t.serial.as_deref().unwrap_or("-")
                    );
                }
                println!("{} token(s)", ts.len());
            }
            AdminReply::Enrolled { token, uri } => {
                print_token(token);
                println!("uri:          {uri}");
            }
            AdminReply::Check(c) => {
                if c.accepted {
                    println!(
                        "ACCEPT token {} step/counter {} offset {}{}",
                        c.token.as_deref().unwrap_or("?"),
                        c.counter.unwrap_or(0),
                        c.offset.unwrap_or(0),
                        if c.dry_run {
                            " (dry run: nothing recorded)"
                        } else {
                            ""
                        }
                    );
                } else {
                    println!(
                        "REJECT {}{}",
                        c.reason.as_deref().unwrap_or("wrong_code"),
                        if c.dry_run {
                            " (dry run: nothing recorded)"
                        } else {
                            ""
                        }
                    );
                }
            }
            AdminReply::Imported {
                tokens,
                users_created,
            } => println!("imported {tokens} token(s), created {users_created} user(s)"),
            AdminReply::Stats(v) => {
                println!("{}", serde_json::to_string_pretty(v).unwrap_or_default())
            }
            AdminReply::ApiKeyCreated { key, secret } => {
                println!("API key '{}' (scope {}):", key.name, key.scope.as_str());
                println!("{secret}");
                eprintln!("This is the only time the key is shown: only its hash is stored. Send it as `Authorization: Bearer KEY`.");
            }
            AdminReply::ApiKeys(keys) => {
                println!("{:<24} {:<9} {:<24} LAST USED", "NAME", "SCOPE", "CREATED");
                for k in keys {
                    println!(
                        "{:<24} {:<9} {:<24} {}",
                        k.name,
                        k.scope.as_str(),
                        format_unix(k.created),
                        time(k.last_used)
                    );
                }
                println!("{} key(s)", keys.len());
            }
            // Never printed: `radotp token export` writes it to a file.
            AdminReply::Exported(ts) => println!("{} token(s) exported", ts.len()),
        }
    }
}

/// Opens the store of a config directly (the daemon must not be running).
pub fn open_store(config: &Config) -> anyhow::Result<Arc<dyn TokenStore>> {
    open_store_waiting(config, std::time::Duration::from_secs(2))
}

/// Opens the store, waiting up to `wait` while another process holds it
/// (an admin command that opened it offline holds it for a moment).
pub fn open_store_waiting(
    config: &Config,
    wait: std::time::Duration,
) -> anyhow::Result<Arc<dyn TokenStore>> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        match open_store_once(config) {
            Ok(store) => return Ok(store),
            Err(StoreError::InUse(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e @ StoreError::InUse(_)) => {
                anyhow::bail!(
                    "{e}; a daemon answers admin commands on its control socket {}: is it running with another config?",
                    config.server.control_socket.display()
                )
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn open_store_once(config: &Config) -> Result<Arc<dyn TokenStore>, StoreError> {
    crate::store::open::open(config)
}

fn reply_json(reply: &AdminReply) -> serde_json::Value {
    let inner = serde_json::to_value(reply).unwrap_or_default();
    let mut v = serde_json::json!({ "ok": true });
    if let Some(data) = inner.get("data") {
        v["result"] = data.clone();
    }
    if let Some(kind) = inner.get("kind") {
        v["kind"] = kind.clone();
    }
    v
}

fn time(t: Option<u64>) -> String {
    match t {
        None => "never".into(),
        Some(t) => format_unix(t),
    }
}

/// Formats a Unix time as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn format_unix(t: u64) -> String {
    let days = (t / 86_400) as i64;
    let secs = t % 86_400;
    // Civil-from-days (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn print_user(u: &UserInfo) {
    println!("user:         {}", u.name);
    println!("enabled:      {}", u.enabled);
    println!("pin:          {}", if u.has_pin { "set" } else { "none" });
    println!("challenge:    {}", u.challenge);
    println!("failures:     {}", u.failures);
    println!(
        "locked:       {}",
        if u.locked {
            format!(
                "until {}, after {} failed attempt(s) in a row ([lockout]; `radotp user unlock {}` clears it)",
                time(u.locked_until),
                u.failures,
                u.name
            )
        } else {
            "no".into()
        }
    );
    for (src, until) in &u.locked_sources {
        println!(
            "locked from:  {src} until {} ([lockout] scope = \"user+source\")",
            time(Some(*until))
        );
    }
    println!("tokens:       {}", u.tokens);
    println!(
        "groups:       {}",
        if u.groups.is_empty() {
            "none".to_string()
        } else {
            u.groups.join(", ")
        }
    );
    for (a, v) in &u.replies {
        println!("reply:        {a} = {v}");
    }
    println!("created:      {}", time(Some(u.created)));
    println!("last success: {}", time(u.last_success));
}

fn print_token(t: &TokenInfo) {
    println!("token:        {}", t.id);
    if t.owner.is_empty() {
        println!(
            "owner:        (unassigned: `radotp token assign {} USER`)",
            t.id
        );
    } else {
        println!("owner:        {}", t.owner);
    }
    if let Some(s) = &t.serial {
        println!("serial:       {s}");
    }
    println!("type:         {}", t.kind);
    println!("algorithm:    {}", t.algorithm);
    println!("digits:       {}", t.digits);
    if t.kind == crate::otp::Kind::Totp {
        println!("period:       {} s", t.period);
        println!("drift:        {} step(s)", t.drift);
    }
    println!("state:        {}", t.state.as_str());
    if !t.description.is_empty() {
        println!("description:  {}", t.description);
    }
    println!(
        "last used:    {}",
        match t.last {
            Some(l) => format!("{} (step/counter {l})", time(t.last_used)),
            None => "never".into(),
        }
    );
    println!("created:      {}", time(Some(t.created)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_time_formatting() {
        assert_eq!(format_unix(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_unix(1_111_111_109), "2005-03-18 01:58:29 UTC");
        assert_eq!(format_unix(2_000_000_000), "2033-05-18 03:33:20 UTC");
        assert_eq!(format_unix(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
