//! edge-chat: a real-time chat backend for Cloudflare Workers, in Rust compiled to Wasm.
//!
//! The crate has two halves:
//! - a **pure core** (every module below except `shell`) that knows the protocol, the rules
//!   and the room state, and is unit-tested natively with `cargo test`;
//! - a **thin shell** (`shell`, only built for `wasm32`) that binds the core to the Workers
//!   runtime: the stateless front worker and the room Durable Object.

pub mod alarm;
pub mod auth;
pub mod calls;
pub mod chat_log;
pub mod coalesced_report;
pub mod config;
pub mod connection_id;
pub mod deferred;
pub mod error;
pub mod message_log;
pub mod message_state;
pub mod meter;
pub mod moderation;
pub mod names;
pub mod outbox;
pub mod protocol;
pub mod rate_limit;
pub mod room;
pub mod room_index;
pub mod routes;
pub mod server_api;
pub mod session;
pub mod stats;
pub mod tags;
pub mod unread;
pub mod user_registry;
pub mod webhooks;

#[cfg(target_arch = "wasm32")]
mod shell;
