//! The Workers-runtime shell: everything that touches `worker` APIs lives here, and only here.
//! It is compiled for `wasm32` only; the logic it calls is in the natively tested core, in the
//! folder of the same name (`src/shell/room/` runs `src/room/`, and so on).

mod auth;
mod calls;
mod common;
mod fanout;
mod front;
mod registry;
mod room;
mod stats;
mod webhooks;
