//! `ChatRoom`, the Durable Object behind each room: one instance per room name, holding that
//! room's WebSockets through the **WebSocket Hibernation API**.
//!
//! How it survives sleep: sockets are accepted with `acceptWebSocket` (via
//! `accept_websocket_with_tags`), so the runtime — not this object — owns them. After ~10 s
//! without events the runtime may evict the object from memory while the sockets stay open;
//! the next event (a message, a close, an HTTP call) constructs a fresh instance. Everything
//! the room needs to carry on is on the sockets themselves: each has tags (`c:{connection}`,
//! `u:{user}`) and a serialized [`Attachment`] naming its user and connection id. The first
//! event after a wake rebuilds the in-memory user index from `getWebSockets()`; until then
//! nothing is loaded, so the constructor stays cheap, as it runs on every wake.
//!
//! `ping` is answered `pong` by `setWebSocketAutoResponse`, inside the runtime, without
//! waking the object. Nothing here keeps fetches pending or sets long timers, which would keep
//! the object resident and defeat hibernation; the only timer is a turn's zero-length one.
//!
//! Frames are processed in **turns** (see `websocket_message`): what queued up while the room
//! was busy goes through the room core in one synchronous step, with one storage commit, and
//! its sends are planned together by [`Outbox`] (one `batch` frame per recipient that opted in).
//!
//! Handlers are `&self` and may interleave at `.await` points (a `direct` to a user awaits the
//! registry, and the registry may call back into this very room meanwhile): the `RefCell`
//! borrow of the room is never held across an `.await`.
//!
//! Bookkeeping elsewhere is fire-and-forget (`waitUntil`), never on the message path: every
//! change of a user's count here is reported to that user's registry, and the room's total to
//! its stats shard (coalesced: at most one report in flight, the latest count always wins).
//! On every wake the room re-asserts its total, so a shard that missed a report converges.

use super::env::{now_ms, random_bytes};
use super::http::{error, json_response};
use super::objects::{self, param};
use super::room_log::RoomLog;
use crate::config::Config;
use crate::connection_id::{new_connection_id, room_of};
use crate::error::ErrorCode;
use crate::history::HistoryQuery;
use crate::names::{is_valid_room, is_valid_user_id};
use crate::outbox::Outbox;
use crate::protocol::{close_reply, error_frame, Target};
use crate::room::{Action, Incoming, Room};
use crate::tags::{connection_tag, user_tag, Attachment};
use crate::user_registry::Versions;
use serde_json::value::RawValue;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::JsValue;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair, WebSocketRequestResponsePair,
};

/// A connection as the room holds it: the runtime's socket and whether it takes `batch` frames.
#[derive(Debug)]
struct Peer {
    ws: WebSocket,
    batch: bool,
}

/// What a woken room loads on its first event: the user index and the log's position.
struct Loaded {
    room: Room<Peer>,
    log: RoomLog,
}

/// A frame received from a socket and not processed yet (see `websocket_message`).
struct Received {
    ws: WebSocket,
    connection_id: String,
    /// `None` for a binary frame (refused when processed, in order with the rest).
    text: Option<String>,
}

/// What one turn of the room produced beyond its sends.
#[derive(Default)]
struct Turn {
    outbox: Outbox,
    counts_changed: bool,
    forwards: Vec<(WebSocket, Forward)>,
}

type SharedRoom = Rc<RefCell<Option<Loaded>>>;

/// A `direct` the room could not deliver itself, to be forwarded after the room is released.
struct Forward {
    to: Target,
    frame: String,
    id: Option<String>,
}

