//! The moderation part of the server API (admin token): disconnect a connection or a user
//! everywhere, kick and ban from a room, list and lift bans, revoke a user's tokens, erase a
//! user. Bodies are
//! validated here ([`crate::front::moderation_api`]); rooms and registries do the closing.

use super::request::read_body;
use super::server_api::{call_registry, room_call};
use crate::calls::{RegistryCall, RoomCall};
use crate::common::connection_id::room_of;
use crate::common::error::{ChatError, ErrorCode};
use crate::common::names::is_valid_user_id;
use crate::front::moderation_api::{parse_disconnect, KickRequest, RevokeRequest};
use crate::shell::common::env::now_ms;
use crate::shell::common::http::{error, error_response};
use worker::{Env, Request, Response, Result};

/// Reads the body and parses it with `parse`; `Ok(Err(response))` is the refusal to answer.
async fn parse_body<T>(
    req: Request,
    env: &Env,
    parse: impl FnOnce(&str) -> std::result::Result<T, ChatError>,
) -> Result<std::result::Result<T, Response>> {
    let body = match read_body(req, env).await? {
        Ok((body, _)) => body,
        Err(refusal) => return Ok(Err(refusal)),
    };
    match parse(&body) {
        Ok(parsed) => Ok(Ok(parsed)),
        Err(e) => Ok(Err(error_response(&e)?)),
    }
}

/// `POST /connections/{id}/disconnect` `{"reason"?}` → `{"closed":1}` or 404.
pub async fn disconnect_connection(req: Request, env: &Env, id: &str) -> Result<Response> {
    let reason = match parse_body(req, env, parse_disconnect).await? {
        Ok(r) => r,
        Err(refusal) => return Ok(refusal),
    };
    let Some(room) = room_of(id) else {
        return error(ErrorCode::NotFound, "no such connection");
    };
    let call = RoomCall::Disconnect {
        connection: id.to_owned(),
        reason,
    };
    room_call(env, room, call).await
}

/// `POST /rooms/{room}/kick` `{"user_id","ban_seconds"?,"reason"?}` → `{"closed":n}`.
pub async fn kick(req: Request, env: &Env, room: &str) -> Result<Response> {
    let kick = match parse_body(req, env, KickRequest::parse).await? {
        Ok(k) => k,
        Err(refusal) => return Ok(refusal),
    };
    let call = RoomCall::Kick {
        user: kick.user_id,
        ban: kick.ban,
        reason: kick.reason,
    };
    room_call(env, room, call).await
}

/// `DELETE /rooms/{room}/bans/{user}` → `{"removed":bool}`.
pub async fn unban(env: &Env, room: &str, user: Option<String>) -> Result<Response> {
    let Some(user) = user.filter(|u| is_valid_user_id(u)) else {
        return bad_user();
    };
    room_call(env, room, RoomCall::Unban { user }).await
}

/// `POST /users/{user}/disconnect` `{"reason"?}` → every connection, every room: `{"closed":n}`.
pub async fn disconnect_user(req: Request, env: &Env, user: Option<String>) -> Result<Response> {
    let Some(user) = user.filter(|u| is_valid_user_id(u)) else {
        return bad_user();
    };
    match parse_body(req, env, parse_disconnect).await? {
        Ok(reason) => call_registry(env, user, RegistryCall::Disconnect { reason }).await,
        Err(refusal) => Ok(refusal),
    }
}

/// `POST /users/{user}/revoke` `{"before"?,"reason"?}` → `{"closed":n}`.
pub async fn revoke(req: Request, env: &Env, user: Option<String>) -> Result<Response> {
    let Some(user) = user.filter(|u| is_valid_user_id(u)) else {
        return bad_user();
    };
    let now = now_ms() / 1000;
    match parse_body(req, env, |b| RevokeRequest::parse(b, now)).await? {
        Ok(r) => {
            let call = RegistryCall::Revoke {
                before: r.before,
                reason: r.reason,
            };
            call_registry(env, user, call).await
        }
        Err(refusal) => Ok(refusal),
    }
}

/// `POST /users/{user}/erase` → 202 `{"erase_id"}` (the user's shard runs it in the
/// background, see [`crate::registry::erasure`]).
pub async fn erase(env: &Env, user: Option<String>) -> Result<Response> {
    let Some(user) = user.filter(|u| is_valid_user_id(u)) else {
        return bad_user();
    };
    call_registry(env, user, RegistryCall::Erase).await
}

/// `GET /users/{user}/erase/{erase_id}` → the erasure's progress, or 404.
pub async fn erasure(env: &Env, user: Option<String>, id: &str) -> Result<Response> {
    let Some(user) = user.filter(|u| is_valid_user_id(u)) else {
        return bad_user();
    };
    if !crate::registry::erasure::is_erase_id(id) {
        return error(ErrorCode::NotFound, "no such erasure");
    }
    let call = RegistryCall::Erasure { id: id.to_owned() };
    call_registry(env, user, call).await
}

fn bad_user() -> Result<Response> {
    error(
        ErrorCode::BadRequest,
        format!("user ids are {}", crate::common::names::USER_ID_RULE),
    )
}

/// `GET /rooms/{room}/bans`: the room's bans.
pub async fn bans(env: &Env, room: &str) -> Result<Response> {
    room_call(env, room, RoomCall::Bans).await
}
