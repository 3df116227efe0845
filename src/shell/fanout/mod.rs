//! `RoomFanout`, a room's fan-out object ([`crate::fanout`]): it holds up to
//! `ROOM_FANOUT_CONNECTIONS` of the room's sockets and decides nothing a room promises. It
//! accepts the upgrades its room places on it, carries out the room's plans (sends, closes,
//! checks), and hands its sockets' frames and closes to the room, one request per turn.
//!
//! Its sockets hibernate like a room's: accepted with `acceptWebSocket`, tagged and given the
//! same [`Attachment`] (user, connection id, and — once the room ends one — the closing mark
//! and the deadline of a close the client was asked to make). After a wake the object rebuilds
//! its map of connection ids to sockets from `getWebSockets()` on the first plan that needs it.
//! `ping` is answered by the runtime's auto-response, as in a room.
//!
//! **In.** A frame or close queues and, as in a room, the first to arrive waits a zero timer
//! so that the ones behind it queue too; then the queue goes to the room in one request and,
//! while it is in flight, whatever arrives queues for the next. One request at a time, so the
//! room gets each socket's frames in order.
//!
//! **Closes.** A close the room makes now is made now. One the client is asked to make
//! (`closing` was in the plan before it) is marked with its deadline and the object's alarm
//! closes it then if the client has not ([`crate::room::closing`]).

mod apply;
mod relay;
pub(super) mod stream;

use crate::calls::{FanoutCall, FanoutRequest, RoomCall, RoomRequest};
use crate::common::config::Config;
use crate::common::connection_id::room_of;
use crate::common::error::ErrorCode;
use crate::common::meter::{self, ObjectKind};
use crate::fanout::{Inbound, PlanReply};
use crate::room::sockets::Attachment;
use crate::shell::calls;
use crate::shell::common::alarm::at;
use crate::shell::common::http::{error, error_response, json_response};
use crate::shell::common::log;
use crate::shell::room::closing::close_overdue;
use crate::shell::room::sockets::{self, connection_id_of, is_closing};
use apply::Run;
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;
use stream::{Bundle, Outgoing};
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketRequestResponsePair,
};

#[durable_object]
pub struct RoomFanout {
    state: State,
    env: Env,
    config: Config,
    /// Its sockets by connection id, rebuilt after a wake by the first plan.
    sockets: RefCell<Option<HashMap<String, WebSocket>>>,
    /// Frames and closes waiting for the next request to the room.
    inbox: RefCell<Vec<Inbound>>,
    /// A handler is sending the inbox to the room (the others only queue).
    sending: Cell<bool>,
    /// A random id per instance and when it was made (`/debug`: tests prove a wake by them).
    instance: String,
    created_ms: u64,
    /// The streams to the objects below this one, made on the first relay (an object learns
    /// its index from the calls it gets).
    relays: RefCell<Option<Rc<Outgoing>>>,
}

impl DurableObject for RoomFanout {
    fn new(state: State, env: Env) -> Self {
        meter::wake(ObjectKind::Fanout);
        let config = crate::shell::common::env::settings(&env).config.clone();
        if let Ok(pair) = WebSocketRequestResponsePair::new("ping", "pong") {
            let _ = state.as_raw().set_websocket_auto_response(&pair);
        }
        RoomFanout {
            state,
            env,
            config,
            sockets: RefCell::new(None),
            inbox: RefCell::new(Vec::new()),
            sending: Cell::new(false),
            instance: crate::shell::common::env::random_hex::<6>(),
            created_ms: crate::shell::common::env::now_ms(),
            relays: RefCell::new(None),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        meter::request(ObjectKind::Fanout);
        crate::shell::common::http::or_internal_error("fan-out request", self.serve(req).await)
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        meter::websocket_message(ObjectKind::Fanout);
        let Some(c) = connection_id_of(&ws) else {
            let _ = ws.close(Some(1011), Some("unknown connection"));
            return Ok(());
        };
        if is_closing(&ws) {
            return Ok(()); // the room ended it: nothing it sends counts any more
        }
        let item = match message {
            WebSocketIncomingMessage::String(text)
                if text.len() > self.config.max_message_bytes =>
            {
                Inbound::TooLarge { c, len: text.len() }
            }
            WebSocketIncomingMessage::String(text) => Inbound::Text { c, text },
            WebSocketIncomingMessage::Binary(_) => Inbound::Binary { c },
        };
        self.inbox.borrow_mut().push(item);
        self.to_room().await;
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        reason: String,
        _clean: bool,
    ) -> Result<()> {
        meter::websocket_close(ObjectKind::Fanout);
        self.closed(&ws);
        sockets::answer_close(&ws, code, &reason);
        self.to_room().await;
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        meter::websocket_close(ObjectKind::Fanout);
        self.closed(&ws);
        self.to_room().await;
        Ok(())
    }

    async fn alarm(&self) -> Result<Response> {
        meter::alarm(ObjectKind::Fanout);
        let now = crate::shell::common::env::now_ms();
        if let Some(next) = close_overdue(self.state.get_websockets(), now) {
            self.state.storage().set_alarm(at(next)).await?;
        }
        Response::ok("alarm")
    }
}

impl RoomFanout {
    async fn serve(&self, req: Request) -> Result<Response> {
        let FanoutRequest { room, index, call } = match calls::receive::<FanoutRequest>(req).await?
        {
            Ok(call) => call,
            Err(e) => return error_response(&e),
        };
        match call {
            FanoutCall::Accept {
                connection,
                user,
                batch,
                subprotocol,
                target,
            } if target == index => self.accept(&connection, &user, batch, subprotocol),
            c @ FanoutCall::Accept { .. } => self.relay_accept(&room, index, c).await,
            FanoutCall::Apply { bundle } => match serde_json::from_str::<Bundle>(&bundle) {
                Ok(bundle) => self.apply_bundle(&room, index, bundle).await,
                Err(_) => error(ErrorCode::BadRequest, "bad plans"),
            },
            FanoutCall::Debug => self.debug(),
        }
    }

