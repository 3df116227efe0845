//! Hands the points of [`crate::common::metrics`] to the optional Analytics Engine dataset
//! `METRICS`. Without the binding there is no [`Sink`]: nothing is counted, nothing written.
//!
//! With `DEV_MODE=1` each point written is also kept (the last [`KEPT`] per isolate) for
//! `GET /dev/metrics`, so the tests see exactly what the binding was handed. Local workerd
//! runs the front and every object in one isolate, so one read sees all their points.

use crate::common::metrics::{Kind, Point, RoomMetrics, Tally};
use crate::shell::common::env::now_ms;
use std::cell::RefCell;
use std::collections::VecDeque;
use worker::{AnalyticsEngineDataPointBuilder, AnalyticsEngineDataset, Env};

/// Points kept per isolate for `GET /dev/metrics`.
const KEPT: usize = 2_000;

thread_local! {
    static RECENT: RefCell<VecDeque<(u64, Point)>> = const { RefCell::new(VecDeque::new()) };
}

/// Where points go: the dataset, and (`DEV_MODE`) the isolate's list for `/dev/metrics`.
#[derive(Clone)]
pub struct Sink {
    dataset: AnalyticsEngineDataset,
    dev: bool,
}

impl Sink {
    /// The `METRICS` binding, if there is one.
    pub fn of(env: &Env) -> Option<Sink> {
        let dataset = env.analytics_engine("METRICS").ok()?;
        let dev = crate::shell::common::env::settings(env).dev_mode;
        Some(Sink { dataset, dev })
    }

    /// Writes one point: `indexes: [index]`, `blobs: [kind]`, the kind's doubles in order.
    pub fn write(&self, point: Point) {
        let data = AnalyticsEngineDataPointBuilder::new()
            .indexes([point.index.as_str()])
            .add_blob(point.kind.as_str())
            .doubles(point.doubles.iter().copied())
            .build();
        if let Err(e) = self.dataset.write_data_point(&data) {
            // At most one line per object per second: the points are paced.
            let detail = serde_json::json!({"index": point.index, "detail": e.to_string()});
            super::log::warn("metrics_write_failed", detail);
        }
        if self.dev {
            RECENT.with(|r| {
                let mut r = r.borrow_mut();
                if r.len() == KEPT {
                    r.pop_front();
                }
                r.push_back((now_ms(), point));
            });
        }
    }
}

/// `GET /dev/metrics`: the points this isolate wrote, oldest first.
pub fn recent_json() -> String {
    RECENT.with(|r| {
        let points: Vec<_> = r.borrow().iter().map(|(at, p)| p.dev_json(*at)).collect();
        serde_json::json!({ "points": points }).to_string()
    })
}

/// A room's metrics: its counts, written at the end of a turn when the pace allows. Inert
/// (nothing counted) without the binding.
#[derive(Default)]
pub struct RoomObs {
    sink: Option<Sink>,
    metrics: RefCell<RoomMetrics>,
}

impl RoomObs {
    pub fn new(env: &Env) -> Self {
        RoomObs {
            sink: Sink::of(env),
            metrics: RefCell::default(),
        }
    }

    /// Counts something, if anything is counted at all.
    pub fn count(&self, f: impl FnOnce(&mut crate::common::metrics::RoomCounts)) {
        if self.sink.is_some() {
            f(&mut self.metrics.borrow_mut().counts);
        }
    }

    /// A turn of `room` ended: its point, if one is due.
    pub fn end_of_turn(&self, room: &str) {
        if let Some(sink) = &self.sink {
            let point = self.metrics.borrow_mut().end_of_turn(room, now_ms());
            if let Some(p) = point {
                sink.write(p);
            }
        }
    }
}

/// A registry shard's or a webhook outbox's metrics: counts in a [`Tally`] of its kind's
/// doubles, written when the object says (after a request, an alarm, a delivery attempt) and
/// the pace allows. Inert without the binding.
#[derive(Default)]
pub struct TallyObs<const N: usize> {
    sink: Option<Sink>,
    tally: RefCell<Tally<N>>,
}

impl<const N: usize> TallyObs<N> {
    pub fn new(env: &Env) -> Self {
        TallyObs {
            sink: Sink::of(env),
            tally: RefCell::default(),
        }
    }

    /// Whether anything is counted (the binding is there).
    pub fn is_on(&self) -> bool {
        self.sink.is_some()
    }

    /// Adds `n` to double `i` of the kind (see its `*_DOUBLES` table).
    pub fn add(&self, i: usize, n: u64) {
        if self.sink.is_some() {
            self.tally.borrow_mut().add(i, n);
        }
    }

    /// Sets double `i` (a gauge, such as the webhook backlog) to `n`.
    pub fn set(&self, i: usize, n: u64) {
        if let Some(c) = self.tally.borrow_mut().counts.get_mut(i) {
            *c = n;
        }
    }

    /// Whether a point could be written now (something counted, the pace allows), without
    /// taking it.
    pub fn due(&self) -> bool {
        self.tally.borrow().due(now_ms())
    }

    /// Writes the point of `index` if one is due.
    pub fn flush(&self, kind: Kind, index: &str) {
        if let Some(sink) = &self.sink {
            let point = self.tally.borrow_mut().take(kind, index, now_ms());
            if let Some(p) = point {
                sink.write(p);
            }
        }
    }
}

/// A webhook outbox's metrics: its [`TallyObs`] and its owner's index (the room's name, or
/// `registry-N`), which the owner tells it once known; nothing is written before.
#[derive(Default)]
pub struct WebhookObs {
    pub tally: TallyObs<{ crate::common::metrics::WEBHOOK_DOUBLES.len() }>,
    pub index: RefCell<String>,
}

impl WebhookObs {
    /// The owner's index, when it is first known.
    pub fn name(&self, index: &str) {
        if self.tally.is_on() && self.index.borrow().is_empty() {
            index.clone_into(&mut self.index.borrow_mut());
        }
    }

    /// Writes the outbox's point if one is due; `backlog` (events waiting, oldest age) is read
    /// only then.
    pub fn flush(&self, backlog: impl FnOnce() -> (u64, u64)) {
        use crate::common::metrics::webhooks::{OLDEST_AGE_MS, WAITING};
        let index = self.index.borrow();
        if index.is_empty() || !self.tally.is_on() || !self.tally.due() {
            return;
        }
        let (waiting, age) = backlog();
        self.tally.set(WAITING, waiting);
        self.tally.set(OLDEST_AGE_MS, age);
        self.tally.flush(Kind::Webhooks, &index);
    }
}
