//! Counts that heal: how a shard that keeps rows reported by rooms (a stats shard's room totals,
//! a registry shard's users per room) comes to trust them again after the platform dropped
//! sockets without a close event (a crash, a deploy, a workerd restart).
//!
//! Nothing a shard stores can tell a row of a live room from a row of a room whose sockets
//! died: only the room knows, by listing its sockets. So each shard **instance** trusts its rows
//! only once it has asked their rooms: the first read that needs the rows (`GET /stats`,
//! `GET /rooms?active=1`) starts a [`Sweep`] in the background; the read answers from the rows
//! as they are, and the sweep puts them right for the next one. A restart makes every object a
//! new instance, so the first read after it sweeps; reports keep arriving meanwhile and are
//! ordered against the rooms' answers by the rooms' own versions ([`Gone`] covers the rows a
//! deletion removed). Nothing runs unless a read asks: an idle system costs nothing.

use std::collections::HashMap;

/// Room calls a sweep makes at once (Cloudflare allows 6 simultaneous outgoing connections per
/// request; more would only queue).
pub const SWEEP_CONCURRENCY: usize = 6;

/// Room calls one sweep makes at most; the rows after them are swept by the next read (a shard
/// with that many rooms to check is read often: operators poll).
pub const SWEEP_MAX_CALLS: usize = 500;

/// Users asked about in one call to a room (a registry sweep).
pub const SWEEP_USERS_PER_CALL: usize = 100;

/// How long a deletion's version is remembered: longer than any answer or report can be in
/// flight.
pub const GONE_TTL_MS: u64 = 60_000;

/// Where this instance's sweep stands.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub enum Sweep {
    /// No read has asked yet: the rows are as this instance found them.
    #[default]
    Untrusted,
    /// Asking the rooms.
    Running,
    /// Stopped after [`SWEEP_MAX_CALLS`] or a failed call: the next read sweeps again, after
    /// `after` (the last key checked; `None`: from the start).
    Unfinished { after: Option<String> },
    /// Every row this instance found was checked with its room.
    Trusted,
}

impl Sweep {
    /// A read came: `Some(after)` when it must start a sweep (from after that key), `None` when
    /// one is running or nothing is left to check.
    pub fn read(&mut self) -> Option<Option<String>> {
        let from = match self {
            Sweep::Untrusted => None,
            Sweep::Unfinished { after } => after.take(),
            Sweep::Running | Sweep::Trusted => return None,
        };
        *self = Sweep::Running;
        Some(from)
    }

    /// The sweep ended: `complete` when it checked every row up to the end without a failure;
    /// else it stopped after `last` (the last key it checked, `None`: none).
    pub fn ended(&mut self, complete: bool, last: Option<String>) {
        *self = if complete {
            Sweep::Trusted
        } else {
            Sweep::Unfinished { after: last }
        };
    }
}

/// The versions of rows this instance deleted, for a minute ([`GONE_TTL_MS`]): a room's answer
/// and its own report may cross, and once a row is gone, nothing stored says which was newer.
#[derive(Debug, Default)]
pub struct Gone {
    rows: HashMap<String, (u64, u64)>,
}

impl Gone {
    /// `key`'s row was deleted by a report or an answer of `version`, at `now_ms`.
    pub fn deleted(&mut self, key: &str, version: u64, now_ms: u64) {
        self.rows
            .retain(|_, (_, at)| now_ms.saturating_sub(*at) < GONE_TTL_MS);
        let v = self.rows.get(key).map_or(version, |(v, _)| version.max(*v));
        self.rows.insert(key.to_owned(), (v, now_ms));
    }

    /// Whether a report or answer of `version` about `key` is newer than its deletion (or
    /// nothing was deleted): only then may it be stored.
    pub fn admits(&self, key: &str, version: u64) -> bool {
        self.rows.get(key).is_none_or(|(v, _)| version > *v)
    }
}

/// Rows a registry sweep reads at once: enough for [`SWEEP_MAX_CALLS`] full calls.
pub const SWEEP_MAX_ROWS: usize = SWEEP_MAX_CALLS * SWEEP_USERS_PER_CALL;

/// One call of a registry sweep: a room and the users (with their stored counts) asked about.
pub type RoomCheck = (String, Vec<(String, u32)>);

