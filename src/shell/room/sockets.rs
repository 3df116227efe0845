//! What each socket carries through hibernation, and finding sockets without loading the room.
//!
//! Every socket is accepted with two tags — `c:{connection_id}` and `u:{user_id}` (see
//! [`crate::room::sockets`]) — and an [`Attachment`]. The attachment is what the room's index is
//! rebuilt from after a wake; the tags let a call about one connection or one user find its
//! sockets with `getWebSockets(tag)` without rebuilding the index of a whole (possibly large,
//! hibernated) room.

use crate::room::sockets::{connection_tag, user_tag, Attachment};
use wasm_bindgen::JsValue;
use worker::{Headers, Response, State, WebSocket, WebSocketPair};

/// Accepts the server end of a new socket through the hibernation API, with its tags and its
/// attachment `a` (so the socket is fully described before anything can hibernate). `Err`: the
/// runtime refused it (the answer to give). A room's own sockets and a fan-out object's alike.
pub fn accept_tagged(
    state: &State,
    a: &Attachment,
) -> worker::Result<std::result::Result<WebSocketPair, Response>> {
    let pair = WebSocketPair::new()?;
    let tags = vec![
        JsValue::from(connection_tag(&a.connection_id)),
        JsValue::from(user_tag(&a.user_id)),
    ];
    // The raw binding returns the runtime's error instead of panicking like the wrapper.
    let accepted = state
        .as_raw()
        .accept_websocket_with_tags(pair.server.as_ref(), tags);
    if let Err(e) = accepted {
        let detail = format!("{:?}", e.as_string());
        return crate::shell::common::http::internal("accept a socket", &detail).map(Err);
    }
    set_attachment(&pair.server, a)?;
    remember_connection_id(&pair.server, &a.connection_id);
    Ok(Ok(pair))
}

/// Completes the closing handshake a client started, echoing its code where that is allowed
/// (a room's sockets and a fan-out object's alike).
pub fn answer_close(ws: &WebSocket, code: usize, reason: &str) {
    let (code, reason) = crate::protocol::close_reply(u16::try_from(code).unwrap_or(1000), reason);
    let _ = ws.close(Some(code), Some(reason));
}

/// Every socket of `state` as `/debug` lists it: tags, attachment, ready state.
pub fn debug_list(state: &State) -> Vec<serde_json::Value> {
    state
        .get_websockets()
        .iter()
        .map(|ws| {
            serde_json::json!({
                "tags": state.get_tags(ws),
                "attachment": attachment(ws),
                "ready_state": ws.as_ref().ready_state(),
            })
        })
        .collect()
}

/// The `101` for the client end. A client that offered its token as a subprotocol (browsers
/// cannot set headers on a WebSocket) gets the protocol proper selected, never the token.
pub fn upgrade_response(client: WebSocket, subprotocol: bool) -> worker::Result<Response> {
    let response = Response::from_websocket(client)?;
    if !subprotocol {
        return Ok(response);
    }
    let headers = Headers::new();
    headers.set("sec-websocket-protocol", crate::protocol::SUBPROTOCOL)?;
    Ok(response.with_headers(headers))
}

/// The socket's attachment (`None` for a socket that is not ours). It is stored as one JSON
/// string: a struct serialised field by field into a JS object costs a crossing of the Wasm
/// boundary per field, on every accept and for every socket of a waking room.
pub fn attachment(ws: &WebSocket) -> Option<Attachment> {
    let text = ws.deserialize_attachment::<String>().ok().flatten()?;
    serde_json::from_str(&text).ok()
}

/// Stores `a` as the socket's attachment.
pub fn set_attachment(ws: &WebSocket, a: &Attachment) -> worker::Result<()> {
    ws.serialize_attachment(serde_json::to_string(a)?)
}

/// Writes a connection's session into its socket's attachment (it survives hibernation there).
pub fn save_session(ws: &WebSocket, session: crate::room::session::Session) {
    if let Some(mut a) = attachment(ws) {
        a.set_session(session);
        let _ = set_attachment(ws, &a);
    }
}

pub fn save_rooms(ws: &WebSocket, rooms: Option<Vec<String>>) {
    if let Some(mut a) = attachment(ws) {
        a.rooms = rooms;
        let _ = set_attachment(ws, &a);
    }
}

/// The sockets of `user_id` in this room that the server has not closed itself.
pub fn of_user(state: &State, user_id: &str) -> Vec<WebSocket> {
    live(state.get_websockets_with_tag(&user_tag(user_id)))
}

/// How many sockets this room holds that the server has not closed itself (after a restart:
/// none, whatever was reported before it).
pub fn live_count(state: &State) -> usize {
    live(state.get_websockets()).len()
}

/// The socket of `connection_id`, unless the server has closed it itself.
pub fn of_connection(state: &State, connection_id: &str) -> Option<WebSocket> {
    live(state.get_websockets_with_tag(&connection_tag(connection_id)))
        .into_iter()
        .next()
}

fn live(sockets: Vec<WebSocket>) -> Vec<WebSocket> {
    sockets
        .into_iter()
        .filter(|ws| attachment(ws).is_some_and(|a| !a.closing))
        .collect()
}

/// The JS property that caches a socket's connection id on the socket object itself. The
/// attachment is the durable record; reading it back is a structured-clone deserialisation,
/// too slow for every message, so the id is also kept here. After a wake the runtime hands
/// out new socket objects without it, and the index rebuild (or the fallback below) puts it
/// back.
const CONNECTION_ID_KEY: &str = "__edgeChatConnectionId";

pub fn remember_connection_id(ws: &WebSocket, id: &str) {
    let raw: &JsValue = ws.as_ref().as_ref();
    let _ = js_sys::Reflect::set(
        raw,
        &JsValue::from_str(CONNECTION_ID_KEY),
        &JsValue::from_str(id),
    );
}

/// The connection id of a socket: cached on the socket object, else read from its attachment
/// (and cached, with the closing mark when the attachment has it).
pub fn connection_id_of(ws: &WebSocket) -> Option<String> {
    let raw: &JsValue = ws.as_ref().as_ref();
    js_sys::Reflect::get(raw, &JsValue::from_str(CONNECTION_ID_KEY))
        .ok()
        .and_then(|v| v.as_string())
        .or_else(|| {
            let a = attachment(ws)?;
            if a.closing {
                mark_closing(ws);
            }
            remember_connection_id(ws, &a.connection_id);
            Some(a.connection_id)
        })
}

/// The JS property that marks, on the socket object, a socket the server ended: its frames
/// are ignored without reading its attachment for every frame. Like the cached id it is lost
/// with the object at a wake; [`connection_id_of`] puts it back from the attachment.
const CLOSING_KEY: &str = "__edgeChatClosing";

pub fn mark_closing(ws: &WebSocket) {
    let raw: &JsValue = ws.as_ref().as_ref();
    let _ = js_sys::Reflect::set(raw, &JsValue::from_str(CLOSING_KEY), &JsValue::TRUE);
}

/// Whether the server ended this socket (call [`connection_id_of`] first after a wake).
pub fn is_closing(ws: &WebSocket) -> bool {
    let raw: &JsValue = ws.as_ref().as_ref();
    js_sys::Reflect::get(raw, &JsValue::from_str(CLOSING_KEY)).is_ok_and(|v| v.is_truthy())
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

/// Sends a text already converted to a JS string.
pub fn send_text(ws: &WebSocket, text: &JsValue) -> std::result::Result<(), JsValue> {
    use wasm_bindgen::JsCast;
    let raw: &JsValue = ws.as_ref().as_ref();
    raw.unchecked_ref::<TextSink>().send(text)
}
