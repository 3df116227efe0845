//! The fallback of the closes the client is asked to make ([`crate::room::closing`]): a socket
//! whose client ignored `closing` is closed by the server itself once its deadline passed, from
//! the room's alarm. That close is the slow kind (locally its TCP connection then waits for the
//! object's eviction), which is why it is only the fallback.

use super::sockets::{attachment, set_attachment};
use super::ChatRoom;
use worker::WebSocket;

impl ChatRoom {
    /// Closes the sockets asked to close whose deadline is past `now_ms`; returns the earliest
    /// deadline still ahead (the alarm's `closes` source).
    pub(super) fn close_overdue(&self, now_ms: u64) -> Option<u64> {
        let sockets = self.state.get_websockets();
        if !self.any_closing(&sockets) {
            return None;
        }
        close_overdue(sockets, now_ms)
    }

    /// Whether any socket may be one the server ended: a loaded room whose index holds every
    /// socket has none, and then no attachment need be read.
    fn any_closing(&self, sockets: &[WebSocket]) -> bool {
        match self.room.borrow().as_ref() {
            Some(loaded) => {
                let own = self
                    .fanouts
                    .own_sockets(loaded.room.index().connection_count());
                own < sockets.len()
            }
            None => !sockets.is_empty(),
        }
    }
}

/// Closes the sockets among `sockets` asked to close whose deadline is past `now_ms`; returns
/// the earliest deadline still ahead. (A fan-out object's sockets are closed the same way.)
pub(in crate::shell) fn close_overdue(sockets: Vec<WebSocket>, now_ms: u64) -> Option<u64> {
    let mut next: Option<u64> = None;
    for ws in sockets {
        let Some(mut a) = attachment(&ws) else {
            continue;
        };
        let Some(owed) = a.pending_close() else {
            continue;
        };
        if owed.close_by > now_ms {
            next = Some(next.map_or(owed.close_by, |n| n.min(owed.close_by)));
            continue;
        }
        a.closed_by_server();
        let _ = set_attachment(&ws, &a);
        let _ = ws.close(Some(owed.reason.code()), Some(owed.reason.reason()));
    }
    next
}
