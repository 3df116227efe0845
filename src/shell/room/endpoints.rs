//! The calls other objects and the front worker make to a room ([`RoomCall`]): one short
//! dispatch, one handler per call.

use super::sockets;
use super::turn::{Link, Peer, TurnKind};
use super::ChatRoom;
use crate::calls::{Connections, Delivered, RoomCall, RoomRequest};
use crate::common::connection_id::new_connection_id;
use crate::common::error::{ChatError, ErrorCode};
use crate::common::names::is_valid_user_id;
use crate::room::log::history_page::{history_body, HistoryQuery};
use crate::room::session::Session;
use crate::room::sockets::Attachment;
use crate::room::{Joining, LocalDelivery, ServerPost};
use crate::shell::calls;
use crate::shell::common::env::{now_ms, random_bytes};
use crate::shell::common::http::{error, error_response, internal, json_response};
use crate::shell::common::log;
use serde_json::json;
use serde_json::value::RawValue;
use worker::{Request, Response, Result};

/// What a new connection brings besides its user.
pub(super) struct Opening {
    pub(super) session: Session,
    pub(super) rooms: Option<Vec<String>>,
    pub(super) since: Option<u64>,
    pub(super) batch: bool,
    pub(super) subprotocol: bool,
}

impl Opening {
    /// The attachment of `user`'s new connection `connection_id` (on its socket, or in the
    /// room's record of a fan-out object's connection).
    pub(super) fn attachment(&self, user: &str, connection_id: &str) -> Attachment {
        let mut a = Attachment {
            user_id: user.to_owned(),
            connection_id: connection_id.to_owned(),
            batch: self.batch,
            rooms: self.rooms.clone(),
            ..Attachment::default()
        };
        a.set_session(self.session);
        a
    }
}

impl ChatRoom {
    pub(super) async fn serve(&self, req: Request) -> Result<Response> {
        let RoomRequest { room, call } = match calls::receive::<RoomRequest>(req).await? {
            Ok(call) => call,
            Err(e) => return error_response(&e),
        };
        match call {
            c @ RoomCall::Connect { .. } => self.upgrade(&room, c).await,
            RoomCall::Publish { data, exclude } => self.publish(&room, &data, exclude),
            RoomCall::History { query, reader } => {
                self.read(&room, reader, || self.history(&room, query))
            }
            RoomCall::Members {
                after,
                limit,
                reader,
            } => self.read(&room, reader, || self.members(&room, after, limit)),
            RoomCall::DeliverToUser { user, frame } => self.deliver_to_user(&room, &user, frame),
            RoomCall::CountUser { user } => self.count_user(&room, &user),
            RoomCall::Counts { users } => self.counts(&room, users),
            RoomCall::DeliverToConnection { connection, frame } => {
                self.deliver_to_connection(&room, &connection, frame)
            }
            RoomCall::Info => {
                let body = self.run_step(&room, |r, _| (Vec::new(), r.info_json()))?;
                json_response(200, body)
            }
            RoomCall::Debug => self.debug(),
            RoomCall::Disconnect { connection, reason } => {
                self.disconnect(&room, &connection, reason.as_deref())
            }
            RoomCall::DisconnectUser { user, reason } => {
                self.disconnect_user(&room, &user, reason.as_deref())
            }
            RoomCall::Kick { user, ban, reason } => self.kick(&room, &user, ban, reason),
            RoomCall::Bans => self.bans(&room),
            RoomCall::Unban { user } => self.unban(&room, &user),
            RoomCall::Revoke {
                user,
                before,
                reason,
            } => self.revoke(&room, &user, before, reason.as_deref()),
            RoomCall::DeleteMessage { seq } => self.delete_message(&room, seq),
            RoomCall::EraseUser { user } => self.erase_user(&room, &user),
            RoomCall::DeleteRoom => self.delete_room(&room).await,
            c @ (RoomCall::WebhooksDead { .. } | RoomCall::WebhooksRetry) => self.webhook_call(c),
            RoomCall::FanoutFrames { frames } => self.fanout_frames(&room, &frames).await,
        }
    }

    /// A verified user's upgrade (`RoomCall::Connect`).
    async fn upgrade(&self, room: &str, call: RoomCall) -> Result<Response> {
        let RoomCall::Connect {
            user,
            since,
            batch,
            exp,
            iat,
            rooms,
            subprotocol,
        } = call
        else {
            return error(ErrorCode::NotFound, "not a connect");
        };
        let opening = Opening {
            session: Session::new(exp, iat),
            rooms,
            since,
            batch,
            subprotocol,
        };
        self.admit_and_accept(room, &user, opening).await
    }

    /// A verified user's upgrade: admitted (limits, bans, revocations), then accepted.
    async fn admit_and_accept(&self, room: &str, user: &str, opening: Opening) -> Result<Response> {
        if let Err(refusal) = self.admission(room, user, opening.session).await? {
            return error_response(&refusal);
        }
        self.accept_socket(room, user, opening).await
    }

