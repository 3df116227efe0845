//! Users' presence across rooms, as the `UserRegistry` shards keep it: which shard holds a
//! user ([`shards::ShardHash`], one of [`REGISTRY_SHARDS`]), and each user's rooms with a
//! connection count ([`UserRooms`]); [`unread`]: the unread counts across rooms they answer.
//!
//! Rooms report a user's presence in them when it begins or ends. Reports are fire-and-forget
//! and may arrive out of order, so each carries a version (see [`Versions`]); a report older
//! than what is stored for that room is ignored. Rooms that drop to zero keep a tombstone with
//! their version for a while, so a late, stale "1" cannot resurrect them.

pub mod erasure;
pub mod limits;
pub mod pushes;
pub mod shards;
pub mod unread;

use std::collections::BTreeMap;

/// Registry shards. Users are spread over this many `UserRegistry` objects by a hash of their
/// id: a connect storm of new users touches at most this many objects (not one new object, with
/// its own storage, per user), and a room batches the reports of one turn per shard. Each shard
/// takes ~1,000 requests/s on Cloudflare, so the registry layer takes ~64,000/s before any shard
/// saturates. Fixed: changing it moves users to other shards (their room sets are rebuilt by
/// the reconnects a deploy causes, but their revocations would be left behind).
pub const REGISTRY_SHARDS: u32 = 64;

/// The name of registry shard `n`'s Durable Object.
pub fn registry_name(n: u32) -> String {
    format!("registry-{n}")
}

/// Tombstones older than this (by version time) are forgotten.
pub const TOMBSTONE_TTL_MS: u64 = 3_600_000;

/// What the registry stores for one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomEntry {
    pub connections: u32,
    pub version: u64,
}

/// Whether the user as a whole came online, went offline, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnlineChange {
    CameOnline,
    WentOffline,
    Unchanged,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UserRooms {
    rooms: BTreeMap<String, RoomEntry>,
}

impl UserRooms {
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads persisted entries (tombstones included).
    pub fn from_entries(entries: impl IntoIterator<Item = (String, RoomEntry)>) -> Self {
        UserRooms {
            rooms: entries.into_iter().collect(),
        }
    }

    /// Applies a room's report. Returns `None` when it is stale (ignored), else the entry to
    /// persist for that room and the user's online transition.
    pub fn apply(
        &mut self,
        room: &str,
        connections: u32,
        version: u64,
    ) -> Option<(RoomEntry, OnlineChange)> {
        if self.rooms.get(room).is_some_and(|e| e.version >= version) {
            return None;
        }
        let before = self.total();
        let entry = RoomEntry {
            connections,
            version,
        };
        self.rooms.insert(room.to_owned(), entry);
        Some((entry, online_change(before, self.total())))
    }

    /// The registry learnt from the room itself that it holds `connections` of the user (0 when
    /// a forward found nobody): that is authoritative and replaces the count, keeping the
    /// version so that only newer reports can change it again.
    pub fn confirm(&mut self, room: &str, connections: u32) -> Option<(RoomEntry, OnlineChange)> {
        let before = self.total();
        let entry = self.rooms.get_mut(room)?;
        if entry.connections == connections {
            return None;
        }
        entry.connections = connections;
        let entry = *entry;
        Some((entry, online_change(before, self.total())))
    }

    /// Rooms where the user has connections, with their counts.
    pub fn live_rooms(&self) -> impl Iterator<Item = (&str, u32)> {
        self.rooms
            .iter()
            .filter(|(_, e)| e.connections > 0)
            .map(|(r, e)| (r.as_str(), e.connections))
    }

    /// Every room the shard has a row for, live or not (a row of 0 connections is kept for
    /// [`TOMBSTONE_TTL_MS`]): where a revocation is pushed, since a room may remember the user
    /// without a live connection (see `shell/room/counted_users.rs`).
    pub fn known_rooms(&self) -> impl Iterator<Item = &str> {
        self.rooms.keys().map(String::as_str)
    }

    pub fn total(&self) -> u32 {
        self.rooms.values().map(|e| e.connections).sum()
    }

