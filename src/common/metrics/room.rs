//! A room's counts ([`RoomCounts`]) and its pace ([`RoomMetrics`]): at most one point per
//! turn and per second.

use super::{frame_type, point, Kind, Pacer, Point};
use crate::common::error::ErrorCode;

/// The frame codes a room counts apart, in the order of their doubles; any other error frame
/// (a moderation or history refusal) counts under `refused_other`.
const ROOM_CODES: [ErrorCode; 7] = [
    ErrorCode::BadJson,
    ErrorCode::BadFrame,
    ErrorCode::TooLarge,
    ErrorCode::BinaryUnsupported,
    ErrorCode::RateLimited,
    ErrorCode::NotFound,
    ErrorCode::Forbidden,
];

/// A room point's doubles, in order.
pub const ROOM_DOUBLES: [&str; 20] = [
    "messages",    // messages accepted (client publishes and server posts)
    "deliveries",  // message frames handed to connections (one per recipient)
    "bytes_in",    // bytes of the frames received (refused ones included)
    "bytes_out",   // bytes handed to sockets by the turns' sends
    "sends",       // socket sends of the turns (a `batch` frame is one)
    "turns",       // turns run for received frames
    "turn_ms",     // sum over those turns of how long their first frame waited
    "turn_ms_max", // the longest such wait (not a count)
    "connects",    // sockets accepted
    "disconnects", // sockets closed, by either side
    "refused",     // error frames sent for refused frames (the sum of the next 8)
    "refused_bad_json",
    "refused_bad_frame",
    "refused_too_large",
    "refused_binary_unsupported",
    "refused_rate_limited",
    "refused_not_found",
    "refused_forbidden",
    "refused_other",
    "fanout_sends", // of `sends`, those carried by the room's fan-out objects
];

/// What a room counts between two points.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RoomCounts {
    pub messages: u64,
    pub deliveries: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub sends: u64,
    pub turns: u64,
    pub turn_ms: u64,
    pub turn_ms_max: u64,
    pub connects: u64,
    pub disconnects: u64,
    /// By [`ROOM_CODES`] index, then other.
    pub refused: [u64; ROOM_CODES.len() + 1],
    /// Of `sends`, those a fan-out object made for the room ([`crate::fanout`]).
    pub fanout_sends: u64,
}

impl RoomCounts {
    /// The turn queued `frame` for `recipients` connections (asked only of a message frame,
    /// whose recipients are counted then).
    pub fn queued(&mut self, frame: &str, recipients: impl FnOnce() -> usize) {
        match frame_type(frame) {
            Some("message") => {
                self.messages += 1;
                self.deliveries += recipients() as u64;
            }
            Some("error") => self.refused_frame(frame),
            _ => {}
        }
    }

    fn refused_frame(&mut self, frame: &str) {
        let code = frame
            .strip_prefix(r#"{"type":"error","code":""#)
            .and_then(|rest| rest.split('"').next());
        if code == Some(ErrorCode::Internal.as_str()) {
            return; // a failure of ours, not a refusal (it has an incident line)
        }
        let i = ROOM_CODES
            .iter()
            .position(|c| Some(c.as_str()) == code)
            .unwrap_or(ROOM_CODES.len());
        self.refused[i] += 1;
    }

    /// A turn for received frames ran; its first frame had waited `waited_ms`.
    pub fn turn(&mut self, waited_ms: u64) {
        self.turns += 1;
        self.turn_ms += waited_ms;
        self.turn_ms_max = self.turn_ms_max.max(waited_ms);
    }

    /// Nothing was counted since the last point.
    pub fn is_empty(&self) -> bool {
        *self == RoomCounts::default()
    }

    /// The point of `room` with these counts (in [`ROOM_DOUBLES`] order).
    pub fn point(&self, room: &str) -> Point {
        let refused: u64 = self.refused.iter().sum();
        let mut doubles = vec![
            self.messages,
            self.deliveries,
            self.bytes_in,
            self.bytes_out,
            self.sends,
            self.turns,
            self.turn_ms,
            self.turn_ms_max,
            self.connects,
            self.disconnects,
            refused,
        ];
        doubles.extend(self.refused);
        doubles.push(self.fanout_sends);
        point(Kind::Room, room, doubles)
    }
}

/// A room's counts and when it may write: [`RoomMetrics::end_of_turn`] after every turn.
#[derive(Debug, Default)]
pub struct RoomMetrics {
    pub counts: RoomCounts,
    pacer: Pacer,
}

impl RoomMetrics {
    /// A turn ended at `now`: the point to write, if anything was counted and the last point
    /// is at least [`MIN_INTERVAL_MS`] old (the counts start again from zero).
    pub fn end_of_turn(&mut self, room: &str, now: u64) -> Option<Point> {
        if self.counts.is_empty() || !self.pacer.ready(now) {
            return None;
        }
        Some(std::mem::take(&mut self.counts).point(room))
    }
}
