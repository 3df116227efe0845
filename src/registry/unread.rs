//! Unread counts across rooms (`GET /users/{user}/unread`, `GET /me/unread`), answered by the
//! registry shards without waking any room.
//!
//! A room's messages are counted by ordinal (see [`crate::room::log::chat_log`]): for a user whose cursor
//! there is at `S`, `unread = messages − base` with `base = n(S) + own(S)`. `base` changes only
//! when the user reads or publishes there, `messages` with every message. So:
//!
//! - the **user's registry shard** keeps, per room where the user has a cursor, `(seq, base)`:
//!   the room reports it when the user's cursor moves or they publish (coalesced, throttled);
//! - the **room's registry shard** ([`counter_shard`]) keeps the room's message count: the room
//!   reports it after the turns where it changed (coalesced, throttled) — one report per room,
//!   not one per user with a cursor there;
//! - a read asks the user's shard, which reads the counts of the user's rooms from their shards
//!   (concurrently, one request per shard, from storage) and subtracts.
//!
//! Both numbers only grow (a cursor never moves back, and `base` grows with it), so shards keep
//! the maximum they were told: late or reordered reports change nothing.

use crate::registry::shards::ShardHash;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One user's read state in one room, as the room reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorReport {
    pub user: String,
    /// The read cursor.
    pub seq: u64,
    /// Messages in the room read or sent by the user: `unread = messages − base`.
    pub base: u64,
}

/// The registry shard that keeps `room`'s message count.
pub fn counter_shard(room: &str, shards: &ShardHash) -> u32 {
    shards.shard_of(room)
}

/// The unread count of a room from its message count and the user's `base` (a count not yet
/// reported is taken as the base: nothing unread yet).
pub fn unread(messages: Option<u64>, base: u64) -> u64 {
    messages.unwrap_or(base).saturating_sub(base)
}

/// `rooms` grouped by the shard that keeps their counts.
pub fn by_counter_shard<'a>(
    rooms: impl IntoIterator<Item = &'a str>,
    shards: &ShardHash,
) -> BTreeMap<u32, Vec<String>> {
    let mut out: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for room in rooms {
        out.entry(counter_shard(room, shards))
            .or_default()
            .push(room.to_owned());
    }
    out
}

/// `{"rooms":{room:n}}`.
pub fn unread_body(rooms: &BTreeMap<String, u64>) -> String {
    serde_json::json!({ "rooms": rooms }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unread_is_what_came_after_the_base() {
        assert_eq!(unread(Some(10), 7), 3);
        assert_eq!(unread(Some(7), 7), 0);
        assert_eq!(unread(Some(3), 7), 0, "a count behind the cursor's report");
        assert_eq!(unread(None, 7), 0);
    }

    #[test]
    fn rooms_are_grouped_by_their_counter_shard() {
        let public = ShardHash::Public;
        let groups = by_counter_shard(["a", "b", "lobby", "a2"], &public);
        assert_eq!(groups.values().map(Vec::len).sum::<usize>(), 4);
        for (shard, rooms) in &groups {
            assert!(rooms.iter().all(|r| counter_shard(r, &public) == *shard));
        }
        let mut m = BTreeMap::new();
        m.insert("lobby".to_string(), 3);
        assert_eq!(unread_body(&m), r#"{"rooms":{"lobby":3}}"#);
    }
}
