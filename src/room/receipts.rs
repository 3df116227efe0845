//! Read cursors and receipts. `{"type":"read","seq":S}` moves the user's cursor in this room
//! to max(old, S) (S beyond the room's latest seq is `bad_frame`). A turn's reads are settled
//! at its end ([`Room::end_turn`]): each user's cursor is written once per turn, however many
//! reads came from however many of their connections, and the room gets one receipt
//! `{"type":"read","user_id":U,"seq":S}` per user per turn — the user's other connections
//! included, which is how a badge clears on the phone when the laptop reads. A read that does
//! not move the cursor changes nothing and sends nothing.

use super::{Action, Author, Recipients, Room};
use crate::common::error::ErrorCode;
use crate::protocol::{error_frame, ServerFrame};
use crate::room::log::chat_log::{ChatLog, ReadPosition};
use crate::room::log::message_log::LogError;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Default)]
pub struct Receipts {
    /// This turn's cursor moves, per user.
    pending: BTreeMap<String, PendingRead>,
    /// Cursors known in memory (`None`: the user has none here): read when the user connects,
    /// or on first need after a wake; forgotten when the user leaves.
    known: HashMap<String, Option<u64>>,
}

/// A user's cursor move in this turn: the highest seq read, and every `read` that asked to move
/// the cursor (connection, frame id) — each hears of it, with its id, if the write fails.
#[derive(Debug, Default)]
struct PendingRead {
    seq: u64,
    askers: Vec<(String, Option<String>)>,
}

impl Receipts {
    pub(super) fn forget(&mut self, user: &str) {
        self.known.remove(user);
    }

    pub(super) fn learn(&mut self, user: &str, cursor: Option<u64>) {
        self.known.insert(user.to_owned(), cursor);
    }
}

impl<H> Room<H> {
    /// The user's read position, remembered for the rest of the wake (a `welcome`).
    pub(super) fn read_position(
        &mut self,
        user: &str,
        log: &dyn ChatLog,
    ) -> Result<ReadPosition, LogError> {
        let pos = log.read_position(user)?;
        self.receipts.learn(user, pos.cursor);
        Ok(pos)
    }

    fn cursor_of(&mut self, user: &str, log: &dyn ChatLog) -> Result<Option<u64>, LogError> {
        if let Some(&known) = self.receipts.known.get(user) {
            return Ok(known);
        }
        Ok(self.read_position(user, log)?.cursor)
    }

    pub(super) fn read(
        &mut self,
        from: Author<'_>,
        seq: u64,
        id: Option<&str>,
        log: &dyn ChatLog,
    ) -> Vec<Action> {
        let me = || Recipients::One(from.connection_id.to_owned());
        if seq > log.last_seq() {
            let message = "`seq` is beyond the room's latest seq";
            return vec![Action::send(
                me(),
                error_frame(ErrorCode::BadFrame, message, id),
            )];
        }
        let cursor = match self.cursor_of(from.user_id, log) {
            Ok(c) => c,
            Err(e) => {
                let detail = format!("a read cursor could not be read: {e}");
                return vec![Action::internal_error(from.connection_id, id, detail)];
            }
        };
        if seq <= cursor.unwrap_or(0) {
            return Vec::new();
        }
        let pending = self.receipts.pending.entry(from.user_id.to_owned());
        let pending = pending.or_default();
        pending.seq = pending.seq.max(seq);
        let asker = (from.connection_id.to_owned(), id.map(str::to_owned));
        pending.askers.push(asker);
        Vec::new()
    }

    /// A message of `user` was stored: their unread count elsewhere (`GET /me/unread`) must
    /// learn it, when they have a cursor here.
    pub(super) fn own_message(&mut self, user: &str, log: &dyn ChatLog) -> Vec<Action> {
        match self.cursor_of(user, log) {
            Ok(Some(_)) => vec![Action::ReadStateChanged {
                user_id: user.to_owned(),
            }],
            _ => Vec::new(),
        }
    }

