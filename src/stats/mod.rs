//! Global counts from sharded counters, so that no single object sits on every connect.
//!
//! Each room object reports its own connection count to the shard its name hashes to
//! ([`shard_of`]); `GET /stats` asks every shard for its totals and adds them up, and asks the
//! registry shards how many users are online (they know it without any report).

use serde::{Deserialize, Serialize};

/// Number of stats shards. Each receives ~1/16 of all room and user transitions; raising it
/// later is safe only together with a migration of the shards' rows, so it is fixed.
pub const STATS_SHARDS: u32 = 16;

/// The shard a room name or user id reports to: FNV-1a, stable across releases and platforms.
pub fn shard_of(key: &str) -> u32 {
    crate::common::names::fnv1a(key) % STATS_SHARDS
}

/// The name of shard `n`'s Durable Object.
pub fn shard_name(n: u32) -> String {
    format!("stats-{n}")
}

/// What `GET /stats` returns, and what each shard contributes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub connections: u64,
    pub rooms: u64,
    pub users: u64,
}

impl std::ops::Add for Totals {
    type Output = Totals;
    fn add(self, o: Totals) -> Totals {
        Totals {
            connections: self.connections + o.connections,
            rooms: self.rooms + o.rooms,
            users: self.users + o.users,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(shard_of("lobby"), shard_of("lobby"));
        let mut seen = [0u32; STATS_SHARDS as usize];
        for i in 0..1600 {
            seen[shard_of(&format!("room-{i}")) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
        assert_eq!(shard_name(3), "stats-3");
    }

    #[test]
    fn totals_add_up() {
        let a = Totals {
            connections: 3,
            rooms: 1,
            users: 2,
        };
        let b = Totals {
            connections: 1,
            rooms: 1,
            users: 0,
        };
        assert_eq!(
            a + b,
            Totals {
                connections: 4,
                rooms: 2,
                users: 2
            }
        );
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"connections":3,"rooms":1,"users":2}"#
        );
    }
}
