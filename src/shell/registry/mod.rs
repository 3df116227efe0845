//! `UserRegistry`: the registry shards that replace the original design's Redis Pub/Sub for
//! per-user fan-out. Users are spread over [`REGISTRY_SHARDS`] objects by a hash of their id
//! (never one global object); a shard knows, for each of its users, the rooms where the user
//! has connections, because rooms report their users' presence (first connection in, last
//! out), batched per shard.
//!
//! Keeping it right without keeping rooms awake:
//! - reports are versioned, so late or reordered ones cannot undo newer ones;
//! - every fan-out to the rooms and every read asks the rooms themselves, and their answer
//!   replaces the stored count: a room that no longer holds the user is dropped (no ghosts),
//!   without any timer;
//! - entries live in the shard's SQLite storage ([`store`]), so eviction loses nothing.
//!
//! Each fan-out forwards to each of the user's rooms once, and each room sends to each of the
//! user's sockets there once: exactly one copy per connection per call. `GET /stats` asks each
//! shard how many of its users are online; shards never report on their own.
//!
//! The modules: [`rooms`] (what a shard asks the user's rooms: fan-out, reads, closes),
//! [`store`] (its SQLite rows), [`pending`] (answered reports waiting to be stored together),
//! [`pushes`] (revocation pushes that failed, retried from the alarm), [`heal`] (the rows
//! checked with their rooms once per instance, so that presence heals after a restart),
//! [`unread`] (unread counts across rooms), [`webhooks`] (`direct_undelivered` events).
//!
//! [`REGISTRY_SHARDS`]: crate::registry::REGISTRY_SHARDS

mod erasure;
mod heal;
mod pending;
mod pushes;
mod rooms;
mod seen;
mod store;
mod unread;
mod webhooks;

use crate::calls::{
    ClosedCount, Delivered, OnlineUsers, PresenceReport, RegistryCall, RegistryRequest,
    ReportReply, Revoked,
};
use crate::common::error::ErrorCode;
use crate::common::meter::{self, ObjectKind};
use crate::common::metrics;
use crate::registry::TOMBSTONE_TTL_MS;
use crate::shell::calls;
use crate::shell::common::env::now_ms;
use crate::shell::common::http::{error, error_response, json_response};
use crate::shell::common::log;
use crate::shell::common::sql::Sql;
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use store::{ShardStore, UserState};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

#[durable_object]
pub struct UserRegistry {
    state: State,
    env: Env,
    store: Rc<ShardStore>,
    /// The users touched since the last wake (those with live rooms stay).
    users: Rc<RefCell<HashMap<String, UserState>>>,
    /// When this instance last purged expired tombstones (unix ms).
    purged: Rc<Cell<u64>>,
    /// This shard's number (learned from the first request it serves).
    shard: Cell<Option<u32>>,
    /// The shard's webhook outbox (`direct_undelivered`) and its delivery.
    webhooks: super::webhooks::Webhooks,
    /// What this instance asked of its alarm (webhook retries only).
    scheduled: crate::shell::common::alarm::Scheduled,
    /// Presence reports answered and not stored yet.
    pending: pending::Pending,
    /// When each user was last seen connected (for `direct_undelivered`).
    seen: Rc<seen::Seen>,
    /// At most one `direct_undelivered` per sender per second.
    senders: RefCell<crate::webhooks::SenderGate>,
    /// Revocation pushes failed on purpose so far (`DEV_REVOCATION_PUSH_FAILURES`, tests only).
    injected_failures: Cell<u32>,
    /// Each user's budget of cross-room work done here (directs they send, their unread reads).
    budget: RefCell<crate::registry::limits::CrossRoomBudget>,
    /// Whether this instance has checked its presence rows with their rooms yet.
    sweep: Rc<RefCell<crate::common::heal::Sweep>>,
    /// Operator metrics (`METRICS`, optional): written after requests and alarms.
    obs: crate::shell::common::metrics::TallyObs<{ metrics::REGISTRY_DOUBLES.len() }>,
}

/// Expired tombstones are purged at most this often (a scan of the shard's table).
const PURGE_INTERVAL_MS: u64 = 600_000;

