//! `StatsShard`: one of [`STATS_SHARDS`](crate::stats::STATS_SHARDS) Durable Objects that hold
//! the global counts of rooms and connections: rooms report their connection count to
//! `shard_of(room)`. (Users online are counted by the registry shards, asked by `GET /stats`.) Rows carry the reporter's version
//! and an older report never overwrites a newer one. Rows live in the object's SQLite storage,
//! so a shard that hibernates or is evicted loses nothing.

use crate::calls::{OnlineUsers, RegistryRequest, StatsCall};
use crate::common::meter::{self, ObjectKind};
use crate::registry::REGISTRY_SHARDS;
use crate::shell::calls;
use crate::shell::common::http::{error_response, internal_reply, json_response};
use crate::shell::common::sql::Sql;
use crate::stats::Totals;
use std::cell::Cell;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, SqlStorageValue, State,
};

#[durable_object]
pub struct StatsShard {
    sql: Sql,
    schema_ready: Cell<bool>,
}

impl DurableObject for StatsShard {
    fn new(state: State, _env: Env) -> Self {
        meter::wake(ObjectKind::Stats);
        StatsShard {
            sql: Sql::new(state.storage().sql(), ObjectKind::Stats),
            schema_ready: Cell::new(false),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        meter::request(ObjectKind::Stats);
        crate::shell::common::http::or_internal_error("stats request", self.serve(req).await)
    }
}

impl StatsShard {
    /// One short dispatch over the calls a shard serves ([`StatsCall`]).
    async fn serve(&self, req: Request) -> Result<Response> {
        self.ensure_schema()?;
        let call = match calls::receive::<StatsCall>(req).await? {
            Ok(call) => call,
            Err(e) => return error_response(&e),
        };
        match call {
            // A room at zero is removed, not stored: rooms that ever existed must not
            // accumulate rows. (Reports of one reporter arrive in order: at most one in flight.)
            StatsCall::RoomCount {
                room,
                connections: 0,
                ..
            } => self.delete("DELETE FROM rooms WHERE name = ?", room),
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
            StatsCall::Totals => json_response(200, serde_json::to_string(&self.totals()?)?),
        }
    }

    fn delete(&self, sql: &str, key: String) -> Result<Response> {
        self.sql.exec(sql, vec![key.into()])?;
        internal_reply("{}".into())
    }

    /// Applies a versioned report `(key, value, version)`; an older version changes nothing.
    fn upsert(&self, sql: &str, key: String, value: u64, version: u64) -> Result<Response> {
        let int = |v: u64| SqlStorageValue::Integer(v.min(i64::MAX as u64) as i64);
        self.sql
            .exec(sql, vec![key.into(), int(value), int(version)])?;
        internal_reply("{}".into())
    }

    fn ensure_schema(&self) -> Result<()> {
        if !self.schema_ready.get() {
            self.sql.exec(
                // WITHOUT ROWID: the key is the row, so an upsert writes one row, not a row and
                // an index entry (rows written are billed).
                "CREATE TABLE IF NOT EXISTS rooms(name TEXT PRIMARY KEY, connections INTEGER NOT NULL,
                   version INTEGER NOT NULL) WITHOUT ROWID",
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
        }
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT (SELECT SUM(connections) FROM rooms) AS connections,
                        (SELECT COUNT(*) FROM rooms WHERE connections > 0) AS rooms",
                None,
            )?
            .to_array()?;
        let row = rows.first();
        Ok(Totals {
            connections: row.and_then(|r| r.connections).unwrap_or(0.0) as u64,
            rooms: row.map_or(0.0, |r| r.rooms) as u64,
            users: 0,
        })
    }
}

/// `GET /stats`: every stats shard's rooms and connections, and every registry shard's online
/// users, added up (all asked concurrently). Registry shards are asked rather than reporting:
/// an admin read pays for the count, a connect storm does not.
pub async fn global_totals(env: &worker::Env) -> Result<Totals> {
    let shards = (0..crate::stats::STATS_SHARDS).map(|n| async move {
        let res = calls::call(&calls::stats_shard(env, n)?, &StatsCall::Totals).await?;
        calls::reply::<Totals>(res).await
    });
    let registries = (0..REGISTRY_SHARDS).map(|shard| async move {
        let res = calls::call_registry(env, &RegistryRequest::Online { shard }).await?;
        Ok::<_, worker::Error>(calls::reply::<OnlineUsers>(res).await?.online)
    });
    let (shards, registries) = futures::future::join(
        futures::future::join_all(shards),
        futures::future::join_all(registries),
    )
    .await;
    let mut sum = Totals::default();
    for t in shards {
        sum = sum + t?;
    }
    for online in registries {
        sum.users += online?;
    }
    Ok(sum)
}
