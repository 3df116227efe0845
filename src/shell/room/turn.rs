//! Turns: how a room processes frames.
//!
//! Frames are not processed one event at a time but in **turns**: the first frame to arrive
//! queues itself and waits on a zero timer; awaiting a timer (unlike a storage call) keeps
//! the object's input gate open, so the frames already queued behind it are delivered
//! meanwhile and only queue themselves too. The waiting handler then processes them all
//! in one synchronous step. That is where the speed under load comes from:
//!
//! - their log writes fall into one implicit SQLite transaction, so one commit makes a
//!   whole turn durable (group commit) — and the output gate still holds every send of the
//!   turn, acks included, until that commit is done;
//! - each recipient gets one send per turn when it takes `batch` frames ([`TurnSends`]).
//!
//! An idle room pays one zero timer per message. Every other event (a socket opening or
//! closing, an HTTP call) runs the pending turn first, so order is kept: a new socket
//! never sees a message accepted before its `welcome`, a closing one gets its last acks.

use super::forward::{forward_all, Forward};
use super::refresh::PendingRefresh;
use super::sends::{replay, send_planned};
use super::sockets::{self, attachment, connection_id_of};
use super::ChatRoom;
use crate::common::connection_id::room_of;
use crate::protocol::internal_error_frame;
use crate::room::deferral::Deferred;
use crate::room::log::chat_log::ChatLog;
use crate::room::sends::TurnSends;
use crate::room::{Action, Incoming, Recipients, Restored, Room};
use crate::shell::common::incident;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use worker::{Result, WebSocket, WebSocketIncomingMessage};

use super::log::RoomLog;
use super::moderation_store::ModerationStore;

/// A connection as the room holds it: where its socket is and whether it takes `batch` frames.
#[derive(Debug)]
pub struct Peer {
    pub link: Link,
    pub batch: bool,
}

/// Where a connection's socket is.
#[derive(Debug, Clone)]
pub enum Link {
    /// One of the room's own sockets.
    Local(WebSocket),
    /// On fan-out object `index` ([`crate::fanout`]): sends to it go into that object's plan.
    Fanout { index: u32, connection: Rc<str> },
}

impl Link {
    /// Sends one frame to the connection: at once to a socket of the room's own, in the next
    /// plan of its object otherwise.
    pub(super) fn send(&self, fanouts: &super::fanout::Fanouts, frame: &str) {
        match self {
            Link::Local(ws) => {
                let _ = ws.send_with_str(frame);
            }
            Link::Fanout { index, connection } => fanouts
                .plan(*index)
                .add_frames(connection, [frame.to_owned()]),
        }
    }
}

/// What a woken room loads on its first event: the user index and the log's position.
pub struct Loaded {
    pub room: Room<Peer>,
    pub log: RoomLog,
}

/// The loaded room, shared with the background report tasks (which read its counts).
pub type SharedRoom = Rc<RefCell<Option<Loaded>>>;

/// A frame received from a socket and not processed yet.
pub(super) struct Received {
    pub(super) from: Link,
    pub(super) connection_id: String,
    pub(super) frame: Frame,
}

/// What a queued frame holds: an oversize or binary one is refused when processed, in order
/// with the rest, but its content is never kept.
pub(super) enum Frame {
    Text(String),
    Binary,
    TooLarge(usize),
}

/// Frames waiting for the next turn, and how much coalescing happens (for `/debug`).
#[derive(Default)]
pub struct TurnQueue {
    inbox: RefCell<Vec<Received>>,
    /// A handler is waiting to run the next turn.
    pending: Cell<bool>,
    /// (turns run, frames they processed).
    pub stats: Cell<(u64, u64)>,
    /// What connects sent to the others, waiting for the next turn ([`crate::room::deferral`]).
    pub deferred: RefCell<Deferred>,
    /// A connect handler is waiting to flush the deferred frames.
    pub flush_pending: Cell<bool>,
    /// Refreshes in place whose tokens wait to be verified, after the turn (refresh.rs).
    pub refreshes: RefCell<Vec<PendingRefresh>>,
}

