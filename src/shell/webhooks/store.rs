//! An object's webhook outbox in its SQLite storage ([`super::schema`] has the tables): what
//! delivery reads and writes — events appended, the next batch, a batch delivered or given
//! up on, the retry state, the dead letters listed and re-queued. What keeps it bounded (the
//! backlog cap, expiry, a deletion's erasure) is in [`super::bounds`].

use super::schema::{self, DATA_OF_JSON};
use crate::shell::common::sql::{int, number, Sql};
use crate::webhooks::{Backlog, DeadBatch, DeadReason, BATCH_BUDGET, MAX_BATCH_EVENTS};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::cell::Cell;
use worker::{Result, SqlStorageValue};

/// One event as the outbox stores it.
pub struct Recorded {
    /// Its JSON, as it will be sent.
    pub event: String,
    /// The message whose data it carries ([`crate::webhooks::Event::data_of`]).
    pub data_of: Option<u64>,
    /// When it was recorded (unix ms).
    pub at: u64,
}

/// The oldest events, for one POST: rows `first..=last`, as the POST's body.
pub struct Batch {
    pub(super) first: i64,
    pub(super) last: i64,
    /// `{"events":[...]}`, the events' texts as stored.
    pub body: String,
    /// Its events and their bytes.
    pub(super) size: Backlog,
    /// The store's [`OutboxStore::moves`] when it was read.
    moves: u64,
}

/// Where the head batch stands in its retry schedule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryState {
    pub attempts: u32,
    pub retry_at: u64,
}

/// Dead batches read at a time by a re-queue (each at most one POST's worth, 256 KiB, or one
/// larger event).
const REQUEUE_PAGE: u64 = 8;

/// Bound parameters per statement: the Durable Object SQL API's limit.
const MAX_BINDINGS: usize = 100;
/// Bound parameters per appended row: the event, `data_of`, `at`.
const ROW_BINDINGS: usize = 3;

pub struct OutboxStore {
    pub(super) sql: Sql,
    /// Whether the tables exist (`None`: not checked yet).
    exists: Cell<Option<bool>>,
    /// What waits, as far as this instance has followed it (`None`: to be counted). It may
    /// only over-count (an erased message's data shrinks an event): a cap is checked against
    /// a fresh count before anything moves.
    pub(super) backlog: Cell<Option<Backlog>>,
    /// Times rows left the outbox other than by delivery (a backlog move, expiry): a batch
    /// read before one may no longer be there whole, so its size is not subtracted.
    pub(super) moves: Cell<u64>,
}

pub(super) fn pos(v: i64) -> SqlStorageValue {
    SqlStorageValue::Integer(v)
}

fn nullable(v: Option<u64>) -> SqlStorageValue {
    v.map_or(SqlStorageValue::Null, int)
}

impl OutboxStore {
    /// The object's storage was erased: what this instance knew of the tables no longer holds.
    pub(super) fn forget(&self) {
        self.exists.set(None);
        self.backlog.set(None);
    }

    pub fn new(sql: Sql) -> Self {
        OutboxStore {
            sql,
            exists: Cell::new(None),
            backlog: Cell::new(None),
            moves: Cell::new(0),
        }
    }

    pub(super) fn exists(&self) -> Result<bool> {
        if let Some(known) = self.exists.get() {
            return Ok(known);
        }
        let known = schema::open(&self.sql)?;
        self.exists.set(Some(known));
        Ok(known)
    }

