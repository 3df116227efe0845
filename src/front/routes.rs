//! The front worker's URL map, as a pure function so that routing is unit-tested.
//!
//! Room and connection segments are returned raw: their alphabets are URL-unreserved, so a
//! percent sign already makes them invalid. User ids may be any Unicode and are
//! percent-decoded (`None` when the decoding is not UTF-8).

use percent_encoding::percent_decode_str;

/// Where a request goes (the method is checked by the handler).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET /health`
    Health,
    /// `GET /dev/token?user=U[&rooms=a,b]` (only when `DEV_MODE=1`)
    DevToken,
    /// `GET /dev/rooms/{room}/debug` (only when `DEV_MODE=1`): the room object's instance facts,
    /// used by tests to prove that a room was evicted and woke up again.
    DevRoomDebug(&'a str),
    /// `GET /dev/rooms/{room}/fanout/{i}/debug` (only when `DEV_MODE=1`): fan-out object `i`'s
    /// instance facts and sockets ([`crate::fanout`]), as the room's debug above.
    DevFanoutDebug(&'a str, u32),
    /// `GET /dev/meter` (only when `DEV_MODE=1`): what the objects in this isolate were billed
    /// for so far ([`crate::common::meter`]).
    DevMeter,
    /// `GET /dev/metrics` (only when `DEV_MODE=1`): the operator metrics points this isolate
    /// handed to the `METRICS` binding ([`crate::common::metrics`]); none without it.
    DevMetrics,
    /// `GET /rooms/{room}/ws` (WebSocket upgrade)
    RoomSocket(&'a str),
    /// `GET /rooms/{room}` (admin), `DELETE /rooms/{room}` (admin: the room is deleted)
    RoomInfo(&'a str),
    /// `GET /rooms/{room}/members?after=U&limit=L` (admin, or a user token that may join)
    RoomMembers(&'a str),
    /// `POST /rooms/{room}/messages` (admin), `GET /rooms/{room}/messages` (history: admin or
    /// a user token that may join the room)
    RoomMessages(&'a str),
    /// `GET /rooms/{room}/export?since=N` (admin): the room's log as NDJSON
    RoomExport(&'a str),
    /// `GET /users/{user}` (admin); `None` when the segment is not valid percent-encoded UTF-8
    UserInfo(Option<String>),
    /// `POST /users/{user}/messages` (admin)
    UserMessages(Option<String>),
    /// `POST /connections/{connection_id}/messages` (admin)
    ConnectionMessages(&'a str),
    /// `POST /connections/{connection_id}/disconnect` (admin)
    ConnectionDisconnect(&'a str),
    /// `POST /rooms/{room}/kick` (admin)
    RoomKick(&'a str),
    /// `GET /rooms/{room}/bans` (admin)
    RoomBans(&'a str),
    /// `DELETE /rooms/{room}/bans/{user}` (admin)
    RoomBan(&'a str, Option<String>),
    /// `POST /users/{user}/disconnect` (admin)
    UserDisconnect(Option<String>),
    /// `POST /users/{user}/revoke` (admin)
    UserRevoke(Option<String>),
    /// `GET /rooms/{room}/webhooks/dead` (admin)
    RoomWebhooksDead(&'a str),
    /// `POST /rooms/{room}/webhooks/dead/retry` (admin)
    RoomWebhooksRetry(&'a str),
    /// `GET /registry/webhooks/dead` (admin): the registry shards' dead letters
    RegistryWebhooksDead,
    /// `POST /registry/webhooks/dead/retry` (admin)
    RegistryWebhooksRetry,
    /// `GET /stats` (admin)
    Stats,
    /// `GET /rooms?active=1&after=R&limit=L` (admin): the rooms with connections now
    Rooms,
    /// `DELETE /rooms/{room}/messages/{seq}` (admin); `None` when `seq` is not a number
    RoomMessage(&'a str, Option<u64>),
    /// `GET /users/{user}/unread` (admin)
    UserUnread(Option<String>),
    /// `GET /me/unread` (the user's own token)
    MeUnread,
    /// `POST /users/{user}/erase` (admin)
    UserErase(Option<String>),
    /// `GET /users/{user}/erase/{erase_id}` (admin)
    UserErasure(Option<String>, &'a str),
    /// Anything else.
    Unknown,
}

impl Route<'_> {
    /// Routes of the server HTTP API, which require `Authorization: Bearer <ADMIN_TOKEN>`.
    /// (Reading a room's history with `GET` also accepts a user token, checked by its handler.)
    pub fn is_admin(&self, is_get: bool) -> bool {
        match self {
            Route::RoomMessages(_) => !is_get,
            Route::RoomInfo(_)
            | Route::RoomExport(_)
            | Route::UserInfo(_)
            | Route::UserMessages(_)
            | Route::ConnectionMessages(_)
            | Route::ConnectionDisconnect(_)
            | Route::RoomKick(_)
            | Route::RoomBans(_)
            | Route::RoomBan(..)
            | Route::UserDisconnect(_)
            | Route::UserRevoke(_)
            | Route::RoomMessage(..)
            | Route::UserUnread(_)
            | Route::UserErase(_)
            | Route::UserErasure(..)
            | Route::RoomWebhooksDead(_)
            | Route::RoomWebhooksRetry(_)
            | Route::RegistryWebhooksDead
            | Route::RegistryWebhooksRetry
            | Route::Stats
            | Route::Rooms => true,
            _ => false,
        }
    }
}

fn decode(segment: &str) -> Option<String> {
    percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

impl Route<'_> {
    /// One of the `DEV_MODE` routes (404 without it).
    pub fn is_dev(&self) -> bool {
        matches!(
            self,
            Route::DevToken
                | Route::DevMeter
                | Route::DevMetrics
                | Route::DevRoomDebug(_)
                | Route::DevFanoutDebug(..)
        )
    }
}

pub fn route(path: &str) -> Route<'_> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["health"] => Route::Health,
        ["dev", "token"] => Route::DevToken,
        ["dev", "meter"] => Route::DevMeter,
        ["dev", "metrics"] => Route::DevMetrics,
        ["dev", "rooms", room, "debug"] => Route::DevRoomDebug(room),
        ["dev", "rooms", room, "fanout", i, "debug"] => match i.parse() {
            Ok(i) => Route::DevFanoutDebug(room, i),
            Err(_) => Route::Unknown,
        },
        ["rooms", room, "ws"] => Route::RoomSocket(room),
        ["rooms", room] => Route::RoomInfo(room),
        ["rooms", room, "messages"] => Route::RoomMessages(room),
        ["rooms", room, "export"] => Route::RoomExport(room),
        ["users", user] => Route::UserInfo(decode(user)),
        ["users", user, "messages"] => Route::UserMessages(decode(user)),
        ["connections", id, "messages"] => Route::ConnectionMessages(id),
        ["connections", id, "disconnect"] => Route::ConnectionDisconnect(id),
        ["rooms", room, "kick"] => Route::RoomKick(room),
        ["rooms", room, "members"] => Route::RoomMembers(room),
        ["rooms", room, "bans"] => Route::RoomBans(room),
        ["rooms", room, "bans", user] => Route::RoomBan(room, decode(user)),
        ["users", user, "disconnect"] => Route::UserDisconnect(decode(user)),
        ["users", user, "revoke"] => Route::UserRevoke(decode(user)),
        ["rooms", room, "webhooks", "dead"] => Route::RoomWebhooksDead(room),
        ["rooms", room, "webhooks", "dead", "retry"] => Route::RoomWebhooksRetry(room),
        ["registry", "webhooks", "dead"] => Route::RegistryWebhooksDead,
        ["registry", "webhooks", "dead", "retry"] => Route::RegistryWebhooksRetry,
        ["stats"] => Route::Stats,
        ["rooms"] => Route::Rooms,
        ["rooms", room, "messages", seq] => Route::RoomMessage(room, seq.parse().ok()),
        ["users", user, "unread"] => Route::UserUnread(decode(user)),
        ["me", "unread"] => Route::MeUnread,
        ["users", user, "erase"] => Route::UserErase(decode(user)),
        ["users", user, "erase", id] => Route::UserErasure(decode(user), id),
        _ => Route::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_the_contract_paths() {
        assert_eq!(route("/health"), Route::Health);
        assert_eq!(route("/dev/token"), Route::DevToken);
        assert_eq!(route("/dev/meter"), Route::DevMeter);
        assert_eq!(route("/dev/metrics"), Route::DevMetrics);
        assert_eq!(route("/rooms/lobby/ws"), Route::RoomSocket("lobby"));
        assert_eq!(route("/rooms//ws"), Route::RoomSocket(""));
        assert_eq!(route("/rooms/a%20b/ws"), Route::RoomSocket("a%20b"));
        assert_eq!(route("/dev/rooms/x/debug"), Route::DevRoomDebug("x"));
        assert_eq!(
            route("/dev/rooms/x/fanout/3/debug"),
            Route::DevFanoutDebug("x", 3)
        );
        assert_eq!(route("/dev/rooms/x/fanout/-1/debug"), Route::Unknown);
        assert_eq!(route("/rooms/lobby"), Route::RoomInfo("lobby"));
        assert_eq!(route("/rooms/lobby/messages"), Route::RoomMessages("lobby"));
        assert_eq!(route("/rooms/lobby/export"), Route::RoomExport("lobby"));
        assert_eq!(
            route("/users/al%C3%A9"),
            Route::UserInfo(Some("alé".into()))
        );
        assert_eq!(
            route("/users/bob/messages"),
            Route::UserMessages(Some("bob".into()))
        );
        assert_eq!(route("/users/%FF"), Route::UserInfo(None));
        assert_eq!(
            route("/connections/r.00/messages"),
            Route::ConnectionMessages("r.00")
        );
        assert_eq!(route("/stats"), Route::Stats);
        assert_eq!(route("/rooms"), Route::Rooms);
        assert!(Route::Rooms.is_admin(true));
        assert_eq!(
            route("/rooms/x/webhooks/dead"),
            Route::RoomWebhooksDead("x")
        );
        assert_eq!(
            route("/rooms/x/webhooks/dead/retry"),
            Route::RoomWebhooksRetry("x")
        );
        assert_eq!(
            route("/connections/r.00/disconnect"),
            Route::ConnectionDisconnect("r.00")
        );
        assert_eq!(route("/rooms/x/kick"), Route::RoomKick("x"));
        assert_eq!(route("/rooms/x/members"), Route::RoomMembers("x"));
        assert!(
            !route("/rooms/x/members").is_admin(true),
            "a user token may read them too"
        );
        assert_eq!(route("/rooms/x/bans"), Route::RoomBans("x"));
        assert_eq!(
            route("/rooms/x/bans/al%C3%A9"),
            Route::RoomBan("x", Some("alé".into()))
        );
        assert_eq!(
            route("/users/bob/disconnect"),
            Route::UserDisconnect(Some("bob".into()))
        );
        assert_eq!(
            route("/users/bob/revoke"),
            Route::UserRevoke(Some("bob".into()))
        );
        for admin in [
            "/connections/r.00/disconnect",
            "/rooms/x/kick",
            "/rooms/x/export",
            "/rooms/x",
            "/rooms/x/bans",
            "/rooms/x/bans/u",
            "/users/u/disconnect",
            "/users/u/revoke",
            "/rooms/x/webhooks/dead",
            "/rooms/x/webhooks/dead/retry",
            "/registry/webhooks/dead",
            "/registry/webhooks/dead/retry",
        ] {
            assert!(
                route(admin).is_admin(true) && route(admin).is_admin(false),
                "{admin}"
            );
        }
        assert!(route("/stats").is_admin(true));
        assert_eq!(
            route("/rooms/x/messages/12"),
            Route::RoomMessage("x", Some(12))
        );
        assert_eq!(route("/rooms/x/messages/-1"), Route::RoomMessage("x", None));
        assert_eq!(
            route("/users/al%C3%A9/unread"),
            Route::UserUnread(Some("alé".into()))
        );
        assert_eq!(route("/me/unread"), Route::MeUnread);
        assert_eq!(
            route("/users/al%C3%A9/erase"),
            Route::UserErase(Some("alé".into()))
        );
        assert_eq!(
            route("/users/bob/erase/00ff"),
            Route::UserErasure(Some("bob".into()), "00ff")
        );
        assert!(route("/users/u/erase").is_admin(false));
        assert!(route("/users/u/erase/x").is_admin(true));
        assert!(route("/rooms/x/messages/1").is_admin(false));
        assert!(route("/users/u/unread").is_admin(true));
        assert!(!route("/me/unread").is_admin(true), "the user's own token");
        assert!(!route("/rooms/x/ws").is_admin(true));
        assert!(route("/rooms/x/messages").is_admin(false));
        assert!(!route("/rooms/x/messages").is_admin(true));
    }

    #[test]
    fn everything_else_is_unknown() {
        for p in [
            "/",
            "/rooms/x/ws/extra",
            "/rooms/a/b/ws",
            "/healthz",
            "/users",
            "/connections/x",
            "/rooms/x/webhooks",
            "/rooms/x/webhooks/dead/retry/now",
            "/registry",
            "/registry/webhooks",
            "/users/u/erase/x/y",
        ] {
            assert_eq!(route(p), Route::Unknown, "{p}");
        }
    }
}
