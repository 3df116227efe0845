//! A shard's revocation pushes that failed, and their retries (see [`crate::registry::pushes`]).
//!
//! - `revocation_pushes(user, room, before, reason, attempts, due)`: one row per room a push
//!   to failed; created by the first failure (a shard whose pushes all land stores nothing).
//!
//! The retries run from the shard's alarm, which it shares with its webhook delivery: after
//! the webhooks' turn, the earliest due push only ever moves the alarm earlier
//! ([`AlarmRef::wake_at`]), so neither source's wake is lost.

use super::UserRegistry;
use crate::calls::{ClosedCount, RoomCall, RoomRequest};
use crate::common::meter::ObjectKind;
use crate::registry::pushes::retry_delay_ms;
use crate::shell::calls;
use crate::shell::common::alarm::AlarmRef;
use crate::shell::common::env::now_ms;
use crate::shell::common::log;
use crate::shell::common::sql::{has_table, int, number, Sql};
use serde::Deserialize;
use serde_json::json;
use worker::Result;

/// A revocation to push to one room.
#[derive(Debug, Clone, Deserialize)]
pub struct Push {
    pub user: String,
    pub room: String,
    pub before: f64,
    pub reason: Option<String>,
    pub attempts: f64,
}

impl Push {
    fn call(&self) -> RoomRequest {
        RoomRequest {
            room: self.room.clone(),
            call: RoomCall::Revoke {
                user: self.user.clone(),
                before: self.before as u64,
                reason: self.reason.clone(),
            },
        }
    }
}

impl UserRegistry {
    fn sql(&self) -> Sql {
        Sql::new(self.state.storage().sql(), ObjectKind::Registry)
    }

    /// Pushes a revocation to one room; answers how many connections it closed. With
    /// `DEV_MODE=1`, `DEV_REVOCATION_PUSH_FAILURES=N` makes this instance's first N pushes fail
    /// as a room that cannot be reached does (the retries' test hook).
    pub(super) async fn push_revocation(&self, push: &Push) -> Result<u64> {
        if self.injected_push_failure() {
            let failed = "room unreachable (DEV_REVOCATION_PUSH_FAILURES)";
            return Err(worker::Error::RustError(failed.into()));
        }
        let request = push.call();
        let res = calls::call(&calls::room(&self.env, &push.room)?, &request).await?;
        Ok(calls::reply::<ClosedCount>(res).await?.closed)
    }

    fn injected_push_failure(&self) -> bool {
        if !crate::shell::common::env::settings(&self.env).dev_mode {
            return false;
        }
        let Some(n) = self.env.var("DEV_REVOCATION_PUSH_FAILURES").ok() else {
            return false;
        };
        let injected = self.injected_failures.get();
        let fail = n
            .to_string()
            .trim()
            .parse::<u32>()
            .is_ok_and(|n| injected < n);
        self.injected_failures.set(injected + u32::from(fail));
        fail
    }

    /// Keeps a push that failed for a retry (`attempts` failures so far), and makes sure the
    /// alarm comes for it.
    pub(super) async fn push_failed(&self, push: &Push, attempts: u32) -> Result<()> {
        let due = now_ms() + retry_delay_ms(attempts);
        self.sql().exec(
            "CREATE TABLE IF NOT EXISTS revocation_pushes(user TEXT NOT NULL, room TEXT NOT NULL,
               before INTEGER NOT NULL, reason TEXT, attempts INTEGER NOT NULL,
               due INTEGER NOT NULL, PRIMARY KEY (user, room)) WITHOUT ROWID",
            None,
        )?;
        self.sql().exec(
            "INSERT INTO revocation_pushes(user, room, before, reason, attempts, due)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT(user, room) DO UPDATE SET before = MAX(before, excluded.before),
               reason = excluded.reason, attempts = excluded.attempts, due = excluded.due",
            vec![
                push.user.as_str().into(),
                push.room.as_str().into(),
                int(push.before as u64),
                push.reason
                    .as_deref()
                    .map_or(worker::SqlStorageValue::Null, Into::into),
                int(u64::from(attempts)),
                int(due),
            ],
        )?;
        AlarmRef::new(&self.state, &self.scheduled)
            .wake_at(due)
            .await;
        Ok(())
    }

    /// From the alarm: retries every push that is due. A push lands, or is dropped because the
    /// shard no longer has a row of the user in that room (a room they left keeps one for
    /// an hour: it may still remember them, `shell/room/counted_users.rs`), or waits.
    pub(super) async fn retry_revocation_pushes(&self) -> Result<()> {
        let sql = self.sql();
        self.pending.settle(&self.store, &self.users);
        if !has_table(&sql, "revocation_pushes")? {
            return Ok(());
        }
        let now = now_ms();
        let due: Vec<Push> = sql
            .exec(
                "SELECT user, room, before, reason, attempts FROM revocation_pushes
                 WHERE due <= ? LIMIT 100",
                vec![int(now)],
            )?
            .to_array()?;
        for push in due {
            let there = self.with_user(&push.user, |s| {
                s.rooms.known_rooms().any(|room| room == push.room)
            })?;
            let landed = there && self.push_revocation(&push).await.is_ok();
            if landed || !there {
                sql.exec(
                    "DELETE FROM revocation_pushes WHERE user = ? AND room = ?",
                    vec![push.user.as_str().into(), push.room.as_str().into()],
                )?;
                continue;
            }
            log::warn(
                "revocation_push_failed",
                json!({"room": push.room, "attempts": push.attempts + 1.0}),
            );
            self.push_failed(&push, push.attempts as u32 + 1).await?;
        }
        let next = number(&sql, "SELECT MIN(due) AS n FROM revocation_pushes", vec![])?;
        if let Some(next) = next {
            AlarmRef::new(&self.state, &self.scheduled)
                .wake_at(next)
                .await;
        }
        Ok(())
    }
}
