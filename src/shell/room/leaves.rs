//! The report of a user's last close here, held [`LEAVE_HOLD_MS`] before it goes to the user's
//! registry shard (why: see the constant). One task per room collects the leaves of that
//! moment; when it fires, every user still without a connection here is reported gone — in one
//! batch per shard ([`RegistryQueue::report_all`]) — and forgotten as counted
//! ([`counted_users`](super::counted_users)); a user who came back meanwhile is left alone (their
//! reconnect asked and told the registry nothing). The task's timer keeps the object in memory
//! for that moment, which a close has just woken it for anyway.

use super::counted_users::CountedUsers;
use super::registry_queue::RegistryQueue;
use super::turn::SharedRoom;
use super::ChatRoom;
use crate::calls::PresenceReport;
use crate::registry::Versions;
use crate::room::reports::LEAVE_HOLD_MS;
use crate::shell::common::env::now_ms;
use crate::shell::common::log;
use crate::shell::common::sql::Sql;
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;
use worker::Env;

/// The users whose last close waits to be reported, and whether the task runs.
#[derive(Default, Clone)]
pub struct HeldLeaves {
    users: Rc<RefCell<BTreeSet<String>>>,
    running: Rc<Cell<bool>>,
}

impl HeldLeaves {
    /// Whether `user`'s last close waits to be reported.
    pub fn contains(&self, user: &str) -> bool {
        self.users.borrow().contains(user)
    }
}

impl ChatRoom {
    /// `user`'s last connection here closed: their report of 0 waits for the room's task.
    pub(super) fn hold_leave(&self, room: &str, user: &str) {
        self.leaves.users.borrow_mut().insert(user.to_owned());
        if self.leaves.running.replace(true) {
            return;
        }
        let task = LeaveTask {
            env: self.env.clone(),
            room: room.to_owned(),
            sql: self.sql(),
            shared: self.room.clone(),
            leaves: self.leaves.clone(),
            queue: self.reports.registry.clone(),
            versions: self.reports.versions.clone(),
            counted: self.counted.clone(),
            waiting_first: self.reports.waiting_first.clone(),
        };
        self.state.wait_until(task.run());
    }
}

struct LeaveTask {
    env: Env,
    room: String,
    sql: Sql,
    shared: SharedRoom,
    leaves: HeldLeaves,
    queue: RegistryQueue,
    versions: Rc<RefCell<Versions>>,
    counted: CountedUsers,
    /// Users whose first connect awaits its report's answer (`Reports`).
    waiting_first: Rc<RefCell<HashMap<String, u32>>>,
}

impl LeaveTask {
    /// Every [`LEAVE_HOLD_MS`]: the leaves held meanwhile go out; ends when none came in
    /// while they did.
    async fn run(self) {
        loop {
            worker::Delay::from(std::time::Duration::from_millis(LEAVE_HOLD_MS)).await;
            let users = std::mem::take(&mut *self.leaves.users.borrow_mut());
            if users.is_empty() {
                self.leaves.running.set(false);
                return;
            }
            let mut reports = Vec::new();
            // A user back meanwhile is left alone — also one whose first connect still awaits
            // its report's answer: a 0 sent now would be newer than that report, and undo it
            // (if that connect is refused, its report is taken back, held like this one).
            let gone = |u: &String| self.connections(u) == 0 && !self.waiting(u);
            for user in users.into_iter().filter(gone) {
                if let Err(e) = self.counted.remove(&self.sql, &user) {
                    log::error(
                        "counted_user_not_removed",
                        json!({"room": self.room, "detail": e.to_string()}),
                    );
                }
                let version = self.versions.borrow_mut().next(now_ms());
                reports.push(PresenceReport {
                    user,
                    connections: 0,
                    version,
                });
            }
            self.queue.report_all(&self.env, &self.room, reports).await;
            // Nothing held meanwhile: done (no idle wait keeping the object in memory).
            if self.leaves.users.borrow().is_empty() {
                self.leaves.running.set(false);
                return;
            }
        }
    }

    fn waiting(&self, user: &str) -> bool {
        self.waiting_first.borrow().contains_key(user)
    }

    /// `user`'s connections here now (none when the room is not loaded: it was deleted).
    fn connections(&self, user: &str) -> u32 {
        let loaded = self.shared.borrow();
        loaded
            .as_ref()
            .map_or(0, |l| l.room.index().user_connections(user))
    }
}
