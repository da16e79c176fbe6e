//! Counters of the daemon: requests by method and result, drops by reason.
//! Lock-free atomics on the request path; read by `radotp stats` and the
//! metrics listener.

mod eap;
mod radsec;

pub use self::eap::EapStats;
pub use self::radsec::RadSecStats;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::auth::Method;
use crate::verify::Reason;

/// Why a datagram got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Source address is not a configured client.
    UnknownClient,
    /// Not a well-formed RADIUS packet.
    Malformed,
    /// Wrong Message-Authenticator or accounting authenticator.
    BadAuthenticator,
    /// A client that must send Message-Authenticator did not.
    MissingMessageAuthenticator,
    /// A retransmission of a request still being worked on.
    DuplicateInProgress,
    /// A code this port does not take (an Access-Accept sent to us, say).
    UnexpectedCode,
    /// Not produced since the request path answers in batches (the socket
    /// buffer is the queue); kept so that metric names stay stable.
    Overload,
    /// Per-client rate limit.
    RateLimited,
    /// The store failed; no answer rather than a wrong one.
    StoreError,
}

const DROPS: [(DropReason, &str); 9] = [
    (DropReason::UnknownClient, "unknown_client"),
    (DropReason::Malformed, "malformed"),
    (DropReason::BadAuthenticator, "bad_authenticator"),
    (
        DropReason::MissingMessageAuthenticator,
        "missing_message_authenticator",
    ),
    (DropReason::DuplicateInProgress, "duplicate_in_progress"),
    (DropReason::UnexpectedCode, "unexpected_code"),
    (DropReason::Overload, "overload"),
    (DropReason::RateLimited, "rate_limited"),
    (DropReason::StoreError, "store_error"),
];

impl DropReason {
    /// Name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        DROPS[self as usize].1
    }
}

const METHODS: [Method; 4] = [Method::Pap, Method::Chap, Method::MsChap, Method::MsChapV2];
const RESULTS: [&str; 3] = ["accept", "reject", "challenge"];

/// The counters.
#[derive(Debug, Default)]
pub struct Stats {
    /// Datagrams received.
    pub received: AtomicU64,
    drops: [AtomicU64; 9],
    /// [method][accept, reject, challenge]
    results: [[AtomicU64; 3]; 4],
    /// Requests rejected before a method was known (no credential, malformed credential).
    pub rejected_no_method: AtomicU64,
    /// Retransmissions answered from the duplicate cache.
    pub duplicates_answered: AtomicU64,
    /// Status-Server requests answered.
    pub status_server: AtomicU64,
    /// Accounting-Requests answered.
    pub accounting: AtomicU64,
    /// Time to handle a request (decode to reply, before any flush wait).
    pub latency: Histogram,
    /// Time of one group-commit flush of the store.
    pub commit_latency: Histogram,
    /// Requests refused by a client's `max_failures_per_minute`.
    pub failure_cap_rejects: AtomicU64,
    /// Rejects by reason (the verifier's, in [`Reason::ALL`] order).
    reasons: [AtomicU64; 9],
    /// Results by client name: [accept, reject, challenge].
    by_client: Mutex<HashMap<String, [u64; 3]>>,
    /// Whether the store answers (reads on the request path, commits).
    pub store: StoreHealth,
    /// EAP conversations.
    pub eap: EapStats,
    /// RadSec connections and the requests they carried.
    pub radsec: RadSecStats,
}

/// The store's health as the request path sees it: down from the first
/// failed read or commit until the next success. Each change is logged
/// once (not per request), by whoever notices it.
#[derive(Debug, Default)]
pub struct StoreHealth {
    down: std::sync::atomic::AtomicBool,
    outages: AtomicU64,
    errors: AtomicU64,
}

