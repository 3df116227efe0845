//! Helpers of the room core's unit tests: rooms whose handles are connection ids, so every
//! behaviour can be read back from the actions it returns.

use super::{Action, Incoming, Joining, Room};
use crate::common::config::Config;
use crate::room::log::message_log::MemoryLog;
use crate::room::log::message_log::MessageLog;
use crate::room::session::Session;
use serde_json::Value;

/// A room whose handles are the connection ids, so deliveries can be read back.
pub fn room() -> Room<String> {
    Room::new("lobby", Config::default())
}

pub fn open(r: &mut Room<String>, cid: &str, user: &str) -> Vec<Action> {
    open_with(r, cid, user, 0, None, &MemoryLog::default())
}

/// Opens a connection (handle: its id) with a session that never expires.
pub fn open_with(
    r: &mut Room<String>,
    cid: &str,
    user: &str,
    now_ms: u64,
    since: Option<u64>,
    log: &dyn crate::room::log::chat_log::ChatLog,
) -> Vec<Action> {
    let j = Joining {
        connection_id: cid,
        user_id: user,
        handle: cid.to_owned(),
        session: Session::default(),
        rooms: None,
        since,
    };
    r.open(j, now_ms, log)
}

/// Flattens actions into (recipient connection id, parsed frame) pairs.
pub fn deliveries(r: &Room<String>, actions: &[Action]) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for a in actions {
        if let Action::Send { to, frame } = a {
            let v: Value = serde_json::from_str(frame).unwrap();
            let mut to: Vec<String> = r.resolve(to).cloned().collect();
            to.sort();
            out.extend(to.into_iter().map(|c| (c, v.clone())));
        }
    }
    out
}

/// Sends `text` from `cid` with a throwaway log; the publisher's `ack` is left out (acks
/// have their own tests below).
pub fn send(r: &mut Room<String>, cid: &str, text: &str) -> Vec<(String, Value)> {
    let actions = r.receive(cid, Incoming::Text(text), 1_000, &mut MemoryLog::default());
    let mut d = deliveries(r, &actions);
    d.retain(|x| x.1["type"] != "ack");
    d
}

/// Like `send`, but with a log that persists across calls.
pub fn send_logged(
    r: &mut Room<String>,
    log: &mut MemoryLog,
    cid: &str,
    text: &str,
) -> Vec<(String, Value)> {
    let actions = r.receive(cid, Incoming::Text(text), 1_000, log);
    deliveries(r, &actions)
}

/// The actions with every [`Action::Replay`] carried out as the shell does: the log's frames
/// from `from` on, each as a send to that connection.
pub fn with_replays(actions: Vec<Action>, log: &dyn MessageLog) -> Vec<Action> {
    let mut out = Vec::new();
    for a in actions {
        match a {
            Action::Replay {
                connection_id,
                from,
            } => {
                for (_, frame) in log.read_from(from, usize::MAX).unwrap() {
                    let to = super::Recipients::One(connection_id.clone());
                    out.push(Action::Send { to, frame });
                }
            }
            other => out.push(other),
        }
    }
    out
}
