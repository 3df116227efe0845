//! The users this room's registry reports say are here (`counted_users`), kept in SQLite so a
//! restart — a deploy, an eviction, a crash — does not forget them.
//!
//! **Why.** A user's first connection to a room awaits a round trip to the user's registry
//! shard: the reply says whether their tokens were revoked and whether they may have one more
//! room ([`moderation`](super::moderation)). Once the registry has answered and counts the
//! user here, it pushes every later revocation of theirs to this room, which stores it
//! (`revocations`). So while the registry counts the user here, the room already knows
//! everything that round trip would tell it, and a reconnect needs none — which is what a
//! deploy makes every client do at once: objects restart cold, no close was ever handled, the
//! registry still counts everyone where they were, and this table says so.
//!
//! **The rule.** A row exists only while the registry counts the user here: written when the
//! registry answered a first connection's report (and stored it), deleted whenever the room
//! tells the registry otherwise — its last connection closed (the report of 0, held a moment:
//! [`leaves`](super::leaves), so a reload finds the user still counted), a refused
//! connect's report taken back, a count of 0 answered to a registry checking its rows
//! ([`endpoints`](super::endpoints)), the user erased. The registry pushes a revocation to
//! every room it has a row for, counted or not (`registry/rooms.rs`), so a row here that
//! outlives the registry's count by a moment is still covered.
//!
//! The table is created by its first write; a room nobody connected to has none.

use crate::shell::common::sql::{has_table, int, Sql};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use worker::Result;

/// The table, and a copy of it in memory, read once per instance: a reconnect storm asks
/// about every user, and one query on wake beats two per connect.
#[derive(Default, Clone)]
pub struct CountedUsers {
    users: Rc<RefCell<Option<HashSet<String>>>>,
    /// The table is known to exist (no `CREATE TABLE IF NOT EXISTS` per new user).
    created: Rc<std::cell::Cell<bool>>,
}

impl CountedUsers {
    /// Whether the registry counts `user` here (see the module doc).
    pub fn contains(&self, sql: &Sql, user: &str) -> Result<bool> {
        self.ensure_loaded(sql)?;
        Ok(self
            .users
            .borrow()
            .as_ref()
            .is_some_and(|u| u.contains(user)))
    }

    /// The users counted here for whom `present` is false (read from the table if this
    /// instance has not yet).
    pub fn absent(&self, sql: &Sql, present: impl Fn(&str) -> bool) -> Result<Vec<String>> {
        self.ensure_loaded(sql)?;
        let users = self.users.borrow();
        let all = users.iter().flatten();
        Ok(all.filter(|u| !present(u)).cloned().collect())
    }

    /// Reads the table into the copy, once per instance.
    fn ensure_loaded(&self, sql: &Sql) -> Result<()> {
        if self.users.borrow().is_none() {
            let (loaded, exists) = load(sql)?;
            self.created.set(exists);
            *self.users.borrow_mut() = Some(loaded);
        }
        Ok(())
    }

    /// The registry answered `user`'s first connection here and counts them: remembered.
    pub fn insert(&self, sql: &Sql, user: &str, now_ms: u64) -> Result<()> {
        if !self.created.get() {
            sql.exec(
                "CREATE TABLE IF NOT EXISTS counted_users(user_id TEXT PRIMARY KEY, since INTEGER NOT NULL)
                 WITHOUT ROWID",
                None,
            )?;
            self.created.set(true);
        }
        sql.exec(
            "INSERT INTO counted_users(user_id, since) VALUES (?, ?)
             ON CONFLICT(user_id) DO UPDATE SET since = excluded.since",
            vec![user.into(), int(now_ms)],
        )?;
        if let Some(users) = self.users.borrow_mut().as_mut() {
            users.insert(user.to_owned());
        }
        Ok(())
    }

    /// The room told (or is telling) the registry that `user` is not here: forgotten.
    pub fn remove(&self, sql: &Sql, user: &str) -> Result<()> {
        let known = self.users.borrow().as_ref().map(|u| u.contains(user));
        if known == Some(false) {
            return Ok(()); // the copy is whole: nothing to delete
        }
        if has_table(sql, "counted_users")? {
            sql.exec(
                "DELETE FROM counted_users WHERE user_id = ?",
                vec![user.into()],
            )?;
        }
        if let Some(users) = self.users.borrow_mut().as_mut() {
            users.remove(user);
        }
        Ok(())
    }

    /// Forgets the copy (the room's storage was erased: `DELETE /rooms/{room}`).
    pub fn reset(&self) {
        *self.users.borrow_mut() = None;
        self.created.set(false);
    }
}

/// The table's users, and whether it exists.
fn load(sql: &Sql) -> Result<(HashSet<String>, bool)> {
    if !has_table(sql, "counted_users")? {
        return Ok((HashSet::new(), false));
    }
    #[derive(Deserialize)]
    struct Row {
        user_id: String,
    }
    let rows: Vec<Row> = sql
        .exec("SELECT user_id FROM counted_users", None)?
        .to_array()?;
    Ok((rows.into_iter().map(|r| r.user_id).collect(), true))
}
