//! Carrying out a turn's sends ([`crate::room::sends`] plans them): each planned text
//! converted to a JS string once and handed to every socket that gets it, a resume's replay
//! streamed in bounded chunks, and a socket closed mid-turn given what the turn owes it first.

use super::fanout::Fanouts;
use super::log::RoomLog;
use super::sockets::{self, attachment};
use super::turn::{Link, Peer};
use crate::protocol::internal_error_frame;
use crate::room::closing::ServerClose;
use crate::room::log::message_log::MessageLog;
use crate::room::sends::{batch_texts_of, TurnSends};
use crate::room::session::CloseReason;
use crate::room::Room;
use crate::shell::common::incident;
use std::collections::BTreeMap;
use wasm_bindgen::JsValue;
use worker::WebSocket;

/// Sends what a turn planned: each distinct text is converted to a JS string once (UTF-8 →
/// UTF-16 is not free) and that same string is handed to every socket that gets it. Returns
/// (sends, bytes) for the metrics.
///
/// Sends to connections on fan-out objects go into their objects' plans instead (each text
/// once per object, [`crate::fanout::Plan::add_sends`]); they count as sends too, and apart
/// (`fanout_sends`, the third number).
pub(super) fn send_planned(
    r: &Room<Peer>,
    sends: &mut TurnSends,
    fanouts: &Fanouts,
) -> (u64, u64, u64) {
    if sends.is_empty() {
        return (0, 0, 0);
    }
    let plan = sends.plan(r, |p| p.batch);
    let mut texts: Vec<Option<JsValue>> = vec![None; plan.texts.len()];
    let mut remote: BTreeMap<u32, Vec<(&str, usize)>> = BTreeMap::new();
    let (mut sent, mut bytes, mut by_fanout) = (0, 0, 0);
    for (peer, t) in plan.sends {
        (sent, bytes) = (sent + 1, bytes + plan.texts[t].len() as u64);
        match &peer.link {
            Link::Local(ws) => {
                let text = texts[t].get_or_insert_with(|| JsValue::from_str(&plan.texts[t]));
                let _ = sockets::send_text(ws, text);
            }
            Link::Fanout { index, connection } => {
                by_fanout += 1;
                remote.entry(*index).or_default().push((connection, t));
            }
        }
    }
    for (index, sends) in remote {
        fanouts.add_sends(index, &plan.texts, sends);
    }
    (sent, bytes, by_fanout)
}

impl super::ChatRoom {
    /// A turn's sends went out: counted for the metrics (`sends`, `bytes_out`).
    pub(super) fn sent(&self, (sends, bytes): (u64, u64)) {
        self.obs.count(|c| {
            c.sends += sends;
            c.bytes_out += bytes;
        });
    }

    /// [`Self::sent`] for [`send_planned`]'s count, fan-out objects' sends among them.
    pub(super) fn sent_planned(&self, (sends, bytes, by_fanout): (u64, u64, u64)) {
        self.sent((sends, bytes));
        self.obs.count(|c| c.fanout_sends += by_fanout);
    }
}

/// Ends a socket the room dropped in the middle of a turn (a flood, an operator's call, the
/// clock). It has left the index already, so what this turn owes it (its `closing` frame among
/// it) goes out first; it is marked closing, so a wake before the close completes does not
/// bring it back into the index, and its later frames are ignored. Then it is closed now, or —
/// for the closes the client is asked to make ([`crate::room::closing`]) — left to the client
/// until the returned deadline. Returns (sends, bytes) of what it was owed, for the metrics.
pub(super) fn close_mid_turn(
    ws: &WebSocket,
    sends: &mut TurnSends,
    reason: CloseReason,
    now_ms: u64,
) -> ((u64, u64), ServerClose) {
    let mut sent = (0, 0);
    let mut how = ServerClose::Now;
    if let Some(mut a) = attachment(ws) {
        for frame in sends.owed_to(&a.connection_id, &a.user_id) {
            sent = (sent.0 + 1, sent.1 + frame.len() as u64);
            let _ = ws.send_with_str(frame);
        }
        how = a.end(reason, now_ms);
        let _ = sockets::set_attachment(ws, &a);
    }
    sockets::mark_closing(ws);
    if how == ServerClose::Now {
        let _ = ws.close(Some(reason.code()), Some(reason.reason()));
    }
    (sent, how)
}

/// Rows a replay reads from the log at a time: the Wasm heap holds one chunk, not the log.
const REPLAY_CHUNK: usize = 64;

/// Streams a resume's replay to one connection: the log from `from` on, read in chunks of
/// [`REPLAY_CHUNK`] rows, each chunk sent before the next is read (in `batch` frames for a
/// connection that takes them). Synchronous, so no live traffic can come between replay and
/// live; the replay limits bound what the runtime buffers for the socket.
pub(super) fn replay(
    r: &Room<Peer>,
    log: &RoomLog,
    connection_id: &str,
    from: u64,
    fanouts: &Fanouts,
) {
    let Some(peer) = r.index().get(connection_id).map(|e| &e.handle.handle) else {
        return;
    };
    let mut next = from;
    loop {
        let rows = match log.read_from(next, REPLAY_CHUNK) {
            Ok(rows) => rows,
            Err(e) => {
                let incident = incident::report("replay", &e.to_string());
                peer.link
                    .send(fanouts, &internal_error_frame(&incident, None));
                return;
            }
        };
        let Some(&(last, _)) = rows.last() else {
            return;
        };
        let frames: Vec<&str> = rows.iter().map(|(_, f)| f.as_str()).collect();
        let texts = if peer.batch {
            batch_texts_of(&frames)
        } else {
            frames.iter().map(|f| (*f).to_owned()).collect()
        };
        match &peer.link {
            Link::Local(ws) => texts.into_iter().for_each(|t| {
                let _ = ws.send_with_str(t);
            }),
            Link::Fanout { index, connection } => {
                fanouts.plan(*index).add_frames(connection, texts);
            }
        }
        if rows.len() < REPLAY_CHUNK {
            return;
        }
        next = last + 1;
    }
}
