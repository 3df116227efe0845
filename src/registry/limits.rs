//! What one user may make the platform do across rooms, enforced by the user's registry shard.
//!
//! Caps and rate buckets in a room are per room, but some work fans out to every room of a
//! user: a direct to a user is forwarded to each of the recipient's live rooms, `/me/unread`
//! asks up to [`REGISTRY_SHARDS`](super::REGISTRY_SHARDS) counter shards. Without a cap across
//! rooms one token could be in any number of rooms and send directs from each (5/s per room),
//! each one fanned out to every room of the recipient: 5·M·N sub-requests per second. Two
//! limits bound that product:
//!
//! - [`RegistryLimits::max_rooms_per_user`] (`MAX_ROOMS_PER_USER`) bounds M and N: the user's
//!   shard refuses a first connection to one room more (`429 too_many_rooms`), answering the
//!   presence report the room sends (and awaits) anyway — no extra round trip on connect;
//! - [`CrossRoomBudget`] (`CROSS_ROOM_RATE_PER_SECOND` / `CROSS_ROOM_BURST`) bounds the
//!   sub-requests per second: each fan-out a user causes costs one token per object it calls
//!   (a direct: one per room of the recipient; `/me/unread`: one per counter shard asked, at
//!   least one), taken from the **sender's** bucket in the shard that does the work.

use crate::room::rate_limit::{RateLimit, TokenBucket};
use std::collections::{BTreeSet, HashMap};

/// The registry's limits on one user (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegistryLimits {
    /// `MAX_ROOMS_PER_USER`: live rooms per user across the deployment.
    pub max_rooms_per_user: u32,
    /// `CROSS_ROOM_RATE_PER_SECOND` / `CROSS_ROOM_BURST`: objects a user's fan-outs may call.
    pub cross_room: RateLimit,
    /// `READ_CURSORS_MAX_PER_USER`: read cursors kept per user (the least recently moved go).
    pub read_cursors_max_per_user: u32,
}

impl Default for RegistryLimits {
    fn default() -> Self {
        RegistryLimits {
            max_rooms_per_user: 100,
            // Two directs to a user in the maximum 100 rooms at once, then one a second; a
            // chat user in a handful of rooms never notices.
            cross_room: RateLimit {
                per_second: 100.0,
                burst: 200.0,
            },
            read_cursors_max_per_user: 1_000,
        }
    }
}

/// What a connect does when its revocation check (the first report's answer) cannot be had
/// after one retry: `REVOCATION_CHECK_FAIL`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RevocationCheckFail {
    /// Let the connection in (room chat never depends on a registry); logged.
    #[default]
    Open,
    /// Refuse it with `503 unavailable`: a revoked token never gets back in, at the price of
    /// refusing first connects while the user's shard is down.
    Closed,
}

impl RevocationCheckFail {
    /// `open` (or anything unrecognised: a typo must not lock users out) or `closed`.
    pub fn parse(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("closed") => RevocationCheckFail::Closed,
            _ => RevocationCheckFail::Open,
        }
    }
}

/// Whether a user whose live rooms are `live` may open a first connection in `room`: they are
/// already there (a reconnect, always allowed), or below `max` rooms.
pub fn admits<'a>(live: impl Iterator<Item = &'a str>, room: &str, max: u32) -> bool {
    let mut count = 0u64;
    for r in live {
        if r == room {
            return true;
        }
        count += 1;
    }
    count < u64::from(max)
}

/// A user's live rooms once reports not stored yet are applied, in the order they were
/// answered, to those `stored`. (Their versions are not compared: reports answered one after
/// the other for one room come from that room in that order.)
pub fn live_after<'a>(
    stored: Vec<String>,
    pending: impl Iterator<Item = (&'a str, u32)>,
) -> BTreeSet<String> {
    let mut live: BTreeSet<String> = stored.into_iter().collect();
    for (room, connections) in pending {
        if connections > 0 {
            live.insert(room.to_owned());
        } else {
            live.remove(room);
        }
    }
    live
}

