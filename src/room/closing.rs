//! Server closes that complete at once: the server asks, the client closes.
//!
//! When the server itself calls `close()` on a hibernatable socket from anything but that
//! socket's own message event (an operator's call, the alarm, another socket's frame), workerd
//! sends the close frame at once but keeps the TCP connection until the object is evicted
//! (~10 s locally): the runtime releases a socket only when its outgoing close is pumped *after*
//! the peer's close came in, and a peer's close that answers ours never triggers the release
//! (`tryReleaseNative` in workerd's `web-socket.c++`). Clients then see their `close` event
//! ~10–12 s late — unless the client has sent at least one frame on that connection (even a
//! `ping` the runtime answers), which makes any close complete at once. When the CLIENT closes
//! first and the room answers inside `webSocketClose`, the release is immediate in every case
//! (1–10 ms, `bench/scripts/close_handshake.mjs`).
//!
//! So for the closes that come with a `closing` frame the server asks instead of closing: it
//! sends `closing`, marks the socket closing in its attachment (it left the room at once:
//! presence, counts and limits no longer see it, its frames are ignored) with a deadline, and
//! leaves the close to the client, which answers `closing` with a close of the same code. A
//! client that ignores `closing` is closed by the server itself at the deadline, from the room's
//! alarm (the old, slow way) — never a timer that would keep the object awake.

use super::session::CloseReason;
use super::sockets::Attachment;

/// How long a client asked to close (`closing`) has to close before the server closes the
/// socket itself.
pub const CLIENT_CLOSE_GRACE_MS: u64 = 3_000;

impl CloseReason {
    /// Whether the server asks the client to close (`closing`, then the client's close) rather
    /// than closing the socket itself. Not for a flood (1008: no `closing` frame, and the close
    /// runs in the flooding socket's own event, which completes at once), nor for a deleted
    /// room (4006: the room's storage and alarm are erased with the closes, so no fallback
    /// could be scheduled).
    pub fn asks_client(self) -> bool {
        matches!(
            self,
            CloseReason::TokenExpired
                | CloseReason::Kicked
                | CloseReason::Banned
                | CloseReason::Revoked
        )
    }

    /// The reason of a close code the server uses (`None` for any other code).
    pub fn from_code(code: u16) -> Option<CloseReason> {
        [
            CloseReason::RateLimited,
            CloseReason::TokenExpired,
            CloseReason::Kicked,
            CloseReason::Banned,
            CloseReason::Revoked,
            CloseReason::RoomDeleted,
        ]
        .into_iter()
        .find(|r| r.code() == code)
    }
}

/// A socket the server asked to close and has not closed itself yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingClose {
    /// Unix ms from which the server closes it itself.
    pub close_by: u64,
    pub reason: CloseReason,
}

/// What the shell must do with a socket the server ends, decided at `now_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerClose {
    /// Close it now (`close()`).
    Now,
    /// Leave the close to the client; wake at this time (unix ms) to close it if it has not.
    AskedUntil(u64),
}

impl Attachment {
    /// Marks the socket closing for `reason` (it must never be restored into the room) and
    /// says how the close happens.
    pub fn end(&mut self, reason: CloseReason, now_ms: u64) -> ServerClose {
        self.closing = true;
        if !reason.asks_client() {
            return ServerClose::Now;
        }
        self.close_by = now_ms + CLIENT_CLOSE_GRACE_MS;
        self.close_code = reason.code();
        ServerClose::AskedUntil(self.close_by)
    }

    /// The close the server still owes this socket, if the client has not closed it by then.
    pub fn pending_close(&self) -> Option<PendingClose> {
        if !self.closing || self.close_by == 0 {
            return None;
        }
        let reason = CloseReason::from_code(self.close_code)?;
        let close_by = self.close_by;
        Some(PendingClose { close_by, reason })
    }

    /// The server closed the socket itself: nothing is owed any more.
    pub fn closed_by_server(&mut self) {
        (self.close_by, self.close_code) = (0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket() -> Attachment {
        Attachment {
            user_id: "u".into(),
            connection_id: "r.0000000000000000".into(),
            ..Attachment::default()
        }
    }

    #[test]
    fn operator_and_clock_closes_ask_the_client_with_a_deadline() {
        for reason in [
            CloseReason::TokenExpired,
            CloseReason::Kicked,
            CloseReason::Banned,
            CloseReason::Revoked,
        ] {
            let mut a = socket();
            assert_eq!(a.end(reason, 1_000), ServerClose::AskedUntil(4_000));
            assert!(a.closing);
            let owed = a.pending_close().expect("owed until the client closes");
            assert_eq!((owed.close_by, owed.reason), (4_000, reason));
            let back: Attachment =
                serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
            assert_eq!(back.pending_close(), Some(owed), "survives hibernation");
            a.closed_by_server();
            assert_eq!(a.pending_close(), None);
            assert!(a.closing, "still never restored");
        }
    }

    #[test]
    fn floods_and_deleted_rooms_close_at_once() {
        for reason in [CloseReason::RateLimited, CloseReason::RoomDeleted] {
            let mut a = socket();
            assert_eq!(a.end(reason, 1_000), ServerClose::Now);
            assert!(a.closing && a.pending_close().is_none());
        }
    }

    #[test]
    fn close_codes_map_back_to_their_reasons() {
        assert_eq!(CloseReason::from_code(4003), Some(CloseReason::Kicked));
        assert_eq!(CloseReason::from_code(1008), Some(CloseReason::RateLimited));
        assert_eq!(CloseReason::from_code(1000), None);
        let mut a = socket();
        (a.closing, a.close_by, a.close_code) = (true, 5, 1000);
        assert_eq!(
            a.pending_close(),
            None,
            "an unknown code is never closed with"
        );
    }
}