impl TurnQueue {
    /// One more turn, of `frames` frames (for `/debug`).
    fn counted(&self, frames: usize) {
        let (turns, total) = self.stats.get();
        self.stats.set((turns + 1, total + frames as u64));
    }

    /// Nothing is waiting to be processed (no turn pending, no frame queued, nothing deferred).
    pub fn is_idle(&self) -> bool {
        !self.pending.get() && self.inbox.borrow().is_empty() && self.deferred.borrow().is_empty()
    }
}

/// How a turn treats the frames connects deferred ([`crate::room::deferral`]).
pub enum TurnKind {
    /// Frames arrived, or a flush is due: the deferred frames go first.
    Flush,
    /// An event's own step (a call, a close, the clock): the deferred frames go first if the
    /// turn sends anything at all, else they keep waiting.
    Step,
    /// A connect of this connection: what goes to it is sent, what goes to the others waits.
    Open(String),
}

/// What one turn produced beyond its sends.
#[derive(Default)]
pub(super) struct Turn {
    pub(super) sends: TurnSends,
    counts_changed: bool,
    forwards: Vec<(Link, Forward)>,
    /// Users whose read state changed, and the room's message count after the turn (for the
    /// unread counts across rooms, see `read_states.rs`).
    read_users: Vec<String>,
    /// Users who published or reacted (their registry learns the room, once per wake).
    authors: Vec<String>,
    messages: u64,
    /// The connection a connect turn opens (its frames are the only ones sent at once).
    pub(super) opening: Option<String>,
}

impl ChatRoom {
    /// A frame arrived: queue it, and if no handler is waiting for a turn yet, be that handler.
    pub(super) async fn on_frame(&self, ws: WebSocket, message: WebSocketIncomingMessage) {
        let Some(connection_id) = connection_id_of(&ws) else {
            // Not one of ours (cannot happen short of storage corruption): refuse politely.
            let _ = ws.close(Some(1011), Some("unknown connection"));
            return;
        };
        if sockets::is_closing(&ws) {
            return; // the server ended it (`closing`): nothing it sends counts any more
        }
        // The size is checked before the frame is queued. (workers-rs has already copied the
        // text into Wasm memory, bounded by the runtime's own limit: 1 MiB locally, 32 MiB on
        // Cloudflare; from here on an oversize frame costs nothing more.)
        self.obs.count(|c| c.bytes_in += incoming_len(&message));
        let frame = match message {
            WebSocketIncomingMessage::String(text)
                if text.len() > self.config.max_message_bytes =>
            {
                Frame::TooLarge(text.len())
            }
            WebSocketIncomingMessage::String(text) => Frame::Text(text),
            WebSocketIncomingMessage::Binary(_) => Frame::Binary,
        };
        let from = Link::Local(ws);
        self.queue_and_run(vec![Received {
            from,
            connection_id,
            frame,
        }])
        .await;
    }

    /// Frames to process, in order: a socket's frame, or a fan-out object's turn of them.
    pub(super) fn queue(&self, received: Vec<Received>) {
        self.turns.inbox.borrow_mut().extend(received);
    }

