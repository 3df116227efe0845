//! What Cloudflare bills a Durable Object for, counted where it happens.
//!
//! The platform charges object **requests** (HTTP requests and RPC sessions into an object,
//! alarm invocations, and incoming WebSocket messages at 20:1), **duration** (wall-clock time
//! while an object runs or idles unable to hibernate), and **SQLite rows written**. The objects
//! count each event here as it happens rather than anyone estimating it afterwards; the bench
//! (`bench/scripts/billing.mjs`) reads the counters at `GET /dev/meter` before and after a
//! scenario and divides by what the scenario did.
//!
//! The counters live per isolate. Local workerd runs the front worker and every object of the
//! worker in one isolate, so one read sees them all; deployed objects run elsewhere, which is
//! why the endpoint exists only with `DEV_MODE=1`.

use serde::Serialize;
use std::cell::RefCell;

/// The object classes that bill separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Room,
    Registry,
    Stats,
    /// A room's fan-out objects (`RoomFanout`, [`crate::fanout`]).
    Fanout,
}

/// One class's counts since the isolate started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// `fetch` calls into the objects (each is a billed request).
    pub requests: u64,
    /// Incoming WebSocket messages (billed at 20:1). Auto-answered pings never reach us and are
    /// not billed as requests either.
    pub websocket_messages: u64,
    /// WebSocket close and error events delivered to the object (each wakes a hibernated
    /// object; counted apart because the pricing page does not name them).
    pub websocket_closes: u64,
    /// Alarm invocations (each is a billed request).
    pub alarms: u64,
    /// Constructor runs: an object created, or woken from hibernation or eviction.
    pub wakes: u64,
    /// SQLite rows written, as the storage reports them per statement (indexes included).
    pub rows_written: u64,
    /// Requests this class sent to fan-out objects (plans, upgrades placed there, relayed):
    /// the room's own share of a big room's sub-requests ([`crate::fanout`]).
    pub fanout_requests: u64,
}

/// Every class's counts: the JSON of `GET /dev/meter`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Meter {
    pub room: Counts,
    pub registry: Counts,
    pub stats: Counts,
    pub fanout: Counts,
}

impl Meter {
    fn of(&mut self, kind: ObjectKind) -> &mut Counts {
        match kind {
            ObjectKind::Room => &mut self.room,
            ObjectKind::Registry => &mut self.registry,
            ObjectKind::Stats => &mut self.stats,
            ObjectKind::Fanout => &mut self.fanout,
        }
    }
}

thread_local! {
    static METER: RefCell<Meter> = RefCell::new(Meter::default());
}

fn add(kind: ObjectKind, bump: impl FnOnce(&mut Counts)) {
    METER.with(|m| bump(m.borrow_mut().of(kind)));
}

/// A `fetch` reached an object of `kind`.
pub fn request(kind: ObjectKind) {
    add(kind, |c| c.requests += 1);
}

/// A WebSocket message reached an object of `kind`.
pub fn websocket_message(kind: ObjectKind) {
    add(kind, |c| c.websocket_messages += 1);
}

/// A WebSocket close or error event reached an object of `kind`.
pub fn websocket_close(kind: ObjectKind) {
    add(kind, |c| c.websocket_closes += 1);
}

/// An alarm ran on an object of `kind`.
pub fn alarm(kind: ObjectKind) {
    add(kind, |c| c.alarms += 1);
}

/// An object of `kind` was constructed.
pub fn wake(kind: ObjectKind) {
    add(kind, |c| c.wakes += 1);
}

/// A statement on an object of `kind` wrote `rows` rows.
pub fn rows_written(kind: ObjectKind, rows: u64) {
    if rows > 0 {
        add(kind, |c| c.rows_written += rows);
    }
}

/// An object of `kind` sent a request to a fan-out object.
pub fn fanout_request(kind: ObjectKind) {
    add(kind, |c| c.fanout_requests += 1);
}

/// The counts so far.
pub fn snapshot() -> Meter {
    METER.with(|m| *m.borrow())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_counts_against_its_own_class() {
        let before = snapshot();
        request(ObjectKind::Room);
        websocket_message(ObjectKind::Room);
        websocket_message(ObjectKind::Room);
        alarm(ObjectKind::Registry);
        wake(ObjectKind::Stats);
        rows_written(ObjectKind::Stats, 3);
        rows_written(ObjectKind::Stats, 0);
        websocket_close(ObjectKind::Room);
        fanout_request(ObjectKind::Fanout);
        let after = snapshot();
        assert_eq!(
            after.fanout.fanout_requests - before.fanout.fanout_requests,
            1
        );
        assert_eq!(after.room.requests - before.room.requests, 1);
        assert_eq!(
            after.room.websocket_messages - before.room.websocket_messages,
            2
        );
        assert_eq!(
            after.room.websocket_closes - before.room.websocket_closes,
            1
        );
        assert_eq!(after.registry.alarms - before.registry.alarms, 1);
        assert_eq!(after.stats.wakes - before.stats.wakes, 1);
        assert_eq!(after.stats.rows_written - before.stats.rows_written, 3);
        assert_eq!(after.registry.requests, before.registry.requests);
        let json = serde_json::to_value(after).unwrap();
        assert!(json["room"]["rows_written"].is_u64());
    }
}
