//! What `GET /me/unread` needs from this room (see [`crate::registry::unread`]), reported to registry
//! shards in the background, never on the message path: the room's message count to its counter
//! shard, after the turns where it changed; a user's `(cursor, base)` to the user's shard, after
//! the turns where their cursor moved or they published while having one.
//!
//! Per shard, at most one request is in flight and at most one goes out per
//! [`REPORT_INTERVAL_MS`]: after each one the queue waits the interval, and everything that
//! changed meanwhile (any number of messages, any number of users of that shard) rides in the
//! next one, read afresh from storage when it leaves. A quiet room's change goes out at once;
//! the wait keeps the object in memory for that second, no longer. So the cost per message
//! is at most one small sub-request per room per second, whatever the room's size; the counts
//! lag by at most about a second plus a round trip.
//!
//! Also here: `DELETE /rooms/{room}/messages/{seq}`, the server API's deletion, and a user's
//! erasure from the room (`RoomCall::EraseUser`), which deletes the same way.

use super::turn::SharedRoom;
use super::ChatRoom;
use crate::calls::RegistryRequest;
use crate::common::error::ErrorCode;
use crate::registry::shards::ShardHash;
use crate::registry::unread::{counter_shard, CursorReport};
use crate::room::log::chat_log::ChatLog;
use crate::room::reports::REPORT_INTERVAL_MS;
use crate::room::{Action, ServerDelete};
use crate::shell::calls;
use crate::shell::common::env::now_ms;
use crate::shell::common::env::settings;
use crate::shell::common::http::{error, internal, json_response};
use crate::shell::common::log;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::rc::Rc;
use worker::{Env, Response, Result};

/// What is waiting to be reported to one shard.
#[derive(Default)]
struct Pending {
    users: BTreeSet<String>,
    messages: bool,
    /// Users who authored something here, for their shard's set of rooms to erase.
    authors: BTreeSet<String>,
}

/// Most authors a room remembers having reported (per wake), so that a busy room's set stays
/// small in memory.
const AUTHORS_REMEMBERED: usize = 10_000;

#[derive(Default, Clone)]
pub struct ReadStateQueue {
    pending: Rc<RefCell<BTreeMap<u32, Pending>>>,
    in_flight: Rc<RefCell<HashSet<u32>>>,
    /// The last message count queued, so that a turn without new messages queues nothing.
    messages: Rc<Cell<u64>>,
    /// Authors already reported since this wake: a user's shard hears of the room once per
    /// wake, not once per message (its row is written once per user per room).
    authors: Rc<RefCell<HashSet<String>>>,
}

impl ChatRoom {
    /// After a turn: the users whose read state changed, and the room's message count.
    pub(super) fn read_states_changed(&self, room: &str, users: &mut Vec<String>, messages: u64) {
        let users = std::mem::take(users);
        let queue = &self.read_states;
        let mut shards = BTreeSet::new();
        let settings = settings(&self.env);
        let hash = &settings.config.registry_shards;
        {
            let mut pending = queue.pending.borrow_mut();
            if messages > queue.messages.replace(messages) {
                let shard = counter_shard(room, hash);
                pending.entry(shard).or_default().messages = true;
                shards.insert(shard);
            }
            for user in users {
                let shard = hash.shard_of(&user);
                pending.entry(shard).or_default().users.insert(user);
                shards.insert(shard);
            }
        }
        self.kick_reports(room, shards);
    }

    /// After a turn: the users who published or reacted, reported to their shards with the
    /// next read state report (those already reported since this wake are left out).
    pub(super) fn authored(&self, room: &str, authors: Vec<String>) {
        let queue = &self.read_states;
        let settings = settings(&self.env);
        let hash = &settings.config.registry_shards;
        let mut shards = BTreeSet::new();
        for user in authors {
            let mut reported = queue.authors.borrow_mut();
            if reported.len() >= AUTHORS_REMEMBERED {
                reported.clear(); // re-reporting is harmless: the shard writes nothing new
            }
            if reported.insert(user.clone()) {
                let shard = hash.shard_of(&user);
                let mut pending = queue.pending.borrow_mut();
                pending.entry(shard).or_default().authors.insert(user);
                shards.insert(shard);
            }
        }
        self.kick_reports(room, shards);
    }

    /// Starts the report loop of each of `shards` that has none running.
    fn kick_reports(&self, room: &str, shards: BTreeSet<u32>) {
        let queue = &self.read_states;
        for shard in shards {
            if queue.in_flight.borrow_mut().insert(shard) {
                let (queue, env, shared) = (queue.clone(), self.env.clone(), self.room.clone());
                let room = room.to_owned();
                self.state.wait_until(async move {
                    super::reports::after_the_turn().await;
                    queue.flush(&env, &shared, &room, shard).await
                });
            }
        }
    }