    /// Accepts a socket the room admitted, described (tags, attachment) before anything can
    /// hibernate, and answers its `101`.
    fn accept(&self, c: &str, user: &str, batch: bool, subprotocol: bool) -> Result<Response> {
        let a = Attachment {
            user_id: user.to_owned(),
            connection_id: c.to_owned(),
            batch,
            ..Attachment::default()
        };
        let pair = match sockets::accept_tagged(&self.state, &a)? {
            Ok(pair) => pair,
            Err(refused) => return Ok(refused),
        };
        if let Some(map) = self.sockets.borrow_mut().as_mut() {
            map.insert(c.to_owned(), pair.server.clone());
        }
        sockets::upgrade_response(pair.client, subprotocol)
    }

    /// Carries out its own plan of a bundle and relays the others down the tree; answers the
    /// connections its own plan named that are not here.
    async fn apply_bundle(&self, room: &str, index: u32, mut bundle: Bundle) -> Result<Response> {
        let own = bundle.remove(&index).unwrap_or_default();
        self.relay(room, index, bundle);
        self.load_sockets();
        let mut run = Run {
            texts: &own.texts,
            js: vec![None; own.texts.len()],
            missing: BTreeSet::new(),
            lost: BTreeSet::new(),
            wake: None,
        };
        {
            let mut slot = self.sockets.borrow_mut();
            let map = slot.get_or_insert_with(HashMap::new);
            for op in own.ops {
                run.op(map, op);
            }
        }
        if let Some(by) = run.wake {
            self.wake_at(by).await;
        }
        let reply = PlanReply {
            missing: run.missing.into_iter().collect(),
            lost: run.lost.into_iter().collect(),
        };
        json_response(200, serde_json::to_string(&reply)?)
    }

    fn debug(&self) -> Result<Response> {
        let sockets = sockets::debug_list(&self.state);
        let body = json!({
            "instance": self.instance,
            "created_ms": self.created_ms,
            "loaded_before_this_call": self.sockets.borrow().is_some(),
            "sockets": sockets.len(),
            "connections": sockets,
        });
        json_response(200, body.to_string())
    }

    /// The map of connection ids to sockets, rebuilt from the runtime's list after a wake.
    fn load_sockets(&self) {
        if self.sockets.borrow().is_some() {
            return;
        }
        let map = self
            .state
            .get_websockets()
            .into_iter()
            .filter_map(|ws| {
                let c = connection_id_of(&ws)?;
                (!is_closing(&ws)).then_some((c, ws))
            })
            .collect();
        *self.sockets.borrow_mut() = Some(map);
    }

    /// Wakes the object at `by` (unix ms) unless it is to wake earlier already.
    async fn wake_at(&self, by: u64) {
        let storage = self.state.storage();
        let current = storage.get_alarm().await.ok().flatten();
        if current.is_some_and(|c| (c as u64) <= by) {
            return;
        }
        if let Err(e) = storage.set_alarm(at(by)).await {
            log::error("alarm_not_set", json!({"detail": e.to_string()}));
        }
    }

    /// A socket closed or failed: it leaves the map, and the room hears of it — unless the room
    /// ended it itself (it has left the room's index already).
    fn closed(&self, ws: &WebSocket) {
        let Some(c) = connection_id_of(ws) else {
            return;
        };
        if let Some(map) = self.sockets.borrow_mut().as_mut() {
            map.remove(&c);
        }
        if !is_closing(ws) {
            self.inbox.borrow_mut().push(Inbound::Closed { c });
        }
    }

    /// Sends the inbox to the room, unless a handler is at it already (it takes what queued
    /// when its request is answered). The first waits a zero timer: what arrives meanwhile
    /// goes in the same request.
    async fn to_room(&self) {
        if self.sending.replace(true) {
            return;
        }
        worker::Delay::from(std::time::Duration::ZERO).await;
        loop {
            let items = self.inbox.take();
            let Some(room) = items.first().and_then(|i| room_of(i.connection())) else {
                break;
            };
            let room = room.to_owned();
            if let Err(e) = self.send_to_room(&room, &items).await {
                log::warn(
                    "fanout_frames_failed",
                    json!({"room": room, "frames": items.len(), "detail": e.to_string()}),
                );
            }
        }
        self.sending.set(false);
    }

    async fn send_to_room(&self, room: &str, items: &[Inbound]) -> Result<()> {
        let request = RoomRequest {
            room: room.to_owned(),
            call: RoomCall::FanoutFrames {
                frames: serde_json::to_string(items)?,
            },
        };
        let res = calls::call(&calls::room(&self.env, room)?, &request).await?;
        calls::ok(&res)
    }
}
