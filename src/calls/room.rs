//! The calls a room object (`ChatRoom`) serves. Every one names the room: an object does not
//! know its own name, and the front worker has validated it.

use super::{bad, Call, InternalRequest, Method};
use crate::common::error::ChatError;
use crate::common::names::is_valid_room;
use crate::room::log::history_page::HistoryQuery;

pub(super) const PATHS: &[&str] = &[
    CONNECT,
    PUBLISH,
    HISTORY,
    DELIVER_TO_USER,
    COUNT_USER,
    COUNTS,
    DELIVER_TO_CONNECTION,
    INFO,
    DEBUG,
    DISCONNECT,
    DISCONNECT_USER,
    KICK,
    BANS,
    UNBAN,
    REVOKE,
    MEMBERS,
    DELETE_MESSAGE,
    ERASE_USER,
    WEBHOOKS_DEAD,
    WEBHOOKS_RETRY,
    DELETE_ROOM,
    FANOUT_FRAMES,
];
const CONNECT: &str = "/room/connect";
const PUBLISH: &str = "/room/publish";
const HISTORY: &str = "/room/history";
const DELIVER_TO_USER: &str = "/room/deliver-to-user";
const COUNT_USER: &str = "/room/count-user";
const COUNTS: &str = "/room/counts";
const DELIVER_TO_CONNECTION: &str = "/room/deliver-to-connection";
const INFO: &str = "/room/info";
const DEBUG: &str = "/room/debug";
const DISCONNECT: &str = "/room/disconnect";
const DISCONNECT_USER: &str = "/room/disconnect-user";
const KICK: &str = "/room/kick";
const BANS: &str = "/room/bans";
const UNBAN: &str = "/room/unban";
const REVOKE: &str = "/room/revoke";
const MEMBERS: &str = "/room/members";
const DELETE_MESSAGE: &str = "/room/delete-message";
const ERASE_USER: &str = "/room/erase-user";
const WEBHOOKS_DEAD: &str = "/room/webhooks-dead";
const WEBHOOKS_RETRY: &str = "/room/webhooks-retry";
const DELETE_ROOM: &str = "/room/delete";
const FANOUT_FRAMES: &str = "/room/fanout-frames";

/// A call to the room object of `room`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRequest {
    pub room: String,
    pub call: RoomCall,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomCall {
    /// A verified user's WebSocket upgrade (from the front worker), with what the room must
    /// know of the token (`exp`, `iat`). Answers the socket, or a refusal (banned, revoked).
    Connect {
        user: String,
        since: Option<u64>,
        batch: bool,
        exp: u64,
        iat: Option<u64>,
        /// The token's `rooms` claim.
        rooms: Option<Vec<String>>,
        /// Answer the 101 with `Sec-WebSocket-Protocol: edge-chat.v1` (the client offered it).
        subprotocol: bool,
    },
    /// A server post to the room: `data` is validated JSON. Answers
    /// `{"delivered":N,"seq":S}` (the server API's own reply).
    Publish {
        data: String,
        exclude: Option<String>,
    },
    /// A page of the room's log, for `reader` (a user token's user; `None`: the admin).
    /// Answers the history body of the server API, or 403 `banned` to a banned reader.
    History {
        query: HistoryQuery,
        reader: Option<String>,
    },
    /// A ready-made frame for every connection of `user` here (from the user's registry).
    /// Answers [`super::Delivered`].
    DeliverToUser { user: String, frame: String },
    /// How many connections `user` has here (the registry's check). Answers
    /// [`super::Connections`].
    CountUser { user: String },
    /// A shard checks its rows ([`crate::common::heal`]): the room's connections now and those
    /// of each of `users`, counted from the runtime's list of sockets (the room need not load),
    /// with a version of the room's reports. Answers [`super::RoomCounts`].
    Counts { users: Vec<String> },
    /// A ready-made frame for one connection here. Answers [`super::Delivered`], or 404.
    DeliverToConnection { connection: String, frame: String },
    /// `GET /rooms/{room}`: the room's connections and users.
    Info,
    /// `GET /rooms/{room}/members?after=U&limit=L`: a page of the room's members by user id,
    /// for `reader` as [`RoomCall::History`].
    Members {
        after: Option<String>,
        limit: u32,
        reader: Option<String>,
    },
    /// The object's instance facts (`DEV_MODE` only): lets tests prove evictions and wakes.
    Debug,
    /// Close one connection here (4003). Answers [`super::ClosedCount`], or 404.
    Disconnect {
        connection: String,
        reason: Option<String>,
    },
    /// Close every connection of `user` here (4003), for the user's registry. Answers
    /// [`super::ClosedCount`].
    DisconnectUser {
        user: String,
        reason: Option<String>,
    },
    /// `POST /rooms/{room}/kick`: close the user's connections (4003), and ban them when
    /// `ban` is given (`Some(None)`: until unbanned; `Some(Some(s))`: for `s` seconds).
    /// Answers [`super::ClosedCount`].
    Kick {
        user: String,
        ban: Option<Option<u64>>,
        reason: Option<String>,
    },
    /// `GET /rooms/{room}/bans`.
    Bans,
    /// `DELETE /rooms/{room}/bans/{user}`. Answers `{"removed":bool}`.
    Unban { user: String },
    /// A revocation of `user`'s tokens issued before `before` (unix s), from the user's
    /// registry: remembered, and the covered connections closed (4005). Answers
    /// [`super::ClosedCount`].
    Revoke {
        user: String,
        before: u64,
        reason: Option<String>,
    },
    /// `DELETE /rooms/{room}/messages/{seq}`: the message is deleted (its data erased) and the
    /// room told. Answers `{"delivered":N,"seq":S}` (`seq`: the deletion's), or 404.
    DeleteMessage { seq: u64 },
    /// One room of `POST /users/{user}/erase`, from the user's registry shard: every message
    /// of `user` deleted, their reactions, id and read cursor gone
    /// ([`crate::room::erasure`]). Answers `{"messages":n,"done":bool}`: `n` deleted now, at
    /// most [`crate::room::erasure::MESSAGES_PER_CALL`]; `done: false` asks to be called again.
    EraseUser { user: String },
    /// `GET /rooms/{room}/webhooks/dead`: the oldest `limit` dead-letter batches. Answers
    /// [`crate::webhooks::dead_body`].
    WebhooksDead { limit: u32 },
    /// `POST /rooms/{room}/webhooks/dead/retry`: every dead batch back into the outbox, ahead
    /// of what waits there. Answers `{"requeued":events,"batches":n}`.
    WebhooksRetry,
    /// `DELETE /rooms/{room}`: every connection closed 4006 (`room_deleted`), the room's
    /// storage erased whole, its registries and stats shard told; the name starts again from
    /// seq 1. Answers [`super::ClosedCount`].
    DeleteRoom,
    /// From one of the room's fan-out objects ([`crate::fanout`]): its sockets' frames and
    /// closes of one of its turns, in order — a JSON list of [`crate::fanout::Inbound`] (the
    /// body). Answers 200 once the room has run them.
    FanoutFrames { frames: String },
}

