//! edge-chat: a real-time chat backend for Cloudflare Workers, in Rust compiled to Wasm.
//!
//! The crate has two halves:
//! - a **pure core** (every module below except `shell`) that knows the protocol, the rules
//!   and the state of each object, and is unit-tested natively with `cargo test`;
//! - a **thin shell** (`shell`, only built for `wasm32`) that binds the core to the Workers
//!   runtime: the stateless front worker and the Durable Objects.
//!
//! The core is grouped by the object it serves, folder for folder with the shell: `src/X/`
//! holds the rules, `src/shell/X/` runs them.
//! - [`front`]: the stateless front worker — routes, the admin token, the server API's bodies;
//! - [`room`]: the `ChatRoom` object — connections, frames, turns, the log ([`room::log`]);
//! - [`registry`]: the `UserRegistry` shards — users' rooms, per-user delivery, unread counts;
//! - [`stats`]: the `StatsShard` objects — global counts;
//!
//! and what they share: [`auth`] (user tokens: HS256 secrets, an identity provider's key set),
//! [`protocol`] (frames on the wire), [`calls`] (calls between objects),
//! [`webhooks`] (events to the application's backend) and [`common`] (settings, errors, names,
//! the meter, the alarm, connection ids).

pub mod auth;
pub mod calls;
pub mod common;
pub mod fanout;
pub mod front;
pub mod protocol;
pub mod registry;
pub mod room;
pub mod stats;
pub mod webhooks;

#[cfg(target_arch = "wasm32")]
mod shell;
