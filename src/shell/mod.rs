//! The Workers-runtime shell: everything that touches `worker` APIs lives here, and only here.
//! It is compiled for `wasm32` only; the logic it calls is in the natively tested core.

mod env;
mod front;
mod http;
mod objects;
mod registry;
mod room;
mod room_log;
mod stats;
