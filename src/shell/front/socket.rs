//! `GET /rooms/{room}/ws`: every refusal is decided here, cheapest check first, before the
//! upgrade is handed to the room object.

use super::auth::authorize_room;
use super::request::query_param;
use super::{bad_room, call_room};
use crate::calls::RoomCall;
use crate::error::ErrorCode;
use crate::names::is_valid_room;
use crate::shell::http::{error, error_response};
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
    let claims = match authorize_room(&req, url, env, room) {
        Ok(c) => c,
        Err(e) => return error_response(&e),
    };
    // `?since=N` resumes after message N (see docs/protocol.md).
    let since = match query_param(url, "since").map(|s| s.parse::<u64>()) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            let message = "`since` must be a non-negative integer";
            return error(ErrorCode::BadRequest, message);
        }
    };
    // `?batch=1` opts this connection into coalesced delivery (`batch` frames, see
    // docs/protocol.md); without it the connection gets exactly the v1 frames.
    let batch = match query_param(url, "batch").as_deref() {
        None | Some("0" | "false") => false,
        Some("1" | "true") => true,
        Some(_) => return error(ErrorCode::BadRequest, "`batch` must be 1 or 0"),
    };
    // The identity travels in the internal call, not in headers: user ids may hold any
    // Unicode, which HTTP header values cannot carry. Room objects are only reachable through
    // this worker, so what arrives there has been verified here.
    let call = RoomCall::Connect {
        user: claims.sub,
        since,
        batch,
        exp: claims.exp,
        iat: claims.iat,
    };
    call_room(env, room, call).await
}
