//! Contract v1 on the wire (docs/protocol.md): what clients send ([`client`]), what the server
//! sends ([`server`]), and the JSON checks both sides of the HTTP API share ([`json`]).

pub mod client;
pub mod json;
pub mod server;

pub use client::{parse_client_frame, read_id, ClientFrame, FrameError, Target, MAX_CLIENT_ID_LEN};
pub use json::{nesting_depth, MAX_DATA_DEPTH};
pub use server::{
    batch_frame, close_reply, error_frame, Member, PresenceEvent, Sender, ServerFrame,
};
