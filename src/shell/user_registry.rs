//! `UserRegistry`: one Durable Object per user (named by the user id), replacing the original
//! design's Redis Pub/Sub for per-user fan-out. It knows in which rooms its user has
//! connections, because room objects report every change of that user's count in them.
//!
//! Keeping it right without keeping rooms awake:
//! - reports are versioned, so late or reordered ones cannot undo newer ones;
//! - every fan-out to the rooms and every read asks the rooms themselves,
//!   and their answer replaces the stored count: a room that no longer holds the user is
//!   dropped (no ghosts), without any timer;
//! - entries live in this object's SQLite storage, so eviction loses nothing.
//!
//! Each fan-out forwards to each of the user's rooms once, and each room sends to
//! each of the user's sockets there once: exactly one copy per connection per call.

use super::env::{dev_mode, env_string, now_ms};
use super::http::{error, error_response, json_response};
use super::objects;
use super::sql::{has_table, int, number};
use super::stats::report_user;
use crate::calls::{
    Closed, Connections, Delivered, RegistryCall, RegistryRequest, ReportReply, RoomCall,
    RoomRequest,
};
use crate::error::ErrorCode;
use crate::user_registry::{OnlineChange, RoomEntry, UserRooms, Versions};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue,
    State,
};

#[durable_object]
pub struct UserRegistry {
    state: State,
    env: Env,
    sql: SqlStorage,
    rooms: RefCell<Option<UserRooms>>,
    versions: RefCell<Versions>,
    /// The user's tokens issued before this (unix s) are revoked (loaded with the rooms).
    revoked_before: Cell<Option<u64>>,
    /// The `rooms` table exists (created by the first report).
    has_rooms_table: Cell<bool>,
}

impl DurableObject for UserRegistry {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        UserRegistry {
            state,
            env,
            sql,
            rooms: RefCell::new(None),
            versions: RefCell::new(Versions::default()),
            revoked_before: Cell::new(None),
            has_rooms_table: Cell::new(false),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        super::http::or_internal_error("registry request", self.serve(req).await)
    }
}

impl UserRegistry {
    /// One short dispatch over the calls a registry serves ([`RegistryCall`]).
    async fn serve(&self, req: Request) -> Result<Response> {
        if let Some(fault) = self.dev_fault().await {
            return fault;
        }
        let RegistryRequest { user, call } = match objects::receive(req).await? {
            Ok(call) => call,
            Err(e) => return error_response(&e),
        };
        self.load()?;
        match call {
            RegistryCall::Report {
                room,
                connections,
                version,
            } => {
                let applied = self.with_rooms(|r| r.apply(&room, connections, version));
                if let Some((entry, change)) = applied {
                    self.persist(&room, entry)?;
                    self.announce(&user, change);
                }
                let reply = ReportReply {
                    revoked_before: self.revoked_before.get(),
                };
                json_response(200, serde_json::to_string(&reply)?)
            }
            RegistryCall::FanOut { frame, rooms } => {
                let delivered = self
                    .verify_rooms(&user, Some((&frame, rooms.as_deref())))
                    .await?;
                json_response(200, serde_json::to_string(&Delivered { delivered })?)
            }
            RegistryCall::Info => self.info(&user).await,
            RegistryCall::Disconnect { reason } => {
                let closed = self
                    .close_everywhere(&user, |user| RoomCall::DisconnectUser {
                        user,
                        reason: reason.clone(),
                    })
                    .await;
                json_response(200, serde_json::to_string(&Closed { closed })?)
            }
            RegistryCall::Revoke { before, reason } => {
                self.store_revocation(before)?;
                let before = self.revoked_before.get().unwrap_or(before);
                let closed = self
                    .close_everywhere(&user, |user| RoomCall::Revoke {
                        user,
                        before,
                        reason: reason.clone(),
                    })
                    .await;
                json_response(200, serde_json::to_string(&Closed { closed })?)
            }
        }
    }

    /// Sends `call` to every room the user is in, concurrently; answers how many connections
    /// they closed. A room that cannot be reached is logged and counts nothing.
    async fn close_everywhere(&self, user: &str, call: impl Fn(String) -> RoomCall) -> u64 {
        let rooms: Vec<String> =
            self.with_rooms(|r| r.live_rooms().map(|(k, _)| k.to_owned()).collect());
        let env = &self.env;
        let calls = rooms.iter().map(|room| {
            let request = RoomRequest {
                room: room.clone(),
                call: call(user.to_owned()),
            };
            async move {
                let res = objects::call(&objects::room(env, &request.room)?, &request).await?;
                objects::reply::<Closed>(res).await
            }
        });
        let mut closed = 0;
        for answer in futures::future::join_all(calls).await {
            match answer {
                Ok(c) => closed += c.closed,
                Err(e) => worker::console_warn!("a room could not be reached to close: {e}"),
            }
        }
        closed
    }

    /// Remembers a revocation durably (the latest `before` wins).
    fn store_revocation(&self, before: u64) -> Result<()> {
        let before = self.revoked_before.get().map_or(before, |b| b.max(before));
        self.sql.exec(
            "CREATE TABLE IF NOT EXISTS revocation(id INTEGER PRIMARY KEY CHECK (id = 1), before INTEGER NOT NULL)",
            None,
        )?;
        self.sql.exec(
            "INSERT INTO revocation(id, before) VALUES (1, ?)
             ON CONFLICT(id) DO UPDATE SET before = excluded.before",
            vec![int(before)],
        )?;
        self.revoked_before.set(Some(before));
        Ok(())
    }

