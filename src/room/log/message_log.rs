//! The room log's rules, free of storage: what a log must offer the room, retention, resume
//! gaps. History pages are [`super::history_page`]'s.
//!
//! Every published message gets the next sequence number of its room (gapless, strictly
//! increasing) and is appended to the log **before** it is broadcast. The log stores each
//! message's final frame text, so a resume or a history page replays exactly what live
//! clients received, without re-serialising anything.

/// One message to append. `frame` is the complete `message` frame, `seq` included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogEntry<'a> {
    pub seq: u64,
    pub ts: u64,
    /// The publishing user, `None` for server posts.
    pub user_id: Option<&'a str>,
    /// The publisher's message id, the key of idempotent retries (with `user_id`).
    pub client_id: Option<&'a str>,
    pub frame: &'a str,
    /// `None` for a message; for an event (`edit`, `delete`, `react`), the message it changes.
    /// Events have seqs like messages but are not messages: they are not counted as unread,
    /// and their ids are a namespace of their own.
    pub target: Option<u64>,
}

/// Why the log could not do what was asked. The detail is for the operator's log; clients
/// are only ever told that storage failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogError {
    /// The storage layer refused (its own error text).
    Storage(String),
    /// An append conflicted with a stored message that could then not be read back.
    ConflictVanished,
}

impl std::fmt::Display for LogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogError::Storage(e) => write!(f, "storage failed: {e}"),
            LogError::ConflictVanished => f.write_str("conflicting message vanished"),
        }
    }
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Stored under the entry's `seq`.
    Stored,
    /// The same user already published this `client_id` (still retained) as `seq`: nothing
    /// was stored; the retry is acknowledged with the original seq.
    Duplicate(u64),
}

/// The room's durable log, as the room needs it. The Durable Object implements it on SQLite;
/// tests implement it in memory.
pub trait MessageLog {
    /// The latest seq ever assigned in this room (0 before the first message). Never decreases,
    /// even when every message has been trimmed.
    fn last_seq(&self) -> u64;
    /// The oldest retained seq, `None` when nothing is retained.
    fn first_seq(&self) -> Option<u64>;
    /// Appends `entry` (whose seq must be `last_seq() + 1`) unless it is a duplicate.
    fn append(&mut self, entry: LogEntry<'_>) -> Result<Appended, LogError>;
    /// Calls `each` with the frame of every retained message with seq > `after`, in order.
    /// The seqs and frame lengths (bytes) of the newest retained messages with seq > `after`,
    /// newest first, at most `max` of them: what a resume would replay, without reading a frame.
    fn newest_lengths(&self, after: u64, max: u64) -> Result<Vec<(u64, usize)>, LogError>;
    /// The frames of at most `limit` retained messages with seq >= `from`, oldest first.
    fn read_from(&self, from: u64, limit: usize) -> Result<Vec<(u64, String)>, LogError>;
}

/// What a resume after `since` sends, besides the messages themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayPlan {
    /// The first seq to replay (the replay runs through the room's latest), if any.
    pub from: Option<u64>,
    /// Retained messages left out by the replay limits: `from ..= to`, for the client to read
    /// over HTTP.
    pub limited: Option<(u64, u64)>,
}

/// Plans a resume after `since` from the newest retained messages (newest first, as
/// [`MessageLog::newest_lengths`] gives them, already capped at `REPLAY_MAX_MESSAGES`): it
/// replays the newest that fit in `max_bytes`, and names the retained ones it leaves out
/// (`first` is the oldest retained seq; what was trimmed before it is a gap of its own).
pub fn plan_replay(
    since: u64,
    first: Option<u64>,
    newest: &[(u64, usize)],
    max_bytes: u64,
) -> ReplayPlan {
    let mut bytes = 0u64;
    let mut from = None;
    for &(seq, len) in newest {
        bytes += len as u64;
        if bytes > max_bytes && from.is_some() {
            break;
        }
        from = Some(seq);
    }
    // Everything retained after `since` below `from` is left out (`newest` may hold fewer
    // messages than are retained: the count cap).
    let oldest = (since + 1).max(first.unwrap_or(0));
    let limited = from.filter(|&f| f > oldest).map(|f| (oldest, f - 1));
    ReplayPlan { from, limited }
}

