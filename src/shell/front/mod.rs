//! The stateless front worker: it authenticates, validates and routes; it holds no state.
//!
//! Every refusal of contract v1 (`bad_room`, `upgrade_required`, `unauthorized`, `forbidden`)
//! is decided here, before any Durable Object is touched, so junk traffic never wakes a room.
//! Checks run cheapest first: room name, upgrade header, then the token's signature.
//!
//! - [`socket`]: `GET /rooms/{room}/ws`, the upgrade;
//! - [`server_api`]: the admin HTTP API and history reads;
//! - [`auth`]: user tokens, the admin token, and the `DEV_MODE` token endpoint;
//! - [`request`]: reading query parameters, bearer tokens and bodies.

mod auth;
mod chat;
mod ip_limit;
mod moderation;
mod registry_dead;
mod request;
mod server_api;
mod socket;

use crate::calls::{RoomCall, RoomRequest};
use crate::common::error::ErrorCode;
use crate::common::names::is_valid_room;
use crate::front::routes::{route, Route};
use crate::shell::common::http::{error, json_response};
use worker::{event, Context, Env, Method, Request, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    // Another handle on the same JS request, so that whatever route answers (and however early
    // it refuses), a body it left unread is drained before the response goes out.
    // (`Clone::clone` copies the handle; the inherent `clone()` would be JS `Request.clone()`.
    // It stays a raw handle: converting it to a `worker::Request` reads `Request.cf`, which
    // showed in profiles.)
    let raw = Clone::clone(req.inner());
    let res = handle(req, &env).await;
    if !raw.body_used() && request::has_body(&raw) {
        request::drain(&mut Request::from(raw)).await;
    }
    crate::shell::common::http::or_internal_error("request", res)
}

async fn handle(req: Request, env: &Env) -> Result<Response> {
    let url = req.url()?;
    let route = route(url.path());
    if route.is_admin(req.method() == Method::Get) && !auth::is_admin(&req, env) {
        // Says nothing about the resource: not whether it exists, nor what the token should be.
        return error(
            ErrorCode::Unauthorized,
            "this endpoint needs Authorization: Bearer <ADMIN_TOKEN>",
        );
    }
    if req.method() == Method::Get && crate::shell::common::env::settings(env).dev_mode {
        if let Some(res) = dev_route(&route, &url, env).await {
            return res;
        }
    }
    match (req.method(), route) {
        (Method::Get, Route::Health) => json_response(200, r#"{"ok":true}"#.into()),
        (_, Route::RoomSocket(room)) => socket::room_socket(req, &url, env, room).await,
        (Method::Get, Route::RoomInfo(room)) => server_api::room_info(env, room).await,
        (Method::Post, Route::RoomMessages(room)) => server_api::post_to_room(req, env, room).await,
        (Method::Get, Route::RoomMembers(room)) => {
            server_api::room_members(&req, &url, env, room).await
        }
        (Method::Get, Route::RoomMessages(room)) => {
            server_api::room_history(&req, &url, env, room).await
        }
        (Method::Get, Route::UserInfo(user)) => server_api::user_info(env, user).await,
        (Method::Post, Route::UserMessages(user)) => server_api::post_to_user(req, env, user).await,
        (Method::Post, Route::ConnectionMessages(id)) => {
            server_api::post_to_connection(req, env, id).await
        }
        (Method::Post, Route::ConnectionDisconnect(id)) => {
            moderation::disconnect_connection(req, env, id).await
        }
        (Method::Post, Route::RoomKick(room)) => moderation::kick(req, env, room).await,
        (Method::Get, Route::RoomBans(room)) => moderation::bans(env, room).await,
        (Method::Delete, Route::RoomBan(room, user)) => moderation::unban(env, room, user).await,
        (Method::Post, Route::UserDisconnect(user)) => {
            moderation::disconnect_user(req, env, user).await
        }
        (Method::Post, Route::UserRevoke(user)) => moderation::revoke(req, env, user).await,
        (Method::Delete, Route::RoomMessage(room, seq)) => {
            chat::delete_message(env, room, seq).await
        }
        (Method::Get, Route::UserUnread(user)) => chat::user_unread(env, user).await,
        (Method::Get, Route::MeUnread) => chat::me_unread(&req, &url, env).await,
        (Method::Get, Route::RoomWebhooksDead(room)) => server_api::dead(&url, env, room).await,
        (Method::Post, Route::RoomWebhooksRetry(room)) => server_api::retry_dead(env, room).await,
        (Method::Get, Route::RegistryWebhooksDead) => registry_dead::list(&url, env).await,
        (Method::Post, Route::RegistryWebhooksRetry) => registry_dead::retry(env).await,
        (Method::Get, Route::Stats) => server_api::stats(env).await,
        (_, Route::Unknown | Route::DevToken | Route::DevMeter | Route::DevRoomDebug(_)) => {
            error(ErrorCode::NotFound, "no such endpoint")
        }
        _ => error(
            ErrorCode::MethodNotAllowed,
            "method not allowed on this endpoint",
        ),
    }
}

/// The `DEV_MODE` routes (`None`: not one of them, or a room name that is not valid).
async fn dev_route(route: &Route<'_>, url: &worker::Url, env: &Env) -> Option<Result<Response>> {
    match route {
        Route::DevToken => Some(auth::dev_token(url, env)),
        Route::DevMeter => Some(dev_meter()),
        Route::DevRoomDebug(room) if is_valid_room(room) => {
            Some(server_api::room_call(env, room, RoomCall::Debug).await)
        }
        _ => None,
    }
}

/// `GET /dev/meter`: what the objects of this isolate were billed for ([`crate::common::meter`]), and
/// the isolate's Wasm linear memory (shared by every object here; it never shrinks).
fn dev_meter() -> Result<Response> {
    let mut meter = serde_json::to_value(crate::common::meter::snapshot())?;
    let pages = core::arch::wasm32::memory_size(0) as u64;
    meter["wasm_memory_bytes"] = (pages * 65_536).into();
    json_response(200, meter.to_string())
}

fn bad_room() -> Result<Response> {
    error(
        ErrorCode::BadRoom,
        "room names are 1-64 characters of A-Z a-z 0-9 . _ ~ -",
    )
}

/// A call to the room object of `room`, answered as the room answers it.
async fn call_room(env: &Env, room: &str, call: RoomCall) -> Result<Response> {
    let request = RoomRequest {
        room: room.to_owned(),
        call,
    };
    crate::shell::calls::call(&crate::shell::calls::room(env, room)?, &request).await
}
