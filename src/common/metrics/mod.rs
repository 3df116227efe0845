//! Operator metrics: the data points written to the optional Workers Analytics Engine dataset
//! `METRICS` (docs/operations.md#metrics).
//!
//! Each object counts what happens to it in memory and writes **one** point now and then,
//! never one per event: a room at most one per turn and per second ([`Pacer`]), a registry
//! shard, a webhook outbox and the front worker's isolate at most one per second. Nothing
//! here sets a timer: a point is written at the end of work the object does anyway, so
//! counting never keeps a hibernating room awake. The counts of an object's last second
//! before it goes quiet wait for its next event (or are lost if it is evicted first).
//!
//! A point is `indexes: [object]` (the room name, `registry-N`, `front`), `blobs: [kind]` and
//! the kind's doubles **in the fixed order of its `*_DOUBLES` table** — the tables are the
//! contract docs/operations.md and its SQL are written against (`double1` is the first name).
//! Every double is a count since the object's previous point, except where the table says
//! otherwise (the webhook backlog, a turn's longest wait).

use serde::Serialize;

mod front;
mod room;

pub use front::{AuthReason, FrontCounts, FRONT_DOUBLES};
pub use room::{RoomCounts, RoomMetrics, ROOM_DOUBLES};

/// At most one point per object per this many milliseconds.
pub const MIN_INTERVAL_MS: u64 = 1_000;

/// What a point is about: its `blob1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Room,
    Registry,
    Webhooks,
    Front,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Room => "room",
            Kind::Registry => "registry",
            Kind::Webhooks => "webhooks",
            Kind::Front => "front",
        }
    }

    /// The names of this kind's doubles, in order (`double1` first).
    pub fn doubles(self) -> &'static [&'static str] {
        match self {
            Kind::Room => &ROOM_DOUBLES,
            Kind::Registry => &REGISTRY_DOUBLES,
            Kind::Webhooks => &WEBHOOK_DOUBLES,
            Kind::Front => &FRONT_DOUBLES,
        }
    }
}

/// One data point, as the binding is handed it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    pub kind: Kind,
    /// The index: the room name, `registry-N`, or `front`.
    pub index: String,
    pub doubles: Vec<f64>,
}

impl Point {
    /// The point as `GET /dev/metrics` lists it: its doubles also by name (`at`: when it was
    /// written, unix ms).
    pub fn dev_json(&self, at: u64) -> serde_json::Value {
        let names = self.kind.doubles();
        let named: serde_json::Map<String, serde_json::Value> = names
            .iter()
            .zip(&self.doubles)
            .map(|(n, d)| ((*n).to_owned(), (*d).into()))
            .collect();
        serde_json::json!({
            "kind": self.kind, "index": self.index, "at": at,
            "doubles": self.doubles, "named": named,
        })
    }
}

/// When an object may write its next point: the first at once, then one per
/// [`MIN_INTERVAL_MS`] at most.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pacer {
    last: Option<u64>,
}

impl Pacer {
    /// Whether a point may be written at `now` (unix ms), without counting one.
    pub fn would_be_ready(&self, now: u64) -> bool {
        self.last.is_none_or(|l| now >= l + MIN_INTERVAL_MS)
    }

    /// Whether a point may be written at `now` (unix ms); if so, it counts as written.
    pub fn ready(&mut self, now: u64) -> bool {
        let ready = self.would_be_ready(now);
        if ready {
            self.last = Some(now);
        }
        ready
    }
}

/// A registry shard point's doubles, in order (counts since its previous point).
pub const REGISTRY_DOUBLES: [&str; 3] = [
    "requests",         // calls served (presence reports, fan-outs, reads, revocations …)
    "alarms",           // alarm invocations
    "presence_reports", // presence reports stored
];

/// A webhook outbox point's doubles, in order: written by a room or a registry shard (its
/// index) after a delivery attempt.
pub const WEBHOOK_DOUBLES: [&str; 5] = [
    "waiting",       // events waiting in the outbox now (not a count since the last point)
    "oldest_age_ms", // how long the oldest waiting event has waited (0: none)
    "delivered",     // events delivered (a 2xx)
    "failures",      // attempts that failed
    "dead_letters",  // events moved to the dead letters
];

/// Counts of a registry shard or a webhook outbox between two points: in the order of its
/// kind's doubles table, so the point is just these numbers.
#[derive(Debug, Clone)]
pub struct Tally<const N: usize> {
    pub counts: [u64; N],
    pacer: Pacer,
}

impl<const N: usize> Default for Tally<N> {
    fn default() -> Self {
        Tally {
            counts: [0; N],
            pacer: Pacer::default(),
        }
    }
}

impl<const N: usize> Tally<N> {
    /// Adds `n` to the count at `i` (an index into the kind's doubles table).
    pub fn add(&mut self, i: usize, n: u64) {
        if let Some(c) = self.counts.get_mut(i) {
            *c += n;
        }
    }

    /// Whether [`Self::take`] would give a point at `now`.
    pub fn due(&self, now: u64) -> bool {
        self.counts.iter().any(|c| *c > 0) && self.pacer.would_be_ready(now)
    }

    /// The point of `index` at `now`, when something was counted (a gauge set just before
    /// counts) and the pace allows; the counts start again from zero.
    pub fn take(&mut self, kind: Kind, index: &str, now: u64) -> Option<Point> {
        if self.counts.iter().all(|c| *c == 0) || !self.pacer.ready(now) {
            return None;
        }
        let counts = std::mem::replace(&mut self.counts, [0; N]);
        Some(point(kind, index, counts.to_vec()))
    }
}

/// The registry shard's doubles, by name.
pub mod registry {
    pub const REQUESTS: usize = 0;
    pub const ALARMS: usize = 1;
    pub const PRESENCE_REPORTS: usize = 2;
}

/// The webhook outbox's doubles, by name.
pub mod webhooks {
    pub const WAITING: usize = 0;
    pub const OLDEST_AGE_MS: usize = 1;
    pub const DELIVERED: usize = 2;
    pub const FAILURES: usize = 3;
    pub const DEAD_LETTERS: usize = 4;
}

/// The `"type"` of a server frame, read from its start without parsing it (the frames are
/// ours: `to_json` of a `type`-tagged enum writes the tag first).
pub(crate) fn frame_type(frame: &str) -> Option<&str> {
    frame.strip_prefix(r#"{"type":""#)?.split('"').next()
}

pub(crate) fn point(kind: Kind, index: &str, counts: Vec<u64>) -> Point {
    Point {
        kind,
        index: index.to_owned(),
        doubles: counts.into_iter().map(|n| n as f64).collect(),
    }
}

#[cfg(test)]
mod tests;
