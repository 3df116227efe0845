//! The presence reports a shard has answered and not stored yet.
//!
//! A shard answers a room's report before writing it (the room's first connect of a user is
//! waiting for the answer), and writes afterwards. Each write on its own would be its own
//! commit, and in a connect storm those commits — one per new user — were still running a
//! second after the storm, on the thread the rooms share locally, delaying the first messages.
//! So the writes wait here and are stored **together**: in one task that runs once the events
//! already queued have been served (a zero timer), one commit for every report answered
//! meanwhile. Anything that reads what the reports change settles them first (see
//! [`super::UserRegistry::serve`]), so a read never sees less than was answered.

use super::store::{ShardStore, UserState};
use crate::calls::PresenceReport;
use crate::shell::common::log;
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

/// Reports answered and not stored yet, with the room each came from, in arrival order.
#[derive(Default)]
pub struct PendingReports {
    reports: RefCell<Vec<(String, PresenceReport)>>,
    /// Whether a task to store them is scheduled.
    scheduled: Cell<bool>,
}

impl PendingReports {
    /// Adds a room's reports; `true` when no task is scheduled yet (the caller schedules one).
    pub fn push(&self, room: &str, reports: Vec<PresenceReport>) -> bool {
        let mut pending = self.reports.borrow_mut();
        pending.extend(reports.into_iter().map(|r| (room.to_owned(), r)));
        !self.scheduled.replace(true)
    }

    /// The rooms `user` has connections in once the pending reports are stored, from those
    /// `stored` (see [`crate::registry::limits::live_after`]).
    pub fn live_rooms(
        &self,
        user: &str,
        stored: Vec<String>,
    ) -> std::collections::BTreeSet<String> {
        let pending = self.reports.borrow();
        let reports = pending
            .iter()
            .filter(|(_, r)| r.user == user)
            .map(|(room, r)| (room.as_str(), r.connections));
        crate::registry::limits::live_after(stored, reports)
    }

    /// The rooms of `user`'s reports answered and not stored yet (a revocation is pushed to
    /// them too: the rooms already count on the answer).
    pub fn rooms_of(&self, user: &str) -> Vec<String> {
        let pending = self.reports.borrow();
        pending
            .iter()
            .filter(|(_, r)| r.user == user)
            .map(|(room, _)| room.clone())
            .collect()
    }

    /// Stores every pending report, in order, in this event (so one commit), and forgets the
    /// cached state of their users (stale now; the next read reloads it). Returns how many.
    pub fn settle(&self, store: &ShardStore, users: &RefCell<HashMap<String, UserState>>) -> usize {
        self.scheduled.set(false);
        let pending = self.reports.take();
        for (room, r) in &pending {
            if let Err(e) = store.apply_report(&r.user, room, r.connections, r.version) {
                log::error(
                    "presence_report_not_stored",
                    json!({"room": room, "detail": e.to_string()}),
                );
            }
            users.borrow_mut().remove(&r.user);
        }
        pending.len()
    }
}

/// Shared between the shard and the task that settles.
pub type Pending = Rc<PendingReports>;
