//! The room's calls that involve its fan-out objects ([`crate::fanout`]): placing an upgrade
//! on one once the room's own sockets are full, and running the frames and closes one sends.

use super::endpoints::Opening;
use super::turn::{Frame, Link, Peer, Received};
use super::ChatRoom;
use crate::calls::FanoutCall;
use crate::common::error::ErrorCode;
use crate::fanout::Inbound;
use crate::shell::common::http::{error, internal, json_response};
use crate::shell::common::log;
use serde_json::json;
use std::rc::Rc;
use worker::{Response, Result};

impl ChatRoom {
    /// Whether the room's own object holds `ROOM_FANOUT_CONNECTIONS` sockets already (the
    /// room is loaded: admission loaded it).
    pub(super) fn own_sockets_full(&self) -> bool {
        let loaded = self.room.borrow();
        let connections = loaded
            .as_ref()
            .map_or(0, |l| l.room.index().connection_count());
        self.fanouts.own_sockets(connections) >= self.config.fanout_connections
    }

    /// Places an admitted upgrade on a fan-out object. The connection is recorded and joins the
    /// room at once, in the same synchronous step as its admission, so the room's limits count
    /// it while the object accepts (upgrades arriving meanwhile see it). In the object's stream
    /// ([`crate::shell::fanout::stream`]) the accept comes after every plan built before the connection
    /// joined and before its `welcome`; the object's `101` becomes the room's answer. If the
    /// object fails, the connection leaves again.
    pub(super) async fn accept_on_fanout(
        &self,
        room: &str,
        user: &str,
        connection_id: String,
        o: Opening,
    ) -> Result<Response> {
        let sql = self.sql();
        let index = self
            .fanouts
            .remote(&sql)?
            .place(self.config.fanout_connections);
        self.fanouts
            .record(&sql, index, &o.attachment(user, &connection_id))?;
        let call = FanoutCall::Accept {
            connection: connection_id.clone(),
            user: user.to_owned(),
            batch: o.batch,
            subprotocol: o.subprotocol,
            target: index,
        };
        let peer = Peer {
            link: Link::Fanout {
                index,
                connection: Rc::from(connection_id.as_str()),
            },
            batch: o.batch,
        };
        let answer = self.fanouts.accept(index, call);
        let opened = self.open_step(room, user, &connection_id, peer, o);
        self.fanouts.send(&self.env, room);
        let accepted = match (opened, answer.await) {
            (Err(e), _) => Err(e),
            (Ok(()), Ok(answer)) => answer,
            (Ok(()), Err(_)) => Err(worker::Error::RustError("accept dropped".into())),
        };
        match accepted {
            Ok(res) if res.status_code() == 101 => {
                self.flush_deferred(room).await;
                Ok(res)
            }
            other => {
                self.end_remote(room, &connection_id, false);
                let detail = match other {
                    Ok(res) => format!("answered {}", res.status_code()),
                    Err(e) => e.to_string(),
                };
                internal("place a connection on a fan-out object", &detail)
            }
        }
    }

    /// A fan-out object's turn of frames and closes ([`Inbound`]), run in order: frames queue
    /// for a turn as a socket's do; a close first runs what queued before it.
    pub(super) async fn fanout_frames(&self, room: &str, frames: &str) -> Result<Response> {
        let Ok(items) = serde_json::from_str::<Vec<Inbound>>(frames) else {
            return error(ErrorCode::BadRequest, "bad fan-out frames");
        };
        let sql = self.sql();
        let mut received = Vec::new();
        for item in items {
            let c = item.connection().to_owned();
            let index = self.fanouts.remote(&sql)?.get(&c).map(|(i, _)| *i);
            let Some(index) = index else {
                continue; // the room ended it already: nothing it sends counts any more
            };
            let frame = match item {
                Inbound::Text { text, .. } => {
                    self.obs.count(|m| m.bytes_in += text.len() as u64);
                    Frame::Text(text)
                }
                Inbound::Binary { .. } => Frame::Binary,
                Inbound::TooLarge { len, .. } => Frame::TooLarge(len),
                Inbound::Closed { .. } | Inbound::Lost { .. } => {
                    let lost = matches!(item, Inbound::Lost { .. });
                    self.queue(std::mem::take(&mut received));
                    self.end_remote(room, &c, lost);
                    continue;
                }
            };
            let from = Link::Fanout {
                index,
                connection: Rc::from(c.as_str()),
            };
            received.push(Received {
                from,
                connection_id: c,
                frame,
            });
        }
        self.queue_and_run(received).await;
        json_response(200, "{}".to_owned())
    }

    /// A connection on a fan-out object ended: as a socket of the room's own closing, it
    /// leaves the index, and its record goes. `lost`: the object no longer holds it (it
    /// restarted, no close) — its user, if that was their last connection, is held
    /// ([`crate::room::holds`]): dropped, not gone.
    pub(super) fn end_remote(&self, room: &str, c: &str, lost: bool) {
        let until = if lost {
            self.hold_until_logged(room)
        } else {
            None
        };
        self.obs.count(|m| m.disconnects += 1);
        let ended = self.run_step(room, |r, _| (r.lose(c, until), ()));
        self.fanouts.forget(&self.sql(), c);
        if let Err(e) = ended {
            log::error(
                "close_not_processed",
                json!({"room": room, "detail": e.to_string()}),
            );
        }
    }

    /// [`Self::hold_until`], a failure logged and taken as "no hold" (the loss is a close).
    fn hold_until_logged(&self, room: &str) -> Option<u64> {
        self.hold_until(room).unwrap_or_else(|e| {
            let detail = e.to_string();
            log::error("hold_not_stored", json!({"room": room, "detail": detail}));
            None
        })
    }

    /// What `/debug` shows of fan-out: connections on fan-out objects, by object.
    pub(super) fn fanout_debug(&self) -> Result<serde_json::Value> {
        let remote = self.fanouts.remote(&self.sql())?;
        Ok(json!({
            "connections": remote.len(),
            "objects": remote.counts().iter().map(|(i, n)| (i.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
        }))
    }
}
