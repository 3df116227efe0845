//! A registry shard's SQLite storage: the rooms of each of its users, and their revocations.
//!
//! - `rooms(user, room, connections, version)`: a user's presence in a room, versioned;
//!   rows at 0 are tombstones for an hour (a late, stale report cannot resurrect a room);
//! - `revocations(user, before)`: the user's tokens issued before `before` are refused.
//!
//! Both are created by their first write: a shard asked only about unknown users stores
//! nothing.

use crate::registry::{RoomEntry, UserRooms};
use crate::shell::common::sql::{has_table, int, number, Sql};
use serde::Deserialize;
use std::cell::Cell;
use worker::Result;

pub struct ShardStore {
    sql: Sql,
    /// Whether each table is known to exist (`None`: not checked yet).
    rooms: Cell<Option<bool>>,
    revocations: Cell<Option<bool>>,
}

/// What the shard knows of one user.
#[derive(Debug, Default)]
pub struct UserState {
    pub rooms: UserRooms,
    pub revoked_before: Option<u64>,
}

impl ShardStore {
    pub fn new(sql: Sql) -> Self {
        ShardStore {
            sql,
            rooms: Cell::new(None),
            revocations: Cell::new(None),
        }
    }

    fn exists(&self, cell: &Cell<Option<bool>>, table: &str) -> Result<bool> {
        if let Some(known) = cell.get() {
            return Ok(known);
        }
        let known = has_table(&self.sql, table)?;
        cell.set(Some(known));
        Ok(known)
    }

    /// A user's rooms and revocation; expired tombstones are dropped on the way.
    pub fn load(&self, user: &str, now_ms: u64) -> Result<UserState> {
        let mut state = UserState::default();
        if self.exists(&self.rooms, "rooms")? {
            #[derive(Deserialize)]
            struct Row {
                room: String,
                connections: f64,
                version: f64,
            }
            let rows: Vec<Row> = self
                .sql
                .exec(
                    "SELECT room, connections, version FROM rooms WHERE user = ?",
                    vec![user.into()],
                )?
                .to_array()?;
            state.rooms = UserRooms::from_entries(rows.into_iter().map(|r| {
                let entry = RoomEntry {
                    connections: r.connections as u32,
                    version: r.version as u64,
                };
                (r.room, entry)
            }));
            for gone in state.rooms.expired_tombstones(now_ms) {
                self.sql.exec(
                    "DELETE FROM rooms WHERE user = ? AND room = ?",
                    vec![user.into(), gone.into()],
                )?;
            }
        }
        if self.exists(&self.revocations, "revocations")? {
            state.revoked_before = number(
                &self.sql,
                "SELECT before AS n FROM revocations WHERE user = ?",
                vec![user.into()],
            )?;
        }
        Ok(state)
    }

    pub fn save_room(&self, user: &str, room: &str, e: RoomEntry) -> Result<()> {
        self.create_rooms()?;
        self.sql.exec(
            "INSERT INTO rooms(user, room, connections, version) VALUES (?, ?, ?, ?)
             ON CONFLICT(user, room) DO UPDATE SET connections = excluded.connections,
               version = excluded.version",
            vec![
                user.into(),
                room.into(),
                int(u64::from(e.connections)),
                int(e.version),
            ],
        )?;
        Ok(())
    }

    pub fn save_revocation(&self, user: &str, before: u64) -> Result<()> {
        if !self.exists(&self.revocations, "revocations")? {
            self.sql.exec(
                "CREATE TABLE IF NOT EXISTS revocations(user TEXT PRIMARY KEY, before INTEGER NOT NULL)
                   WITHOUT ROWID",
                None,
            )?;
            self.revocations.set(Some(true));
        }
        self.sql.exec(
            "INSERT INTO revocations(user, before) VALUES (?, ?)
             ON CONFLICT(user) DO UPDATE SET before = MAX(before, excluded.before)",
            vec![user.into(), int(before)],
        )?;
        Ok(())
    }

