//! A room's user index: which connections are open, whose they are, and the presence
//! transitions that follow from opening and closing them.
//!
//! Presence is per user, not per tab: only a user's first connection produces `join` and only
//! their last produces `leave`. Both operations are idempotent, because the runtime may report a
//! socket's end more than once (a close and an error, or a close seen again after a wake).
//!
//! The index is generic over the per-connection handle `H` (a WebSocket plus its rate limiter in
//! the Durable Object, a unit in tests), so the shell keeps one map, not two that could drift.

use crate::protocol::{Member, PresenceEvent};
use std::collections::{BTreeMap, HashMap};

/// One open connection.
#[derive(Debug)]
pub struct Entry<H> {
    pub user_id: String,
    pub handle: H,
}

/// What `remove` learned about a connection that was in the index.
#[derive(Debug, PartialEq, Eq)]
pub struct Removed<H> {
    pub user_id: String,
    pub handle: H,
    /// `Some(Leave)` when this was the user's last connection in the room.
    pub presence: Option<PresenceEvent>,
    /// The user's connections left in this room after the removal.
    pub user_connections: u32,
}

#[derive(Debug)]
pub struct RoomIndex<H> {
    connections: HashMap<String, Entry<H>>,
    /// Ordered so that `members` lists are stable across calls and wakes.
    users: BTreeMap<String, u32>,
}

impl<H> Default for RoomIndex<H> {
    fn default() -> Self {
        RoomIndex {
            connections: HashMap::new(),
            users: BTreeMap::new(),
        }
    }
}

impl<H> RoomIndex<H> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a connection. Returns `Some(Join)` when it is the user's first in this room,
    /// `None` otherwise, including when `connection_id` was already registered.
    pub fn add(&mut self, connection_id: &str, user_id: &str, handle: H) -> Option<PresenceEvent> {
        if self.connections.contains_key(connection_id) {
            return None;
        }
        self.connections.insert(
            connection_id.to_owned(),
            Entry {
                user_id: user_id.to_owned(),
                handle,
            },
        );
        let count = self.users.entry(user_id.to_owned()).or_insert(0);
        *count += 1;
        (*count == 1).then_some(PresenceEvent::Join)
    }

    /// Unregisters a connection; `None` if it was not registered.
    pub fn remove(&mut self, connection_id: &str) -> Option<Removed<H>> {
        let Entry { user_id, handle } = self.connections.remove(connection_id)?;
        let left = match self.users.get_mut(&user_id) {
            Some(count) if *count > 1 => {
                *count -= 1;
                *count
            }
            _ => {
                self.users.remove(&user_id);
                0
            }
        };
        Some(Removed {
            presence: (left == 0).then_some(PresenceEvent::Leave),
            user_connections: left,
            user_id,
            handle,
        })
    }

    pub fn get(&self, connection_id: &str) -> Option<&Entry<H>> {
        self.connections.get(connection_id)
    }

    /// The entry and the index's own copy of its id (which outlives the caller's borrow).
    pub fn get_key_value(&self, connection_id: &str) -> Option<(&str, &Entry<H>)> {
        self.connections
            .get_key_value(connection_id)
            .map(|(id, e)| (id.as_str(), e))
    }

    pub fn get_mut(&mut self, connection_id: &str) -> Option<&mut Entry<H>> {
        self.connections.get_mut(connection_id)
    }

    /// Every open connection, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Entry<H>)> {
        self.connections.iter().map(|(id, e)| (id.as_str(), e))
    }

    /// The user index sent in `welcome`, ordered by user id.
    pub fn members(&self) -> Vec<Member> {
        self.users
            .iter()
            .map(|(user_id, &connections)| Member {
                user_id: user_id.clone(),
                connections,
            })
            .collect()
    }

    /// At most `limit` members, ordered by user id, starting after `after` (a page).
    pub fn members_page(&self, after: Option<&str>, limit: usize) -> Vec<Member> {
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.users
            .range::<str, _>((from, Bound::Unbounded))
            .take(limit)
            .map(|(user_id, &connections)| Member {
                user_id: user_id.clone(),
                connections,
            })
            .collect()
    }

    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// How many connections `user_id` has open in this room.
    pub fn user_connections(&self, user_id: &str) -> u32 {
        self.users.get(user_id).copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.connections.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PresenceEvent::{Join, Leave};

    #[test]
    fn presence_is_per_user_not_per_tab() {
        let mut ix = RoomIndex::new();
        assert_eq!(ix.add("c1", "alice", ()), Some(Join));
        assert_eq!(ix.add("c2", "alice", ()), None);
        assert_eq!(ix.add("c3", "bob", ()), Some(Join));
        assert_eq!(ix.user_connections("alice"), 2);
        assert_eq!(ix.connection_count(), 3);
        assert_eq!(ix.user_count(), 2);

        let r = ix.remove("c1").unwrap();
        assert_eq!(
            (r.user_id.as_str(), r.presence, r.user_connections),
            ("alice", None, 1)
        );
        let r = ix.remove("c2").unwrap();
        assert_eq!(r.presence, Some(Leave));
        let r = ix.remove("c3").unwrap();
        assert_eq!((r.user_id.as_str(), r.presence), ("bob", Some(Leave)));
        assert!(ix.is_empty());
        assert!(ix.members().is_empty());
    }

    #[test]
    fn add_and_remove_are_idempotent() {
        let mut ix = RoomIndex::new();
        assert_eq!(ix.add("c1", "alice", 1), Some(Join));
        assert_eq!(ix.add("c1", "alice", 2), None);
        assert_eq!(ix.user_connections("alice"), 1);
        assert_eq!(ix.get("c1").unwrap().handle, 1, "the first handle stays");
        assert!(ix.remove("c1").is_some());
        assert!(ix.remove("c1").is_none());
        assert!(ix.remove("never").is_none());
        assert_eq!(ix.user_count(), 0);
    }

    #[test]
    fn members_come_in_pages() {
        let mut ix = RoomIndex::new();
        for u in ["d", "a", "c", "b", "e"] {
            ix.add(u, u, ());
        }
        let ids = |m: Vec<Member>| m.into_iter().map(|m| m.user_id).collect::<Vec<_>>();
        assert_eq!(ids(ix.members_page(None, 2)), ["a", "b"]);
        assert_eq!(ids(ix.members_page(Some("b"), 2)), ["c", "d"]);
        assert_eq!(ids(ix.members_page(Some("bb"), 10)), ["c", "d", "e"]);
        assert!(ix.members_page(Some("e"), 10).is_empty());
    }

    #[test]
    fn members_are_sorted_and_counted() {
        let mut ix = RoomIndex::new();
        ix.add("1", "zoe", ());
        ix.add("2", "adam", ());
        ix.add("3", "zoe", ());
        let m = ix.members();
        assert_eq!(
            m.iter()
                .map(|m| (m.user_id.as_str(), m.connections))
                .collect::<Vec<_>>(),
            vec![("adam", 1), ("zoe", 2)]
        );
    }
}
