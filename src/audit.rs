//! The audit trail: one JSON line per authentication decision and per admin
//! change, appended to `[audit] path` (reopened on SIGHUP, for logrotate),
//! and/or sent to the systemd journal (`[audit] journal = true`) as entries
//! with `SYSLOG_IDENTIFIER=radotp-audit`, the JSON line as `MESSAGE` and the
//! event kind as `RADOTP_EVENT` (`journalctl -t radotp-audit -o cat` prints
//! the same lines as the file). The journal is reached on its native socket
//! (`/run/systemd/journal/socket`, or `$RADOTP_JOURNAL_SOCKET`).
//!
//! Decisions are not logged twice in code: the daemon's `access` log events
//! (the handler's one line per decision) are picked up by [`AuditLayer`], a
//! tracing layer with its own filter, so the trail is complete whatever the
//! log level. Admin changes are written by the control socket (who: the
//! peer's uid and user name) and by the CLI when it runs on the store
//! itself (who: the invoking user). A line never holds a code, PIN, seed or
//! secret: only names, results, reasons and token ids.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// The audit file of this process: its path and the open file.
struct Sink {
    path: Option<PathBuf>,
    file: Option<File>,
    journal: Option<std::os::unix::net::UnixDatagram>,
}

/// The journal's native socket (`$RADOTP_JOURNAL_SOCKET` overrides it).
pub fn journal_socket() -> PathBuf {
    std::env::var_os("RADOTP_JOURNAL_SOCKET")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/systemd/journal/socket"))
}

/// Sends the trail to the journal too (`on`), connecting now so that a
/// missing journal is an error at start, not a silent gap.
pub fn configure_journal(on: bool) -> std::io::Result<()> {
    let sock = if on {
        let s = std::os::unix::net::UnixDatagram::unbound()?;
        let path = journal_socket();
        s.connect(&path).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot reach the journal at {}: {e}", path.display()),
            )
        })?;
        Some(s)
    } else {
        None
    };
    sink().lock().unwrap_or_else(|e| e.into_inner()).journal = sock;
    Ok(())
}

/// One journal entry in the native protocol: `FIELD=value` lines (the
/// values here never hold a newline: JSON escapes them).
fn journal_entry(kind: &str, json: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(json.len() + 80);
    e.extend_from_slice(b"SYSLOG_IDENTIFIER=radotp-audit\nPRIORITY=6\nRADOTP_EVENT=");
    e.extend(kind.bytes().filter(|b| *b != b'\n'));
    e.extend_from_slice(b"\nMESSAGE=");
    e.extend_from_slice(json);
    e.push(b'\n');
    e
}

fn sink() -> &'static Mutex<Sink> {
    static SINK: OnceLock<Mutex<Sink>> = OnceLock::new();
    SINK.get_or_init(|| {
        Mutex::new(Sink {
            path: None,
            file: None,
            journal: None,
        })
    })
}

