//! The calls a registry shard (`UserRegistry`) serves. Users are spread over
//! [`REGISTRY_SHARDS`](crate::registry::REGISTRY_SHARDS) objects by a hash of their id;
//! every call names its user, or (a room's batched reports) its users.

use super::{bad, Call, InternalRequest, Method};
use crate::common::error::ChatError;
use crate::common::names::is_valid_user_id;
use crate::registry::shards::ShardHash;
use crate::registry::unread::{counter_shard, CursorReport};
use std::collections::{BTreeMap, BTreeSet};

pub(super) const PATHS: &[&str] = &[
    REPORT,
    FAN_OUT,
    INFO,
    DISCONNECT,
    REVOKE,
    ONLINE,
    READ_STATES,
    ROOM_MESSAGES,
    UNREAD,
    REVOKED,
    WEBHOOKS_DEAD,
    WEBHOOKS_RETRY,
    ERASE,
    ERASURE,
    ROOM_DELETED,
];
const ONLINE: &str = "/registry/online";
const REPORT: &str = "/registry/report";
const FAN_OUT: &str = "/registry/fan-out";
const INFO: &str = "/registry/info";
const DISCONNECT: &str = "/registry/disconnect";
const REVOKE: &str = "/registry/revoke";
const READ_STATES: &str = "/registry/read-states";
const ROOM_MESSAGES: &str = "/registry/room-messages";
const UNREAD: &str = "/registry/unread";
const REVOKED: &str = "/registry/revoked";
const WEBHOOKS_DEAD: &str = "/registry/webhooks/dead";
const WEBHOOKS_RETRY: &str = "/registry/webhooks/retry";
const ERASE: &str = "/registry/erase";
const ERASURE: &str = "/registry/erasure";
const ROOM_DELETED: &str = "/registry/room-deleted";

/// A call to a registry shard: about one user (routed by the user's shard), or a room's
/// presence reports for several users of one shard, batched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryRequest {
    User {
        user: String,
        call: RegistryCall,
    },
    /// A room's reports of its users' presence (their first connection there opened, or their
    /// last closed): versioned, so an older report never undoes a newer one. Answers
    /// [`ReportReply`]: the revocations of those users, which a room awaits before it accepts
    /// a user's first connection there.
    Reports {
        room: String,
        reports: Vec<PresenceReport>,
    },
    /// How many of shard `shard`'s users are online (`GET /stats` adds them up). Answers
    /// [`OnlineUsers`].
    Online {
        shard: u32,
    },
    /// A room's read states for this shard (see [`crate::registry::unread`]): its message count, when
    /// this shard keeps it, and the cursors of this shard's users there. Answers 200.
    ReadStates {
        room: String,
        messages: Option<u64>,
        cursors: Vec<CursorReport>,
        /// This shard's users who published or reacted in the room (reported once per user
        /// per wake of the room): the shard keeps the room in their set of rooms to erase.
        authors: Vec<String>,
    },
    /// The message counts this shard keeps of `rooms` (all of one shard). Answers
    /// `{room: messages}` for those it knows.
    RoomMessages {
        rooms: Vec<String>,
    },
    /// Shard `shard`'s oldest `limit` dead-letter webhook batches (its `direct_undelivered`
    /// events). Answers the body of `GET /rooms/{room}/webhooks/dead`.
    WebhooksDead {
        shard: u32,
        limit: u32,
    },
    /// Shard `shard`'s dead letters back into its outbox. Answers `{"requeued","batches"}`.
    WebhooksRetry {
        shard: u32,
    },
    /// `room` was deleted (`DELETE /rooms/{room}`): shard `shard` forgets what it keeps of it
    /// for the unread counts — the room's message count and its users' cursors there — which
    /// only ever grow, so a reused name would otherwise inherit them. Answers 200.
    RoomDeleted {
        room: String,
        shard: u32,
    },
}

/// The answer to [`RegistryRequest::Online`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OnlineUsers {
    pub online: u64,
}

/// One user's presence in one room, as the room reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PresenceReport {
    pub user: String,
    /// The user's connections in the room (0: gone; a room reports 0 and its first 1 only).
    pub connections: u32,
    pub version: u64,
}

