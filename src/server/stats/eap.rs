//! EAP counters (in [`super::Stats`], the stats JSON under `"eap"`).

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};

use crate::auth::eap::typ;

/// EAP counters, in the stats JSON under `"eap"`.
#[derive(Debug, Default)]
pub struct EapStats {
    pub(crate) started: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) timed_out: AtomicU64,
    pub(crate) malformed: AtomicU64,
    pub(crate) missing_message_authenticator: AtomicU64,
    pub(crate) unknown_state: AtomicU64,
    /// [mschapv2, gtc, peap, ttls][started, accepted, rejected]
    pub(crate) methods: [[AtomicU64; 3]; 4],
}

fn method_slot(t: u8) -> usize {
    match t {
        typ::MSCHAPV2 => 0,
        typ::PEAP => 2,
        typ::TTLS => 3,
        _ => 1,
    }
}

impl EapStats {
    pub(crate) fn method(&self, t: u8, what: usize) {
        self.methods[method_slot(t)][what].fetch_add(1, Ordering::Relaxed);
    }

    /// Method counter: `t` an EAP type, `what` 0 started, 1 accepted, 2 rejected.
    pub fn method_count(&self, t: u8, what: usize) -> u64 {
        self.methods[method_slot(t)][what.min(2)].load(Ordering::Relaxed)
    }

    /// `radotp_eap_methods_total{method, result}` and the conversation
    /// counters, Prometheus text.
    pub fn write_prometheus(&self, s: &mut String) {
        use std::fmt::Write;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(s, "# HELP radotp_eap_methods_total EAP method runs, by method and outcome.\n# TYPE radotp_eap_methods_total counter");
        for (i, m) in ["mschapv2", "gtc", "peap", "ttls"].iter().enumerate() {
            for (j, r) in ["started", "accepted", "rejected"].iter().enumerate() {
                let _ = writeln!(
                    s,
                    "radotp_eap_methods_total{{method=\"{m}\",result=\"{r}\"}} {}",
                    get(&self.methods[i][j])
                );
            }
        }
        let _ = writeln!(s, "# HELP radotp_eap_conversations_total EAP conversations, by event.\n# TYPE radotp_eap_conversations_total counter");
        for (e, a) in [
            ("started", &self.started),
            ("refused", &self.refused),
            ("timed_out", &self.timed_out),
            ("unknown_state", &self.unknown_state),
            ("malformed", &self.malformed),
        ] {
            let _ = writeln!(
                s,
                "radotp_eap_conversations_total{{event=\"{e}\"}} {}",
                get(a)
            );
        }
    }

    /// Everything as JSON.
    pub fn to_json(&self) -> Value {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let m = |i: usize| {
            json!({
                "started": get(&self.methods[i][0]),
                "accepted": get(&self.methods[i][1]),
                "rejected": get(&self.methods[i][2]),
            })
        };
        json!({
            "conversations_started": get(&self.started),
            "conversations_refused": get(&self.refused),
            "conversations_timed_out": get(&self.timed_out),
            "unknown_state": get(&self.unknown_state),
            "dropped_malformed": get(&self.malformed),
            "dropped_missing_message_authenticator": get(&self.missing_message_authenticator),
            "methods": { "mschapv2": m(0), "gtc": m(1), "peap": m(2), "ttls": m(3) },
        })
    }
}