    /// Appends events, in order, a statement per 33 rows (in the caller's turn: they commit
    /// with what they describe).
    pub fn append(&self, events: Vec<Recorded>) -> Result<()> {
        if !self.exists()? {
            schema::create(&self.sql)?;
            self.exists.set(Some(true));
            self.backlog.set(Some(Backlog::default()));
        }
        let added = Backlog {
            events: events.len() as u64,
            bytes: events.iter().map(|e| e.event.len() as u64).sum(),
        };
        // Without an explicit `pos`, SQLite picks the largest + 1: after everything waiting.
        // Each event text is its own bound parameter (moved, not copied, into the call).
        let mut events = events.into_iter().peekable();
        while events.peek().is_some() {
            let mut args = Vec::with_capacity(MAX_BINDINGS);
            for e in events.by_ref().take(MAX_BINDINGS / ROW_BINDINGS) {
                args.extend([
                    SqlStorageValue::String(e.event),
                    nullable(e.data_of),
                    int(e.at),
                ]);
            }
            let rows = args.len() / ROW_BINDINGS;
            let mut sql = String::with_capacity(64 + 10 * rows);
            sql.push_str("INSERT INTO webhook_outbox(event, data_of, at) VALUES (?,?,?)");
            for _ in 1..rows {
                sql.push_str(",(?,?,?)");
            }
            self.sql.exec(&sql, args)?;
        }
        self.backlog.set(self.backlog.get().map(|b| b.plus(added)));
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
            n: f64,
            bytes: Option<f64>,
        }
        if !self.exists()? {
            return Ok(None);
        }
        let rows: Vec<Row> = self
            .sql
            .exec(
                r#"SELECT MIN(pos) AS first, MAX(pos) AS last, COUNT(*) AS n,
                     SUM(length(CAST(event AS BLOB))) AS bytes,
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
            n,
            bytes,
        }) = rows.into_iter().next()
        else {
            return Ok(None);
        };
        let size = Backlog {
            events: n as u64,
            bytes: bytes.unwrap_or(0.0) as u64,
        };
        let (first, last, moves) = (first as i64, last as i64, self.moves.get());
        Ok(Some(Batch {
            first,
            last,
            body,
            size,
            moves,
        }))
    }

    /// The batch was delivered (2xx): its rows go, and its retry schedule with them.
    pub fn delivered(&self, b: &Batch, had_failed: bool) -> Result<()> {
        self.sql.exec(
            "DELETE FROM webhook_outbox WHERE pos BETWEEN ? AND ?",
            vec![pos(b.first), pos(b.last)],
        )?;
        let followed = self.backlog.get().filter(|_| b.moves == self.moves.get());
        self.backlog.set(followed.map(|known| known.minus(b.size)));
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
    pub fn bury(&self, b: &Batch, attempts: u32, error: &str, now_ms: u64) -> Result<()> {
        self.move_to_dead(
            (b.first, b.last),
            (attempts, DeadReason::Attempts),
            error,
            now_ms,
        )?;
        self.delivered(b, true)
    }

    /// Moves rows `first..=last` into one dead batch, as they stand now — not as an attempt
    /// read them: a deletion may have erased a message's data since, or a backlog move taken
    /// them (then there is nothing to move, and no empty batch is made).
    pub(super) fn move_to_dead(
        &self,
        (first, last): (i64, i64),
        (attempts, reason): (u32, DeadReason),
        error: &str,
        now_ms: u64,
    ) -> Result<()> {
        self.sql.exec(
            "INSERT INTO webhook_dead(failed_at, attempts, error, reason, first_at, events)
             SELECT ?1, ?2, ?3, ?4, MIN(at), json_group_array(json(event))
             FROM (SELECT event, at FROM webhook_outbox WHERE pos BETWEEN ?5 AND ?6 ORDER BY pos)
             HAVING COUNT(*) > 0",
            vec![
                int(now_ms),
                int(u64::from(attempts)),
                error.into(),
                reason.name().into(),
                pos(first),
                pos(last),
            ],
        )?;
        self.sql.exec(
            "INSERT OR IGNORE INTO webhook_dead_data(data_of, batch)
             SELECT data_of, (SELECT MAX(batch) FROM webhook_dead) FROM webhook_outbox
             WHERE pos BETWEEN ? AND ? AND data_of IS NOT NULL",
            vec![pos(first), pos(last)],
        )?;
        self.sql.exec(
            "DELETE FROM webhook_outbox WHERE pos BETWEEN ? AND ?",
            vec![pos(first), pos(last)],
        )?;
        Ok(())
    }

    /// The oldest `limit` dead batches, and how many there are.
    pub fn dead(&self, limit: u32) -> Result<(Vec<DeadBatch>, u64)> {
        #[derive(Deserialize)]
        struct Row {
            batch: f64,
            failed_at: f64,
            attempts: f64,
            reason: String,
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
                "SELECT batch, failed_at, attempts, reason, error, events FROM webhook_dead
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
                reason: DeadReason::parse(&r.reason),
                error: r.error,
                events: r.events,
            })
            .collect();
        Ok((batches, total.unwrap_or(0)))
    }

    /// Every dead batch back into the outbox, oldest first, ahead of what waits there, with
    /// a fresh retry schedule. Returns (events, batches) re-queued. The batches are read a
    /// few at a time ([`REQUEUE_PAGE`]): dead letters may hold far more than Wasm memory
    /// could (a backlog's worth), and a re-queue must not need them all at once.
    pub fn requeue(&self) -> Result<(u64, u64)> {
        if !self.exists()? {
            return Ok((0, 0));
        }
        let count = |query| number(&self.sql, query, vec![]);
        let Some(last) = count("SELECT MAX(batch) AS n FROM webhook_dead")? else {
            return Ok((0, 0));
        };
        let batches = count("SELECT COUNT(*) AS n FROM webhook_dead")?.unwrap_or(0);
        let events = count("SELECT SUM(json_array_length(events)) AS n FROM webhook_dead")?;
        let lowest = number(
            &self.sql,
            "SELECT MIN(pos) AS n FROM webhook_outbox",
            vec![],
        )?
        .map_or(1, |n| n as i64);
        let events = events.unwrap_or(0);
        self.requeue_pages(lowest - events as i64, lowest)?;
        // Their index column and time, from their JSON (a re-queue is rare; recording is not).
        self.sql.exec(
            &format!(
                "UPDATE webhook_outbox SET data_of = {DATA_OF_JSON},
                   at = COALESCE(json_extract(event, '$.ts'), 0) WHERE pos < ?"
            ),
            vec![pos(lowest)],
        )?;
        self.sql
            .exec("DELETE FROM webhook_dead WHERE batch <= ?", vec![int(last)])?;
        self.sql.exec(
            "DELETE FROM webhook_dead_data WHERE batch <= ?",
            vec![int(last)],
        )?;
        self.backlog.set(None);
        self.set_retry_state(RetryState::default())?;
        Ok((events, batches))
    }

    /// Inserts the dead batches' events, page by page, at positions `from..below`.
    fn requeue_pages(&self, from: i64, below: i64) -> Result<()> {
        #[derive(Deserialize)]
        struct Row {
            batch: f64,
            events: String,
        }
        let (mut next, mut after) = (from, 0.0);
        loop {
            let page: Vec<Row> = self
                .sql
                .exec(
                    "SELECT batch, events FROM webhook_dead WHERE batch > ? ORDER BY batch LIMIT ?",
                    vec![int(after as u64), int(REQUEUE_PAGE)],
                )?
                .to_array()?;
            let Some(tail) = page.last() else {
                return Ok(());
            };
            after = tail.batch;
            for row in &page {
                let list: Vec<&RawValue> = serde_json::from_str(&row.events).map_err(|e| {
                    worker::Error::RustError(format!("a dead batch is not a list: {e}"))
                })?;
                for event in list {
                    if next >= below {
                        return Err(worker::Error::RustError("dead letters miscounted".into()));
                    }
                    self.sql.exec(
                        "INSERT INTO webhook_outbox(pos, event) VALUES (?, ?)",
                        vec![pos(next), event.get().into()],
                    )?;
                    next += 1;
                }
            }
        }
    }
}
