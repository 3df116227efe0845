//! The stateless front worker: it authenticates, validates and routes; it holds no state.
//!
//! Every refusal of contract v1 (`bad_room`, `upgrade_required`, `unauthorized`, `forbidden`)
//! is decided here, before any Durable Object is touched, so junk traffic never wakes a room.
//! Checks run cheapest first: room name, upgrade header, then the token's signature.

use super::env::{dev_mode, env_string, now_ms};
use super::http::{error, error_response, json_response};
use crate::auth::{issue_token, parse_room_list, verify_token, Claims};
use crate::error::ErrorCode;
use crate::names::{is_valid_room, is_valid_user_id};
use crate::routes::{route, Route};
use worker::{event, Context, Env, Headers, Request, RequestInit, Response, Result, Url};

/// The Durable Object namespace binding of chat rooms (see wrangler.toml).
pub const ROOMS_BINDING: &str = "ROOMS";

/// Dev tokens live one day unless `ttl` (seconds, at most a week) says otherwise.
const DEV_TOKEN_DEFAULT_TTL_SECS: u64 = 24 * 3600;
const DEV_TOKEN_MAX_TTL_SECS: u64 = 7 * 24 * 3600;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    let url = req.url()?;
    match route(url.path()) {
        Route::Health => json_response(200, r#"{"ok":true}"#.into()),
        Route::DevToken if dev_mode(&env) => dev_token(&url, &env),
        Route::DevRoomDebug(room) if dev_mode(&env) && is_valid_room(room) => {
            let internal = room_url("debug", &[])?;
            room_stub(&env, room)?
                .fetch_with_request(Request::new(internal.as_str(), worker::Method::Get)?)
                .await
        }
        Route::RoomSocket(room) => room_socket(req, &url, &env, room).await,
        _ => error(ErrorCode::NotFound, "no such endpoint"),
    }
}

/// `GET /rooms/{room}/ws`: checks everything, then hands the upgrade to the room object.
async fn room_socket(req: Request, url: &Url, env: &Env, room: &str) -> Result<Response> {
    if !is_valid_room(room) {
        return error(
            ErrorCode::BadRoom,
            "room names are 1-64 characters of A-Z a-z 0-9 . _ ~ -",
        );
    }
    let is_upgrade = req
        .headers()
        .get("upgrade")?
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !is_upgrade {
        return error(
            ErrorCode::UpgradeRequired,
            "this endpoint takes a WebSocket upgrade (Upgrade: websocket)",
        );
    }
    let claims = match authenticate(&req, url, env) {
        Ok(c) => c,
        Err(e) => return error_response(&e),
    };
    if !claims.may_join(room) {
        return error(
            ErrorCode::Forbidden,
            "the token's `rooms` claim does not include this room",
        );
    }
    // The identity travels in the internal URL, not in headers: user ids may hold any Unicode,
    // which HTTP header values cannot carry. Room objects are only reachable through this
    // worker, so what arrives there has been verified here.
    let internal = room_url("ws", &[("user", &claims.sub), ("room", room)])?;
    let headers = Headers::new();
    headers.set("upgrade", "websocket")?;
    let mut init = RequestInit::new();
    init.with_headers(headers);
    room_stub(env, room)?
        .fetch_with_request(Request::new_with_init(internal.as_str(), &init)?)
        .await
}

/// Verifies the token from `?token=` or `Authorization: Bearer`.
fn authenticate(
    req: &Request,
    url: &Url,
    env: &Env,
) -> std::result::Result<Claims, crate::error::ChatError> {
    use crate::error::ChatError;
    let from_query = url
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned());
    let from_header = || {
        req.headers()
            .get("authorization")
            .ok()
            .flatten()
            .and_then(|h| h.strip_prefix("Bearer ").map(|t| t.trim().to_owned()))
    };
    let token = from_query
        .or_else(from_header)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ChatError::new(
                ErrorCode::Unauthorized,
                "missing token: pass ?token= or Authorization: Bearer",
            )
        })?;
    let secret = env_string(env, "AUTH_SECRET").unwrap_or_default();
    verify_token(secret.as_bytes(), &token, now_ms() / 1000)
}

/// `GET /dev/token?user=U[&rooms=a,b][&ttl=S]` (DEV_MODE only): a signed token for demos.
fn dev_token(url: &Url, env: &Env) -> Result<Response> {
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let Some(user) = param("user").filter(|u| is_valid_user_id(u)) else {
        return error(ErrorCode::BadRequest, "`user` must be 1-128 characters");
    };
    let rooms = match param("rooms").map(|r| parse_room_list(&r)).transpose() {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    let ttl = match param("ttl").map(|t| t.parse::<u64>()) {
        None => DEV_TOKEN_DEFAULT_TTL_SECS,
        Some(Ok(t)) if (1..=DEV_TOKEN_MAX_TTL_SECS).contains(&t) => t,
        Some(_) => {
            return error(
                ErrorCode::BadRequest,
                format!("`ttl` must be 1-{DEV_TOKEN_MAX_TTL_SECS} seconds"),
            )
        }
    };
    let secret = env_string(env, "AUTH_SECRET").unwrap_or_default();
    if secret.is_empty() {
        return error(ErrorCode::Internal, "AUTH_SECRET is not configured");
    }
    let claims = Claims {
        sub: user,
        exp: now_ms() / 1000 + ttl,
        rooms,
    };
    match issue_token(secret.as_bytes(), &claims) {
        Ok(token) => json_response(200, serde_json::json!({ "token": token }).to_string()),
        Err(e) => error_response(&e),
    }
}

/// The stub of the room object named `room` (one object per room name).
fn room_stub(env: &Env, room: &str) -> Result<worker::Stub> {
    env.durable_object(ROOMS_BINDING)?
        .id_from_name(room)?
        .get_stub()
}

/// An internal URL for a room object's `fetch`; the host is never resolved.
fn room_url(path: &str, query: &[(&str, &str)]) -> Result<Url> {
    let mut url = Url::parse("https://room.internal/")?.join(path)?;
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    Ok(url)
}
