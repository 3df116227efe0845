//! Presence held across a restart: the members a room had when it stopped without closing
//! anyone (a deploy, a crash) stay members for a moment, so their reconnects announce nothing.
//!
//! **Why.** A deploy restarts every object and drops every socket without a close event: no
//! `leave` went out, and every client reconnects at once. Announced as usual, each reconnect
//! would be a `join` to everyone already back — a room of N members sends ~N²/2 frames to
//! tell its members what they already knew, the storm's largest cost, and every member list
//! empties and refills on screen. Instead, when a room loads and finds users its registry
//! counts here (`counted_users`, which only a clean last close removes) with no connection,
//! it **holds** them until a deadline (`RESTART_PRESENCE_HOLD_SECONDS`, 15 s by default —
//! Ably holds a member that dropped for the same 15 s):
//! - a held user is a member: listed in `welcome` and `/members` (with `connections: 0`) and
//!   counted in `member_count`;
//! - a held user's reconnect is no change of presence: no `join` frame, no `presence` webhook
//!   event (the backend saw their `join` before the restart and no `leave`), no
//!   `room_occupied`;
//! - a held user who has not come back by the deadline leaves as a last close does: a `leave`
//!   frame (or a count), the `presence` webhook event, `room_vacated` if nobody is left, and
//!   the report of 0 to the registry — which, before holds, a user who never came back after
//!   a crash never got.
//!
//! The deadline is one per restart and is stored (the shell's `presence_holds`), so a room
//! evicted and woken again before it does not hold anyone longer. A user who is connected is
//! never held; one kicked, banned, revoked or erased while held stops being held at once. A
//! connection its fan-out object lost in the restart ([`Room::lose`]) holds its user the same
//! way, once the object's answer says so.

use crate::protocol::{Member, PresenceEvent};
use crate::room::{Action, Recipients, Room};
use std::collections::BTreeMap;

/// The users held, each with the time (unix ms) their hold ends.
#[derive(Debug, Default)]
pub struct PresenceHolds {
    until: BTreeMap<String, u64>,
}

impl PresenceHolds {
    /// Holds `user` until `until_ms` (a later call for the same user moves the deadline).
    pub fn hold(&mut self, user: &str, until_ms: u64) {
        self.until.insert(user.to_owned(), until_ms);
    }

    /// Ends `user`'s hold; whether they were held.
    pub fn end(&mut self, user: &str) -> bool {
        self.until.remove(user).is_some()
    }

    pub fn len(&self) -> usize {
        self.until.len()
    }

    pub fn is_empty(&self) -> bool {
        self.until.is_empty()
    }

    /// When the next hold ends.
    pub fn next_deadline(&self) -> Option<u64> {
        self.until.values().min().copied()
    }

    /// The held users whose deadline has come at `now_ms`, ordered by user id.
    fn due(&self, now_ms: u64) -> Vec<String> {
        let due = self.until.iter().filter(|(_, &until)| until <= now_ms);
        due.map(|(user, _)| user.clone()).collect()
    }

    /// At most `limit` held users after `after`, ordered by user id.
    fn page(&self, after: Option<&str>, limit: usize) -> Vec<Member> {
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.until
            .range::<str, _>((from, Bound::Unbounded))
            .take(limit)
            .map(|(user_id, _)| Member {
                user_id: user_id.clone(),
                connections: 0,
            })
            .collect()
    }
}

/// Two pages ordered by user id (disjoint: a held user has no connection), merged and cut to
/// `limit`.
fn merge_pages(live: Vec<Member>, held: Vec<Member>, limit: usize) -> Vec<Member> {
    let mut all = live;
    all.extend(held);
    all.sort_unstable_by(|a, b| a.user_id.cmp(&b.user_id));
    all.truncate(limit);
    all
}

impl<H> Room<H> {
    /// Holds `user`'s presence until `until_ms` — unless they are connected (see the module
    /// doc; the shell calls this while loading the room, for each user it finds counted here).
    pub fn hold_presence(&mut self, user: &str, until_ms: u64) {
        if self.index.user_connections(user) == 0 {
            self.holds.hold(user, until_ms);
        }
    }