impl StoreHealth {
    /// A store call failed with `e` (`what`: "read", "commit").
    pub fn failed(&self, what: &str, e: &dyn std::fmt::Display) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if !self.down.swap(true, Ordering::Relaxed) {
            self.outages.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, failed = what, "store unavailable: no Accept until it recovers (requests are dropped, so the NAS retries or fails over); not logged again until then");
        }
    }

    /// A store call succeeded.
    pub fn ok(&self) {
        if self.down.load(Ordering::Relaxed) && self.down.swap(false, Ordering::Relaxed) {
            tracing::warn!("store recovered");
        }
    }

    /// Is the store answering?
    pub fn healthy(&self) -> bool {
        !self.down.load(Ordering::Relaxed)
    }

    /// (outages, failed calls) so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.outages.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
        )
    }
}

/// A latency histogram (buckets ≤ 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50,
/// 100, 250 ms, +Inf) with its sum.
#[derive(Debug, Default)]
pub struct Histogram {
    sum_us: AtomicU64,
    buckets: [AtomicU64; 12],
}

impl Histogram {
    /// Records one observation, in microseconds.
    pub fn observe(&self, us: u64) {
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        let i = LATENCY_BOUNDS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(LATENCY_BOUNDS_US.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Observations in the buckets above `bound`, which must be one of
    /// [`LATENCY_BOUNDS_US`] (the count is then exact): the slow ones.
    pub fn count_over(&self, bound: u64) -> u64 {
        debug_assert!(LATENCY_BOUNDS_US.contains(&bound));
        let first = LATENCY_BOUNDS_US
            .iter()
            .position(|&b| b >= bound)
            .map_or(LATENCY_BOUNDS_US.len(), |i| i + 1);
        self.buckets[first..]
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .sum()
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// Writes the Prometheus histogram `name`.
    pub fn write_prometheus(&self, s: &mut String, name: &str, help: &str) {
        use std::fmt::Write;
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cum = 0;
        for (i, b) in LATENCY_BOUNDS_US.iter().enumerate() {
            cum += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(s, "{name}_bucket{{le=\"{}\"}} {cum}", *b as f64 / 1e6);
        }
        cum += self.buckets[11].load(Ordering::Relaxed);
        let _ = writeln!(s, "{name}_bucket{{le=\"+Inf\"}} {cum}");
        let _ = writeln!(
            s,
            "{name}_sum {}",
            self.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(s, "{name}_count {cum}");
    }
}

/// Upper bounds of the latency buckets, in microseconds.
pub const LATENCY_BOUNDS_US: [u64; 11] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
];

impl Stats {
    /// Counts a drop.
    pub fn count_drop(&self, why: DropReason) {
        self.drops[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Drops of one reason.
    pub fn drops(&self, why: DropReason) -> u64 {
        self.drops[why as usize].load(Ordering::Relaxed)
    }

    /// Counts a result (0 accept, 1 reject, 2 challenge) of a client's request.
    pub fn result(&self, client: &str, method: Method, result: usize) {
        let r = result.min(2);
        self.results[method_index(method)][r].fetch_add(1, Ordering::Relaxed);
        let mut g = self.by_client.lock().unwrap_or_else(|e| e.into_inner());
        match g.get_mut(client) {
            Some(c) => c[r] += 1,
            None => {
                let mut c = [0; 3];
                c[r] = 1;
                g.insert(client.to_string(), c);
            }
        }
    }

    /// Counts a reject of the verifier.
    pub fn reject_reason(&self, reason: Reason) {
        if let Some(i) = Reason::ALL.iter().position(|r| *r == reason) {
            self.reasons[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Rejects of one reason.
    pub fn rejects(&self, reason: Reason) -> u64 {
        Reason::ALL
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.reasons[i].load(Ordering::Relaxed))
    }

    /// Results of one client: [accept, reject, challenge].
    pub fn client_results(&self, client: &str) -> [u64; 3] {
        let g = self.by_client.lock().unwrap_or_else(|e| e.into_inner());
        g.get(client).copied().unwrap_or_default()
    }

    /// Results of one method.
    pub fn results(&self, method: Method, result: usize) -> u64 {
        self.results[method_index(method)][result.min(2)].load(Ordering::Relaxed)
    }

    /// Records one request's handling time.
    pub fn latency(&self, us: u64) {
        self.latency.observe(us);
    }

    /// Everything as JSON (for `radotp stats`).
    pub fn to_json(&self) -> Value {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut drops = serde_json::Map::new();
        for (d, name) in DROPS {
            drops.insert(name.into(), json!(self.drops(d)));
        }
        let mut results = serde_json::Map::new();
        for m in METHODS {
            let mut r = serde_json::Map::new();
            for (i, name) in RESULTS.iter().enumerate() {
                r.insert((*name).into(), json!(self.results(m, i)));
            }
            results.insert(m.as_str().into(), Value::Object(r));
        }
        json!({
            "received": get(&self.received),
            "drops": drops,
            "results": results,
            "rejected_no_method": get(&self.rejected_no_method),
            "failure_cap_rejects": get(&self.failure_cap_rejects),
            "reject_reasons": Reason::ALL
                .iter()
                .map(|r| (r.as_str().to_string(), json!(self.rejects(*r))))
                .collect::<serde_json::Map<_, _>>(),
            "duplicates_answered": get(&self.duplicates_answered),
            "status_server": get(&self.status_server),
            "accounting": get(&self.accounting),
            "by_client": self.by_client.lock().map(|g| {
                g.iter()
                    .map(|(k, v)| (k.clone(), json!({"accept": v[0], "reject": v[1], "challenge": v[2]})))
                    .collect::<serde_json::Map<_, _>>()
            }).unwrap_or_default(),
            "commits": self.commit_latency.count(),
            "store": {
                "healthy": self.store.healthy(),
                "outages": self.store.counts().0,
                "errors": self.store.counts().1,
            },
            "eap": self.eap.to_json(),
            "radsec": self.radsec.to_json(),
        })
    }

    /// Prometheus text exposition.
    pub fn to_prometheus(&self, extra: &[(&str, &str, u64)]) -> String {
        use std::fmt::Write;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = String::new();
        let _ = writeln!(s, "# HELP radotp_store_healthy 1 while the store answers, 0 from a failed read or commit until the next success.\n# TYPE radotp_store_healthy gauge\nradotp_store_healthy {}", u8::from(self.store.healthy()));
        let _ = writeln!(s, "# HELP radotp_store_errors_total Store reads and commits of the request path that failed.\n# TYPE radotp_store_errors_total counter\nradotp_store_errors_total {}", self.store.counts().1);
        let _ = writeln!(s, "# HELP radotp_received_total Datagrams received.\n# TYPE radotp_received_total counter\nradotp_received_total {}", get(&self.received));
        let _ = writeln!(s, "# HELP radotp_dropped_total Datagrams dropped, by reason.\n# TYPE radotp_dropped_total counter");
        for (d, name) in DROPS {
            let _ = writeln!(
                s,
                "radotp_dropped_total{{reason=\"{name}\"}} {}",
                self.drops(d)
            );
        }
        let _ = writeln!(s, "# HELP radotp_failure_cap_rejects_total Requests refused because their client reached max_failures_per_minute.\n# TYPE radotp_failure_cap_rejects_total counter\nradotp_failure_cap_rejects_total {}", get(&self.failure_cap_rejects));
        let _ = writeln!(s, "# HELP radotp_rejects_total Access-Rejects of the verifier, by reason.\n# TYPE radotp_rejects_total counter");
        for r in Reason::ALL {
            let _ = writeln!(
                s,
                "radotp_rejects_total{{reason=\"{}\"}} {}",
                r.as_str(),
                self.rejects(r)
            );
        }
        let _ = writeln!(s, "# HELP radotp_requests_total Access-Requests answered, by method and result.\n# TYPE radotp_requests_total counter");
        for m in METHODS {
            for (i, r) in RESULTS.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "radotp_requests_total{{method=\"{}\",result=\"{r}\"}} {}",
                    m.as_str(),
                    self.results(m, i)
                );
            }
        }
        let _ = writeln!(
            s,
            "# TYPE radotp_duplicates_answered_total counter\nradotp_duplicates_answered_total {}",
            get(&self.duplicates_answered)
        );
        let _ = writeln!(
            s,
            "# TYPE radotp_status_server_total counter\nradotp_status_server_total {}",
            get(&self.status_server)
        );
        let _ = writeln!(
            s,
            "# TYPE radotp_accounting_total counter\nradotp_accounting_total {}",
            get(&self.accounting)
        );
        {
            let g = self.by_client.lock().unwrap_or_else(|e| e.into_inner());
            let mut names: Vec<_> = g.keys().collect();
            names.sort();
            let _ = writeln!(s, "# HELP radotp_client_requests_total Access-Requests answered, by client and result.\n# TYPE radotp_client_requests_total counter");
            for name in names {
                let c = g[name];
                let label = name.replace('\\', "\\\\").replace('"', "\\\"");
                for (i, r) in RESULTS.iter().enumerate() {
                    let _ = writeln!(
                        s,
                        "radotp_client_requests_total{{client=\"{label}\",result=\"{r}\"}} {}",
                        c[i]
                    );
                }
            }
        }
        self.latency.write_prometheus(
            &mut s,
            "radotp_request_duration_seconds",
            "Time to handle a request, before any wait for the store flush.",
        );
        self.commit_latency.write_prometheus(
            &mut s,
            "radotp_store_commit_duration_seconds",
            "Time of one group-commit flush of the store (replay state made durable).",
        );
        self.radsec.write_prometheus(&mut s);
        // EAP by method and outcome (server::eap).
        self.eap.write_prometheus(&mut s);
        for (name, kind, v) in extra {
            let _ = writeln!(s, "# TYPE {name} {kind}\n{name} {v}");
        }
        s
    }
}

fn method_index(m: Method) -> usize {
    match m {
        Method::Pap => 0,
        Method::Chap => 1,
        Method::MsChap => 2,
        Method::MsChapV2 => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_counts_over_a_bucket_bound_exactly() {
        let h = Histogram::default();
        for us in [0, 100, 101, 2_500, 2_501, 5_000, 10_000_000] {
            h.observe(us);
        }
        assert_eq!(h.count(), 7);
        assert_eq!(h.count_over(100), 5);
        assert_eq!(h.count_over(2_500), 3);
        assert_eq!(h.count_over(5_000), 1);
        assert_eq!(h.count_over(250_000), 1);
    }

    #[test]
    fn prometheus_has_results_by_client_and_both_histograms() {
        let s = Stats::default();
        s.result("vpn-1", Method::MsChapV2, 0);
        s.result("vpn-1", Method::MsChapV2, 1);
        s.result("sw\"2", Method::Chap, 1);
        s.latency(300);
        s.commit_latency.observe(4_000);
        let text = s.to_prometheus(&[]);
        assert!(
            text.contains("radotp_client_requests_total{client=\"vpn-1\",result=\"accept\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("radotp_client_requests_total{client=\"sw\\\"2\",result=\"reject\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("radotp_requests_total{method=\"mschapv2\",result=\"reject\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("radotp_request_duration_seconds_bucket{le=\"0.0005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("radotp_request_duration_seconds_bucket{le=\"0.00025\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("radotp_store_commit_duration_seconds_bucket{le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("radotp_store_commit_duration_seconds_count 1"),
            "{text}"
        );
        assert_eq!(s.client_results("vpn-1"), [1, 1, 0]);
        let j = s.to_json();
        assert_eq!(j["by_client"]["vpn-1"]["reject"], 1);
    }
}