    /// Queues frames, and if no handler is waiting for a turn yet, becomes that handler: it
    /// waits a zero timer (the frames arriving meanwhile queue too), then runs the turn.
    pub(super) async fn queue_and_run(&self, received: Vec<Received>) {
        let Some(first) = received.first() else {
            return;
        };
        // Only the handler that will run the turn needs the room's name (to load it).
        let runs_turn = !self.turns.pending.replace(true);
        let room = runs_turn.then(|| room_of(&first.connection_id).unwrap_or_default().to_owned());
        self.queue(received);
        let Some(room) = room else {
            return; // the waiting handler's turn will take these frames
        };
        let arrived = crate::shell::common::env::now_ms();
        worker::Delay::from(std::time::Duration::ZERO).await;
        self.turns.pending.set(false);
        let waited = crate::shell::common::env::now_ms().saturating_sub(arrived);
        self.obs.count(|c| c.turn(waited));
        match self.run_turn(&room, TurnKind::Flush, |_, _| (Vec::new(), ())) {
            Ok(((), forwards)) => {
                self.ensure_retention_alarm();
                // The room is released: forwarding may await, and other events may run.
                forward_all(self.env.clone(), forwards).await;
                self.finish_refreshes(&room).await;
            }
            Err(e) => {
                // The room could not load: everyone waiting hears it, nothing was stored.
                let incident = incident::report("room turn", &e.to_string());
                let error = internal_error_frame(&incident, None);
                for r in self.turns.inbox.take() {
                    r.from.send(&self.fanouts, &error);
                }
                self.fanouts.send(&self.env, &room);
            }
        }
    }

    /// Runs one turn on the room (loading it first if needed): the frames received so far,
    /// then `f` (an event's own step, which never closes a socket or forwards), then the turn's
    /// sends, planned together (see [`TurnSends`]). Returns what `f` returned and the `direct`s
    /// the received frames asked for, each with the socket to tell if forwarding fails.
    pub(super) fn run_turn<T>(
        &self,
        room: &str,
        kind: TurnKind,
        f: impl FnOnce(&mut Room<Peer>, &mut RoomLog) -> (Vec<Action>, T),
    ) -> Result<(T, Vec<(Link, Forward)>)> {
        let mut slot = self.room.borrow_mut();
        let woke = slot.is_none();
        if woke {
            *slot = Some(self.load(room.to_owned())?);
        }
        let Some(Loaded { room: r, log }) = slot.as_mut() else {
            return Err(worker::Error::RustError("room not loaded".into()));
        };
        // A woken room re-asserts its total to its stats shard, so a shard that missed a report
        // converges — unless it has no connections: a room woken by a read of a name nobody
        // uses must not wake a shard (closes to zero are reported when they happen).
        let mut turn = Turn {
            counts_changed: woke && !r.index().is_empty(),
            ..Turn::default()
        };
        if woke {
            let holds = self.holds_on_load(r);
            self.apply(r, log, holds, None, &mut turn);
        }
        let received = self.turns.inbox.take();
        self.start_deferral(&kind, !received.is_empty(), &mut turn);
        if !received.is_empty() {
            self.receive_all(r, log, &received, &mut turn);
        }
        let (actions, out) = f(r, log);
        self.apply(r, log, actions, None, &mut turn);
        let counted = self.member_count_actions(r);
        self.apply(r, log, counted, None, &mut turn);
        self.settle_deferred(&mut turn);
        self.sent_planned(send_planned(r, &mut turn.sends, &self.fanouts));
        self.forget_hold_when_done(r);
        let durable = log.is_durable();
        turn.messages = log.message_count();
        drop(slot);
        // Plans for fan-out objects leave now (held by the output gate until the commit).
        self.fanouts.send(&self.env, room);
        // Still inside the turn's synchronous step: the events commit with its writes.
        self.flush_events();
        self.obs.end_of_turn(room);
        if turn.counts_changed {
            self.report_room_count();
        }
        if durable {
            self.read_states_changed(room, &mut turn.read_users, turn.messages);
            self.authored(room, std::mem::take(&mut turn.authors));
        }
        Ok((out, turn.forwards))
    }

