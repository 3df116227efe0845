//! Who is asking: user tokens (verified by [`crate::shell::auth`]), the admin token, and the
//! `DEV_MODE` token endpoint.

use super::request::{bearer, query_param};
use crate::auth::{issue_token, Claims};
use crate::common::error::{ChatError, ErrorCode};
use crate::common::names::is_valid_user_id;
use crate::front::auth::{constant_time_eq, parse_room_list};
use crate::protocol::token_from_subprotocols;
use crate::shell::common::env::{now_ms, settings};
use crate::shell::common::http::{error, error_response, json_response};
use worker::{Env, Request, Response, Result, Url};

/// Dev tokens live one day unless `ttl` (seconds, at most a week) says otherwise.
const DEV_TOKEN_DEFAULT_TTL_SECS: u64 = 24 * 3600;
const DEV_TOKEN_MAX_TTL_SECS: u64 = 7 * 24 * 3600;

/// `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time. An unset or empty
/// `ADMIN_TOKEN` disables the server API rather than opening it.
pub fn is_admin(req: &Request, env: &Env) -> bool {
    let settings = settings(env);
    let expected = settings.admin_token.as_bytes();
    let given = bearer(req).unwrap_or_default();
    !expected.is_empty() && constant_time_eq(given.as_bytes(), expected)
}

/// Verifies the user token from `?token=`, `Authorization: Bearer`, or the
/// `edge-chat.token.<jwt>` WebSocket subprotocol (browsers can set no header on a WebSocket,
/// and a token in the URL ends up in logs).
pub async fn authenticate(
    req: &Request,
    url: &Url,
    env: &Env,
) -> std::result::Result<Claims, ChatError> {
    let from_subprotocol = || {
        let offered = req.headers().get("sec-websocket-protocol").ok().flatten()?;
        token_from_subprotocols(&offered).map(str::to_owned)
    };
    let token = query_param(url, "token")
        .filter(|t| !t.is_empty())
        .or_else(|| bearer(req))
        .or_else(from_subprotocol)
        .ok_or_else(|| {
            ChatError::new(
                ErrorCode::Unauthorized,
                "missing token: pass ?token=, Authorization: Bearer, or the edge-chat.token.<jwt> subprotocol",
            )
        })?;
    crate::shell::auth::verify(env, &token).await
}

/// The claims of a token that may use `room`: `Err` is the refusal (401, or 403 when the
/// token's `rooms` claim does not list the room).
pub async fn authorize_room(
    req: &Request,
    url: &Url,
    env: &Env,
    room: &str,
) -> std::result::Result<Claims, ChatError> {
    let claims = authenticate(req, url, env).await?;
    if !claims.may_join(room) {
        return Err(ChatError::new(
            ErrorCode::Forbidden,
            "the token's `rooms` claim does not include this room",
        ));
    }
    Ok(claims)
}

/// `GET /dev/token?user=U[&rooms=a,b][&ttl=S]` (DEV_MODE only): a signed token for demos.
pub fn dev_token(url: &Url, env: &Env) -> Result<Response> {
    let Some(user) = query_param(url, "user").filter(|u| is_valid_user_id(u)) else {
        return error(
            ErrorCode::BadRequest,
            format!("`user` must be {}", crate::common::names::USER_ID_RULE),
        );
    };
    let rooms = match query_param(url, "rooms")
        .map(|r| parse_room_list(&r))
        .transpose()
    {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    let ttl = match query_param(url, "ttl").map(|t| t.parse::<u64>()) {
        None => DEV_TOKEN_DEFAULT_TTL_SECS,
        Some(Ok(t)) if (1..=DEV_TOKEN_MAX_TTL_SECS).contains(&t) => t,
        Some(_) => {
            let message = format!("`ttl` must be 1-{DEV_TOKEN_MAX_TTL_SECS} seconds");
            return error(ErrorCode::BadRequest, message);
        }
    };
    let settings = settings(env);
    let secret = settings.config.auth.secret.as_bytes();
    if secret.is_empty() {
        return error(ErrorCode::Internal, "AUTH_SECRET is not configured");
    }
    let now = now_ms() / 1000;
    let claims = Claims {
        sub: user,
        exp: now + ttl,
        rooms,
        iat: Some(now),
        ..Claims::default()
    };
    match issue_token(secret, &claims) {
        Ok(token) => json_response(200, serde_json::json!({ "token": token }).to_string()),
        Err(e) => error_response(&e),
    }
}
