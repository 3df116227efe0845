//! Presence at scale: past `ROOM_PRESENCE_MAX` members, a count instead of `join`/`leave`.
//!
//! A `join` goes to everyone already in the room, so N users arriving cost ~N²/2 sends — a
//! deploy's reconnect storm into a room of 10,000 would be 50 million frames, and nobody
//! reads a list of 10,000 names scroll by. While a room has more members (distinct users) than
//! [`crate::common::config::Config::presence_max`], a user's first connection or last close
//! sends no `join`/`leave`: it marks the member count changed, and a `member_count` frame
//! (`{"type":"member_count","count":N}`) goes to everyone **at most once per
//! [`MEMBER_COUNT_INTERVAL_MS`]**, always carrying the latest count (the last change of a
//! burst is never lost: the shell runs a trailing send when one is due). The welcome still
//! carries `member_count` and a bounded member list; `GET /rooms/{room}` and `/members` stay
//! exact. Webhook `presence` events are unaffected (the backend asked for each one).
//!
//! "More members than the limit" is judged on the side of the change where the room is
//! bigger: a join counts after it, a leave before it. So the join that crosses the limit and
//! the leave that comes back to it are both counts, and every `join`/`leave` frame a client
//! receives happened in a room within the limit.

use crate::protocol::{PresenceEvent, ServerFrame};
use crate::room::{Action, Recipients, Room};

/// At most one `member_count` frame per this interval (the issue's contract: once a second).
pub const MEMBER_COUNT_INTERVAL_MS: u64 = 1_000;

/// The room's member-count state: whether a change waits to be announced, and when the last
/// announcement went out.
#[derive(Debug, Default)]
pub struct MemberCount {
    /// A join or leave was counted instead of announced, and no `member_count` has said so.
    pending: bool,
    /// When the last `member_count` frame went out (unix ms).
    last_sent_ms: Option<u64>,
}

/// What [`MemberCount::due`] decided.
#[derive(Debug, PartialEq, Eq)]
pub enum CountStep {
    /// Nothing waits.
    Idle,
    /// Send this `member_count` frame to everyone now.
    Send(String),
    /// A change waits; its frame may go at this time (unix ms) — run [`MemberCount::due`] then.
    DueAt(u64),
}

/// Whether a presence change in a room of `members` (on the bigger side of the change) is
/// announced as `join`/`leave` under a limit of `max`.
pub fn announces_presence(members: usize, max: usize) -> bool {
    members <= max
}

impl MemberCount {
    /// A join or leave was not announced: a `member_count` must follow.
    pub fn changed(&mut self) {
        self.pending = true;
    }

    pub fn is_pending(&self) -> bool {
        self.pending
    }

    /// At `now_ms`, with `count` members: the frame to send now, when to look again, or nothing.
    pub fn due(&mut self, count: usize, now_ms: u64) -> CountStep {
        if !self.pending {
            return CountStep::Idle;
        }
        let next = self
            .last_sent_ms
            .map_or(now_ms, |t| t.saturating_add(MEMBER_COUNT_INTERVAL_MS));
        if now_ms < next {
            return CountStep::DueAt(next);
        }
        self.pending = false;
        self.last_sent_ms = Some(now_ms);
        CountStep::Send(ServerFrame::MemberCount { count }.to_json())
    }
}

impl<H> Room<H> {
    /// A user's presence began or ended in a room of `members` users (counted on the bigger
    /// side of the change): the `presence` frame for `to`, or — past the limit — nothing now,
    /// the member count marked changed (see [`Self::member_count_due`]).
    pub(super) fn presence_or_count(
        &mut self,
        event: PresenceEvent,
        user_id: &str,
        members: usize,
        to: Recipients,
    ) -> Option<Action> {
        if announces_presence(members, self.config.presence_max) {
            let frame = ServerFrame::Presence { event, user_id }.to_json();
            return Some(Action::Send { to, frame });
        }
        self.member_count.changed();
        None
    }

    /// Whether a `member_count` frame waits (cheap: the shell asks after every turn).
    pub fn member_count_pending(&self) -> bool {
        self.member_count.is_pending()
    }

