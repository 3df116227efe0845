//! Global counts from sharded counters, so that no single object sits on every connect.
//!
//! Each room object reports its own connection count to the shard its name hashes to
//! ([`shard_of`]); `GET /stats` asks every shard for its totals and adds them up, and asks the
//! registry shards how many users are online (they know it without any report).

use crate::common::error::ErrorCode;
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

/// `GET /rooms?active=1`'s page size: `limit` 1–[`ACTIVE_LIMIT_MAX`], this by default.
pub const ACTIVE_LIMIT_DEFAULT: u32 = 100;
pub const ACTIVE_LIMIT_MAX: u32 = 1000;

/// A room with connections now, as a stats shard has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveRoom {
    pub room: String,
    pub connections: u64,
}

/// A page of `GET /rooms?active=1`: rooms by name; `next_after` when more follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivePage {
    pub rooms: Vec<ActiveRoom>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// What `GET /rooms` was asked: the rooms after `after`, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveQuery {
    pub after: Option<String>,
    pub limit: u32,
}

impl ActiveQuery {
    /// Reads `active`, `after` and `limit` from a query. Only the rooms with connections can be
    /// listed (rooms that ever existed are not kept anywhere), so `active=1` is required.
    pub fn parse<'a>(
        pairs: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, crate::common::error::ChatError> {
        let bad = |m: &str| crate::common::error::ChatError::new(ErrorCode::BadRequest, m);
        let (mut active, mut after, mut limit) = (None, None, None);
        for (k, v) in pairs {
            match k {
                "active" => active = Some(v),
                "after" => after = Some(v),
                "limit" => limit = Some(v),
                _ => {}
            }
        }
        if active != Some("1") {
            return Err(bad(
                "`active=1` is required: only rooms with connections are listed",
            ));
        }
        if after.is_some_and(|a| !crate::common::names::is_valid_room(a)) {
            return Err(bad("`after` must be a room name"));
        }
        let limit = match limit.map(str::parse::<u32>) {
            None => ACTIVE_LIMIT_DEFAULT,
            Some(Ok(l)) if (1..=ACTIVE_LIMIT_MAX).contains(&l) => l,
            Some(_) => return Err(bad("`limit` must be 1-1000")),
        };
        let after = after.map(str::to_owned);
        Ok(ActiveQuery { after, limit })
    }
}

/// Merges the shards' pages — each asked for `limit + 1` rooms after the same name, so that a
/// shard with more shows it — into one page of `limit` by name.
pub fn merge_active(pages: Vec<Vec<ActiveRoom>>, limit: u32) -> ActivePage {
    let mut rooms: Vec<ActiveRoom> = pages.into_iter().flatten().collect();
    rooms.sort_by(|a, b| a.room.cmp(&b.room));
    let more = rooms.len() > limit as usize;
    rooms.truncate(limit as usize);
    let next_after = more.then(|| rooms.last().map(|r| r.room.clone())).flatten();
    ActivePage { rooms, next_after }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str, connections: u64) -> ActiveRoom {
        ActiveRoom {
            room: name.into(),
            connections,
        }
    }

    #[test]
    fn pages_merge_by_name_and_say_when_more_follow() {
        let pages = vec![vec![room("b", 1), room("d", 2)], vec![room("a", 3)], vec![]];
        let page = merge_active(pages.clone(), 2);
        assert_eq!(page.rooms, vec![room("a", 3), room("b", 1)]);
        assert_eq!(page.next_after.as_deref(), Some("b"));
        let all = merge_active(pages, 3);
        assert_eq!(all.next_after, None, "every shard had fewer than limit + 1");
        assert_eq!(
            serde_json::to_string(&all).unwrap(),
            r#"{"rooms":[{"room":"a","connections":3},{"room":"b","connections":1},{"room":"d","connections":2}]}"#
        );
    }

    #[test]
    fn the_query_needs_active_and_bounds_limit() {
        let parse = |q: &[(&'static str, &'static str)]| ActiveQuery::parse(q.iter().copied());
        assert_eq!(
            parse(&[("active", "1")]).unwrap(),
            ActiveQuery {
                after: None,
                limit: 100
            }
        );
        let q = parse(&[("active", "1"), ("after", "lobby"), ("limit", "1000")]).unwrap();
        assert_eq!((q.after.as_deref(), q.limit), (Some("lobby"), 1000));
        for bad in [
            &[][..],
            &[("active", "0")],
            &[("active", "1"), ("limit", "0")],
            &[("active", "1"), ("limit", "1001")],
            &[("active", "1"), ("limit", "x")],
            &[("active", "1"), ("after", "no/slash")],
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::BadRequest, "{bad:?}");
        }
    }

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
