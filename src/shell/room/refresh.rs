//! Refreshes in place (`auth` frames): the core asks for the token to be verified
//! ([`Action::VerifyRefresh`]), which happens after the turn — verifying may fetch the identity
//! provider's key set, and a turn never awaits — then a step of its own finishes it
//! ([`crate::room::Room::refreshed`]: the same user, the room allowed, not revoked → `auth_ok`).
//!
//! The handler that ran the turn of the frame's arrival finishes what is pending, whichever turn
//! processed the frame (another event's turn may have taken the inbox first): every queued frame
//! has such a handler after its turn.

use super::ChatRoom;
use crate::room::Action;
use crate::shell::common::env::now_ms;

/// A refresh whose token waits to be verified.
pub struct PendingRefresh {
    pub connection_id: String,
    pub token: String,
    pub id: Option<String>,
}

impl PendingRefresh {
    /// The refresh an [`Action::VerifyRefresh`] asks for (none for another action).
    pub fn of(action: Action) -> Option<Self> {
        match action {
            Action::VerifyRefresh {
                connection_id,
                token,
                id,
            } => Some(PendingRefresh {
                connection_id,
                token,
                id,
            }),
            _ => None,
        }
    }
}

impl ChatRoom {
    /// Verifies the pending refreshes' tokens, one after another, each finished in a step.
    pub(super) async fn finish_refreshes(&self, room: &str) {
        let pending = self.turns.refreshes.take();
        for p in pending {
            let verified = crate::shell::auth::verify(&self.env, &p.token).await;
            let now = now_ms();
            let finished = self.run_step(room, |r, _| {
                (
                    r.refreshed(&p.connection_id, p.id.as_deref(), verified, now),
                    (),
                )
            });
            if let Err(e) = finished {
                crate::shell::common::incident::report("refresh", &e.to_string());
            }
        }
    }
}
