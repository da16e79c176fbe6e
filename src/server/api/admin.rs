//! The admin API under `/api/v1/`: users, tokens and the counters, through
//! the same [`Admin`] service as the CLI and the control socket.
//!
//! Every call needs an API key of scope `admin` in `Authorization: Bearer
//! KEY` (`radotp apikey create NAME --scope admin`): none or a wrong one is
//! answered 401, a key of another scope 403. Answers use privacyIDEA's
//! envelope (`result.value`), errors its error shape.
//!
//! | method and path | does |
//! |---|---|
//! | `GET /api/v1/users?offset=&limit=` | a page of users, sorted by name |
//! | `POST /api/v1/users` `{"name", "pin"?, "challenge"?, "groups"?}` | adds a user (201) |
//! | `GET /api/v1/users/NAME` | one user |
//! | `PATCH /api/v1/users/NAME` `{"enabled"?, "pin"?, "challenge"?, "groups"?, "replies"?}` | changes a user (`"pin": null` clears it; `groups` and `replies` replace the old ones) |
//! | `DELETE /api/v1/users/NAME` | deletes a user and their tokens |
//! | `POST /api/v1/users/NAME/unlock` | clears a lock and the failure count |
//! | `GET /api/v1/tokens?user=&offset=&limit=` | a page of tokens, sorted by id |
//! | `POST /api/v1/tokens` `{"user", "type"?, "algorithm"?, "digits"?, "period"?, "description"?, "activate"?}` | enrolls a token (201): the `otpauth://` URI and its QR code as SVG and PNG (base64), shown once; pending until activated |
//! | `GET /api/v1/tokens/ID` | one token |
//! | `POST /api/v1/tokens/ID/activate` `{"code"}` | activates a pending token with a first code |
//! | `POST /api/v1/tokens/ID/resync` `{"code1", "code2"}` | resynchronises a token |
//! | `DELETE /api/v1/tokens/ID` | deletes a token |
//! | `GET /api/v1/stats` | the counters of `radotp stats` |
//! | `GET /api/v1/groups` | the groups: reply attributes, members, clients that allow them |
//! | `GET /api/v1/openapi.json` | `docs/openapi.json`, this list in OpenAPI 3.1 (any valid key) |

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{self, HeaderMap};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::http::{self, code, ApiError, Body, Params};
use super::State;
use crate::admin::{AdminError, AdminReply, AdminRequest, ApiKeyInfo, EnrollSpec, ErrorKind};
use crate::otp::{Algorithm, Kind};
use crate::store::ApiScope;

/// The OpenAPI document of the HTTP API (checked in; tests/api.rs keeps it
/// in step with the routes).
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// Default and largest page of a listing.
const PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// The key of a request, checked: 401 without one or with a wrong one,
/// 403 when its scope does not allow `needed`.
pub async fn authenticate(
    state: &State,
    headers: &HeaderMap,
    needed: ApiScope,
) -> Result<ApiKeyInfo, ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, key) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
        })
        .filter(|k| !k.is_empty())
        .map(str::to_string);
    let Some(presented) = presented else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            code::AUTHENTICATE_AUTH_HEADER,
            "Authentication failure: missing API key (send Authorization: Bearer KEY)",
        ));
    };
    let admin = state.admin();
    let found = tokio::task::spawn_blocking(move || admin.authenticate(&presented))
        .await
        .map_err(|_| ApiError::unavailable())?
        .map_err(|_| ApiError::unavailable())?;
    match found {
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            code::AUTHENTICATE_WRONG_CREDENTIALS,
            "Authentication failure: wrong API key",
        )),
        Some(k) if !k.scope.allows(needed) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            code::AUTHENTICATE_MISSING_RIGHT,
            format!(
                "Authentication failure: API key '{}' has scope {}, this needs {}",
                k.name,
                k.scope.as_str(),
                needed.as_str()
            ),
        )),
        Some(k) => Ok(k),
    }
}