/// Retention settings (`HISTORY_MAX_MESSAGES`, `HISTORY_MAX_AGE_DAYS`); 0 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retention {
    pub max_messages: u64,
    pub max_age_ms: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_messages: 10_000,
            max_age_ms: 30 * 24 * 3_600_000,
        }
    }
}

impl Retention {
    /// Count-based trimming runs in batches: only once the log holds more than
    /// `max_messages` plus a tenth (at least one message), and then it deletes down to
    /// `max_messages` in one statement. Returns the seq to delete through.
    pub fn count_trim(&self, first: Option<u64>, last: u64) -> Option<u64> {
        let first = first?;
        if self.max_messages == 0 {
            return None;
        }
        let held = last + 1 - first;
        let slack = (self.max_messages / 10).max(1);
        (held > self.max_messages + slack).then(|| last - self.max_messages)
    }

    /// The timestamp before which messages are expired at `now_ms` (age-based trimming).
    pub fn age_cutoff(&self, now_ms: u64) -> Option<u64> {
        (self.max_age_ms > 0).then(|| now_ms.saturating_sub(self.max_age_ms))
    }
}

/// The `gap` a client resuming after `since` must be told about: messages `since+1 ..= to`
/// were trimmed. `None` when everything after `since` is still retained.
pub fn resume_gap(since: u64, first: Option<u64>, last: u64) -> Option<(u64, u64)> {
    if since >= last {
        return None;
    }
    // Nothing retained at all: everything after `since` is gone.
    let first = first.unwrap_or(last + 1);
    (since + 1 < first).then(|| (since + 1, first - 1))
}

/// Where a room keeps its log (`HISTORY_STORAGE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HistoryStorage {
    /// SQLite in the room object: durable, resumable, with history (the default).
    #[default]
    Durable,
    /// Nothing is stored: seqs are counted in memory (and restart when the object is evicted),
    /// acks are immediate, resume and history have nothing to return. For benchmarks that
    /// isolate the cost of the durable write, and for rooms that must not keep messages.
    None,
}

/// The log of `HistoryStorage::None`: counters, and read cursors in memory.
#[derive(Debug, Default)]
pub struct NoLog {
    last: u64,
    /// Messages appended (events excluded).
    pub(crate) messages: u64,
    pub(crate) cursors: std::collections::HashMap<String, u64>,
}

impl MessageLog for NoLog {
    fn last_seq(&self) -> u64 {
        self.last
    }
    fn first_seq(&self) -> Option<u64> {
        None
    }
    fn append(&mut self, e: LogEntry<'_>) -> Result<Appended, LogError> {
        self.last = e.seq;
        self.messages += u64::from(e.target.is_none());
        Ok(Appended::Stored)
    }
    fn newest_lengths(&self, _after: u64, _max: u64) -> Result<Vec<(u64, usize)>, LogError> {
        Ok(Vec::new())
    }
    fn read_from(&self, _from: u64, _limit: usize) -> Result<Vec<(u64, String)>, LogError> {
        Ok(Vec::new())
    }
}

/// An in-memory [`MessageLog`], for tests of the room logic.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct MemoryLog {
    pub rows: Vec<(u64, Option<String>, Option<String>, String)>,
    pub last: u64,
    pub fail: bool,
    /// Read cursors by user (see [`crate::room::log::chat_log::ChatLog`]).
    pub cursors: std::collections::BTreeMap<String, u64>,
    /// The target of each event row (seq → message).
    pub targets: std::collections::BTreeMap<u64, u64>,
}

