//! The calls a room object (`ChatRoom`) serves. Every one names the room: an object does not
//! know its own name, and the front worker has validated it.

use super::{bad, Call, InternalRequest, Method};
use crate::error::ChatError;
use crate::message_log::HistoryQuery;
use crate::names::is_valid_room;

pub(super) const PATHS: &[&str] = &[
    CONNECT,
    PUBLISH,
    HISTORY,
    DELIVER_TO_USER,
    COUNT_USER,
    DELIVER_TO_CONNECTION,
    INFO,
    DEBUG,
];
const CONNECT: &str = "/room/connect";
const PUBLISH: &str = "/room/publish";
const HISTORY: &str = "/room/history";
const DELIVER_TO_USER: &str = "/room/deliver-to-user";
const COUNT_USER: &str = "/room/count-user";
const DELIVER_TO_CONNECTION: &str = "/room/deliver-to-connection";
const INFO: &str = "/room/info";
const DEBUG: &str = "/room/debug";

/// A call to the room object of `room`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRequest {
    pub room: String,
    pub call: RoomCall,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomCall {
    /// A verified user's WebSocket upgrade (from the front worker). Answers the socket.
    Connect {
        user: String,
        since: Option<u64>,
        batch: bool,
    },
    /// A server post to the room: `data` is validated JSON. Answers
    /// `{"delivered":N,"seq":S}` (the server API's own reply).
    Publish {
        data: String,
        exclude: Option<String>,
    },
    /// A page of the room's log. Answers the history body of the server API.
    History(HistoryQuery),
    /// A ready-made frame for every connection of `user` here (from the user's registry).
    /// Answers [`super::Delivered`].
    DeliverToUser { user: String, frame: String },
    /// How many connections `user` has here (the registry's check). Answers
    /// [`super::Connections`].
    CountUser { user: String },
    /// A ready-made frame for one connection here. Answers [`super::Delivered`], or 404.
    DeliverToConnection { connection: String, frame: String },
    /// `GET /rooms/{room}`: the room's connections and users.
    Info,
    /// The object's instance facts (`DEV_MODE` only): lets tests prove evictions and wakes.
    Debug,
}

impl Call for RoomRequest {
    fn to_request(&self) -> InternalRequest {
        use RoomCall::*;
        let req = |method, path| InternalRequest::new(method, path).param("room", &self.room);
        match &self.call {
            Connect { user, since, batch } => {
                let mut r = req(Method::Get, CONNECT)
                    .param("user", user)
                    .param_opt("since", *since)
                    .param_opt("batch", batch.then_some(1));
                r.upgrade = true;
                r
            }
            Publish { data, exclude } => req(Method::Post, PUBLISH)
                .param_opt("exclude", exclude.as_deref())
                .body(data.clone()),
            History(q) => q
                .to_params()
                .into_iter()
                .fold(req(Method::Get, HISTORY), |r, (k, v)| r.param(k, v)),
            DeliverToUser { user, frame } => req(Method::Post, DELIVER_TO_USER)
                .param("user", user)
                .body(frame.clone()),
            CountUser { user } => req(Method::Get, COUNT_USER).param("user", user),
            DeliverToConnection { connection, frame } => req(Method::Post, DELIVER_TO_CONNECTION)
                .param("connection", connection)
                .body(frame.clone()),
            Info => req(Method::Get, INFO),
            Debug => req(Method::Get, DEBUG),
        }
    }

    fn from_request(mut req: InternalRequest) -> Result<Self, ChatError> {
        use RoomCall::*;
        let room = req.required("room")?.to_owned();
        if !is_valid_room(&room) {
            return Err(bad("invalid room"));
        }
        let text = |req: &InternalRequest, name: &str| req.required(name).map(str::to_owned);
        let call = match req.path {
            CONNECT => Connect {
                user: text(&req, "user")?,
                since: req.get("since").map(|_| req.number("since")).transpose()?,
                batch: req.get("batch") == Some("1"),
            },
            PUBLISH => Publish {
                exclude: req.get("exclude").map(str::to_owned),
                data: req.take_body()?,
            },
            HISTORY => History(HistoryQuery::parse(
                req.query.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            )?),
            DELIVER_TO_USER => DeliverToUser {
                user: text(&req, "user")?,
                frame: req.take_body()?,
            },
            COUNT_USER => CountUser {
                user: text(&req, "user")?,
            },
            DELIVER_TO_CONNECTION => DeliverToConnection {
                connection: text(&req, "connection")?,
                frame: req.take_body()?,
            },
            INFO => Info,
            DEBUG => Debug,
            _ => return Err(bad("no such room endpoint")),
        };
        Ok(RoomRequest { room, call })
    }
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
            },
            RoomCall::Connect {
                user: "u".into(),
                since: None,
                batch: false,
            },
            RoomCall::Publish {
                data: r#"{"a":"&="}"#.into(),
                exclude: Some("r.0123456789abcdef".into()),
            },
            RoomCall::Publish {
                data: "null".into(),
                exclude: None,
            },
            RoomCall::History(HistoryQuery::Since { since: 3, limit: 9 }),
            RoomCall::History(HistoryQuery::Before {
                before: u64::MAX,
                limit: 50,
            }),
            RoomCall::History(HistoryQuery::Before {
                before: 12,
                limit: 1,
            }),
            RoomCall::DeliverToUser {
                user: "bob".into(),
                frame: "{}".into(),
            },
            RoomCall::CountUser { user: "bob".into() },
            RoomCall::DeliverToConnection {
                connection: "r.0123456789abcdef".into(),
                frame: "{}".into(),
            },
            RoomCall::Info,
            RoomCall::Debug,
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