    /// `GET /users/{user}`: the user's connections per room, each checked with its room.
    async fn info(&self, user: &str) -> Result<Response> {
        self.verify_rooms(user, None).await?;
        let rooms: BTreeMap<String, u32> =
            self.with_rooms(|r| r.live_rooms().map(|(k, v)| (k.to_owned(), v)).collect());
        let body = serde_json::json!({
            "user_id": user,
            "connections": rooms.values().sum::<u32>(),
            "rooms": rooms,
        });
        json_response(200, body.to_string())
    }

    /// Asks every room the user is in for their connection count there — delivering `frame`
    /// to them on the way, when given (only to the rooms of the sender's `rooms` claim, when it
    /// has one) — and stores the answers. Rooms that cannot be reached keep their entry (they
    /// may be fine; the next call asks again).
    async fn verify_rooms(
        &self,
        user: &str,
        delivery: Option<(&str, Option<&[String]>)>,
    ) -> Result<u64> {
        let allowed = |room: &str| match delivery {
            Some((_, Some(rooms))) => rooms.iter().any(|r| r == room),
            _ => true,
        };
        let rooms: Vec<String> = self.with_rooms(|r| {
            r.live_rooms()
                .filter(|(k, _)| allowed(k))
                .map(|(k, _)| k.to_owned())
                .collect()
        });
        let frame = delivery.map(|(f, _)| f);
        let env = &self.env;
        let calls = rooms.iter().map(|room| async move {
            let stub = objects::room(env, room)?;
            let user = user.to_owned();
            let call = match frame {
                Some(f) => RoomCall::DeliverToUser {
                    user,
                    frame: f.to_owned(),
                },
                None => RoomCall::CountUser { user },
            };
            let is_delivery = frame.is_some();
            let call = RoomRequest {
                room: room.clone(),
                call,
            };
            let res = objects::call(&stub, &call).await?;
            if is_delivery {
                objects::delivered(res).await
            } else {
                Ok(objects::reply::<Connections>(res).await?.connections)
            }
        });
        let answers = futures::future::join_all(calls).await;
        let mut total = 0;
        for (room, answer) in rooms.iter().zip(answers) {
            let Ok(n) = answer else { continue };
            total += n;
            if let Some((entry, change)) = self.with_rooms(|r| r.confirm(room, n as u32)) {
                self.persist(room, entry)?;
                self.announce(user, change);
            }
        }
        Ok(total)
    }

    /// Tells the user's stats shard when the user came online or went offline.
    fn announce(&self, user: &str, change: OnlineChange) {
        let online = match change {
            OnlineChange::CameOnline => true,
            OnlineChange::WentOffline => false,
            OnlineChange::Unchanged => return,
        };
        let version = self.versions.borrow_mut().next(now_ms());
        let (env, user) = (self.env.clone(), user.to_owned());
        self.state.wait_until(async move {
            if let Err(e) = report_user(&env, &user, online, version).await {
                worker::console_warn!("stats report for a user failed: {e}");
            }
        });
    }

    fn with_rooms<T>(&self, f: impl FnOnce(&mut UserRooms) -> T) -> T {
        let mut slot = self.rooms.borrow_mut();
        f(slot.get_or_insert_with(UserRooms::new))
    }

    /// Loads the entries from SQLite on the first call after a wake.
    fn load(&self) -> Result<()> {
        if self.rooms.borrow().is_some() {
            return Ok(());
        }
        if has_table(&self.sql, "revocation")? {
            let before = number(&self.sql, "SELECT before AS n FROM revocation", vec![])?;
            self.revoked_before.set(before);
        }
        // A registry that never had a room (a direct to, or a read of, an unknown user) has no
        // table: it is created by the first report.
        if !has_table(&self.sql, "rooms")? {
            *self.rooms.borrow_mut() = Some(UserRooms::new());
            return Ok(());
        }
        #[derive(serde::Deserialize)]
        struct Row {
            room: String,
            connections: f64,
            version: f64,
        }
        let rows: Vec<Row> = self
            .sql
            .exec("SELECT room, connections, version FROM rooms", None)?
            .to_array()?;
        let mut rooms = UserRooms::from_entries(rows.into_iter().map(|r| {
            (
                r.room,
                RoomEntry {
                    connections: r.connections as u32,
                    version: r.version as u64,
                },
            )
        }));
        for gone in rooms.expired_tombstones(now_ms()) {
            self.sql
                .exec("DELETE FROM rooms WHERE room = ?", vec![gone.into()])?;
        }
        *self.rooms.borrow_mut() = Some(rooms);
        self.has_rooms_table.set(true);
        Ok(())
    }

    fn persist(&self, room: &str, e: RoomEntry) -> Result<()> {
        if !self.has_rooms_table.replace(true) {
            self.sql.exec(
                "CREATE TABLE IF NOT EXISTS rooms(room TEXT PRIMARY KEY, connections INTEGER NOT NULL, version INTEGER NOT NULL)",
                None,
            )?;
        }
        self.sql.exec(
            "INSERT INTO rooms(room, connections, version) VALUES (?, ?, ?)
             ON CONFLICT(room) DO UPDATE SET connections = excluded.connections, version = excluded.version",
            vec![
                room.into(),
                SqlStorageValue::Integer(i64::from(e.connections)),
                SqlStorageValue::Integer(e.version as i64),
            ],
        )?;
        Ok(())
    }

    /// Test hook, honoured only with `DEV_MODE=1`: `REGISTRY_FAULT=down` makes every registry
    /// answer 503, `REGISTRY_FAULT=slow:MS` delays every answer by MS milliseconds. It lets the
    /// integration tests prove that room chat never waits for a registry.
    async fn dev_fault(&self) -> Option<Result<Response>> {
        if !dev_mode(&self.env) {
            return None;
        }
        let fault = env_string(&self.env, "REGISTRY_FAULT")?;
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
}