/// With this many buckets, those that have refilled are forgotten (bounded memory).
const PRUNE_AT: usize = 10_000;

/// Per-user buckets of cross-room work, in memory (a shard evicted after its idle timeout has
/// refilled every bucket anyway).
#[derive(Debug, Default)]
pub struct CrossRoomBudget {
    buckets: HashMap<String, TokenBucket>,
}

impl CrossRoomBudget {
    /// Takes `cost` tokens (at least one) from `user`'s bucket at `now_ms`; `false`: refused,
    /// nothing taken. A call costing more than the whole burst is allowed from a full bucket
    /// and leaves it in debt, so the rate holds whatever one call costs.
    pub fn charge(&mut self, limit: &RateLimit, user: &str, cost: u32, now_ms: u64) -> bool {
        let now = now_ms as f64;
        if self.buckets.len() >= PRUNE_AT {
            self.buckets
                .retain(|_, b| !b.refilled(limit.burst, limit.per_second, now));
        }
        let bucket = self
            .buckets
            .entry(user.to_owned())
            .or_insert_with(|| TokenBucket::full(limit.burst, now));
        bucket.take_many(limit.burst, limit.per_second, f64::from(cost.max(1)), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_connect_is_admitted_below_the_cap_and_a_reconnect_always() {
        assert!(admits([].into_iter(), "a", 1));
        assert!(!admits(["b"].into_iter(), "a", 1));
        assert!(admits(["b"].into_iter(), "b", 1), "already there");
        assert!(admits(["a", "b"].into_iter(), "b", 2));
        assert!(!admits(["a", "b"].into_iter(), "c", 2));
        assert!(admits(["a", "b"].into_iter(), "c", 3));
        assert!(
            !admits([].into_iter(), "a", 0),
            "a cap of 0 admits nobody new"
        );
    }

    #[test]
    fn pending_reports_count_as_applied() {
        let stored = vec!["a".to_string(), "b".to_string()];
        let live = live_after(stored, [("c", 1), ("a", 0), ("d", 1), ("d", 0)].into_iter());
        assert_eq!(live.into_iter().collect::<Vec<_>>(), vec!["b", "c"]);
    }

    #[test]
    fn the_budget_bounds_the_work_per_second_whatever_one_call_costs() {
        let limit = RateLimit {
            per_second: 100.0,
            burst: 200.0,
        };
        let mut b = CrossRoomBudget::default();
        assert!(b.charge(&limit, "u", 100, 0));
        assert!(b.charge(&limit, "u", 100, 0));
        assert!(!b.charge(&limit, "u", 1, 0), "the burst is spent");
        assert!(b.charge(&limit, "other", 1, 0), "buckets are per user");
        assert!(
            !b.charge(&limit, "u", 100, 500),
            "50 tokens back, 100 asked"
        );
        assert!(b.charge(&limit, "u", 100, 1_000));
        // One call dearer than the burst: allowed from a full bucket, then the debt is repaid.
        let mut b = CrossRoomBudget::default();
        assert!(b.charge(&limit, "u", 500, 0));
        assert!(!b.charge(&limit, "u", 1, 2_000), "still 100 in debt");
        assert!(b.charge(&limit, "u", 1, 3_010));
        assert!(
            !b.charge(&limit, "u", 0, 3_010),
            "a call costs at least one token"
        );
    }

    #[test]
    fn revocation_check_fail_parses_open_by_default() {
        assert_eq!(RevocationCheckFail::parse(None), RevocationCheckFail::Open);
        assert_eq!(
            RevocationCheckFail::parse(Some("closed")),
            RevocationCheckFail::Closed
        );
        assert_eq!(
            RevocationCheckFail::parse(Some(" CLOSED ")),
            RevocationCheckFail::Closed
        );
        assert_eq!(
            RevocationCheckFail::parse(Some("clsoed")),
            RevocationCheckFail::Open
        );
    }
}