    /// Applies a room's report without reading first: stored only when newer than what is
    /// stored (the version decides). Returns whether it was applied.
    pub fn apply_report(
        &self,
        user: &str,
        room: &str,
        connections: u32,
        version: u64,
    ) -> Result<bool> {
        self.create_rooms()?;
        let written = self
            .sql
            .exec(
                "INSERT INTO rooms(user, room, connections, version) VALUES (?, ?, ?, ?)
                 ON CONFLICT(user, room) DO UPDATE SET connections = excluded.connections,
                   version = excluded.version WHERE excluded.version > rooms.version",
                vec![
                    user.into(),
                    room.into(),
                    int(u64::from(connections)),
                    int(version),
                ],
            )?
            .rows_written();
        Ok(written > 0)
    }

    /// The revocation of `user`, if any (nothing is read when no revocation was ever stored).
    pub fn revoked_before(&self, user: &str) -> Result<Option<u64>> {
        if !self.exists(&self.revocations, "revocations")? {
            return Ok(None);
        }
        number(
            &self.sql,
            "SELECT before AS n FROM revocations WHERE user = ?",
            vec![user.into()],
        )
    }

    /// Deletes tombstones (rooms at 0) older than `cutoff_version`.
    pub fn purge_tombstones(&self, cutoff_version: u64) -> Result<()> {
        if self.exists(&self.rooms, "rooms")? {
            self.sql.exec(
                "DELETE FROM rooms WHERE connections = 0 AND version < ?",
                vec![int(cutoff_version)],
            )?;
        }
        Ok(())
    }

    fn create_rooms(&self) -> Result<()> {
        if !self.exists(&self.rooms, "rooms")? {
            self.sql.exec(
                "CREATE TABLE IF NOT EXISTS rooms(user TEXT NOT NULL, room TEXT NOT NULL,
                   connections INTEGER NOT NULL, version INTEGER NOT NULL,
                   PRIMARY KEY (user, room)) WITHOUT ROWID",
                None,
            )?;
            self.rooms.set(Some(true));
        }
        Ok(())
    }

    /// How many of the shard's users have a connection somewhere.
    pub fn online_users(&self) -> Result<u64> {
        if !self.exists(&self.rooms, "rooms")? {
            return Ok(0);
        }
        let n = number(
            &self.sql,
            "SELECT COUNT(DISTINCT user) AS n FROM rooms WHERE connections > 0",
            vec![],
        )?;
        Ok(n.unwrap_or(0))
    }

    /// Live rows `(room, user, connections)` of the rooms after `after`, by room then user, at
    /// most `limit` (a sweep's read, [`crate::common::heal`]).
    pub fn live_rows_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String, u32)>> {
        if !self.exists(&self.rooms, "rooms")? {
            return Ok(Vec::new());
        }
        #[derive(Deserialize)]
        struct Row {
            room: String,
            user: String,
            connections: f64,
        }
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT room, user, connections FROM rooms WHERE connections > 0 AND room > ?
                 ORDER BY room, user LIMIT ?",
                vec![after.unwrap_or_default().into(), int(limit as u64)],
            )?
            .to_array()?;
        Ok(rows
            .into_iter()
            .map(|r| (r.room, r.user, r.connections as u32))
            .collect())
    }

    /// The rooms where `user` has connections, as stored (read only: a presence report's
    /// answer must not wait for a write to commit).
    pub fn live_rooms(&self, user: &str) -> Result<Vec<String>> {
        if !self.exists(&self.rooms, "rooms")? {
            return Ok(Vec::new());
        }
        #[derive(Deserialize)]
        struct Row {
            room: String,
        }
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT room FROM rooms WHERE user = ? AND connections > 0",
                vec![user.into()],
            )?
            .to_array()?;
        Ok(rows.into_iter().map(|r| r.room).collect())
    }
}
