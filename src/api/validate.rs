//! `/validate/check` and `/validate/radiuscheck`, as privacyIDEA answers
//! them, on the RADIUS request's verification path.
//!
//! Parameters (query string, form or JSON body): `user`, `pass` (PIN
//! followed by the code), optional `serial` (only that token; without
//! `user`, its owner), `realm` (ignored), and `transaction_id` (or
//! `state`) to answer a challenge with the code alone. A `pass` that is the
//! user's PIN alone (or empty, for a challenge user without a PIN) gets
//! `CHALLENGE` with a transaction id, single-use and expiring like a
//! RADIUS State.
//!
//! Every reject says the same (`wrong otp pin or otp value`) whatever the
//! reason, so the answer does not tell an unknown user, a locked one or a
//! replayed code apart; the log line and the audit trail have the reason.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::{Method as HttpMethod, Request, Response, StatusCode};
use serde_json::{json, Value};

use super::http::{self, ApiError, Body, Params};
use super::State;
use crate::auth::Method;
use crate::otp::Kind;
use crate::server::commit::Job;
use crate::server::handler::LogName;
use crate::store::{ApiScope, StoreError, TokenState};
use crate::verify::{Options, Outcome, Reason};

/// The client name HTTP checks are counted and logged under.
pub const CLIENT: &str = "http";

/// The message of every reject.
pub const REJECT_MESSAGE: &str = "wrong otp pin or otp value";

/// What was asked.
struct Query {
    user: Option<String>,
    serial: Option<String>,
    pass: String,
    transaction: Option<String>,
}

/// What was decided.
enum Decision {
    Accept {
        serial: String,
        kind: Kind,
    },
    Reject,
    Challenge {
        transaction_id: String,
        prompt: String,
        tokens: Vec<(String, Kind)>,
    },
}

/// An Accept waiting for the commit thread.
struct Pending {
    rx: tokio::sync::oneshot::Receiver<Result<bool, String>>,
    user: String,
    serial: String,
    kind: Kind,
    drift: i64,
}

enum Step {
    Now(Decision),
    Commit(Pending),
}

/// Serves `/validate/*`.
pub async fn handle(
    state: &Arc<State>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Body> {
    let radius = match req.uri().path() {
        "/validate/check" => false,
        "/validate/radiuscheck" => true,
        _ => {
            return ApiError::not_found(
                "no such path: expected /validate/check or /validate/radiuscheck",
            )
            .response()
        }
    };
    match check(state, peer, req).await {
        Ok(d) if radius => http::empty(match d {
            Decision::Accept { .. } => StatusCode::NO_CONTENT,
            _ => StatusCode::BAD_REQUEST,
        }),
        Ok(d) => answer(d),
        Err(e) => e.response(),
    }
}

async fn check(
    state: &Arc<State>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Decision, ApiError> {
    if !matches!(*req.method(), HttpMethod::GET | HttpMethod::POST) {
        return Err(ApiError::method("GET or POST"));
    }
    let settings = state.settings();
    let ip = peer.ip();
    if !settings.validate_client(ip) {
        tracing::info!(source = %ip, "API: /validate call from outside [api] validate_clients refused");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            http::code::POLICY,
            format!("{ip} may not call /validate (see [api] validate_clients)"),
        ));
    }
    if !state
        .limiter
        .allow(&ip.to_string(), settings.rate_limit, Instant::now())
    {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            http::code::POLICY,
            "too many requests from this address; slow down",
        ));
    }
    if settings.validate_requires_key {
        super::admin::authenticate(state, req.headers(), ApiScope::Validate).await?;
    }
    let (parts, body) = req.into_parts();
    let body = http::read_body(body, &parts.headers, settings.max_body, settings.timeout).await?;
    let p = Params::parse(parts.uri.query(), &parts.headers, &body)?;
    let pass = p
        .get("pass")
        .ok_or_else(|| ApiError::bad_request("Missing parameter: 'pass'"))?;
    let q = Query {
        user: p.non_empty("user").map(str::to_string),
        serial: p.non_empty("serial").map(str::to_string),
        pass: pass.to_string(),
        transaction: p
            .non_empty("transaction_id")
            .or_else(|| p.non_empty("state"))
            .map(str::to_string),
    };
    if q.user.is_none() && q.serial.is_none() {
        return Err(ApiError::bad_request(
            "You either need to provide user or serial",
        ));
    }
    let st = state.clone();
    let step = tokio::task::spawn_blocking(move || decide(&st, ip, q))
        .await
        .map_err(|_| ApiError::unavailable())?;
    let stats = state.handler.stats();
    let step = match step {
        Ok(s) => {
            stats.store.ok();
            s
        }
        Err(e) => {
            stats.store.failed("read", &e);
            return Err(ApiError::unavailable());
        }
    };
    let p = match step {
        Step::Now(d) => return Ok(d),
        Step::Commit(p) => p,
    };
    let user = LogName(p.user.as_bytes());
    match p.rx.await {
        Ok(Ok(true)) => {
            tracing::info!(client = CLIENT, source = %ip, user = %user, method = %Method::Pap, transport = "http", result = %"accept", token = %p.serial, drift = p.drift, "access");
            stats.result(CLIENT, Method::Pap, 0);
            Ok(Decision::Accept {
                serial: p.serial,
                kind: p.kind,
            })
        }
        Ok(Ok(false)) => {
            tracing::info!(client = CLIENT, source = %ip, user = %user, method = %Method::Pap, transport = "http", result = %"reject", reason = %Reason::ReplayedCode, token = %p.serial, "access");
            stats.result(CLIENT, Method::Pap, 1);
            Ok(Decision::Reject)
        }
        // Not written (the store failed, or the daemon is stopping): no
        // Accept, and no Reject either: the caller may try again.
        Ok(Err(_)) | Err(_) => Err(ApiError::unavailable()),
    }
}