fn open_file(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

/// Points the trail at `path` (None: no trail), opening it now so that a
/// bad path is an error at start, not a silent gap. Called at start and on
/// every reload: the file is reopened, so a rotated one is left alone.
pub fn configure(path: Option<&Path>) -> std::io::Result<()> {
    let file = path.map(open_file).transpose()?;
    let mut s = sink().lock().unwrap_or_else(|e| e.into_inner());
    s.path = path.map(Path::to_path_buf);
    s.file = file;
    Ok(())
}

/// Appends one event (with `ts` and `event` set) to the trail, if any.
/// A failed write is reported on stderr once per failure, never fatal: the
/// service goes on.
pub fn record(kind: &str, mut fields: Map<String, Value>) {
    let mut s = sink().lock().unwrap_or_else(|e| e.into_inner());
    if s.path.is_none() && s.journal.is_none() {
        return;
    }
    let mut line = Map::new();
    line.insert("ts".into(), Value::String(rfc3339_now()));
    line.insert("event".into(), Value::String(kind.into()));
    line.append(&mut fields);
    let mut bytes = serde_json::to_vec(&Value::Object(line)).unwrap_or_default();
    if let Some(j) = &s.journal {
        if let Err(e) = j.send(&journal_entry(kind, &bytes)) {
            eprintln!("radotp: cannot send the audit trail to the journal: {e}");
        }
    }
    if s.path.is_none() {
        return;
    }
    bytes.push(b'\n');
    if s.file.is_none() {
        let path = s.path.clone().unwrap_or_default();
        s.file = open_file(&path).ok();
    }
    let ok = s.file.as_mut().is_some_and(|f| f.write_all(&bytes).is_ok());
    if !ok {
        // Dropped so the next event tries to open it again.
        s.file = None;
        eprintln!(
            "radotp: cannot write the audit trail {}",
            s.path.as_deref().unwrap_or(Path::new("")).display()
        );
    }
}

/// Records an admin change made by the CLI on the store itself (no daemon):
/// opens `path` for this one line.
pub fn record_local(path: Option<&Path>, journal: bool, op: &str, subject: Option<&str>, ok: bool) {
    if path.is_none() && !journal {
        return;
    }
    if let Some(path) = path {
        if configure(Some(path)).is_err() {
            eprintln!("radotp: cannot open the audit trail {}", path.display());
            return;
        }
    }
    if let Err(e) = configure_journal(journal) {
        eprintln!("radotp: {e}");
    }
    let uid = rustix::process::getuid().as_raw();
    let mut m = admin_fields(op, subject, ok);
    m.insert("by".into(), Value::String(user_of(uid)));
    m.insert("uid".into(), Value::from(uid));
    m.insert("via".into(), Value::String("cli".into()));
    record("admin", m);
}

/// The fields of an admin change.
pub fn admin_fields(op: &str, subject: Option<&str>, ok: bool) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("op".into(), Value::String(op.into()));
    if let Some(s) = subject {
        m.insert("subject".into(), Value::String(s.into()));
    }
    m.insert("ok".into(), Value::Bool(ok));
    m
}

/// Whether an admin operation changes anything (reads are not audited).
pub fn is_change(op: &str) -> bool {
    !(op.ends_with("-list") || op.ends_with("-show") || op == "stats")
}

/// The user name of `uid` from /etc/passwd, else the number.
pub fn user_of(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let id = f.nth(1)?.parse::<u32>().ok()?;
                (id == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

/// The tracing layer that turns the daemon's `access` events into
/// `auth` lines of the trail.
pub struct AuditLayer;

struct Fields {
    message: Option<String>,
    map: Map<String, Value>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let v = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(v);
        } else {
            self.map.insert(field.name().into(), Value::String(v));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.into());
        } else {
            self.map
                .insert(field.name().into(), Value::String(value.into()));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.map.insert(field.name().into(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.map.insert(field.name().into(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.map.insert(field.name().into(), Value::Bool(value));
    }
}

impl<S> Layer<S> for AuditLayer
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if !event.metadata().target().starts_with("radotp") {
            return;
        }
        let mut f = Fields {
            message: None,
            map: Map::new(),
        };
        event.record(&mut f);
        if f.message.as_deref() == Some("access") {
            // A decision on a RadSec connection is made inside its span.
            let on_tls = ctx
                .event_scope(event)
                .is_some_and(|mut scope| scope.any(|span| span.name() == "radsec"));
            let transport = if on_tls { "radsec" } else { "udp" };
            f.map
                .entry("transport")
                .or_insert_with(|| Value::String(transport.into()));
            record("auth", f.map);
        }
    }
}

fn rfc3339_now() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs(), d.subsec_millis())
}

/// `secs` since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339(secs: u64, millis: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil(days: i64) -> (i64, u32, u32) {
    // Shift to a calendar whose years start on 1 March, in 400-year eras.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Escapes a user name for a log line (control characters, quotes), cut at 64 chars.
pub struct LogName<'a>(pub &'a [u8]);

impl std::fmt::Display for LogName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = String::from_utf8_lossy(self.0);
        for (n, c) in s.chars().enumerate() {
            if n >= 64 {
                return f.write_str("...");
            }
            for e in c.escape_debug() {
                std::fmt::Write::write_char(f, e)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        // RFC 6238 appendix B test times.
        assert_eq!(rfc3339(1_111_111_109, 5), "2005-03-18T01:58:29.005Z");
        assert_eq!(rfc3339(2_000_000_000, 0), "2033-05-18T03:33:20.000Z");
        assert_eq!(rfc3339(20_000_000_000, 0), "2603-10-11T11:33:20.000Z");
        // A leap day.
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn reads_are_not_changes() {
        assert!(!is_change("user-list") && !is_change("token-show") && !is_change("stats"));
        assert!(is_change("user-add") && is_change("token-delete") && is_change("user-unlock"));
    }
}
