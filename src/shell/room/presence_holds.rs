//! The shell of [`crate::room::holds`]: which members a room that restarted holds, and the one
//! row that keeps their deadline.
//!
//! **Who is held.** Loading the room rebuilds its index from the sockets that survived (all
//! of them after hibernation; none after a deploy or a crash). A user the registry counts
//! here ([`counted_users`](super::counted_users): only a clean last close, reported, removes
//! them) who has no connection left is one whose socket died with the instance, without a
//! close: they are held. Users whose first connect is still in flight, or whose last close
//! is being reported ([`leaves`](super::leaves)), are not.
//!
//! **The deadline** is stored (`presence_hold(id, until, room)`, one row) so that it is one
//! per restart: a room evicted and woken again before it (locally after ~10 s idle, with its
//! sockets hibernating) finds the same deadline, and a room woken after it ends the holds at
//! once. The row names the room, so that the alarm at the deadline can load a room nobody came
//! back to (no socket to read the name from). The row goes when the room holds nobody any more
//! (everyone back, or their holds ended), so the next restart starts a hold of its own.

use super::turn::Peer;
use super::ChatRoom;
use crate::room::{Action, Room};
use crate::shell::common::env::now_ms;
use crate::shell::common::log;
use crate::shell::common::sql::{has_table, int, number, Sql};
use serde_json::json;
use std::cell::Cell;
use worker::Result;

/// The deadline in the row, once this instance wrote or read it: later holds of the same
/// restart (each connection a fan-out object lost) ask no SQL, and the row is known to need
/// deleting.
#[derive(Default)]
pub struct HoldRow {
    until: Cell<Option<u64>>,
}

impl HoldRow {
    /// Forgets the deadline (the room's storage was erased: `DELETE /rooms/{room}`).
    pub fn reset(&self) {
        self.until.set(None);
    }
}

impl ChatRoom {
    /// While loading the room: holds the users who were members when it stopped (see the
    /// module doc), until the stored deadline or a new one.
    pub(super) fn hold_absent_members(&self, room: &mut Room<Peer>, sql: &Sql) -> Result<()> {
        let hold_ms = self.config.restart_hold_ms;
        if hold_ms == 0 {
            return Ok(());
        }
        let waiting = self.reports.waiting_first.borrow();
        let absent = self.counted.absent(sql, |user| {
            room.index().user_connections(user) > 0
                || waiting.contains_key(user)
                || self.leaves.contains(user)
        })?;
        if absent.is_empty() {
            return Ok(());
        }
        let until = self.hold_deadline(sql, room.name(), now_ms() + hold_ms)?;
        for user in &absent {
            room.hold_presence(user, until);
        }
        Ok(())
    }

    /// The deadline for a user dropped now (the stored one, or a new one stored); `None` when
    /// holding is off.
    pub(super) fn hold_until(&self, room: &str) -> Result<Option<u64>> {
        let hold_ms = self.config.restart_hold_ms;
        if hold_ms == 0 {
            return Ok(None);
        }
        let until = self.hold_deadline(&self.sql(), room, now_ms() + hold_ms)?;
        Ok(Some(until))
    }

    /// The name of the room whose holds wait (the alarm needs one to load the room, and an
    /// object does not know its own: a room nobody reconnected to has no socket to ask).
    pub(super) fn held_room_name(&self) -> Option<String> {
        #[derive(serde::Deserialize)]
        struct Row {
            room: String,
        }
        let sql = self.sql();
        if !has_table(&sql, "presence_hold").ok()? {
            return None;
        }
        let rows: Vec<Row> = sql
            .exec("SELECT room FROM presence_hold", None)
            .ok()?
            .to_array()
            .ok()?;
        rows.into_iter().next().map(|r| r.room)
    }

    /// The stored deadline, or `new_until` stored as it (with the room's name: see
    /// [`Self::held_room_name`]).
    fn hold_deadline(&self, sql: &Sql, room: &str, new_until: u64) -> Result<u64> {
        if let Some(until) = self.holds.until.get() {
            return Ok(until);
        }
        if has_table(sql, "presence_hold")? {
            let stored = number(sql, "SELECT until AS n FROM presence_hold", vec![])?;
            if let Some(until) = stored {
                self.holds.until.set(Some(until));
                return Ok(until);
            }
        }
        sql.exec(
            "CREATE TABLE IF NOT EXISTS presence_hold(id INTEGER PRIMARY KEY, until INTEGER NOT NULL,
               room TEXT NOT NULL)",
            None,
        )?;
        sql.exec(
            "INSERT OR REPLACE INTO presence_hold(id, until, room) VALUES (0, ?, ?)",
            vec![int(new_until), room.into()],
        )?;
        self.holds.until.set(Some(new_until));
        Ok(new_until)
    }

    /// The room just loaded: the holds whose deadline has passed end now, and the alarm wakes
    /// the room for the others.
    pub(super) fn holds_on_load(&self, room: &mut Room<Peer>) -> Vec<Action> {
        let (actions, next) = room.holds_due(now_ms());
        if let Some(at) = next {
            self.wake_at(at);
        }
        actions
    }

    /// After a turn: once nobody is held, the deadline's row goes.
    pub(super) fn forget_hold_when_done(&self, room: &Room<Peer>) {
        if self.holds.until.get().is_none() || room.holds_anyone() {
            return;
        }
        self.holds.until.set(None);
        if let Err(e) = self.sql().exec("DELETE FROM presence_hold", None) {
            log::error(
                "presence_hold_not_cleared",
                json!({"room": room.name(), "detail": e.to_string()}),
            );
        }
    }
}