    /// Tombstones (zero entries) whose version is older than `now_ms - TOMBSTONE_TTL_MS`;
    /// the caller deletes them from storage too.
    pub fn expired_tombstones(&mut self, now_ms: u64) -> Vec<String> {
        let cutoff = now_ms.saturating_sub(TOMBSTONE_TTL_MS);
        let expired: Vec<String> = self
            .rooms
            .iter()
            .filter(|(_, e)| e.connections == 0 && Versions::time_of(e.version) < cutoff)
            .map(|(r, _)| r.clone())
            .collect();
        for r in &expired {
            self.rooms.remove(r);
        }
        expired
    }
}

fn online_change(before: u32, after: u32) -> OnlineChange {
    match (before > 0, after > 0) {
        (false, true) => OnlineChange::CameOnline,
        (true, false) => OnlineChange::WentOffline,
        _ => OnlineChange::Unchanged,
    }
}

/// Monotonic report versions: milliseconds since the epoch × 1024 plus a counter, so several
/// reports within one millisecond (the Workers clock does not advance during an event) stay
/// ordered, and a room woken later always outranks its earlier self. Fits in 2^53 until 2248.
#[derive(Debug, Default)]
pub struct Versions {
    last: u64,
}

impl Versions {
    pub fn next(&mut self, now_ms: u64) -> u64 {
        self.last = (now_ms * 1024).max(self.last + 1);
        self.last
    }

    pub fn time_of(version: u64) -> u64 {
        version / 1024
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OnlineChange::*;

    #[test]
    fn tracks_rooms_and_online_transitions() {
        let mut u = UserRooms::new();
        assert_eq!(u.apply("a", 1, 10).unwrap().1, CameOnline);
        assert_eq!(u.apply("b", 2, 11).unwrap().1, Unchanged);
        assert_eq!(u.total(), 3);
        assert_eq!(u.apply("a", 0, 12).unwrap().1, Unchanged);
        assert_eq!(u.live_rooms().collect::<Vec<_>>(), vec![("b", 2)]);
        assert_eq!(u.apply("b", 0, 13).unwrap().1, WentOffline);
        assert_eq!(u.total(), 0);
    }

    #[test]
    fn stale_reports_are_ignored_even_after_a_room_emptied() {
        let mut u = UserRooms::new();
        u.apply("a", 2, 20);
        assert!(u.apply("a", 1, 19).is_none(), "older report");
        assert!(u.apply("a", 5, 20).is_none(), "same version");
        u.apply("a", 0, 30);
        assert!(
            u.apply("a", 1, 25).is_none(),
            "a late report cannot resurrect the room"
        );
        assert_eq!(u.total(), 0);
    }

    #[test]
    fn confirmation_from_the_room_drops_ghosts() {
        let mut u = UserRooms::new();
        u.apply("a", 1, 10);
        u.apply("b", 1, 11);
        assert_eq!(u.confirm("a", 0).unwrap().1, Unchanged);
        assert_eq!(u.confirm("b", 0).unwrap().1, WentOffline);
        assert!(u.confirm("b", 0).is_none(), "nothing changed");
        assert!(u.confirm("zzz", 0).is_none(), "unknown room");
        assert!(
            u.apply("a", 1, 10).is_none(),
            "the confirmed entry keeps its version"
        );
        assert!(u.apply("a", 1, 14).is_some());
    }

    #[test]
    fn tombstones_expire() {
        let mut u = UserRooms::new();
        let mut v = Versions::default();
        u.apply("old", 0, v.next(1_000));
        u.apply("live", 1, v.next(1_000));
        assert!(u.expired_tombstones(1_000 + TOMBSTONE_TTL_MS).is_empty());
        assert_eq!(
            u.expired_tombstones(1_001 + TOMBSTONE_TTL_MS),
            vec!["old".to_string()]
        );
        assert_eq!(u.live_rooms().count(), 1);
    }

    #[test]
    fn versions_are_strictly_increasing() {
        let mut v = Versions::default();
        let a = v.next(5);
        let b = v.next(5);
        let c = v.next(4);
        let d = v.next(6);
        assert!(a < b && b < c && c < d);
        assert_eq!(Versions::time_of(d), 6);
    }
}
