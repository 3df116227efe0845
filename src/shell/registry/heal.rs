//! A registry shard's presence rows, put right by their rooms ([`crate::common::heal`]): the
//! first `GET /stats` read of each instance (its `Online` count) starts a sweep that asks each
//! room of the shard's live rows how many connections those users have there, and stores the
//! answers that differ as reports of the room's own version — so a report that crosses an
//! answer is ordered by the versions, and a room that lost its sockets in a restart leaves a
//! tombstone for each user, like a last close would.

use super::pending::Pending;
use super::store::{ShardStore, UserState};
use crate::calls::{PresenceReport, RoomCall, RoomCounts, RoomRequest};
use crate::common::heal::{plan_checks, RoomCheck, Sweep, SWEEP_CONCURRENCY, SWEEP_MAX_ROWS};
use crate::shell::calls;
use futures::StreamExt;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use worker::{Env, Result};

/// What a sweep works with, shared with the shard.
pub struct SweepContext {
    pub env: Env,
    pub store: Rc<ShardStore>,
    pub users: Rc<RefCell<HashMap<String, UserState>>>,
    pub pending: Pending,
    pub sweep: Rc<RefCell<Sweep>>,
}

/// Checks the shard's live rows of the rooms after `after` (at most
/// [`crate::common::heal::SWEEP_MAX_CALLS`] calls, [`SWEEP_CONCURRENCY`] at a time), then ends
/// the sweep: trusted when nothing was left or failed.
pub async fn sweep(cx: SweepContext, after: Option<String>) {
    let rows = match cx
        .store
        .live_rows_after(after.as_deref(), SWEEP_MAX_ROWS + 1)
    {
        Ok(rows) => rows,
        Err(e) => {
            crate::shell::common::log::warn(
                "registry_sweep_rows_unreadable",
                serde_json::json!({"detail": e.to_string()}),
            );
            cx.sweep.borrow_mut().ended(false, after);
            return;
        }
    };
    let read_all = rows.len() <= SWEEP_MAX_ROWS;
    let (checks, more) = plan_checks(rows, read_all);
    let env = &cx.env;
    let mut answers = futures::stream::iter(checks.iter())
        .map(|check| async move { (check, ask(env, check).await) })
        .buffer_unordered(SWEEP_CONCURRENCY);
    let mut failed = false;
    while let Some(((room, asked), answer)) = answers.next().await {
        match answer {
            Ok(counts) => store_answer(&cx, room, asked, counts),
            Err(e) => {
                crate::shell::common::log::warn(
                    "registry_sweep_room_not_checked",
                    serde_json::json!({"room": room, "detail": e.to_string()}),
                );
                failed = true;
            }
        }
    }
    drop(answers);
    let end = if failed {
        after
    } else {
        checks.last().map(|(room, _)| room.clone())
    };
    cx.sweep.borrow_mut().ended(!failed && !more, end);
}

/// The users whose count the room answered differently from the row become reports of the
/// answer's version, stored at once (one commit with the reports already waiting).
fn store_answer(cx: &SweepContext, room: &str, asked: &[(String, u32)], counts: RoomCounts) {
    let reports: Vec<PresenceReport> = asked
        .iter()
        .filter_map(|(user, stored)| {
            let now = counts.users.get(user).copied().unwrap_or(0);
            (now != u64::from(*stored)).then(|| PresenceReport {
                user: user.clone(),
                connections: u32::try_from(now).unwrap_or(u32::MAX),
                version: counts.version,
            })
        })
        .collect();
    if reports.is_empty() {
        return;
    }
    cx.pending.push(room, reports);
    cx.pending.settle(&cx.store, &cx.users);
}

/// How many connections the users of `check` have in its room now.
async fn ask(env: &Env, (room, users): &RoomCheck) -> Result<RoomCounts> {
    let request = RoomRequest {
        room: room.clone(),
        call: RoomCall::Counts {
            users: users.iter().map(|(u, _)| u.clone()).collect(),
        },
    };
    let res = calls::call(&calls::room(env, room)?, &request).await?;
    calls::reply::<RoomCounts>(res).await
}
