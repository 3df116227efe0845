//! Rooms bigger than one object: **fan-out objects** (`RoomFanout`) under the room.
//!
//! A room's own object holds at most `ROOM_FANOUT_CONNECTIONS` sockets
//! ([`crate::common::config::Config::fanout_connections`]). An upgrade past that is admitted by
//! the room as any other (limits, bans, revocations are the room's) and then placed on fan-out
//! object `i` of the room — the first with room to spare ([`remote::Remote::place`]) — which
//! accepts the socket and answers the `101`: the room returns that answer as its own. A room
//! that fits in one object never calls a fan-out object, so it pays nothing for this.
//!
//! The room still does everything a room promises — order, storage, acks, moderation, the
//! user index: a connection on a fan-out object is in the room's index like any other, its
//! handle naming the object instead of a socket. What changes is only where sends go and where
//! frames come from:
//! - **out**: each turn's sends to a fan-out object's connections become one [`Plan`] — every
//!   distinct text once, and who gets which, in order — and each object gets one request per
//!   turn at most (while one is in flight, later turns' plans are merged into the next);
//! - **in**: a fan-out object queues its sockets' frames and closes in turns of its own and
//!   sends each turn's to the room in one request ([`Inbound`]), which the room runs as a turn.
//!
//! A fan-out object is named `{room}#{i}` ([`fanout_name`]) in the `FANOUT` namespace.

pub mod inbound;
pub mod plan;
pub mod remote;
pub mod tree;

pub use inbound::Inbound;
pub use plan::{Op, Plan, PlanReply};

/// The name of fan-out object `index` of `room` (in its own namespace, `FANOUT`).
pub fn fanout_name(room: &str, index: u32) -> String {
    format!("{room}#{index}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_the_room_and_an_index() {
        assert_eq!(super::fanout_name("lobby", 3), "lobby#3");
    }
}