#[cfg(test)]
impl MessageLog for MemoryLog {
    fn last_seq(&self) -> u64 {
        self.last
    }
    fn first_seq(&self) -> Option<u64> {
        self.rows.first().map(|r| r.0)
    }
    fn append(&mut self, e: LogEntry<'_>) -> Result<Appended, LogError> {
        if self.fail {
            return Err(LogError::Storage("disk on fire".into()));
        }
        assert_eq!(e.seq, self.last + 1, "seq must be gapless");
        if let (Some(u), Some(c)) = (e.user_id, e.client_id) {
            // Messages and events are two namespaces of ids.
            let kind = |seq: &u64| self.targets.contains_key(seq);
            if let Some(r) = self.rows.iter().find(|r| {
                r.1.as_deref() == Some(u)
                    && r.2.as_deref() == Some(c)
                    && kind(&r.0) == e.target.is_some()
            }) {
                return Ok(Appended::Duplicate(r.0));
            }
        }
        if let Some(t) = e.target {
            self.targets.insert(e.seq, t);
        }
        self.rows.push((
            e.seq,
            e.user_id.map(str::to_owned),
            e.client_id.map(str::to_owned),
            e.frame.to_owned(),
        ));
        self.last = e.seq;
        Ok(Appended::Stored)
    }
    fn newest_lengths(&self, after: u64, max: u64) -> Result<Vec<(u64, usize)>, LogError> {
        let rows = self.rows.iter().rev().filter(|r| r.0 > after);
        Ok(rows.take(max as usize).map(|r| (r.0, r.3.len())).collect())
    }
    fn read_from(&self, from: u64, limit: usize) -> Result<Vec<(u64, String)>, LogError> {
        let rows = self.rows.iter().filter(|r| r.0 >= from).take(limit);
        Ok(rows.map(|r| (r.0, r.3.clone())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_trimming_is_batched() {
        let r = Retention {
            max_messages: 100,
            max_age_ms: 0,
        };
        assert_eq!(r.count_trim(None, 0), None);
        assert_eq!(r.count_trim(Some(1), 110), None, "within the slack");
        assert_eq!(r.count_trim(Some(1), 111), Some(11), "trim down to 100");
        let one = Retention {
            max_messages: 5,
            max_age_ms: 0,
        };
        assert_eq!(one.count_trim(Some(1), 6), None);
        assert_eq!(one.count_trim(Some(1), 7), Some(2));
        let unlimited = Retention {
            max_messages: 0,
            max_age_ms: 0,
        };
        assert_eq!(unlimited.count_trim(Some(1), 1_000_000), None);
        assert_eq!(unlimited.age_cutoff(5), None);
        assert_eq!(
            Retention::default().age_cutoff(u64::MAX),
            Some(u64::MAX - 2_592_000_000)
        );
    }

    #[test]
    fn a_replay_keeps_the_newest_that_fit_and_names_the_rest() {
        let newest = [(10, 100), (9, 100), (8, 100), (7, 100)];
        // Everything fits.
        assert_eq!(
            plan_replay(6, Some(1), &newest, 1_000),
            ReplayPlan {
                from: Some(7),
                limited: None
            }
        );
        // The byte cap keeps 9 and 10; 7-8 are left out.
        assert_eq!(
            plan_replay(6, Some(1), &newest, 250),
            ReplayPlan {
                from: Some(9),
                limited: Some((7, 8))
            }
        );
        // The count cap already cut the list: 2-6 are left out too ...
        assert_eq!(
            plan_replay(1, Some(1), &newest, 1_000).limited,
            Some((2, 6))
        );
        // ... but not what retention trimmed (a gap of its own): only 4-6.
        assert_eq!(
            plan_replay(1, Some(4), &newest, 1_000).limited,
            Some((4, 6))
        );
        // A single message over the byte cap is still replayed (never nothing but a gap).
        assert_eq!(plan_replay(9, Some(1), &[(10, 5_000)], 100).from, Some(10));
        let nothing = ReplayPlan {
            from: None,
            limited: None,
        };
        assert_eq!(plan_replay(10, Some(1), &[], 100), nothing);
    }

    #[test]
    fn resume_gaps_name_exactly_the_trimmed_range() {
        assert_eq!(resume_gap(0, Some(1), 10), None);
        assert_eq!(resume_gap(3, Some(1), 10), None);
        assert_eq!(resume_gap(0, Some(6), 10), Some((1, 5)));
        assert_eq!(resume_gap(4, Some(6), 10), Some((5, 5)));
        assert_eq!(resume_gap(5, Some(6), 10), None);
        assert_eq!(resume_gap(10, Some(6), 10), None, "up to date");
        assert_eq!(resume_gap(99, Some(6), 10), None, "ahead of the room");
        assert_eq!(resume_gap(2, None, 10), Some((3, 10)), "everything trimmed");
        assert_eq!(resume_gap(0, None, 0), None, "empty room");
    }
}
