//! A chat room's behaviour, free of any runtime: given what happened (a connection opened, a
//! frame arrived, a connection ended, a server call came in), it updates the user index and
//! says what to send to whom. The Durable Object shell (`src/shell/room/`, file for file where
//! a rule has a runtime side) carries the [`Action`]s out; tests read them directly.
//!
//! Frames are serialised once per event and addressed to a [`Recipients`] set, so a broadcast
//! to N connections costs one serialisation and N sends, never N serialisations.
//!
//! A received frame goes through `admission` (rate, binary, size, parse), then to the module
//! of its kind: `publish`, `direct`, `session` (`auth`), `typing`, `receipts` (`read`), `edits`
//! and `reactions` (both through `message_events`, what they share). Operators' calls and bans
//! are in `moderation`; the clock's work (notices, expiry) is in [`session`]; the webhook
//! events each step emits are in `webhooks`. What the room keeps and plans:
//! - [`index`]: who is connected, and the presence that follows;
//! - [`recipients`](Recipients): **the** rule of who gets a frame;
//! - [`sends`]: a turn's sends, planned together; [`deferral`]: what a connect sends to the
//!   others, held for the next turn;
//! - [`log`]: what the room needs of its durable log;
//! - [`rate_limit`]: the users' buckets; [`sockets`]: what a socket carries through
//!   hibernation; [`reports`]: coalesced reports to other objects.

mod admission;
pub mod closing;
pub mod deferral;
mod direct;
mod edits;
pub mod erasure;
pub mod holds;
pub mod index;
pub mod log;
pub mod member_count;
mod message_events;
mod moderation;
mod publish;
pub mod rate_limit;
mod reactions;
mod receipts;
mod recipients;
pub mod reports;
pub mod sends;
pub mod session;
pub mod sockets;
#[cfg(test)]
mod test_support;
mod typing;
mod webhooks;

pub use admission::Incoming;
pub use direct::LocalDelivery;
pub use edits::ServerDelete;
pub use moderation::{Ban, Removal};
pub use publish::ServerPost;
pub use recipients::{Exclusion, Recipients};

use crate::common::config::Config;
use crate::common::error::{ChatError, ErrorCode};
use crate::protocol::{ClientFrame, GapReason, Member, PresenceEvent, ServerFrame, Target};
use crate::room::index::{Removed, RoomIndex};
use crate::room::log::chat_log::ChatLog;
use crate::room::log::message_log::{plan_replay, resume_gap, MessageLog};
use crate::room::rate_limit::{Strikes, UserBuckets};
use crate::room::session::{CloseReason, Session};
use admission::Admission;
use message_events::ClientEvent;
use serde::Serialize;
use std::collections::HashMap;

/// A connection as the room keeps it: the runtime's handle, its flood strikes (its user's
/// rate buckets are shared, in the room), its session, and the rooms its token allows.
#[derive(Debug)]
pub struct Conn<H> {
    pub handle: H,
    pub strikes: Strikes,
    pub session: Session,
    /// The token's `rooms` claim (`None`: any room): where its `direct`s may go.
    pub rooms: Option<Vec<String>>,
}

/// A connection being opened.
#[derive(Debug)]
pub struct Joining<'a, H> {
    pub connection_id: &'a str,
    pub user_id: &'a str,
    pub handle: H,
    pub session: Session,
    /// The token's `rooms` claim.
    pub rooms: Option<Vec<String>>,
    /// Resume after this seq (`?since=`).
    pub since: Option<u64>,
}

