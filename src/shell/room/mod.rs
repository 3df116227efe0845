//! `ChatRoom`, the Durable Object behind each room: one instance per room name, holding that
//! room's WebSockets through the **WebSocket Hibernation API**.
//!
//! How it survives sleep: sockets are accepted with `acceptWebSocket` (via
//! `accept_websocket_with_tags`), so the runtime — not this object — owns them. After ~10 s
//! without events the runtime may evict the object from memory while the sockets stay open;
//! the next event (a message, a close, an HTTP call, the alarm) constructs a fresh instance.
//! Everything the room needs to carry on is on the sockets themselves: each has tags
//! (`c:{connection}`, `u:{user}`) and a serialized attachment naming its user and connection
//! id ([`sockets`]). The first event that needs the whole room rebuilds the in-memory user index
//! from `getWebSockets()`; until then nothing is loaded, so the constructor stays cheap, as it
//! runs on every wake. Calls about one user or one connection find its sockets by tag, without
//! loading the room.
//!
//! `ping` is answered `pong` by `setWebSocketAutoResponse`, inside the runtime, without
//! waking the object. Nothing here keeps fetches pending or sets long timers, which would keep
//! the object resident and defeat hibernation; the only timer is a turn's zero-length one.
//!
//! Where things live (each beside its rules in `src/room/`, where it has some):
//! - [`turn`]: frames are processed in **turns** — what queued up while the room was busy goes
//!   through the room core in one synchronous step, with one storage commit;
//! - [`sends`]: a turn's sends, carried out as planned (one `batch` frame per recipient that
//!   opted in), a resume's replay in bounded chunks;
//! - [`deferral`]: what a connect sends to the others, held for the next turn;
//! - [`endpoints`]: the calls other objects and the front worker make ([`RoomCall`]);
//! - [`forward`]: `direct`s this room cannot deliver itself;
//! - [`moderation`]: operators' calls (disconnect, kick, ban, revoke) and the checks a new
//!   connection must pass (not banned, token not revoked); [`moderation_store`]: their rows;
//!   [`counted_users`]: the users the registry counts here, whose reconnects ask it nothing;
//!   [`presence_holds`]: those of them a restart dropped, held as members for a moment;
//! - [`deletion`]: `DELETE /rooms/{room}` — everyone closed 4006, the storage erased whole,
//!   the instance's memory of it dropped, so the name starts again from seq 1;
//! - [`reports`]: fire-and-forget bookkeeping — a user's presence here beginning or ending to
//!   the user's registry shard (batched per shard by [`registry_queue`]; a last close held a
//!   moment by [`leaves`], so a reload reports nothing), the room's total to
//!   its stats shard (coalesced); [`read_states`]: what the unread counts across rooms need;
//! - [`log`]: the message log and the chat extensions' rows in SQLite;
//! - [`alarm`]: the one alarm, shared by retention, sessions (notices, expiry) and webhooks;
//! - [`refresh`]: refreshes in place (`auth`), their tokens verified after the turn;
//! - [`webhooks`]: the room's events to the application's backend (outbox, dead letters);
//! - [`sockets`]: what each socket carries through hibernation.
//!
//! Handlers are `&self` and may interleave at `.await` points (a `direct` to a user awaits the
//! registry, and the registry may call back into this very room meanwhile): the `RefCell`
//! borrow of the room is never held across an `.await`.
//!
//! [`RoomCall`]: crate::calls::RoomCall

mod alarm;
pub(in crate::shell) mod closing;
mod counted_users;
mod deferral;
mod deletion;
mod endpoints;
mod fanout;
mod fanout_calls;
mod forward;
mod leaves;
mod links;
mod log;
mod member_count;
mod moderation;
mod moderation_store;
mod presence_holds;
mod read_states;
mod refresh;
mod registry_queue;
mod reports;
mod sends;
pub(in crate::shell) mod sockets;
mod turn;
mod webhooks;

use crate::common::config::Config;
use crate::common::meter::{self, ObjectKind};
use crate::shell::common::env::{now_ms, random_hex};
use crate::shell::common::sql::Sql;
use alarm::AlarmClock;
use reports::Reports;
use serde_json::json;
use turn::{SharedRoom, TurnQueue};
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketRequestResponsePair,
};

