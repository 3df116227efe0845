//! `GET /rooms/{room}/ws`: every refusal is decided here, cheapest check first, before the
//! upgrade is handed to the room object.

use super::auth::authorize_room;
use super::request::query_param;
use super::{bad_room, call_room};
use crate::calls::RoomCall;
use crate::common::error::ErrorCode;
use crate::common::names::is_valid_room;
use crate::protocol::{offers_subprotocol, token_from_subprotocols};
use crate::shell::common::http::{error, error_response};
use worker::{Env, Request, Response, Result, Url};

pub async fn room_socket(req: Request, url: &Url, env: &Env, room: &str) -> Result<Response> {
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
    let offered = req.headers().get("sec-websocket-protocol")?;
    let subprotocol = offered.as_deref().is_some_and(offers_subprotocol);
    if !subprotocol
        && offered
            .as_deref()
            .and_then(token_from_subprotocols)
            .is_some()
    {
        let message = "offer the edge-chat.v1 subprotocol along with the token";
        return error(ErrorCode::BadRequest, message);
    }
    let claims = match authorize_room(&req, url, env, room).await {
        Ok(c) => c,
        Err(e) => return error_response(&e),
    };
    let (since, batch) = match connect_options(url) {
        Ok(o) => o,
        Err(message) => return error(ErrorCode::BadRequest, message),
    };
    // Counted per IP only once the upgrade is well-formed and authorized: it would reach a room.
    if let Err(e) = super::ip_limit::check(&req, env).await {
        return error_response(&e);
    }
    // The identity travels in the internal call, not in headers: user ids may hold any
    // Unicode, which HTTP header values cannot carry. Room objects are only reachable through
    // this worker, so what arrives there has been verified here.
    let call = RoomCall::Connect {
        user: claims.sub,
        since,
        batch,
        exp: claims.exp,
        iat: claims.iat,
        rooms: claims.rooms,
        subprotocol,
    };
    call_room(env, room, call).await
}

/// `?since=N` resumes after message N; `?batch=1` opts the connection into coalesced delivery
/// (`batch` frames; without it the connection gets exactly the v1 frames). See
/// docs/protocol.md. `Err` is the `bad_request` message.
fn connect_options(url: &Url) -> std::result::Result<(Option<u64>, bool), &'static str> {
    let since = match query_param(url, "since").map(|s| s.parse::<u64>()) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return Err("`since` must be a non-negative integer"),
    };
    let batch = match query_param(url, "batch").as_deref() {
        None | Some("0" | "false") => false,
        Some("1" | "true") => true,
        Some(_) => return Err("`batch` must be 1 or 0"),
    };
    Ok((since, batch))
}
