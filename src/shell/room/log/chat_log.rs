//! The chat extensions on the room's SQLite storage ([`ChatLog`] for [`SqliteLog`]): events in
//! the log, message states rewritten in place, read cursors in `reads(user_id, seq)`, and the
//! unread count of a user in one indexed statement (see `src/room/log/chat_log.rs` for the formula):
//!
//! - the user's cursor: a primary-key lookup in `reads`;
//! - `n(S)`: the newest message at or before `S`, a backward walk of the log's primary key that
//!   stops at the first message;
//! - the user's own messages after `S`: a count over the user's entries of the
//!   `(user_id, client_id)` index (events are not in it: their user is `actor`) — index only,
//!   never a row.

use super::message_log::{storage, SqliteLog};
use crate::room::log::chat_log::{ChatLog, ReadPosition, Stored};
use crate::room::log::message_log::{Appended, LogEntry, LogError};
use crate::shell::common::sql::{int, Sql};
use serde::Deserialize;
use worker::{Result, SqlStorageValue};

type LogResult<T> = std::result::Result<T, LogError>;

/// Which of the room's tables exist: `log` (with its `CREATE` statement) and `reads`.
pub struct Tables {
    pub log: Option<String>,
    pub reads: bool,
}

/// One statement: the tables that exist (an object that never stored anything has none).
pub fn tables(sql: &Sql) -> Result<Tables> {
    #[derive(Deserialize)]
    struct Row {
        name: String,
        sql: Option<String>,
    }
    let rows: Vec<Row> = sql
        .exec(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name IN ('log', 'reads')",
            None,
        )?
        .to_array()?;
    let log = rows.iter().find(|r| r.name == "log");
    Ok(Tables {
        log: log.map(|r| r.sql.clone().unwrap_or_default()),
        reads: rows.iter().any(|r| r.name == "reads"),
    })
}

/// Event ids are unique per user (`actor`); messages never enter this index.
pub fn create_event_index(sql: &Sql) -> Result<()> {
    sql.exec(
        "CREATE UNIQUE INDEX IF NOT EXISTS log_actor ON log(actor, client_id)
         WHERE actor IS NOT NULL",
        None,
    )?;
    Ok(())
}

fn text(v: Option<&str>) -> SqlStorageValue {
    v.map_or(SqlStorageValue::Null, SqlStorageValue::from)
}

impl SqliteLog {
    /// A log created before the chat extensions: the new columns, and every row then was a
    /// message, so its ordinal is its seq (gapless from 1, trimmed ones included).
    pub(super) fn migrate(&mut self) -> Result<()> {
        for column in ["n INTEGER", "target INTEGER", "actor TEXT"] {
            self.sql
                .exec(&format!("ALTER TABLE log ADD COLUMN {column}"), None)?;
        }
        self.sql.exec("UPDATE log SET n = seq", None)?;
        self.sql.exec(
            "INSERT INTO meta(key, value) SELECT 'trimmed_messages', value FROM meta
             WHERE key = 'trimmed_through' ON CONFLICT(key) DO NOTHING",
            None,
        )?;
        create_event_index(&self.sql)
    }

    /// Appends an event (`edit`, `delete`, `react`) on message `target`; a retried id of the same
    /// user is a duplicate.
    pub(super) fn append_event(&mut self, e: LogEntry<'_>, target: u64) -> LogResult<Appended> {
        let written = self
            .sql
            .exec(
                "INSERT INTO log(seq, ts, actor, client_id, frame, target) VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT DO NOTHING",
                vec![
                    int(e.seq),
                    int(e.ts),
                    text(e.user_id),
                    text(e.client_id),
                    e.frame.into(),
                    int(target),
                ],
            )
            .map_err(storage)?
            .rows_written();
        if written == 0 {
            let (Some(user), Some(id)) = (e.user_id, e.client_id) else {
                return Err(LogError::ConflictVanished);
            };
            let original = self.event_by_id(user, id)?;
            return original
                .map(Appended::Duplicate)
                .ok_or(LogError::ConflictVanished);
        }
        self.appended(e.seq)
    }

    fn create_reads(&mut self) -> Result<()> {
        self.sql.exec(
            "CREATE TABLE IF NOT EXISTS reads(user_id TEXT PRIMARY KEY, seq INTEGER NOT NULL)",
            None,
        )?;
        self.reads = true;
        Ok(())
    }
}

#[derive(Deserialize)]
struct Position {
    seq: Option<f64>,
    at: Option<f64>,
    own: Option<f64>,
}

impl ChatLog for SqliteLog {
    fn message_count(&self) -> u64 {
        self.messages
    }