/// Something the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send {
        to: Recipients,
        frame: String,
    },
    /// Close one connection (it has already been removed from the index).
    Close {
        connection_id: String,
        reason: CloseReason,
    },
    /// A connection's session changed (refreshed, or noticed): its socket's attachment must
    /// say so, to survive hibernation.
    SaveSession {
        connection_id: String,
        session: Session,
    },
    /// A connection's token `rooms` claim changed (a refresh): its socket's attachment must
    /// say so, to survive hibernation.
    SaveRooms {
        connection_id: String,
        rooms: Option<Vec<String>>,
    },
    /// Message `target` was deleted: copies of its data outside the log (events waiting in
    /// the webhook outbox) must go too.
    MessageErased {
        target: u64,
    },
    /// The room needs to be woken at this time (unix ms): for its sessions, or a presence hold.
    WakeAt(u64),
    /// Send one connection every retained message from seq `from` through the latest, oldest
    /// first, after what was queued for it so far (a resume; the shell reads the log in
    /// bounded chunks).
    Replay {
        connection_id: String,
        from: u64,
    },
    /// Something failed inside: the connection gets an `internal` error with an incident id
    /// (and the frame's `id`, if any); `detail` goes to the operator's log, never to clients.
    InternalError {
        connection_id: String,
        id: Option<String>,
        detail: String,
    },
    /// A user's connection count in this room changed: tell their registry (and the stats).
    UserCount {
        user_id: String,
        connections: u32,
        /// `Join`: the user's first connection here; `Leave`: their last. Only these change
        /// the user's set of rooms, which is what their registry keeps.
        presence: Option<PresenceEvent>,
    },
    /// A `direct` this room cannot deliver itself: to a user (every room, via the registry) or
    /// to a connection in another room. On `delivered == 0` the sender gets `not_found`.
    Forward {
        to: Target,
        frame: String,
        id: Option<String>,
        /// The sender's token's `rooms` claim: a user's connections only in these rooms.
        rooms: Option<Vec<String>>,
        /// The sending user: a direct to a user is paid from their cross-room budget.
        from: String,
    },
    /// A user's read state here changed (their cursor moved, or they published while having
    /// one): their unread counts across rooms (`GET /me/unread`) must learn it.
    ReadStateChanged {
        user_id: String,
    },
    /// A user published or reacted here: the room is one their erasure must visit, which
    /// their registry shard learns (once per user per wake of the room, riding on the read
    /// state reports: no request of its own).
    Authored {
        user_id: String,
    },
    /// A webhook event: recorded in the room's outbox in this same turn, so it commits with
    /// what it describes, then delivered in the background ([`crate::webhooks`]).
    Webhook(crate::webhooks::Event),
    /// A refresh in place (`auth`): its token is verified outside the turn (a key set may have
    /// to be fetched), then [`Room::refreshed`] finishes it.
    VerifyRefresh {
        connection_id: String,
        token: String,
        id: Option<String>,
    },
}

impl Action {
    fn send(to: Recipients, frame: String) -> Self {
        Action::Send { to, frame }
    }

    fn internal_error(connection_id: &str, id: Option<&str>, detail: String) -> Self {
        Action::InternalError {
            connection_id: connection_id.to_owned(),
            id: id.map(str::to_owned),
            detail,
        }
    }
}

/// A connection that survived hibernation, as its socket's attachment describes it.
#[derive(Debug)]
pub struct Restored<H> {
    pub handle: H,
    pub session: Session,
    pub rooms: Option<Vec<String>>,
}

/// What closing a connection did: the connection as it was (`None` when it was not open) and
/// what to tell the others.
#[derive(Debug)]
pub struct Closed<H> {
    pub removed: Option<Removed<Conn<H>>>,
    pub actions: Vec<Action>,
}

/// The connection a received frame came from, as frames name it in `from`.
#[derive(Debug, Clone, Copy)]
struct Author<'a> {
    connection_id: &'a str,
    user_id: &'a str,
}

#[derive(Debug)]
pub struct Room<H> {
    name: String,
    config: Config,
    index: RoomIndex<Conn<H>>,
    /// Revocations of users connected here: tokens issued before (unix s) are refused.
    revocations: HashMap<String, u64>,
    /// Users banned from this room.
    bans: HashMap<String, Ban>,
    /// The rate buckets of each user connected here, shared by the user's connections.
    buckets: HashMap<String, UserBuckets>,
    /// When each user's `typing` was last relayed.
    typing: typing::TypingState,
    /// Read cursors: this turn's moves, and those known in memory.
    receipts: receipts::Receipts,
    /// Presence at scale: a count instead of `join`/`leave` in a big room.
    member_count: member_count::MemberCount,
    /// Members held across a restart ([`holds`]).
    holds: holds::PresenceHolds,
}

