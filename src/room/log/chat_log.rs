//! What edits, deletions, reactions and read cursors need from the room's storage, beyond the
//! log of [`MessageLog`]: one row read back and rewritten, the events of a message, and each
//! user's read cursor with the unread count it implies.
//!
//! Unread counts are counted, never stored per user: every message row carries its ordinal
//! `n` among the room's messages (events have none), so for a user whose cursor is at seq `S`,
//!
//! ```text
//! unread = messages − n(S) − own(S)
//! ```
//!
//! where `messages` is the room's message count, `n(S)` the ordinal of the newest message at or
//! before `S` and `own(S)` the user's own retained messages after `S`. The SQLite log answers
//! that with one indexed statement (`src/shell/room/log/chat_log.rs`); nothing is written when a message
//! is published beyond the message itself.

use crate::room::log::message_log::{LogError, MessageLog, NoLog};

/// One row of the log, as edits and reactions read it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The author of a message (`None`: a server post, or an event).
    pub user_id: Option<String>,
    pub frame: String,
}

/// A user's read position in the room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadPosition {
    /// The user's read cursor (`None`: never read here).
    pub cursor: Option<u64>,
    /// Messages after the cursor (after 0 when there is none) not sent by the user.
    pub unread: u64,
}

/// The room's storage as the chat extensions use it (see the module doc).
pub trait ChatLog: MessageLog {
    /// How many messages were ever appended (events excluded); never decreases.
    fn message_count(&self) -> u64;
    /// The row of `seq`, if retained.
    fn stored(&self, seq: u64) -> Result<Option<Stored>, LogError>;
    /// Replaces the frame stored for `seq` (a message's new state, an event's erased data).
    fn rewrite(&mut self, seq: u64, frame: &str) -> Result<(), LogError>;
    /// The events (seq, frame) whose target is message `target`, oldest first.
    fn events_of(&self, target: u64) -> Result<Vec<(u64, String)>, LogError>;
    /// The seq of `user`'s event with id `id`, if it is retained (an idempotent retry).
    fn event_by_id(&self, user: &str, id: &str) -> Result<Option<u64>, LogError>;
    /// `user`'s cursor and unread count.
    fn read_position(&self, user: &str) -> Result<ReadPosition, LogError>;
    /// Moves `user`'s cursor to `seq`, unless it is already there or beyond.
    fn save_cursor(&mut self, user: &str, seq: u64) -> Result<(), LogError>;
    /// The seqs of the first `limit` retained messages `user` sent that are not deleted,
    /// oldest first (an erasure). A log that retains nothing has none.
    fn authored(&self, _user: &str, _limit: usize) -> Result<Vec<u64>, LogError> {
        Ok(Vec::new())
    }
    /// The messages `user` reacted to (an erasure).
    fn reacted(&self, _user: &str) -> Result<Vec<u64>, LogError> {
        Ok(Vec::new())
    }
    /// Removes `user` from the log (an erasure, after their messages were deleted): their read
    /// cursor, and their id on their messages and events (`from` becomes `{"erased":true}`).
    fn forget(&mut self, user: &str) -> Result<(), LogError>;
}

/// `HISTORY_STORAGE=none`: nothing is retained, so there is nothing to edit; cursors live in
/// memory (lost when the object is evicted) and every message counts as unread.
impl ChatLog for NoLog {
    fn message_count(&self) -> u64 {
        self.messages
    }
    fn stored(&self, _seq: u64) -> Result<Option<Stored>, LogError> {
        Ok(None)
    }
    fn rewrite(&mut self, _seq: u64, _frame: &str) -> Result<(), LogError> {
        Ok(())
    }
    fn events_of(&self, _target: u64) -> Result<Vec<(u64, String)>, LogError> {
        Ok(Vec::new())
    }
    fn event_by_id(&self, _user: &str, _id: &str) -> Result<Option<u64>, LogError> {
        Ok(None)
    }
    fn read_position(&self, user: &str) -> Result<ReadPosition, LogError> {
        // A message no longer retained counts as read (as retention's trimmed messages do in a
        // durable log): this log retains none, so nothing is ever unread.
        let cursor = self.cursors.get(user).copied();
        Ok(ReadPosition { cursor, unread: 0 })
    }
    fn save_cursor(&mut self, user: &str, seq: u64) -> Result<(), LogError> {
        let c = self.cursors.entry(user.to_owned()).or_default();
        *c = (*c).max(seq);
        Ok(())
    }
    fn forget(&mut self, user: &str) -> Result<(), LogError> {
        self.cursors.remove(user);
        Ok(())
    }
}

#[cfg(test)]
mod memory {
    use super::*;
    use crate::room::log::message_log::MemoryLog;

    impl MemoryLog {
        fn is_message(&self, seq: u64) -> bool {
            !self.targets.contains_key(&seq)
        }

        /// The ordinal among messages of the newest message at or before `seq`.
        fn ordinal_at(&self, seq: u64) -> u64 {
            let trimmed = self.rows.first().map_or(self.last, |r| r.0 - 1);
            let retained = self
                .rows
                .iter()
                .filter(|r| r.0 <= seq && self.is_message(r.0));
            // Tests trim only messages, so seqs before the first retained one were messages.
            trimmed.min(seq) + retained.count() as u64
        }
    }

