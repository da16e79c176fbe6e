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
    /// The token id (for the log, as RADIUS logs it).
    token_id: String,
    /// The serial shown to the caller.
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
        "/validate/triggerchallenge" => {
            return match trigger(state, peer, req).await {
                Ok(r) => r,
                Err(e) => e.response(),
            }
        }
        _ => {
            return ApiError::not_found(
                "no such path: expected /validate/check, /validate/radiuscheck or /validate/triggerchallenge",
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
            tracing::info!(client = CLIENT, source = %ip, user = %user, method = %Method::Pap, transport = "http", result = %"accept", token = %p.token_id, drift = p.drift, "access");
            stats.result(CLIENT, Method::Pap, 0);
            Ok(Decision::Accept {
                serial: p.serial,
                kind: p.kind,
            })
        }
        Ok(Ok(false)) => {
            tracing::info!(client = CLIENT, source = %ip, user = %user, method = %Method::Pap, transport = "http", result = %"reject", reason = %Reason::ReplayedCode, token = %p.token_id, "access");
            stats.result(CLIENT, Method::Pap, 1);
            Ok(Decision::Reject)
        }
        // Not written (the store failed, or the daemon is stopping): no
        // Accept, and no Reject either: the caller may try again.
        Ok(Err(_)) | Err(_) => Err(ApiError::unavailable()),
    }
}

/// `POST /validate/triggerchallenge` (privacyIDEA's): starts the challenge
/// step for a user without the PIN, so that the next `/validate/check` with
/// the `transaction_id` takes the code alone. Skipping the PIN is an
/// administrator's right, as in privacyIDEA: it needs an API key of scope
/// `admin`, besides `validate_clients` and the rate limit.
async fn trigger(
    state: &Arc<State>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    if *req.method() != HttpMethod::POST {
        return Err(ApiError::method("POST"));
    }
    let settings = state.settings();
    let ip = peer.ip();
    if !settings.validate_client(ip) {
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
    let key = super::admin::authenticate(state, req.headers(), ApiScope::Admin).await?;
    let (parts, body) = req.into_parts();
    let body = http::read_body(body, &parts.headers, settings.max_body, settings.timeout).await?;
    let p = Params::parse(parts.uri.query(), &parts.headers, &body)?;
    let user = p.non_empty("user").map(str::to_string);
    let serial = p.non_empty("serial").map(str::to_string);
    if user.is_none() && serial.is_none() {
        return Err(ApiError::bad_request(
            "You either need to provide user or serial",
        ));
    }
    let st = state.clone();
    let found = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
        let store = st.handler.settings().verifier.store().clone();
        let by_serial = match &serial {
            Some(s) => store.find_token(s)?,
            None => None,
        };
        let owner = match (&user, &by_serial) {
            (Some(u), _) => u.clone(),
            (None, Some(t)) => t.owner.clone(),
            (None, None) => return Ok(None),
        };
        let Some((u, tokens)) = store.user_with_tokens(&owner)? else {
            return Ok(None);
        };
        let tokens: Vec<(String, Kind)> = tokens
            .into_iter()
            .filter(|t| t.state == TokenState::Active)
            .filter(|t| by_serial.as_ref().is_none_or(|b| b.id == t.id))
            .map(|t| (t.serial.unwrap_or(t.id), t.kind))
            .collect();
        Ok((u.enabled && !tokens.is_empty()).then_some((owner, tokens)))
    })
    .await
    .map_err(|_| ApiError::unavailable())?
    .map_err(|e| {
        state.handler.stats().store.failed("read", &e);
        ApiError::unavailable()
    })?;
    let Some((user, tokens)) = found else {
        // privacyIDEA: no challenge triggered, value 0.
        return Ok(http::json_response(
            StatusCode::OK,
            &http::envelope(
                json!({ "status": true, "value": 0 }),
                Some(json!({ "messages": [], "multi_challenge": [], "transaction_ids": [] })),
            ),
        ));
    };
    let Some(txn) = state.challenges.issue(&user, CLIENT, Instant::now()) else {
        return Err(ApiError::unavailable());
    };
    tracing::info!(client = CLIENT, source = %ip, user = %LogName(user.as_bytes()), method = %Method::Pap, transport = "http", result = %"challenge", reason = %"triggered", api_key = %key.name, "access");
    state.handler.stats().result(CLIENT, Method::Pap, 2);
    let n = tokens.len();
    let (mut result, detail) = answer_parts(Decision::Challenge {
        transaction_id: encode_transaction(&txn),
        prompt: state.handler.settings().challenge_prompt.clone(),
        tokens,
    });
    // privacyIDEA's value here is the number of challenges triggered.
    result["value"] = json!(n);
    Ok(http::json_response(
        StatusCode::OK,
        &http::envelope(result, Some(detail)),
    ))
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
                // privacyIDEA names a token by its serial: the hardware
                // serial where there is one, else radotp's token id.
                .map(|t| (t.serial.unwrap_or(t.id), t.kind))
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
            let token = verifier.store().token(&a.token_id)?;
            let kind = token.as_ref().map_or(Kind::Totp, |t| t.kind);
            // The hardware serial where there is one, else the token id.
            let shown = token
                .and_then(|t| t.serial)
                .unwrap_or_else(|| a.token_id.clone());
            let Some(commit) = a.commit else {
                // A verifier that commits itself (not the daemon's).
                tracing::info!(client = CLIENT, source = %ip, user = %log_user, method = %Method::Pap, transport = "http", result = %"accept", token = %a.token_id, drift = a.offset, "access");
                stats.result(CLIENT, Method::Pap, 0);
                return Ok(Step::Now(Decision::Accept {
                    serial: shown,
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
                token_id: a.token_id,
                serial: shown,
                kind,
                drift: a.offset,
            }))
        }
    }
}

/// privacyIDEA's answer to a decision.
fn answer(d: Decision) -> Response<Body> {
    let (result, detail) = answer_parts(d);
    http::json_response(StatusCode::OK, &http::envelope(result, Some(detail)))
}

/// privacyIDEA's `result` and `detail` of a decision.
fn answer_parts(d: Decision) -> (Value, Value) {
    match d {
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
    }
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
