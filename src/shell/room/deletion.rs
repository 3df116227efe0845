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
//! 4. the stats shard is told the room is at zero (which drops its row), and the registry
//!    shards that keep something of the room for the unread counts across rooms — its counter
//!    shard, and the shards of the users with a read cursor here, read before the erasure —
//!    drop it (those numbers only grow: a reused name would inherit them), all awaited.

use super::ChatRoom;
use crate::calls::{ClosedCount, RegistryRequest};
use crate::registry::unread::counter_shard;
use crate::shell::common::http::json_response;
use crate::shell::common::sql::{has_table, int};
use serde::Deserialize;
use std::collections::BTreeSet;
use worker::{Response, Result};

/// Users with a read cursor read at a time, to find their registry shards in bounded memory.
const CURSOR_PAGE: u64 = 500;

impl ChatRoom {
    pub(super) async fn delete_room(&self, room: &str) -> Result<Response> {
        let closed = self.run_step(room, |r, _| {
            let removal = r.delete_room();
            (removal.actions, removal.closed)
        })?;
        let shards = self.unread_shards(room)?;
        let storage = self.state.storage();
        storage.delete_all().await?;
        storage.delete_alarm().await?;
        self.forget_everything();
        self.report_room_gone(room).await;
        let forget = shards.into_iter().map(|shard| {
            let request = RegistryRequest::RoomDeleted {
                room: room.to_owned(),
                shard,
            };
            async move { super::read_states::send(&self.env, &request).await }
        });
        futures::future::join_all(forget).await;
        let body = ClosedCount {
            closed: closed as u64,
        };
        json_response(200, serde_json::to_string(&body)?)
    }

    /// The registry shards that keep something of this room for the unread counts: its counter
    /// shard, and the shard of each user with a read cursor here (`reads`, paged).
    fn unread_shards(&self, room: &str) -> Result<BTreeSet<u32>> {
        #[derive(Deserialize)]
        struct Row {
            user_id: String,
        }
        let settings = crate::shell::common::env::settings(&self.env);
        let hash = &settings.config.registry_shards;
        let mut shards = BTreeSet::from([counter_shard(room, hash)]);
        let sql = self.sql();
        if !has_table(&sql, "reads")? {
            return Ok(shards);
        }
        let mut after = String::new();
        loop {
            let rows: Vec<Row> = sql
                .exec(
                    "SELECT user_id FROM reads WHERE user_id > ? ORDER BY user_id LIMIT ?",
                    vec![after.as_str().into(), int(CURSOR_PAGE)],
                )?
                .to_array()?;
            shards.extend(rows.iter().map(|r| hash.shard_of(&r.user_id)));
            match rows.into_iter().last() {
                Some(last) if shards.len() < crate::registry::REGISTRY_SHARDS as usize => {
                    after = last.user_id
                }
                _ => return Ok(shards),
            }
        }
    }

    /// Drops what this instance knew of the erased storage (step 3 above).
    fn forget_everything(&self) {
        *self.room.borrow_mut() = None;
        self.forget_alarm();
        self.webhooks.forget_storage();
        self.forget_read_states();
        self.counted.reset();
        self.holds.reset();
        self.fanouts.reset();
    }
}
