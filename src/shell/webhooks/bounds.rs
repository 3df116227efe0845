//! What keeps an object's outbox bounded ([`crate::webhooks::Backlog`], [`Cutoffs`]): the
//! backlog cap, the expiry of dead letters and of data older than history retention, and a
//! deleted message's data erased wherever it still waits — found through `data_of`, never by
//! reading the events.

use super::store::{pos, OutboxStore};
use crate::shell::common::incident;
use crate::shell::common::sql::{int, number};
use crate::webhooks::{
    expires_at, Backlog, Cutoffs, DeadReason, WebhookConfig, BATCH_BUDGET, MAX_BATCH_EVENTS,
};
use serde::Deserialize;
use worker::Result;

/// A `pos` above every row: "no bound". Not `i64::MAX`, which a JavaScript number cannot hold
/// (the runtime warns on every bind and rounds it); rowids never come near 2^53.
const NO_POS: i64 = (1 << 53) - 1;

/// The bounds of the oldest batch's worth of rows, and its size.
struct Head {
    first: i64,
    last: i64,
    size: Backlog,
}

impl OutboxStore {
    /// What waits, counted afresh (one pass over the outbox).
    pub(super) fn count(&self) -> Result<Backlog> {
        #[derive(Deserialize)]
        struct Row {
            n: f64,
            bytes: Option<f64>,
        }
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT COUNT(*) AS n, SUM(length(CAST(event AS BLOB))) AS bytes FROM webhook_outbox",
                None,
            )?
            .to_array()?;
        let row = rows.first();
        let b = Backlog {
            events: row.map_or(0.0, |r| r.n) as u64,
            bytes: row.and_then(|r| r.bytes).unwrap_or(0.0) as u64,
        };
        self.backlog.set(Some(b));
        Ok(b)
    }

    /// After an append: past a cap, the oldest events move to the dead letters (reason
    /// `backlog`), batch by batch, down to nine tenths of the caps; an error line says how
    /// many. Counted afresh once per instance, then followed.
    pub fn enforce_cap(&self, c: &WebhookConfig, now_ms: u64) -> Result<()> {
        let known = match self.backlog.get() {
            Some(b) => b,
            None => self.count()?,
        };
        if !known.over(c) {
            return Ok(());
        }
        let mut left = self.count()?;
        if !left.over(c) {
            return Ok(()); // the estimate over-counted (erased data)
        }
        let error = match left.events > c.max_backlog_events {
            true => format!(
                "backlog over WEBHOOK_MAX_BACKLOG_EVENTS={}",
                c.max_backlog_events
            ),
            false => format!(
                "backlog over WEBHOOK_MAX_BACKLOG_BYTES={}",
                c.max_backlog_bytes
            ),
        };
        let mut moved = Backlog::default();
        while !left.settled(c) {
            let Some(head) = self.head(left.move_step(c), NO_POS)? else {
                break;
            };
            self.move_to_dead(
                (head.first, head.last),
                (0, DeadReason::Backlog),
                &error,
                now_ms,
            )?;
            left = left.minus(head.size);
            moved = moved.plus(head.size);
        }
        self.backlog.set(Some(left));
        self.moves.set(self.moves.get() + 1);
        let detail = format!(
            "{error}: the oldest {} events ({} bytes) moved to the dead letters; {} wait",
            moved.events, moved.bytes, left.events
        );
        incident::report("webhook backlog", &detail);
        Ok(())
    }

    /// The oldest rows below `pos` `below` — at most `events`, and no more than `budget`
    /// bytes (counting a comma each, [`crate::webhooks::batch_len`]'s rule) unless that is one
    /// — without reading their text.
    fn head(&self, (events, budget): (u64, u64), below: i64) -> Result<Option<Head>> {
        #[derive(Deserialize)]
        struct Row {
            first: Option<f64>,
            last: Option<f64>,
            n: f64,
            bytes: Option<f64>,
        }
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT MIN(pos) AS first, MAX(pos) AS last, COUNT(*) AS n, SUM(len) AS bytes
                 FROM (
                   SELECT pos, len, ROW_NUMBER() OVER w AS k, SUM(len + 1) OVER w AS total
                   FROM (SELECT pos, length(CAST(event AS BLOB)) AS len FROM webhook_outbox
                         WHERE pos < ? ORDER BY pos LIMIT ?)
                   WINDOW w AS (ORDER BY pos ROWS UNBOUNDED PRECEDING))
                 WHERE k = 1 OR total <= ?",
                vec![pos(below), int(events), int(budget)],
            )?
            .to_array()?;
        Ok(rows.into_iter().next().and_then(|r| {
            Some(Head {
                first: r.first? as i64,
                last: r.last? as i64,
                size: Backlog {
                    events: r.n as u64,
                    bytes: r.bytes.unwrap_or(0.0) as u64,
                },
            })
        }))
    }

    /// A batch died: the waiting events recorded at or before `cutoff` (a whole schedule
    /// ago) die with it, in batches, without attempts of their own — every attempt in their
    /// time failed. Returns how many.
    pub fn bury_older(&self, cutoff: u64, error: &str, now_ms: u64) -> Result<u64> {
        let below = self.first_pos_after(cutoff)?;
        let batch = (MAX_BATCH_EVENTS as u64, BATCH_BUDGET as u64);
        let mut buried = 0;
        while let Some(head) = self.head(batch, below)? {
            self.move_to_dead(
                (head.first, head.last),
                (0, DeadReason::Attempts),
                error,
                now_ms,
            )?;
            buried += head.size.events;
        }
        if buried > 0 {
            self.backlog.set(None);
            self.moves.set(self.moves.get() + 1);
        }
        Ok(buried)
    }

    /// The first `pos` of an event recorded after `cutoff` ([`NO_POS`]: none) — `pos` follows
    /// recording time, so the rows below it are exactly the older ones; only those are read.
    fn first_pos_after(&self, cutoff: u64) -> Result<i64> {
        let first = number(
            &self.sql,
            "SELECT pos AS n FROM webhook_outbox WHERE at > ? ORDER BY pos LIMIT 1",
            vec![int(cutoff)],
        )?;
        Ok(first.map_or(NO_POS, |p| p as i64))
    }

    /// When the oldest waiting event was recorded.
    pub fn oldest_at(&self) -> Result<Option<u64>> {
        number(
            &self.sql,
            "SELECT at AS n FROM webhook_outbox ORDER BY pos LIMIT 1",
            vec![],
        )
    }

    /// Deletes what has expired at these cutoffs: dead letters past their days or holding an
    /// event older than history retention, and waiting events older than that (the oldest
    /// first: `pos` follows recording time). Returns how many waiting events went.
    pub fn expire(&self, cut: Cutoffs) -> Result<u64> {
        if !self.exists()? {
            return Ok(0);
        }
        let never = int(0);
        let dead = self.sql.exec(
            "DELETE FROM webhook_dead WHERE failed_at < ? OR first_at < ?",
            vec![
                cut.dead.map_or(never.clone(), int),
                cut.history.map_or(never, int),
            ],
        )?;
        if dead.rows_written() > 0 {
            self.sql.exec(
                "DELETE FROM webhook_dead_data WHERE batch NOT IN (SELECT batch FROM webhook_dead)",
                None,
            )?;
        }
        let Some(cutoff) = cut.history else {
            return Ok(0);
        };
        let keep = self.first_pos_after(cutoff.saturating_sub(1))?;
        let gone = number(
            &self.sql,
            "SELECT COUNT(*) AS n FROM webhook_outbox WHERE pos < ?",
            vec![pos(keep)],
        )?
        .unwrap_or(0);
        if gone > 0 {
            self.sql
                .exec("DELETE FROM webhook_outbox WHERE pos < ?", vec![pos(keep)])?;
            self.backlog.set(None);
            self.moves.set(self.moves.get() + 1);
        }
        Ok(gone)
    }

    /// The earliest time something stored expires (`None`: nothing will).
    pub fn next_expiry(&self, c: &WebhookConfig) -> Result<Option<u64>> {
        if !self.exists()? {
            return Ok(None);
        }
        let oldest = |query| number(&self.sql, query, vec![]);
        let history = c.history_max_age_ms;
        let candidates = [
            oldest("SELECT MIN(failed_at) AS n FROM webhook_dead")?
                .and_then(|t| expires_at(t, c.dead_letter_ms)),
            oldest("SELECT MIN(first_at) AS n FROM webhook_dead")?
                .and_then(|t| expires_at(t, history)),
            self.oldest_at()?.and_then(|t| expires_at(t, history)),
        ];
        Ok(candidates.into_iter().flatten().min())
    }

    /// Message `seq` was deleted: the `data` of its `message` event and of its `edit` events
    /// is erased wherever they still wait — the outbox and the dead letters — and they are
    /// marked `"deleted":true` (deleted means gone, here too). A receiver that already got
    /// them gets the `delete` event after them. Both are found by index: the outbox's
    /// `data_of`, and `webhook_dead_data` for the dead batches (only those are rewritten).
    pub fn erase_message(&self, seq: u64) -> Result<()> {
        if !self.exists()? {
            return Ok(());
        }
        self.sql.exec(
            &format!(
                "UPDATE webhook_outbox SET event = {ERASED}, data_of = NULL WHERE data_of = ?1"
            ),
            vec![int(seq)],
        )?;
        let dead = format!(
            "UPDATE webhook_dead SET events = (
               SELECT json_group_array(CASE WHEN {ABOUT} THEN {ERASED} ELSE json(event) END)
               FROM (SELECT value AS event FROM json_each(webhook_dead.events) ORDER BY key))
             WHERE batch IN (SELECT batch FROM webhook_dead_data WHERE data_of = ?1)"
        );
        self.sql.exec(&dead, vec![int(seq)])?;
        self.sql.exec(
            "DELETE FROM webhook_dead_data WHERE data_of = ?",
            vec![int(seq)],
        )?;
        Ok(())
    }
}

