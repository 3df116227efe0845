//! `StatsShard`: one of [`STATS_SHARDS`](crate::stats::STATS_SHARDS) Durable Objects that hold
//! the global counts. Rooms report their connection count to `shard_of(room)`; registry shards
//! report how many of their users are online to `shard_of(registry name)`. Rows carry the reporter's version
//! and an older report never overwrites a newer one. Rows live in the object's SQLite storage,
//! so a shard that hibernates or is evicted loses nothing.

use super::http::{error_response, json_response};
use super::objects;
use crate::calls::StatsCall;
use crate::stats::{shard_of, Totals};
use std::cell::Cell;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue,
    State,
};

#[durable_object]
pub struct StatsShard {
    sql: SqlStorage,
    schema_ready: Cell<bool>,
}

impl DurableObject for StatsShard {
    fn new(state: State, _env: Env) -> Self {
        StatsShard {
            sql: state.storage().sql(),
            schema_ready: Cell::new(false),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        super::http::or_internal_error("stats request", self.serve(req).await)
    }
}

impl StatsShard {
    /// One short dispatch over the calls a shard serves ([`StatsCall`]).
    async fn serve(&self, req: Request) -> Result<Response> {
        self.ensure_schema()?;
        let call = match objects::receive::<StatsCall>(req).await? {
            Ok(call) => call,
            Err(e) => return error_response(&e),
        };
        match call {
            // A room or user at zero is removed, not stored: rooms that ever existed must not
            // accumulate rows. (Reports of one reporter arrive in order: at most one in flight.)
            StatsCall::RoomCount {
                room,
                connections: 0,
                ..
            } => self.delete("DELETE FROM rooms WHERE name = ?", room),
            StatsCall::RegistryOnline {
                registry,
                online: 0,
                ..
            } => self.delete(
                "DELETE FROM registries WHERE shard = ?",
                registry.to_string(),
            ),
            StatsCall::RoomCount {
                room,
                connections,
                version,
            } => self.upsert(
                "INSERT INTO rooms(name, connections, version) VALUES (?, ?, ?)
                 ON CONFLICT(name) DO UPDATE SET connections = excluded.connections,
                   version = excluded.version WHERE excluded.version > rooms.version",
                room,
                connections,
                version,
            ),
            StatsCall::RegistryOnline {
                registry,
                online,
                version,
            } => self.upsert(
                "INSERT INTO registries(shard, online, version) VALUES (?, ?, ?)
                 ON CONFLICT(shard) DO UPDATE SET online = excluded.online,
                   version = excluded.version WHERE excluded.version > registries.version",
                registry.to_string(),
                online,
                version,
            ),
            StatsCall::Totals => json_response(200, serde_json::to_string(&self.totals()?)?),
        }
    }

    fn delete(&self, sql: &str, key: String) -> Result<Response> {
        self.sql.exec(sql, vec![key.into()])?;
        json_response(200, "{}".into())
    }

    /// Applies a versioned report `(key, value, version)`; an older version changes nothing.
    fn upsert(&self, sql: &str, key: String, value: u64, version: u64) -> Result<Response> {
        let int = |v: u64| SqlStorageValue::Integer(v.min(i64::MAX as u64) as i64);
        self.sql
            .exec(sql, vec![key.into(), int(value), int(version)])?;
        json_response(200, "{}".into())
    }

    fn ensure_schema(&self) -> Result<()> {
        if !self.schema_ready.get() {
            self.sql.exec(
                "CREATE TABLE IF NOT EXISTS rooms(name TEXT PRIMARY KEY, connections INTEGER NOT NULL, version INTEGER NOT NULL)",
                None,
            )?;
            self.sql.exec(
                "CREATE TABLE IF NOT EXISTS registries(shard TEXT PRIMARY KEY, online INTEGER NOT NULL, version INTEGER NOT NULL)",
                None,
            )?;
            self.schema_ready.set(true);
        }
        Ok(())
    }

    fn totals(&self) -> Result<Totals> {
        #[derive(serde::Deserialize)]
        struct Row {
            connections: Option<f64>,
            rooms: f64,
            users: Option<f64>,
        }
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT (SELECT SUM(connections) FROM rooms) AS connections,
                        (SELECT COUNT(*) FROM rooms WHERE connections > 0) AS rooms,
                        (SELECT SUM(online) FROM registries) AS users",
                None,
            )?
            .to_array()?;
        let row = rows.first();
        Ok(Totals {
            connections: row.and_then(|r| r.connections).unwrap_or(0.0) as u64,
            rooms: row.map_or(0.0, |r| r.rooms) as u64,
            users: row.and_then(|r| r.users).unwrap_or(0.0) as u64,
        })
    }
}

/// Reports how many of registry shard `registry`'s users are online.
pub async fn report_registry(
    env: &worker::Env,
    registry: u32,
    online: u64,
    version: u64,
) -> Result<()> {
    let call = StatsCall::RegistryOnline {
        registry,
        online,
        version,
    };
    let name = crate::user_registry::registry_name(registry);
    let res = objects::call(&objects::stats_shard(env, shard_of(&name))?, &call).await?;
    objects::ok(&res)
}

/// `GET /stats`: every shard's totals, added up (the shards are asked concurrently).
pub async fn global_totals(env: &worker::Env) -> Result<Totals> {
    let calls = (0..crate::stats::STATS_SHARDS).map(|n| async move {
        let res = objects::call(&objects::stats_shard(env, n)?, &StatsCall::Totals).await?;
        objects::reply::<Totals>(res).await
    });
    let mut sum = Totals::default();
    for t in futures::future::join_all(calls).await {
        sum = sum + t?;
    }
    Ok(sum)
}