impl DurableObject for UserRegistry {
    fn new(state: State, env: Env) -> Self {
        meter::wake(ObjectKind::Registry);
        let sql = Sql::new(state.storage().sql(), ObjectKind::Registry);
        let store = Rc::new(ShardStore::new(sql.clone()));
        let config = &crate::shell::common::env::settings(&env).config;
        let seen = Rc::new(seen::Seen::new(sql.clone(), &config.webhooks));
        let webhooks = super::webhooks::Webhooks::new(&config.webhooks, sql).with_metrics(&env);
        let obs = crate::shell::common::metrics::TallyObs::new(&env);
        UserRegistry {
            state,
            env,
            store,
            users: Rc::new(RefCell::new(HashMap::new())),
            purged: Rc::new(Cell::new(0)),
            shard: Cell::new(None),
            webhooks,
            scheduled: Default::default(),
            pending: Default::default(),
            seen,
            senders: Default::default(),
            budget: Default::default(),
            injected_failures: Cell::new(0),
            sweep: Rc::default(),
            obs,
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        meter::request(ObjectKind::Registry);
        if let Some(fault) = self.dev_fault().await {
            return fault;
        }
        self.obs.add(metrics::registry::REQUESTS, 1);
        let answer = self.serve(req).await;
        self.metrics_flush();
        crate::shell::common::http::or_internal_error("registry request", answer)
    }

    async fn alarm(&self) -> Result<Response> {
        meter::alarm(ObjectKind::Registry);
        self.obs.add(metrics::registry::ALARMS, 1);
        // One alarm, three sources: the webhooks' turn (which sets the alarm for its own next
        // wake), then the revocation pushes due (which only ever move it earlier).
        let answer = self.on_alarm().await;
        if let Err(e) = self.retry_revocation_pushes().await {
            log::error(
                "revocation_push_retry_failed",
                json!({"shard": self.shard.get(), "detail": e.to_string()}),
            );
        }
        // Then the erasures' rooms (which, too, only move the alarm earlier).
        if let Err(e) = self.continue_erasures().await {
            log::error(
                "erasure_continue_failed",
                json!({"shard": self.shard.get(), "detail": e.to_string()}),
            );
        }
        self.metrics_flush();
        answer
    }
}

impl UserRegistry {
    /// One short dispatch over the calls a registry shard serves ([`RegistryRequest`]).
    async fn serve(&self, req: Request) -> Result<Response> {
        let request = match calls::receive::<RegistryRequest>(req).await? {
            Ok(r) => r,
            Err(e) => return error_response(&e),
        };
        let settings = crate::shell::common::env::settings(&self.env);
        self.shard
            .set(Some(request.shard(&settings.config.registry_shards)));
        if !matches!(request, RegistryRequest::Reports { .. }) {
            // Whatever this request reads, it reads every report already answered.
            self.pending.settle(&self.store, &self.users);
        }
        let (user, call) = match request {
            RegistryRequest::Reports { room, reports } => {
                let reply = self.reports(&room, reports)?;
                return crate::shell::common::http::internal_reply(serde_json::to_string(&reply)?);
            }
            RegistryRequest::Online { .. } => {
                self.heal();
                let online = OnlineUsers {
                    online: self.store.online_users()?,
                };
                return crate::shell::common::http::internal_reply(serde_json::to_string(&online)?);
            }
            RegistryRequest::ReadStates {
                room,
                messages,
                cursors,
                authors,
            } => {
                self.note_authors(&room, &authors)?;
                return self.read_states(&room, messages, cursors);
            }
            RegistryRequest::RoomDeleted { room, .. } => return self.room_deleted(&room),
            RegistryRequest::RoomMessages { rooms } => {
                let counts = self.room_messages(&rooms)?;
                return json_response(200, serde_json::to_string(&counts)?);
            }
            r @ (RegistryRequest::WebhooksDead { .. } | RegistryRequest::WebhooksRetry { .. }) => {
                return self.dead_letters(r)
            }
            RegistryRequest::User { user, call } => (user, call),
        };
        self.user_call(&user, call).await
    }