/// The verification, on a blocking thread.
fn decide(state: &State, ip: IpAddr, q: Query) -> Result<Step, StoreError> {
    let settings = state.handler.settings();
    let verifier = &settings.verifier;
    let stats = state.handler.stats();
    let reject = |user: &str, reason: &str| {
        let user = LogName(user.as_bytes());
        tracing::info!(client = CLIENT, source = %ip, user = %user, method = %Method::Pap, transport = "http", result = %"reject", reason = %reason, "access");
        stats.result(CLIENT, Method::Pap, 1);
        Ok(Step::Now(Decision::Reject))
    };
    // `serial=` names a token by id or by hardware serial.
    let serial_token = match &q.serial {
        Some(serial) => match verifier.store().find_token(serial)? {
            Some(t) => Some(t),
            None if q.user.is_none() => return reject("", "unknown_serial"),
            None => None,
        },
        None => None,
    };
    let user = match (&q.user, &serial_token) {
        (Some(u), _) => u.clone(),
        (None, Some(t)) => t.owner.clone(),
        (None, None) => return reject("", "no_user_name"),
    };
    let serial_id = match (&q.serial, &serial_token) {
        (_, Some(t)) => Some(t.id.as_str()),
        (s, None) => s.as_deref(),
    };
    // [lockout] scope = "user+source": "api" and the caller's address.
    let source = (verifier.policy().lockout_scope == crate::verify::LockScope::UserSource)
        .then(|| format!("api/{ip}"));
    let mut opts = Options {
        token: serial_id,
        source: source.as_deref(),
        ..Options::default()
    };
    let now = Instant::now();
    if let Some(txn) = &q.transaction {
        // Second step: the code alone, for the user who passed the first.
        let pending = decode_transaction(txn).and_then(|b| state.challenges.take(&b, now));
        if pending.is_none_or(|p| p.user != user) {
            return reject(&user, "unknown_state");
        }
        opts.with_pin = false;
    } else {
        opts.pin_only_challenge = true;
    }
    let pw = q.pass.as_bytes();
    let outcome = verifier.verify(&user, opts, Some(pw), &|c| crate::secret::ct_eq(c, pw))?;
    let log_user = LogName(user.as_bytes());
    match outcome {
        Outcome::Reject(r) => reject(&user, r.as_str()),
        Outcome::PinOnly => {
            let Some(txn) = state.challenges.issue(&user, CLIENT, now) else {
                tracing::warn!(client = CLIENT, source = %ip, user = %log_user, transport = "http", result = %"reject", reason = %"too_many_challenges", "access");
                stats.result(CLIENT, Method::Pap, 1);
                return Ok(Step::Now(Decision::Reject));
            };
            let tokens = verifier
                .store()
                .tokens_of(&user)?
                .into_iter()
                .filter(|t| t.state == TokenState::Active)
                .filter(|t| serial_id.is_none_or(|s| s == t.id))
                .map(|t| (t.id, t.kind))
                .collect();
            tracing::info!(client = CLIENT, source = %ip, user = %log_user, method = %Method::Pap, transport = "http", result = %"challenge", "access");
            stats.result(CLIENT, Method::Pap, 2);
            Ok(Step::Now(Decision::Challenge {
                transaction_id: encode_transaction(&txn),
                prompt: settings.challenge_prompt.clone(),
                tokens,
            }))
        }
        Outcome::Accept(a) => {
            let kind = verifier
                .store()
                .token(&a.token_id)?
                .map_or(Kind::Totp, |t| t.kind);
            let Some(commit) = a.commit else {
                // A verifier that commits itself (not the daemon's).
                tracing::info!(client = CLIENT, source = %ip, user = %log_user, method = %Method::Pap, transport = "http", result = %"accept", token = %a.token_id, drift = a.offset, "access");
                stats.result(CLIENT, Method::Pap, 0);
                return Ok(Step::Now(Decision::Accept {
                    serial: a.token_id,
                    kind,
                }));
            };
            let (tx, rx) = tokio::sync::oneshot::channel();
            state.queue.submit([Job {
                commit,
                done: Box::new(move |d| {
                    let _ = tx.send(d.map_err(|e| e.to_string()));
                }),
            }]);
            Ok(Step::Commit(Pending {
                rx,
                user,
                serial: a.token_id,
                kind,
                drift: a.offset,
            }))
        }
    }
}