    /// At `now_ms`: the `member_count` frame to everyone if one is due, and when to ask again
    /// if one waits for its interval (the shell then runs a trailing turn at that time).
    pub fn member_count_due(&mut self, now_ms: u64) -> (Vec<Action>, Option<u64>) {
        match self.member_count.due(self.member_total(), now_ms) {
            CountStep::Idle => (Vec::new(), None),
            CountStep::DueAt(at) => (Vec::new(), Some(at)),
            CountStep::Send(frame) => {
                let to = Recipients::AllExcept(None);
                (vec![Action::Send { to, frame }], None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::config::Config;

    #[test]
    fn nothing_changed_nothing_sent() {
        assert_eq!(MemberCount::default().due(5, 1_000), CountStep::Idle);
    }

    #[test]
    fn the_first_change_goes_at_once_then_at_most_once_per_interval() {
        let mut m = MemberCount::default();
        m.changed();
        assert_eq!(
            m.due(1001, 10_000),
            CountStep::Send(r#"{"type":"member_count","count":1001}"#.into())
        );
        assert_eq!(m.due(1001, 10_100), CountStep::Idle, "said once");
        m.changed();
        m.changed();
        assert_eq!(m.due(1003, 10_200), CountStep::DueAt(11_000));
        assert_eq!(m.due(1003, 10_999), CountStep::DueAt(11_000));
        assert_eq!(
            m.due(1004, 11_000),
            CountStep::Send(r#"{"type":"member_count","count":1004}"#.into()),
            "the latest count, once the interval has passed"
        );
        assert!(!m.is_pending());
    }

    /// Frame types a step sends, in order.
    fn types(r: &Room<String>, actions: &[Action]) -> Vec<String> {
        let d = crate::room::test_support::deliveries(r, actions);
        d.iter()
            .map(|(_, f)| f["type"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn past_the_limit_joins_and_leaves_become_a_count() {
        use crate::room::test_support::{deliveries, open};
        let mut r = Room::new(
            "big",
            Config {
                presence_max: 2,
                ..Config::default()
            },
        );
        open(&mut r, "a1", "alice");
        let b = open(&mut r, "b1", "bob");
        assert_eq!(
            types(&r, &b),
            ["presence", "welcome"],
            "2 members: within the limit"
        );
        let c = open(&mut r, "c1", "carol");
        assert_eq!(
            types(&r, &c),
            ["welcome"],
            "the third member crosses it: no join"
        );
        assert_eq!(deliveries(&r, &c)[0].1["member_count"], 3);
        assert!(r.member_count_pending());
        let (now, later) = r.member_count_due(5_000);
        assert_eq!(later, None);
        let d = deliveries(&r, &now);
        assert_eq!(d.len(), 3, "to everyone: {d:?}");
        assert_eq!(d[0].1, serde_json::json!({"type":"member_count","count":3}));

        open(&mut r, "d1", "dave");
        let leave = r.close("d1").actions;
        assert!(
            !types(&r, &leave).contains(&"presence".to_owned()),
            "4 before the leave"
        );
        assert_eq!(
            r.member_count_due(5_500),
            (Vec::new(), Some(6_000)),
            "once a second"
        );
        let (now, _) = r.member_count_due(6_000);
        assert_eq!(deliveries(&r, &now)[0].1["count"], 3, "the latest count");

        let back = r.close("c1").actions;
        assert!(
            !types(&r, &back).contains(&"presence".to_owned()),
            "3 before: a count"
        );
        let (now, _) = r.member_count_due(7_000);
        assert_eq!(deliveries(&r, &now)[0].1["count"], 2);
        let within = r.close("b1").actions;
        assert_eq!(
            types(&r, &within),
            ["presence"],
            "2 before the leave: announced again"
        );
        assert!(!r.member_count_pending());
    }

    #[test]
    fn presence_is_announced_only_within_the_limit() {
        assert!(announces_presence(1000, 1000));
        assert!(!announces_presence(1001, 1000));
        assert!(!announces_presence(1, 0), "0: counts only");
    }
}
