//! The room's log in its SQLite storage ([`crate::room::log`] says what it must do): messages
//! ([`message_log`]), the chat extensions' events and cursors ([`chat_log`]), and the log a
//! room uses ([`RoomLog`]), as `HISTORY_STORAGE` configures it.

pub mod chat_log;
mod history_page;
pub mod message_log;

use crate::common::config::Config;
use crate::room::log::chat_log::{ChatLog, ReadPosition, Stored};
use crate::room::log::history_page::HistoryQuery;
use crate::room::log::message_log::{
    Appended, HistoryStorage, LogEntry, LogError, MessageLog, NoLog,
};
use crate::shell::common::sql::Sql;
use message_log::SqliteLog;
use worker::Result;

type LogResult<T> = std::result::Result<T, LogError>;

/// The log a room uses, as configured by `HISTORY_STORAGE`.
pub enum RoomLog {
    Durable(SqliteLog),
    None(NoLog),
}

impl RoomLog {
    pub fn open(sql: Sql, config: &Config) -> Result<Self> {
        Ok(match config.history_storage {
            HistoryStorage::Durable => RoomLog::Durable(SqliteLog::open(sql, config.retention)?),
            HistoryStorage::None => RoomLog::None(NoLog::default()),
        })
    }

    /// The one place that picks the log: every trait method below goes through it.
    fn inner(&self) -> &dyn ChatLog {
        match self {
            RoomLog::Durable(l) => l,
            RoomLog::None(l) => l,
        }
    }

    fn inner_mut(&mut self) -> &mut dyn ChatLog {
        match self {
            RoomLog::Durable(l) => l,
            RoomLog::None(l) => l,
        }
    }

    /// Whether cursors and counts survive the object (`HISTORY_STORAGE=durable`): only then are
    /// they reported to the registry for `GET /me/unread`.
    pub fn is_durable(&self) -> bool {
        matches!(self, RoomLog::Durable(_))
    }

    pub fn trim_expired(&mut self, now_ms: u64) -> Result<Option<u64>> {
        match self {
            RoomLog::Durable(l) => l.trim_expired(now_ms),
            RoomLog::None(_) => Ok(None),
        }
    }

    /// One page of history (frame texts in page order) and the next page's cursor, at most
    /// `max_bytes` of frames on it (`HISTORY_PAGE_MAX_BYTES`).
    pub fn page(&self, q: HistoryQuery, max_bytes: usize) -> Result<(Vec<String>, Option<u64>)> {
        match self {
            RoomLog::Durable(l) => l.page(q, max_bytes),
            RoomLog::None(_) => Ok((Vec::new(), None)),
        }
    }
}

impl MessageLog for RoomLog {
    fn last_seq(&self) -> u64 {
        self.inner().last_seq()
    }
    fn first_seq(&self) -> Option<u64> {
        self.inner().first_seq()
    }
    fn append(&mut self, entry: LogEntry<'_>) -> LogResult<Appended> {
        self.inner_mut().append(entry)
    }
    fn newest_lengths(&self, after: u64, max: u64) -> LogResult<Vec<(u64, usize)>> {
        self.inner().newest_lengths(after, max)
    }
    fn read_from(&self, from: u64, limit: usize) -> LogResult<Vec<(u64, String)>> {
        self.inner().read_from(from, limit)
    }
}

impl ChatLog for RoomLog {
    fn message_count(&self) -> u64 {
        self.inner().message_count()
    }
    fn stored(&self, seq: u64) -> LogResult<Option<Stored>> {
        self.inner().stored(seq)
    }
    fn rewrite(&mut self, seq: u64, frame: &str) -> LogResult<()> {
        self.inner_mut().rewrite(seq, frame)
    }
    fn events_of(&self, target: u64) -> LogResult<Vec<(u64, String)>> {
        self.inner().events_of(target)
    }
    fn event_by_id(&self, user: &str, id: &str) -> LogResult<Option<u64>> {
        self.inner().event_by_id(user, id)
    }
    fn read_position(&self, user: &str) -> LogResult<ReadPosition> {
        self.inner().read_position(user)
    }
    fn save_cursor(&mut self, user: &str, seq: u64) -> LogResult<()> {
        self.inner_mut().save_cursor(user, seq)
    }
    fn authored(&self, user: &str, limit: usize) -> LogResult<Vec<u64>> {
        self.inner().authored(user, limit)
    }
    fn reacted(&self, user: &str) -> LogResult<Vec<u64>> {
        self.inner().reacted(user)
    }
    fn forget(&mut self, user: &str) -> LogResult<()> {
        self.inner_mut().forget(user)
    }
}