#[durable_object]
pub struct ChatRoom {
    state: State,
    env: Env,
    config: Config,
    /// A random id per instance: it changes after every eviction, which lets tests prove a wake.
    instance: String,
    created_ms: u64,
    /// The room, loaded lazily on the first event after construction.
    room: SharedRoom,
    /// Versions of this room's reports to registries and stats shards.
    versions: Rc<RefCell<Versions>>,
    /// Stats reporting: (a report is in flight, the count changed since it was taken).
    stats_flight: Rc<Cell<(bool, bool)>>,
    /// Whether this instance made sure a retention alarm is scheduled.
    alarm_checked: Cell<bool>,
    /// Frames received since the last turn, in arrival order.
    inbox: RefCell<Vec<Received>>,
    /// A handler is waiting to run the next turn.
    turn_pending: Cell<bool>,
    /// (turns run, frames they processed): how much coalescing happens, for `/debug`.
    turn_stats: Cell<(u64, u64)>,
}

impl DurableObject for ChatRoom {
    fn new(state: State, env: Env) -> Self {
        let config = Config::from_lookup(|name| super::env::env_string(&env, name));
        // Auto-response is handled by the runtime even while the object is evicted.
        if let Ok(pair) = WebSocketRequestResponsePair::new("ping", "pong") {
            let _ = state.as_raw().set_websocket_auto_response(&pair);
        }
        let instance = random_bytes::<6>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        ChatRoom {
            state,
            env,
            config,
            instance,
            created_ms: now_ms(),
            room: Rc::new(RefCell::new(None)),
            versions: Rc::new(RefCell::new(Versions::default())),
            stats_flight: Rc::new(Cell::new((false, false))),
            alarm_checked: Cell::new(false),
            inbox: RefCell::new(Vec::new()),
            turn_pending: Cell::new(false),
            turn_stats: Cell::new((0, 0)),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        super::http::or_internal_error("room request", self.serve(req).await)
    }

    /// Frames are not processed one event at a time but in **turns**: the first frame to arrive
    /// queues itself and waits on a zero timer; awaiting a timer (unlike a storage call) keeps
    /// the object's input gate open, so the frames already queued behind it are delivered
    /// meanwhile and only queue themselves too. The waiting handler then processes them all
    /// in one synchronous step. That is where the speed under load comes from:
    ///
    /// - their log writes fall into one implicit SQLite transaction, so one commit makes a
    ///   whole turn durable (group commit) — and the output gate still holds every send of the
    ///   turn, acks included, until that commit is done;
    /// - each recipient gets one send per turn when it takes `batch` frames.
    ///
    /// An idle room pays one zero timer per message. Every other event (a socket opening or
    /// closing, an HTTP call) runs the pending turn first, so order is kept: a new socket
    /// never sees a message accepted before its `welcome`, a closing one gets its last acks.
    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        let Some(connection_id) = connection_id_of(&ws) else {
            // Not one of ours (cannot happen short of storage corruption): refuse politely.
            let _ = ws.close(Some(1011), Some("unknown connection"));
            return Ok(());
        };
        let text = match message {
            WebSocketIncomingMessage::String(text) => Some(text),
            WebSocketIncomingMessage::Binary(_) => None,
        };
        // Only the handler that will run the turn needs the room's name (to load it).
        let runs_turn = !self.turn_pending.replace(true);
        let room = runs_turn.then(|| room_of(&connection_id).unwrap_or_default().to_owned());
        self.inbox.borrow_mut().push(Received {
            ws,
            connection_id,
            text,
        });
        let Some(room) = room else {
            return Ok(()); // the waiting handler's turn will take this frame
        };
        worker::Delay::from(std::time::Duration::ZERO).await;
        self.turn_pending.set(false);
        let forwards = match self.run_turn(&room, |_, _| Vec::new()) {
            Ok(f) => f,
            Err(e) => {
                // The room could not load: everyone waiting hears it, nothing was stored.
                let message = format!("room unavailable: {e}");
                for r in self.inbox.take() {
                    let _ =
                        r.ws.send_with_str(error_frame(ErrorCode::Internal, &message, None));
                }
                return Ok(());
            }
        };
        self.ensure_retention_alarm();
        // The room is released: forwarding may await, and other events may run meanwhile.
        for (ws, f) in forwards {
            forward_and_report(&self.env, &ws, &f).await;
        }
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        reason: String,
        _clean: bool,
    ) -> Result<()> {
        // Forget first: that runs the pending turn, whose acks and messages this socket is
        // still owed and can still be sent before our close frame. Then complete the closing
        // handshake; the client's code is echoed where that is allowed.
        self.forget(&ws);
        let (code, reason) = close_reply(u16::try_from(code).unwrap_or(1000), &reason);
        let _ = ws.close(Some(code), Some(reason));
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.forget(&ws);
        Ok(())
    }