impl RegistryRequest {
    /// The registry shard this request goes to (all reports of a batch share it).
    pub fn shard(&self, shards: &ShardHash) -> u32 {
        match self {
            RegistryRequest::User { user, .. } => shards.shard_of(user),
            RegistryRequest::Reports { reports, .. } => {
                reports.first().map_or(0, |r| shards.shard_of(&r.user))
            }
            RegistryRequest::Online { shard }
            | RegistryRequest::WebhooksDead { shard, .. }
            | RegistryRequest::WebhooksRetry { shard }
            | RegistryRequest::RoomDeleted { shard, .. } => *shard,
            RegistryRequest::ReadStates {
                room,
                cursors,
                authors,
                ..
            } => {
                let user = cursors.first().map(|c| &c.user).or(authors.first());
                user.map_or_else(|| counter_shard(room, shards), |u| shards.shard_of(u))
            }
            RegistryRequest::RoomMessages { rooms } => {
                rooms.first().map_or(0, |r| counter_shard(r, shards))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryCall {
    /// A ready-made frame for every connection of the user, in every room (or only in
    /// `rooms`, the sender's token's claim): forwarded once to each room the user is in.
    /// `from`: the sending user (a client's direct; none from the server API), whose
    /// cross-room budget pays one token per room called. Answers [`super::Delivered`], or
    /// 429 `rate_limited` when the sender's budget is spent.
    FanOut {
        frame: String,
        rooms: Option<Vec<String>>,
        from: Option<String>,
    },
    /// `GET /users/{user}`: the user's connections per room, checked with each room.
    Info,
    /// `POST /users/{user}/disconnect`: every connection of the user, every room (4003).
    /// Answers [`super::ClosedCount`].
    Disconnect { reason: Option<String> },
    /// `POST /users/{user}/revoke`: the user's tokens issued before `before` (unix s) are
    /// refused from now on, and live connections on them are closed (4005). Answers
    /// [`super::ClosedCount`].
    Revoke { before: u64, reason: Option<String> },
    /// `GET /users/{user}/unread`, `GET /me/unread`: `{"rooms":{room:n}}` for every room where
    /// the user has a read cursor (only `rooms`, a token's claim, when given). `iat`: the
    /// token's, checked against the user's revocation (`/me/unread`).
    Unread {
        rooms: Option<Vec<String>>,
        iat: Option<u64>,
    },
    /// Whether a token of the user issued at `iat` (unix s; 0 for a token without one) is
    /// revoked: a user token's history and member reads ask, as upgrades do. Answers
    /// [`super::Revoked`].
    Revoked { iat: u64 },
    /// `POST /users/{user}/erase`: the user's tokens revoked (their sockets closed 4005), their
    /// rows here gone, and an erasure of every room they authored in started in the background
    /// ([`crate::registry::erasure`]). Answers 202 `{"erase_id"}`.
    Erase,
    /// `GET /users/{user}/erase/{erase_id}`: the erasure's progress
    /// ([`crate::registry::erasure::ErasureStatus`]), or 404.
    Erasure { id: String },
}

/// The answer to [`RegistryRequest::Reports`]: the revocation of each reported user who has
/// one (unix s; tokens issued before it are refused), and the users whose first connection
/// was refused because they are in `MAX_ROOMS_PER_USER` rooms already (their report was not
/// stored: the room refuses the connection `429 too_many_rooms`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReportReply {
    pub revoked_before: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub too_many_rooms: BTreeSet<String>,
}

impl Call for RegistryRequest {
    fn to_request(&self) -> InternalRequest {
        let (user, call) = match self {
            RegistryRequest::Reports { room, reports } => {
                let body = serde_json::to_string(reports).unwrap_or_default();
                return InternalRequest::new(Method::Post, REPORT)
                    .param("room", room)
                    .body(body);
            }
            RegistryRequest::Online { shard } => {
                return InternalRequest::new(Method::Get, ONLINE).param("shard", shard)
            }
            r @ RegistryRequest::ReadStates { .. } => return read_states_request(r),
            RegistryRequest::RoomMessages { rooms } => {
                let body = serde_json::to_string(rooms).unwrap_or_default();
                return InternalRequest::new(Method::Post, ROOM_MESSAGES).body(body);
            }
            RegistryRequest::WebhooksDead { shard, limit } => {
                return InternalRequest::new(Method::Get, WEBHOOKS_DEAD)
                    .param("shard", shard)
                    .param("limit", limit)
            }
            RegistryRequest::WebhooksRetry { shard } => {
                return InternalRequest::new(Method::Post, WEBHOOKS_RETRY).param("shard", shard)
            }
            RegistryRequest::RoomDeleted { room, shard } => {
                return InternalRequest::new(Method::Post, ROOM_DELETED)
                    .param("shard", shard)
                    .param("room", room)
            }
            RegistryRequest::User { user, call } => (user, call),
        };
        let req = |method, path| InternalRequest::new(method, path).param("user", user);
        match call {
            RegistryCall::FanOut { frame, rooms, from } => req(Method::Post, FAN_OUT)
                .param_opt("rooms", rooms.as_ref().map(|r| r.join(",")))
                .param_opt("from", from.as_deref())
                .body(frame.clone()),
            RegistryCall::Info => req(Method::Get, INFO),
            RegistryCall::Disconnect { reason } => {
                req(Method::Post, DISCONNECT).param_opt("reason", reason.as_deref())
            }
            RegistryCall::Revoke { before, reason } => req(Method::Post, REVOKE)
                .param("before", before)
                .param_opt("reason", reason.as_deref()),
            RegistryCall::Unread { rooms, iat } => req(Method::Get, UNREAD)
                .param_opt("rooms", rooms.as_ref().map(|r| r.join(",")))
                .param_opt("iat", *iat),
            RegistryCall::Revoked { iat } => req(Method::Get, REVOKED).param("iat", iat),
            RegistryCall::Erase => req(Method::Post, ERASE),
            RegistryCall::Erasure { id } => req(Method::Get, ERASURE).param("id", id),
        }
    }

    fn from_request(mut req: InternalRequest) -> Result<Self, ChatError> {
        match req.path {
            ONLINE | WEBHOOKS_DEAD | WEBHOOKS_RETRY | ROOM_DELETED => return shard_request(&req),
            REPORT | READ_STATES | ROOM_MESSAGES => return room_request(&mut req),
            _ => {}
        }
        let user = req.text("user")?;
        if !is_valid_user_id(&user) {
            return Err(bad("invalid user"));
        }
        let call = match req.path {
            FAN_OUT => RegistryCall::FanOut {
                rooms: req.get("rooms").map(super::split_rooms),
                from: req.optional("from").filter(|u| is_valid_user_id(u)),
                frame: req.take_body()?,
            },
            INFO => RegistryCall::Info,
            DISCONNECT => RegistryCall::Disconnect {
                reason: req.optional("reason"),
            },
            REVOKE => RegistryCall::Revoke {
                before: req.number("before")?,
                reason: req.optional("reason"),
            },
            UNREAD => RegistryCall::Unread {
                rooms: req.get("rooms").map(super::split_rooms),
                iat: req.optional_number("iat")?,
            },
            REVOKED => RegistryCall::Revoked {
                iat: req.number("iat")?,
            },
            ERASE => RegistryCall::Erase,
            ERASURE => RegistryCall::Erasure {
                id: req.text("id")?,
            },
            _ => return Err(bad("no such registry endpoint")),
        };
        Ok(RegistryRequest::User { user, call })
    }
}

/// A room's read states as a request: the cursors in the body, the authors (when any) as a JSON
/// list in the query.
fn read_states_request(request: &RegistryRequest) -> InternalRequest {
    let RegistryRequest::ReadStates {
        room,
        messages,
        cursors,
        authors,
    } = request
    else {
        return InternalRequest::new(Method::Post, READ_STATES);
    };
    let body = serde_json::to_string(cursors).unwrap_or_default();
    let authors = (!authors.is_empty()).then(|| serde_json::to_string(authors).unwrap_or_default());
    InternalRequest::new(Method::Post, READ_STATES)
        .param("room", room)
        .param_opt("messages", *messages)
        .param_opt("authors", authors)
        .body(body)
}

/// The calls about a whole shard.
fn shard_request(req: &InternalRequest) -> Result<RegistryRequest, ChatError> {
    let shard = req.number("shard")?;
    Ok(match req.path {
        WEBHOOKS_DEAD => RegistryRequest::WebhooksDead {
            shard,
            limit: req.number("limit")?,
        },
        WEBHOOKS_RETRY => RegistryRequest::WebhooksRetry { shard },
        ROOM_DELETED => RegistryRequest::RoomDeleted {
            room: req
                .text("room")
                .ok()
                .filter(|r| crate::common::names::is_valid_room(r))
                .ok_or_else(|| bad("invalid room"))?,
            shard,
        },
        _ => RegistryRequest::Online { shard },
    })
}

/// A room's batched calls: presence reports, read states, message counts.
fn room_request(req: &mut InternalRequest) -> Result<RegistryRequest, ChatError> {
    let body = req.take_body()?;
    if req.path == ROOM_MESSAGES {
        let rooms = serde_json::from_str(&body).map_err(|_| bad("rooms must be a JSON list"))?;
        return Ok(RegistryRequest::RoomMessages { rooms });
    }
    let room = req.text("room")?;
    if req.path == REPORT {
        let reports: Vec<PresenceReport> =
            serde_json::from_str(&body).map_err(|_| bad("reports must be a JSON list"))?;
        if reports.iter().any(|r| !is_valid_user_id(&r.user)) {
            return Err(bad("invalid user"));
        }
        return Ok(RegistryRequest::Reports { room, reports });
    }
    let messages = req.optional_number("messages")?;
    let cursors: Vec<CursorReport> =
        serde_json::from_str(&body).map_err(|_| bad("cursors must be a JSON list"))?;
    let authors: Vec<String> = match req.get("authors") {
        Some(a) => serde_json::from_str(a).map_err(|_| bad("authors must be a JSON list"))?,
        None => Vec::new(),
    };
    let users = cursors.iter().map(|c| &c.user).chain(&authors);
    if users.into_iter().any(|u| !is_valid_user_id(u)) {
        return Err(bad("invalid user"));
    }
    Ok(RegistryRequest::ReadStates {
        room,
        messages,
        cursors,
        authors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::round_trip;

    #[test]
    fn every_registry_call_round_trips() {
        for call in [
            RegistryCall::FanOut {
                frame: r#"{"type":"direct"}"#.into(),
                rooms: None,
                from: None,
            },
            RegistryCall::FanOut {
                frame: "{}".into(),
                rooms: Some(vec!["a".into(), "b".into()]),
                from: Some("bob & co".into()),
            },
            RegistryCall::Info,
            RegistryCall::Disconnect { reason: None },
            RegistryCall::Disconnect {
                reason: Some("bye".into()),
            },
            RegistryCall::Revoke {
                before: 7,
                reason: None,
            },
            RegistryCall::Unread {
                rooms: None,
                iat: None,
            },
            RegistryCall::Unread {
                rooms: Some(vec!["a".into()]),
                iat: Some(9),
            },
            RegistryCall::Revoked { iat: 0 },
            RegistryCall::Erase,
            RegistryCall::Erasure {
                id: "0123abcd".into(),
            },
            RegistryCall::Revoked {
                iat: u64::MAX >> 11,
            },
        ] {
            round_trip(RegistryRequest::User {
                user: "😀 al&ice=".into(),
                call,
            });
        }
        round_trip(RegistryRequest::Reports {
            room: "lobby".into(),
            reports: vec![
                PresenceReport {
                    user: "a".into(),
                    connections: 1,
                    version: u64::MAX >> 11,
                },
                PresenceReport {
                    user: "é".into(),
                    connections: 0,
                    version: 3,
                },
            ],
        });
    }

    #[test]
    fn the_online_count_call_round_trips() {
        round_trip(RegistryRequest::Online { shard: 63 });
        assert_eq!(
            RegistryRequest::Online { shard: 7 }.shard(&ShardHash::Public),
            7
        );
        let dead = RegistryRequest::WebhooksDead {
            shard: 5,
            limit: 100,
        };
        assert_eq!(dead.shard(&ShardHash::Public), 5);
        round_trip(dead);
        round_trip(RegistryRequest::WebhooksRetry { shard: 63 });
        assert_eq!(
            RegistryRequest::WebhooksRetry { shard: 9 }.shard(&ShardHash::Public),
            9
        );
    }

    #[test]
    fn read_states_and_room_counts_round_trip_and_go_to_their_shard() {
        let cursor = CursorReport {
            user: "é".into(),
            seq: 4,
            base: 3,
        };
        for messages in [None, Some(12)] {
            round_trip(RegistryRequest::ReadStates {
                room: "lobby".into(),
                messages,
                cursors: vec![cursor.clone()],
                authors: vec![],
            });
        }
        let authors = RegistryRequest::ReadStates {
            room: "lobby".into(),
            messages: None,
            cursors: vec![],
            authors: vec!["a,b & é".into(), "z".into()],
        };
        assert_eq!(
            authors.shard(&ShardHash::Public),
            ShardHash::Public.shard_of("a,b & é")
        );
        round_trip(authors);
        let counts_only = RegistryRequest::ReadStates {
            room: "lobby".into(),
            messages: Some(1),
            cursors: vec![],
            authors: vec![],
        };
        assert_eq!(
            counts_only.shard(&ShardHash::Public),
            counter_shard("lobby", &ShardHash::Public)
        );
        let rooms = RegistryRequest::RoomMessages {
            rooms: vec!["lobby".into()],
        };
        assert_eq!(
            rooms.shard(&ShardHash::Public),
            counter_shard("lobby", &ShardHash::Public)
        );
        round_trip(rooms);
        let deleted = RegistryRequest::RoomDeleted {
            room: "lobby".into(),
            shard: 7,
        };
        assert_eq!(deleted.shard(&ShardHash::Public), 7);
        round_trip(deleted);
        let mut bad_user = counts_only.to_request();
        bad_user.body = Some(r#"[{"user":"","seq":1,"base":1}]"#.into());
        assert!(RegistryRequest::from_request(bad_user).is_err());
    }

    #[test]
    fn a_report_reply_without_refusals_reads_as_before() {
        // Rooms and shards of two versions meet during a deploy: an old shard's reply has no
        // `too_many_rooms`, and a reply with none refused is spelled as the old one.
        let old: ReportReply = serde_json::from_str(r#"{"revoked_before":{"a":5}}"#).unwrap();
        assert!(old.too_many_rooms.is_empty());
        assert_eq!(old.revoked_before.get("a"), Some(&5));
        assert_eq!(
            serde_json::to_string(&old).unwrap(),
            r#"{"revoked_before":{"a":5}}"#
        );
        let refused = ReportReply {
            too_many_rooms: ["b".to_string()].into(),
            ..ReportReply::default()
        };
        let json = serde_json::to_string(&refused).unwrap();
        assert_eq!(serde_json::from_str::<ReportReply>(&json).unwrap(), refused);
    }

    #[test]
    fn malformed_calls_are_refused() {
        let mut req = RegistryRequest::User {
            user: "u".into(),
            call: RegistryCall::Revoke {
                before: 1,
                reason: None,
            },
        }
        .to_request();
        req.query.retain(|(k, _)| k != "before");
        assert!(RegistryRequest::from_request(req).is_err());
        let mut reports = RegistryRequest::Reports {
            room: "r".into(),
            reports: Vec::new(),
        }
        .to_request();
        reports.body = Some(r#"[{"user":"","connections":1,"version":1}]"#.into());
        assert!(RegistryRequest::from_request(reports).is_err());
    }

    #[test]
    fn a_request_goes_to_its_users_shard() {
        let user = RegistryRequest::User {
            user: "alice".into(),
            call: RegistryCall::Info,
        };
        assert_eq!(
            user.shard(&ShardHash::Public),
            ShardHash::Public.shard_of("alice")
        );
        let batch = RegistryRequest::Reports {
            room: "r".into(),
            reports: vec![PresenceReport {
                user: "alice".into(),
                connections: 1,
                version: 1,
            }],
        };
        assert_eq!(
            batch.shard(&ShardHash::Public),
            user.shard(&ShardHash::Public)
        );
    }
}