/// Serves `/api/v1/...`.
pub async fn handle(
    state: &Arc<State>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Body> {
    match call(state, peer, req).await {
        Ok(r) => r,
        Err(e) => e.response(),
    }
}

/// What a route asks for.
enum Call {
    /// One admin request; the reply with this status.
    One(AdminRequest, StatusCode),
    /// A listing, cut to a page.
    Page(AdminRequest, usize, usize),
    /// A user change of several requests, then the user.
    UserPatch(String, Vec<AdminRequest>),
    /// An enrolment (the reply gets the QR codes).
    Enroll(EnrollSpec),
    /// An activation (a refused code is an error).
    Activate(AdminRequest),
}

async fn call(
    state: &Arc<State>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    // The document is for every key holder; everything else for admins.
    let openapi = req.uri().path().trim_end_matches('/') == "/api/v1/openapi.json";
    let needed = if openapi {
        ApiScope::Validate
    } else {
        ApiScope::Admin
    };
    let key = authenticate(state, req.headers(), needed).await?;
    if openapi {
        if req.method() != Method::GET {
            return Err(ApiError::method("GET"));
        }
        let mut r = Response::new(http_body_util::Full::new(hyper::body::Bytes::from_static(
            OPENAPI.as_bytes(),
        )));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        return Ok(r);
    }
    let settings = state.settings();
    let (parts, body) = req.into_parts();
    let body = http::read_body(body, &parts.headers, settings.max_body, settings.timeout).await?;
    let query = Params::parse(parts.uri.query(), &HeaderMap::new(), b"")?;
    let segs: Vec<String> = parts
        .uri
        .path()
        .trim_start_matches("/api/v1")
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(http::path_segment)
        .collect::<Result<_, _>>()?;
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = &parts.method;
    let call = match (segs.as_slice(), m) {
        (["users"], &Method::GET) => {
            Call::Page(AdminRequest::UserList, offset(&query)?, limit(&query)?)
        }
        (["users"], &Method::POST) => {
            let b: NewUser = json_body(&body)?;
            Call::One(
                AdminRequest::UserAdd {
                    name: b.name,
                    pin: b.pin,
                    challenge: b.challenge,
                    groups: b.groups,
                },
                StatusCode::CREATED,
            )
        }
        (["users", name], &Method::GET) => Call::One(
            AdminRequest::UserShow {
                name: name.to_string(),
            },
            StatusCode::OK,
        ),
        (["users", name], &Method::PATCH) => {
            let b: UserPatch = json_body(&body)?;
            let name = name.to_string();
            let mut reqs = Vec::new();
            match b.enabled {
                Some(true) => reqs.push(AdminRequest::UserEnable { name: name.clone() }),
                Some(false) => reqs.push(AdminRequest::UserDisable { name: name.clone() }),
                None => {}
            }
            if let Some(pin) = b.pin {
                reqs.push(AdminRequest::UserSetPin {
                    name: name.clone(),
                    pin,
                });
            }
            if let Some(challenge) = b.challenge {
                reqs.push(AdminRequest::UserSetChallenge {
                    name: name.clone(),
                    challenge,
                });
            }
            if b.groups.is_some() || b.replies.is_some() {
                reqs.push(AdminRequest::UserSet {
                    name: name.clone(),
                    groups: b.groups,
                    replies: b.replies,
                });
            }
            Call::UserPatch(name, reqs)
        }
        (["users", name], &Method::DELETE) => Call::One(
            AdminRequest::UserDelete {
                name: name.to_string(),
            },
            StatusCode::OK,
        ),
        (["users", name, "unlock"], &Method::POST) => Call::One(
            AdminRequest::UserUnlock {
                name: name.to_string(),
            },
            StatusCode::OK,
        ),
        (["tokens"], &Method::GET) => Call::Page(
            AdminRequest::TokenList {
                user: query.non_empty("user").map(str::to_string),
                unassigned: query
                    .non_empty("unassigned")
                    .is_some_and(|v| v == "true" || v == "1"),
            },
            offset(&query)?,
            limit(&query)?,
        ),
        (["tokens"], &Method::POST) => {
            let b: NewToken = json_body(&body)?;
            let otp = &settings.config.otp;
            Call::Enroll(EnrollSpec {
                user: b.user,
                kind: b.kind.unwrap_or(Kind::Totp),
                algorithm: b.algorithm.unwrap_or(otp.algorithm),
                digits: b.digits.unwrap_or(otp.digits),
                period: b.period.unwrap_or(otp.period),
                issuer: otp.issuer.clone(),
                description: b.description.unwrap_or_default(),
                activate: b.activate,
            })
        }
        (["tokens", id], &Method::GET) => Call::One(
            AdminRequest::TokenShow { id: id.to_string() },
            StatusCode::OK,
        ),
        (["tokens", id], &Method::DELETE) => Call::One(
            AdminRequest::TokenDelete { id: id.to_string() },
            StatusCode::OK,
        ),
        (["tokens", id, "activate"], &Method::POST) => {
            let b: Code = json_body(&body)?;
            Call::Activate(AdminRequest::TokenActivate {
                id: id.to_string(),
                code: b.code,
            })
        }
        (["tokens", id, "resync"], &Method::POST) => {
            let b: Resync = json_body(&body)?;
            Call::One(
                AdminRequest::TokenResync {
                    id: id.to_string(),
                    code1: b.code1,
                    code2: b.code2,
                },
                StatusCode::OK,
            )
        }
        (["stats"], &Method::GET) => Call::One(AdminRequest::Stats, StatusCode::OK),
        (["groups"], &Method::GET) => Call::One(AdminRequest::GroupList, StatusCode::OK),
        (["users"], _) | (["tokens"], _) => return Err(ApiError::method("GET or POST")),
        (["users", _], _) => return Err(ApiError::method("GET, PATCH or DELETE")),
        (["tokens", _], _) => return Err(ApiError::method("GET or DELETE")),
        (["users", _, "unlock"], _) | (["tokens", _, "activate" | "resync"], _) => {
            return Err(ApiError::method("POST"))
        }
        (["stats"], _) | (["groups"], _) => return Err(ApiError::method("GET")),
        _ => return Err(ApiError::not_found(
            "no such path: expected /api/v1/users, /api/v1/tokens, /api/v1/groups or /api/v1/stats",
        )),
    };
    let st = state.clone();
    let ip = peer.ip();
    tokio::task::spawn_blocking(move || run(&st, ip, &key, call))
        .await
        .map_err(|_| ApiError::unavailable())?
}

/// Executes a call on a blocking thread (the store blocks).
fn run(
    state: &State,
    ip: std::net::IpAddr,
    key: &ApiKeyInfo,
    call: Call,
) -> Result<Response<Body>, ApiError> {
    let admin = state.admin();
    let exec = |req: AdminRequest| {
        let (op, subject) = (req.name(), req.subject().map(str::to_string));
        let r = admin.execute(req);
        tracing::info!(op, key = %key.name, source = %ip, ok = r.is_ok(), "admin request over the HTTP API");
        if crate::audit::is_change(op) {
            let mut m = crate::audit::admin_fields(op, subject.as_deref(), r.is_ok());
            m.insert("by".into(), Value::String(format!("apikey:{}", key.name)));
            m.insert("via".into(), "http api".into());
            m.insert("source".into(), Value::String(ip.to_string()));
            crate::audit::record("admin", m);
        }
        r.map_err(admin_error)
    };
    match call {
        Call::One(req, status) => Ok(http::ok(status, reply_value(exec(req)?), None)),
        Call::Page(req, offset, limit) => {
            let (name, items) = match exec(req)? {
                AdminReply::Users(us) => ("users", serde_json::to_value(us).unwrap_or_default()),
                AdminReply::Tokens(ts) => ("tokens", serde_json::to_value(ts).unwrap_or_default()),
                other => return Ok(http::ok(StatusCode::OK, reply_value(other), None)),
            };
            let all = items.as_array().cloned().unwrap_or_default();
            let page: Vec<Value> = all.iter().skip(offset).take(limit).cloned().collect();
            let next = (offset + page.len() < all.len()).then_some(offset + page.len());
            Ok(http::ok(
                StatusCode::OK,
                json!({ name: page, "count": all.len(), "offset": offset, "limit": limit, "next": next }),
                None,
            ))
        }
        Call::UserPatch(name, reqs) => {
            for r in reqs {
                exec(r)?;
            }
            Ok(http::ok(
                StatusCode::OK,
                reply_value(exec(AdminRequest::UserShow { name })?),
                None,
            ))
        }
        Call::Enroll(spec) => {
            let reply = exec(AdminRequest::TokenEnroll(spec))?;
            let AdminReply::Enrolled { token, uri } = &reply else {
                return Ok(http::ok(StatusCode::CREATED, reply_value(reply), None));
            };
            let mut v = json!({ "token": token, "uri": uri });
            if let Ok(svg) = crate::qr::svg(uri) {
                v["qr_svg"] = json!(svg);
            }
            if let Ok(png) = crate::qr::png(uri, 6) {
                v["qr_png"] = json!(data_encoding::BASE64.encode(&png));
            }
            Ok(http::ok(StatusCode::CREATED, v, None))
        }
        Call::Activate(req) => match exec(req)? {
            AdminReply::Check(c) if !c.accepted => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                code::PARAMETER,
                format!(
                    "code not accepted ({}): the token stays pending",
                    c.reason.as_deref().unwrap_or("wrong_code")
                ),
            )),
            other => Ok(http::ok(StatusCode::OK, reply_value(other), None)),
        },
    }
}

