//! The calls a fan-out object (`RoomFanout`, [`crate::fanout`]) serves; only its room makes them.

use super::{bad, Call, InternalRequest, Method};
use crate::common::error::ChatError;
use crate::common::names::is_valid_room;

pub(super) const PATHS: &[&str] = &[ACCEPT, APPLY, DEBUG];
const ACCEPT: &str = "/fanout/accept";
const APPLY: &str = "/fanout/apply";
const DEBUG: &str = "/fanout/debug";

/// A call to fan-out object `index` of `room`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanoutRequest {
    pub room: String,
    pub index: u32,
    pub call: FanoutCall,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FanoutCall {
    /// A WebSocket upgrade the room admitted: accept it as `connection` of `user`. Answers the
    /// `101` the room hands back to the client (with the subprotocol selected if the client
    /// offered its token as one).
    /// `target` is the object to hold the socket: another object passes the call on towards
    /// it ([`crate::fanout::tree`]) and hands its answer back.
    Accept {
        connection: String,
        user: String,
        batch: bool,
        subprotocol: bool,
        target: u32,
    },
    /// Plans to carry out (the body: a JSON object of object index → [`crate::fanout::Plan`]):
    /// the object's own, and those it relays to the objects below it. Answers a
    /// [`crate::fanout::PlanReply`] for its own.
    Apply { bundle: String },
    /// `GET /dev/rooms/{room}/fanout/{i}/debug` (`DEV_MODE` only): the object's instance facts
    /// (a random id per constructed object, when it was constructed, whether its socket map
    /// had been rebuilt) and its sockets, for tests proving it was evicted and woke.
    Debug,
}

impl Call for FanoutRequest {
    fn to_request(&self) -> InternalRequest {
        let req = |method, path| {
            InternalRequest::new(method, path)
                .param("room", &self.room)
                .param("index", self.index)
        };
        match &self.call {
            FanoutCall::Accept {
                connection,
                user,
                batch,
                subprotocol,
                target,
            } => {
                let mut r = req(Method::Get, ACCEPT)
                    .param("connection", connection)
                    .param("user", user)
                    .param_opt("batch", batch.then_some(1))
                    .param_opt("subprotocol", subprotocol.then_some(1))
                    .param("target", target);
                r.upgrade = true;
                r
            }
            FanoutCall::Apply { bundle } => req(Method::Post, APPLY).body(bundle.clone()),
            FanoutCall::Debug => req(Method::Get, DEBUG),
        }
    }

    fn from_request(mut req: InternalRequest) -> Result<Self, ChatError> {
        let room = req.text("room")?;
        if !is_valid_room(&room) {
            return Err(bad("invalid room"));
        }
        let index = req.number("index")?;
        let call = match req.path {
            ACCEPT => FanoutCall::Accept {
                connection: req.text("connection")?,
                user: req.text("user")?,
                batch: req.get("batch") == Some("1"),
                subprotocol: req.get("subprotocol") == Some("1"),
                target: req.number("target")?,
            },
            APPLY => FanoutCall::Apply {
                bundle: req.take_body()?,
            },
            DEBUG => FanoutCall::Debug,
            _ => return Err(bad("no such fan-out call")),
        };
        Ok(FanoutRequest { room, index, call })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(call: FanoutCall) {
        crate::calls::round_trip(FanoutRequest {
            room: "lobby".into(),
            index: 7,
            call,
        });
    }

    #[test]
    fn calls_survive_the_trip() {
        round_trip(FanoutCall::Accept {
            connection: "lobby.00".into(),
            user: "é u".into(),
            batch: true,
            subprotocol: false,
            target: 12,
        });
        round_trip(FanoutCall::Debug);
        round_trip(FanoutCall::Apply {
            bundle: r#"{"3":{"texts":[],"ops":[]}}"#.into(),
        });
        let accept = FanoutRequest {
            room: "r".into(),
            index: 0,
            call: FanoutCall::Accept {
                connection: "c".into(),
                user: "u".into(),
                batch: false,
                subprotocol: true,
                target: 0,
            },
        };
        assert!(
            accept.to_request().upgrade,
            "an accept asks for a socket back"
        );
    }
}
