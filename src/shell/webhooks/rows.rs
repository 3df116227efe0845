//! The outbox's head, across its rows (one per turn, [`crate::webhooks::take`]'s module has
//! why): reading the oldest events for one step — a POST, a backlog move, a burial — and
//! cutting them off once they are delivered or dead. A step may end inside a row: that row
//! keeps the rest of its events, and how many it lost (`skip`), so that a step read before a
//! change (an erasure, a move) still names exactly its events.

use super::schema::DATA_OF_JSON;
use super::store::{pos, OutboxStore};
use crate::shell::common::sql::int;
use crate::webhooks::{join_into, prefix_len, split, take, Backlog, DeadReason, RowEvents};
use serde::Deserialize;
use worker::Result;

/// The oldest events, for one step: rows `first..last` whole and row `last`'s events whose
/// recorded index is below `end` ([`crate::webhooks::Cut`]).
pub(super) struct Head {
    pub first: i64,
    pub last: i64,
    pub end: u64,
    /// Their texts, joined with commas (a POST body's list, a dead batch's array).
    pub text: String,
    pub size: Backlog,
}

#[derive(Deserialize)]
struct Row {
    pos: f64,
    skip: f64,
    at: f64,
    events: String,
}

/// A row of [`HEAD_ROWS`]: [`Row`] and its sizes.
#[derive(Deserialize)]
struct Sized {
    pos: f64,
    skip: f64,
    n: f64,
    len: f64,
    events: String,
}

/// The rows a step of at most `?2` events and `?3` bytes (counting a comma each) may reach,
/// below `pos` `?1`: those with fewer events and bytes than that before them. The running
/// totals read the rows' lengths only; only the chosen rows' texts are read.
const HEAD_ROWS: &str = "SELECT pos, skip, n, length(CAST(events AS BLOB)) AS len, events
    FROM webhook_outbox WHERE pos IN (
      SELECT pos FROM (
        SELECT pos, SUM(n) OVER w - n AS n_before, SUM(len + 1) OVER w - (len + 1) AS b_before
        FROM (SELECT pos, n, length(CAST(events AS BLOB)) AS len FROM webhook_outbox
              WHERE pos < ?1 ORDER BY pos LIMIT ?2)
        WINDOW w AS (ORDER BY pos ROWS UNBOUNDED PRECEDING))
      WHERE n_before = 0 OR (n_before < ?2 AND b_before < ?3))
    ORDER BY pos";

impl OutboxStore {
    /// The oldest events below `pos` `below` that one step takes (`(events, budget)`, as
    /// [`take`]), or `None` when none wait there.
    pub(super) fn head(&self, limit: (u64, u64), below: i64) -> Result<Option<Head>> {
        let args = vec![pos(below), int(limit.0), int(limit.1)];
        let rows: Vec<Sized> = self.sql.exec(HEAD_ROWS, args)?.to_array()?;
        let view: Vec<RowEvents> = rows
            .iter()
            .map(|r| RowEvents {
                skip: r.skip as u64,
                n: r.n as u64,
                len: r.len as u64,
            })
            .collect();
        let lengths = |i: usize| split(&rows[i].events).iter().map(|e| e.len()).collect();
        let Some(cut) = take(&view, limit, lengths) else {
            return Ok(None);
        };
        let mut text = String::with_capacity((cut.size.bytes + cut.size.events) as usize);
        for (row, seen) in rows.iter().zip(&view).take(cut.last) {
            if seen.n > 0 {
                join_into(&mut text, [row.events.as_str()]);
            }
        }
        // The row it ends in: its first events, which `take` measured (no second split).
        let last = &rows[cut.last];
        join_into(
            &mut text,
            [last.events.get(..cut.tail as usize).unwrap_or(&last.events)],
        );
        Ok(Some(Head {
            first: rows[0].pos as i64,
            last: last.pos as i64,
            end: cut.end,
            text,
            size: cut.size,
        }))
    }