/// A registry sweep's calls from its live rows `(room, user, connections)`, ordered by room:
/// at most [`SWEEP_USERS_PER_CALL`] users per call and [`SWEEP_MAX_CALLS`] calls, whole rooms
/// only (a room's rows past a full read, `read_all` false, may be cut and wait for the next
/// sweep — unless it is the only room). Returns the calls and whether rows were left.
pub fn plan_checks(rows: Vec<(String, String, u32)>, read_all: bool) -> (Vec<RoomCheck>, bool) {
    let mut rooms: Vec<(String, Vec<(String, u32)>)> = Vec::new();
    for (room, user, n) in rows {
        match rooms.last_mut() {
            Some((r, users)) if *r == room => users.push((user, n)),
            _ => rooms.push((room, vec![(user, n)])),
        }
    }
    let mut more = !read_all;
    if more && rooms.len() > 1 {
        rooms.pop();
    }
    let mut calls = Vec::new();
    for (i, (room, users)) in rooms.iter().enumerate() {
        let needed = users.len().div_ceil(SWEEP_USERS_PER_CALL);
        if i > 0 && calls.len() + needed > SWEEP_MAX_CALLS {
            more = true;
            break;
        }
        for chunk in users.chunks(SWEEP_USERS_PER_CALL) {
            calls.push((room.clone(), chunk.to_vec()));
        }
    }
    (calls, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(spec: &[(&str, usize)]) -> Vec<(String, String, u32)> {
        spec.iter()
            .flat_map(|(room, n)| (0..*n).map(move |i| (room.to_string(), format!("u{i}"), 1)))
            .collect()
    }

    #[test]
    fn checks_group_users_per_room_in_bounded_calls() {
        let (calls, more) = plan_checks(rows(&[("a", 2), ("b", 150)]), true);
        assert!(!more);
        let shape: Vec<(&str, usize)> = calls.iter().map(|(r, u)| (r.as_str(), u.len())).collect();
        assert_eq!(shape, vec![("a", 2), ("b", 100), ("b", 50)]);
    }

    #[test]
    fn a_cut_read_leaves_its_last_room_and_calls_stay_bounded() {
        let (calls, more) = plan_checks(rows(&[("a", 2), ("b", 3)]), false);
        assert!(more);
        assert_eq!(
            calls.len(),
            1,
            "b may have more rows: the next sweep takes it whole"
        );
        let (calls, more) = plan_checks(rows(&[("only", 3)]), false);
        assert!(
            more && calls.len() == 1,
            "a lone room is checked as far as it was read"
        );
        let many: Vec<(String, usize)> = (0..SWEEP_MAX_CALLS + 5)
            .map(|i| (format!("r{i:04}"), 1))
            .collect();
        let spec: Vec<(&str, usize)> = many.iter().map(|(r, n)| (r.as_str(), *n)).collect();
        let (calls, more) = plan_checks(rows(&spec), true);
        assert!(more);
        assert_eq!(calls.len(), SWEEP_MAX_CALLS);
    }

    #[test]
    fn a_sweep_starts_once_per_instance_and_resumes_where_it_stopped() {
        let mut s = Sweep::default();
        assert_eq!(s.read(), Some(None), "the first read sweeps");
        assert_eq!(s.read(), None, "one sweep at a time");
        s.ended(false, Some("m".into()));
        assert_eq!(
            s.read(),
            Some(Some("m".into())),
            "resumes after the last key"
        );
        s.ended(true, Some("z".into()));
        assert_eq!(s.read(), None, "a trusted instance asks no more");
        assert_eq!(s, Sweep::Trusted);
    }

    #[test]
    fn an_unfinished_sweep_with_nothing_checked_starts_over() {
        let mut s = Sweep::default();
        s.read();
        s.ended(false, None);
        assert_eq!(s.read(), Some(None));
    }

    #[test]
    fn a_deletion_outranks_older_reports_for_a_minute() {
        let mut g = Gone::default();
        assert!(g.admits("a", 1), "nothing deleted");
        g.deleted("a", 10, 1_000);
        assert!(!g.admits("a", 9) && !g.admits("a", 10), "older or equal");
        assert!(g.admits("a", 11) && g.admits("b", 1));
        g.deleted("a", 5, 1_001);
        assert!(!g.admits("a", 10), "the newest deletion is kept");
        g.deleted("b", 1, 1_001 + GONE_TTL_MS);
        assert!(g.admits("a", 1), "forgotten after a minute");
    }
}