impl<H> Room<H> {
    pub fn new(name: impl Into<String>, config: Config) -> Self {
        Room {
            name: name.into(),
            config,
            index: RoomIndex::new(),
            revocations: HashMap::new(),
            bans: HashMap::new(),
            buckets: HashMap::new(),
            typing: Default::default(),
            receipts: Default::default(),
            member_count: Default::default(),
            holds: Default::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn index(&self) -> &RoomIndex<Conn<H>> {
        &self.index
    }

    /// Re-registers a connection that survived hibernation: no welcome, no presence (nobody
    /// left or joined; the object merely slept).
    pub fn restore(&mut self, connection_id: &str, user_id: &str, conn: Restored<H>, now_ms: u64) {
        let conn = self.conn(user_id, conn.handle, conn.session, conn.rooms, now_ms);
        self.index.add(connection_id, user_id, conn);
    }

    /// A user's buckets outlive their connections (closing and reopening must not refill them);
    /// once they have grown to twice the users connected (plus some), those of users gone
    /// whose buckets are full again are forgotten — which changes nothing for anyone.
    fn forget_refilled_buckets(&mut self, now: f64) {
        if self.buckets.len() <= 2 * self.index.user_count() + 64 {
            return;
        }
        let (frames, directs, index) = (
            &self.config.rate_limit,
            &self.config.direct_rate,
            &self.index,
        );
        self.buckets.retain(|user, b| {
            index.user_connections(user) > 0 || !b.refilled(frames, directs, now)
        });
    }

    /// Whether `user_id` may open one more connection here at `now_ms`: not banned, under
    /// `MAX_CONNECTIONS_PER_USER` and `MAX_ROOM_CONNECTIONS`. (Revocation is checked by the
    /// caller, which may have to ask the user's registry first.)
    pub fn may_connect(&self, user_id: &str, now_ms: u64) -> Result<(), ChatError> {
        if let Some(ban) = self.ban_of(user_id, now_ms) {
            return Err(ChatError::banned(ban.until));
        }
        let (per_user, per_room) = (
            self.config.max_connections_per_user,
            self.config.max_room_connections,
        );
        if self.index.user_connections(user_id) as usize >= per_user {
            let message = format!("at most {per_user} connections per user in a room");
            return Err(ChatError::new(ErrorCode::TooManyConnections, message));
        }
        if self.index.connection_count() >= per_room {
            let message = format!("the room is full ({per_room} connections)");
            return Err(ChatError::new(ErrorCode::RoomFull, message));
        }
        Ok(())
    }

    fn conn(
        &mut self,
        user_id: &str,
        handle: H,
        session: Session,
        rooms: Option<Vec<String>>,
        now_ms: u64,
    ) -> Conn<H> {
        let now = now_ms as f64;
        self.forget_refilled_buckets(now);
        let (frames, directs) = (&self.config.rate_limit, &self.config.direct_rate);
        self.buckets
            .entry(user_id.to_owned())
            .or_insert_with(|| UserBuckets::new(frames, directs, now));
        Conn {
            handle,
            strikes: Strikes::new(frames, now),
            session,
            rooms,
        }
    }

    /// A new connection: `welcome` to it, and `join` to everyone else if it is the user's first.
    /// With `since`, the connection then gets the `gap` (if any) and every retained message
    /// after `since`, before any live traffic: this runs in one synchronous step, so nothing
    /// can be broadcast in between — no duplicate and no hole between replay and live. A token
    /// that expires within the notice period gets its `token_expiring` right away.
    pub fn open(&mut self, j: Joining<'_, H>, now_ms: u64, log: &dyn ChatLog) -> Vec<Action> {
        let (connection_id, user_id) = (j.connection_id, j.user_id);
        let conn = self.conn(user_id, j.handle, j.session, j.rooms, now_ms);
        let presence = self.index.add(connection_id, user_id, conn);
        let mut actions = Vec::with_capacity(3);
        actions.push(Action::UserCount {
            user_id: user_id.to_owned(),
            connections: self.index.user_connections(user_id),
            presence,
        });
        // A member held across a restart coming back is no change for anyone but the registry.
        let announced = self.announced(presence, user_id);
        actions.extend(self.opened_events(announced, user_id));
        if announced == Some(PresenceEvent::Join) {
            let others = Recipients::AllExcept(Some(connection_id.to_owned()));
            let members = self.member_total();
            actions.extend(self.presence_or_count(PresenceEvent::Join, user_id, members, others));
        }
        // The one storage read of a connect: the user's cursor and what is unread after it.
        // (A failure is reported after the welcome, which is always the first frame.)
        let (position, failed) = match self.read_position(user_id, log) {
            Ok(p) => (p, None),
            Err(e) => (Default::default(), Some(e)),
        };
        let welcome = ServerFrame::Welcome {
            room: &self.name,
            connection_id,
            user_id,
            members: &self.members_page(None, self.config.welcome_max_members),
            seq: log.last_seq(),
            max_message_bytes: self.config.max_message_bytes,
            member_count: self.member_total(),
            truncated: self.member_total() > self.config.welcome_max_members,
            read_seq: position.cursor.unwrap_or(0),
            unread: position.unread,
        };
        let me = Recipients::One(connection_id.to_owned());
        actions.push(Action::send(me, welcome.to_json()));
        if let Some(e) = failed {
            let detail = format!("a read position could not be read: {e}");
            actions.push(Action::internal_error(connection_id, None, detail));
        }
        if let Some(since) = j.since {
            self.replay(connection_id, since, log, &mut actions);
        }
        actions.extend(self.schedule_session(connection_id, now_ms));
        actions
    }

    /// A resume: the `gap` of what retention trimmed (if any), the `gap` of what the replay
    /// limits leave out (reason `replay_limit`, for the client to read over HTTP), then the
    /// newest retained messages after `since` — streamed by the shell ([`Action::Replay`]) in
    /// bounded chunks, never the whole log at once.
    fn replay(
        &self,
        connection_id: &str,
        since: u64,
        log: &dyn MessageLog,
        actions: &mut Vec<Action>,
    ) {
        let me = || Recipients::One(connection_id.to_owned());
        let gap = |from, to, reason| ServerFrame::Gap { from, to, reason }.to_json();
        if let Some((from, to)) = resume_gap(since, log.first_seq(), log.last_seq()) {
            actions.push(Action::send(me(), gap(from, to, None)));
        }
        let limit = self.config.replay;
        let plan = log
            .newest_lengths(since, limit.max_messages)
            .map(|newest| plan_replay(since, log.first_seq(), &newest, limit.max_bytes));
        match plan {
            Ok(plan) => {
                if let Some((from, to)) = plan.limited {
                    let frame = gap(from, to, Some(GapReason::ReplayLimit));
                    actions.push(Action::send(me(), frame));
                }
                if let Some(from) = plan.from {
                    let connection_id = connection_id.to_owned();
                    actions.push(Action::Replay {
                        connection_id,
                        from,
                    });
                }
            }
            Err(e) => {
                let detail = format!("could not plan a replay: {e}");
                actions.push(Action::internal_error(connection_id, None, detail));
            }
        }
    }

    /// A connection ended (closed, errored or was dropped by us). Idempotent.
    pub fn close(&mut self, connection_id: &str) -> Closed<H> {
        let Some(removed) = self.index.remove(connection_id) else {
            return Closed {
                removed: None,
                actions: Vec::new(),
            };
        };
        let mut actions = vec![Action::UserCount {
            user_id: removed.user_id.clone(),
            connections: removed.user_connections,
            presence: removed.presence,
        }];
        actions.extend(self.closed_events(removed.presence, &removed.user_id));
        if removed.presence == Some(PresenceEvent::Leave) {
            self.typing.forget(&removed.user_id);
            self.receipts.forget(&removed.user_id);
            let (user, members) = (&removed.user_id, self.member_total() + 1);
            let everyone = Recipients::AllExcept(None);
            actions.extend(self.presence_or_count(PresenceEvent::Leave, user, members, everyone));
        }
        Closed {
            removed: Some(removed),
            actions,
        }
    }

    /// A frame from `connection_id`. Refusals become `error` frames to the sender only; a
    /// connection that keeps flooding after `rate_limited` is closed with 1008.
    pub fn receive(
        &mut self,
        connection_id: &str,
        incoming: Incoming<'_>,
        now_ms: u64,
        log: &mut dyn ChatLog,
    ) -> Vec<Action> {
        let frame = match self.admit(connection_id, incoming, now_ms) {
            Admission::Accepted(frame) => frame,
            Admission::Refused(actions) => return actions,
        };
        let Some(entry) = self.index.get(connection_id) else {
            return Vec::new();
        };
        let user_id = entry.user_id.clone();
        let from = Author {
            connection_id,
            user_id: &user_id,
        };
        let event = |target, id| ClientEvent {
            from,
            target,
            id,
            now_ms,
        };
        match frame {
            ClientFrame::Publish { data, id, echo } => {
                let published = self.publish(from, data, id.as_deref(), echo, now_ms, log);
                let mut actions = published.actions;
                if published.stored {
                    actions.extend(self.own_message(&user_id, log));
                    actions.push(Action::Authored { user_id });
                }
                actions
            }
            ClientFrame::Direct { to, data, id } => self.direct(from, to, data, id, now_ms),
            ClientFrame::Auth { token, id } => self.refresh(connection_id, token, id),
            ClientFrame::Typing { stop } => self.typing(&user_id, stop, now_ms),
            ClientFrame::Read { seq, id } => self.read(from, seq, id.as_deref(), log),
            ClientFrame::Edit { target, data, id } => {
                self.edit(event(target, id.as_deref()), data, log)
            }
            ClientFrame::Delete { target, id } => self.delete(event(target, id.as_deref()), log),
            ClientFrame::React {
                target,
                emoji,
                on,
                id,
            } => {
                let mut actions = self.react(event(target, id.as_deref()), &emoji, on, log);
                actions.push(Action::Authored {
                    user_id: user_id.clone(),
                });
                actions
            }
        }
    }

    /// `GET /rooms/{room}/members`: `{"room":R,"member_count":n,"members":[...],"next_after":U}`
    /// — a page of at most `limit` members after `after`, ordered by user id; `next_after` names
    /// where the next page starts, and is absent when there is none.
    pub fn members_json(&self, after: Option<&str>, limit: usize) -> String {
        #[derive(Serialize)]
        struct Page<'a> {
            room: &'a str,
            member_count: usize,
            members: &'a [Member],
            /// Present when more follow: the `after` of the next page.
            #[serde(skip_serializing_if = "Option::is_none")]
            next_after: Option<&'a str>,
        }
        let members = self.members_page(after, limit);
        let more = members.len() == limit
            && members
                .last()
                .is_some_and(|m| !self.members_page(Some(&m.user_id), 1).is_empty());
        let next_after = more
            .then(|| members.last().map(|m| m.user_id.as_str()))
            .flatten();
        serde_json::to_string(&Page {
            room: &self.name,
            member_count: self.member_total(),
            members: &members,
            next_after,
        })
        .unwrap_or_default()
    }

    /// `GET /rooms/{room}`: `{"room","connections","users":[{"user_id","connections"}]}`.
    pub fn info_json(&self) -> String {
        #[derive(Serialize)]
        struct Info<'a> {
            room: &'a str,
            connections: usize,
            users: Vec<Member>,
        }
        serde_json::to_string(&Info {
            room: &self.name,
            connections: self.index.connection_count(),
            users: self.index.members(),
        })
        .unwrap_or_default()
    }

