//! The room's side of fan-out ([`crate::fanout`]): where its connections on fan-out objects
//! are recorded, and how plans reach those objects.
//!
//! **The record.** A socket of the room's own carries its attachment through hibernation; a
//! connection on a fan-out object has its attachment here instead, in `fanout_connections`
//! (one row per connection: which object, and the attachment's JSON), read once per instance
//! and restored into the index with the room. A restart loses every socket but not this table,
//! so a loaded room asks each object which of them it still holds (a plan's `check`), and
//! forgets the rest as if their clients had closed them.
//!
//! **Plans out.** A turn's sends to an object's connections are added to that object's pending
//! [`Plan`]; after the turn, one task per object sends what is pending in one request and,
//! while that request is in flight, later turns' plans merge into the next one. So each object
//! gets at most one request per turn, and the objects' requests run in parallel with each
//! other and with the room's own sends. Requests to one object are sent one after the other,
//! never two at once, so plans are applied in the room's order. The requests leave the object
//! like its socket sends: held by the output gate until the turn's writes are durable, so an
//! `ack` to a connection on a fan-out object never precedes its commit.

use crate::calls::{FanoutCall, FanoutRequest, RoomCall, RoomRequest};
use crate::fanout::remote::Remote;
use crate::fanout::{Inbound, Plan, PlanReply};
use crate::room::sockets::Attachment;
use crate::shell::calls;
use crate::shell::common::log;
use crate::shell::common::sql::{has_table, int, Sql};
use serde::Deserialize;
use serde_json::json;
use std::cell::{Cell, Ref, RefCell, RefMut};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use worker::{Env, Response, Result};

/// The room's connections on fan-out objects and the plans waiting for them.
#[derive(Default)]
pub struct Fanouts {
    remote: RefCell<Remote>,
    /// `remote` was read from the table by this instance.
    loaded: Cell<bool>,
    out: Rc<Outgoing>,
}

/// Plans waiting for their object, the objects a request is in flight to, and the objects
/// whose plans wait for an upgrade they are accepting (the new connection's `welcome` is in
/// the plan, which must not reach the object before the socket does).
#[derive(Default)]
struct Outgoing {
    plans: RefCell<BTreeMap<u32, Plan>>,
    sending: RefCell<BTreeSet<u32>>,
    accepting: RefCell<BTreeMap<u32, usize>>,
}

impl Outgoing {
    fn held(&self, index: u32) -> bool {
        self.accepting.borrow().get(&index).is_some_and(|n| *n > 0)
    }
}

impl Fanouts {
    /// The record, read from the table once per instance.
    pub fn remote(&self, sql: &Sql) -> Result<Ref<'_, Remote>> {
        if !self.loaded.replace(true) {
            *self.remote.borrow_mut() = load(sql)?;
        }
        Ok(self.remote.borrow())
    }

    /// Whether the room has any connection on a fan-out object.
    pub fn any(&self, sql: &Sql) -> Result<bool> {
        Ok(!self.remote(sql)?.is_empty())
    }

    /// How many of the index's `connections` are sockets of the room's own (every recorded
    /// connection is in the index: recorded and opened in one synchronous step).
    pub fn own_sockets(&self, connections: usize) -> usize {
        connections.saturating_sub(self.remote.borrow().len())
    }

    /// Records a connection on object `index` (its place is taken at once, so concurrent
    /// upgrades are placed past it).
    pub fn record(&self, sql: &Sql, index: u32, a: &Attachment) -> Result<()> {
        sql.exec(
            "CREATE TABLE IF NOT EXISTS fanout_connections(connection_id TEXT PRIMARY KEY,
             fanout INTEGER NOT NULL, attachment TEXT NOT NULL) WITHOUT ROWID",
            None,
        )?;
        write_row(sql, index, a)?;
        self.remote.borrow_mut().insert(index, a.clone());
        Ok(())
    }

    /// Changes a connection's attachment (its session, its rooms).
    pub fn save(&self, sql: &Sql, c: &str, change: impl FnOnce(&mut Attachment)) {
        let mut remote = self.remote.borrow_mut();
        let index = remote.get(c).map(|(i, _)| *i);
        if let (Some(index), Some(a)) = (index, remote.get_mut(c)) {
            change(a);
            if let Err(e) = write_row(sql, index, a) {
                log::error("fanout_row_not_saved", json!({"detail": e.to_string()}));
            }
        }
    }

    /// The connection left the room: its record goes.
    pub fn forget(&self, sql: &Sql, c: &str) -> Option<(u32, Attachment)> {
        let removed = self.remote.borrow_mut().remove(c)?;
        let deleted = sql.exec(
            "DELETE FROM fanout_connections WHERE connection_id = ?",
            vec![c.into()],
        );
        if let Err(e) = deleted {
            log::error("fanout_row_not_deleted", json!({"detail": e.to_string()}));
        }
        Some(removed)
    }

    /// Object `index` is accepting an upgrade (`true`: its plans wait), or has answered.
    pub fn accepting(&self, index: u32, started: bool) {
        let mut accepting = self.out.accepting.borrow_mut();
        let n = accepting.entry(index).or_default();
        *n = if started { *n + 1 } else { n.saturating_sub(1) };
        if *n == 0 {
            accepting.remove(&index);
        }
    }

    /// The storage was erased (the room deleted): nothing is recorded any more.
    pub fn reset(&self) {
        *self.remote.borrow_mut() = Remote::default();
        self.loaded.set(false);
    }

    /// Object `index`'s pending plan, to add to.
    pub fn plan(&self, index: u32) -> RefMut<'_, Plan> {
        RefMut::map(self.out.plans.borrow_mut(), |plans| {
            plans.entry(index).or_default()
        })
    }

    /// Sends every pending plan: one task per object, unless one is running for it already
    /// (it takes the new plan when its request is answered).
    pub fn send(&self, env: &Env, room: &str) {
        let ready: Vec<u32> = {
            let plans = self.out.plans.borrow();
            let mut sending = self.out.sending.borrow_mut();
            plans
                .iter()
                .filter(|(i, p)| !p.is_empty() && !sending.contains(i) && !self.out.held(**i))
                .map(|(i, _)| *i)
                .collect::<Vec<_>>()
                .into_iter()
                .filter(|i| sending.insert(*i))
                .collect()
        };
        for index in ready {
            let task = send_plans(env.clone(), self.out.clone(), room.to_owned(), index);
            wasm_bindgen_futures::spawn_local(task);
        }
    }
}

