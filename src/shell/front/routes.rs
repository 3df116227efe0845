//! The front worker's dispatch: each route of [`crate::front::routes`] to the handler that
//! answers it, after the admin check the route asks for; `DEV_MODE` routes first.

use super::{auth, chat, export, moderation_api, registry_dead, server_api, socket};
use crate::calls::RoomCall;
use crate::common::error::ErrorCode;
use crate::common::names::is_valid_room;
use crate::front::routes::{route, Route};
use crate::shell::common::http::{error, json_response};
use worker::{Env, Method, Request, Response, Result, Url};

pub(super) async fn handle(req: Request, env: &Env) -> Result<Response> {
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
    dispatch(req, &url, route, env).await
}

/// The handler of each route and method (the admin check is done).
async fn dispatch(req: Request, url: &Url, route: Route<'_>, env: &Env) -> Result<Response> {
    match (req.method(), route) {
        (Method::Get, Route::Health) => json_response(200, r#"{"ok":true}"#.into()),
        (_, Route::RoomSocket(room)) => socket::room_socket(req, url, env, room).await,
        (Method::Get, Route::RoomInfo(room)) => server_api::room_info(env, room).await,
        (Method::Delete, Route::RoomInfo(room)) => {
            server_api::room_call(env, room, RoomCall::DeleteRoom).await
        }
        (Method::Post, Route::RoomMessages(room)) => server_api::post_to_room(req, env, room).await,
        (Method::Get, Route::RoomMembers(room)) => {
            server_api::room_members(&req, url, env, room).await
        }
        (Method::Get, Route::RoomMessages(room)) => {
            server_api::room_history(&req, url, env, room).await
        }
        (Method::Get, Route::RoomExport(room)) => export::export(url, env, room).await,
        (Method::Get, Route::UserInfo(user)) => server_api::user_info(env, user).await,
        (Method::Post, Route::UserMessages(user)) => server_api::post_to_user(req, env, user).await,
        (Method::Post, Route::ConnectionMessages(id)) => {
            server_api::post_to_connection(req, env, id).await
        }
        (Method::Post, Route::ConnectionDisconnect(id)) => {
            moderation_api::disconnect_connection(req, env, id).await
        }
        (Method::Post, Route::RoomKick(room)) => moderation_api::kick(req, env, room).await,
        (Method::Get, Route::RoomBans(room)) => moderation_api::bans(env, room).await,
        (Method::Delete, Route::RoomBan(room, user)) => {
            moderation_api::unban(env, room, user).await
        }
        (Method::Post, Route::UserDisconnect(user)) => {
            moderation_api::disconnect_user(req, env, user).await
        }
        (Method::Post, Route::UserRevoke(user)) => moderation_api::revoke(req, env, user).await,
        (Method::Delete, Route::RoomMessage(room, seq)) => {
            chat::delete_message(env, room, seq).await
        }
        (Method::Get, Route::UserUnread(user)) => chat::user_unread(env, user).await,
        (Method::Get, Route::MeUnread) => chat::me_unread(&req, url, env).await,
        (Method::Post, Route::UserErase(user)) => moderation_api::erase(env, user).await,
        (Method::Get, Route::UserErasure(user, id)) => moderation_api::erasure(env, user, id).await,
        (Method::Get, Route::RoomWebhooksDead(room)) => server_api::dead(url, env, room).await,
        (Method::Post, Route::RoomWebhooksRetry(room)) => server_api::retry_dead(env, room).await,
        (Method::Get, Route::RegistryWebhooksDead) => registry_dead::list(url, env).await,
        (Method::Post, Route::RegistryWebhooksRetry) => registry_dead::retry(env).await,
        (Method::Get, Route::Stats) => server_api::stats(env).await,
        (Method::Get, Route::Rooms) => server_api::active_rooms(url, env).await,
        (_, r) if r == Route::Unknown || r.is_dev() => {
            error(ErrorCode::NotFound, "no such endpoint")
        }
        _ => error(
            ErrorCode::MethodNotAllowed,
            "method not allowed on this endpoint",
        ),
    }
}

/// The `DEV_MODE` routes (`None`: not one of them, or a room name that is not valid).
async fn dev_route(route: &Route<'_>, url: &Url, env: &Env) -> Option<Result<Response>> {
    match route {
        Route::DevToken => Some(auth::dev_token(url, env)),
        Route::DevMeter => Some(dev_meter()),
        Route::DevMetrics => Some(json_response(
            200,
            crate::shell::common::metrics::recent_json(),
        )),
        Route::DevRoomDebug(room) if is_valid_room(room) => {
            Some(server_api::room_call(env, room, RoomCall::Debug).await)
        }
        Route::DevFanoutDebug(room, index) if is_valid_room(room) => {
            let request = crate::calls::FanoutRequest {
                room: (*room).to_owned(),
                index: *index,
                call: crate::calls::FanoutCall::Debug,
            };
            let stub = crate::shell::calls::fanout(env, room, *index);
            Some(async move { crate::shell::calls::call(&stub?, &request).await }.await)
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
