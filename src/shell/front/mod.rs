//! The stateless front worker: it authenticates, validates and routes; it holds no state.
//!
//! Every refusal of contract v1 (`bad_room`, `upgrade_required`, `unauthorized`, `forbidden`)
//! is decided here, before any Durable Object is touched, so junk traffic never wakes a room.
//! Checks run cheapest first: room name, upgrade header, then the token's signature.
//!
//! - [`routes`]: each route to its handler (the URL map itself is [`crate::front::routes`]);
//! - [`socket`]: `GET /rooms/{room}/ws`, the upgrade;
//! - [`server_api`]: the admin HTTP API (posts, counts, the rooms' dead letters) and history
//!   and member reads;
//! - [`moderation_api`]: disconnect, kick, ban, unban, revoke;
//! - [`export`]: `GET /rooms/{room}/export`, the room's log streamed as NDJSON;
//! - [`chat`]: a message's deletion and the unread counts across rooms;
//! - [`registry_dead`]: the registry shards' dead letters;
//! - [`auth`]: user tokens, the admin token, and the `DEV_MODE` token endpoint;
//! - [`ip_limit`]: per-IP limits of upgrades and reads;
//! - [`metrics`]: what the front counts for the operator (`METRICS`, optional);
//! - [`request`]: reading query parameters, bearer tokens and bodies.

mod auth;
mod chat;
mod export;
mod ip_limit;
mod metrics;
mod moderation_api;
mod registry_dead;
mod request;
mod routes;
mod server_api;
mod socket;

use crate::calls::{RoomCall, RoomRequest};
use crate::common::error::ErrorCode;
use crate::shell::common::http::error;
use worker::{event, Context, Env, Request, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    // Another handle on the same JS request, so that whatever route answers (and however early
    // it refuses), a body it left unread is drained before the response goes out.
    // (`Clone::clone` copies the handle; the inherent `clone()` would be JS `Request.clone()`.
    // It stays a raw handle: converting it to a `worker::Request` reads `Request.cf`, which
    // showed in profiles.)
    let raw = Clone::clone(req.inner());
    let res = routes::handle(req, &env).await;
    if !raw.body_used() && request::has_body(&raw) {
        request::drain(&mut Request::from(raw)).await;
    }
    let res = crate::shell::common::http::or_internal_error("request", res);
    metrics::answered(&env, res).await
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