/// `ban` as a parameter: absent, `forever`, or seconds.
fn ban_param(ban: &Option<Option<u64>>) -> Option<String> {
    ban.map(|b| b.map_or_else(|| "forever".to_owned(), |s| s.to_string()))
}

fn parse_ban(req: &InternalRequest) -> Result<Option<Option<u64>>, ChatError> {
    match req.get("ban") {
        None => Ok(None),
        Some("forever") => Ok(Some(None)),
        Some(_) => Ok(Some(Some(req.number("ban")?))),
    }
}

impl Call for RoomRequest {
    fn to_request(&self) -> InternalRequest {
        use RoomCall::*;
        let req = |method, path| InternalRequest::new(method, path).param("room", &self.room);
        match &self.call {
            Connect {
                user,
                since,
                batch,
                exp,
                iat,
                rooms,
                subprotocol,
            } => {
                let mut r = req(Method::Get, CONNECT)
                    .param("user", user)
                    .param_opt("since", *since)
                    .param_opt("batch", batch.then_some(1))
                    .param("exp", exp)
                    .param_opt("iat", *iat)
                    .param_opt("rooms", rooms.as_ref().map(|r| r.join(",")))
                    .param_opt("subprotocol", subprotocol.then_some(1));
                r.upgrade = true;
                r
            }
            Publish { data, exclude } => req(Method::Post, PUBLISH)
                .param_opt("exclude", exclude.as_deref())
                .body(data.clone()),
            History { query, reader } => query
                .to_params()
                .into_iter()
                .fold(req(Method::Get, HISTORY), |r, (k, v)| r.param(k, v))
                .param_opt("reader", reader.as_deref()),
            DeliverToUser { user, frame } => req(Method::Post, DELIVER_TO_USER)
                .param("user", user)
                .body(frame.clone()),
            CountUser { user } => req(Method::Get, COUNT_USER).param("user", user),
            Counts { users } => req(Method::Post, COUNTS).body(users.join("\n")),
            DeliverToConnection { connection, frame } => req(Method::Post, DELIVER_TO_CONNECTION)
                .param("connection", connection)
                .body(frame.clone()),
            Info => req(Method::Get, INFO),
            Members {
                after,
                limit,
                reader,
            } => req(Method::Get, MEMBERS)
                .param_opt("after", after.as_deref())
                .param("limit", limit)
                .param_opt("reader", reader.as_deref()),
            Debug => req(Method::Get, DEBUG),
            DeleteMessage { seq } => req(Method::Post, DELETE_MESSAGE).param("seq", seq),
            WebhooksDead { limit } => req(Method::Get, WEBHOOKS_DEAD).param("limit", limit),
            WebhooksRetry => req(Method::Post, WEBHOOKS_RETRY),
            DeleteRoom => req(Method::Post, DELETE_ROOM),
            FanoutFrames { frames } => req(Method::Post, FANOUT_FRAMES).body(frames.clone()),
            _ => moderation_request(req(Method::Post, ""), &self.call),
        }
    }

