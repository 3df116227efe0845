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
//! **Plans out** go down the tree of objects in one ordered stream per child:
//! [`crate::shell::fanout::stream`].

use crate::calls::FanoutCall;
use crate::fanout::remote::Remote;
use crate::fanout::Plan;
use crate::room::sockets::Attachment;
use crate::shell::common::log;
use crate::shell::common::sql::{has_table, int, Sql};
use crate::shell::fanout::stream::Outgoing;
use futures::channel::oneshot;
use serde::Deserialize;
use serde_json::json;
use std::cell::{Cell, Ref, RefCell, RefMut};
use std::rc::Rc;
use worker::{Env, Response, Result};

/// The room's connections on fan-out objects and the plans waiting for them.
pub struct Fanouts {
    remote: RefCell<Remote>,
    /// `remote` was read from the table by this instance.
    loaded: Cell<bool>,
    out: Rc<Outgoing>,
}

impl Fanouts {
    /// `degree`: `ROOM_FANOUT_DEGREE`, the most objects the room sends to directly.
    pub fn new(degree: u32) -> Self {
        Fanouts {
            remote: RefCell::default(),
            loaded: Cell::new(false),
            out: Rc::new(Outgoing::new(None, degree)),
        }
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

    /// The storage was erased (the room deleted): nothing is recorded any more.
    pub fn reset(&self) {
        *self.remote.borrow_mut() = Remote::default();
        self.loaded.set(false);
    }

    /// Object `index`'s plan being built, to add to.
    pub fn plan(&self, index: u32) -> RefMut<'_, Plan> {
        self.out.plan(index)
    }

    /// A turn's sends to object `index`'s connections (see [`Plan::add_sends`]).
    pub fn add_sends<'a>(
        &self,
        index: u32,
        texts: &[String],
        sends: impl IntoIterator<Item = (&'a str, usize)>,
    ) {
        let remote = self.remote.borrow();
        let none = Default::default();
        let object = remote.on_object(index).unwrap_or(&none);
        self.out.plan(index).add_sends(texts, sends, object);
    }

    /// Object `index` is to accept an upgrade, after everything queued for it so far.
    pub fn accept(&self, index: u32, call: FanoutCall) -> oneshot::Receiver<Result<Response>> {
        self.out.accept(index, call)
    }

    /// Sends what is queued for the objects (see [`Outgoing::send`]).
    pub fn send(&self, env: &Env, room: &str) {
        self.out.send(env, room);
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
