//! A stats shard's rows, put right by their rooms ([`crate::common::heal`]): the counts rooms
//! report and the counts rooms answer when asked go through one rule, [`apply_count`], and a
//! [`sweep`] asks every room the shard has a row for, once per instance.

use crate::calls::{RoomCall, RoomCounts, RoomRequest};
use crate::common::heal::{Gone, Sweep, SWEEP_CONCURRENCY, SWEEP_MAX_CALLS};
use crate::shell::calls;
use crate::shell::common::env::now_ms;
use crate::shell::common::sql::{int, Sql};
use futures::StreamExt;
use std::cell::RefCell;
use std::rc::Rc;
use worker::{Env, Result};

/// Stores a room's count of `version` — from its report or its answer to a sweep — unless a
/// newer one is stored or deleted. A room at zero is removed, not stored: rooms that ever
/// existed must not accumulate rows. An unchanged count writes nothing.
pub fn apply_count(
    sql: &Sql,
    gone: &RefCell<Gone>,
    room: &str,
    connections: u64,
    version: u64,
) -> Result<()> {
    if !gone.borrow().admits(room, version) {
        return Ok(());
    }
    if connections == 0 {
        sql.exec(
            "DELETE FROM rooms WHERE name = ? AND version < ?",
            vec![room.into(), int(version)],
        )?;
        gone.borrow_mut().deleted(room, version, now_ms());
        return Ok(());
    }
    sql.exec(
        "INSERT INTO rooms(name, connections, version) VALUES (?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET connections = excluded.connections,
           version = excluded.version
         WHERE excluded.version > rooms.version AND excluded.connections != rooms.connections",
        vec![room.into(), int(connections), int(version)],
    )?;
    Ok(())
}

/// Asks the rooms of this shard's rows, after `after` by name, for their count
/// ([`RoomCall::Counts`]), [`SWEEP_CONCURRENCY`] at a time and at most [`SWEEP_MAX_CALLS`],
/// and stores each answer. A room answering 0 — every room after a restart, whose sockets are
/// gone — loses its row. Ends the sweep: trusted when every row was checked.
pub async fn sweep(
    env: Env,
    sql: Sql,
    gone: Rc<RefCell<Gone>>,
    state: Rc<RefCell<Sweep>>,
    after: Option<String>,
) {
    let mut names = match names_after(&sql, after.as_deref()) {
        Ok(names) => names,
        Err(e) => {
            crate::shell::common::log::warn(
                "stats_sweep_rows_unreadable",
                serde_json::json!({"detail": e.to_string()}),
            );
            state.borrow_mut().ended(false, after);
            return;
        }
    };
    let more = names.len() > SWEEP_MAX_CALLS;
    names.truncate(SWEEP_MAX_CALLS);
    let mut failed = false;
    let env = &env;
    let mut answers = futures::stream::iter(names.iter())
        .map(|room| async move { (room, ask(env, room).await) })
        .buffer_unordered(SWEEP_CONCURRENCY);
    while let Some((room, answer)) = answers.next().await {
        let stored = answer.and_then(|c| apply_count(&sql, &gone, room, c.connections, c.version));
        if let Err(e) = stored {
            crate::shell::common::log::warn(
                "stats_sweep_room_not_checked",
                serde_json::json!({"room": room, "detail": e.to_string()}),
            );
            failed = true;
        }
    }
    drop(answers);
    // After a failure the next read checks this part again (a call per room, and failures are
    // rare); else it goes on after the last room checked.
    let end = if failed { after } else { names.last().cloned() };
    state.borrow_mut().ended(!failed && !more, end);
}

/// Up to [`SWEEP_MAX_CALLS`] + 1 row names after `after` (one more says whether more follow).
fn names_after(sql: &Sql, after: Option<&str>) -> Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Row {
        name: String,
    }
    let rows: Vec<Row> = sql
        .exec(
            "SELECT name FROM rooms WHERE name > ? ORDER BY name LIMIT ?",
            vec![
                after.unwrap_or_default().into(),
                int(SWEEP_MAX_CALLS as u64 + 1),
            ],
        )?
        .to_array()?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

/// One room's count now.
async fn ask(env: &Env, room: &str) -> Result<RoomCounts> {
    let request = RoomRequest {
        room: room.to_owned(),
        call: RoomCall::Counts { users: Vec::new() },
    };
    let res = calls::call(&calls::room(env, room)?, &request).await?;
    calls::reply::<RoomCounts>(res).await
}
