//! Moderation in a room: the bans it keeps ([`Ban`]) and the operators' calls on it —
//! disconnect a connection, kick (and ban) a user, revoke a user's tokens. Every connection the
//! server closes on purpose first gets a `closing` frame with the close code, reason and the
//! operator's message, then the close; presence, counts and the registry follow as for any
//! close.

use super::{Action, Recipients, Room};
use crate::protocol::ServerFrame;
use crate::room::session::CloseReason;
use crate::webhooks::{ModerationAction, ModerationEvent};
use serde::{Deserialize, Serialize};

/// What a moderation call did: how many connections it closed, and what to carry out.
#[derive(Debug)]
pub struct Removal {
    pub closed: usize,
    pub actions: Vec<Action>,
}

/// A user banned from a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    pub user_id: String,
    /// Unix ms when the ban ends; `None`: until unbanned.
    pub until: Option<u64>,
    pub reason: Option<String>,
}

impl Ban {
    pub fn is_active(&self, now_ms: u64) -> bool {
        self.until.is_none_or(|until| now_ms < until)
    }
}

impl<H> Room<H> {
    /// Closes one connection on purpose: `closing`, the close, then what any close causes.
    pub(super) fn close_by_server(
        &mut self,
        connection_id: &str,
        reason: CloseReason,
        message: Option<&str>,
    ) -> Vec<Action> {
        if self.index.get(connection_id).is_none() {
            return Vec::new();
        }
        let closing = ServerFrame::Closing {
            code: reason.code(),
            reason: reason.reason(),
            message,
        };
        let mut actions = vec![
            Action::send(Recipients::One(connection_id.to_owned()), closing.to_json()),
            Action::Close {
                connection_id: connection_id.to_owned(),
                reason,
            },
        ];
        actions.extend(self.close(connection_id).actions);
        actions
    }

    /// Closes each of `connections` for `reason`.
    fn close_all(
        &mut self,
        connections: Vec<String>,
        reason: CloseReason,
        message: Option<&str>,
    ) -> Removal {
        let mut actions = Vec::new();
        for id in &connections {
            actions.extend(self.close_by_server(id, reason, message));
        }
        Removal {
            closed: connections.len(),
            actions,
        }
    }

    fn connections_of(&self, user_id: &str, also: impl Fn(&super::Conn<H>) -> bool) -> Vec<String> {
        self.index
            .iter()
            .filter(|(_, e)| e.user_id == user_id && also(&e.handle))
            .map(|(id, _)| id.to_owned())
            .collect()
    }

    /// `POST /connections/{id}/disconnect`: close 4003.
    pub fn disconnect(&mut self, connection_id: &str, message: Option<&str>) -> Removal {
        let Some(user) = self.index.get(connection_id).map(|e| e.user_id.clone()) else {
            return Removal {
                closed: 0,
                actions: Vec::new(),
            };
        };
        let ids = vec![connection_id.to_owned()];
        let removal = self.close_all(ids, CloseReason::Kicked, message);
        let event = ModerationEvent {
            action: ModerationAction::Disconnect,
            connection_id: Some(connection_id),
            reason: message,
            ..ModerationEvent::about(&user)
        };
        self.moderated(removal, event)
    }

    /// Every connection of `user_id` here: closed 4003 (`kicked`), or 4004 (`banned`) when
    /// `ban` is given — the ban is remembered (the caller stores it).
    pub fn kick(&mut self, user_id: &str, ban: Option<Ban>, message: Option<&str>) -> Removal {
        let until = ban.as_ref().map(|b| b.until);
        let reason = match ban {
            Some(ban) => {
                self.bans.insert(user_id.to_owned(), ban);
                CloseReason::Banned
            }
            None => CloseReason::Kicked,
        };
        let ids = self.connections_of(user_id, |_| true);
        let mut removal = self.close_all(ids, reason, message);
        removal.actions.extend(self.end_hold(user_id));
        let action = match until {
            Some(_) => ModerationAction::Ban,
            None => ModerationAction::Kick,
        };
        let event = ModerationEvent {
            action,
            reason: message,
            until,
            ..ModerationEvent::about(user_id)
        };
        self.moderated(removal, event)
    }