/// The `data` of a reply (a `Done` message as `{"message": ...}`).
fn reply_value(r: AdminReply) -> Value {
    if let AdminReply::Done(m) = &r {
        return json!({ "message": m });
    }
    let v = serde_json::to_value(&r).unwrap_or_default();
    v.get("data").cloned().unwrap_or(Value::Null)
}

fn admin_error(e: AdminError) -> ApiError {
    let (status, code) = match e.kind {
        ErrorKind::Usage => (StatusCode::BAD_REQUEST, code::PARAMETER),
        ErrorKind::NotFound => (StatusCode::NOT_FOUND, code::RESOURCE_NOT_FOUND),
        ErrorKind::Conflict => (StatusCode::CONFLICT, code::PARAMETER),
        ErrorKind::Unavailable => return ApiError::unavailable(),
        ErrorKind::Failed => (StatusCode::UNPROCESSABLE_ENTITY, code::PARAMETER),
    };
    ApiError::new(status, code, e.message)
}

fn json_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("JSON body: {e}")))
}

fn number(q: &Params, name: &str, default: usize) -> Result<usize, ApiError> {
    match q.non_empty(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| ApiError::bad_request(format!("{name}: expected a number"))),
    }
}

fn offset(q: &Params) -> Result<usize, ApiError> {
    number(q, "offset", 0)
}