impl OutboxStore {
    /// User `?1` was erased: their id leaves the events that wait, in the outbox and the dead
    /// letters — `from` becomes `{"erased":true}` as in the log, a presence event's `user_id`
    /// `null`. No index leads there, so it is a scan of what waits (bounded by the backlog
    /// caps): an erasure is rare. (Their messages' data went with their deletion.)
    pub fn erase_user(&self, user: &str) -> Result<()> {
        if !self.exists()? {
            return Ok(());
        }
        let outbox = format!("UPDATE webhook_outbox SET event = {UNLINKED} WHERE {BY_USER}");
        self.sql.exec(&outbox, vec![user.into()])?;
        let dead = format!(
            "UPDATE webhook_dead SET events = (
               SELECT json_group_array(CASE WHEN {BY_USER} THEN {UNLINKED} ELSE json(event) END)
               FROM (SELECT value AS event FROM json_each(webhook_dead.events) ORDER BY key))
             WHERE EXISTS (SELECT 1 FROM (SELECT value AS event
               FROM json_each(webhook_dead.events)) WHERE {BY_USER})"
        );
        self.sql.exec(&dead, vec![user.into()])?;
        Ok(())
    }
}

/// An event (column `event`) by or about user `?1`.
const BY_USER: &str = "(json_extract(event, '$.from.user_id') = ?1
    OR (json_extract(event, '$.type') = 'presence' AND json_extract(event, '$.user_id') = ?1))";

/// That event without the user's id.
const UNLINKED: &str = "CASE WHEN json_extract(event, '$.type') = 'presence'
    THEN json_set(event, '$.user_id', NULL)
    ELSE json_set(event, '$.from', json('{\"erased\":true}')) END";

/// An event of one dead batch (column `event`, bound parameter 1: a message's seq) that
/// carries that message's data: the message itself, or one of its edits.
const ABOUT: &str =
    "(json_extract(event, '$.type') = 'message' AND json_extract(event, '$.seq') = ?1)
    OR (json_extract(event, '$.type') = 'edit' AND json_extract(event, '$.target') = ?1)";

/// That event without its data.
const ERASED: &str = "json_set(event, '$.data', NULL, '$.deleted', json('true'))";
