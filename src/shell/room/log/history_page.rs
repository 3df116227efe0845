//! A history page read from the room's SQLite log ([`crate::room::log::history_page`] decides
//! where it stops).

use super::message_log::SqliteLog;
use crate::room::log::history_page::HistoryQuery;
use crate::shell::common::sql::int;
use worker::Result;

impl SqliteLog {
    /// One page of history, as stored frame texts, and the cursor of the next page. Two reads:
    /// the sizes of up to `limit + 1` frames past the cursor (SQLite measures them; nothing
    /// crosses into Wasm), then only the frames that fit in `max_bytes`. Both run in one
    /// synchronous step of the object, so no write lands between them.
    pub fn page(&self, q: HistoryQuery, max_bytes: usize) -> Result<(Vec<String>, Option<u64>)> {
        if !self.exists {
            return Ok((Vec::new(), None));
        }
        let (sizes, frames, cursor) = match q {
            HistoryQuery::Before { before, .. } => (
                "SELECT seq, length(CAST(frame AS BLOB)) AS len FROM log WHERE seq < ?
                 ORDER BY seq DESC LIMIT ?",
                "SELECT seq, frame FROM log WHERE seq < ? ORDER BY seq DESC LIMIT ?",
                before,
            ),
            HistoryQuery::Since { since, .. } => (
                "SELECT seq, length(CAST(frame AS BLOB)) AS len FROM log WHERE seq > ?
                 ORDER BY seq ASC LIMIT ?",
                "SELECT seq, frame FROM log WHERE seq > ? ORDER BY seq ASC LIMIT ?",
                since,
            ),
        };
        let sizes = self.seq_lengths(sizes, vec![int(cursor), int(u64::from(q.limit()) + 1)])?;
        let cut = q.cut(&sizes, max_bytes);
        if cut.take == 0 {
            return Ok((Vec::new(), None));
        }
        let rows = self.seq_frames(frames, vec![int(cursor), int(cut.take as u64)])?;
        Ok((rows.into_iter().map(|(_, frame)| frame).collect(), cut.next))
    }
}
