//! An object's webhook outbox in its SQLite storage. The tables are created together by the
//! first event: an object that never had one (or any object while `WEBHOOK_URL` is unset)
//! has none of them.
//!
//! - `webhook_outbox(pos INTEGER PRIMARY KEY, event TEXT)`: events waiting, in `pos` order
//!   (the order they were recorded; re-queued dead letters go in front, below the lowest);
//! - `webhook_dead(batch INTEGER PRIMARY KEY AUTOINCREMENT, failed_at, attempts, error,
//!   events)`: batches given up on, `events` being the JSON array as sent;
//! - `webhook_state(key, value)`: `attempts` (failed attempts of the head batch) and
//!   `retry_at` (unix ms of its next attempt), so an evicted object resumes the schedule.

use crate::shell::common::sql::Sql;
use crate::shell::common::sql::{has_table, int};
use crate::webhooks::{DeadBatch, BATCH_BUDGET, MAX_BATCH_EVENTS};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::cell::Cell;
use worker::{Result, SqlStorageValue};

/// The oldest events, for one POST: rows `first..=last`, as the POST's body.
pub struct Batch {
    first: i64,
    last: i64,
    /// `{"events":[...]}`, the events' texts as stored.
    pub body: String,
}

/// Where the head batch stands in its retry schedule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryState {
    pub attempts: u32,
    pub retry_at: u64,
}

/// Bound parameters per statement: the Durable Object SQL API's limit.
const MAX_BINDINGS: usize = 100;

pub struct OutboxStore {
    sql: Sql,
    /// Whether the tables exist (`None`: not checked yet).
    exists: Cell<Option<bool>>,
}

fn pos(v: i64) -> SqlStorageValue {
    SqlStorageValue::Integer(v)
}

impl OutboxStore {
    pub fn new(sql: Sql) -> Self {
        OutboxStore {
            sql,
            exists: Cell::new(None),
        }
    }

    fn exists(&self) -> Result<bool> {
        if let Some(known) = self.exists.get() {
            return Ok(known);
        }
        let known = has_table(&self.sql, "webhook_outbox")?;
        self.exists.set(Some(known));
        Ok(known)
    }

