//! When each of a shard's users was last seen connected — what decides whether a `direct`
//! to a user with no connection is a `direct_undelivered` event (a user id nobody ever
//! connected as is no one to notify). Kept only while those events are recorded: with them
//! off, nothing is noted, no table made.
//!
//! `user_seen(user TEXT PRIMARY KEY, at INTEGER)`: every user a room reports (a connect or a
//! disconnect: either way the user was connected just now), written with the shard's other
//! report writes, after the reply. A row is rewritten only when it is older than a tenth of
//! the seen window (at most an hour), so a user's connects cost a write per hour at most;
//! rows older than the window are purged at most every ten minutes.

use crate::shell::common::sql::{has_table, int, number, Sql};
use crate::webhooks::{EventType, WebhookConfig};
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use worker::Result;

const MAX_REFRESH_MS: u64 = 3_600_000;
const PURGE_INTERVAL_MS: u64 = 600_000;

pub struct Seen {
    sql: Sql,
    /// `None`: `direct_undelivered` is off — nothing is noted.
    window_ms: Option<u64>,
    exists: Cell<Option<bool>>,
    /// Users reported and not written yet.
    pending: RefCell<HashSet<String>>,
    /// When this instance last purged (unix ms).
    purged: Cell<u64>,
}

impl Seen {
    pub fn new(sql: Sql, config: &WebhookConfig) -> Self {
        let on = config.wants(EventType::DirectUndelivered);
        Seen {
            sql,
            window_ms: on.then(|| config.seen_window_ms()),
            exists: Cell::new(None),
            pending: RefCell::default(),
            purged: Cell::new(0),
        }
    }

    /// These users were just reported by a room (written by [`Self::flush`]).
    pub fn note<'a>(&self, users: impl Iterator<Item = &'a str>) {
        if self.window_ms.is_some() {
            self.pending.borrow_mut().extend(users.map(str::to_owned));
        }
    }

    /// Writes the noted users (in the caller's turn: with the shard's report writes).
    pub fn flush(&self, now_ms: u64) -> Result<()> {
        let Some(window) = self.window_ms else {
            return Ok(());
        };
        let users = self.pending.take();
        if users.is_empty() {
            return Ok(());
        }
        if !self.exists()? {
            self.sql.exec(
                "CREATE TABLE IF NOT EXISTS user_seen(user TEXT PRIMARY KEY, at INTEGER NOT NULL)
                   WITHOUT ROWID",
                None,
            )?;
            self.exists.set(Some(true));
        }
        let refresh = (window / 10).min(MAX_REFRESH_MS);
        for user in users {
            self.sql.exec(
                "INSERT INTO user_seen(user, at) VALUES (?, ?) ON CONFLICT(user)
                 DO UPDATE SET at = excluded.at WHERE excluded.at >= user_seen.at + ?",
                vec![user.into(), int(now_ms), int(refresh)],
            )?;
        }
        if now_ms.saturating_sub(self.purged.replace(now_ms)) > PURGE_INTERVAL_MS {
            self.sql.exec(
                "DELETE FROM user_seen WHERE at < ?",
                vec![int(now_ms.saturating_sub(window))],
            )?;
        }
        Ok(())
    }

    /// Whether `user` was seen connected within the window (reports not written yet count).
    pub fn recently(&self, user: &str, now_ms: u64) -> Result<bool> {
        let Some(window) = self.window_ms else {
            return Ok(false);
        };
        if self.pending.borrow().contains(user) {
            return Ok(true);
        }
        if !self.exists()? {
            return Ok(false);
        }
        let at = number(
            &self.sql,
            "SELECT at AS n FROM user_seen WHERE user = ?",
            vec![user.into()],
        )?;
        Ok(at.is_some_and(|at| now_ms.saturating_sub(at) <= window))
    }

    fn exists(&self) -> Result<bool> {
        if let Some(known) = self.exists.get() {
            return Ok(known);
        }
        let known = has_table(&self.sql, "user_seen")?;
        self.exists.set(Some(known));
        Ok(known)
    }
}
