//! The shell of [`crate::webhooks`]: each object that has events (a room, a registry shard)
//! holds one [`Webhooks`] — its outbox in its own SQLite storage ([`store`]) and the state of
//! its delivery ([`delivery`]).
//!
//! - **Recording** is synchronous and happens in the turn that produced the event, so the
//!   event commits with what it describes; a turn's events are written as one row
//!   ([`Webhooks::flush`]). Nothing is sent from the turn itself.
//! - **Delivering** runs in the background (`waitUntil`), started right after a turn that
//!   recorded something, by the alarm, or by a re-queue: at most one POST in flight per object,
//!   the next batch only after a 2xx, retries on the object's one alarm. A POST never holds up
//!   a turn: the object's input gate stays open while it waits for the receiver.
//! - **The watchdog.** While events wait, the object keeps an alarm no further than
//!   [`watchdog_ms`] ahead, so delivery resumes after an eviction or a crash without any new
//!   event to trigger it.

mod bounds;
mod delivery;
mod rows;
mod schema;
mod store;

use crate::shell::common::alarm::AlarmRef;
use crate::shell::common::env::{now_ms, random_hex};
use crate::shell::common::incident;
use crate::shell::common::metrics::WebhookObs;
use crate::shell::common::sql::Sql;
use crate::webhooks::{dead_body, watchdog_ms, Cutoffs, Event, Refusal, WebhookConfig};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use store::{OutboxStore, Recorded};
use worker::{Result, State};

/// Ids of the events this instance records: a random prefix per instance and a counter.
/// Unique without a storage read, and stored with the event, so stable across retries.
struct EventIds {
    prefix: String,
    next: Cell<u64>,
}

impl EventIds {
    fn new() -> Self {
        let prefix = random_hex::<8>();
        EventIds {
            prefix,
            next: Cell::new(0),
        }
    }

    fn next(&self) -> String {
        let n = self.next.get();
        self.next.set(n + 1);
        format!("{}-{n:x}", self.prefix)
    }
}

thread_local! {
    /// The refusal was logged by this isolate (it is a setting: one line says it).
    static REFUSAL_LOGGED: Cell<bool> = const { Cell::new(false) };
}

/// Delivery is refused by the settings ([`Refusal`]): one error line per isolate, not one
/// per event — the events wait in the outbox until the setting is fixed.
fn refused_once(refusal: Refusal) {
    if !REFUSAL_LOGGED.with(|logged| logged.replace(true)) {
        let detail = serde_json::json!({"detail": refusal.message()});
        crate::shell::common::log::error("webhooks_refused", detail);
    }
}

/// What the object and its delivery task share.
#[derive(Default)]
struct Run {
    /// A delivery task is running (at most one per object: one POST in flight).
    in_flight: Cell<bool>,
    /// A retry is scheduled at this time (unix ms; 0: none known to this instance).
    retry_at: Cell<u64>,
    /// How many re-queues of dead letters this instance has seen: a POST that was out during
    /// one failed for a batch no longer in front, so its failure does not count against the
    /// re-queued batch's fresh schedule.
    requeues: Cell<u64>,
}

pub struct Webhooks {
    config: WebhookConfig,
    store: Rc<OutboxStore>,
    ids: EventIds,
    run: Rc<Run>,
    /// Events recorded and not written yet (the current turn's), in order.
    pending: RefCell<Vec<Recorded>>,
    /// Operator metrics (`METRICS`, optional; [`Self::with_metrics`]).
    obs: Rc<WebhookObs>,
}

impl Webhooks {
    pub fn new(config: &WebhookConfig, sql: Sql) -> Self {
        Webhooks {
            config: config.clone(),
            store: Rc::new(OutboxStore::new(sql)),
            ids: EventIds::new(),
            run: Rc::default(),
            pending: RefCell::default(),
            obs: Rc::default(),
        }
    }

    /// The object's storage was erased whole (a room deleted): nothing waits any more, and
    /// the tables are looked for afresh when an event comes.
    pub fn forget_storage(&self) {
        self.store.forget();
        self.run.retry_at.set(0);
        self.pending.borrow_mut().clear();
    }

    /// Counts deliveries for the `METRICS` binding, if there is one.
    pub fn with_metrics(mut self, env: &worker::Env) -> Self {
        self.obs = Rc::new(WebhookObs {
            tally: crate::shell::common::metrics::TallyObs::new(env),
            ..WebhookObs::default()
        });
        self
    }