    /// Age-based retention: trims expired messages, then sleeps until the next one expires.
    async fn alarm(&self) -> Result<Response> {
        let now = now_ms();
        let next = match self.room.borrow_mut().as_mut() {
            Some(loaded) => loaded.log.trim_expired(now)?,
            // Woken by the alarm alone: trim through a log of its own rather than loading the
            // room, whose name only a socket or a request can tell.
            None => RoomLog::open(self.state.storage().sql(), &self.config)?.trim_expired(now)?,
        };
        if let Some(at) = next {
            let offset = at.saturating_sub(now_ms()).max(1_000) as i64;
            self.state.storage().set_alarm(offset).await?;
        }
        Response::ok("trimmed")
    }
}

impl ChatRoom {
    /// The object's internal HTTP endpoints (called by the front worker and other objects).
    async fn serve(&self, mut req: Request) -> Result<Response> {
        let url = req.url()?;
        if url.path() == "/debug" {
            return self.debug();
        }
        // Every other internal call names the room (the front worker validated it).
        let Some(room) = param(&url, "room").filter(|r| is_valid_room(r)) else {
            return error(ErrorCode::BadRequest, "missing room");
        };
        match url.path() {
            "/ws" => {
                let Some(user) = param(&url, "user") else {
                    return error(ErrorCode::BadRequest, "missing identity");
                };
                let since = param(&url, "since").and_then(|s| s.parse::<u64>().ok());
                let batch = param(&url, "batch").is_some_and(|b| b == "1");
                self.accept(&user, &room, since, batch)
            }
            "/publish" => {
                let data = req.text().await?;
                let Ok(data) = serde_json::from_str::<&RawValue>(&data) else {
                    return error(ErrorCode::BadRequest, "data must be JSON");
                };
                let exclude = param(&url, "exclude");
                let result = self.with_room(&room, |r, log| {
                    match r.server_publish(data, exclude, now_ms(), log) {
                        Ok((send, n, seq)) => (vec![send], Ok((n, seq))),
                        Err(e) => (Vec::new(), Err(e)),
                    }
                })?;
                self.ensure_retention_alarm();
                match result {
                    Ok((n, seq)) => {
                        json_response(200, format!(r#"{{"delivered":{n},"seq":{seq}}}"#))
                    }
                    Err(e) => error(
                        ErrorCode::Internal,
                        format!("could not store the message: {e}"),
                    ),
                }
            }
            "/messages" => {
                let query = match HistoryQuery::parse(
                    url.query_pairs()
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect::<Vec<_>>()
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str())),
                ) {
                    Ok(q) => q,
                    Err(e) => return super::http::error_response(&e),
                };
                let page = self.with_room(&room, |_, log| (Vec::new(), Some(log.page(query))))?;
                match page {
                    Some(Ok((frames, next))) => {
                        json_response(200, crate::history::history_body(&frames, next))
                    }
                    _ => error(ErrorCode::Internal, "could not read the history"),
                }
            }
            "/deliver" => {
                let Some(user) = param(&url, "user") else {
                    return error(ErrorCode::BadRequest, "missing user");
                };
                let frame = req.text().await?;
                let delivered = self.with_room(&room, |r, _| {
                    let (send, n) = r.deliver_to_user(&user, frame);
                    (vec![send], n)
                })?;
                json_response(200, format!(r#"{{"delivered":{delivered}}}"#))
            }
            "/user-count" => {
                let Some(user) = param(&url, "user") else {
                    return error(ErrorCode::BadRequest, "missing user");
                };
                let n = self.with_room(&room, |r, _| {
                    (Vec::new(), r.index().user_connections(&user))
                })?;
                json_response(200, format!(r#"{{"delivered":{n}}}"#))
            }
            "/direct" => {
                let Some(connection) = param(&url, "connection") else {
                    return error(ErrorCode::BadRequest, "missing connection");
                };
                let frame = req.text().await?;
                let delivered = self.with_room(&room, |r, _| {
                    let (send, n) = r.deliver_to_connection(&connection, frame);
                    (vec![send], n)
                })?;
                if delivered == 0 {
                    return error(ErrorCode::NotFound, "no such connection");
                }
                json_response(200, r#"{"delivered":1}"#.into())
            }
            "/info" => {
                let body = self.with_room(&room, |r, _| (Vec::new(), r.info_json()))?;
                json_response(200, body)
            }
            _ => error(ErrorCode::NotFound, "no such room endpoint"),
        }
    }

    /// Accepts a verified user's upgrade: tags and attachment first (so the socket is fully
    /// described before anything can hibernate), then `welcome` and presence.
    fn accept(
        &self,
        user: &str,
        room_name: &str,
        since: Option<u64>,
        batch: bool,
    ) -> Result<Response> {
        if !is_valid_user_id(user) || !is_valid_room(room_name) {
            return super::http::error(ErrorCode::BadRequest, "bad identity");
        }
        let connection_id = new_connection_id(room_name, random_bytes());
        // Load the index from the sockets that were here *before* this one: once accepted, the
        // new socket is listed by getWebSockets() too and would be restored as an old member,
        // silencing its presence `join`.
        self.with_room(room_name, |_, _| (Vec::new(), ()))?;
        let pair = WebSocketPair::new()?;
        let tags = vec![
            JsValue::from(connection_tag(&connection_id)),
            JsValue::from(user_tag(user)),
        ];
        // The raw binding returns the runtime's error instead of panicking like the wrapper.
        if let Err(e) = self
            .state
            .as_raw()
            .accept_websocket_with_tags(pair.server.as_ref(), tags)
        {
            let message = format!("could not accept the socket: {:?}", e.as_string());
            return super::http::error(ErrorCode::Internal, message);
        }
        pair.server.serialize_attachment(Attachment {
            user_id: user.to_owned(),
            connection_id: connection_id.clone(),
            closing: false,
            batch,
        })?;
        remember_connection_id(&pair.server, &connection_id);
        self.with_room(room_name, |room, log| {
            let actions = room.open(
                &connection_id,
                user,
                Peer {
                    ws: pair.server.clone(),
                    batch,
                },
                now_ms() as f64,
                since,
                log,
            );
            (actions, ())
        })?;
        Response::from_websocket(pair.client)
    }

    /// A socket ended: drop it from the index and tell the room if its user is gone.
    fn forget(&self, ws: &WebSocket) {
        let Some(me) = attachment(ws) else { return };
        let room = room_of(&me.connection_id).unwrap_or_default().to_owned();
        if let Err(e) = self.with_room(&room, |r, _| (r.close(&me.connection_id).1, ())) {
            worker::console_error!("room could not load to forget a socket: {e}");
        }
    }

    /// Runs one turn on the room (loading it first if needed): the frames received so far,
    /// then `f` (an event's own step, which never closes a socket or forwards), then the turn's
    /// sends, planned together (see [`Outbox`]). Returns the `direct`s the received frames
    /// asked for, each with the socket to tell if forwarding fails.
    fn run_turn(
        &self,
        room: &str,
        f: impl FnOnce(&mut Room<Peer>, &mut RoomLog) -> Vec<Action>,
    ) -> Result<Vec<(WebSocket, Forward)>> {
        let mut slot = self.room.borrow_mut();
        let woke = slot.is_none();
        if woke {
            *slot = Some(self.load(room.to_owned())?);
        }
        let Some(Loaded { room: r, log }) = slot.as_mut() else {
            return Err(worker::Error::RustError("room not loaded".into()));
        };
        let mut turn = Turn {
            counts_changed: woke,
            ..Turn::default()
        };
        let received = self.inbox.take();
        if !received.is_empty() {
            let (turns, frames) = self.turn_stats.get();
            self.turn_stats
                .set((turns + 1, frames + received.len() as u64));
            let now = now_ms();
            for m in &received {
                let incoming = match &m.text {
                    Some(text) => Incoming::Text(text),
                    None => Incoming::Binary,
                };
                let actions = r.receive(&m.connection_id, incoming, now, log);
                self.apply(r, actions, Some(&m.ws), &mut turn);
            }
            // Sent before `f` runs: if `f` closes a socket, that socket still gets the acks
            // and messages of what was accepted while it was connected.
            send_planned(r, &mut turn.outbox);
        }
        let actions = f(r, log);
        self.apply(r, actions, None, &mut turn);
        send_planned(r, &mut turn.outbox);
        drop(slot);
        if turn.counts_changed {
            self.report_room_count();
        }
        Ok(turn.forwards)
    }

    /// Carries out a step's actions: sends go to the turn's outbox, the rest happens now.
    fn apply(
        &self,
        r: &mut Room<Peer>,
        actions: Vec<Action>,
        current: Option<&WebSocket>,
        turn: &mut Turn,
    ) {
        for action in actions {
            match action {
                Action::Send { to, frame } => turn.outbox.push(to, frame),
                Action::Close {
                    connection_id,
                    code,
                    reason,
                } => {
                    let Some(current) = current else { continue };
                    // It has left the index already: what this turn owes it goes out first.
                    for frame in turn.outbox.owed_to(&connection_id) {
                        let _ = current.send_with_str(frame);
                    }
                    // Mark it first, so a wake before the close completes does not bring it
                    // back into the index.
                    if let Some(mut a) = attachment(current) {
                        a.closing = true;
                        let _ = current.serialize_attachment(a);
                    }
                    let _ = current.close(Some(code), Some(reason));
                }
                Action::UserCount {
                    user_id,
                    connections,
                } => {
                    turn.counts_changed = true;
                    self.report_user_count(r.name(), &user_id, connections);
                }
                Action::Forward { to, frame, id } => {
                    if let Some(ws) = current {
                        turn.forwards.push((ws.clone(), Forward { to, frame, id }));
                    }
                }
            }
        }
    }

    /// [`Self::run_turn`] for events not tied to a socket (internal HTTP calls). `f`
    /// returns its actions and a result for the caller. `direct`s from frames that were
    /// waiting for a turn are forwarded in the background.
    fn with_room<T>(
        &self,
        room: &str,
        f: impl FnOnce(&mut Room<Peer>, &mut RoomLog) -> (Vec<Action>, T),
    ) -> Result<T> {
        let mut out = None;
        let forwards = self.run_turn(room, |r, log| {
            let (actions, t) = f(r, log);
            out = Some(t);
            actions
        })?;
        if !forwards.is_empty() {
            let env = self.env.clone();
            self.state.wait_until(async move {
                for (ws, f) in forwards {
                    forward_and_report(&env, &ws, &f).await;
                }
            });
        }
        out.ok_or_else(|| worker::Error::RustError("room closure did not run".into()))
    }

    /// Rebuilds the user index from the runtime's list of this object's sockets, and opens
    /// the log (reading where it stands).
    fn load(&self, name: String) -> Result<Loaded> {
        let log = RoomLog::open(self.state.storage().sql(), &self.config)?;
        let mut room = Room::new(name, self.config.clone());
        let now = now_ms() as f64;
        for ws in self.state.get_websockets() {
            // Sockets the client is closing are restored too: their close event is what woke us,
            // and it must find them to announce the leave. Only sockets the server closed itself
            // (already removed, marked `closing`) stay out.
            if let Some(a) = attachment(&ws).filter(|a| !a.closing) {
                remember_connection_id(&ws, &a.connection_id);
                let peer = Peer { ws, batch: a.batch };
                room.restore(&a.connection_id, &a.user_id, peer, now);
            }
        }
        Ok(Loaded { room, log })
    }

    /// Fire-and-forget: tell `user`'s registry their count in this room (retried briefly).
    fn report_user_count(&self, room: &str, user: &str, connections: u32) {
        let version = self.versions.borrow_mut().next(now_ms());
        let (env, room, user) = (self.env.clone(), room.to_owned(), user.to_owned());
        self.state.wait_until(async move {
            for attempt in 0..3u64 {
                match super::registry::report_count(&env, &user, &room, connections, version).await
                {
                    Ok(()) => return,
                    Err(e) if attempt == 2 => worker::console_warn!("registry report failed: {e}"),
                    Err(_) => {
                        worker::Delay::from(std::time::Duration::from_millis(100 << (2 * attempt)))
                            .await
                    }
                }
            }
        });
    }

    /// Fire-and-forget, coalesced: report the room's current total to its stats shard. While a
    /// report is in flight, further changes only mark it dirty; the in-flight task then sends
    /// the latest count once more.
    fn report_room_count(&self) {
        let (in_flight, _) = self.stats_flight.get();
        if in_flight {
            self.stats_flight.set((true, true));
            return;
        }
        self.stats_flight.set((true, false));
        let (env, room, flight, versions) = (
            self.env.clone(),
            self.room.clone(),
            self.stats_flight.clone(),
            self.versions.clone(),
        );
        self.state.wait_until(async move {
            loop {
                let snapshot = room
                    .borrow()
                    .as_ref()
                    .map(|l| (l.room.name().to_owned(), l.room.index().connection_count()));
                let Some((name, count)) = snapshot else { break };
                let version = versions.borrow_mut().next(now_ms());
                if let Err(e) = super::stats::report_room(&env, &name, count, version).await {
                    worker::console_warn!("stats report failed: {e}");
                }
                if !flight.get().1 {
                    break;
                }
                flight.set((true, false));
            }
            flight.set((false, false));
        });
    }

    /// Makes sure an age-retention alarm is scheduled, once per instance (fire-and-forget).
    /// An alarm does not keep the object awake: it wakes it when the oldest message expires.
    fn ensure_retention_alarm(&self) {
        if self.alarm_checked.replace(true) || self.config.retention.max_age_ms == 0 {
            return;
        }
        let storage = self.state.storage();
        let offset = self.config.retention.max_age_ms as i64;
        self.state.wait_until(async move {
            if let Ok(None) = storage.get_alarm().await {
                let _ = storage.set_alarm(offset).await;
            }
        });
    }

    fn debug(&self) -> Result<Response> {
        let loaded = self.room.borrow().is_some();
        let sockets: Vec<serde_json::Value> = self
            .state
            .get_websockets()
            .iter()
            .map(|ws| {
                serde_json::json!({
                    "tags": self.state.get_tags(ws),
                    "attachment": attachment(ws),
                    "ready_state": ws.as_ref().ready_state(),
                })
            })
            .collect();
        let body = serde_json::json!({
            "instance": self.instance,
            "created_ms": self.created_ms,
            "loaded_before_this_call": loaded,
            "turns": self.turn_stats.get().0,
            "frames_in_turns": self.turn_stats.get().1,
            "sockets": sockets.len(),
            "connections": sockets,
        });
        super::http::json_response(200, body.to_string())
    }
}

/// Sends a `direct` this room could not deliver itself; resolves to the number delivered.
async fn forward(env: &Env, f: &Forward) -> Result<u64> {
    match &f.to {
        Target::User(user) => {
            let stub = objects::registry(env, user)?;
            let res =
                objects::post(&stub, "deliver", &[("user", user)], Some(f.frame.clone())).await?;
            objects::delivered(res).await
        }
        Target::Connection(c) => {
            let Some(room) = room_of(c) else { return Ok(0) };
            let stub = objects::room(env, room)?;
            let res = objects::post(
                &stub,
                "direct",
                &[("room", room), ("connection", c)],
                Some(f.frame.clone()),
            )
            .await?;
            objects::delivered(res).await
        }
    }
}

/// Forwards a `direct` and tells the sender when nobody got it or it could not be delivered.
async fn forward_and_report(env: &Env, ws: &WebSocket, f: &Forward) {
    let reply = match forward(env, f).await {
        Ok(0) => Some((ErrorCode::NotFound, "no such recipient")),
        Ok(_) => None,
        Err(e) => {
            worker::console_warn!("forwarding a direct failed: {e}");
            Some((
                ErrorCode::Unavailable,
                "the recipient could not be reached; try again",
            ))
        }
    };
    if let Some((code, message)) = reply {
        let _ = ws.send_with_str(error_frame(code, message, f.id.as_deref()));
    }
}

/// Sends what a turn planned: each distinct text is converted to a JS string once (UTF-8 →
/// UTF-16 is not free) and that same string is handed to every socket that gets it.
fn send_planned(r: &Room<Peer>, outbox: &mut Outbox) {
    if outbox.is_empty() {
        return;
    }
    let plan = outbox.plan(r, |p| p.batch);
    let texts: Vec<JsValue> = plan.texts.iter().map(|t| JsValue::from_str(t)).collect();
    for (peer, t) in plan.sends {
        let _ = send_text(&peer.ws, &texts[t]);
    }
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// A WebSocket seen only as something with `send(string)`: lets a frame converted to a JS
    /// string once be handed to every recipient as it is (`send_with_str` would re-encode
    /// the Rust string for each of them).
    type TextSink;
    #[wasm_bindgen(method, catch, js_name = send)]
    fn send(this: &TextSink, data: &JsValue) -> std::result::Result<(), JsValue>;
}

fn send_text(ws: &WebSocket, text: &JsValue) -> std::result::Result<(), JsValue> {
    use wasm_bindgen::JsCast;
    let raw: &JsValue = ws.as_ref().as_ref();
    raw.unchecked_ref::<TextSink>().send(text)
}

/// The JS property that caches a socket's connection id on the socket object itself. The
/// attachment is the durable record; reading it back is a structured-clone deserialisation,
/// too slow for every message, so the id is also kept here. After a wake the runtime hands
/// out new socket objects without it, and `load` (or the fallback below) puts it back.
const CONNECTION_ID_KEY: &str = "__edgeChatConnectionId";

fn remember_connection_id(ws: &WebSocket, id: &str) {
    let raw: &JsValue = ws.as_ref().as_ref();
    let _ = js_sys::Reflect::set(
        raw,
        &JsValue::from_str(CONNECTION_ID_KEY),
        &JsValue::from_str(id),
    );
}

fn connection_id_of(ws: &WebSocket) -> Option<String> {
    let raw: &JsValue = ws.as_ref().as_ref();
    js_sys::Reflect::get(raw, &JsValue::from_str(CONNECTION_ID_KEY))
        .ok()
        .and_then(|v| v.as_string())
        .or_else(|| {
            let id = attachment(ws)?.connection_id;
            remember_connection_id(ws, &id);
            Some(id)
        })
}

fn attachment(ws: &WebSocket) -> Option<Attachment> {
    ws.deserialize_attachment::<Attachment>().ok().flatten()
}
