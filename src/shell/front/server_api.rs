//! The server HTTP API (admin token, see docs/http-api.md) and history reads: each route
//! validates what it can here, then makes one typed call to the object that owns the answer.

use super::auth::{authorize_room, is_admin};
use super::request::{query_param, read_post};
use super::{bad_room, call_room};
use crate::auth::Claims;
use crate::calls::{RegistryCall, RegistryRequest, Revoked, RoomCall};
use crate::common::connection_id::room_of;
use crate::common::error::{ChatError, ErrorCode};
use crate::common::names::{is_valid_room, is_valid_user_id};
use crate::front::server_api::MessagePost;
use crate::protocol::{Sender, ServerFrame};
use crate::registry::limits::RevocationCheckFail;
use crate::room::log::history_page::HistoryQuery;
use crate::room::session::REVOCATION_CHECK_MS;
use crate::shell::calls;
use crate::shell::common::http::{error, error_response, unavailable};
use futures::future::{join, select, Either};
use std::time::Duration;
use worker::{Env, Request, Response, Result, Url};

/// A call to a room named in the URL, once the name is checked.
pub async fn room_call(env: &Env, room: &str, call: RoomCall) -> Result<Response> {
    if !is_valid_room(room) {
        return bad_room();
    }
    call_room(env, room, call).await
}

/// `GET /rooms/{room}/messages?before=N|since=N&limit=L`: a page of the room's log, for the
/// admin token or a user token that may join the room. The query is validated here, so a bad
/// one never reaches the room.
pub async fn room_history(req: &Request, url: &Url, env: &Env, room: &str) -> Result<Response> {
    if !is_valid_room(room) {
        return bad_room();
    }
    let claims = match reader(req, url, env, room).await {
        Ok(claims) => claims,
        Err(e) => return error_response(&e),
    };
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let query = match HistoryQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(query) => query,
        Err(e) => return error_response(&e),
    };
    let reader = claims.as_ref().map(|c| c.sub.clone());
    read_room(req, env, room, claims, RoomCall::History { query, reader }).await
}

/// `GET /rooms/{room}/members?after=U&limit=L` (`limit` 1–1000, default 100): a page of the
/// room's members, for the admin token or a user token that may join the room.
pub async fn room_members(req: &Request, url: &Url, env: &Env, room: &str) -> Result<Response> {
    if !is_valid_room(room) {
        return bad_room();
    }
    let claims = match reader(req, url, env, room).await {
        Ok(claims) => claims,
        Err(e) => return error_response(&e),
    };
    let limit = match query_param(url, "limit").map(|l| l.parse::<u32>()) {
        None => 100,
        Some(Ok(l)) if (1..=1000).contains(&l) => l,
        Some(_) => return error(ErrorCode::BadRequest, "`limit` must be 1-1000"),
    };
    let after = query_param(url, "after");
    let reader = claims.as_ref().map(|c| c.sub.clone());
    let call = RoomCall::Members {
        after,
        limit,
        reader,
    };
    read_room(req, env, room, claims, call).await
}

/// Who reads a room: the admin (`None`), or the claims of a user token that may join it.
async fn reader(
    req: &Request,
    url: &Url,
    env: &Env,
    room: &str,
) -> std::result::Result<Option<Claims>, ChatError> {
    if is_admin(req, env) {
        return Ok(None);
    }
    authorize_room(req, url, env, room).await.map(Some)
}

/// A well-formed, authorized read of a room. A user token's read is counted per IP (admin
/// reads never), and refused `401 revoked` if the token is revoked — asked of the user's
/// registry shard **at the same time** as the room is read, so the check adds no hop to the
/// read's latency (the room's answer is dropped when the token is revoked). A registry that
/// fails or takes over [`REVOCATION_CHECK_MS`] is asked once more; if it still cannot tell,
/// `REVOCATION_CHECK_FAIL` decides, as for a connect: `open` lets the read through, `closed`
/// answers `503 unavailable`.
async fn read_room(
    req: &Request,
    env: &Env,
    room: &str,
    claims: Option<Claims>,
    call: RoomCall,
) -> Result<Response> {
    let Some(claims) = claims else {
        return call_room(env, room, call).await;
    };
    if let Err(e) = super::ip_limit::check(req, env).await {
        return error_response(&e);
    }
    let (answer, revoked) = join(call_room(env, room, call), is_revoked(env, &claims)).await;
    let fail = crate::shell::common::env::settings(env)
        .config
        .revocation_check_fail;
    match revoked {
        Some(true) => {
            let message = "this token was revoked; get a new one";
            error_response(&ChatError::new(ErrorCode::Revoked, message))
        }
        None if fail == RevocationCheckFail::Closed => {
            let message = "the token's revocation state cannot be checked now; try again";
            error_response(&ChatError::new(ErrorCode::Unavailable, message))
        }
        _ => answer,
    }
}

/// Whether the user's registry shard says the token is revoked, asked twice at most; `None`
/// if it could not tell.
async fn is_revoked(env: &Env, claims: &Claims) -> Option<bool> {
    match ask_revoked(env, claims).await {
        Some(revoked) => Some(revoked),
        None => ask_revoked(env, claims).await,
    }
}