    /// The owner's metrics index (a registry shard's `registry-N`; a room's name is learned
    /// from the events it records).
    pub fn name(&self, index: &str) {
        self.obs.name(index);
    }

    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// Adds `event` to what [`Self::flush`] writes next. `room`: the room it is about.
    pub fn record(&self, room: Option<&str>, event: &Event) {
        if let Some(room) = room {
            self.obs.name(room);
        }
        let at = now_ms();
        self.pending.borrow_mut().push(Recorded {
            event: event.to_json(&self.ids.next(), room, at),
            data_of: event.data_of,
            at,
        });
    }

    /// Writes the recorded events to the outbox as one row ([`OutboxStore::append`]) — in the
    /// caller's turn, so they commit with its other writes — and holds the backlog to its caps.
    /// Returns whether there were any.
    pub fn flush(&self) -> Result<bool> {
        let pending = self.pending.take();
        if pending.is_empty() {
            return Ok(false);
        }
        self.store.append(pending)?;
        self.store.enforce_cap(&self.config, now_ms())?;
        Ok(true)
    }

    /// How far ahead the watchdog wake goes (see the module's docs).
    pub fn watchdog_at(&self, now_ms: u64) -> u64 {
        now_ms + watchdog_ms(self.config.retry_scale)
    }

    /// Starts delivering in the background — unless webhooks are off, a POST is in flight
    /// (it will take what was just recorded next), or a retry is scheduled for later (the
    /// alarm will start it).
    pub fn kick(&self, state: &State, alarm: impl FnOnce() -> AlarmRef) {
        if let Some(refusal) = self.config.refusal {
            return refused_once(refusal);
        }
        if !self.config.enabled() || self.run.in_flight.get() {
            return;
        }
        if self.run.retry_at.get() > now_ms() {
            return;
        }
        self.run.in_flight.set(true);
        let task = delivery::Delivery {
            config: self.config.clone(),
            store: self.store.clone(),
            run: self.run.clone(),
            alarm: alarm(),
            obs: self.obs.clone(),
        };
        state.wait_until(task.run());
    }

    /// On the object's alarm: deletes what has expired, then says when the object must wake
    /// for its webhooks next (`None`: never) — the scheduled retry, else the watchdog, while
    /// events wait to be delivered; the next expiry, while anything is stored.
    pub fn next_wake(&self, now_ms: u64) -> Result<Option<u64>> {
        // An expiry that fails is logged and tried again on the next wake: it must not stop
        // delivery.
        match self.store.expire(Cutoffs::at(now_ms, &self.config)) {
            Ok(0) => {}
            Ok(expired) => {
                let detail =
                    format!("{expired} waiting events older than HISTORY_MAX_AGE_DAYS deleted");
                incident::report("webhook retention", &detail);
            }
            Err(e) => _ = incident::report("webhook expiry", &e.to_string()),
        }
        let expiry = self.store.next_expiry(&self.config)?;
        if !self.config.delivers() || !self.store.has_pending()? {
            return Ok(expiry);
        }
        let retry_at = self.store.retry_state()?.retry_at;
        let delivery = match retry_at > now_ms {
            true => retry_at,
            false => self.watchdog_at(now_ms),
        };
        Ok(Some(expiry.map_or(delivery, |e| e.min(delivery))))
    }

    /// Message `seq` was deleted: what waits to be sent about it loses its data. (The caller
    /// flushes first, so that events recorded in this turn are included.)
    pub fn erase_message(&self, seq: u64) -> Result<()> {
        self.store.erase_message(seq)
    }

    /// A user was erased: what waits to be sent loses their id.
    pub fn erase_user(&self, user: &str) -> Result<()> {
        self.store.erase_user(user)
    }

    /// `GET .../webhooks/dead`: the oldest `limit` dead batches.
    pub fn dead_json(&self, limit: u32) -> Result<String> {
        let (batches, total) = self.store.dead(limit)?;
        Ok(dead_body(&batches, total))
    }

    /// `POST .../webhooks/dead/retry`: every dead batch back into the outbox, retried at once
    /// (the caller kicks delivery). Returns `{"requeued":events,"batches":n}`.
    pub fn requeue_dead(&self) -> Result<String> {
        let (events, batches) = self.store.requeue()?;
        if batches > 0 {
            self.run.retry_at.set(0);
            self.run.requeues.set(self.run.requeues.get() + 1);
        }
        Ok(format!(r#"{{"requeued":{events},"batches":{batches}}}"#))
    }
}