    /// The frames that queued while the room was busy, in arrival order, then the turn's end
    /// (read cursors written once per user per turn, one receipt each) — and what they made is
    /// sent before the step's own work runs: if that work closes a socket, the socket still
    /// gets the acks and messages of what was accepted while it was connected.
    fn receive_all(
        &self,
        r: &mut Room<Peer>,
        log: &mut RoomLog,
        received: &[Received],
        turn: &mut Turn,
    ) {
        self.turns.counted(received.len());
        let now = crate::shell::common::env::now_ms();
        for m in received {
            let incoming = match &m.frame {
                Frame::Text(text) => Incoming::Text(text),
                Frame::Binary => Incoming::Binary,
                Frame::TooLarge(len) => Incoming::TooLarge(*len),
            };
            let actions = r.receive(&m.connection_id, incoming, now, log);
            self.apply(r, log, actions, Some(&m.from), turn);
        }
        let actions = r.end_turn(log);
        self.apply(r, log, actions, None, turn);
        self.sent_planned(send_planned(r, &mut turn.sends, &self.fanouts));
    }

    /// Carries out a step's actions: sends go to the turn's sends, the rest happens now.
    /// `current` is the socket whose frame produced them (closes and forwards need it).
    fn apply(
        &self,
        r: &Room<Peer>,
        log: &RoomLog,
        actions: Vec<Action>,
        current: Option<&Link>,
        turn: &mut Turn,
    ) {
        for action in actions {
            self.apply_one(r, log, action, current, turn);
        }
    }

    fn apply_one(
        &self,
        r: &Room<Peer>,
        log: &RoomLog,
        action: Action,
        current: Option<&Link>,
        turn: &mut Turn,
    ) {
        match action {
            Action::Send { to, frame } => {
                self.obs.count(|c| c.queued(&frame, || recipients(r, &to)));
                self.queue_send(turn, to, frame)
            }
            Action::Replay {
                connection_id,
                from,
            } => {
                // What the connection was sent so far (welcome, gaps) goes out first.
                self.settle_deferred(turn);
                self.sent_planned(send_planned(r, &mut turn.sends, &self.fanouts));
                replay(r, log, &connection_id, from, &self.fanouts);
            }
            a @ (Action::SaveSession { .. } | Action::SaveRooms { .. }) => {
                self.save_attachment(r, a)
            }
            Action::InternalError {
                connection_id,
                id,
                detail,
            } => internal_error(turn, connection_id, id, &detail),
            Action::Close {
                connection_id,
                reason,
            } => self.close_connection(current, &connection_id, reason, &mut turn.sends),
            Action::WakeAt(at) => self.wake_at(at),
            Action::UserCount {
                user_id,
                connections,
                presence,
            } => self.count_changed(r, turn, &user_id, connections, presence.is_some()),
            a @ Action::Forward { .. } => {
                let forward = current.zip(Forward::of(a));
                turn.forwards
                    .extend(forward.map(|(from, f)| (from.clone(), f)));
            }
            Action::ReadStateChanged { user_id } => turn.read_users.push(user_id),
            Action::Authored { user_id } => turn.authors.push(user_id),
            Action::Webhook(event) => self.record_event(r.name(), event),
            Action::MessageErased { target } => self.erase_webhook_data(target),
            a @ Action::VerifyRefresh { .. } => self
                .turns
                .refreshes
                .borrow_mut()
                .extend(PendingRefresh::of(a)),
        }
    }

    /// A user's count here changed: the room's total is reported after the turn, and a change
    /// of the user's presence (first in, last out) to the user's registry.
    fn count_changed(&self, r: &Room<Peer>, turn: &mut Turn, user: &str, n: u32, presence: bool) {
        turn.counts_changed = true;
        if presence {
            self.presence_changed(r, user, n);
        }
    }

    /// A user's first connection here opened, or their last closed: only that changes the
    /// user's set of rooms, which is what their registry keeps (a first connection's report
    /// was usually sent already, awaited, by the connect).
    fn presence_changed(&self, r: &Room<Peer>, user: &str, connections: u32) {
        if !self.reports.already_reported(user, connections) {
            self.report_presence(r.name(), user, connections);
        }
    }