    /// Whether anyone is held.
    pub fn holds_anyone(&self) -> bool {
        !self.holds.is_empty()
    }

    /// The members: users connected here and users held.
    pub fn member_total(&self) -> usize {
        self.index.user_count() + self.holds.len()
    }

    /// A page of members (connected and held), ordered by user id.
    pub(super) fn members_page(&self, after: Option<&str>, limit: usize) -> Vec<Member> {
        let live = self.index.members_page(after, limit);
        if self.holds.is_empty() {
            return live;
        }
        merge_pages(live, self.holds.page(after, limit), limit)
    }

    /// What opening a connection announces, given what it did to `user`'s presence in the
    /// index: a held user's first connection ends their hold and announces nothing.
    pub(super) fn announced(
        &mut self,
        presence: Option<PresenceEvent>,
        user: &str,
    ) -> Option<PresenceEvent> {
        match presence {
            Some(PresenceEvent::Join) if self.holds.end(user) => None,
            other => other,
        }
    }

    /// Whether the room has neither connections nor held members (for `room_occupied` and
    /// `room_vacated`).
    pub(super) fn is_unoccupied(&self) -> bool {
        self.index.is_empty() && self.holds.is_empty()
    }

    /// At `now_ms`: the leaves of the holds that ended, and when the next one ends.
    pub fn holds_due(&mut self, now_ms: u64) -> (Vec<Action>, Option<u64>) {
        let mut actions = Vec::new();
        // One at a time: only the last hold to end can leave the room vacated.
        for user in self.holds.due(now_ms) {
            actions.extend(self.end_hold(&user));
        }
        (actions, self.holds.next_deadline())
    }

    /// A connection lost without a close (its fan-out object restarted): it leaves the index
    /// as with [`Self::close`], but a user it was the last connection of is held until
    /// `until_ms` instead of announced gone — still counted by the registry, nothing said to
    /// anyone. `None` (holding is off): a close.
    pub fn lose(&mut self, connection_id: &str, until_ms: Option<u64>) -> Vec<Action> {
        let Some(until) = until_ms else {
            return self.close(connection_id).actions;
        };
        let Some(removed) = self.index.remove(connection_id) else {
            return Vec::new();
        };
        let mut actions = vec![Action::UserCount {
            user_id: removed.user_id.clone(),
            connections: removed.user_connections,
            presence: None,
        }];
        if removed.presence == Some(PresenceEvent::Leave) {
            self.holds.hold(&removed.user_id, until);
            actions.push(Action::WakeAt(until)); // the alarm ends the hold
        }
        actions
    }

    /// Ends `user`'s hold now (banned, erased): their leave, if they were held.
    pub(super) fn end_hold(&mut self, user: &str) -> Vec<Action> {
        if !self.holds.end(user) {
            return Vec::new();
        }
        self.held_user_left(user)
    }