    /// The end of a turn: each user's cursor move is written once and announced once.
    pub fn end_turn(&mut self, log: &mut dyn ChatLog) -> Vec<Action> {
        let mut actions = Vec::new();
        for (user, PendingRead { seq, askers }) in std::mem::take(&mut self.receipts.pending) {
            if let Err(e) = log.save_cursor(&user, seq) {
                for (connection_id, id) in askers {
                    let detail = format!("a read cursor could not be stored: {e}");
                    actions.push(Action::internal_error(
                        &connection_id,
                        id.as_deref(),
                        detail,
                    ));
                }
                continue;
            }
            self.receipts.learn(&user, Some(seq));
            let receipt = ServerFrame::Read {
                user_id: &user,
                seq,
            }
            .to_json();
            actions.push(Action::send(Recipients::AllExcept(None), receipt));
            actions.push(Action::ReadStateChanged { user_id: user });
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use crate::room::log::chat_log::ChatLog;
    use crate::room::log::message_log::MemoryLog;
    use crate::room::test_support::*;
    use crate::room::*;
    use serde_json::json;

    fn publish(r: &mut Room<String>, log: &mut MemoryLog, c: &str, n: u32) {
        for i in 0..n {
            send_logged(r, log, c, &format!(r#"{{"type":"publish","data":{i}}}"#));
        }
    }

    #[test]
    fn reads_are_written_and_announced_once_per_user_per_turn() {
        let mut r = room();
        let mut log = MemoryLog::default();
        open(&mut r, "a1", "alice");
        open(&mut r, "a2", "alice");
        open(&mut r, "b1", "bob");
        publish(&mut r, &mut log, "b1", 5);
        for (c, s) in [("a1", 2), ("a2", 4), ("a1", 3)] {
            let acts = r.receive(
                c,
                Incoming::Text(&format!(r#"{{"type":"read","seq":{s}}}"#)),
                0,
                &mut log,
            );
            assert!(acts.is_empty(), "settled at the end of the turn");
        }
        assert!(log.cursors.is_empty());
        let acts = r.end_turn(&mut log);
        assert_eq!(log.cursors.get("alice"), Some(&4));
        let d = deliveries(&r, &acts);
        assert_eq!(
            d.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            ["a1", "a2", "b1"],
            "the user's other connections too"
        );
        assert!(d
            .iter()
            .all(|x| x.1 == json!({"type":"read","user_id":"alice","seq":4})));
        assert!(acts.contains(&Action::ReadStateChanged {
            user_id: "alice".into()
        }));
        assert!(r.end_turn(&mut log).is_empty(), "nothing pending");
        // Not moving the cursor: nothing.
        r.receive(
            "a1",
            Incoming::Text(r#"{"type":"read","seq":4}"#),
            0,
            &mut log,
        );
        r.receive(
            "a2",
            Incoming::Text(r#"{"type":"read","seq":1}"#),
            0,
            &mut log,
        );
        assert!(r.end_turn(&mut log).is_empty());
        // Beyond the room's latest seq: bad_frame, nothing stored.
        let acts = r.receive(
            "a1",
            Incoming::Text(r#"{"type":"read","seq":6,"id":"r9"}"#),
            0,
            &mut log,
        );
        let d = deliveries(&r, &acts);
        assert_eq!(
            (
                d[0].0.as_str(),
                d[0].1["code"].clone(),
                d[0].1["id"].clone()
            ),
            ("a1", json!("bad_frame"), json!("r9"))
        );
        assert!(r.end_turn(&mut log).is_empty());
    }

    #[test]
    fn the_welcome_carries_the_cursor_and_the_unread_count() {
        let mut r = room();
        let mut log = MemoryLog::default();
        open(&mut r, "b1", "bob");
        open(&mut r, "a1", "alice");
        publish(&mut r, &mut log, "b1", 3);
        publish(&mut r, &mut log, "a1", 1);
        let welcome = |r: &mut Room<String>, log: &MemoryLog, c: &str, u: &str| {
            let acts = open_with(r, c, u, 0, None, log);
            deliveries(r, &acts)
                .into_iter()
                .find(|x| x.0 == c)
                .unwrap()
                .1
        };
        let w = welcome(&mut r, &log, "a9", "alice");
        assert_eq!(
            (w["read_seq"].clone(), w["unread"].clone()),
            (json!(0), json!(3))
        );
        log.save_cursor("alice", 2).unwrap();
        let w = welcome(&mut r, &log, "a8", "alice");
        assert_eq!(
            (w["read_seq"].clone(), w["unread"].clone()),
            (json!(2), json!(1)),
            "3 is unread, 4 is alice's"
        );
        let w = welcome(&mut r, &log, "c1", "carol");
        assert_eq!(
            (w["read_seq"].clone(), w["unread"].clone()),
            (json!(0), json!(4))
        );
    }

    #[test]
    fn own_messages_are_reported_only_for_users_with_a_cursor() {
        let mut r = room();
        let mut log = MemoryLog::default();
        open(&mut r, "a1", "alice");
        let acts = r.receive(
            "a1",
            Incoming::Text(r#"{"type":"publish","data":1}"#),
            0,
            &mut log,
        );
        assert!(!acts
            .iter()
            .any(|a| matches!(a, Action::ReadStateChanged { .. })));
        r.receive(
            "a1",
            Incoming::Text(r#"{"type":"read","seq":1}"#),
            0,
            &mut log,
        );
        r.end_turn(&mut log);
        let acts = r.receive(
            "a1",
            Incoming::Text(r#"{"type":"publish","data":2}"#),
            0,
            &mut log,
        );
        assert!(acts.contains(&Action::ReadStateChanged {
            user_id: "alice".into()
        }));
    }

    #[test]
    fn a_failed_cursor_write_is_an_internal_error_for_every_reader_with_its_id() {
        let mut r = room();
        let mut log = MemoryLog::default();
        open(&mut r, "a1", "alice");
        open(&mut r, "a2", "alice");
        publish(&mut r, &mut log, "a1", 2);
        for (c, frame) in [
            ("a1", r#"{"type":"read","seq":1,"id":"r1"}"#),
            ("a2", r#"{"type":"read","seq":2,"id":"r2"}"#),
        ] {
            r.receive(c, Incoming::Text(frame), 0, &mut log);
        }
        log.fail = true;
        let failed: Vec<(String, Option<String>)> = r
            .end_turn(&mut log)
            .into_iter()
            .map(|a| match a {
                Action::InternalError {
                    connection_id, id, ..
                } => (connection_id, id),
                other => panic!("only internal errors, not {other:?}"),
            })
            .collect();
        let each = |c: &str, id: &str| (c.to_owned(), Some(id.to_owned()));
        assert_eq!(failed, [each("a1", "r1"), each("a2", "r2")]);
    }
}
