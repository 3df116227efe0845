//! Unread counts across rooms, on a registry shard (see [`crate::registry::unread`]):
//!
//! - `cursors(user, room, seq, base)`: the read state of this shard's users, per room;
//! - `room_messages(room, messages)`: the message count of the rooms this shard counts.
//!
//! Both created by their first report (an unread read of an unknown user writes nothing), both
//! kept at the maximum reported; a user keeps at most `READ_CURSORS_MAX_PER_USER` cursors (the
//! least recently moved are dropped). `GET /users/{user}/unread` reads the user's rows, then the
//! counts of their rooms: from here for the rooms this shard counts, from the other shards
//! (one request per shard, concurrently) for the rest. No room is ever asked.

use super::UserRegistry;
use crate::calls::RegistryRequest;
use crate::common::error::ErrorCode;
use crate::common::meter::ObjectKind;
use crate::registry::unread::{by_counter_shard, unread, unread_body, CursorReport};
use crate::shell::calls;
use crate::shell::common::http::{error, json_response};
use crate::shell::common::sql::Sql;
use crate::shell::common::sql::{has_table, int};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use worker::{Response, Result};

fn sql(r: &UserRegistry) -> Sql {
    Sql::new(r.state.storage().sql(), ObjectKind::Registry)
}

impl UserRegistry {
    /// A room's read states: its count, and its cursors of this shard's users.
    pub(super) fn read_states(
        &self,
        room: &str,
        messages: Option<u64>,
        cursors: Vec<CursorReport>,
    ) -> Result<Response> {
        let sql = sql(self);
        if let Some(n) = messages {
            sql.exec(
                "CREATE TABLE IF NOT EXISTS room_messages(room TEXT PRIMARY KEY,
                   messages INTEGER NOT NULL)",
                None,
            )?;
            sql.exec(
                "INSERT INTO room_messages(room, messages) VALUES (?, ?)
                 ON CONFLICT(room) DO UPDATE SET messages = MAX(messages, excluded.messages)",
                vec![room.into(), int(n)],
            )?;
        }
        if !cursors.is_empty() {
            sql.exec(
                "CREATE TABLE IF NOT EXISTS cursors(user TEXT NOT NULL, room TEXT NOT NULL,
                   seq INTEGER NOT NULL, base INTEGER NOT NULL, PRIMARY KEY (user, room))",
                None,
            )?;
        }
        let max = crate::shell::common::env::settings(&self.env)
            .config
            .registry
            .read_cursors_max_per_user;
        let users: BTreeSet<String> = cursors.iter().map(|c| c.user.clone()).collect();
        for c in cursors {
            save_cursor(&sql, room, c)?;
        }
        for user in users {
            drop_oldest_cursors(&sql, &user, max)?;
        }
        json_response(200, "{}".into())
    }

    /// A deleted room: its count and its cursors here are dropped (tables that do not exist
    /// are not created: a shard with nothing of the room stores nothing).
    pub(super) fn room_deleted(&self, room: &str) -> Result<Response> {
        let sql = sql(self);
        for (table, statement) in [
            ("room_messages", "DELETE FROM room_messages WHERE room = ?"),
            ("cursors", "DELETE FROM cursors WHERE room = ?"),
        ] {
            if has_table(&sql, table)? {
                sql.exec(statement, vec![room.into()])?;
            }
        }
        json_response(200, "{}".into())
    }

    /// The counts this shard keeps of `rooms`.
    pub(super) fn room_messages(&self, rooms: &[String]) -> Result<BTreeMap<String, u64>> {
        #[derive(Deserialize)]
        struct Row {
            room: String,
            messages: f64,
        }
        let sql = sql(self);
        let mut out = BTreeMap::new();
        if rooms.is_empty() || !has_table(&sql, "room_messages")? {
            return Ok(out);
        }
        for chunk in rooms.chunks(50) {
            let marks = vec!["?"; chunk.len()].join(",");
            let query = format!("SELECT room, messages FROM room_messages WHERE room IN ({marks})");
            let args: Vec<worker::SqlStorageValue> =
                chunk.iter().map(|r| r.as_str().into()).collect();
            let rows: Vec<Row> = sql.exec(&query, args)?.to_array()?;
            out.extend(rows.into_iter().map(|r| (r.room, r.messages as u64)));
        }
        Ok(out)
    }

    /// `GET /users/{user}/unread`: every room where the user has a cursor (within `allowed`).
    pub(super) async fn unread(
        &self,
        user: &str,
        allowed: Option<Vec<String>>,
        iat: Option<u64>,
    ) -> Result<Response> {
        if let Some(iat) = iat {
            let revoked = self.with_user(user, |s| s.revoked_before)?;
            if revoked.is_some_and(|before| iat < before) {
                return error(
                    ErrorCode::Revoked,
                    "the token was issued before a revocation",
                );
            }
        }
        let mut bases = self.cursors_of(user)?;
        if let Some(allowed) = &allowed {
            bases.retain(|room, _| allowed.contains(room));
        }
        // A user's own read (`/me/unread`, with the token's `iat`) pays one token per
        // counter shard it asks, from the user's cross-room budget; an operator's never.
        let settings = crate::shell::common::env::settings(&self.env);
        let hash = &settings.config.registry_shards;
        let shards = by_counter_shard(bases.keys().map(String::as_str), hash).len();
        if iat.is_some() && !self.charge(user, shards.max(1)) {
            return super::budget_spent(user);
        }
        let Ok(counts) = self.counts(bases.keys().map(String::as_str)).await else {
            return error(
                ErrorCode::Unavailable,
                "a registry shard could not be reached",
            );
        };
        let rooms: BTreeMap<String, u64> = bases
            .into_iter()
            .map(|(room, base)| {
                let n = unread(counts.get(&room).copied(), base);
                (room, n)
            })
            .collect();
        json_response(200, unread_body(&rooms))
    }

    /// The user's rooms and bases.
    fn cursors_of(&self, user: &str) -> Result<BTreeMap<String, u64>> {
        #[derive(Deserialize)]
        struct Row {
            room: String,
            base: f64,
        }
        let sql = sql(self);
        if !has_table(&sql, "cursors")? {
            return Ok(BTreeMap::new());
        }
        let rows: Vec<Row> = sql
            .exec(
                "SELECT room, base FROM cursors WHERE user = ?",
                vec![user.into()],
            )?
            .to_array()?;
        Ok(rows.into_iter().map(|r| (r.room, r.base as u64)).collect())
    }

    /// The message counts of `rooms`, from the shards that keep them, concurrently.
    async fn counts<'a>(
        &self,
        rooms: impl IntoIterator<Item = &'a str>,
    ) -> Result<BTreeMap<String, u64>> {
        let mut out = BTreeMap::new();
        let mut remote = Vec::new();
        let settings = crate::shell::common::env::settings(&self.env);
        for (shard, rooms) in by_counter_shard(rooms, &settings.config.registry_shards) {
            if Some(shard) == self.shard.get() {
                out.extend(self.room_messages(&rooms)?);
            } else {
                remote.push(RegistryRequest::RoomMessages { rooms });
            }
        }
        let env = &self.env;
        let calls = remote.iter().map(|request| async move {
            let res = calls::call_registry(env, request).await?;
            calls::reply::<BTreeMap<String, u64>>(res).await
        });
        for answer in futures::future::join_all(calls).await {
            out.extend(answer?);
        }
        Ok(out)
    }
}

