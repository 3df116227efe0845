//! Where a connection lives — a socket of the room's own or one on a fan-out object
//! ([`Link`], [`crate::fanout`]) — for the few things that differ: restoring it after a wake,
//! saving its attachment, and ending it.

use super::sends::close_mid_turn;
use super::sockets::{self, connection_id_of};
use super::turn::{Link, Peer};
use super::ChatRoom;
use crate::room::closing::ServerClose;
use crate::room::sends::TurnSends;
use crate::room::session::CloseReason;
use crate::room::{Action, Restored, Room};
use crate::shell::common::sql::Sql;
use std::rc::Rc;
use worker::Result;

impl ChatRoom {
    /// Restores the connections on fan-out objects into a loading room's index, and asks each
    /// object which of them it still holds (a restart lost them all; those it no longer holds
    /// are forgotten when it answers).
    pub(super) fn restore_remote(&self, room: &mut Room<Peer>, sql: &Sql, now: u64) -> Result<()> {
        let remote = self.fanouts.remote(sql)?;
        for (index, connections) in remote.by_object() {
            for c in &connections {
                let Some((_, a)) = remote.get(c) else {
                    continue;
                };
                let restored = Restored {
                    session: a.session(),
                    rooms: a.rooms.clone(),
                    handle: Peer {
                        link: Link::Fanout {
                            index,
                            connection: Rc::from(c.as_str()),
                        },
                        batch: a.batch,
                    },
                };
                room.restore(c, &a.user_id, restored, now);
            }
            self.fanouts.plan(index).add_check(connections);
        }
        Ok(())
    }

    /// A connection's session or rooms claim changed: its attachment says so, to survive
    /// hibernation (on its socket, or in the room's record of a fan-out object's connection).
    pub(super) fn save_attachment(&self, r: &Room<Peer>, action: Action) {
        let (connection_id, session, rooms) = match action {
            Action::SaveSession {
                connection_id,
                session,
            } => (connection_id, Some(session), None),
            Action::SaveRooms {
                connection_id,
                rooms,
            } => (connection_id, None, Some(rooms)),
            _ => return,
        };
        let Some(entry) = r.index().get(&connection_id) else {
            return;
        };
        match (&entry.handle.handle.link, session) {
            (Link::Local(ws), Some(session)) => sockets::save_session(ws, session),
            (Link::Local(ws), None) => sockets::save_rooms(ws, rooms.flatten()),
            (Link::Fanout { .. }, _) => {
                self.fanouts
                    .save(&self.sql(), &connection_id, |a| match session {
                        Some(s) => a.set_session(s),
                        None => a.rooms = rooms.flatten(),
                    })
            }
        }
    }

    /// Ends a connection the room dropped (it has left the index): the frame's own socket,
    /// one found by its tag (an operator's call, the clock), or one on a fan-out object.
    pub(super) fn close_connection(
        &self,
        current: Option<&Link>,
        connection_id: &str,
        reason: CloseReason,
        sends: &mut TurnSends,
    ) {
        let own = match current {
            Some(Link::Local(ws)) if connection_id_of(ws).as_deref() == Some(connection_id) => {
                Some(ws.clone())
            }
            _ => None,
        };
        let now = crate::shell::common::env::now_ms();
        if let Some(ws) = own.or_else(|| sockets::of_connection(&self.state, connection_id)) {
            self.obs.count(|c| c.disconnects += 1);
            let (sent, how) = close_mid_turn(&ws, sends, reason, now);
            self.sent(sent);
            if let ServerClose::AskedUntil(at) = how {
                self.wake_at(at); // the fallback, if the client ignores `closing`
            }
        } else if let Some((index, mut a)) = self.fanouts.forget(&self.sql(), connection_id) {
            self.obs.count(|c| c.disconnects += 1);
            // What the turn owes it goes first, then the close; its object keeps the fallback.
            let mut plan = self.fanouts.plan(index);
            let owed = sends.owed_to(connection_id, &a.user_id);
            let bytes = owed.iter().map(|f| f.len() as u64).sum();
            self.sent_planned((owed.len() as u64, bytes, owed.len() as u64));
            plan.add_frames(connection_id, owed);
            let by = match a.end(reason, now) {
                ServerClose::Now => 0,
                ServerClose::AskedUntil(at) => at,
            };
            plan.add_close(connection_id, reason.code(), reason.reason(), by);
        }
    }
}

/// Reports a `direct` that could not be forwarded to the connection that sent it.
pub(super) async fn tell(env: &worker::Env, from: &Link, frame: String) {
    match from {
        Link::Local(ws) => {
            let _ = ws.send_with_str(frame);
        }
        Link::Fanout { index, connection } => {
            let Some(room) = crate::common::connection_id::room_of(connection) else {
                return;
            };
            // Straight to its object, not down the tree: an error frame has no order to keep.
            let mut plan = crate::fanout::Plan::default();
            plan.add_frames(connection, [frame]);
            let bundle = [(*index, plan)].into_iter().collect();
            let by = crate::common::meter::ObjectKind::Room;
            let _ = crate::shell::fanout::stream::apply(env, by, room, *index, &bundle).await;
        }
    }
}