    fn stored(&self, seq: u64) -> LogResult<Option<Stored>> {
        #[derive(Deserialize)]
        struct Row {
            user_id: Option<String>,
            frame: String,
        }
        if !self.exists {
            return Ok(None);
        }
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT user_id, frame FROM log WHERE seq = ?",
                vec![int(seq)],
            )
            .and_then(|c| c.to_array())
            .map_err(storage)?;
        Ok(rows.into_iter().next().map(|r| Stored {
            user_id: r.user_id,
            frame: r.frame,
        }))
    }

    fn rewrite(&mut self, seq: u64, frame: &str) -> LogResult<()> {
        self.sql
            .exec(
                "UPDATE log SET frame = ? WHERE seq = ?",
                vec![frame.into(), int(seq)],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn events_of(&self, target: u64) -> LogResult<Vec<(u64, String)>> {
        if !self.exists {
            return Ok(Vec::new());
        }
        // Its events come after the message: a walk of the primary key from there.
        self.seq_frames(
            "SELECT seq, frame FROM log WHERE seq > ?1 AND target = ?1 ORDER BY seq",
            vec![int(target)],
        )
        .map_err(storage)
    }

    fn event_by_id(&self, user: &str, id: &str) -> LogResult<Option<u64>> {
        if !self.exists {
            return Ok(None);
        }
        self.number(
            "SELECT seq AS n FROM log WHERE actor = ? AND client_id = ?",
            vec![user.into(), id.into()],
        )
        .map_err(storage)
    }

    fn read_position(&self, user: &str) -> LogResult<ReadPosition> {
        if !self.exists && !self.reads {
            return Ok(ReadPosition::default());
        }
        let query = match (self.exists, self.reads) {
            (true, true) => {
                "SELECT c.seq AS seq,
                   (SELECT n FROM log WHERE seq <= c.seq AND n IS NOT NULL
                      ORDER BY seq DESC LIMIT 1) AS at,
                   (SELECT COUNT(*) FROM log WHERE user_id = ?1 AND seq > COALESCE(c.seq, 0)) AS own
                 FROM (SELECT 1) LEFT JOIN reads c ON c.user_id = ?1"
            }
            (true, false) => {
                "SELECT NULL AS seq, NULL AS at, (SELECT COUNT(*) FROM log WHERE user_id = ?1) AS own"
            }
            _ => "SELECT seq, NULL AS at, 0 AS own FROM reads WHERE user_id = ?1",
        };
        let rows: Vec<Position> = self
            .sql
            .exec(query, vec![user.into()])
            .and_then(|c| c.to_array())
            .map_err(storage)?;
        let Some(p) = rows.first() else {
            return Ok(ReadPosition::default());
        };
        // Messages trimmed by retention count as read: they can no longer be.
        let at = (p.at.unwrap_or(0.0) as u64).max(self.trimmed_messages);
        let own = p.own.unwrap_or(0.0) as u64;
        Ok(ReadPosition {
            cursor: p.seq.map(|s| s as u64),
            unread: self.messages.saturating_sub(at).saturating_sub(own),
        })
    }

    fn authored(&self, user: &str, limit: usize) -> LogResult<Vec<u64>> {
        if !self.exists {
            return Ok(Vec::new());
        }
        // The `(user_id, client_id)` index: messages only (events carry their user as `actor`).
        let rows = self.seq_frames(
            "SELECT seq, '' AS frame FROM log WHERE user_id = ?
               AND json_extract(frame, '$.deleted') IS NULL ORDER BY seq LIMIT ?",
            vec![user.into(), int(limit as u64)],
        );
        Ok(rows.map_err(storage)?.into_iter().map(|r| r.0).collect())
    }

    fn reacted(&self, user: &str) -> LogResult<Vec<u64>> {
        if !self.exists {
            return Ok(Vec::new());
        }
        let rows = self.seq_frames(
            "SELECT DISTINCT target AS seq, '' AS frame FROM log
             WHERE actor = ? AND target IS NOT NULL AND frame LIKE '{\"type\":\"react\"%'",
            vec![user.into()],
        );
        Ok(rows.map_err(storage)?.into_iter().map(|r| r.0).collect())
    }

    fn forget(&mut self, user: &str) -> LogResult<()> {
        if self.reads {
            let forget = "DELETE FROM reads WHERE user_id = ?";
            self.sql.exec(forget, vec![user.into()]).map_err(storage)?;
        }
        if !self.exists {
            return Ok(());
        }
        // Their messages (already deleted: no data) and events keep their seqs; the id goes.
        for column in ["user_id", "actor"] {
            let unlink = format!(
                "UPDATE log SET frame = json_set(frame, '$.from', json('{{\"erased\":true}}')),
                   {column} = NULL WHERE {column} = ?"
            );
            self.sql.exec(&unlink, vec![user.into()]).map_err(storage)?;
        }
        Ok(())
    }

    fn save_cursor(&mut self, user: &str, seq: u64) -> LogResult<()> {
        if !self.reads {
            self.create_reads().map_err(storage)?;
        }
        self.sql
            .exec(
                "INSERT INTO reads(user_id, seq) VALUES (?, ?)
                 ON CONFLICT(user_id) DO UPDATE SET seq = MAX(seq, excluded.seq)",
                vec![user.into(), int(seq)],
            )
            .map_err(storage)?;
        Ok(())
    }
}
