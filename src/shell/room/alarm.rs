//! The room's one alarm, shared by retention, sessions and webhooks ([`crate::common::alarm`]): it
//! wakes a hibernated room to trim expired messages, to send `token_expiring`, to close
//! expired connections, to close sockets whose client ignored `closing`, and to retry (or
//! resume) webhook deliveries. An alarm does not keep the object awake; it only wakes it at that time —
//! unlike a timer, which would keep it resident and defeat hibernation.

use super::ChatRoom;
use crate::common::alarm::Wakes;
use crate::common::connection_id::room_of;
use crate::shell::common::alarm::{at, claim, move_earlier, AlarmRef, Scheduled};
use crate::shell::common::env::now_ms;
use crate::shell::common::incident;
use crate::shell::room::log::RoomLog;
use std::cell::Cell;
use worker::{Response, Result};

/// What this instance knows of the scheduled alarm: the time it last asked for (unix ms).
#[derive(Default)]
pub struct AlarmClock {
    scheduled: Scheduled,
    /// This instance made sure a retention alarm exists.
    retention_checked: Cell<bool>,
}

impl ChatRoom {
    pub(super) async fn on_alarm(&self) -> Result<Response> {
        let now = now_ms();
        self.alarm.scheduled.set(None);
        let retention = match self.room.borrow_mut().as_mut() {
            Some(loaded) => loaded.log.trim_expired(now)?,
            // Woken by the alarm alone: trim through a log of its own; the room is loaded
            // below only if it has sockets.
            None => RoomLog::open(self.sql(), &self.config)?.trim_expired(now)?,
        };
        let sessions = match self.room_name() {
            Some(name) => self.run_step(&name, |r, _| {
                let mut actions = r.sessions_due(now);
                let (ended, next_hold) = r.holds_due(now);
                actions.extend(ended);
                let next = [r.next_session_wake(), next_hold]
                    .into_iter()
                    .flatten()
                    .min();
                (actions, next)
            })?,
            None => None,
        };
        let webhooks = self.webhooks.next_wake(now).unwrap_or_else(|e| {
            incident::report("webhook wake", &e.to_string());
            None
        });
        // After the sessions: a connection expired just now is asked to close, not closed.
        let closes = self.close_overdue(now);
        if let Some(next) = (Wakes {
            retention,
            sessions,
            webhooks,
            closes,
        })
        .next(now)
        {
            self.alarm.scheduled.set(Some(next));
            self.state.storage().set_alarm(at(next)).await?;
        }
        // Only once the alarm is set: a delivery that fails at once schedules its retry
        // after it, never under it.
        if webhooks.is_some() {
            self.webhooks.kick(&self.state, || self.alarm_ref());
        }
        Response::ok("alarm")
    }

    /// The alarm, for background tasks (webhook delivery) that must schedule a wake.
    pub(super) fn alarm_ref(&self) -> AlarmRef {
        AlarmRef::new(&self.state, &self.alarm.scheduled)
    }

    /// The room's name: known once loaded, else from any of its sockets (an object does not
    /// know its own name), or from its presence holds' row. `None`: nothing to do for
    /// sessions or holds.
    fn room_name(&self) -> Option<String> {
        if let Some(l) = self.room.borrow().as_ref() {
            return Some(l.room.name().to_owned());
        }
        let own = self.state.get_websockets().iter().find_map(|ws| {
            let a = super::sockets::attachment(ws)?;
            room_of(&a.connection_id).map(str::to_owned)
        });
        own.or_else(|| {
            let remote = self.fanouts.remote(&self.sql()).ok()?;
            room_of(remote.any_connection()?).map(str::to_owned)
        })
        .or_else(|| self.held_room_name())
    }

    /// Asks to be woken at `at_ms` — only ever moving the alarm earlier (see
    /// [`crate::common::alarm`]). The read-compare-write runs in the background; if an earlier wake is
    /// asked for meanwhile, this one stands down.
    pub(super) fn wake_at(&self, at_ms: u64) {
        if !claim(&self.alarm.scheduled, at_ms) {
            return;
        }
        let (storage, scheduled) = (self.state.storage(), self.alarm.scheduled.clone());
        self.state
            .wait_until(move_earlier(storage, scheduled, at_ms));
    }

    /// Makes sure an age-retention wake exists, once per instance: at the latest when a message
    /// stored now expires (the alarm then recomputes from the oldest message).
    /// The room's storage (its alarm with it) was erased: this instance knows of no alarm.
    pub(super) fn forget_alarm(&self) {
        self.alarm.scheduled.set(None);
        self.alarm.retention_checked.set(false);
    }

    pub(super) fn ensure_retention_alarm(&self) {
        let max_age = self.config.retention.max_age_ms;
        if self.alarm.retention_checked.replace(true) || max_age == 0 {
            return;
        }
        self.wake_at(now_ms() + max_age);
    }
}
