//! A message's current state, as its row in the room's log keeps it: the `message` frame as first
//! broadcast, plus what edits, a deletion and reactions made of it since (docs/protocol.md,
//! "History: current state and events"):
//!
//! - `data`: the latest edit's data (`null` once deleted: deleted means gone);
//! - `edited: true`, `deleted: true`, `reactions: {emoji: [user ids]}` (absent while empty);
//! - `updated`: the seq of the latest event applied, so that a client replaying events after
//!   this state skips those it already contains (every event of a message has a higher seq).
//!
//! Only the frame's own fields are read; `data` stays raw JSON and is never turned into a tree.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// Most distinct reactions one message carries (a new one beyond it is refused `too_large`).
pub const MAX_REACTIONS: usize = 20;
/// Largest stored state of one message, in bytes (a reaction that would grow it beyond is
/// refused `too_large`): a message frame plus its reactions stays bounded.
pub const MAX_STATE_BYTES: usize = 256 * 1024;

fn is_false(b: &bool) -> bool {
    !*b
}

/// A stored `message` frame and its current state.
#[derive(Debug, Serialize, Deserialize)]
pub struct MessageState {
    #[serde(rename = "type")]
    kind: String,
    room: String,
    from: Box<RawValue>,
    data: Box<RawValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    ts: u64,
    seq: u64,
    #[serde(default, skip_serializing_if = "is_false")]
    pub edited: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reactions: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<u64>,
}

/// Why a change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateError {
    /// Not a message frame (an event, or unreadable).
    NotAMessage,
    /// The message would carry more than [`MAX_REACTIONS`] reactions or [`MAX_STATE_BYTES`].
    TooLarge,
}

fn null() -> Box<RawValue> {
    RawValue::from_string("null".into()).unwrap_or_else(|_| unreachable!("null is JSON"))
}

impl MessageState {
    /// Reads a stored frame; only `message` frames have a state.
    pub fn parse(frame: &str) -> Result<Self, StateError> {
        let state: MessageState =
            serde_json::from_str(frame).map_err(|_| StateError::NotAMessage)?;
        if state.kind != "message" {
            return Err(StateError::NotAMessage);
        }
        Ok(state)
    }

    /// The seq of the latest change (the message's own seq when it never changed).
    pub fn version(&self) -> u64 {
        self.updated.unwrap_or(self.seq)
    }

    /// An edit, logged as `seq`: the data is replaced.
    pub fn edit(&mut self, data: &RawValue, seq: u64) {
        self.data = data.to_owned();
        self.edited = true;
        self.updated = Some(seq);
    }

    /// A deletion, logged as `seq`: data and reactions are gone.
    pub fn delete(&mut self, seq: u64) {
        self.data = null();
        self.deleted = true;
        self.reactions.clear();
        self.updated = Some(seq);
    }

    /// `user`'s reaction `emoji` on or off, logged as `seq`. `Ok(false)`: that already was the
    /// state; nothing changed.
    pub fn react(
        &mut self,
        emoji: &str,
        user: &str,
        on: bool,
        seq: u64,
    ) -> Result<bool, StateError> {
        let users = self.reactions.get(emoji);
        let has = users.is_some_and(|u| u.iter().any(|x| x == user));
        if has == on {
            return Ok(false);
        }
        if on {
            if users.is_none() && self.reactions.len() >= MAX_REACTIONS {
                return Err(StateError::TooLarge);
            }
            self.reactions
                .entry(emoji.to_owned())
                .or_default()
                .push(user.to_owned());
        } else if let Some(list) = self.reactions.get_mut(emoji) {
            list.retain(|x| x != user);
            if list.is_empty() {
                self.reactions.remove(emoji);
            }
        }
        self.updated = Some(seq);
        Ok(true)
    }

    /// Takes `user` off every reaction (an erasure); `true` when they were on one.
    pub fn forget_reactions_of(&mut self, user: &str) -> bool {
        let before: usize = self.reactions.values().map(Vec::len).sum();
        for users in self.reactions.values_mut() {
            users.retain(|u| u != user);
        }
        self.reactions.retain(|_, users| !users.is_empty());
        before != self.reactions.values().map(Vec::len).sum::<usize>()
    }

