//! The stateless front worker: it authenticates, validates and routes; it holds no state.
//!
//! Every refusal of contract v1 (`bad_room`, `upgrade_required`, `unauthorized`, `forbidden`)
//! is decided here, before any Durable Object is touched, so junk traffic never wakes a room.
//! Checks run cheapest first: room name, upgrade header, then the token's signature.

use super::env::{dev_mode, env_string, now_ms};
use super::http::{error, error_response, json_response};
use super::objects;
use crate::auth::{constant_time_eq, issue_token, parse_room_list, verify_token, Claims};
use crate::config::Config;
use crate::connection_id::room_of;
use crate::error::ErrorCode;
use crate::history::HistoryQuery;
use crate::names::{is_valid_room, is_valid_user_id};
use crate::protocol::{direct_frame, Sender};
use crate::routes::{route, Route};
use crate::server_api::{parse_message_post, MessagePost};
use worker::{event, Context, Env, Headers, Method, Request, RequestInit, Response, Result, Url};

/// Dev tokens live one day unless `ttl` (seconds, at most a week) says otherwise.
const DEV_TOKEN_DEFAULT_TTL_SECS: u64 = 24 * 3600;
const DEV_TOKEN_MAX_TTL_SECS: u64 = 7 * 24 * 3600;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    // Another handle on the same JS request, so that whatever route answers (and however early
    // it refuses), a body it left unread is drained before the response goes out.
    // (`Clone::clone` copies the handle; the inherent `clone()` would be JS `Request.clone()`.)
    let mut unread = Request::from(Clone::clone(req.inner()));
    let res = handle(req, &env).await;
    if !unread.inner().body_used() {
        drain(&mut unread).await;
    }
    super::http::or_internal_error("request", res)
}

