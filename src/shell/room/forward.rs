//! `direct`s this room cannot deliver itself: to a user (through the user's registry, which
//! knows every room of the user) or to a connection in another room. Forwarding awaits other
//! objects, so it runs after the turn, with the room released.

use crate::calls::{RegistryCall, RegistryRequest, RoomCall, RoomRequest};
use crate::common::connection_id::room_of;
use crate::common::error::ErrorCode;
use crate::protocol::{error_frame, Target};
use crate::shell::calls;
use worker::{Env, Result, WebSocket};

/// A `direct` to forward, and the sender's frame id for the error it may get.
pub struct Forward {
    pub to: Target,
    pub frame: String,
    pub id: Option<String>,
    /// The sender's token's `rooms` claim (see [`crate::room::Action::Forward`]).
    pub rooms: Option<Vec<String>>,
}

/// Forwards each `direct`, in order, telling each sender what went wrong.
pub async fn forward_all(env: Env, forwards: Vec<(WebSocket, Forward)>) {
    for (ws, f) in forwards {
        forward_and_report(&env, &ws, &f).await;
    }
}

/// Sends a `direct` on; resolves to the number of connections that got it.
async fn forward(env: &Env, f: &Forward) -> Result<u64> {
    let frame = f.frame.clone();
    let res = match &f.to {
        Target::User(user) => {
            let request = RegistryRequest::User {
                user: user.clone(),
                call: RegistryCall::FanOut {
                    frame,
                    rooms: f.rooms.clone(),
                },
            };
            calls::call_registry(env, &request).await?
        }
        Target::Connection(c) => {
            let Some(room) = room_of(c) else {
                return Ok(0);
            };
            let call = RoomRequest {
                room: room.to_owned(),
                call: RoomCall::DeliverToConnection {
                    connection: c.clone(),
                    frame,
                },
            };
            calls::call(&calls::room(env, room)?, &call).await?
        }
    };
    calls::delivered(res).await
}

/// Forwards a `direct` and tells the sender when nobody got it or it could not be delivered.
async fn forward_and_report(env: &Env, ws: &WebSocket, f: &Forward) {
    let reply = match forward(env, f).await {
        Ok(0) => Some((ErrorCode::NotFound, "no such recipient")),
        Ok(_) => None,
        Err(e) => {
            worker::console_warn!("forwarding a direct failed: {e}");
            let message = "the recipient could not be reached; try again";
            Some((ErrorCode::Unavailable, message))
        }
    };
    if let Some((code, message)) = reply {
        let _ = ws.send_with_str(error_frame(code, message, f.id.as_deref()));
    }
}