    /// The room was deleted: its message count starts again from 0, and nothing is pending.
    pub(super) fn forget_read_states(&self) {
        self.read_states.messages.set(0);
        self.read_states.pending.borrow_mut().clear();
    }

    /// `DELETE /rooms/{room}/messages/{seq}`.
    pub(super) fn delete_message(&self, room: &str, target: u64) -> Result<Response> {
        let deleted = self.run_step(room, |r, log| {
            match r.server_delete(target, now_ms(), log) {
                Ok(Some(ServerDelete {
                    send,
                    delivered,
                    seq,
                    webhook,
                })) => {
                    let erased = Action::MessageErased { target };
                    let actions = std::iter::once(send).chain(webhook).chain([erased]);
                    (actions.collect(), Ok(Some((delivered, seq))))
                }
                Ok(None) => (Vec::new(), Ok(None)),
                Err(e) => (Vec::new(), Err(e)),
            }
        })?;
        match deleted {
            Ok(Some((n, seq))) => json_response(200, format!(r#"{{"delivered":{n},"seq":{seq}}}"#)),
            Ok(None) => error(ErrorCode::NotFound, "no such message"),
            Err(e) => internal("message deletion", &e.to_string()),
        }
    }
}

impl ChatRoom {
    /// `RoomCall::EraseUser`: the user's messages deleted (at most `MESSAGES_PER_CALL`), and
    /// with the last of them their reactions, id and cursor gone, in one turn (one commit). Their sockets were closed by the revocation the erasure began with.
    pub(super) fn erase_user(&self, room: &str, user: &str) -> Result<Response> {
        let limit = crate::room::erasure::MESSAGES_PER_CALL;
        let erased = self.run_step(room, |r, log| {
            match r.erase_user(user, now_ms(), limit, log) {
                Ok(e) => (e.actions, Ok((e.messages, e.done))),
                Err(e) => (Vec::new(), Err(e)),
            }
        })?;
        if let Err(e) = self.counted.remove(&self.sql(), user) {
            return internal("user erasure", &e.to_string());
        }
        // The turn flushed its events (the deletions'): those waiting lose the user's id too.
        if let Err(e) = self.webhooks.erase_user(user) {
            return internal("user erasure in the webhook outbox", &e.to_string());
        }
        match erased {
            Ok((n, done)) => json_response(200, format!(r#"{{"messages":{n},"done":{done}}}"#)),
            Err(e) => internal("user erasure", &e.to_string()),
        }
    }
}

impl ReadStateQueue {
    /// Sends the shard's pending reports, then waits the interval before looking again: at
    /// most one request per shard per interval however often changes come (a busy room changes
    /// something every turn), and a quiet room's change goes out at once. Ends when nothing is
    /// pending after the wait.
    async fn flush(&self, env: &Env, shared: &SharedRoom, room: &str, shard: u32) {
        loop {
            let pending = self.pending.borrow_mut().remove(&shard).unwrap_or_default();
            if pending.users.is_empty() && !pending.messages && pending.authors.is_empty() {
                self.in_flight.borrow_mut().remove(&shard);
                return;
            }
            let settings = settings(env);
            let hash = &settings.config.registry_shards;
            if let Some(request) = read(shared, room, shard, hash, &pending) {
                send(env, &request).await;
            }
            let interval = std::time::Duration::from_millis(REPORT_INTERVAL_MS);
            worker::Delay::from(interval).await;
        }
    }
}

/// The report for `shard`, read from the room's storage now (`None`: the room is not loaded,
/// or nothing to say).
fn read(
    shared: &SharedRoom,
    room: &str,
    shard: u32,
    hash: &ShardHash,
    p: &Pending,
) -> Option<RegistryRequest> {
    let slot = shared.borrow();
    let log = &slot.as_ref()?.log;
    let messages = log.message_count();
    let cursors: Vec<CursorReport> = p
        .users
        .iter()
        .filter_map(|user| {
            let pos = log.read_position(user).ok()?;
            Some(CursorReport {
                user: user.clone(),
                seq: pos.cursor?,
                base: messages.saturating_sub(pos.unread),
            })
        })
        .collect();
    let messages = (counter_shard(room, hash) == shard).then_some(messages);
    if cursors.is_empty() && messages.is_none() && p.authors.is_empty() {
        return None;
    }
    Some(RegistryRequest::ReadStates {
        room: room.to_owned(),
        messages,
        cursors,
        authors: p.authors.iter().cloned().collect(),
    })
}

/// One report, retried once; a failure is logged (the next change reports afresh).
pub(super) async fn send(env: &Env, request: &RegistryRequest) {
    for attempt in 0..2 {
        let sent = calls::call_registry(env, request).await;
        match sent.as_ref().map(calls::ok) {
            Ok(Ok(())) => return,
            _ if attempt == 0 => {
                worker::Delay::from(std::time::Duration::from_millis(100)).await;
            }
            _ => log::warn("read_state_report_failed", serde_json::Value::Null),
        }
    }
}