    fn create(&self) -> Result<()> {
        for ddl in [
            "CREATE TABLE IF NOT EXISTS webhook_outbox(pos INTEGER PRIMARY KEY, event TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS webhook_dead(batch INTEGER PRIMARY KEY AUTOINCREMENT,
               failed_at INTEGER NOT NULL, attempts INTEGER NOT NULL, error TEXT NOT NULL,
               events TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS webhook_state(key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        ] {
            self.sql.exec(ddl, None)?;
        }
        self.exists.set(Some(true));
        Ok(())
    }

    /// Appends events, in order, in one statement (in the caller's turn: they commit with what
    /// they describe).
    pub fn append(&self, events: Vec<String>) -> Result<()> {
        if !self.exists()? {
            self.create()?;
        }
        // Without an explicit `pos`, SQLite picks the largest + 1: after everything waiting.
        // One statement per chunk of rows, each event text its own bound parameter (moved,
        // not copied, into the call).
        let mut events = events.into_iter().peekable();
        while events.peek().is_some() {
            let args: Vec<SqlStorageValue> = events
                .by_ref()
                .take(MAX_BINDINGS)
                .map(SqlStorageValue::String)
                .collect();
            let mut sql = String::with_capacity(48 + 4 * args.len());
            sql.push_str("INSERT INTO webhook_outbox(event) VALUES (?)");
            for _ in 1..args.len() {
                sql.push_str(",(?)");
            }
            self.sql.exec(&sql, args)?;
        }
        Ok(())
    }

    /// Whether any event waits.
    pub fn has_pending(&self) -> Result<bool> {
        if !self.exists()? {
            return Ok(false);
        }
        let rows: Vec<serde_json::Value> = self
            .sql
            .exec("SELECT 1 AS one FROM webhook_outbox LIMIT 1", None)?
            .to_array()?;
        Ok(!rows.is_empty())
    }

    /// The oldest events that fit in one POST, or `None` when nothing waits. One query, one
    /// string: SQLite keeps the running total of the event sizes ([`crate::webhooks::batch_len`]'s
    /// rule, in SQL — so no more than one POST's worth of text is ever read) and joins the
    /// chosen events into the body.
    pub fn next_batch(&self) -> Result<Option<Batch>> {
        #[derive(Deserialize)]
        struct Row {
            first: Option<f64>,
            last: Option<f64>,
            body: Option<String>,
        }
        if !self.exists()? {
            return Ok(None);
        }
        let rows: Vec<Row> = self
            .sql
            .exec(
                r#"SELECT MIN(pos) AS first, MAX(pos) AS last,
                     '{"events":[' || group_concat(event, ',' ORDER BY pos) || ']}' AS body
                   FROM (
                     SELECT pos, event, ROW_NUMBER() OVER w AS n,
                       SUM(length(CAST(event AS BLOB)) + 1) OVER w AS total
                     FROM (SELECT pos, event FROM webhook_outbox ORDER BY pos LIMIT ?)
                     WINDOW w AS (ORDER BY pos ROWS UNBOUNDED PRECEDING))
                   WHERE n = 1 OR total <= ?"#,
                vec![int(MAX_BATCH_EVENTS as u64), int(BATCH_BUDGET as u64)],
            )?
            .to_array()?;
        let Some(Row {
            first: Some(first),
            last: Some(last),
            body: Some(body),
        }) = rows.into_iter().next()
        else {
            return Ok(None);
        };
        Ok(Some(Batch {
            first: first as i64,
            last: last as i64,
            body,
        }))
    }

    /// The batch was delivered (2xx): its rows go, and its retry schedule with them.
    pub fn delivered(&self, b: &Batch, had_failed: bool) -> Result<()> {
        self.sql.exec(
            "DELETE FROM webhook_outbox WHERE pos BETWEEN ? AND ?",
            vec![pos(b.first), pos(b.last)],
        )?;
        if had_failed {
            self.set_retry_state(RetryState::default())?;
        }
        Ok(())
    }

    pub fn retry_state(&self) -> Result<RetryState> {
        #[derive(Deserialize)]
        struct Row {
            key: String,
            value: f64,
        }
        if !self.exists()? {
            return Ok(RetryState::default());
        }
        let rows: Vec<Row> = self
            .sql
            .exec("SELECT key, value FROM webhook_state", None)?
            .to_array()?;
        let mut state = RetryState::default();
        for r in rows {
            match r.key.as_str() {
                "attempts" => state.attempts = r.value as u32,
                "retry_at" => state.retry_at = r.value as u64,
                _ => {}
            }
        }
        Ok(state)
    }

    pub fn set_retry_state(&self, s: RetryState) -> Result<()> {
        self.sql.exec(
            "INSERT INTO webhook_state(key, value) VALUES ('attempts', ?), ('retry_at', ?)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            vec![int(u64::from(s.attempts)), int(s.retry_at)],
        )?;
        Ok(())
    }

    /// Gives up on a batch: it moves to the dead letters, and the next batch starts afresh.
    /// The rows are copied as they stand now, not as the last attempt read them: a deletion
    /// may have erased a message's data while that attempt was out ([`Self::erase_message`]).
    pub fn bury(&self, b: &Batch, attempts: u32, error: &str, now_ms: u64) -> Result<()> {
        self.sql.exec(
            "INSERT INTO webhook_dead(failed_at, attempts, error, events)
             SELECT ?1, ?2, ?3, json_group_array(json(event))
             FROM (SELECT event FROM webhook_outbox WHERE pos BETWEEN ?4 AND ?5 ORDER BY pos)",
            vec![
                int(now_ms),
                int(u64::from(attempts)),
                error.into(),
                pos(b.first),
                pos(b.last),
            ],
        )?;
        self.delivered(b, true)
    }

    /// The oldest `limit` dead batches, and how many there are.
    pub fn dead(&self, limit: u32) -> Result<(Vec<DeadBatch>, u64)> {
        #[derive(Deserialize)]
        struct Row {
            batch: f64,
            failed_at: f64,
            attempts: f64,
            error: String,
            events: String,
        }
        if !self.exists()? {
            return Ok((Vec::new(), 0));
        }
        let total = crate::shell::common::sql::number(
            &self.sql,
            "SELECT COUNT(*) AS n FROM webhook_dead",
            vec![],
        )?;
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT batch, failed_at, attempts, error, events FROM webhook_dead
                 ORDER BY batch LIMIT ?",
                vec![int(u64::from(limit))],
            )?
            .to_array()?;
        let batches = rows
            .into_iter()
            .map(|r| DeadBatch {
                batch: r.batch as u64,
                failed_at: r.failed_at as u64,
                attempts: r.attempts as u32,
                error: r.error,
                events: r.events,
            })
            .collect();
        Ok((batches, total.unwrap_or(0)))
    }

