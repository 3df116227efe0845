//! The outbox's tables, created together by an object's first event, and their migration.
//!
//! - `webhook_outbox(pos INTEGER PRIMARY KEY, event TEXT, data_of INTEGER, at INTEGER)`:
//!   events waiting, in `pos` order (re-queued dead letters go in front, below the lowest);
//!   `data_of` is the seq of the message whose data the event carries (a `message`, an
//!   `edit`; indexed, NULL for the rest), `at` when it was recorded (unix ms);
//! - `webhook_dead(batch INTEGER PRIMARY KEY AUTOINCREMENT, failed_at, attempts, error,
//!   events, reason, first_at)`: batches given up on, `events` the JSON array as sent,
//!   `reason` a [`crate::webhooks::DeadReason`], `first_at` when its oldest event was recorded;
//! - `webhook_dead_data(data_of, batch)`: which dead batches carry which message's data —
//!   the dead letters' index for a deletion;
//! - `webhook_state(key, value)`: `attempts` and `retry_at` of the head batch, so an evicted
//!   object resumes the schedule, and `schema`, this layout's version.
//!
//! Version 1 (before `data_of`, `at`, `reason`, `first_at` and `webhook_dead_data`) is
//! migrated in one turn, so in one commit, by the first instance that opens it.

use crate::shell::common::sql::{has_table, int, number, Sql};
use worker::Result;

/// The layout's version, in `webhook_state` under `schema`.
const VERSION: u64 = 2;

const CREATE: [&str; 5] = [
    "CREATE TABLE IF NOT EXISTS webhook_outbox(pos INTEGER PRIMARY KEY, event TEXT NOT NULL,
       data_of INTEGER, at INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS webhook_dead(batch INTEGER PRIMARY KEY AUTOINCREMENT,
       failed_at INTEGER NOT NULL, attempts INTEGER NOT NULL, error TEXT NOT NULL,
       events TEXT NOT NULL, reason TEXT NOT NULL DEFAULT 'attempts',
       first_at INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS webhook_state(key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    INDEX_DATA_OF,
    DEAD_DATA,
];

/// Only the events that carry a message's data are indexed: the others cost no index row.
const INDEX_DATA_OF: &str = "CREATE INDEX IF NOT EXISTS webhook_outbox_data_of
    ON webhook_outbox(data_of) WHERE data_of IS NOT NULL";
const DEAD_DATA: &str = "CREATE TABLE IF NOT EXISTS webhook_dead_data(data_of INTEGER NOT NULL,
    batch INTEGER NOT NULL, PRIMARY KEY(data_of, batch)) WITHOUT ROWID";

/// The message seq an event (column `event`) carries the data of, read from its JSON — only
/// for migrating events recorded before `data_of` existed.
pub(super) const DATA_OF_JSON: &str = "CASE json_extract(event, '$.type')
    WHEN 'message' THEN json_extract(event, '$.seq')
    WHEN 'edit' THEN json_extract(event, '$.target') END";

/// Whether the tables exist; if they are of an older layout, migrates them first.
pub fn open(sql: &Sql) -> Result<bool> {
    if !has_table(sql, "webhook_outbox")? {
        return Ok(false);
    }
    let version = number(
        sql,
        "SELECT value AS n FROM webhook_state WHERE key = 'schema'",
        vec![],
    )?;
    if version.unwrap_or(1) < VERSION {
        migrate_from_1(sql)?;
    }
    Ok(true)
}

pub fn create(sql: &Sql) -> Result<()> {
    for ddl in CREATE {
        sql.exec(ddl, None)?;
    }
    set_version(sql)
}

fn set_version(sql: &Sql) -> Result<()> {
    sql.exec(
        "INSERT INTO webhook_state(key, value) VALUES ('schema', ?)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        vec![int(VERSION)],
    )?;
    Ok(())
}

/// Adds the columns and the index table, and fills them from the events' JSON (once).
fn migrate_from_1(sql: &Sql) -> Result<()> {
    for ddl in [
        "ALTER TABLE webhook_outbox ADD COLUMN data_of INTEGER",
        "ALTER TABLE webhook_outbox ADD COLUMN at INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE webhook_dead ADD COLUMN reason TEXT NOT NULL DEFAULT 'attempts'",
        "ALTER TABLE webhook_dead ADD COLUMN first_at INTEGER NOT NULL DEFAULT 0",
    ] {
        sql.exec(ddl, None)?;
    }
    sql.exec(
        &format!(
            "UPDATE webhook_outbox SET data_of = {DATA_OF_JSON},
               at = COALESCE(json_extract(event, '$.ts'), 0)"
        ),
        None,
    )?;
    // A dead batch's oldest event is no younger than the batch: its failure time stands in.
    sql.exec("UPDATE webhook_dead SET first_at = failed_at", None)?;
    sql.exec(INDEX_DATA_OF, None)?;
    sql.exec(DEAD_DATA, None)?;
    sql.exec(
        &format!(
            "INSERT OR IGNORE INTO webhook_dead_data(data_of, batch)
             SELECT data_of, batch FROM (SELECT {DATA_OF_JSON} AS data_of, batch
               FROM (SELECT value AS event, batch FROM webhook_dead, json_each(webhook_dead.events)))
             WHERE data_of IS NOT NULL"
        ),
        None,
    )?;
    set_version(sql)
}