    /// A call about one user.
    async fn user_call(&self, user: &str, call: RegistryCall) -> Result<Response> {
        match call {
            RegistryCall::FanOut { frame, rooms, from } => {
                let cost = self.live_rooms(user, rooms.as_deref())?.len();
                if let Some(from) = from.filter(|from| !self.charge(from, cost)) {
                    return budget_spent(&from);
                }
                let delivery = Some((frame.as_str(), rooms.as_deref()));
                let delivered = self.verify_rooms(user, delivery).await?;
                if delivered == 0 {
                    self.undelivered(user, &frame)?;
                }
                json_response(200, serde_json::to_string(&Delivered { delivered })?)
            }
            RegistryCall::Info => self.info(user).await,
            RegistryCall::Disconnect { reason } => {
                let closed = self.disconnect_everywhere(user, reason).await?;
                json_response(200, serde_json::to_string(&ClosedCount { closed })?)
            }
            RegistryCall::Revoke { before, reason } => {
                let closed = self.revoke(user, before, reason).await?;
                json_response(200, serde_json::to_string(&ClosedCount { closed })?)
            }
            RegistryCall::Unread { rooms, iat } => self.unread(user, rooms, iat).await,
            RegistryCall::Erase => self.start_erasure(user).await,
            RegistryCall::Erasure { id } => self.erasure_status(user, &id),
            RegistryCall::Revoked { iat } => {
                let before = self.with_user(user, |s| s.revoked_before)?;
                let revoked = before.is_some_and(|before| iat < before);
                json_response(200, serde_json::to_string(&Revoked { revoked })?)
            }
        }
    }

    /// A room's presence reports: each stored unless stale (one conditional write, nothing
    /// read first), answered with the reported users' revocations. The shard's online count is
    /// counted when `GET /stats` asks for it. A first connection (count > 0) of a user already
    /// in `MAX_ROOMS_PER_USER` other rooms is answered `too_many_rooms` and not stored: the
    /// room, which awaits this answer anyway, refuses it — the cap costs no extra round trip.
    ///
    /// The writes come after the reply has gone out (a zero timer later): the runtime's output
    /// gate holds every reply until the writes made before it are durable, and a room's connect
    /// awaits this reply — it needs the revocation, not the write. A crash in between loses a
    /// presence record, which the room's next report of that user, or a read of the user's
    /// rooms, puts right.
    fn reports(&self, room: &str, reports: Vec<PresenceReport>) -> Result<ReportReply> {
        let mut reply = ReportReply::default();
        let max = crate::shell::common::env::settings(&self.env)
            .config
            .registry
            .max_rooms_per_user;
        self.seen.note(reports.iter().map(|r| r.user.as_str()));
        let mut schedule = false;
        for r in reports {
            if let Some(before) = self.store.revoked_before(&r.user)? {
                reply.revoked_before.insert(r.user.clone(), before);
            }
            if r.connections > 0 && !self.admits(&r.user, room, max)? {
                reply.too_many_rooms.insert(r.user);
                continue;
            }
            self.obs.add(metrics::registry::PRESENCE_REPORTS, 1);
            schedule |= self.pending.push(room, vec![r]);
        }
        if schedule {
            let (store, users) = (self.store.clone(), self.users.clone());
            let (pending, purged) = (self.pending.clone(), self.purged.clone());
            let seen = self.seen.clone();
            self.state.wait_until(async move {
                worker::Delay::from(std::time::Duration::ZERO).await;
                pending.settle(&store, &users);
                if let Err(e) = seen.flush(now_ms()) {
                    log::error("last_seen_not_stored", json!({"detail": e.to_string()}));
                }
                purge_tombstones(&store, &purged);
            });
        }
        Ok(reply)
    }

    /// `GET /stats` read this shard: the first read of this instance (or one after an
    /// unfinished sweep) starts checking the presence rows with their rooms, in the background
    /// ([`heal`]). The read answers from the rows as they are.
    fn heal(&self) {
        let Some(after) = self.sweep.borrow_mut().read() else {
            return;
        };
        let cx = heal::SweepContext {
            env: self.env.clone(),
            store: self.store.clone(),
            users: self.users.clone(),
            pending: self.pending.clone(),
            sweep: self.sweep.clone(),
        };
        self.state.wait_until(heal::sweep(cx, after));
    }