async fn handle(req: Request, env: &Env) -> Result<Response> {
    let url = req.url()?;
    let route = route(url.path());
    if route.is_admin(req.method() == Method::Get) && !is_admin(&req, env) {
        // Says nothing about the resource: not whether it exists, nor what the token should be.
        return error(
            ErrorCode::Unauthorized,
            "this endpoint needs Authorization: Bearer <ADMIN_TOKEN>",
        );
    }
    match (req.method(), route) {
        (Method::Get, Route::Health) => json_response(200, r#"{"ok":true}"#.into()),
        (Method::Get, Route::DevToken) if dev_mode(env) => dev_token(&url, env),
        (Method::Get, Route::DevRoomDebug(room)) if dev_mode(env) && is_valid_room(room) => {
            objects::get(&objects::room(env, room)?, "debug", &[]).await
        }
        (_, Route::RoomSocket(room)) => room_socket(req, &url, env, room).await,
        (Method::Get, Route::RoomInfo(room)) => {
            if !is_valid_room(room) {
                return bad_room();
            }
            objects::get(&objects::room(env, room)?, "info", &[("room", room)]).await
        }
        (Method::Post, Route::RoomMessages(room)) => post_to_room(req, env, room).await,
        (Method::Get, Route::RoomMessages(room)) => room_history(&req, &url, env, room).await,
        (Method::Get, Route::UserInfo(user)) => {
            let Some(user) = user.filter(|u| is_valid_user_id(u)) else {
                return bad_user();
            };
            objects::get(&objects::registry(env, &user)?, "info", &[("user", &user)]).await
        }
        (Method::Post, Route::UserMessages(user)) => {
            let Some(user) = user.filter(|u| is_valid_user_id(u)) else {
                return bad_user();
            };
            post_to_user(req, env, &user).await
        }
        (Method::Post, Route::ConnectionMessages(id)) => post_to_connection(req, env, id).await,
        (Method::Get, Route::Stats) => {
            let totals = super::stats::global_totals(env).await?;
            json_response(200, serde_json::to_string(&totals)?)
        }
        (_, Route::Unknown) => error(ErrorCode::NotFound, "no such endpoint"),
        (_, Route::DevToken | Route::DevRoomDebug(_)) => {
            error(ErrorCode::NotFound, "no such endpoint")
        }
        _ => error(
            ErrorCode::MethodNotAllowed,
            "method not allowed on this endpoint",
        ),
    }
}

/// `GET /rooms/{room}/messages?before=N|since=N&limit=L`: a page of the room's log, for the
/// admin token or a user token that may join the room. The query is validated here, so a bad
/// one never reaches the room.
async fn room_history(req: &Request, url: &Url, env: &Env, room: &str) -> Result<Response> {
    if !is_valid_room(room) {
        return bad_room();
    }
    if !is_admin(req, env) {
        match authenticate(req, url, env) {
            Ok(claims) if claims.may_join(room) => {}
            Ok(_) => {
                return error(
                    ErrorCode::Forbidden,
                    "the token's `rooms` claim does not include this room",
                )
            }
            Err(e) => return error_response(&e),
        }
    }
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let query = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    if let Err(e) = HistoryQuery::parse(query) {
        return error_response(&e);
    }
    let mut forwarded: Vec<(&str, &str)> = vec![("room", room)];
    forwarded.extend(
        pairs
            .iter()
            .filter(|(k, _)| matches!(k.as_str(), "before" | "since" | "limit"))
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    objects::get(&objects::room(env, room)?, "messages", &forwarded).await
}

/// `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time. An unset or empty
/// `ADMIN_TOKEN` disables the server API rather than opening it.
fn is_admin(req: &Request, env: &Env) -> bool {
    let expected = env_string(env, "ADMIN_TOKEN").unwrap_or_default();
    let given = req
        .headers()
        .get("authorization")
        .ok()
        .flatten()
        .unwrap_or_default();
    let given = given.strip_prefix("Bearer ").unwrap_or_default().trim();
    !expected.is_empty() && constant_time_eq(given.as_bytes(), expected.as_bytes())
}

fn bad_room() -> Result<Response> {
    error(
        ErrorCode::BadRoom,
        "room names are 1-64 characters of A-Z a-z 0-9 . _ ~ -",
    )
}

fn bad_user() -> Result<Response> {
    error(ErrorCode::BadRequest, "user ids are 1-128 characters")
}

/// Reads and discards a request body we refuse without using, chunk by chunk (memory stays
/// bounded). Answering while the client is still sending makes some HTTP stacks reset the
/// connection — a kept-alive one then fails the client's *next* request — so refusals let the
/// body arrive first.
async fn drain(req: &mut Request) {
    use futures::StreamExt;
    let has_body = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .is_some_and(|v| v != "0")
        || req.headers().has("transfer-encoding").unwrap_or(false);
    if has_body {
        if let Ok(mut body) = req.stream() {
            while let Some(Ok(_)) = body.next().await {}
        }
    }
}

/// Reads a server-API body: `Ok(Err(response))` is a refusal to send back as it is. A body
/// whose `Content-Length` already says it is too big is refused without being read.
async fn read_body(
    mut req: Request,
    env: &Env,
) -> Result<std::result::Result<(String, usize), Response>> {
    let max = Config::from_lookup(|n| env_string(env, n)).max_message_bytes;
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

/// Reads and validates a server-API body and makes what the route sends on from it, while
/// the body is still borrowed (`data` is validated once and copied once);
/// `Ok(Err(response))` is the refusal to return.
async fn read_post<T>(
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

/// The `direct` frame of the server API (`from: {"server": true}`).
fn server_direct(post: MessagePost<'_>) -> String {
    direct_frame(Sender::Server, post.data)
}

/// `POST /rooms/{room}/messages` `{"data":...,"exclude":<connection_id>}` → `{"delivered":N,"seq":S}`.
async fn post_to_room(req: Request, env: &Env, room: &str) -> Result<Response> {
    if !is_valid_room(room) {
        return bad_room();
    }
    let make = |p: MessagePost<'_>| (p.data.get().to_owned(), p.exclude);
    let (data, exclude) = match read_post(req, env, true, make).await? {
        Ok(p) => p,
        Err(refusal) => return Ok(refusal),
    };
    let mut query = vec![("room", room)];
    if let Some(ex) = exclude.as_deref() {
        query.push(("exclude", ex));
    }
    objects::post(&objects::room(env, room)?, "publish", &query, Some(data)).await
}

/// `POST /users/{user}/messages` `{"data":...}` → every connection of the user, all rooms.
async fn post_to_user(req: Request, env: &Env, user: &str) -> Result<Response> {
    let frame = match read_post(req, env, false, server_direct).await? {
        Ok(f) => f,
        Err(refusal) => return Ok(refusal),
    };
    objects::post(
        &objects::registry(env, user)?,
        "deliver",
        &[("user", user)],
        Some(frame),
    )
    .await
}

/// `POST /connections/{id}/messages` `{"data":...}` → `{"delivered":1}` or 404.
async fn post_to_connection(req: Request, env: &Env, id: &str) -> Result<Response> {
    let frame = match read_post(req, env, false, server_direct).await? {
        Ok(f) => f,
        Err(refusal) => return Ok(refusal),
    };
    let Some(room) = room_of(id) else {
        return error(ErrorCode::NotFound, "no such connection");
    };
    let query = [("room", room), ("connection", id)];
    objects::post(&objects::room(env, room)?, "direct", &query, Some(frame)).await
}

/// `GET /rooms/{room}/ws`: checks everything, then hands the upgrade to the room object.
async fn room_socket(req: Request, url: &Url, env: &Env, room: &str) -> Result<Response> {
    if !is_valid_room(room) {
        return bad_room();
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
    // `?since=N` resumes after message N (see docs/protocol.md).
    let since = url
        .query_pairs()
        .find(|(k, _)| k == "since")
        .map(|(_, v)| v.into_owned());
    let mut query = vec![("user", claims.sub.as_str()), ("room", room)];
    match since.as_deref().map(|s| (s, s.parse::<u64>())) {
        None => {}
        Some((s, Ok(_))) => query.push(("since", s)),
        Some(_) => {
            return error(
                ErrorCode::BadRequest,
                "`since` must be a non-negative integer",
            )
        }
    }
    // `?batch=1` opts this connection into coalesced delivery (`batch` frames, see
    // docs/protocol.md); without it the connection gets exactly the v1 frames.
    match url
        .query_pairs()
        .find(|(k, _)| k == "batch")
        .as_ref()
        .map(|(_, v)| v.as_ref())
    {
        None | Some("0" | "false") => {}
        Some("1" | "true") => query.push(("batch", "1")),
        Some(_) => return error(ErrorCode::BadRequest, "`batch` must be 1 or 0"),
    }
    let internal = objects::url("ws", &query)?;
    let headers = Headers::new();
    headers.set("upgrade", "websocket")?;
    let mut init = RequestInit::new();
    init.with_headers(headers);
    objects::room(env, room)?
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