    /// How many connections `user` has here, counted by tag (the room need not load). An
    /// answer of 0 is the registry's cue to stop counting the user here: so does the room
    /// ([`counted_users`](super::counted_users)).
    fn count_user(&self, room: &str, user: &str) -> Result<Response> {
        // Connections on fan-out objects are only known to the loaded index.
        let connections = if self.fanouts.any(&self.sql())? {
            let n = self.run_step(room, |r, _| (Vec::new(), r.index().user_connections(user)))?;
            u64::from(n)
        } else {
            sockets::of_user(&self.state, user).len() as u64
        };
        if connections == 0 {
            self.counted.remove(&self.sql(), user)?;
        }
        json_response(200, serde_json::to_string(&Connections { connections })?)
    }

    /// A shard checking its rows ([`crate::common::heal`]): the room's connections and those of
    /// `users`, from the runtime's sockets — the room is not loaded, nothing is reported. The
    /// version is the next of the room's reports, so the shard can order this answer against
    /// a report that crosses it.
    ///
    /// A loaded room answers from its index, which its reports are made from (a socket whose
    /// close it has handled may still be listed by the runtime for a moment).
    fn counts(&self, room: &str, users: Vec<String>) -> Result<Response> {
        if !self.is_loaded() && self.fanouts.any(&self.sql())? {
            // Connections on fan-out objects are only known to the loaded index.
            self.run_step(room, |_, _| (Vec::new(), ()))?;
        }
        let loaded = self.room.borrow();
        let index = loaded.as_ref().map(|l| l.room.index());
        let connections = index.map_or_else(
            || sockets::live_count(&self.state),
            |i| i.connection_count(),
        ) as u64;
        let users = users
            .into_iter()
            .map(|u| {
                let n = index.map_or_else(
                    || sockets::of_user(&self.state, &u).len() as u64,
                    |i| u64::from(i.user_connections(&u)),
                );
                (u, n)
            })
            .collect::<std::collections::BTreeMap<String, u64>>();
        drop(loaded);
        // A count of 0 makes the shard stop counting the user here: so does the room.
        for (user, _) in users.iter().filter(|(_, n)| **n == 0) {
            self.counted.remove(&self.sql(), user)?;
        }
        let version = self.reports.next_version();
        let counts = crate::calls::RoomCounts {
            connections,
            users,
            version,
        };
        json_response(200, serde_json::to_string(&counts)?)
    }

    /// Accepts a verified user's upgrade: tags and attachment first (so the socket is fully
    /// described before anything can hibernate), then `welcome` and presence.
    async fn accept_socket(&self, room: &str, user: &str, o: Opening) -> Result<Response> {
        if !is_valid_user_id(user) {
            return error(ErrorCode::BadRequest, "bad identity");
        }
        let connection_id = new_connection_id(room, random_bytes());
        // Load the index from the sockets that were here *before* this one: once accepted, the
        // new socket is listed by getWebSockets() too and would be restored as an old member,
        // silencing its presence `join`.
        // (Admission's step loaded it already, unless a deletion dropped it meanwhile.)
        if self.room.borrow().is_none() {
            self.run_step(room, |_, _| (Vec::new(), ()))?;
        }
        if self.own_sockets_full() {
            return self.accept_on_fanout(room, user, connection_id, o).await;
        }
        let pair = match sockets::accept_tagged(&self.state, &o.attachment(user, &connection_id))? {
            Ok(pair) => pair,
            Err(refused) => return Ok(refused),
        };
        let peer = Peer {
            link: Link::Local(pair.server.clone()),
            batch: o.batch,
        };
        let subprotocol = o.subprotocol;
        self.open_step(room, user, &connection_id, peer, o)?;
        self.flush_deferred(room).await;
        sockets::upgrade_response(pair.client, subprotocol)
    }

    /// A connection accepted (here or on a fan-out object) joins the room: `welcome` (and a
    /// resume's replay) at once; what the connect sends to the others waits for the next turn
    /// ([`Self::flush_deferred`]), so that a burst of connects sends one frame per `batch`
    /// connection, not one per connect. The connection is in the index when this returns.
    pub(super) fn open_step(
        &self,
        room: &str,
        user: &str,
        connection_id: &str,
        peer: Peer,
        o: Opening,
    ) -> Result<()> {
        self.obs.count(|c| c.connects += 1);
        let opening = TurnKind::Open(connection_id.to_owned());
        self.run_step_as(room, opening, |r, log| {
            let joining = Joining {
                connection_id,
                user_id: user,
                handle: peer,
                session: o.session,
                rooms: o.rooms,
                since: o.since,
            };
            (r.open(joining, now_ms(), log), ())
        })
    }

    /// What connects deferred goes to the others soon (see `deferral.rs`).
    pub(super) async fn flush_deferred(&self, room: &str) {
        if let Err(e) = self.flush_deferred_soon(room).await {
            log::error(
                "deferred_presence_failed",
                json!({"room": room, "detail": e.to_string()}),
            );
        }
    }

