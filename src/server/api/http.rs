//! What every route shares: reading a bounded body in bounded time, the
//! parameters of a query string, form or JSON body, and privacyIDEA's
//! response envelope (`{"jsonrpc": "2.0", "result": {...}, "detail":
//! {...}, "version": ..., "time": ...}`) with its error shape
//! (`result.status: false`, `result.error.code`, `result.error.message`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

/// The body of every response.
pub type Body = Full<Bytes>;

/// privacyIDEA's error codes (its `lib/error.py`), as its clients know them.
pub mod code {
    /// A policy refused (here: a source outside `validate_clients`).
    pub const POLICY: i64 = 303;
    /// Authentication of the caller failed (missing API key).
    pub const AUTHENTICATE_AUTH_HEADER: i64 = 4033;
    /// A wrong API key.
    pub const AUTHENTICATE_WRONG_CREDENTIALS: i64 = 4031;
    /// The key lacks the scope.
    pub const AUTHENTICATE_MISSING_RIGHT: i64 = 4306;
    /// No such resource.
    pub const RESOURCE_NOT_FOUND: i64 = 601;
    /// The server failed (the store).
    pub const SERVER: i64 = 903;
    /// A missing or malformed parameter, or a bad request.
    pub const PARAMETER: i64 = 905;
}

/// An error answer: its HTTP status, privacyIDEA error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: i64,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: i64, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 with the parameter error code.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code::PARAMETER, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, code::RESOURCE_NOT_FOUND, message)
    }

    /// 503: the store failed (nothing was decided; try again or elsewhere).
    pub fn unavailable() -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code::SERVER,
            "the token store is unavailable; try again",
        )
    }

    /// 405 for a path that takes `allowed`.
    pub fn method(allowed: &str) -> Self {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            code::PARAMETER,
            format!("method not allowed here: expected {allowed}"),
        )
    }

    /// The response: privacyIDEA's error shape.
    pub fn response(&self) -> Response<Body> {
        let v = envelope(
            json!({
                "status": false,
                "error": { "code": self.code, "message": self.message },
            }),
            None,
        );
        let mut r = json_response(self.status, &v);
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// The envelope of every JSON answer.
pub fn envelope(result: Value, detail: Option<Value>) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let mut v = json!({
        "id": 1,
        "jsonrpc": "2.0",
        "result": result,
        "version": concat!("radotp ", env!("CARGO_PKG_VERSION")),
        "versionnumber": env!("CARGO_PKG_VERSION"),
        "time": now,
    });
    if let Some(d) = detail {
        v["detail"] = d;
    }
    v
}

/// A success envelope around `value`.
pub fn ok(status: StatusCode, value: Value, detail: Option<Value>) -> Response<Body> {
    json_response(
        status,
        &envelope(json!({ "status": true, "value": value }), detail),
    )
}

/// A JSON response (never cached: answers are about secrets and state).
pub fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    let mut body = serde_json::to_vec(v).unwrap_or_default();
    body.push(b'\n');
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// An empty response (`/validate/radiuscheck`).
pub fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Reads the whole body: at most `max` bytes (413 beyond; a declared
/// `Content-Length` beyond is refused before a byte is read), within
/// `timeout` (408 for a client that sends too slowly).
pub async fn read_body(
    body: Incoming,
    headers: &HeaderMap,
    max: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            code::PARAMETER,
            format!("request body larger than {max} bytes"),
        )
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        if len > max as u64 {
            return Err(too_large());
        }
    }
    match tokio::time::timeout(timeout, Limited::new(body, max).collect()).await {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            code::PARAMETER,
            "the request body did not arrive in time",
        )),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(_)) => Err(ApiError::bad_request("the request body cannot be read")),
        Ok(Ok(c)) => Ok(c.to_bytes()),
    }
}

/// Request parameters: the query string's, then the body's (a form or a
/// JSON object), in order; the first of a name counts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first non-empty value of `name`.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// The parameters of a query string and a body. The body is JSON when
    /// its Content-Type says so (or none is given and it starts with `{`),
    /// else a form (`application/x-www-form-urlencoded`); other types are
    /// refused (415).
    pub fn parse(
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Params, ApiError> {
        let mut p = Params::default();
        if let Some(q) = query {
            p.add_form(q.as_bytes())
                .map_err(|m| ApiError::bad_request(format!("query string: {m}")))?;
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(p);
        }
        let ctype = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        let json = match ctype.as_deref() {
            Some("application/json") => true,
            Some(t) if t.ends_with("+json") => true,
            Some("application/x-www-form-urlencoded") | Some("text/plain") => false,
            None | Some("") => body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'),
            Some(other) => {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    code::PARAMETER,
                    format!("Content-Type {other}: expected application/x-www-form-urlencoded or application/json"),
                ))
            }
        };
        if json {
            p.add_json(body)?;
        } else {
            p.add_form(body)
                .map_err(|m| ApiError::bad_request(format!("form body: {m}")))?;
        }
        Ok(p)
    }

    /// `application/x-www-form-urlencoded`, strictly: a `%` must start two
    /// hex digits and every name and value must be UTF-8.
    fn add_form(&mut self, text: &[u8]) -> Result<(), String> {
        for pair in text.split(|&b| b == b'&') {
            if pair.is_empty() {
                continue;
            }
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            let k = form_decode(k)?;
            if k.is_empty() {
                return Err("a parameter without a name".into());
            }
            let v = form_decode(v)?;
            self.0.push((k, v));
        }
        Ok(())
    }

    fn add_json(&mut self, body: &[u8]) -> Result<(), ApiError> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))?;
        let Value::Object(m) = v else {
            return Err(ApiError::bad_request(
                "JSON body: expected an object of parameters",
            ));
        };
        for (k, v) in m {
            let s = match v {
                Value::Null => continue,
                Value::String(s) => s,
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                Value::Array(_) | Value::Object(_) => {
                    return Err(ApiError::bad_request(format!(
                        "JSON body: parameter '{}' must be a string",
                        crate::server::handler::LogName(k.as_bytes())
                    )))
                }
            };
            self.0.push((k, s));
        }
        Ok(())
    }
}

