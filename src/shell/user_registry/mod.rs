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
//! user's sockets there once: exactly one copy per connection per call. Each shard reports how
//! many of its users are online to the stats (coalesced), never one row per user.
//!
//! [`REGISTRY_SHARDS`]: crate::user_registry::REGISTRY_SHARDS

mod rooms;
mod store;
mod webhooks;

use super::env::now_ms;
use super::http::{error, error_response, json_response};
use super::objects;
use crate::calls::{Closed, Delivered, PresenceReport, RegistryCall, RegistryRequest, ReportReply};
use crate::coalesced_report::CoalescedReport;
use crate::error::ErrorCode;
use crate::user_registry::{OnlineChange, Versions, TOMBSTONE_TTL_MS};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use store::{ShardStore, UserState};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

#[durable_object]
pub struct UserRegistry {
    state: State,
    env: Env,
    store: ShardStore,
    /// The users touched since the last wake (those with live rooms stay).
    users: RefCell<HashMap<String, UserState>>,
    /// This shard's number (from the users it is asked about).
    shard: Cell<Option<u32>>,
    versions: Rc<RefCell<Versions>>,
    stats: Rc<Cell<CoalescedReport>>,
    /// When this instance last purged expired tombstones (unix ms).
    purged: Rc<Cell<u64>>,
    /// The shard's webhook outbox (`direct_undelivered`) and its delivery.
    webhooks: super::webhooks::Webhooks,
    /// What this instance asked of its alarm (webhook retries only).
    scheduled: super::wake::Scheduled,
}

/// Expired tombstones are purged at most this often (a scan of the shard's table).
const PURGE_INTERVAL_MS: u64 = 600_000;

impl DurableObject for UserRegistry {
    fn new(state: State, env: Env) -> Self {
        let store = ShardStore::new(state.storage().sql());
        let config = &super::env::settings(&env).config;
        let webhooks = super::webhooks::Webhooks::new(&config.webhooks, state.storage().sql());
        UserRegistry {
            state,
            env,
            store,
            users: RefCell::new(HashMap::new()),
            shard: Cell::new(None),
            versions: Rc::new(RefCell::new(Versions::default())),
            stats: Rc::new(Cell::new(CoalescedReport::default())),
            purged: Rc::new(Cell::new(0)),
            webhooks,
            scheduled: Default::default(),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        super::http::or_internal_error("registry request", self.serve(req).await)
    }

    async fn alarm(&self) -> Result<Response> {
        self.on_alarm().await
    }
}

impl UserRegistry {
    /// One short dispatch over the calls a registry shard serves ([`RegistryRequest`]).
    async fn serve(&self, req: Request) -> Result<Response> {
        if let Some(fault) = self.dev_fault().await {
            return fault;
        }
        let request = match objects::receive::<RegistryRequest>(req).await? {
            Ok(r) => r,
            Err(e) => return error_response(&e),
        };
        self.shard.set(Some(request.shard()));
        let (user, call) = match request {
            RegistryRequest::Reports { room, reports } => {
                let reply = self.reports(&room, reports)?;
                return json_response(200, serde_json::to_string(&reply)?);
            }
            RegistryRequest::User { user, call } => (user, call),
        };
        match call {
            RegistryCall::FanOut { frame, rooms } => {
                let delivery = Some((frame.as_str(), rooms.as_deref()));
                let delivered = self.verify_rooms(&user, delivery).await?;
                if delivered == 0 {
                    self.undelivered(&user, &frame)?;
                }
                json_response(200, serde_json::to_string(&Delivered { delivered })?)
            }
            RegistryCall::Info => self.info(&user).await,
            RegistryCall::Disconnect { reason } => {
                let closed = self.disconnect_everywhere(&user, reason).await?;
                json_response(200, serde_json::to_string(&Closed { closed })?)
            }
            RegistryCall::Revoke { before, reason } => {
                let closed = self.revoke(&user, before, reason).await?;
                json_response(200, serde_json::to_string(&Closed { closed })?)
            }
        }
    }

    /// A room's presence reports: each stored unless stale (one conditional write, nothing
    /// read first), answered with the reported users' revocations. The shard's online count is
    /// recounted when its (coalesced) stats report goes out.
    fn reports(&self, room: &str, reports: Vec<PresenceReport>) -> Result<ReportReply> {
        let mut reply = ReportReply::default();
        let mut changed = false;
        for r in reports {
            if self
                .store
                .apply_report(&r.user, room, r.connections, r.version)?
            {
                changed = true;
                // What is cached of the user is stale now; the next read reloads it.
                self.users.borrow_mut().remove(&r.user);
            }
            if let Some(before) = self.store.revoked_before(&r.user)? {
                reply.revoked_before.insert(r.user, before);
            }
        }
        if changed {
            self.report_online();
        }
        Ok(reply)
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

    /// A user's rooms changed in a way that may have changed the shard's online count.
    fn online_changed(&self, change: OnlineChange) -> Result<()> {
        if change != OnlineChange::Unchanged {
            self.report_online();
        }
        Ok(())
    }

    /// Test hook, honoured only with `DEV_MODE=1`: `REGISTRY_FAULT=down` makes every registry
    /// answer 503, `REGISTRY_FAULT=slow:MS` delays every answer by MS milliseconds. It lets the
    /// integration tests prove that room chat never waits for a registry.
    async fn dev_fault(&self) -> Option<Result<Response>> {
        let settings = super::env::settings(&self.env);
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
        let ms = fault.strip_prefix("slow:")?.parse::<u64>().ok()?;
        worker::Delay::from(std::time::Duration::from_millis(ms)).await;
        None
    }

    /// Reports the shard's online count to its stats shard: at most one report in flight and
    /// one a second, counted afresh from storage each time (the latest always sent last).
    /// Tombstones past their hour are purged on the way.
    fn report_online(&self) {
        let mut flight = self.stats.get();
        let starts = flight.changed();
        self.stats.set(flight);
        let Some(shard) = self.shard.get().filter(|_| starts) else {
            return;
        };
        let (env, sql, versions, stats, purged) = (
            self.env.clone(),
            self.state.storage().sql(),
            self.versions.clone(),
            self.stats.clone(),
            self.purged.clone(),
        );
        self.state.wait_until(async move {
            let store = ShardStore::new(sql);
            loop {
                let now = now_ms();
                if now.saturating_sub(purged.get()) > PURGE_INTERVAL_MS {
                    purged.set(now);
                    let cutoff = now.saturating_sub(TOMBSTONE_TTL_MS) * 1024;
                    if let Err(e) = store.purge_tombstones(cutoff) {
                        worker::console_warn!("purging registry tombstones failed: {e}");
                    }
                }
                let count = store.online_users().unwrap_or(0);
                let version = versions.borrow_mut().next(now);
                if let Err(e) = super::stats::report_registry(&env, shard, count, version).await {
                    worker::console_warn!("stats report of a registry shard failed: {e}");
                }
                if !super::room::again(&stats).await {
                    return;
                }
            }
        });
    }
}