    fn from_request(mut req: InternalRequest) -> Result<Self, ChatError> {
        use RoomCall::*;
        let room = req.text("room")?;
        if !is_valid_room(&room) {
            return Err(bad("invalid room"));
        }
        let call = match req.path {
            CONNECT => Connect {
                user: req.text("user")?,
                since: req.optional_number("since")?,
                batch: req.get("batch") == Some("1"),
                exp: req.number("exp")?,
                iat: req.optional_number("iat")?,
                rooms: req.get("rooms").map(super::split_rooms),
                subprotocol: req.get("subprotocol") == Some("1"),
            },
            PUBLISH => Publish {
                exclude: req.optional("exclude"),
                data: req.take_body()?,
            },
            HISTORY => History {
                query: HistoryQuery::parse(
                    req.query.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                )?,
                reader: req.optional("reader"),
            },
            DELIVER_TO_USER => DeliverToUser {
                user: req.text("user")?,
                frame: req.take_body()?,
            },
            DELIVER_TO_CONNECTION => DeliverToConnection {
                connection: req.text("connection")?,
                frame: req.take_body()?,
            },
            INFO => Info,
            MEMBERS => Members {
                after: req.optional("after"),
                limit: req.number("limit")?,
                reader: req.optional("reader"),
            },
            DEBUG => Debug,
            DELETE_MESSAGE => DeleteMessage {
                seq: req.number("seq")?,
            },
            WEBHOOKS_DEAD => WebhooksDead {
                limit: req.number("limit")?,
            },
            WEBHOOKS_RETRY => WebhooksRetry,
            DELETE_ROOM => DeleteRoom,
            COUNT_USER | COUNTS | FANOUT_FRAMES => objects_call(&mut req)?,
            _ => moderation_call(&req)?,
        };
        Ok(RoomRequest { room, call })
    }
}

/// The calls only our other objects make: a registry or stats shard counting, a fan-out object
/// handing over its frames.
fn objects_call(req: &mut InternalRequest) -> Result<RoomCall, ChatError> {
    use RoomCall::*;
    Ok(match req.path {
        COUNT_USER => CountUser {
            user: req.text("user")?,
        },
        COUNTS => Counts {
            users: super::split_lines(req.body.as_deref().unwrap_or_default()),
        },
        _ => FanoutFrames {
            frames: req.take_body()?,
        },
    })
}

/// The operators' calls as requests: `base` names the room, its path is set here.
fn moderation_request(base: InternalRequest, call: &RoomCall) -> InternalRequest {
    use RoomCall::*;
    let at = |path| InternalRequest {
        path,
        ..base.clone()
    };
    match call {
        Disconnect { connection, reason } => at(DISCONNECT)
            .param("connection", connection)
            .param_opt("reason", reason.as_deref()),
        DisconnectUser { user, reason } => at(DISCONNECT_USER)
            .param("user", user)
            .param_opt("reason", reason.as_deref()),
        Kick { user, ban, reason } => at(KICK)
            .param("user", user)
            .param_opt("ban", ban_param(ban))
            .param_opt("reason", reason.as_deref()),
        Bans => InternalRequest {
            method: Method::Get,
            ..at(BANS)
        },
        Unban { user } => at(UNBAN).param("user", user),
        EraseUser { user } => at(ERASE_USER).param("user", user),
        Revoke {
            user,
            before,
            reason,
        } => at(REVOKE)
            .param("user", user)
            .param("before", before)
            .param_opt("reason", reason.as_deref()),
        _ => base,
    }
}

