//! Moving an object's one alarm earlier, never later ([`crate::common::alarm`]), shared by every
//! object that has several reasons to be woken (a room: retention, sessions, webhooks; a
//! registry shard: webhooks).

use super::log;
use crate::common::alarm::should_move;
use serde_json::json;
use std::cell::Cell;
use std::rc::Rc;
use worker::{ScheduledTime, State, Storage};

/// A time (unix ms) as the alarm API takes it.
pub fn at(ms: u64) -> ScheduledTime {
    ScheduledTime::new(js_sys::Date::new(&js_sys::Number::from(ms as f64)))
}

/// What this instance asked of its alarm: the time it last set (unix ms). Shared between the
/// object and its background tasks.
pub type Scheduled = Rc<Cell<Option<u64>>>;

/// Claims the wake at `at_ms` if it is earlier than what this instance already asked for;
/// `false`: nothing to do.
pub fn claim(scheduled: &Cell<Option<u64>>, at_ms: u64) -> bool {
    if !should_move(scheduled.get(), at_ms) {
        return false;
    }
    scheduled.set(Some(at_ms));
    true
}

/// Sets the stored alarm to `at_ms` (claimed with [`claim`]) unless it is already earlier. If
/// an earlier wake was claimed meanwhile, this one stands down.
pub async fn move_earlier(storage: Storage, scheduled: Scheduled, at_ms: u64) {
    let current = storage.get_alarm().await.ok().flatten();
    if scheduled.get() != Some(at_ms) {
        return; // an earlier wake was asked for meanwhile
    }
    if should_move(current.map(|c| c as u64), at_ms) {
        if let Err(e) = storage.set_alarm(at(at_ms)).await {
            log::error("alarm_not_set", json!({"detail": e.to_string()}));
        }
    }
}

/// A handle on an object's alarm for its background tasks.
pub struct AlarmRef {
    storage: Storage,
    scheduled: Scheduled,
}

impl AlarmRef {
    pub fn new(state: &State, scheduled: &Scheduled) -> Self {
        AlarmRef {
            storage: state.storage(),
            scheduled: scheduled.clone(),
        }
    }

    /// Makes sure the object is woken at `at_ms` at the latest.
    pub async fn wake_at(self, at_ms: u64) {
        if claim(&self.scheduled, at_ms) {
            move_earlier(self.storage, self.scheduled, at_ms).await;
        }
    }
}