    /// The frame to store, within [`MAX_STATE_BYTES`].
    pub fn to_frame(&self) -> Result<String, StateError> {
        let text = serde_json::to_string(self).map_err(|_| StateError::NotAMessage)?;
        if text.len() > MAX_STATE_BYTES {
            return Err(StateError::TooLarge);
        }
        Ok(text)
    }
}

/// An `edit` event's frame with its data erased (`null`), for when its message is deleted;
/// `None` for any other frame.
pub fn erase_edit_data(frame: &str) -> Option<String> {
    #[derive(Serialize, Deserialize)]
    struct Edit {
        #[serde(rename = "type")]
        kind: String,
        seq: u64,
        target: u64,
        from: Box<RawValue>,
        data: Box<RawValue>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        ts: u64,
    }
    let mut e: Edit = serde_json::from_str(frame).ok()?;
    if e.kind != "edit" || e.data.get() == "null" {
        return None;
    }
    e.data = null();
    serde_json::to_string(&e).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const M: &str = r#"{"type":"message","room":"r","from":{"user_id":"a","connection_id":"r.c"},"data":{"t":"hi"},"id":"m1","ts":5,"seq":3}"#;

    fn v(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn an_unchanged_message_reads_back_as_stored() {
        let s = MessageState::parse(M).unwrap();
        assert_eq!(s.to_frame().unwrap(), M);
        assert_eq!(s.version(), 3);
        assert_eq!(
            MessageState::parse(r#"{"type":"edit","seq":1}"#).unwrap_err(),
            StateError::NotAMessage
        );
    }

    #[test]
    fn edits_reactions_and_deletion_make_the_current_state() {
        let mut s = MessageState::parse(M).unwrap();
        s.edit(
            &RawValue::from_string(r#"{"t":"fixed"}"#.into()).unwrap(),
            4,
        );
        assert_eq!(s.react("👍", "b", true, 5), Ok(true));
        assert_eq!(
            s.react("👍", "b", true, 6),
            Ok(false),
            "a repeat changes nothing"
        );
        assert_eq!(s.react("👍", "c", true, 7), Ok(true));
        assert_eq!(s.react("🎉", "b", false, 8), Ok(false));
        let f = v(&s.to_frame().unwrap());
        assert_eq!(f["data"], json!({"t":"fixed"}));
        assert_eq!(f["edited"], true);
        assert_eq!(f["reactions"], json!({"👍":["b","c"]}));
        assert_eq!(f["updated"], 7);
        assert_eq!(s.react("👍", "b", false, 9), Ok(true));
        assert_eq!(s.react("👍", "c", false, 10), Ok(true));
        assert!(v(&s.to_frame().unwrap()).get("reactions").is_none());
        s.react("x", "b", true, 11).unwrap();
        s.delete(12);
        let f = v(&s.to_frame().unwrap());
        assert_eq!(
            (f["data"].clone(), f["deleted"].clone()),
            (Value::Null, json!(true))
        );
        assert!(f.get("reactions").is_none() && f["updated"] == 12);
        assert!(!s.to_frame().unwrap().contains("fixed"), "the data is gone");
    }

    #[test]
    fn reactions_are_bounded() {
        let mut s = MessageState::parse(M).unwrap();
        for i in 0..MAX_REACTIONS {
            s.react(&i.to_string(), "b", true, 4).unwrap();
        }
        assert_eq!(s.react("new", "b", true, 5), Err(StateError::TooLarge));
        assert_eq!(
            s.react("0", "c", true, 5),
            Ok(true),
            "an existing one grows"
        );
        let many = (0..30_000).map(|i| format!("user-{i}")).collect();
        s.reactions.insert("1".into(), many);
        assert!(matches!(s.to_frame(), Err(StateError::TooLarge)));
    }

    #[test]
    fn deleting_erases_the_data_of_edit_events() {
        let e =
            r#"{"type":"edit","seq":4,"target":3,"from":{"user_id":"a"},"data":{"t":"x"},"ts":1}"#;
        let erased = erase_edit_data(e).unwrap();
        assert_eq!(v(&erased)["data"], Value::Null);
        assert_eq!(v(&erased)["target"], 3);
        assert!(erase_edit_data(&erased).is_none(), "already erased");
        assert!(erase_edit_data(M).is_none());
    }
}
