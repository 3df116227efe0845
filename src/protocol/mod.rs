//! Contract v1 on the wire (docs/protocol.md): what clients send ([`client`]), what the server
//! sends ([`server`]), and the JSON checks both sides of the HTTP API share ([`json`]).

/// The WebSocket subprotocol of contract v1. A client may offer its token as a second one,
/// `edge-chat.token.<jwt>` (browsers cannot set an `Authorization` header on a WebSocket); the
/// server's 101 selects this one.
pub const SUBPROTOCOL: &str = "edge-chat.v1";
/// The prefix of the subprotocol that carries a token.
pub const TOKEN_SUBPROTOCOL_PREFIX: &str = "edge-chat.token.";

/// The token offered in a `Sec-WebSocket-Protocol` header value, if any.
pub fn token_from_subprotocols(header: &str) -> Option<&str> {
    header
        .split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix(TOKEN_SUBPROTOCOL_PREFIX))
        .filter(|t| !t.is_empty())
}

/// Whether the client offered the contract's subprotocol.
pub fn offers_subprotocol(header: &str) -> bool {
    header.split(',').any(|p| p.trim() == SUBPROTOCOL)
}

pub mod chat;
pub mod client;
pub mod json;
pub mod server;

pub use client::{parse_client_frame, read_id, ClientFrame, FrameError, Target, MAX_CLIENT_ID_LEN};
pub use json::{nesting_depth, MAX_DATA_DEPTH};
pub use server::{
    batch_frame, close_reply, error_frame, internal_error_frame, GapReason, Member, PresenceEvent,
    Sender, ServerFrame,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_ride_in_the_subprotocol_header() {
        let h = "edge-chat.v1, edge-chat.token.eyJ.a.b";
        assert_eq!(token_from_subprotocols(h), Some("eyJ.a.b"));
        assert!(offers_subprotocol(h));
        assert_eq!(token_from_subprotocols("edge-chat.v1"), None);
        assert_eq!(token_from_subprotocols("edge-chat.token."), None);
        assert!(!offers_subprotocol("edge-chat.v2, chat"));
    }
}
