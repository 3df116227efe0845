//! Fire-and-forget bookkeeping, never on the message path (`waitUntil`): a user's presence
//! here beginning or ending goes to the user's registry shard (batched, [`RegistryQueue`]),
//! and the room's total to its stats shard — coalesced ([`CoalescedReport`]): at most one
//! report per second, the latest count always sent last. On every wake the room re-asserts
//! its total, so a shard that missed a report converges.

use super::registry_queue::RegistryQueue;
use super::ChatRoom;
use crate::calls::{PresenceReport, StatsCall};
use crate::registry::Versions;
use crate::room::reports::{CoalescedReport, BOOKKEEPING_DELAY_MS, REPORT_INTERVAL_MS};
use crate::shell::calls;
use crate::shell::common::env::now_ms;
use crate::shell::common::log;
use crate::stats::shard_of;
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use worker::{Env, Result};

/// Versions of this room's reports, the registry queue, and the stats report's coalescing.
#[derive(Default)]
pub struct Reports {
    pub(super) versions: Rc<RefCell<Versions>>,
    pub registry: RegistryQueue,
    stats: Rc<Cell<CoalescedReport>>,
    /// Counts already reported (and awaited) before a first connection was accepted: the
    /// report that opening it asks for again is not sent twice.
    pre_reported: RefCell<HashMap<String, u32>>,
    /// First connects of a user still waiting for their report's answer, per user.
    pub(super) waiting_first: Rc<RefCell<HashMap<String, u32>>>,
}

impl Reports {
    /// A first connect of `user` starts (`true`) or ends (`false`) waiting for its report.
    pub fn waiting_first(&self, user: &str, starts: bool) {
        let mut waiting = self.waiting_first.borrow_mut();
        let n = waiting.entry(user.to_owned()).or_insert(0);
        *n = if starts { *n + 1 } else { n.saturating_sub(1) };
        if *n == 0 {
            waiting.remove(user);
        }
    }

    /// Whether another first connect of `user` is still waiting for its report.
    pub fn is_first_waiting(&self, user: &str) -> bool {
        self.waiting_first.borrow().contains_key(user)
    }

    /// The version of the next report this room sends.
    pub fn next_version(&self) -> u64 {
        self.versions.borrow_mut().next(now_ms())
    }

    /// `user`'s count `connections` was reported (and awaited) before the connection opened.
    pub fn mark_reported(&self, user: &str, connections: u32) {
        self.pre_reported
            .borrow_mut()
            .insert(user.to_owned(), connections);
    }

    /// The report made before a connection that was then refused no longer stands.
    pub fn forget_reported(&self, user: &str) {
        self.pre_reported.borrow_mut().remove(user);
    }

    /// Whether `user`'s count `connections` was reported before the connection was accepted.
    pub fn already_reported(&self, user: &str, connections: u32) -> bool {
        let mut pre = self.pre_reported.borrow_mut();
        pre.remove(user).is_some_and(|n| n == connections)
    }
}

impl ChatRoom {
    /// Tells `user`'s registry that their presence here began (`connections` 1) or ended (0),
    /// batched with the room's other reports to that registry shard.
    /// A report of 0 is held a moment first ([`leaves`](super::leaves)).
    pub(in crate::shell::room) fn report_presence(&self, room: &str, user: &str, connections: u32) {
        if connections == 0 {
            self.hold_leave(room, user);
            return;
        }
        let report = PresenceReport {
            user: user.to_owned(),
            connections,
            version: self.reports.next_version(),
        };
        self.reports
            .registry
            .report(&self.state, &self.env, room, report, false);
    }

    /// Reports the room's current total to its stats shard, coalesced (see the module doc).
    pub(super) fn report_room_count(&self) {
        let mut flight = self.reports.stats.get();
        let starts = flight.changed();
        self.reports.stats.set(flight);
        if !starts {
            return;
        }
        let (env, room, stats, versions) = (
            self.env.clone(),
            self.room.clone(),
            self.reports.stats.clone(),
            self.reports.versions.clone(),
        );
        self.state.wait_until(async move {
            after_the_turn().await;
            loop {
                let snapshot = room
                    .borrow()
                    .as_ref()
                    .map(|l| (l.room.name().to_owned(), l.room.index().connection_count()));
                let Some((name, count)) = snapshot else {
                    stats.set(CoalescedReport::default());
                    return;
                };
                let version = versions.borrow_mut().next(now_ms());
                if let Err(e) = report_to_shard(&env, &name, count, version).await {
                    log::warn(
                        "stats_report_failed",
                        json!({"room": name, "detail": e.to_string()}),
                    );
                }
                if !again(&stats).await {
                    return;
                }
            }
        });
    }
}

impl ChatRoom {
    /// The room was deleted: its stats shard drops its row now (a count of 0 is a removal),
    /// awaited, so `/stats` follows by the time the deletion is answered. A failure is logged;
    /// the shard converges when the name is used again.
    pub(super) async fn report_room_gone(&self, room: &str) {
        let version = self.reports.versions.borrow_mut().next(now_ms());
        if let Err(e) = report_to_shard(&self.env, room, 0, version).await {
            log::warn(
                "deleted_room_stats_report_failed",
                json!({"room": room, "detail": e.to_string()}),
            );
        }
    }
}

/// Waits [`BOOKKEEPING_DELAY_MS`]: a background report starts after the turn that caused it
/// has committed and sent.
pub(super) async fn after_the_turn() {
    let delay = std::time::Duration::from_millis(BOOKKEEPING_DELAY_MS);
    worker::Delay::from(delay).await;
}

/// After a coalesced report completed: waits the reporting interval (changes meanwhile are
/// folded into one), then says whether to send again.
pub async fn again(flight: &Cell<CoalescedReport>) -> bool {
    let interval = std::time::Duration::from_millis(REPORT_INTERVAL_MS);
    worker::Delay::from(interval).await;
    let mut f = flight.get();
    let again = f.sent();
    flight.set(f);
    again
}

async fn report_to_shard(env: &Env, room: &str, connections: usize, version: u64) -> Result<()> {
    let call = StatsCall::RoomCount {
        room: room.to_owned(),
        connections: connections as u64,
        version,
    };
    let res = calls::call(&calls::stats_shard(env, shard_of(room))?, &call).await?;
    calls::ok(&res)
}
