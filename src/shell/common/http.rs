//! JSON responses of the HTTP side of the contract.

use crate::common::error::{ChatError, ErrorCode};
use worker::{Headers, Response, Result};

/// A JSON body with `status`.
pub fn json_response(status: u16, body: String) -> Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json; charset=utf-8")?;
    headers.set("cache-control", "no-store")?;
    Ok(Response::ok(body)?
        .with_status(status)
        .with_headers(headers))
}

/// A reply only our own objects read (no headers: nothing but another object parses it, and
/// every header is a crossing into the runtime).
pub fn internal_reply(body: String) -> Result<Response> {
    Response::ok(body)
}

/// `{"error":{"code":C,"message":M}}` with the code's status.
pub fn error_response(e: &ChatError) -> Result<Response> {
    json_response(e.code.http_status(), e.http_body())
}

pub fn error(code: ErrorCode, message: impl Into<String>) -> Result<Response> {
    error_response(&ChatError::new(code, message))
}

/// Whatever failed inside (an object unreachable, a binding missing, storage), the caller
/// gets the contract's JSON error body with an incident id; the detail goes to the log.
pub fn or_internal_error(what: &str, result: Result<Response>) -> Result<Response> {
    result.or_else(|e| internal(what, &e.to_string()))
}

/// `503 unavailable`: an object the answer needs could not be reached (a registry or stats
/// shard that failed or is being restarted). The client may try again; `detail` goes to the
/// log under an incident id, which the body carries as for `internal`.
pub fn unavailable(what: &str, detail: &str) -> Result<Response> {
    let incident = super::incident::report(what, detail);
    let message = format!("{what} could not be reached; try again");
    error_response(&ChatError {
        incident: Some(incident),
        ..ChatError::new(ErrorCode::Unavailable, message)
    })
}

/// `500 internal` with the incident id under which `detail` was logged.
pub fn internal(what: &str, detail: &str) -> Result<Response> {
    let incident = super::incident::report(what, detail);
    error_response(&ChatError::internal(incident))
}