    impl ChatLog for MemoryLog {
        fn message_count(&self) -> u64 {
            self.ordinal_at(self.last)
        }
        fn stored(&self, seq: u64) -> Result<Option<Stored>, LogError> {
            let row = self.rows.iter().find(|r| r.0 == seq);
            Ok(row.map(|r| Stored {
                user_id: r.1.clone().filter(|_| self.is_message(seq)),
                frame: r.3.clone(),
            }))
        }
        fn rewrite(&mut self, seq: u64, frame: &str) -> Result<(), LogError> {
            if self.fail {
                return Err(LogError::Storage("disk on fire".into()));
            }
            if let Some(r) = self.rows.iter_mut().find(|r| r.0 == seq) {
                r.3 = frame.to_owned();
            }
            Ok(())
        }
        fn events_of(&self, target: u64) -> Result<Vec<(u64, String)>, LogError> {
            let rows = self.rows.iter();
            let of = rows.filter(|r| self.targets.get(&r.0) == Some(&target));
            Ok(of.map(|r| (r.0, r.3.clone())).collect())
        }
        fn event_by_id(&self, user: &str, id: &str) -> Result<Option<u64>, LogError> {
            let mut rows = self.rows.iter().filter(|r| !self.is_message(r.0));
            let found = rows.find(|r| r.1.as_deref() == Some(user) && r.2.as_deref() == Some(id));
            Ok(found.map(|r| r.0))
        }
        fn read_position(&self, user: &str) -> Result<ReadPosition, LogError> {
            let cursor = self.cursors.get(user).copied();
            let at = cursor.unwrap_or(0);
            let own = self
                .rows
                .iter()
                .filter(|r| r.0 > at && self.is_message(r.0) && r.1.as_deref() == Some(user));
            let unread = self.message_count() - self.ordinal_at(at) - own.count() as u64;
            Ok(ReadPosition { cursor, unread })
        }
        fn save_cursor(&mut self, user: &str, seq: u64) -> Result<(), LogError> {
            if self.fail {
                return Err(LogError::Storage("disk on fire".into()));
            }
            let c = self.cursors.entry(user.to_owned()).or_default();
            *c = (*c).max(seq);
            Ok(())
        }
        fn authored(&self, user: &str, limit: usize) -> Result<Vec<u64>, LogError> {
            let mine = self.rows.iter().filter(|r| r.1.as_deref() == Some(user));
            let live = mine.filter(|r| self.is_message(r.0) && !r.3.contains(r#""deleted":true"#));
            Ok(live.map(|r| r.0).take(limit).collect())
        }
        fn reacted(&self, user: &str) -> Result<Vec<u64>, LogError> {
            let events = self.rows.iter().filter(|r| !self.is_message(r.0));
            let mine = events.filter(|r| r.1.as_deref() == Some(user) && r.3.contains("react"));
            Ok(mine
                .filter_map(|r| self.targets.get(&r.0).copied())
                .collect())
        }
        fn forget(&mut self, user: &str) -> Result<(), LogError> {
            self.cursors.remove(user);
            for r in self
                .rows
                .iter_mut()
                .filter(|r| r.1.as_deref() == Some(user))
            {
                r.1 = None;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room::log::message_log::{LogEntry, MemoryLog};

    fn append(log: &mut MemoryLog, user: Option<&str>, target: Option<u64>) -> u64 {
        let seq = log.last_seq() + 1;
        let entry = LogEntry {
            seq,
            ts: 0,
            user_id: user,
            client_id: None,
            frame: "{}",
            target,
        };
        log.append(entry).unwrap();
        seq
    }

    #[test]
    fn unread_counts_messages_after_the_cursor_not_sent_by_the_user() {
        let mut log = MemoryLog::default();
        append(&mut log, Some("a"), None); // 1
        append(&mut log, Some("b"), None); // 2
        append(&mut log, None, None); // 3: a server post
        append(&mut log, Some("b"), Some(2)); // 4: an event
        append(&mut log, Some("a"), None); // 5
        assert_eq!(log.message_count(), 4);
        let pos = |log: &MemoryLog, u| log.read_position(u).unwrap();
        assert_eq!(
            pos(&log, "a"),
            ReadPosition {
                cursor: None,
                unread: 2
            }
        );
        assert_eq!(pos(&log, "b").unread, 3);
        log.save_cursor("a", 2).unwrap();
        assert_eq!(
            pos(&log, "a"),
            ReadPosition {
                cursor: Some(2),
                unread: 1
            }
        );
        log.save_cursor("a", 1).unwrap();
        assert_eq!(pos(&log, "a").cursor, Some(2), "a cursor never moves back");
        log.save_cursor("a", 5).unwrap();
        assert_eq!(pos(&log, "a").unread, 0);
        log.save_cursor("b", 4).unwrap();
        assert_eq!(pos(&log, "b").unread, 1, "an event is not a message");
    }

    #[test]
    fn without_storage_cursors_live_in_memory_and_nothing_is_unread() {
        let mut log = NoLog::default();
        for target in [None, Some(1), None] {
            let seq = log.last_seq() + 1;
            let frame = "{}";
            let e = LogEntry {
                seq,
                ts: 0,
                user_id: None,
                client_id: None,
                frame,
                target,
            };
            log.append(e).unwrap();
        }
        assert_eq!(log.message_count(), 2);
        let nothing_retained = ReadPosition {
            cursor: None,
            unread: 0,
        };
        assert_eq!(log.read_position("u").unwrap(), nothing_retained);
        log.save_cursor("u", 1).unwrap();
        assert_eq!(
            log.read_position("u").unwrap(),
            ReadPosition {
                cursor: Some(1),
                unread: 0
            }
        );
    }
}
