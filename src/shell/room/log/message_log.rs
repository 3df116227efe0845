//! The room's durable log on the Durable Object's SQLite storage.
//!
//! Durability without waiting: `sql.exec` is synchronous, and the runtime's **output gate**
//! holds every message this object sends (WebSocket frames included) until the writes made
//! before it are durable. So the room can insert, then broadcast and ack in the same event:
//! no client sees a message, or an ack, for a write that could still be lost. Writes of one
//! event are committed together, which batches bursts for free.
//!
//! Schema:
//! - `log(seq PRIMARY KEY, ts, user_id, client_id, frame)` with a unique index on
//!   `(user_id, client_id)`: the key of idempotent retries (SQLite treats NULLs as distinct, so
//!   messages without an id never collide);
//! - `meta(key, value)`: `trimmed_through`, so the latest seq survives even when retention has
//!   trimmed every message, and `trimmed_messages`, the message count at that point.
//!
//! The chat extensions (issue 14) add to `log` the columns `n` (a message's ordinal among the
//! room's messages; NULL for events), `target` (an event's message) and `actor` (an event's
//! user, with a unique index on `(actor, client_id)`: event ids are their own namespace, and
//! `user_id` stays the author of *messages* only, which is what counting a user's own messages
//! with the `(user_id, client_id)` index relies on); and the table `reads(user_id, seq)` of read
//! cursors, created by the first read. A log created before them is migrated when it is opened
//! (every row then was a message, numbered by its seq). See `src/shell/room/log/chat_log.rs`.
//!
//! The tables are created by the first message: a room that never had one (a history read of
//! a random name, a room whose members never published) stores nothing at all.

use crate::room::log::message_log::{Appended, LogEntry, LogError, MessageLog, Retention};
use crate::shell::common::sql::{int, Sql};
use serde::Deserialize;
use worker::{Result, SqlStorageValue};

pub struct SqliteLog {
    pub(super) sql: Sql,
    retention: Retention,
    last: u64,
    first: Option<u64>,
    /// The tables exist (the room has stored a message).
    pub(super) exists: bool,
    /// Messages ever appended, and how many of them retention has trimmed.
    pub(super) messages: u64,
    pub(super) trimmed_messages: u64,
    /// The `reads` table exists (someone has read here).
    pub(super) reads: bool,
}

pub(super) fn storage(e: worker::Error) -> LogError {
    LogError::Storage(e.to_string())
}

#[derive(Deserialize)]
struct Num {
    n: Option<f64>,
}

impl SqliteLog {
    /// Reads where the log stands (nothing when the room never stored a message): one
    /// statement for the tables, one for the position.
    pub fn open(sql: Sql, retention: Retention) -> Result<Self> {
        let tables = super::chat_log::tables(&sql)?;
        let mut log = SqliteLog {
            sql,
            retention,
            last: 0,
            first: None,
            exists: tables.log.is_some(),
            messages: 0,
            trimmed_messages: 0,
            reads: tables.reads,
        };
        if tables
            .log
            .as_deref()
            .is_some_and(|ddl| !ddl.contains("actor"))
        {
            log.migrate()?;
        }
        if log.exists {
            log.read_position()?;
        }
        Ok(log)
    }

    /// The log's seqs and message counts, in one statement.
    fn read_position(&mut self) -> Result<()> {
        #[derive(Deserialize)]
        struct Position {
            last: Option<f64>,
            first: Option<f64>,
            trimmed: Option<f64>,
            messages: Option<f64>,
            trimmed_messages: Option<f64>,
        }
        let rows: Vec<Position> = self
            .sql
            .exec(
                "SELECT (SELECT MAX(seq) FROM log) AS last, (SELECT MIN(seq) FROM log) AS first,
                   (SELECT value FROM meta WHERE key = 'trimmed_through') AS trimmed,
                   (SELECT n FROM log WHERE n IS NOT NULL ORDER BY seq DESC LIMIT 1) AS messages,
                   (SELECT value FROM meta WHERE key = 'trimmed_messages') AS trimmed_messages",
                None,
            )?
            .to_array()?;
        let Some(p) = rows.first() else {
            return Ok(());
        };
        let n = |v: Option<f64>| v.unwrap_or(0.0) as u64;
        self.last = n(p.last).max(n(p.trimmed));
        self.first = p.first.map(|f| f as u64);
        self.trimmed_messages = n(p.trimmed_messages);
        self.messages = n(p.messages).max(self.trimmed_messages);
        Ok(())
    }