    /// A revocation of `user_id`'s tokens issued before `before` (unix s): remembered, and the
    /// user's connections here whose token it covers are closed 4005.
    pub fn revoke(&mut self, user_id: &str, before: u64, message: Option<&str>) -> Removal {
        self.learn_revocation(user_id, before);
        let before = self.revoked_before(user_id);
        let ids = self.connections_of(user_id, |c| c.session.revoked_by(before));
        let mut removal = self.close_all(ids, CloseReason::Revoked, message);
        removal.actions.extend(self.end_hold(user_id));
        let event = ModerationEvent {
            action: ModerationAction::Revoke,
            reason: message,
            before,
            ..ModerationEvent::about(user_id)
        };
        self.moderated(removal, event)
    }

    /// `DELETE /rooms/{room}`: every connection gets `closing` 4006 (`room_deleted`), then is
    /// closed, then what any close causes follows (presence, counts, the registry). All the
    /// `closing` frames and closes go before any close's bookkeeping, so no connection hears
    /// another's `leave` on its way out. (The caller erases the room's storage after.)
    pub fn delete_room(&mut self) -> Removal {
        let ids: Vec<String> = self.index.iter().map(|(id, _)| id.to_owned()).collect();
        let reason = CloseReason::RoomDeleted;
        let closing = ServerFrame::Closing {
            code: reason.code(),
            reason: reason.reason(),
            message: None,
        };
        let mut actions = vec![Action::send(Recipients::AllExcept(None), closing.to_json())];
        actions.extend(ids.iter().map(|id| Action::Close {
            connection_id: id.clone(),
            reason,
        }));
        for id in &ids {
            actions.extend(self.close(id).actions);
        }
        Removal {
            closed: ids.len(),
            actions,
        }
    }

    /// Remembers a revocation (the latest `before` wins) without closing anything.
    pub fn learn_revocation(&mut self, user_id: &str, before: u64) {
        let known = self.revocations.entry(user_id.to_owned()).or_insert(before);
        *known = (*known).max(before);
    }

    /// The revocation this room knows of for `user_id`.
    pub fn revoked_before(&self, user_id: &str) -> Option<u64> {
        self.revocations.get(user_id).copied()
    }

    /// Loads a stored ban (on wake).
    pub fn restore_ban(&mut self, ban: Ban) {
        self.bans.insert(ban.user_id.clone(), ban);
    }

    /// The ban on `user_id` in force at `now_ms`, if any.
    pub fn ban_of(&self, user_id: &str, now_ms: u64) -> Option<&Ban> {
        self.bans.get(user_id).filter(|b| b.is_active(now_ms))
    }

    /// Lifts a ban; `false` when there was none in force.
    pub fn unban(&mut self, user_id: &str, now_ms: u64) -> bool {
        self.bans
            .remove(user_id)
            .is_some_and(|b| b.is_active(now_ms))
    }

    /// Every ban in force, ordered by user id.
    pub fn bans(&self, now_ms: u64) -> Vec<&Ban> {
        let mut bans: Vec<&Ban> = self.bans.values().filter(|b| b.is_active(now_ms)).collect();
        bans.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        bans
    }
}

#[cfg(test)]
mod tests {
    use crate::room::log::message_log::MemoryLog;
    use crate::room::session::{CloseReason, Session};
    use crate::room::test_support::*;
    use crate::room::*;

    fn join(r: &mut Room<String>, cid: &str, user: &str, iat: Option<u64>) {
        let j = Joining {
            connection_id: cid,
            user_id: user,
            handle: cid.to_owned(),
            session: Session::new(0, iat),
            rooms: None,
            since: None,
        };
        r.open(j, 0, &MemoryLog::default());
    }

    fn closes(acts: &[Action]) -> Vec<(String, CloseReason)> {
        let mut c: Vec<_> = acts
            .iter()
            .filter_map(|a| match a {
                Action::Close {
                    connection_id,
                    reason,
                } => Some((connection_id.clone(), *reason)),
                _ => None,
            })
            .collect();
        c.sort_by(|a, b| a.0.cmp(&b.0));
        c
    }

