//! The Workers-runtime shell: everything that touches `worker` APIs lives here, and only here.
//! It is compiled for `wasm32` only; the logic it calls is in the natively tested core.

mod chat_log;
mod env;
mod front;
mod http;
mod incident;
mod message_log;
mod moderation;
mod objects;
mod room;
mod sql;
mod stats;
mod user_registry;
mod wake;
mod webhooks;
