//! What keeps an object's outbox bounded ([`crate::webhooks::Backlog`], [`Cutoffs`]): the
//! backlog cap, the expiry of dead letters and of data older than history retention, and a
//! deleted message's data erased wherever it still waits — found through `data_of`, never by
//! reading the events.

use super::store::{pos, OutboxStore, NO_POS};
use crate::shell::common::incident;
use crate::shell::common::sql::{int, number};
use crate::webhooks::{
    expires_at, Backlog, Cutoffs, DeadReason, WebhookConfig, BATCH_BUDGET, MAX_BATCH_EVENTS,
};
use serde::Deserialize;
use worker::Result;

impl OutboxStore {
    /// What waits, counted afresh (one pass over the outbox): events, not rows — a row's
    /// text is its events and a comma between each two.
    pub(super) fn count(&self) -> Result<Backlog> {
        #[derive(Deserialize)]
        struct Row {
            n: Option<f64>,
            bytes: Option<f64>,
        }
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT SUM(n) AS n, SUM(length(CAST(events AS BLOB)) - n + 1) AS bytes
                 FROM webhook_outbox",
                None,
            )?
            .to_array()?;
        let row = rows.first();
        let b = Backlog {
            events: row.and_then(|r| r.n).unwrap_or(0.0) as u64,
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
                (head.first, head.last, head.end),
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

    /// A batch died: the waiting events recorded at or before `cutoff` (a whole schedule
    /// ago) die with it, in batches, without attempts of their own — every attempt in their
    /// time failed. Returns how many.
    pub fn bury_older(&self, cutoff: u64, error: &str, now_ms: u64) -> Result<u64> {
        let below = self.first_pos_after(cutoff)?;
        let batch = (MAX_BATCH_EVENTS as u64, BATCH_BUDGET as u64);
        let mut buried = 0;
        while let Some(head) = self.head(batch, below)? {
            self.move_to_dead(
                (head.first, head.last, head.end),
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
            "SELECT SUM(n) AS n FROM webhook_outbox WHERE pos < ?",
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
    /// rows whose `data_lo..=data_hi` holds `seq` (its events are looked at, and the row
    /// rewritten only if one is about `seq`), and `webhook_dead_data` for the dead batches.
    pub fn erase_message(&self, seq: u64) -> Result<()> {
        if !self.exists()? {
            return Ok(());
        }
        let outbox = format!(
            "UPDATE webhook_outbox SET events = {}
             WHERE data_hi IS NOT NULL AND data_hi >= ?1 AND data_lo <= ?1 AND {}",
            rewritten(ABOUT, ERASED),
            any_of(ABOUT)
        );
        self.sql.exec(&outbox, vec![int(seq)])?;
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
        let outbox = format!(
            "UPDATE webhook_outbox SET events = {} WHERE {}",
            rewritten(BY_USER, UNLINKED),
            any_of(BY_USER)
        );
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

/// A row's events (`webhook_outbox.events`) as a table of `key` (their order) and `event`.
const ROW_EVENTS: &str =
    "(SELECT key, value AS event FROM json_each('[' || webhook_outbox.events || ']'))";

/// A row's events rewritten: those that match `which` become `into`, the others stay as
/// they are (each as SQLite renders it: the same text, as our JSON is compact).
fn rewritten(which: &str, into: &str) -> String {
    format!(
        "(SELECT group_concat(CASE WHEN {which} THEN {into} ELSE event END, ',' ORDER BY key)
          FROM {ROW_EVENTS})"
    )
}

/// Whether any of a row's events matches `which`.
fn any_of(which: &str) -> String {
    format!("EXISTS (SELECT 1 FROM {ROW_EVENTS} WHERE {which})")
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
