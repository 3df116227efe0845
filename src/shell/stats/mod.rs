//! `StatsShard`: one of [`STATS_SHARDS`](crate::stats::STATS_SHARDS) Durable Objects that hold
//! the global counts of rooms and connections: rooms report their connection count to
//! `shard_of(room)`. (Users online are counted by the registry shards, asked by `GET /stats`.)
//! Rows carry the reporter's version and an older report never overwrites a newer one. Rows
//! live in the object's SQLite storage, so a shard that hibernates or is evicted loses
//! nothing — and a shard that outlived its rooms' sockets (a crash, a deploy) heals: each
//! instance checks its rows with their rooms once a read needs them ([`heal`]).

mod heal;

use crate::calls::{OnlineUsers, RegistryRequest, StatsCall};
use crate::common::heal::{Gone, Sweep};
use crate::common::meter::{self, ObjectKind};
use crate::registry::REGISTRY_SHARDS;
use crate::shell::calls;
use crate::shell::common::http::{error_response, internal_reply, json_response};
use crate::shell::common::sql::Sql;
use crate::stats::{ActiveRoom, Totals};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

#[durable_object]
pub struct StatsShard {
    state: State,
    env: Env,
    sql: Sql,
    schema_ready: Cell<bool>,
    /// Whether this instance has checked its rows with their rooms yet.
    sweep: Rc<RefCell<Sweep>>,
    /// Rows deleted lately, with the version that deleted them.
    gone: Rc<RefCell<Gone>>,
}

impl DurableObject for StatsShard {
    fn new(state: State, env: Env) -> Self {
        meter::wake(ObjectKind::Stats);
        StatsShard {
            sql: Sql::new(state.storage().sql(), ObjectKind::Stats),
            state,
            env,
            schema_ready: Cell::new(false),
            sweep: Rc::default(),
            gone: Rc::default(),
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
            StatsCall::RoomCount {
                room,
                connections,
                version,
            } => {
                heal::apply_count(&self.sql, &self.gone, &room, connections, version)?;
                internal_reply("{}".into())
            }
            StatsCall::Totals => {
                self.heal();
                json_response(200, serde_json::to_string(&self.totals()?)?)
            }
            StatsCall::Active { after, limit } => {
                self.heal();
                json_response(200, serde_json::to_string(&self.active(after, limit)?)?)
            }
        }
    }

    /// A read: the first of this instance (or one after an unfinished sweep) starts checking
    /// the rows with their rooms, in the background ([`heal`]).
    fn heal(&self) {
        let Some(after) = self.sweep.borrow_mut().read() else {
            return;
        };
        let task = heal::sweep(
            self.env.clone(),
            self.sql.clone(),
            self.gone.clone(),
            self.sweep.clone(),
            after,
        );
        self.state.wait_until(task);
    }

    /// This shard's rooms with connections, by name after `after`, at most `limit`.
    fn active(&self, after: Option<String>, limit: u32) -> Result<Vec<ActiveRoom>> {
        #[derive(serde::Deserialize)]
        struct Row {
            name: String,
            connections: f64,
        }
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT name, connections FROM rooms WHERE name > ? AND connections > 0
                 ORDER BY name LIMIT ?",
                vec![
                    after.unwrap_or_default().into(),
                    crate::shell::common::sql::int(u64::from(limit)),
                ],
            )?
            .to_array()?;
        Ok(rows
            .into_iter()
            .map(|r| ActiveRoom {
                room: r.name,
                connections: r.connections as u64,
            })
            .collect())
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

/// `GET /rooms?active=1`: every stats shard asked (concurrently) for `limit + 1` of its rooms
/// with connections after `after`, merged into one page by name.
pub async fn active_rooms(
    env: &worker::Env,
    query: crate::stats::ActiveQuery,
) -> Result<crate::stats::ActivePage> {
    let call = StatsCall::Active {
        after: query.after,
        limit: query.limit + 1,
    };
    let call = &call;
    let shards = (0..crate::stats::STATS_SHARDS).map(|n| async move {
        let res = calls::call(&calls::stats_shard(env, n)?, call).await?;
        calls::reply::<Vec<ActiveRoom>>(res).await
    });
    let mut pages = Vec::new();
    for page in futures::future::join_all(shards).await {
        pages.push(page?);
    }
    Ok(crate::stats::merge_active(pages, query.limit))
}