    /// Every dead batch back into the outbox, oldest first, ahead of what waits there, with
    /// a fresh retry schedule. Returns (events, batches) re-queued.
    pub fn requeue(&self) -> Result<(u64, u64)> {
        let (dead, _) = self.dead(u32::MAX)?;
        let mut events = Vec::new();
        for b in &dead {
            let list: Vec<&RawValue> = serde_json::from_str(&b.events).map_err(|e| {
                worker::Error::RustError(format!("a dead batch is not a list: {e}"))
            })?;
            events.extend(list.into_iter().map(RawValue::get));
        }
        if dead.is_empty() {
            return Ok((0, 0));
        }
        #[derive(Deserialize)]
        struct Min {
            n: Option<f64>,
        }
        let min: Vec<Min> = self
            .sql
            .exec("SELECT MIN(pos) AS n FROM webhook_outbox", None)?
            .to_array()?;
        let lowest = min.first().and_then(|m| m.n).map_or(1, |n| n as i64);
        let start = lowest - events.len() as i64;
        for (i, event) in events.iter().enumerate() {
            self.sql.exec(
                "INSERT INTO webhook_outbox(pos, event) VALUES (?, ?)",
                vec![pos(start + i as i64), (*event).into()],
            )?;
        }
        let last = dead.last().map_or(0, |b| b.batch);
        self.sql
            .exec("DELETE FROM webhook_dead WHERE batch <= ?", vec![int(last)])?;
        self.set_retry_state(RetryState::default())?;
        Ok((events.len() as u64, dead.len() as u64))
    }

    /// Message `seq` was deleted: the `data` of its `message` event and of its `edit` events
    /// is erased wherever they still wait — the outbox and the dead letters — and they are
    /// marked `"deleted":true` (deleted means gone, here too). A receiver that already got
    /// them gets the `delete` event after them.
    pub fn erase_message(&self, seq: u64) -> Result<()> {
        if !self.exists()? {
            return Ok(());
        }
        self.sql.exec(
            &format!("UPDATE webhook_outbox SET event = {ERASED} WHERE {ABOUT}"),
            vec![int(seq)],
        )?;
        let dead = format!(
            "UPDATE webhook_dead SET events = (
               SELECT json_group_array(CASE WHEN {ABOUT} THEN {ERASED} ELSE json(event) END)
               FROM (SELECT value AS event FROM json_each(webhook_dead.events) ORDER BY key))
             WHERE EXISTS (SELECT 1 FROM (SELECT value AS event FROM json_each(webhook_dead.events))
                           WHERE {ABOUT})"
        );
        self.sql.exec(&dead, vec![int(seq)])?;
        Ok(())
    }
}

/// An event (column `event`, bound parameter 1: a message's seq) that carries that message's
/// data: the message itself, or one of its edits.
const ABOUT: &str =
    "(json_extract(event, '$.type') = 'message' AND json_extract(event, '$.seq') = ?1)
    OR (json_extract(event, '$.type') = 'edit' AND json_extract(event, '$.target') = ?1)";

/// That event without its data.
const ERASED: &str = "json_set(event, '$.data', NULL, '$.deleted', json('true'))";
