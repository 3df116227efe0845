//! The calls a user's registry object (`UserRegistry`) serves. Every one names the user.

use super::{bad, Call, InternalRequest, Method};
use crate::error::ChatError;
use crate::names::is_valid_user_id;

pub(super) const PATHS: &[&str] = &[REPORT, FAN_OUT, INFO, DISCONNECT, REVOKE];
const REPORT: &str = "/registry/report";
const FAN_OUT: &str = "/registry/fan-out";
const INFO: &str = "/registry/info";
const DISCONNECT: &str = "/registry/disconnect";
const REVOKE: &str = "/registry/revoke";

/// A call to the registry object of `user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRequest {
    pub user: String,
    pub call: RegistryCall,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryCall {
    /// A room's report of the user's connection count there (versioned: an older report
    /// never undoes a newer one). Answers [`ReportReply`]: the user's revocation, which a room
    /// awaits before it accepts the user's first connection there.
    Report {
        room: String,
        connections: u32,
        version: u64,
    },
    /// A ready-made frame for every connection of the user, in every room (or only in
    /// `rooms`, the sender's token's claim): forwarded once to each room the user is in.
    /// Answers [`super::Delivered`].
    FanOut {
        frame: String,
        rooms: Option<Vec<String>>,
    },
    /// `GET /users/{user}`: the user's connections per room, checked with each room.
    Info,
    /// `POST /users/{user}/disconnect`: every connection of the user, every room (4003).
    /// Answers [`super::Closed`].
    Disconnect { reason: Option<String> },
    /// `POST /users/{user}/revoke`: the user's tokens issued before `before` (unix s) are
    /// refused from now on, and live connections on them are closed (4005). Answers
    /// [`super::Closed`].
    Revoke { before: u64, reason: Option<String> },
}

/// The answer to a [`RegistryCall::Report`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReportReply {
    /// The user's tokens issued before this (unix s) are revoked.
    pub revoked_before: Option<u64>,
}

impl Call for RegistryRequest {
    fn to_request(&self) -> InternalRequest {
        let req = |method, path| InternalRequest::new(method, path).param("user", &self.user);
        match &self.call {
            RegistryCall::Report {
                room,
                connections,
                version,
            } => req(Method::Post, REPORT)
                .param("room", room)
                .param("connections", connections)
                .param("version", version),
            RegistryCall::FanOut { frame, rooms } => req(Method::Post, FAN_OUT)
                .param_opt("rooms", rooms.as_ref().map(|r| r.join(",")))
                .body(frame.clone()),
            RegistryCall::Info => req(Method::Get, INFO),
            RegistryCall::Disconnect { reason } => {
                req(Method::Post, DISCONNECT).param_opt("reason", reason.as_deref())
            }
            RegistryCall::Revoke { before, reason } => req(Method::Post, REVOKE)
                .param("before", before)
                .param_opt("reason", reason.as_deref()),
        }
    }

    fn from_request(mut req: InternalRequest) -> Result<Self, ChatError> {
        let user = req.required("user")?.to_owned();
        if !is_valid_user_id(&user) {
            return Err(bad("invalid user"));
        }
        let call = match req.path {
            REPORT => RegistryCall::Report {
                room: req.required("room")?.to_owned(),
                connections: req.number("connections")?,
                version: req.number("version")?,
            },
            FAN_OUT => RegistryCall::FanOut {
                rooms: req.get("rooms").map(|r| {
                    r.split(',')
                        .filter(|r| !r.is_empty())
                        .map(str::to_owned)
                        .collect()
                }),
                frame: req.take_body()?,
            },
            INFO => RegistryCall::Info,
            DISCONNECT => RegistryCall::Disconnect {
                reason: req.get("reason").map(str::to_owned),
            },
            REVOKE => RegistryCall::Revoke {
                before: req.number("before")?,
                reason: req.get("reason").map(str::to_owned),
            },
            _ => return Err(bad("no such registry endpoint")),
        };
        Ok(RegistryRequest { user, call })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::round_trip;

    #[test]
    fn every_registry_call_round_trips() {
        for call in [
            RegistryCall::Report {
                room: "lobby".into(),
                connections: 3,
                version: u64::MAX,
            },
            RegistryCall::FanOut {
                frame: r#"{"type":"direct"}"#.into(),
                rooms: None,
            },
            RegistryCall::FanOut {
                frame: "{}".into(),
                rooms: Some(vec!["a".into(), "b".into()]),
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
        ] {
            round_trip(RegistryRequest {
                user: "😀 al&ice=".into(),
                call,
            });
        }
    }

    #[test]
    fn malformed_reports_are_refused() {
        let mut req = RegistryRequest {
            user: "u".into(),
            call: RegistryCall::Report {
                room: "r".into(),
                connections: 1,
                version: 2,
            },
        }
        .to_request();
        req.query.retain(|(k, _)| k != "version");
        assert!(RegistryRequest::from_request(req).is_err());
    }
}
