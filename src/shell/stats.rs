//! `StatsShard`: one of [`STATS_SHARDS`](crate::stats::STATS_SHARDS) Durable Objects that hold
//! the global counts. Rooms report their connection count to `shard_of(room)`; registries
//! report whether their user is online to `shard_of(user)`. Rows carry the reporter's version
//! and an older report never overwrites a newer one. Rows live in the object's SQLite storage,
//! so a shard that hibernates or is evicted loses nothing.

use super::http::{error, json_response};
use super::objects::{self, param};
use crate::error::ErrorCode;
use crate::stats::{shard_name, shard_of, Totals};
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
    /// The object's internal HTTP endpoints (called by the front worker and other objects).
    async fn serve(&self, req: Request) -> Result<Response> {
        self.ensure_schema()?;
        let url = req.url()?;
        let num = |name: &str| param(&url, name).and_then(|v| v.parse::<i64>().ok());
        match url.path() {
            "/room" => self.upsert(
                "INSERT INTO rooms(name, connections, version) VALUES (?, ?, ?)
                 ON CONFLICT(name) DO UPDATE SET connections = excluded.connections,
                   version = excluded.version WHERE excluded.version > rooms.version",
                (param(&url, "room"), num("connections"), num("version")),
            ),
            "/user" => self.upsert(
                "INSERT INTO users(id, online, version) VALUES (?, ?, ?)
                 ON CONFLICT(id) DO UPDATE SET online = excluded.online,
                   version = excluded.version WHERE excluded.version > users.version",
                (param(&url, "user"), num("online"), num("version")),
            ),
            "/totals" => json_response(200, serde_json::to_string(&self.totals()?)?),
            _ => error(ErrorCode::NotFound, "no such stats endpoint"),
        }
    }

    /// Applies a versioned report `(key, value, version)`; an older version changes nothing.
    fn upsert(
        &self,
        sql: &str,
        report: (Option<String>, Option<i64>, Option<i64>),
    ) -> Result<Response> {
        let (Some(key), Some(value), Some(version)) = report else {
            return error(
                ErrorCode::BadRequest,
                "a report needs a key, a value and a version",
            );
        };
        self.sql.exec(
            sql,
            vec![
                key.into(),
                SqlStorageValue::Integer(value),
                SqlStorageValue::Integer(version),
            ],
        )?;
        json_response(200, "{}".into())
    }

    fn ensure_schema(&self) -> Result<()> {
        if !self.schema_ready.get() {
            self.sql.exec(
                "CREATE TABLE IF NOT EXISTS rooms(name TEXT PRIMARY KEY, connections INTEGER NOT NULL, version INTEGER NOT NULL)",
                None,
            )?;
            self.sql.exec(
                "CREATE TABLE IF NOT EXISTS users(id TEXT PRIMARY KEY, online INTEGER NOT NULL, version INTEGER NOT NULL)",
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
            users: f64,
        }
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT (SELECT SUM(connections) FROM rooms) AS connections,
                        (SELECT COUNT(*) FROM rooms WHERE connections > 0) AS rooms,
                        (SELECT COUNT(*) FROM users WHERE online = 1) AS users",
                None,
            )?
            .to_array()?;
        let row = rows.first();
        Ok(Totals {
            connections: row.and_then(|r| r.connections).unwrap_or(0.0) as u64,
            rooms: row.map_or(0.0, |r| r.rooms) as u64,
            users: row.map_or(0.0, |r| r.users) as u64,
        })
    }
}

/// Reports a room's connection count to its shard.
pub async fn report_room(
    env: &worker::Env,
    room: &str,
    connections: usize,
    version: u64,
) -> Result<()> {
    let stub = objects::stub(env, objects::STATS, &shard_name(shard_of(room)))?;
    let (n, v) = (connections.to_string(), version.to_string());
    let res = objects::post(
        &stub,
        "room",
        &[("room", room), ("connections", &n), ("version", &v)],
        None,
    )
    .await?;
    ok_or_err(res)
}

/// Reports whether a user is online to its shard.
pub async fn report_user(env: &worker::Env, user: &str, online: bool, version: u64) -> Result<()> {
    let stub = objects::stub(env, objects::STATS, &shard_name(shard_of(user)))?;
    let v = version.to_string();
    let online = if online { "1" } else { "0" };
    let res = objects::post(
        &stub,
        "user",
        &[("user", user), ("online", online), ("version", &v)],
        None,
    )
    .await?;
    ok_or_err(res)
}

/// `GET /stats`: every shard's totals, added up (the shards are asked concurrently).
pub async fn global_totals(env: &worker::Env) -> Result<Totals> {
    let calls = (0..crate::stats::STATS_SHARDS).map(|n| async move {
        let stub = objects::stub(env, objects::STATS, &shard_name(n))?;
        let mut res = objects::get(&stub, "totals", &[]).await?;
        res.json::<Totals>().await
    });
    let mut sum = Totals::default();
    for t in futures::future::join_all(calls).await {
        sum = sum + t?;
    }
    Ok(sum)
}

fn ok_or_err(res: Response) -> Result<()> {
    match res.status_code() {
        200 => Ok(()),
        s => Err(worker::Error::RustError(format!(
            "stats shard answered {s}"
        ))),
    }
}