    /// The events of step `(first, last, end)` as they stand now — a deletion may have erased
    /// a message's data since the step was read, a move taken some — joined, and when the
    /// oldest of them was recorded. `None`: none of them is left.
    fn still_there(&self, (first, last, end): (i64, i64, u64)) -> Result<Option<(String, u64)>> {
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT pos, skip, at, events FROM webhook_outbox WHERE pos BETWEEN ? AND ?
                 ORDER BY pos",
                vec![pos(first), pos(last)],
            )?
            .to_array()?;
        let (mut text, mut first_at) = (String::new(), None::<u64>);
        for row in &rows {
            let list = split(&row.events);
            let n = match row.pos as i64 == last {
                true => (end.saturating_sub(row.skip as u64) as usize).min(list.len()),
                false => list.len(),
            };
            if n > 0 {
                join_into(&mut text, list[..n].iter().copied());
                first_at = Some(first_at.map_or(row.at as u64, |t| t.min(row.at as u64)));
            }
        }
        Ok(first_at.map(|at| (text, at)))
    }

    /// Cuts step `(first, last, end)` off the head: rows `first..last` go, and row `last`
    /// loses its events recorded below `end` (all of them: it goes). What is already gone is
    /// left alone, so a cut may be applied twice.
    pub(super) fn cut(&self, (first, last, end): (i64, i64, u64)) -> Result<()> {
        #[derive(Deserialize)]
        struct Last {
            skip: f64,
            n: f64,
            events: Option<String>,
        }
        self.sql.exec(
            "DELETE FROM webhook_outbox WHERE pos >= ? AND pos < ?",
            vec![pos(first), pos(last)],
        )?;
        let rows: Vec<Last> = self
            .sql
            .exec(
                "SELECT skip, n, CASE WHEN skip + n > ?2 THEN events END AS events
                 FROM webhook_outbox WHERE pos = ?1",
                vec![pos(last), int(end)],
            )?
            .to_array()?;
        let Some(row) = rows.into_iter().next() else {
            return Ok(());
        };
        let (skip, n) = (row.skip as u64, row.n as u64);
        let Some(text) = row.events.filter(|_| end > skip) else {
            if end >= skip + n {
                self.sql
                    .exec("DELETE FROM webhook_outbox WHERE pos = ?", vec![pos(last)])?;
            }
            return Ok(());
        };
        // Its first `end - skip` events go: the rest starts one comma after them.
        let gone = end - skip;
        let rest = text
            .get(prefix_len(&text, gone as usize) + 1..)
            .unwrap_or("");
        self.sql.exec(
            "UPDATE webhook_outbox SET events = ?, n = ?, skip = ? WHERE pos = ?",
            vec![rest.into(), int(n - gone), int(end), pos(last)],
        )?;
        Ok(())
    }

    /// Moves step `(first, last, end)` into one dead batch, as it stands now (nothing left:
    /// no empty batch is made), indexes the batch's message data, and cuts it off the head.
    pub(super) fn move_to_dead(
        &self,
        step: (i64, i64, u64),
        (attempts, reason): (u32, DeadReason),
        error: &str,
        now_ms: u64,
    ) -> Result<()> {
        let Some((text, first_at)) = self.still_there(step)? else {
            return Ok(());
        };
        self.sql.exec(
            "INSERT INTO webhook_dead(failed_at, attempts, error, reason, first_at, events)
             VALUES (?, ?, ?, ?, ?, ?)",
            vec![
                int(now_ms),
                int(u64::from(attempts)),
                error.into(),
                reason.name().into(),
                int(first_at),
                format!("[{text}]").into(),
            ],
        )?;
        self.sql.exec(
            &format!(
                "INSERT OR IGNORE INTO webhook_dead_data(data_of, batch)
                 SELECT data_of, batch FROM (SELECT {DATA_OF_JSON} AS data_of, batch
                   FROM (SELECT value AS event, batch FROM webhook_dead, json_each(webhook_dead.events)
                         WHERE batch = (SELECT MAX(batch) FROM webhook_dead)))
                 WHERE data_of IS NOT NULL"
            ),
            None,
        )?;
        self.cut(step)
    }
}