    /// A server post: stored and broadcast like any message.
    fn publish(&self, room: &str, data: &str, exclude: Option<String>) -> Result<Response> {
        let Ok(data) = serde_json::from_str::<&RawValue>(data) else {
            return error(ErrorCode::BadRequest, "data must be JSON");
        };
        let posted = self.run_step(room, |r, log| {
            match r.server_publish(data, exclude, now_ms(), log) {
                Ok(ServerPost {
                    send,
                    delivered,
                    seq,
                    webhook,
                }) => (
                    std::iter::once(send).chain(webhook).collect(),
                    Ok((delivered, seq)),
                ),
                Err(e) => (Vec::new(), Err(e)),
            }
        })?;
        self.ensure_retention_alarm();
        match posted {
            Ok((n, seq)) => json_response(200, format!(r#"{{"delivered":{n},"seq":{seq}}}"#)),
            Err(e) => internal("server post", &e.to_string()),
        }
    }

    /// A read of the room (a page of its history or of its members): for the admin
    /// (`reader` `None`), or for a reader who is not banned from the room.
    fn read(
        &self,
        room: &str,
        reader: Option<String>,
        answer: impl FnOnce() -> Result<Response>,
    ) -> Result<Response> {
        match self.banned_reader(room, reader)? {
            Some(refusal) => error_response(&refusal),
            None => answer(),
        }
    }

    fn members(&self, room: &str, after: Option<String>, limit: u32) -> Result<Response> {
        let body = self.run_step(room, |r, _| {
            (Vec::new(), r.members_json(after.as_deref(), limit as usize))
        })?;
        json_response(200, body)
    }

    /// A user banned from this room reads neither its history nor its members.
    fn banned_reader(&self, room: &str, reader: Option<String>) -> Result<Option<ChatError>> {
        let Some(reader) = reader else {
            return Ok(None);
        };
        let now = now_ms();
        self.run_step(room, |r, _| {
            let ban = r.ban_of(&reader, now).map(|b| ChatError::banned(b.until));
            (Vec::new(), ban)
        })
    }

    fn history(&self, room: &str, query: HistoryQuery) -> Result<Response> {
        let max_bytes = self.config.history_page_max_bytes;
        match self.run_step(room, |_, log| (Vec::new(), log.page(query, max_bytes)))? {
            Ok((frames, next)) => json_response(200, history_body(&frames, next)),
            Err(e) => internal("history read", &e.to_string()),
        }
    }

    /// A frame from the user's registry for each of the user's connections here. A room that
    /// is not loaded (and so has nothing pending) finds them by tag and sends directly, rather
    /// than rebuilding the index of the whole room for one user's delivery.
    fn deliver_to_user(&self, room: &str, user: &str, frame: String) -> Result<Response> {
        if self.unloaded_and_idle()? {
            let sockets = sockets::of_user(&self.state, user);
            for ws in &sockets {
                let _ = ws.send_with_str(&frame);
            }
            return delivered_reply(sockets.len());
        }
        let delivered = self.run_step(room, |r, _| {
            let LocalDelivery { send, delivered } = r.deliver_to_user(user, frame);
            (vec![send], delivered)
        })?;
        delivered_reply(delivered)
    }

    /// A ready-made frame for one connection here: by tag when the room is not loaded (as for
    /// a user's delivery above), else through a turn.
    fn deliver_to_connection(
        &self,
        room: &str,
        connection: &str,
        frame: String,
    ) -> Result<Response> {
        let delivered = if self.unloaded_and_idle()? {
            let socket = sockets::of_connection(&self.state, connection);
            if let Some(ws) = &socket {
                let _ = ws.send_with_str(&frame);
            }
            usize::from(socket.is_some())
        } else {
            self.run_step(room, |r, _| {
                let LocalDelivery { send, delivered } = r.deliver_to_connection(connection, frame);
                (vec![send], delivered)
            })?
        };
        if delivered == 0 {
            return error(ErrorCode::NotFound, "no such connection");
        }
        delivered_reply(delivered)
    }

    fn debug(&self) -> Result<Response> {
        let sockets = sockets::debug_list(&self.state);
        let (turns, frames) = self.turns.stats.get();
        let body = serde_json::json!({
            "instance": self.instance,
            "created_ms": self.created_ms,
            "loaded_before_this_call": self.is_loaded(),
            "turns": turns,
            "frames_in_turns": frames,
            "sockets": sockets.len(),
            "connections": sockets,
            "fanout": self.fanout_debug()?,
        });
        json_response(200, body.to_string())
    }
}

impl ChatRoom {
    /// Nothing pending and the index not loaded, and no connection on a fan-out object: a
    /// delivery may find its sockets by tag instead of loading the whole room.
    fn unloaded_and_idle(&self) -> Result<bool> {
        Ok(!self.is_loaded() && self.turns.is_idle() && !self.fanouts.any(&self.sql())?)
    }
}

fn delivered_reply(delivered: usize) -> Result<Response> {
    let body = Delivered {
        delivered: delivered as u64,
    };
    json_response(200, serde_json::to_string(&body)?)
}