/// Stores a cursor report, keeping the maximum of what was stored and what is reported. The
/// row is replaced, not updated: its rowid becomes the newest, so the rowids order a user's
/// cursors from the least to the most recently moved (see [`drop_oldest_cursors`]).
fn save_cursor(sql: &Sql, room: &str, c: CursorReport) -> Result<()> {
    sql.exec(
        "INSERT OR REPLACE INTO cursors(user, room, seq, base)
         SELECT ?, ?, MAX(?, COALESCE(MAX(seq), 0)), MAX(?, COALESCE(MAX(base), 0))
         FROM cursors WHERE user = ? AND room = ?",
        vec![
            c.user.as_str().into(),
            room.into(),
            int(c.seq),
            int(c.base),
            c.user.as_str().into(),
            room.into(),
        ],
    )?;
    Ok(())
}

/// `READ_CURSORS_MAX_PER_USER`: past `max` cursors, the user's least recently moved ones are
/// dropped (their rooms leave the unread counts until the user reads there again). Without it
/// a user reading in ever new rooms grows the shard's storage, and every `/me/unread`, without
/// end.
fn drop_oldest_cursors(sql: &Sql, user: &str, max: u32) -> Result<()> {
    sql.exec(
        "DELETE FROM cursors WHERE user = ? AND rowid NOT IN
           (SELECT rowid FROM cursors WHERE user = ? ORDER BY rowid DESC LIMIT ?)",
        vec![user.into(), user.into(), int(u64::from(max))],
    )?;
    Ok(())
}