    /// Creates the schema, on the room's first message.
    fn create(&mut self) -> Result<()> {
        self.sql.exec(
            "CREATE TABLE IF NOT EXISTS log(seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL,
               user_id TEXT, client_id TEXT, frame TEXT NOT NULL, n INTEGER, target INTEGER,
               actor TEXT)",
            None,
        )?;
        self.sql.exec(
            "CREATE UNIQUE INDEX IF NOT EXISTS log_client_id ON log(user_id, client_id)",
            None,
        )?;
        super::chat_log::create_event_index(&self.sql)?;
        self.sql.exec(
            "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
            None,
        )?;
        self.exists = true;
        Ok(())
    }

    pub(super) fn number(&self, query: &str, args: Vec<SqlStorageValue>) -> Result<Option<u64>> {
        let rows: Vec<Num> = self.sql.exec(query, args)?.to_array()?;
        Ok(rows.first().and_then(|r| r.n).map(|n| n as u64))
    }

    /// Deletes every message up to `through` and remembers it (and how many messages that was).
    fn trim_through(&mut self, through: u64) -> Result<()> {
        if let Some(n) = self.number(
            "SELECT n FROM log WHERE seq <= ? AND n IS NOT NULL ORDER BY seq DESC LIMIT 1",
            vec![int(through)],
        )? {
            self.trimmed_messages = self.trimmed_messages.max(n);
            self.sql.exec(
                "INSERT INTO meta(key, value) VALUES ('trimmed_messages', ?)
                 ON CONFLICT(key) DO UPDATE SET value = MAX(value, excluded.value)",
                vec![int(n)],
            )?;
        }
        self.sql
            .exec("DELETE FROM log WHERE seq <= ?", vec![int(through)])?;
        self.sql.exec(
            "INSERT INTO meta(key, value) VALUES ('trimmed_through', ?)
             ON CONFLICT(key) DO UPDATE SET value = MAX(value, excluded.value)",
            vec![int(through)],
        )?;
        self.first = self.number("SELECT MIN(seq) AS n FROM log", vec![])?;
        Ok(())
    }

    /// Age-based trimming (run from the alarm). Returns when the next message expires, in ms
    /// since the epoch, or `None` when nothing is left to expire.
    pub fn trim_expired(&mut self, now_ms: u64) -> Result<Option<u64>> {
        let Some(cutoff) = self.retention.age_cutoff(now_ms).filter(|_| self.exists) else {
            return Ok(None);
        };
        if let Some(through) = self.number(
            "SELECT MAX(seq) AS n FROM log WHERE ts < ?",
            vec![int(cutoff)],
        )? {
            self.trim_through(through)?;
        }
        let oldest = self.number("SELECT MIN(ts) AS n FROM log", vec![])?;
        Ok(oldest.map(|ts| ts + self.retention.max_age_ms))
    }

    /// Where the log stands after a row was stored as `seq` (and retention by count).
    pub(super) fn appended(&mut self, seq: u64) -> std::result::Result<Appended, LogError> {
        self.last = seq;
        self.first.get_or_insert(seq);
        if let Some(through) = self.retention.count_trim(self.first, self.last) {
            self.trim_through(through).map_err(storage)?;
        }
        Ok(Appended::Stored)
    }

    /// The `(seq, len)` rows a `SELECT seq, length(CAST(frame AS BLOB)) AS len ...` statement
    /// reads: the frames' sizes in bytes, without bringing the frames into Wasm memory.
    pub(super) fn seq_lengths(
        &self,
        sql: &str,
        args: Vec<SqlStorageValue>,
    ) -> Result<Vec<(u64, usize)>> {
        #[derive(Deserialize)]
        struct Row {
            seq: f64,
            len: f64,
        }
        let rows: Vec<Row> = self.sql.exec(sql, args)?.to_array()?;
        Ok(rows
            .into_iter()
            .map(|r| (r.seq as u64, r.len as usize))
            .collect())
    }

    /// The `(seq, frame)` rows a `SELECT seq, frame FROM log ...` statement reads.
    pub(super) fn seq_frames(
        &self,
        sql: &str,
        args: Vec<SqlStorageValue>,
    ) -> Result<Vec<(u64, String)>> {
        #[derive(Deserialize)]
        struct Row {
            seq: f64,
            frame: String,
        }
        let rows: Vec<Row> = self.sql.exec(sql, args)?.to_array()?;
        Ok(rows.into_iter().map(|r| (r.seq as u64, r.frame)).collect())
    }
}

impl MessageLog for SqliteLog {
    fn last_seq(&self) -> u64 {
        self.last
    }

    fn first_seq(&self) -> Option<u64> {
        self.first
    }

    fn append(&mut self, e: LogEntry<'_>) -> std::result::Result<Appended, LogError> {
        if !self.exists {
            self.create().map_err(storage)?;
        }
        if let Some(target) = e.target {
            return self.append_event(e, target);
        }
        let text = |v: Option<&str>| v.map_or(SqlStorageValue::Null, SqlStorageValue::from);
        // One statement in the common case; `rowsWritten` tells a stored row from a duplicate
        // without reading anything back.
        let written = self
            .sql
            .exec(
                "INSERT INTO log(seq, ts, user_id, client_id, frame, n) VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT(user_id, client_id) DO NOTHING",
                vec![
                    int(e.seq),
                    int(e.ts),
                    text(e.user_id),
                    text(e.client_id),
                    e.frame.into(),
                    int(self.messages + 1),
                ],
            )
            .map_err(storage)?
            .rows_written();
        if written == 0 {
            let original = self
                .number(
                    "SELECT seq AS n FROM log WHERE user_id = ? AND client_id = ?",
                    vec![text(e.user_id), text(e.client_id)],
                )
                .map_err(storage)?
                .ok_or(LogError::ConflictVanished)?;
            return Ok(Appended::Duplicate(original));
        }
        self.messages += 1;
        self.appended(e.seq)
    }

    fn newest_lengths(
        &self,
        after: u64,
        max: u64,
    ) -> std::result::Result<Vec<(u64, usize)>, LogError> {
        if !self.exists {
            return Ok(Vec::new());
        }
        self.seq_lengths(
            "SELECT seq, length(CAST(frame AS BLOB)) AS len FROM log WHERE seq > ?
             ORDER BY seq DESC LIMIT ?",
            vec![int(after), int(max)],
        )
        .map_err(storage)
    }

    fn read_from(
        &self,
        from: u64,
        limit: usize,
    ) -> std::result::Result<Vec<(u64, String)>, LogError> {
        if !self.exists {
            return Ok(Vec::new());
        }
        self.seq_frames(
            "SELECT seq, frame FROM log WHERE seq >= ? ORDER BY seq LIMIT ?",
            vec![int(from), int(limit as u64)],
        )
        .map_err(storage)
    }
}
