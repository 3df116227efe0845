//! The calls a stats shard (`StatsShard`) serves.

use super::{bad, Call, InternalRequest, Method};
use crate::common::error::ChatError;

pub(super) const PATHS: &[&str] = &[ROOM_COUNT, TOTALS];
const ROOM_COUNT: &str = "/stats/room-count";
const TOTALS: &str = "/stats/totals";

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
        ] {
            round_trip(call);
        }
    }
}
