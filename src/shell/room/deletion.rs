//! `DELETE /rooms/{room}` ([`RoomCall::DeleteRoom`](crate::calls::RoomCall::DeleteRoom)): the
//! room is closed to everyone and forgotten, so that its name starts again from seq 1.
//!
//! In order:
//! 1. one turn closes every connection, `closing` 4006 (`room_deleted`) first; the closes
//!    report the users' presence ending to their registry shards as any close does (queued in
//!    memory, sent in the background);
//! 2. the object's storage is erased whole — `deleteAll()` empties its SQLite database (log,
//!    cursors, bans, revocations, webhook outbox and dead letters: every table goes) — and its
//!    alarm deleted (`deleteAll()` leaves alarms). Storage calls hold the object's input gate,
//!    so no other event runs between the closes and the erasure;
//! 3. what this instance held in memory about that storage is dropped: the loaded room (the
//!    next event loads an empty one, log at seq 0), the alarm it knew of, the webhook outbox's
//!    state, the read-state counts;
//! 4. the stats shard is told the room is at zero (which drops its row), awaited.

use super::ChatRoom;
use crate::calls::ClosedCount;
use crate::shell::common::http::json_response;
use worker::{Response, Result};

impl ChatRoom {
    pub(super) async fn delete_room(&self, room: &str) -> Result<Response> {
        let closed = self.run_step(room, |r, _| {
            let removal = r.delete_room();
            (removal.actions, removal.closed)
        })?;
        let storage = self.state.storage();
        storage.delete_all().await?;
        storage.delete_alarm().await?;
        self.forget_everything();
        self.report_room_gone(room).await;
        let body = ClosedCount {
            closed: closed as u64,
        };
        json_response(200, serde_json::to_string(&body)?)
    }

    /// Drops what this instance knew of the erased storage (step 3 above).
    fn forget_everything(&self) {
        *self.room.borrow_mut() = None;
        self.forget_alarm();
        self.webhooks.forget_storage();
        self.forget_read_states();
    }
}
