//! The calls a stats shard (`StatsShard`) serves.

use super::{bad, Call, InternalRequest, Method};
use crate::common::error::ChatError;

pub(super) const PATHS: &[&str] = &[ROOM_COUNT, TOTALS, ACTIVE];
const ROOM_COUNT: &str = "/stats/room-count";
const TOTALS: &str = "/stats/totals";
const ACTIVE: &str = "/stats/active";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsCall {
    /// A room's connection count (versioned by the room).
    RoomCount {
        room: String,
        connections: u64,
        version: u64,
    },
    /// This shard's share of `GET /stats`. Answers [`crate::stats::Totals`].
    Totals,
    /// This shard's rooms with connections, by name after `after`, at most `limit`. Answers a
    /// list of [`crate::stats::ActiveRoom`].
    Active { after: Option<String>, limit: u32 },
}

impl Call for StatsCall {
    fn to_request(&self) -> InternalRequest {
        match self {
            StatsCall::RoomCount {
                room,
                connections,
                version,
            } => InternalRequest::new(Method::Post, ROOM_COUNT)
                .param("room", room)
                .param("connections", connections)
                .param("version", version),
            StatsCall::Totals => InternalRequest::new(Method::Get, TOTALS),
            StatsCall::Active { after, limit } => InternalRequest::new(Method::Get, ACTIVE)
                .param_opt("after", after.as_deref())
                .param("limit", limit),
        }
    }

    fn from_request(req: InternalRequest) -> Result<Self, ChatError> {
        Ok(match req.path {
            ROOM_COUNT => StatsCall::RoomCount {
                room: req.required("room")?.to_owned(),
                connections: req.number("connections")?,
                version: req.number("version")?,
            },
            TOTALS => StatsCall::Totals,
            ACTIVE => StatsCall::Active {
                after: req.optional("after"),
                limit: req.number("limit")?,
            },
            _ => return Err(bad("no such stats endpoint")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::round_trip;

    #[test]
    fn every_stats_call_round_trips() {
        for call in [
            StatsCall::RoomCount {
                room: "r".into(),
                connections: 0,
                version: 1 << 60,
            },
            StatsCall::Totals,
            StatsCall::Active {
                after: None,
                limit: 101,
            },
            StatsCall::Active {
                after: Some("lobby".into()),
                limit: 1,
            },
        ] {
            round_trip(call);
        }
    }
}