/// One form-encoded name or value: `+` is a space, `%XX` a byte.
fn form_decode(raw: &[u8]) -> Result<String, String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw
                    .get(i + 1..i + 3)
                    .ok_or("a '%' without two hex digits")?;
                let s = std::str::from_utf8(hex).map_err(|_| "a '%' without two hex digits")?;
                let b = u8::from_str_radix(s, 16).map_err(|_| "a '%' without two hex digits")?;
                out.push(b);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 once decoded".into())
}

/// One path segment, percent-decoded (`%2F` stays inside the segment: an
/// id, never a path). Control characters are refused.
pub fn path_segment(raw: &str) -> Result<String, ApiError> {
    let bad = || ApiError::bad_request("malformed path segment");
    let mut out = Vec::with_capacity(raw.len());
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let s = raw.get(i + 1..i + 3).ok_or_else(bad)?;
            out.push(u8::from_str_radix(s, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    let s = String::from_utf8(out).map_err(|_| bad())?;
    if s.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "path segment must not contain control characters",
        ));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(ctype: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(t) = ctype {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(t).unwrap());
        }
        h
    }

    #[test]
    fn form_query_and_json_parameters_first_one_counts() {
        let p = Params::parse(
            Some("user=al%69ce&realm=x"),
            &headers(Some("application/x-www-form-urlencoded")),
            b"pass=12+34%2B&user=bob&&flag",
        )
        .unwrap();
        assert_eq!(p.get("user"), Some("alice"), "the query string's first");
        assert_eq!(p.get("pass"), Some("12 34+"));
        assert_eq!(p.get("flag"), Some(""));
        assert_eq!(p.non_empty("flag"), None);
        let p = Params::parse(
            None,
            &headers(Some("application/json; charset=utf-8")),
            br#"{"user":"alice","pass":"4711123456","serial":null,"n":5,"b":true}"#,
        )
        .unwrap();
        assert_eq!(
            (
                p.get("user"),
                p.get("pass"),
                p.get("serial"),
                p.get("n"),
                p.get("b")
            ),
            (
                Some("alice"),
                Some("4711123456"),
                None,
                Some("5"),
                Some("true")
            )
        );
        // No Content-Type: JSON when it looks like it, else a form.
        assert_eq!(
            Params::parse(None, &headers(None), br#" {"user":"a"}"#)
                .unwrap()
                .get("user"),
            Some("a")
        );
        assert_eq!(
            Params::parse(None, &headers(None), b"user=a")
                .unwrap()
                .get("user"),
            Some("a")
        );
    }

    #[test]
    fn malformed_bodies_are_clear_400s_and_other_types_415() {
        let form = headers(Some("application/x-www-form-urlencoded"));
        for bad in [&b"user=%zz"[..], b"user=%4", b"pass=%ff%fe", b"=x"] {
            let e = Params::parse(None, &form, bad).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad:?}");
            assert_eq!(e.code, code::PARAMETER);
        }
        let json = headers(Some("application/json"));
        for bad in [
            &b"{\"user\":"[..],
            b"[1,2]",
            b"\"x\"",
            br#"{"user":["a"]}"#,
            b"\xff",
        ] {
            let e = Params::parse(None, &json, bad).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad:?}");
        }
        let e = Params::parse(
            None,
            &headers(Some("multipart/form-data; boundary=x")),
            b"--x",
        )
        .unwrap_err();
        assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(Params::parse(Some("a=%"), &form, b"").is_err());
    }

    #[test]
    fn path_segments_decode_and_refuse_control_characters() {
        assert_eq!(path_segment("al%20ice").unwrap(), "al ice");
        assert_eq!(path_segment("..%2F..%2Fetc").unwrap(), "../../etc");
        assert!(path_segment("a%0Ab").is_err());
        assert!(path_segment("a%zz").is_err());
        assert!(path_segment("a%").is_err());
        assert!(path_segment("%ff").is_err());
    }

    #[test]
    fn error_shape_is_privacyideas() {
        let r = ApiError::bad_request("Missing parameter: 'pass'").response();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let v = envelope(json!({"status": false}), Some(json!({"message": "m"})));
        assert_eq!(v["jsonrpc"], "2.0");
        assert_eq!(v["id"], 1);
        assert!(v["version"].as_str().unwrap().starts_with("radotp "));
        assert!(v["time"].as_f64().unwrap() > 1.6e9);
        assert_eq!(v["detail"]["message"], "m");
    }
}
