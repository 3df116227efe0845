//! A user erased from one room (`POST /users/{user}/erase`: the user's registry shard calls
//! each room the user authored in, see `src/shell/registry/erasure.rs`). What the room keeps of
//! them goes:
//!
//! - every message they sent is deleted the way `DELETE /rooms/{room}/messages/{seq}` deletes
//!   one ([`Room::server_delete`]): the log keeps the seq as `deleted` (seq order and
//!   gaplessness hold), the data of the message and of its edits is gone, the room is told
//!   with a `delete` frame, and copies waiting in the webhook outbox are erased
//!   ([`Action::MessageErased`]);
//! - their reactions are taken off the messages they reacted to;
//! - their id leaves the log ([`ChatLog::forget`]: `from` of their messages and events becomes
//!   `{"erased":true}`) and their read cursor is dropped.
//!
//! Bans and revocations keep the user id: they are moderation records, kept on purpose.

use super::{Action, Room};
use crate::room::log::chat_log::ChatLog;
use crate::room::log::message_log::LogError;
use crate::room::log::message_state::MessageState;

/// Most of a user's messages one call deletes: a user with more in the room takes several calls
/// (their shard calls again at once), so that no turn grows with the user's history.
pub const MESSAGES_PER_CALL: usize = 500;

/// What erasing a user from the room did.
#[derive(Debug, Default)]
pub struct Erased {
    /// The actions to carry out (deletions' frames, webhook events, erasures of their data).
    pub actions: Vec<Action>,
    /// How many of the user's messages were deleted now.
    pub messages: u64,
    /// Whether the user is gone from the room; `false`: more messages wait for the next call.
    pub done: bool,
}

impl<H> Room<H> {
    /// Erases `user` from this room's log (see the module doc), at most `limit` messages at a
    /// time: the reactions, the id and the cursor go with the call that finds no more.
    /// Idempotent: a second erasure finds nothing left.
    pub fn erase_user(
        &mut self,
        user: &str,
        now_ms: u64,
        limit: usize,
        log: &mut dyn ChatLog,
    ) -> Result<Erased, LogError> {
        let mut erased = Erased::default();
        let targets = log.authored(user, limit)?;
        let more = targets.len() >= limit;
        for target in targets {
            if let Some(deleted) = self.server_delete(target, now_ms, log)? {
                erased.messages += 1;
                erased.actions.push(deleted.send);
                erased.actions.extend(deleted.webhook);
                erased.actions.push(Action::MessageErased { target });
            }
        }
        // (A full page that deleted nothing cannot be deleted: go on rather than loop.)
        if more && erased.messages > 0 {
            return Ok(erased);
        }
        for target in log.reacted(user)? {
            unreact(user, target, log)?;
        }
        log.forget(user)?;
        self.receipts.forget(user);
        erased.actions.extend(self.end_hold(user));
        erased.done = true;
        Ok(erased)
    }
}

/// Takes `user` off every reaction of message `target` (its stored state only: the room is not
/// told, as nothing else about the message changed for its readers but the list).
fn unreact(user: &str, target: u64, log: &mut dyn ChatLog) -> Result<(), LogError> {
    let Some(row) = log.stored(target)? else {
        return Ok(());
    };
    let Ok(mut state) = MessageState::parse(&row.frame) else {
        return Ok(());
    };
    if state.forget_reactions_of(user) {
        if let Ok(frame) = state.to_frame() {
            log.rewrite(target, &frame)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::room::log::chat_log::ChatLog;
    use crate::room::log::message_log::MemoryLog;
    use crate::room::test_support::*;
    use crate::room::Action;
    use serde_json::{json, Value};

    fn stored(log: &MemoryLog, seq: u64) -> Value {
        serde_json::from_str(&log.stored(seq).unwrap().unwrap().frame).unwrap()
    }

    #[test]
    fn an_erased_user_leaves_deleted_messages_and_no_reaction_or_cursor() {
        let (mut r, mut log) = (room(), MemoryLog::default());
        open(&mut r, "a1", "alice");
        open(&mut r, "b1", "bob");
        let publish = |t: &str| format!(r#"{{"type":"publish","data":{{"t":"{t}"}}}}"#);
        send_logged(&mut r, &mut log, "a1", &publish("secret-1")); // 1
        send_logged(&mut r, &mut log, "b1", &publish("bob")); // 2
        send_logged(&mut r, &mut log, "a1", &publish("secret-2")); // 3
        let react = r#"{"type":"react","target":2,"emoji":"👍","on":true}"#;
        send_logged(&mut r, &mut log, "a1", react); // 4
        send_logged(&mut r, &mut log, "b1", react); // 5
        log.save_cursor("alice", 3).unwrap();

        let first = r.erase_user("alice", 9, 1, &mut log).unwrap();
        assert_eq!((first.messages, first.done), (1, false), "one at a time");
        assert_eq!(stored(&log, 3)["data"], json!({"t":"secret-2"}));
        assert!(stored(&log, 2)["reactions"]["👍"] == json!(["alice", "bob"]));
        let erased = r.erase_user("alice", 9, 2, &mut log).unwrap();
        assert_eq!((erased.messages, erased.done), (1, true));
        let erasures: Vec<_> = erased
            .actions
            .iter()
            .filter(|a| matches!(a, Action::MessageErased { .. }))
            .collect();
        assert_eq!(erasures.len(), 1, "the outbox loses the message's data");
        for seq in [1, 3] {
            let m = stored(&log, seq);
            assert_eq!(
                (m["deleted"].clone(), m["data"].clone()),
                (json!(true), Value::Null)
            );
        }
        let bob = stored(&log, 2);
        assert_eq!(bob["data"], json!({"t":"bob"}));
        assert_eq!(
            bob["reactions"],
            json!({"👍":["bob"]}),
            "only alice's reaction goes"
        );
        assert_eq!(log.read_position("alice").unwrap().cursor, None);
        assert!(log.authored("alice", 10).unwrap().is_empty());
        let again = r.erase_user("alice", 10, 10, &mut log).unwrap();
        assert_eq!((again.messages, again.done), (0, true), "nothing left");
    }
}
