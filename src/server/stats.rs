//! Counters of the daemon: requests by method and result, drops by reason.
//! Lock-free atomics on the request path; read by `radotp stats` and the
//! metrics listener.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};

use crate::auth::Method;

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
    /// More requests in work than `max_in_flight`.
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
    /// Sum of request handling time, microseconds, and the count.
    pub latency_us_sum: AtomicU64,
    /// Latency histogram buckets (≤ 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250 ms, +Inf).
    pub latency_buckets: [AtomicU64; 12],
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

    /// Counts a result (0 accept, 1 reject, 2 challenge).
    pub fn result(&self, method: Method, result: usize) {
        self.results[method_index(method)][result.min(2)].fetch_add(1, Ordering::Relaxed);
    }

    /// Results of one method.
    pub fn results(&self, method: Method, result: usize) -> u64 {
        self.results[method_index(method)][result.min(2)].load(Ordering::Relaxed)
    }

    /// Records one request's handling time.
    pub fn latency(&self, us: u64) {
        self.latency_us_sum.fetch_add(us, Ordering::Relaxed);
        let i = LATENCY_BOUNDS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(LATENCY_BOUNDS_US.len());
        self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
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
            "duplicates_answered": get(&self.duplicates_answered),
            "status_server": get(&self.status_server),
            "accounting": get(&self.accounting),
        })
    }

    /// Prometheus text exposition.
    pub fn to_prometheus(&self, extra: &[(&str, &str, u64)]) -> String {
        use std::fmt::Write;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = String::new();
        let _ = writeln!(s, "# HELP radotp_received_total Datagrams received.\n# TYPE radotp_received_total counter\nradotp_received_total {}", get(&self.received));
        let _ = writeln!(s, "# HELP radotp_dropped_total Datagrams dropped, by reason.\n# TYPE radotp_dropped_total counter");
        for (d, name) in DROPS {
            let _ = writeln!(
                s,
                "radotp_dropped_total{{reason=\"{name}\"}} {}",
                self.drops(d)
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
        let _ = writeln!(s, "# HELP radotp_request_duration_seconds Time to handle a request.\n# TYPE radotp_request_duration_seconds histogram");
        let mut cum = 0;
        for (i, b) in LATENCY_BOUNDS_US.iter().enumerate() {
            cum += get(&self.latency_buckets[i]);
            let _ = writeln!(
                s,
                "radotp_request_duration_seconds_bucket{{le=\"{}\"}} {cum}",
                *b as f64 / 1e6
            );
        }
        cum += get(&self.latency_buckets[11]);
        let _ = writeln!(
            s,
            "radotp_request_duration_seconds_bucket{{le=\"+Inf\"}} {cum}"
        );
        let _ = writeln!(
            s,
            "radotp_request_duration_seconds_sum {}",
            get(&self.latency_us_sum) as f64 / 1e6
        );
        let _ = writeln!(s, "radotp_request_duration_seconds_count {cum}");
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