fn limit(q: &Params) -> Result<usize, ApiError> {
    let l = number(q, "limit", PAGE)?;
    if !(1..=MAX_PAGE).contains(&l) {
        return Err(ApiError::bad_request(format!(
            "limit: expected 1 to {MAX_PAGE}"
        )));
    }
    Ok(l)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    #[serde(default)]
    pin: Option<String>,
    #[serde(default)]
    challenge: bool,
    /// Groups, most specific first.
    #[serde(default)]
    groups: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserPatch {
    #[serde(default)]
    enabled: Option<bool>,
    /// Absent: unchanged; `null`: cleared.
    #[serde(default, deserialize_with = "present")]
    pin: Option<Option<String>>,
    #[serde(default)]
    challenge: Option<bool>,
    /// Replaces the groups.
    #[serde(default)]
    groups: Option<Vec<String>>,
    /// Replaces the user's own reply attributes: `[["Filter-Id", "staff"]]`.
    #[serde(default)]
    replies: Option<Vec<(String, String)>>,
}

/// A field that is there, even as `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    user: String,
    #[serde(default, rename = "type")]
    kind: Option<Kind>,
    #[serde(default)]
    algorithm: Option<Algorithm>,
    #[serde(default)]
    digits: Option<u32>,
    #[serde(default)]
    period: Option<u32>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    activate: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Code {
    code: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Resync {
    code1: String,
    code2: String,
}