    /// A held user's hold ended without a connection: what a last close says.
    fn held_user_left(&mut self, user: &str) -> Vec<Action> {
        let mut actions = vec![Action::UserCount {
            user_id: user.to_owned(),
            connections: 0,
            presence: Some(PresenceEvent::Leave),
        }];
        actions.extend(self.closed_events(Some(PresenceEvent::Leave), user));
        let members = self.member_total() + 1;
        let everyone = Recipients::AllExcept(None);
        actions.extend(self.presence_or_count(PresenceEvent::Leave, user, members, everyone));
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::config::Config;
    use crate::room::test_support::{deliveries, open};

    fn room_with_held(users: &[&str], until: u64) -> Room<String> {
        let mut r = Room::new("r", Config::default());
        for u in users {
            r.hold_presence(u, until);
        }
        r
    }

    /// The frames `actions` send to `cid`.
    fn to(r: &Room<String>, actions: &[Action], cid: &str) -> Vec<serde_json::Value> {
        let d = deliveries(r, actions).into_iter();
        d.filter(|(c, _)| c == cid).map(|(_, v)| v).collect()
    }

    #[test]
    fn a_held_users_reconnect_announces_nothing() {
        let mut r = room_with_held(&["alice", "bob"], 10_000);
        open(&mut r, "c1", "carol");
        let acts = open(&mut r, "c2", "alice");
        assert!(
            to(&r, &acts, "c1").is_empty(),
            "no join for alice: {acts:?}"
        );
        assert_eq!(r.member_total(), 3, "carol, alice, and bob still held");
    }

    #[test]
    fn a_stranger_is_announced_while_others_are_held() {
        let mut r = room_with_held(&["bob"], 10_000);
        open(&mut r, "c1", "alice");
        let acts = open(&mut r, "c2", "carol");
        let to_alice = to(&r, &acts, "c1");
        assert_eq!(to_alice.len(), 1, "{acts:?}");
        assert_eq!(to_alice[0]["event"], "join");
    }

    #[test]
    fn the_welcome_lists_held_members_with_no_connections() {
        let mut r = room_with_held(&["bob", "dave"], 10_000);
        let acts = open(&mut r, "c1", "carol");
        let welcome = &to(&r, &acts, "c1")[0];
        let members: Vec<(&str, u64)> = welcome["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["user_id"].as_str().unwrap(),
                    m["connections"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(members, [("bob", 0), ("carol", 1), ("dave", 0)]);
        assert_eq!(welcome["member_count"], 3);
    }

    #[test]
    fn a_hold_that_ends_unreturned_is_a_leave_to_everyone() {
        let mut r = room_with_held(&["alice", "bob"], 10_000);
        open(&mut r, "c1", "alice");
        let (early, next) = r.holds_due(9_999);
        assert!(early.is_empty());
        assert_eq!(next, Some(10_000));
        let (acts, next) = r.holds_due(10_000);
        assert_eq!(next, None);
        let to_alice = to(&r, &acts, "c1");
        assert_eq!(to_alice.len(), 1);
        assert_eq!(
            (&to_alice[0]["event"], &to_alice[0]["user_id"]),
            (&"leave".into(), &"bob".into())
        );
        assert!(acts.contains(&Action::UserCount {
            user_id: "bob".into(),
            connections: 0,
            presence: Some(PresenceEvent::Leave),
        }));
        assert_eq!(r.member_total(), 1);
    }

    #[test]
    fn a_connected_user_is_never_held() {
        let mut r = Room::new("r", Config::default());
        open(&mut r, "c1", "alice");
        r.hold_presence("alice", 10_000);
        assert_eq!(r.member_total(), 1);
        assert_eq!(r.holds_due(20_000).0, Vec::new());
    }

    #[test]
    fn a_lost_last_connection_holds_its_user_and_says_nothing() {
        let mut r = Room::new("r", Config::default());
        open(&mut r, "c1", "alice");
        open(&mut r, "c2", "bob");
        open(&mut r, "c3", "bob");
        let acts = r.lose("c2", Some(10_000));
        assert!(to(&r, &acts, "c1").is_empty(), "bob still has a connection");
        let acts = r.lose("c3", Some(10_000));
        assert!(
            to(&r, &acts, "c1").is_empty(),
            "bob dropped, not gone: {acts:?}"
        );
        assert!(
            acts.contains(&Action::UserCount {
                user_id: "bob".into(),
                connections: 0,
                presence: None,
            }),
            "no presence change for the registry either"
        );
        assert_eq!(r.member_total(), 2);
        assert!(acts.contains(&Action::WakeAt(10_000)));
        let back = open(&mut r, "c4", "bob");
        assert!(
            to(&r, &back, "c1").is_empty(),
            "bob's return announces nothing"
        );
        let off = r.lose("c4", None);
        assert_eq!(
            to(&r, &off, "c1")[0]["event"],
            "leave",
            "holding off: a close"
        );
    }

    #[test]
    fn pages_merge_in_user_order() {
        let m = |u: &str, c| Member {
            user_id: u.into(),
            connections: c,
        };
        let merged = merge_pages(vec![m("b", 1), m("d", 2)], vec![m("a", 0), m("c", 0)], 3);
        assert_eq!(merged, [m("a", 0), m("b", 1), m("c", 0)]);
    }
}