/// One revocation check, bounded by [`REVOCATION_CHECK_MS`]; `None` if it could not tell.
async fn ask_revoked(env: &Env, claims: &Claims) -> Option<bool> {
    let check = RegistryRequest::User {
        user: claims.sub.clone(),
        // A token without `iat` counts as issued at 0: any revocation refuses it.
        call: RegistryCall::Revoked {
            iat: claims.iat.unwrap_or(0),
        },
    };
    let ask = async move {
        let mut answer = calls::call_registry(env, &check).await.ok()?;
        (answer.status_code() == 200).then_some(())?;
        answer.json::<Revoked>().await.ok().map(|r| r.revoked)
    };
    let timeout = worker::Delay::from(Duration::from_millis(REVOCATION_CHECK_MS));
    match select(Box::pin(ask), timeout).await {
        Either::Left((revoked, _)) => revoked,
        Either::Right(_) => None,
    }
}

/// `GET /rooms/{room}/webhooks/dead?limit=L`: the room's dead-letter webhook batches.
pub async fn dead(url: &Url, env: &Env, room: &str) -> Result<Response> {
    let limit = url
        .query_pairs()
        .find(|(k, _)| k == "limit")
        .map(|(_, v)| v.into_owned());
    match crate::webhooks::parse_dead_limit(limit.as_deref()) {
        Ok(limit) => room_call(env, room, RoomCall::WebhooksDead { limit }).await,
        Err(e) => error_response(&e),
    }
}

/// `POST /rooms/{room}/webhooks/dead/retry`: the room's dead letters back into its outbox.
pub async fn retry_dead(env: &Env, room: &str) -> Result<Response> {
    room_call(env, room, RoomCall::WebhooksRetry).await
}

/// `POST /rooms/{room}/messages` `{"data":...,"exclude":<connection_id>}` → `{"delivered":N,"seq":S}`.
pub async fn post_to_room(req: Request, env: &Env, room: &str) -> Result<Response> {
    if !is_valid_room(room) {
        return bad_room();
    }
    let make = |p: MessagePost<'_>| RoomCall::Publish {
        data: p.data.get().to_owned(),
        exclude: p.exclude,
    };
    match read_post(req, env, true, make).await? {
        Ok(call) => call_room(env, room, call).await,
        Err(refusal) => Ok(refusal),
    }
}

/// `GET /users/{user}` → the user's connections, per room.
pub async fn user_info(env: &Env, user: Option<String>) -> Result<Response> {
    let Some(user) = user.filter(|u| is_valid_user_id(u)) else {
        return bad_user();
    };
    call_registry(env, user, RegistryCall::Info).await
}

/// `POST /users/{user}/messages` `{"data":...}` → every connection of the user, all rooms.
pub async fn post_to_user(req: Request, env: &Env, user: Option<String>) -> Result<Response> {
    let Some(user) = user.filter(|u| is_valid_user_id(u)) else {
        return bad_user();
    };
    match read_post(req, env, false, server_direct).await? {
        Ok(frame) => {
            let call = RegistryCall::FanOut {
                frame,
                rooms: None,
                from: None,
            };
            call_registry(env, user, call).await
        }
        Err(refusal) => Ok(refusal),
    }
}

/// `POST /connections/{id}/messages` `{"data":...}` → `{"delivered":1}` or 404.
pub async fn post_to_connection(req: Request, env: &Env, id: &str) -> Result<Response> {
    let frame = match read_post(req, env, false, server_direct).await? {
        Ok(f) => f,
        Err(refusal) => return Ok(refusal),
    };
    let Some(room) = room_of(id) else {
        return error(ErrorCode::NotFound, "no such connection");
    };
    let call = RoomCall::DeliverToConnection {
        connection: id.to_owned(),
        frame,
    };
    call_room(env, room, call).await
}

/// The `direct` frame of the server API (`from: {"server": true}`).
fn server_direct(post: MessagePost<'_>) -> String {
    ServerFrame::Direct {
        from: Sender::Server,
        data: post.data,
    }
    .to_json()
}

/// A call to `user`'s registry shard, answered as the shard answers it — or `503
/// unavailable` when the shard cannot be reached at all.
pub async fn call_registry(env: &Env, user: String, call: RegistryCall) -> Result<Response> {
    match calls::call_registry(env, &RegistryRequest::User { user, call }).await {
        Ok(res) => Ok(res),
        Err(e) => unavailable("the user registry", &e.to_string()),
    }
}

fn bad_user() -> Result<Response> {
    error(
        ErrorCode::BadRequest,
        format!("user ids are {}", crate::common::names::USER_ID_RULE),
    )
}

/// `GET /stats`: the global totals, from the stats and registry shards.
pub async fn stats(env: &Env) -> Result<Response> {
    match crate::shell::stats::global_totals(env).await {
        Ok(totals) => {
            crate::shell::common::http::json_response(200, serde_json::to_string(&totals)?)
        }
        Err(e) => unavailable("the counts", &e.to_string()),
    }
}

/// `GET /rooms?active=1&after=R&limit=L`: the rooms with connections now, from the stats
/// shards (`limit` 1–1000, default 100; `active=1` is required).
pub async fn active_rooms(url: &Url, env: &Env) -> Result<Response> {
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let query =
        match crate::stats::ActiveQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        {
            Ok(q) => q,
            Err(e) => return error_response(&e),
        };
    match crate::shell::stats::active_rooms(env, query).await {
        Ok(page) => crate::shell::common::http::json_response(200, serde_json::to_string(&page)?),
        Err(e) => unavailable("the active rooms", &e.to_string()),
    }
}

/// `GET /rooms/{room}`: the room's connections and users.
pub async fn room_info(env: &Env, room: &str) -> Result<Response> {
    room_call(env, room, RoomCall::Info).await
}
