//! An object's webhook outbox in its SQLite storage ([`super::schema`] has the tables): what
//! delivery reads and writes — events appended, the next batch, a batch delivered or given
//! up on, the retry state, the dead letters listed and re-queued. What keeps it bounded (the
//! backlog cap, expiry, a deletion's erasure) is in [`super::bounds`].

use super::schema::{self, DATA_OF_JSON};
use crate::shell::common::sql::{int, number, Sql};
use crate::webhooks::{
    join_into, row_sizes, Backlog, DeadBatch, DeadReason, BATCH_BUDGET, MAX_BATCH_EVENTS,
};
use serde::Deserialize;
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

/// The oldest events, for one POST, as the POST's body.
pub struct Batch {
    /// Which: `(first, last, end)`, [`super::rows::Head`]'s.
    pub(super) step: (i64, i64, u64),
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

/// Bound parameters per statement: the Durable Object SQL API's limit.
const MAX_BINDINGS: usize = 100;
/// Bound parameters per appended row: the events, how many, `data_lo`, `data_hi`, `at`.
const ROW_BINDINGS: usize = 5;

/// A `pos` above every row: "no bound". Not `i64::MAX`, which a JavaScript number cannot hold
/// (the runtime warns on every bind and rounds it); rowids never come near 2^53.
pub(super) const NO_POS: i64 = (1 << 53) - 1;

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

    /// Appends a turn's events, in order, as one row ([`row_sizes`]: several if they are
    /// larger than a row may be) — in the caller's turn, so they commit with what they
    /// describe. The row's `data_lo`/`data_hi` bound the message seqs whose data its events
    /// carry: a deletion finds the rows to rewrite by them.
    pub fn append(&self, events: Vec<Recorded>) -> Result<()> {
        if !self.exists()? {
            schema::create(&self.sql)?;
            self.exists.set(Some(true));
            self.backlog.set(Some(Backlog::default()));
        }
        let lengths: Vec<usize> = events.iter().map(|e| e.event.len()).collect();
        let added = Backlog {
            events: events.len() as u64,
            bytes: lengths.iter().sum::<usize>() as u64,
        };
        let sizes = row_sizes(&lengths);
        let mut events = events.into_iter();
        // Without an explicit `pos`, SQLite picks the largest + 1: after everything waiting.
        for rows in sizes.chunks(MAX_BINDINGS / ROW_BINDINGS) {
            let mut args = Vec::with_capacity(rows.len() * ROW_BINDINGS);
            for &n in rows {
                args.extend(row_values(events.by_ref().take(n).collect()));
            }
            let mut sql = String::with_capacity(80 + 12 * rows.len());
            sql.push_str(
                "INSERT INTO webhook_outbox(events, n, data_lo, data_hi, at) VALUES (?,?,?,?,?)",
            );
            for _ in 1..rows.len() {
                sql.push_str(",(?,?,?,?,?)");
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

    /// The oldest events that fit in one POST ([`crate::webhooks::batch_len`]'s rule, across
    /// rows: [`Self::head`]), as its body, or `None` when nothing waits.
    pub fn next_batch(&self) -> Result<Option<Batch>> {
        if !self.exists()? {
            return Ok(None);
        }
        let limit = (MAX_BATCH_EVENTS as u64, BATCH_BUDGET as u64);
        let Some(head) = self.head(limit, NO_POS)? else {
            return Ok(None);
        };
        Ok(Some(Batch {
            step: (head.first, head.last, head.end),
            body: format!(r#"{{"events":[{}]}}"#, head.text),
            size: head.size,
            moves: self.moves.get(),
        }))
    }

    /// The batch was delivered (2xx): its rows go, and its retry schedule with them.
    pub fn delivered(&self, b: &Batch, had_failed: bool) -> Result<()> {
        self.cut(b.step)?;
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
        self.move_to_dead(b.step, (attempts, DeadReason::Attempts), error, now_ms)?;
        self.delivered(b, true)
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
    /// a fresh retry schedule: a row per batch, so that they go out as they were sent. Returns
    /// (events, batches) re-queued. One statement, in SQL: dead letters may hold far more
    /// than Wasm memory could (a backlog's worth), and a re-queue must not need them at once.
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
        let lowest = self.lowest_pos()?;
        let data = |agg: &str| {
            format!("(SELECT {agg}({DATA_OF_JSON}) FROM (SELECT value AS event FROM json_each(events)))")
        };
        self.sql.exec(
            &format!(
                "INSERT INTO webhook_outbox(pos, events, n, skip, data_lo, data_hi, at)
                 SELECT ?1 - ?2 + ROW_NUMBER() OVER (ORDER BY batch) - 1,
                   substr(events, 2, length(events) - 2), json_array_length(events), 0,
                   {}, {}, COALESCE(json_extract(events, '$[0].ts'), 0)
                 FROM webhook_dead WHERE batch <= ?3 AND json_array_length(events) > 0",
                data("MIN"),
                data("MAX")
            ),
            vec![pos(lowest), int(batches), int(last)],
        )?;
        self.sql
            .exec("DELETE FROM webhook_dead WHERE batch <= ?", vec![int(last)])?;
        self.sql.exec(
            "DELETE FROM webhook_dead_data WHERE batch <= ?",
            vec![int(last)],
        )?;
        self.backlog.set(None);
        self.set_retry_state(RetryState::default())?;
        Ok((events.unwrap_or(0), batches))
    }
}

impl OutboxStore {
    /// The lowest `pos` waiting (1 if none): re-queued rows go below it, so it may be 0 or
    /// less — read as a signed number, which [`number`] is not.
    fn lowest_pos(&self) -> Result<i64> {
        #[derive(Deserialize)]
        struct Row {
            n: Option<f64>,
        }
        let rows: Vec<Row> = self
            .sql
            .exec("SELECT MIN(pos) AS n FROM webhook_outbox", None)?
            .to_array()?;
        Ok(rows.first().and_then(|r| r.n).map_or(1, |n| n as i64))
    }
}

/// The bound values of one outbox row holding `events` (a turn's, in order).
fn row_values(events: Vec<Recorded>) -> [SqlStorageValue; ROW_BINDINGS] {
    let bytes: usize = events.iter().map(|e| e.event.len() + 1).sum();
    let mut text = String::with_capacity(bytes);
    join_into(&mut text, events.iter().map(|e| e.event.as_str()));
    let data = events.iter().filter_map(|e| e.data_of);
    [
        SqlStorageValue::String(text),
        int(events.len() as u64),
        nullable(data.clone().min()),
        nullable(data.max()),
        int(events.first().map_or(0, |e| e.at)),
    ]
}
