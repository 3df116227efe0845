//! A room's moderation records in its SQLite storage: bans (`bans`) and the revocations of
//! users connected to it (`revocations`). Both tables are created by their first write, so a
//! room nobody moderated has neither; reads of a room without them find nothing.

use crate::room::Ban;
use crate::shell::common::sql::{has_table, int, Sql};
use serde::Deserialize;
use worker::{Result, SqlStorageValue};

pub struct ModerationStore {
    sql: Sql,
}

impl ModerationStore {
    pub fn new(sql: Sql) -> Self {
        ModerationStore { sql }
    }

    fn has_table(&self, name: &str) -> Result<bool> {
        has_table(&self.sql, name)
    }

    /// Every stored ban (expired ones too: the room filters by time).
    pub fn bans(&self) -> Result<Vec<Ban>> {
        if !self.has_table("bans")? {
            return Ok(Vec::new());
        }
        #[derive(Deserialize)]
        struct Row {
            user_id: String,
            until: Option<f64>,
            reason: Option<String>,
        }
        let rows: Vec<Row> = self
            .sql
            .exec("SELECT user_id, until, reason FROM bans", None)?
            .to_array()?;
        Ok(rows
            .into_iter()
            .map(|r| Ban {
                user_id: r.user_id,
                until: r.until.map(|u| u as u64),
                reason: r.reason,
            })
            .collect())
    }

    pub fn save_ban(&self, ban: &Ban) -> Result<()> {
        self.sql.exec(
            "CREATE TABLE IF NOT EXISTS bans(user_id TEXT PRIMARY KEY, until INTEGER, reason TEXT)
             WITHOUT ROWID",
            None,
        )?;
        let until = ban.until.map_or(SqlStorageValue::Null, int);
        let reason = ban
            .reason
            .as_deref()
            .map_or(SqlStorageValue::Null, SqlStorageValue::from);
        self.sql.exec(
            "INSERT INTO bans(user_id, until, reason) VALUES (?, ?, ?)
             ON CONFLICT(user_id) DO UPDATE SET until = excluded.until, reason = excluded.reason",
            vec![ban.user_id.as_str().into(), until, reason],
        )?;
        Ok(())
    }

    pub fn delete_ban(&self, user_id: &str) -> Result<()> {
        if self.has_table("bans")? {
            self.sql
                .exec("DELETE FROM bans WHERE user_id = ?", vec![user_id.into()])?;
        }
        Ok(())
    }

    /// Every stored revocation: (user, before).
    pub fn revocations(&self) -> Result<Vec<(String, u64)>> {
        if !self.has_table("revocations")? {
            return Ok(Vec::new());
        }
        #[derive(Deserialize)]
        struct Row {
            user_id: String,
            before: f64,
        }
        let rows: Vec<Row> = self
            .sql
            .exec("SELECT user_id, before FROM revocations", None)?
            .to_array()?;
        Ok(rows
            .into_iter()
            .map(|r| (r.user_id, r.before as u64))
            .collect())
    }

    pub fn save_revocation(&self, user_id: &str, before: u64) -> Result<()> {
        self.sql.exec(
            "CREATE TABLE IF NOT EXISTS revocations(user_id TEXT PRIMARY KEY, before INTEGER NOT NULL)
             WITHOUT ROWID",
            None,
        )?;
        self.sql.exec(
            "INSERT INTO revocations(user_id, before) VALUES (?, ?)
             ON CONFLICT(user_id) DO UPDATE SET before = MAX(before, excluded.before)",
            vec![user_id.into(), int(before)],
        )?;
        Ok(())
    }
}
