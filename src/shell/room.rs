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
//! waking the object. Nothing here sets timers or keeps fetches pending, which would keep the
//! object resident and defeat hibernation.
//!
//! Handlers are `&self` and may interleave at `.await` points; none of the room's handlers
//! awaits while holding the `RefCell` borrow (they do not await at all), so the borrow can
//! never be observed twice.

use super::env::{now_ms, random_bytes};
use crate::config::Config;
use crate::connection_id::{new_connection_id, room_of};
use crate::error::ErrorCode;
use crate::names::{is_valid_room, is_valid_user_id};
use crate::protocol::close_reply;
use crate::room::{Action, Incoming, Room};
use crate::tags::{connection_tag, user_tag, Attachment};
use std::cell::RefCell;
use wasm_bindgen::JsValue;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair, WebSocketRequestResponsePair,
};

#[durable_object]
pub struct ChatRoom {
    state: State,
    config: Config,
    /// A random id per instance: it changes after every eviction, which lets tests prove a wake.
    instance: String,
    created_ms: u64,
    /// The room, loaded lazily on the first event after construction.
    room: RefCell<Option<Room<WebSocket>>>,
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
            config,
            instance,
            created_ms: now_ms(),
            room: RefCell::new(None),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let url = req.url()?;
        let param = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        match url.path() {
            "/ws" => {
                let (Some(user), Some(room)) = (param("user"), param("room")) else {
                    return super::http::error(ErrorCode::BadRequest, "missing identity");
                };
                self.accept(&user, &room)
            }
            "/debug" => self.debug(),
            _ => super::http::error(ErrorCode::NotFound, "no such room endpoint"),
        }
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        let Some(me) = attachment(&ws) else {
            // Not one of ours (cannot happen short of storage corruption): refuse politely.
            let _ = ws.close(Some(1011), Some("unknown connection"));
            return Ok(());
        };
        let incoming = match &message {
            WebSocketIncomingMessage::String(text) => Incoming::Text(text),
            WebSocketIncomingMessage::Binary(_) => Incoming::Binary,
        };
        self.with_room(&me.connection_id, |room| {
            let actions = room.receive(&me.connection_id, incoming, now_ms());
            perform(room, &ws, actions);
        });
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        reason: String,
        _clean: bool,
    ) -> Result<()> {
        // Complete the closing handshake; the client's code is echoed where that is allowed.
        let (code, reason) = close_reply(u16::try_from(code).unwrap_or(1000), &reason);
        let _ = ws.close(Some(code), Some(reason));
        self.forget(&ws);
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.forget(&ws);
        Ok(())
    }
}

impl ChatRoom {
    /// Accepts a verified user's upgrade: tags and attachment first (so the socket is fully
    /// described before anything can hibernate), then `welcome` and presence.
    fn accept(&self, user: &str, room_name: &str) -> Result<Response> {
        if !is_valid_user_id(user) || !is_valid_room(room_name) {
            return super::http::error(ErrorCode::BadRequest, "bad identity");
        }
        let connection_id = new_connection_id(room_name, random_bytes());
        // Load the index from the sockets that were here *before* this one: once accepted, the
        // new socket is listed by getWebSockets() too and would be restored as an old member,
        // silencing its presence `join`.
        self.with_room(&connection_id, |_| {});
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
        })?;
        self.with_room(&connection_id, |room| {
            let actions = room.open(&connection_id, user, pair.server.clone(), now_ms() as f64);
            perform(room, &pair.server, actions);
        });
        Response::from_websocket(pair.client)
    }

    /// A socket ended: drop it from the index and tell the room if its user is gone.
    fn forget(&self, ws: &WebSocket) {
        let Some(me) = attachment(ws) else { return };
        self.with_room(&me.connection_id, |room| {
            let (_, actions) = room.close(&me.connection_id);
            perform(room, ws, actions);
        });
    }

    /// Runs `f` on the room, loading it from the hibernated sockets first if this instance
    /// has not yet. `connection_id` names the room when the object has just woken up.
    fn with_room(&self, connection_id: &str, f: impl FnOnce(&mut Room<WebSocket>)) {
        let mut slot = self.room.borrow_mut();
        let room = slot.get_or_insert_with(|| {
            let name = room_of(connection_id).unwrap_or_default().to_owned();
            self.load(name)
        });
        f(room);
    }

    /// Rebuilds the user index from the runtime's list of this object's sockets.
    fn load(&self, name: String) -> Room<WebSocket> {
        let mut room = Room::new(name, self.config.clone());
        let now = now_ms() as f64;
        for ws in self.state.get_websockets() {
            // Sockets the client is closing are restored too: their close event is what woke us,
            // and it must find them to announce the leave. Only sockets the server closed itself
            // (already removed, marked `closing`) stay out.
            if let Some(a) = attachment(&ws).filter(|a| !a.closing) {
                room.restore(&a.connection_id, &a.user_id, ws, now);
            }
        }
        room
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
            "sockets": sockets.len(),
            "connections": sockets,
        });
        super::http::json_response(200, body.to_string())
    }
}

/// Carries out the room's decisions. Send failures (a socket closing under us) are ignored:
/// the runtime will deliver that socket's close event, which cleans up.
fn perform(room: &Room<WebSocket>, current: &WebSocket, actions: Vec<Action>) {
    for action in actions {
        match action {
            Action::Send { to, frame } => {
                for ws in room.resolve(&to) {
                    let _ = ws.send_with_str(&frame);
                }
            }
            Action::Close { code, reason, .. } => {
                // Only the current sender is ever closed by the room. Mark it first, so a wake
                // before the close completes does not bring it back into the index.
                if let Some(mut a) = attachment(current) {
                    a.closing = true;
                    let _ = current.serialize_attachment(a);
                }
                let _ = current.close(Some(code), Some(reason));
            }
        }
    }
}

fn attachment(ws: &WebSocket) -> Option<Attachment> {
    ws.deserialize_attachment::<Attachment>().ok().flatten()
}
