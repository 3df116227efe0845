//! Reading what a request carries: query parameters, bearer tokens, bodies — each in one place.

use crate::common::error::ErrorCode;
use crate::front::server_api::{parse_message_post, MessagePost};
use crate::shell::common::http::{error, error_response};
use worker::{Env, Request, Response, Result, Url};

/// A query parameter of `url` (percent-decoded).
pub fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The token of an `Authorization: Bearer <token>` header. The scheme is matched
/// case-insensitively (RFC 9110 §11.1); `None` when absent, another scheme, or empty.
pub fn bearer(req: &Request) -> Option<String> {
    let header = req.headers().get("authorization").ok().flatten()?;
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// Reads and discards a request body we refuse without using, chunk by chunk (memory stays
/// bounded). Answering while the client is still sending makes some HTTP stacks reset the
/// connection — a kept-alive one then fails the client's *next* request — so refusals let the
/// body arrive first.
pub async fn drain(req: &mut Request) {
    use futures::StreamExt;
    if let Ok(mut body) = req.stream() {
        while let Some(Ok(_)) = body.next().await {}
    }
}

/// Whether the request came with a body (a length, or chunks).
pub fn has_body(raw: &worker::worker_sys::web_sys::Request) -> bool {
    let headers = raw.headers();
    let length = headers.get("content-length").ok().flatten();
    length.is_some_and(|v| v != "0") || headers.has("transfer-encoding").unwrap_or(false)
}

/// Reads a server-API body: `Ok(Err(response))` is a refusal to send back as it is. A body
/// whose `Content-Length` already says it is too big is refused without being read.
pub async fn read_body(
    mut req: Request,
    env: &Env,
) -> Result<std::result::Result<(String, usize), Response>> {
    let max = crate::shell::common::env::settings(env)
        .config
        .max_message_bytes;
    let declared = req
        .headers()
        .get("content-length")?
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        let message = format!("body is over MAX_MESSAGE_BYTES ({max})");
        return Ok(Err(error(ErrorCode::BadRequest, message)?));
    }
    match req.text().await {
        Ok(body) => Ok(Ok((body, max))),
        Err(_) => Ok(Err(error(ErrorCode::BadRequest, "unreadable body")?)),
    }
}

/// Reads and validates a message post and makes what the route sends on from it, while the
/// body is still borrowed (`data` is validated once and copied once); `Ok(Err(response))` is
/// the refusal to return.
pub async fn read_post<T>(
    req: Request,
    env: &Env,
    allow_exclude: bool,
    make: impl FnOnce(MessagePost<'_>) -> T,
) -> Result<std::result::Result<T, Response>> {
    let (body, max) = match read_body(req, env).await? {
        Ok(b) => b,
        Err(refusal) => return Ok(Err(refusal)),
    };
    Ok(match parse_message_post(&body, max, allow_exclude) {
        Ok(post) => Ok(make(post)),
        Err(e) => Err(error_response(&e)?),
    })
}
