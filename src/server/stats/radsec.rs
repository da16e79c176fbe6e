//! RadSec counters (in [`super::Stats`], the stats JSON under `"radsec"`).

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};

/// Methods counted per transport: pap, chap, mschap, mschapv2, eap.
const METHOD_NAMES: [&str; 5] = ["pap", "chap", "mschap", "mschapv2", "eap"];
const RESULT_NAMES: [&str; 3] = ["accept", "reject", "challenge"];

/// RadSec counters (in [`super::Stats`]).
#[derive(Debug, Default)]
pub struct RadSecStats {
    /// TCP connections accepted.
    pub connections: AtomicU64,
    /// Connections open now.
    pub open: AtomicU64,
    /// Handshakes completed (certificate and name checked).
    pub handshakes: AtomicU64,
    /// Handshakes refused (no or bad certificate, not TLS, wrong version...).
    pub handshakes_refused: AtomicU64,
    /// Handshakes that did not finish in time.
    pub handshake_timeouts: AtomicU64,
    /// Connections from an address no `[[client]]` covers.
    pub unknown_client: AtomicU64,
    /// Certificates that chain to the CA but do not carry the client's `tls_name`.
    pub tls_name_mismatch: AtomicU64,
    /// Connections closed at once: `max_connections` were open.
    pub over_limit: AtomicU64,
    /// Connections closed for a length under 20 or over 4096.
    pub bad_length: AtomicU64,
    /// Connections closed for a malformed packet or a wrong authenticator
    /// (RFC 6613 §2.6.4: on a stream, "silently discard" means "and close").
    pub bad_packet: AtomicU64,
    /// Connections closed after `idle_timeout_secs` of silence.
    pub idle_closed: AtomicU64,
    /// Packets received over TLS.
    pub packets: AtomicU64,
    /// Access-Requests answered over TLS: [method][accept, reject, challenge].
    pub(crate) results: [[AtomicU64; 3]; 5],
}

impl RadSecStats {
    /// Access-Requests of `method` ("pap", "chap", "mschap", "mschapv2",
    /// "eap") answered over RadSec with `result` (0 accept, 1 reject, 2
    /// challenge).
    pub fn results(&self, method: &str, result: usize) -> u64 {
        METHOD_NAMES
            .iter()
            .position(|m| *m == method)
            .map_or(0, |i| {
                self.results[i][result.min(2)].load(Ordering::Relaxed)
            })
    }

    pub(crate) fn count_reply(&self, method: Option<usize>, reply: &[u8]) {
        let result = match reply.first() {
            Some(2) => 0,
            Some(3) => 1,
            Some(11) => 2,
            _ => return,
        };
        if let Some(m) = method {
            self.results[m][result].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Everything as JSON (`radotp stats`).
    pub fn to_json(&self) -> Value {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut results = serde_json::Map::new();
        for (i, m) in METHOD_NAMES.iter().enumerate() {
            let mut r = serde_json::Map::new();
            for (j, name) in RESULT_NAMES.iter().enumerate() {
                r.insert((*name).into(), json!(get(&self.results[i][j])));
            }
            results.insert((*m).into(), Value::Object(r));
        }
        json!({
            "connections": get(&self.connections),
            "open": get(&self.open),
            "handshakes": get(&self.handshakes),
            "handshakes_refused": get(&self.handshakes_refused),
            "handshake_timeouts": get(&self.handshake_timeouts),
            "unknown_client": get(&self.unknown_client),
            "tls_name_mismatch": get(&self.tls_name_mismatch),
            "over_limit": get(&self.over_limit),
            "bad_length": get(&self.bad_length),
            "bad_packet": get(&self.bad_packet),
            "idle_closed": get(&self.idle_closed),
            "packets": get(&self.packets),
            "results": results,
        })
    }

    /// Prometheus lines.
    pub fn write_prometheus(&self, s: &mut String) {
        use std::fmt::Write;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(s, "# HELP radotp_radsec_connections_open RadSec connections open.\n# TYPE radotp_radsec_connections_open gauge\nradotp_radsec_connections_open {}", get(&self.open));
        let _ = writeln!(s, "# HELP radotp_radsec_events_total RadSec connection events.\n# TYPE radotp_radsec_events_total counter");
        for (name, v) in [
            ("accepted", &self.connections),
            ("handshake", &self.handshakes),
            ("handshake_refused", &self.handshakes_refused),
            ("handshake_timeout", &self.handshake_timeouts),
            ("unknown_client", &self.unknown_client),
            ("tls_name_mismatch", &self.tls_name_mismatch),
            ("over_limit", &self.over_limit),
            ("bad_length", &self.bad_length),
            ("bad_packet", &self.bad_packet),
            ("idle_closed", &self.idle_closed),
        ] {
            let _ = writeln!(
                s,
                "radotp_radsec_events_total{{event=\"{name}\"}} {}",
                get(v)
            );
        }
        let _ = writeln!(s, "# HELP radotp_radsec_requests_total Access-Requests answered over RadSec, by method and result.\n# TYPE radotp_radsec_requests_total counter");
        for (i, m) in METHOD_NAMES.iter().enumerate() {
            for (j, r) in RESULT_NAMES.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "radotp_radsec_requests_total{{method=\"{m}\",result=\"{r}\"}} {}",
                    get(&self.results[i][j])
                );
            }
        }
    }
}
