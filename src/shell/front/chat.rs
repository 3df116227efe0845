//! The chat extensions' HTTP routes: `DELETE /rooms/{room}/messages/{seq}` (admin), and the
//! unread counts across rooms — `GET /users/{user}/unread` (admin) and `GET /me/unread` (the
//! user's own token; a token with a `rooms` claim sees those rooms only). Both unread routes
//! are answered by the user's registry shard (see [`crate::registry::unread`]), never by the rooms.

use super::auth::authenticate;
use super::server_api::{call_registry, room_call};
use crate::calls::{RegistryCall, RoomCall};
use crate::common::error::ErrorCode;
use crate::common::names::is_valid_user_id;
use crate::shell::common::http::{error, error_response};
use worker::{Env, Request, Response, Result, Url};

pub async fn delete_message(env: &Env, room: &str, seq: Option<u64>) -> Result<Response> {
    let Some(seq) = seq.filter(|s| *s >= 1) else {
        return error(
            ErrorCode::BadRequest,
            "the message seq must be a positive integer",
        );
    };
    room_call(env, room, RoomCall::DeleteMessage { seq }).await
}

pub async fn user_unread(env: &Env, user: Option<String>) -> Result<Response> {
    let Some(user) = user.filter(|u| is_valid_user_id(u)) else {
        return error(
            ErrorCode::BadRequest,
            format!("user ids are {}", crate::common::names::USER_ID_RULE),
        );
    };
    let call = RegistryCall::Unread {
        rooms: None,
        iat: None,
    };
    call_registry(env, user, call).await
}

pub async fn me_unread(req: &Request, url: &Url, env: &Env) -> Result<Response> {
    let claims = match authenticate(req, url, env).await {
        Ok(c) => c,
        Err(e) => return error_response(&e),
    };
    // Each read costs the user's shard a request to each shard counting their rooms: counted
    // per address like history reads, and per user by the registry's cross-room budget.
    if let Err(e) = super::ip_limit::check(req, env).await {
        return error_response(&e);
    }
    let call = RegistryCall::Unread {
        rooms: claims.rooms,
        // A token without `iat` counts as issued at 0: any revocation refuses it.
        iat: Some(claims.iat.unwrap_or(0)),
    };
    call_registry(env, claims.sub, call).await
}