    /// Whether `user` may have one more room, `room` (see [`crate::registry::limits::admits`]),
    /// counting the reports answered and not stored yet.
    fn admits(&self, user: &str, room: &str, max: u32) -> Result<bool> {
        let live = self.pending.live_rooms(user, self.store.live_rooms(user)?);
        Ok(crate::registry::limits::admits(
            live.iter().map(String::as_str),
            room,
            max,
        ))
    }

    /// Runs `f` on what the shard knows of `user` (loaded from storage on first use). Users
    /// with no live room and no revocation are not kept in memory afterwards.
    fn with_user<T>(&self, user: &str, f: impl FnOnce(&mut UserState) -> T) -> Result<T> {
        let mut users = self.users.borrow_mut();
        if !users.contains_key(user) {
            let loaded = self.store.load(user, now_ms())?;
            users.insert(user.to_owned(), loaded);
        }
        let Some(state) = users.get_mut(user) else {
            return Err(worker::Error::RustError("user state vanished".into()));
        };
        let out = f(state);
        if state.rooms.total() == 0 && state.revoked_before.is_none() {
            users.remove(user);
        }
        Ok(out)
    }

    /// Takes `cost` objects' worth (at least one) from `user`'s cross-room budget; `false`:
    /// spent, the work is refused (see [`crate::registry::limits`]).
    fn charge(&self, user: &str, cost: usize) -> bool {
        let limit = crate::shell::common::env::settings(&self.env)
            .config
            .registry
            .cross_room;
        let cost = u32::try_from(cost).unwrap_or(u32::MAX);
        self.budget
            .borrow_mut()
            .charge(&limit, user, cost, now_ms())
    }

    /// Writes the shard's metrics point if one is due (once its number is known).
    fn metrics_flush(&self) {
        if let Some(shard) = self.shard.get().filter(|_| self.obs.is_on()) {
            let index = format!("registry-{shard}");
            self.webhooks.name(&index);
            self.obs.flush(metrics::Kind::Registry, &index);
        }
    }

    /// Test hook, honoured only with `DEV_MODE=1`: `REGISTRY_FAULT=down` makes every registry
    /// answer 503, `REGISTRY_FAULT=unreachable` makes every call to one fail as a call to an
    /// object that cannot be reached does (the caller's `fetch` throws), and
    /// `REGISTRY_FAULT=slow:MS` delays every answer by MS milliseconds. It lets the integration
    /// tests prove that room chat never waits for a registry, and what callers answer.
    async fn dev_fault(&self) -> Option<Result<Response>> {
        let settings = crate::shell::common::env::settings(&self.env);
        if !settings.dev_mode {
            return None;
        }
        let fault = settings.registry_fault.as_deref()?;
        if fault == "down" {
            return Some(error(
                ErrorCode::Unavailable,
                "registry is down (REGISTRY_FAULT)",
            ));
        }
        if fault == "unreachable" {
            let unreachable = "registry unreachable (REGISTRY_FAULT)";
            return Some(Err(worker::Error::RustError(unreachable.into())));
        }
        let ms = fault.strip_prefix("slow:")?.parse::<u64>().ok()?;
        worker::Delay::from(std::time::Duration::from_millis(ms)).await;
        None
    }
}

/// `429 rate_limited`: `user`'s cross-room budget is spent. Not logged: under the flood this
/// answers, one line per refusal would be a flood of its own.
fn budget_spent(_user: &str) -> Result<Response> {
    error(
        ErrorCode::RateLimited,
        "too much work across rooms from this user; slow down",
    )
}

/// Deletes tombstones past their hour, at most every [`PURGE_INTERVAL_MS`] (a scan of the
/// shard's table).
fn purge_tombstones(store: &ShardStore, purged: &Cell<u64>) {
    let now = now_ms();
    if now.saturating_sub(purged.get()) <= PURGE_INTERVAL_MS {
        return;
    }
    purged.set(now);
    let cutoff = now.saturating_sub(TOMBSTONE_TTL_MS) * 1024;
    if let Err(e) = store.purge_tombstones(cutoff) {
        log::warn("tombstone_purge_failed", json!({"detail": e.to_string()}));
    }
}