    /// The handles a [`Recipients`] set names, resolved against the current index by
    /// [`Recipients::includes`].
    pub fn resolve<'a>(&'a self, to: &'a Recipients) -> Box<dyn Iterator<Item = &'a H> + 'a> {
        if let Some(c) = to.only_connection() {
            return Box::new(self.index.get(c).map(|e| &e.handle.handle).into_iter());
        }
        Box::new(
            self.index
                .iter()
                .filter(move |(c, e)| to.includes(c, &e.user_id))
                .map(|(_, e)| &e.handle.handle),
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::room::log::message_log::MemoryLog;
    use crate::room::test_support::*;
    use crate::room::*;
    use serde_json::Value;

    #[test]
    fn welcome_then_presence_for_first_tab_only() {
        let mut r = room();
        let a = open(&mut r, "a1", "alice");
        let d = deliveries(&r, &a);
        assert_eq!(d.len(), 1, "nobody else to tell");
        assert_eq!(d[0].0, "a1");
        assert_eq!(d[0].1["type"], "welcome");
        assert_eq!(d[0].1["members"][0]["user_id"], "alice");

        let b = open(&mut r, "b1", "bob");
        let d = deliveries(&r, &b);
        assert_eq!(
            d[0],
            (
                "a1".into(),
                serde_json::json!({"type":"presence","event":"join","user_id":"bob"})
            )
        );
        assert_eq!(d[1].0, "b1");
        assert_eq!(d[1].1["members"].as_array().unwrap().len(), 2);

        let a2 = open(&mut r, "a2", "alice");
        let d = deliveries(&r, &a2);
        assert_eq!(d.len(), 1, "a second tab is silent");
        assert_eq!(d[0].1["members"][0]["connections"], 2);

        let acts = r.close("a1").actions;
        assert!(deliveries(&r, &acts).is_empty(), "alice still has a tab");
        let acts = r.close("a2").actions;
        let d = deliveries(&r, &acts);
        assert_eq!(
            d,
            vec![(
                "b1".into(),
                serde_json::json!({"type":"presence","event":"leave","user_id":"alice"})
            )]
        );
        let acts = r.close("b1").actions;
        assert!(deliveries(&r, &acts).is_empty());
        assert!(r.index().is_empty());
        assert!(r.close("b1").removed.is_none(), "closing twice is harmless");
    }

    #[test]
    fn restored_connections_are_silent_members() {
        let mut r = room();
        for (c, u) in [("a1", "alice"), ("b1", "bob")] {
            let restored = Restored {
                handle: c.to_owned(),
                session: Default::default(),
                rooms: None,
            };
            r.restore(c, u, restored, 0);
        }
        let d = send(&mut r, "b1", r#"{"type":"publish","data":1}"#);
        assert_eq!(d.len(), 2);
        assert_eq!(r.index().members().len(), 2);
    }

    #[test]
    fn counts_are_reported_on_every_change() {
        let mut r = room();
        let counts = |acts: &[Action]| -> Vec<(String, u32)> {
            acts.iter()
                .filter_map(|a| match a {
                    Action::UserCount {
                        user_id,
                        connections,
                        ..
                    } => Some((user_id.clone(), *connections)),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(
            counts(&open(&mut r, "a1", "alice")),
            vec![("alice".into(), 1)]
        );
        assert_eq!(
            counts(&open(&mut r, "a2", "alice")),
            vec![("alice".into(), 2)]
        );
        assert_eq!(counts(&r.close("a1").actions), vec![("alice".into(), 1)]);
        assert_eq!(counts(&r.close("a2").actions), vec![("alice".into(), 0)]);
        assert!(counts(&r.close("a2").actions).is_empty());
    }

    #[test]
    fn resume_replays_after_since_with_a_gap_for_trimmed_messages() {
        let mut r = room();
        let mut log = MemoryLog::default();
        open(&mut r, "a1", "alice");
        for i in 0..5 {
            send_logged(
                &mut r,
                &mut log,
                "a1",
                &format!(r#"{{"type":"publish","data":{i}}}"#),
            );
        }
        let acts = with_replays(open_with(&mut r, "b1", "bob", 0, Some(3), &log), &log);
        let mine: Vec<Value> = deliveries(&r, &acts)
            .into_iter()
            .filter(|x| x.0 == "b1")
            .map(|x| x.1)
            .collect();
        assert_eq!(mine[0]["type"], "welcome");
        assert_eq!(mine[0]["seq"], 5);
        assert_eq!(
            mine[1..]
                .iter()
                .map(|m| m["seq"].as_u64().unwrap())
                .collect::<Vec<_>>(),
            [4, 5]
        );

        log.rows.drain(..2); // trim seqs 1-2
        let acts = with_replays(open_with(&mut r, "c1", "carol", 0, Some(0), &log), &log);
        let mine: Vec<Value> = deliveries(&r, &acts)
            .into_iter()
            .filter(|x| x.0 == "c1")
            .map(|x| x.1)
            .collect();
        assert_eq!(mine[1], serde_json::json!({"type":"gap","from":1,"to":2}));
        assert_eq!(
            mine[2..]
                .iter()
                .map(|m| m["seq"].as_u64().unwrap())
                .collect::<Vec<_>>(),
            [3, 4, 5]
        );

        let acts = with_replays(open_with(&mut r, "d1", "dan", 0, Some(5), &log), &log);
        assert_eq!(
            deliveries(&r, &acts).iter().filter(|x| x.0 == "d1").count(),
            1,
            "up to date: welcome only"
        );
    }

    #[test]
    fn a_big_room_lists_the_first_members_in_welcome_and_pages_the_rest() {
        let config = Config {
            welcome_max_members: 2,
            ..Config::default()
        };
        let mut r = Room::new("lobby", config);
        for u in ["d", "b", "a"] {
            open(&mut r, u, u);
        }
        let opened = open(&mut r, "c", "c");
        let d = deliveries(&r, &opened);
        let welcome = &d
            .iter()
            .find(|(c, v)| c == "c" && v["type"] == "welcome")
            .unwrap()
            .1;
        assert_eq!(
            welcome["members"],
            serde_json::json!([{"user_id":"a","connections":1},{"user_id":"b","connections":1}])
        );
        assert_eq!(
            (
                welcome["member_count"].as_u64(),
                welcome["truncated"].as_bool()
            ),
            (Some(4), Some(true))
        );
        let page: Value = serde_json::from_str(&r.members_json(Some("b"), 1)).unwrap();
        assert_eq!(
            page,
            serde_json::json!({"room":"lobby","member_count":4,"members":[{"user_id":"c","connections":1}],"next_after":"c"})
        );
        let page: Value = serde_json::from_str(&r.members_json(Some("c"), 5)).unwrap();
        assert_eq!(
            page,
            serde_json::json!({"room":"lobby","member_count":4,"members":[{"user_id":"d","connections":1}]})
        );
        let mut small_room = room();
        let opened = open(&mut small_room, "x", "x");
        let small = deliveries(&small_room, &opened);
        assert!(
            small.iter().all(|(_, v)| v.get("truncated").is_none()),
            "only when truncated"
        );
    }

    #[test]
    fn connections_are_capped_per_user_and_per_room() {
        let config = Config {
            max_connections_per_user: 2,
            max_room_connections: 3,
            ..Config::default()
        };
        let mut r = Room::new("lobby", config);
        open(&mut r, "a1", "alice");
        assert!(r.may_connect("alice", 0).is_ok());
        open(&mut r, "a2", "alice");
        let e = r.may_connect("alice", 0).unwrap_err();
        assert_eq!(
            (e.code, e.code.http_status()),
            (ErrorCode::TooManyConnections, 429)
        );
        assert!(r.may_connect("bob", 0).is_ok());
        open(&mut r, "b1", "bob");
        let e = r.may_connect("carol", 0).unwrap_err();
        assert_eq!((e.code, e.code.http_status()), (ErrorCode::RoomFull, 503));
        r.close("a1");
        assert!(r.may_connect("alice", 0).is_ok() && r.may_connect("carol", 0).is_ok());
        let ban = crate::room::Ban {
            user_id: "carol".into(),
            until: None,
            reason: None,
        };
        r.restore_ban(ban);
        assert_eq!(
            r.may_connect("carol", 0).unwrap_err().code,
            ErrorCode::Banned
        );
    }

    #[test]
    fn a_resume_replays_at_most_the_limits_and_names_the_rest() {
        let config = Config {
            replay: crate::common::config::ReplayLimit {
                max_messages: 3,
                max_bytes: 1 << 20,
            },
            ..Config::default()
        };
        let mut r = Room::new("lobby", config);
        let mut log = MemoryLog::default();
        open(&mut r, "a1", "alice");
        for i in 0..10 {
            send_logged(
                &mut r,
                &mut log,
                "a1",
                &format!(r#"{{"type":"publish","data":{i}}}"#),
            );
        }
        log.rows.drain(..2); // retention trimmed 1-2
        let acts = open_with(&mut r, "b1", "bob", 0, Some(0), &log);
        assert!(
            acts.contains(&Action::Replay {
                connection_id: "b1".into(),
                from: 8
            }),
            "the newest 3, streamed by the shell"
        );
        let mine: Vec<Value> = deliveries(&r, &with_replays(acts, &log))
            .into_iter()
            .filter(|x| x.0 == "b1")
            .map(|x| x.1)
            .collect();
        assert_eq!(mine[1], serde_json::json!({"type":"gap","from":1,"to":2}));
        assert_eq!(
            mine[2],
            serde_json::json!({"type":"gap","from":3,"to":7,"reason":"replay_limit"})
        );
        let seqs: Vec<u64> = mine[3..]
            .iter()
            .map(|m| m["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, [8, 9, 10]);
    }
}