    #[test]
    fn kicks_bans_and_disconnects_close_with_their_codes() {
        let mut r = room();
        join(&mut r, "a1", "alice", None);
        join(&mut r, "a2", "alice", None);
        join(&mut r, "b1", "bob", None);
        let k = r.kick("alice", None, Some("spam"));
        assert_eq!(k.closed, 2);
        assert_eq!(
            closes(&k.actions),
            [
                ("a1".into(), CloseReason::Kicked),
                ("a2".into(), CloseReason::Kicked)
            ]
        );
        let d = deliveries(&r, &k.actions);
        assert_eq!(
            d.iter()
                .filter(|(c, v)| c == "b1" && v["event"] == "leave")
                .count(),
            1
        );
        assert!(k.actions.iter().any(|a| matches!(a, Action::Send { frame, .. } if frame == r#"{"type":"closing","code":4003,"reason":"kicked","message":"spam"}"#)));
        assert!(r.ban_of("alice", 0).is_none(), "a kick alone bans nobody");

        join(&mut r, "a3", "alice", None);
        let ban = Ban {
            user_id: "alice".into(),
            until: Some(1_000),
            reason: None,
        };
        let k = r.kick("alice", Some(ban), None);
        assert_eq!(closes(&k.actions), [("a3".into(), CloseReason::Banned)]);
        assert!(r.ban_of("alice", 999).is_some() && r.ban_of("alice", 1_000).is_none());
        assert_eq!(r.bans(0).len(), 1);
        assert!(r.unban("alice", 0) && !r.unban("alice", 0));

        assert_eq!(r.disconnect("zz", None).closed, 0);
        let d = r.disconnect("b1", None);
        assert_eq!(closes(&d.actions), [("b1".into(), CloseReason::Kicked)]);
        assert!(r.index().is_empty());
    }

    #[test]
    fn deleting_the_room_closes_everyone_4006_after_their_closing_frame() {
        let mut r = room();
        join(&mut r, "a1", "alice", None);
        join(&mut r, "a2", "alice", None);
        join(&mut r, "b1", "bob", None);
        let d = r.delete_room();
        assert_eq!(d.closed, 3);
        let mut closed = closes(&d.actions);
        closed.sort_by(|a, b| a.0.cmp(&b.0));
        let want = ["a1", "a2", "b1"].map(|c| (c.to_owned(), CloseReason::RoomDeleted));
        assert_eq!(closed, want);
        let Action::Send { to, frame } = &d.actions[0] else {
            panic!("the closing frame goes first: {:?}", d.actions[0]);
        };
        assert_eq!(to, &Recipients::AllExcept(None));
        assert_eq!(
            frame,
            r#"{"type":"closing","code":4006,"reason":"room_deleted"}"#
        );
        let first_count = d
            .actions
            .iter()
            .position(|a| matches!(a, Action::UserCount { .. }));
        let last_close = d
            .actions
            .iter()
            .rposition(|a| matches!(a, Action::Close { .. }));
        assert!(
            last_close < first_count,
            "every close before any bookkeeping"
        );
        assert!(r.index().is_empty());
        assert_eq!(r.delete_room().closed, 0);
    }

    #[test]
    fn a_revocation_closes_only_the_tokens_it_covers_and_is_remembered() {
        let mut r = room();
        join(&mut r, "old", "alice", Some(100));
        join(&mut r, "new", "alice", Some(200));
        join(&mut r, "none", "alice", None);
        join(&mut r, "bob", "bob", Some(1));
        let rv = r.revoke("alice", 150, None);
        assert_eq!(
            closes(&rv.actions),
            [
                ("none".into(), CloseReason::Revoked),
                ("old".into(), CloseReason::Revoked)
            ]
        );
        assert_eq!(r.revoked_before("alice"), Some(150));
        r.learn_revocation("alice", 120);
        assert_eq!(r.revoked_before("alice"), Some(150), "the latest wins");
        assert_eq!(r.revoked_before("bob"), None);
        assert!(r.index().get("new").is_some());
    }
}