    /// Runs a whole turn for an event not tied to a socket (an internal call, a close, the
    /// clock): the frames waiting first, then `f` — this event's own step, returning its
    /// actions and a result for the caller —, then the turn's sends. `direct`s from the frames
    /// that were waiting are forwarded in the background.
    pub(super) fn run_step<T>(
        &self,
        room: &str,
        f: impl FnOnce(&mut Room<Peer>, &mut RoomLog) -> (Vec<Action>, T),
    ) -> Result<T> {
        self.run_step_as(room, TurnKind::Step, f)
    }

    /// [`Self::run_step`] in a turn of the given kind (a connect defers what it sends to the
    /// others, a flush sends what was deferred).
    pub(super) fn run_step_as<T>(
        &self,
        room: &str,
        kind: TurnKind,
        f: impl FnOnce(&mut Room<Peer>, &mut RoomLog) -> (Vec<Action>, T),
    ) -> Result<T> {
        let (out, forwards) = self.run_turn(room, kind, f)?;
        if !forwards.is_empty() {
            self.state
                .wait_until(forward_all(self.env.clone(), forwards));
        }
        Ok(out)
    }

    /// Whether the room's index is in memory (it is rebuilt on the first event that needs it).
    pub(super) fn is_loaded(&self) -> bool {
        self.room.borrow().is_some()
    }

    /// Rebuilds the user index from the runtime's list of this object's sockets, opens the
    /// log (reading where it stands) and loads the room's bans and known revocations.
    fn load(&self, name: String) -> Result<Loaded> {
        let sql = self.sql();
        let log = RoomLog::open(sql.clone(), &self.config)?;
        let mut room = Room::new(name, self.config.clone());
        let now = crate::shell::common::env::now_ms();
        for ws in self.state.get_websockets() {
            // Sockets the client is closing are restored too: their close event is what woke us,
            // and it must find them to announce the leave. Only sockets the server closed itself
            // (already removed, marked `closing`) stay out.
            if let Some(a) = attachment(&ws).filter(|a| !a.closing) {
                sockets::remember_connection_id(&ws, &a.connection_id);
                let restored = Restored {
                    session: a.session(),
                    rooms: a.rooms.clone(),
                    handle: Peer {
                        link: Link::Local(ws),
                        batch: a.batch,
                    },
                };
                room.restore(&a.connection_id, &a.user_id, restored, now);
            }
        }
        self.restore_remote(&mut room, &sql, now)?;
        self.hold_absent_members(&mut room, &sql)?;
        let store = ModerationStore::new(sql);
        for ban in store.bans()? {
            room.restore_ban(ban);
        }
        for (user, before) in store.revocations()? {
            room.learn_revocation(&user, before);
        }
        Ok(Loaded { room, log })
    }
}

/// An internal failure while handling a connection's frame: the detail goes to the log under
/// an incident id, the connection gets only the id.
fn internal_error(turn: &mut Turn, connection_id: String, id: Option<String>, detail: &str) {
    let incident = incident::report("room", detail);
    let frame = internal_error_frame(&incident, id.as_deref());
    turn.sends.push(Recipients::One(connection_id), frame);
}

/// The bytes of a received frame (`bytes_in`).
fn incoming_len(message: &WebSocketIncomingMessage) -> u64 {
    match message {
        WebSocketIncomingMessage::String(text) => text.len() as u64,
        WebSocketIncomingMessage::Binary(bytes) => bytes.len() as u64,
    }
}

/// How many connections a frame for `to` reaches (`deliveries`): without a pass over the room
/// for a broadcast, the usual recipients of a message.
fn recipients(r: &Room<Peer>, to: &Recipients) -> usize {
    let all = r.index().connection_count();
    match to {
        Recipients::AllExcept(None) => all,
        Recipients::AllExcept(Some(c)) => all - usize::from(r.index().get(c).is_some()),
        _ => r.resolve(to).count(),
    }
}