/// privacyIDEA's answer to a decision.
fn answer(d: Decision) -> Response<Body> {
    let (result, detail) = match d {
        Decision::Accept { serial, kind } => (
            json!({ "status": true, "value": true, "authentication": "ACCEPT" }),
            json!({ "message": "matching 1 tokens", "serial": serial, "type": kind.as_str() }),
        ),
        Decision::Reject => (
            json!({ "status": true, "value": false, "authentication": "REJECT" }),
            json!({ "message": REJECT_MESSAGE }),
        ),
        Decision::Challenge {
            transaction_id,
            prompt,
            tokens,
        } => {
            let multi: Vec<Value> = tokens
                .iter()
                .map(|(serial, kind)| {
                    json!({
                        "client_mode": "interactive",
                        "message": prompt,
                        "serial": serial,
                        "transaction_id": transaction_id,
                        "type": kind.as_str(),
                    })
                })
                .collect();
            let mut detail = json!({
                "client_mode": "interactive",
                "preferred_client_mode": "interactive",
                "message": prompt,
                "messages": [prompt],
                "multi_challenge": multi,
                "transaction_id": transaction_id,
                "transaction_ids": [transaction_id],
            });
            if let Some((serial, kind)) = tokens.first() {
                detail["serial"] = json!(serial);
                detail["type"] = json!(kind.as_str());
            }
            (
                json!({ "status": true, "value": false, "authentication": "CHALLENGE" }),
                detail,
            )
        }
    };
    http::json_response(StatusCode::OK, &http::envelope(result, Some(detail)))
}

/// A transaction id: the 16 bytes of a challenge state as 32 hex digits.
fn encode_transaction(state: &[u8; 16]) -> String {
    state.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_transaction(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_ids_round_trip_and_junk_is_none() {
        let s: [u8; 16] = rand::random();
        let t = encode_transaction(&s);
        assert_eq!(t.len(), 32);
        assert_eq!(decode_transaction(&t), Some(s));
        for bad in ["", "00", &"zz".repeat(16), &"é".repeat(16), &"0".repeat(33)] {
            assert_eq!(decode_transaction(bad), None, "{bad}");
        }
    }
}