/// The operators' calls (see [`RoomCall::Disconnect`] and after).
fn moderation_call(req: &InternalRequest) -> Result<RoomCall, ChatError> {
    use RoomCall::*;
    Ok(match req.path {
        DISCONNECT => Disconnect {
            connection: req.text("connection")?,
            reason: req.optional("reason"),
        },
        DISCONNECT_USER => DisconnectUser {
            user: req.text("user")?,
            reason: req.optional("reason"),
        },
        KICK => Kick {
            user: req.text("user")?,
            ban: parse_ban(req)?,
            reason: req.optional("reason"),
        },
        BANS => Bans,
        UNBAN => Unban {
            user: req.text("user")?,
        },
        ERASE_USER => EraseUser {
            user: req.text("user")?,
        },
        REVOKE => Revoke {
            user: req.text("user")?,
            before: req.number("before")?,
            reason: req.optional("reason"),
        },
        _ => return Err(bad("no such room endpoint")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::round_trip;

    #[test]
    fn every_room_call_round_trips() {
        let calls = [
            RoomCall::Connect {
                user: "é u".into(),
                since: Some(7),
                batch: true,
                exp: 99,
                iat: Some(3),
                rooms: Some(vec!["a".into(), "b.c".into()]),
                subprotocol: true,
            },
            RoomCall::Connect {
                user: "u".into(),
                since: None,
                batch: false,
                exp: 1,
                iat: None,
                rooms: None,
                subprotocol: false,
            },
            RoomCall::Connect {
                user: "u".into(),
                since: None,
                batch: false,
                exp: 1,
                iat: None,
                rooms: Some(Vec::new()),
                subprotocol: false,
            },
            RoomCall::Publish {
                data: r#"{"a":"&="}"#.into(),
                exclude: Some("r.0123456789abcdef".into()),
            },
            RoomCall::Publish {
                data: "null".into(),
                exclude: None,
            },
            RoomCall::History {
                query: HistoryQuery::Since { since: 3, limit: 9 },
                reader: Some("al&ice=".into()),
            },
            RoomCall::History {
                query: HistoryQuery::Before {
                    before: u64::MAX,
                    limit: 50,
                },
                reader: None,
            },
            RoomCall::History {
                query: HistoryQuery::Before {
                    before: 12,
                    limit: 1,
                },
                reader: None,
            },
            RoomCall::DeliverToUser {
                user: "bob".into(),
                frame: "{}".into(),
            },
            RoomCall::CountUser { user: "bob".into() },
            RoomCall::Counts {
                users: vec!["bob".into(), "a lice, é".into()],
            },
            RoomCall::Counts { users: vec![] },
            RoomCall::DeliverToConnection {
                connection: "r.0123456789abcdef".into(),
                frame: "{}".into(),
            },
            RoomCall::Info,
            RoomCall::Members {
                after: Some("bob".into()),
                limit: 100,
                reader: Some("carol".into()),
            },
            RoomCall::Members {
                after: None,
                limit: 1,
                reader: None,
            },
            RoomCall::Debug,
            RoomCall::DeleteMessage { seq: 42 },
            RoomCall::EraseUser {
                user: "é & co".into(),
            },
            RoomCall::Disconnect {
                connection: "r.0123456789abcdef".into(),
                reason: Some("bye & =".into()),
            },
            RoomCall::Disconnect {
                connection: "r.0123456789abcdef".into(),
                reason: None,
            },
            RoomCall::DisconnectUser {
                user: "u".into(),
                reason: None,
            },
            RoomCall::Kick {
                user: "u".into(),
                ban: None,
                reason: None,
            },
            RoomCall::Kick {
                user: "u".into(),
                ban: Some(None),
                reason: Some("spam".into()),
            },
            RoomCall::Kick {
                user: "u".into(),
                ban: Some(Some(60)),
                reason: None,
            },
            RoomCall::Bans,
            RoomCall::Unban { user: "u".into() },
            RoomCall::Revoke {
                user: "u".into(),
                before: 1_800_000_000,
                reason: Some("stolen".into()),
            },
            RoomCall::WebhooksDead { limit: 20 },
            RoomCall::WebhooksRetry,
            RoomCall::DeleteRoom,
            RoomCall::FanoutFrames {
                frames: r#"[{"k":"closed","c":"a.b-c.00"}]"#.into(),
            },
        ];
        for call in calls {
            round_trip(RoomRequest {
                room: "a.b-c".into(),
                call,
            });
        }
    }

    #[test]
    fn malformed_room_calls_are_refused() {
        let ok = RoomRequest {
            room: "r".into(),
            call: RoomCall::CountUser { user: "u".into() },
        }
        .to_request();
        let mut no_user = ok.clone();
        no_user.query.retain(|(k, _)| k != "user");
        let mut bad_room = ok.clone();
        bad_room.query[0].1 = "a b".into();
        let mut no_body = RoomRequest {
            room: "r".into(),
            call: RoomCall::Publish {
                data: "1".into(),
                exclude: None,
            },
        }
        .to_request();
        no_body.body = None;
        for req in [no_user, bad_room, no_body] {
            assert!(RoomRequest::from_request(req).is_err());
        }
    }
}