/// Sends object `index` its pending plans, one request at a time, until none is left.
async fn send_plans(env: Env, out: Rc<Outgoing>, room: String, index: u32) {
    loop {
        if out.held(index) {
            break; // sent once the object has accepted its new socket
        }
        let plan = out.plans.borrow_mut().remove(&index);
        let Some(plan) = plan.filter(|p| !p.is_empty()) else {
            break;
        };
        match apply(&env, &room, index, &plan).await {
            Ok(reply) if !reply.missing.is_empty() => gone(&env, &room, reply.missing).await,
            Ok(_) => {}
            Err(e) => log::warn(
                "fanout_plan_failed",
                json!({"room": room, "fanout": index, "detail": e.to_string()}),
            ),
        }
    }
    out.sending.borrow_mut().remove(&index);
}

/// Sends one plan to object `index`; its answer names the connections it does not hold.
pub async fn apply(env: &Env, room: &str, index: u32, plan: &Plan) -> Result<PlanReply> {
    let request = FanoutRequest {
        room: room.to_owned(),
        index,
        call: FanoutCall::Apply {
            plan: serde_json::to_string(plan)?,
        },
    };
    let res = calls::call(&calls::fanout(env, room, index)?, &request).await?;
    calls::reply(res).await
}

/// Asks object `index` to accept an upgrade the room admitted: its answer is the `101`.
pub async fn accept(env: &Env, room: &str, index: u32, call: FanoutCall) -> Result<Response> {
    let request = FanoutRequest {
        room: room.to_owned(),
        index,
        call,
    };
    calls::call(&calls::fanout(env, room, index)?, &request).await
}

/// Connections an object no longer holds: the room hears of them as of closes (through its
/// own `fetch`, as an object's closes come, so they take a turn of their own).
async fn gone(env: &Env, room: &str, missing: Vec<String>) {
    let closed: Vec<Inbound> = missing.into_iter().map(|c| Inbound::Closed { c }).collect();
    let Ok(frames) = serde_json::to_string(&closed) else {
        return;
    };
    let request = RoomRequest {
        room: room.to_owned(),
        call: RoomCall::FanoutFrames { frames },
    };
    let told = match calls::room(env, room) {
        Ok(stub) => calls::call(&stub, &request).await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = told {
        log::warn(
            "fanout_gone_not_told",
            json!({"room": room, "detail": e.to_string()}),
        );
    }
}

fn write_row(sql: &Sql, index: u32, a: &Attachment) -> Result<()> {
    sql.exec(
        "INSERT OR REPLACE INTO fanout_connections(connection_id, fanout, attachment) VALUES (?, ?, ?)",
        vec![
            a.connection_id.as_str().into(),
            int(u64::from(index)),
            serde_json::to_string(a)?.into(),
        ],
    )?;
    Ok(())
}

fn load(sql: &Sql) -> Result<Remote> {
    #[derive(Deserialize)]
    struct Row {
        fanout: f64,
        attachment: String,
    }
    let mut remote = Remote::default();
    if !has_table(sql, "fanout_connections")? {
        return Ok(remote);
    }
    let rows: Vec<Row> = sql
        .exec("SELECT fanout, attachment FROM fanout_connections", None)?
        .to_array()?;
    for row in rows {
        if let Ok(a) = serde_json::from_str::<Attachment>(&row.attachment) {
            remote.insert(row.fanout as u32, a);
        }
    }
    Ok(remote)
}
