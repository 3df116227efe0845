//! `direct`s this room cannot deliver itself: to a user (through the user's registry, which
//! knows every room of the user) or to a connection in another room. Forwarding awaits other
//! objects, so it runs after the turn, with the room released.

use super::turn::Link;
use crate::calls::{RegistryCall, RegistryRequest, RoomCall, RoomRequest};
use crate::common::connection_id::room_of;
use crate::common::error::ErrorCode;
use crate::protocol::{error_frame, Target};
use crate::room::Action;
use crate::shell::calls;
use crate::shell::common::log;
use serde_json::json;
use worker::{Env, Result};

/// A `direct` to forward, and the sender's frame id for the error it may get.
pub struct Forward {
    pub to: Target,
    pub frame: String,
    pub id: Option<String>,
    /// The sender's token's `rooms` claim (see [`crate::room::Action::Forward`]).
    pub rooms: Option<Vec<String>>,
    /// The sending user, whose cross-room budget the registry charges.
    pub from: String,
}

impl Forward {
    /// The forward an [`Action::Forward`] asks for (`None` for any other action).
    pub fn of(action: Action) -> Option<Forward> {
        match action {
            Action::Forward {
                to,
                frame,
                id,
                rooms,
                from,
            } => Some(Forward {
                to,
                frame,
                id,
                rooms,
                from,
            }),
            _ => None,
        }
    }
}

/// A forward the sender's cross-room budget did not cover (the registry answered 429).
const BUDGET_SPENT: u16 = 429;

/// Forwards each `direct`, in order, telling each sender what went wrong.
pub async fn forward_all(env: Env, forwards: Vec<(Link, Forward)>) {
    for (from, f) in forwards {
        forward_and_report(&env, &from, &f).await;
    }
}

/// What became of a forwarded `direct`.
enum Forwarded {
    /// This many connections got it.
    Delivered(u64),
    /// The sender's cross-room budget is spent: nobody got it.
    BudgetSpent,
}

/// Sends a `direct` on.
async fn forward(env: &Env, f: &Forward) -> Result<Forwarded> {
    let frame = f.frame.clone();
    let res = match &f.to {
        Target::User(user) => {
            let request = RegistryRequest::User {
                user: user.clone(),
                call: RegistryCall::FanOut {
                    frame,
                    rooms: f.rooms.clone(),
                    from: Some(f.from.clone()),
                },
            };
            let res = calls::call_registry(env, &request).await?;
            if res.status_code() == BUDGET_SPENT {
                return Ok(Forwarded::BudgetSpent);
            }
            res
        }
        Target::Connection(c) => {
            let Some(room) = room_of(c) else {
                return Ok(Forwarded::Delivered(0));
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
    Ok(Forwarded::Delivered(calls::delivered(res).await?))
}

/// Forwards a `direct` and tells the sender when nobody got it or it could not be delivered.
async fn forward_and_report(env: &Env, from: &Link, f: &Forward) {
    let reply = match forward(env, f).await {
        Ok(Forwarded::Delivered(0)) => Some((ErrorCode::NotFound, "no such recipient")),
        Ok(Forwarded::Delivered(_)) => None,
        Ok(Forwarded::BudgetSpent) => {
            let message = "too many directs to users across your rooms; slow down";
            Some((ErrorCode::RateLimited, message))
        }
        Err(e) => {
            log::warn("direct_forward_failed", json!({"detail": e.to_string()}));
            let message = "the recipient could not be reached; try again";
            Some((ErrorCode::Unavailable, message))
        }
    };
    if let Some((code, message)) = reply {
        super::links::tell(env, from, error_frame(code, message, f.id.as_deref())).await;
    }
}