#[durable_object]
pub struct ChatRoom {
    state: State,
    env: Env,
    config: Config,
    /// A random id per instance: it changes after every eviction, which lets tests prove a wake.
    instance: String,
    created_ms: u64,
    /// The room, loaded lazily on the first event that needs it.
    room: SharedRoom,
    /// Frames waiting for the next turn.
    turns: TurnQueue,
    /// Reports to registries and the stats shard.
    reports: Reports,
    alarm: AlarmClock,
    /// Read states for the unread counts across rooms (`read_states.rs`).
    read_states: read_states::ReadStateQueue,
    /// The room's webhook outbox and its delivery.
    webhooks: super::webhooks::Webhooks,
    /// Operator metrics (`METRICS`, optional): counted here, written after turns.
    obs: crate::shell::common::metrics::RoomObs,
    /// The users the registry counts here (`counted_users.rs`), read once per instance.
    counted: counted_users::CountedUsers,
    /// Last closes whose reports to the registry wait a moment (`leaves.rs`).
    leaves: leaves::HeldLeaves,
    /// Members held across a restart: whether their deadline's row is stored (`presence_holds.rs`).
    holds: presence_holds::HoldRow,
    /// A trailing `member_count` frame waits for its interval (`member_count.rs`).
    count_timer: member_count::CountTimer,
    /// Connections on fan-out objects and the plans waiting for them (`fanout.rs`).
    fanouts: std::rc::Rc<fanout::Fanouts>,
}

impl DurableObject for ChatRoom {
    fn new(state: State, env: Env) -> Self {
        meter::wake(ObjectKind::Room);
        let config = crate::shell::common::env::settings(&env).config.clone();
        let webhooks = super::webhooks::Webhooks::new(
            &config.webhooks,
            Sql::new(state.storage().sql(), ObjectKind::Room),
        )
        .with_metrics(&env);
        // Auto-response is handled by the runtime even while the object is evicted.
        if let Ok(pair) = WebSocketRequestResponsePair::new("ping", "pong") {
            let _ = state.as_raw().set_websocket_auto_response(&pair);
        }
        let fanouts = std::rc::Rc::new(fanout::Fanouts::new(config.fanout_degree));
        let instance = random_hex::<6>();
        let obs = crate::shell::common::metrics::RoomObs::new(&env);
        ChatRoom {
            state,
            env,
            config,
            instance,
            created_ms: now_ms(),
            room: SharedRoom::default(),
            turns: TurnQueue::default(),
            reports: Reports::default(),
            alarm: AlarmClock::default(),
            read_states: Default::default(),
            webhooks,
            obs,
            counted: Default::default(),
            leaves: Default::default(),
            holds: Default::default(),
            count_timer: Default::default(),
            fanouts,
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        meter::request(ObjectKind::Room);
        crate::shell::common::http::or_internal_error("room request", self.serve(req).await)
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        meter::websocket_message(ObjectKind::Room);
        self.on_frame(ws, message).await;
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        reason: String,
        _clean: bool,
    ) -> Result<()> {
        meter::websocket_close(ObjectKind::Room);
        // Forget first: that runs the pending turn, whose acks and messages this socket is
        // still owed and can still be sent before our close frame. Then complete the closing
        // handshake; the client's code is echoed where that is allowed.
        self.forget(&ws);
        sockets::answer_close(&ws, code, &reason);
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        meter::websocket_close(ObjectKind::Room);
        self.forget(&ws);
        Ok(())
    }

    async fn alarm(&self) -> Result<Response> {
        meter::alarm(ObjectKind::Room);
        self.on_alarm().await
    }
}

impl ChatRoom {
    /// The object's SQLite storage, metered.
    fn sql(&self) -> Sql {
        Sql::new(self.state.storage().sql(), ObjectKind::Room)
    }

    /// A socket ended: drop it from the index and tell the room if its user is gone.
    fn forget(&self, ws: &WebSocket) {
        let Some(me) = sockets::attachment(ws) else {
            return;
        };
        let room = crate::common::connection_id::room_of(&me.connection_id).unwrap_or_default();
        if !me.closing {
            self.obs.count(|c| c.disconnects += 1); // one the room closed was counted then
        }
        let closed = self.run_step(room, |r, _| (r.close(&me.connection_id).actions, ()));
        if let Err(e) = closed {
            crate::shell::common::log::error(
                "close_not_processed",
                json!({"room": room, "detail": e.to_string()}),
            );
        }
    }
}
