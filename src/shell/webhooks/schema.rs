//! The outbox's tables, created together by an object's first event, and their migration.
//!
//! - `webhook_outbox(pos INTEGER PRIMARY KEY, n, skip, at, data_lo, data_hi, events)`: events
//!   waiting, **a row per turn** ([`crate::webhooks::take`]'s module: a row costs what the
//!   log's own row costs, so not one per event), in `pos` order (re-queued dead letters go in
//!   front, below the lowest, a row per dead batch). `events` is the row's events joined with
//!   commas, `n` how many, `skip` how many of its first events have left it already
//!   (delivered or dead: a POST may end inside a row); `at` when its first was recorded (unix
//!   ms); `data_lo`/`data_hi` the lowest and highest seq of the messages whose data its events
//!   carry (a `message`, an `edit`; NULL when none) — the index a deletion finds rows by;
//! - `webhook_dead(batch INTEGER PRIMARY KEY AUTOINCREMENT, failed_at, attempts, error,
//!   events, reason, first_at)`: batches given up on, `events` the JSON array as sent,
//!   `reason` a [`crate::webhooks::DeadReason`], `first_at` when its oldest event was recorded;
//! - `webhook_dead_data(data_of, batch)`: which dead batches carry which message's data —
//!   the dead letters' index for a deletion;
//! - `webhook_state(key, value)`: `attempts` and `retry_at` of the head batch, so an evicted
//!   object resumes the schedule, and `schema`, this layout's version.
//!
//! Older layouts are migrated in one turn, so in one commit, by the first instance that opens
//! them: version 1 (before `data_of`, `at`, `reason`, `first_at` and `webhook_dead_data`) to
//! 2, and version 2 (a row per event: `event`, `data_of`) to 3 in place — each old row is a
//! row of one event, so nothing is rewritten but the index.

use crate::shell::common::sql::{has_table, int, number, Sql};
use worker::Result;

/// The layout's version, in `webhook_state` under `schema`.
const VERSION: u64 = 3;

/// The small columns first: a row's `events` may span overflow pages, which reading a column
/// after it would walk.
const CREATE: [&str; 5] = [
    "CREATE TABLE IF NOT EXISTS webhook_outbox(pos INTEGER PRIMARY KEY,
       n INTEGER NOT NULL DEFAULT 1, skip INTEGER NOT NULL DEFAULT 0,
       at INTEGER NOT NULL DEFAULT 0, data_lo INTEGER, data_hi INTEGER, events TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS webhook_dead(batch INTEGER PRIMARY KEY AUTOINCREMENT,
       failed_at INTEGER NOT NULL, attempts INTEGER NOT NULL, error TEXT NOT NULL,
       events TEXT NOT NULL, reason TEXT NOT NULL DEFAULT 'attempts',
       first_at INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS webhook_state(key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    INDEX_DATA,
    DEAD_DATA,
];

/// One entry per row carrying a message's data (the others cost none); both bounds in it, so
/// that a deletion's search reads no table row but those it may rewrite.
const INDEX_DATA: &str = "CREATE INDEX IF NOT EXISTS webhook_outbox_data
    ON webhook_outbox(data_hi, data_lo) WHERE data_hi IS NOT NULL";

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
    let version = version.unwrap_or(1);
    if version < 2 {
        migrate_from_1(sql)?;
    }
    if version < 3 {
        migrate_from_2(sql)?;
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
    // (Version 2's per-event index is not made: [`migrate_from_2`] follows at once.)
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
    Ok(())
}

/// A row per event becomes a row of one event: the columns renamed and added (`n` 1, `skip`
/// 0 by default), `data_hi` = `data_lo`, and the per-row index in place of the per-event one.
fn migrate_from_2(sql: &Sql) -> Result<()> {
    for ddl in [
        "DROP INDEX IF EXISTS webhook_outbox_data_of",
        "ALTER TABLE webhook_outbox RENAME COLUMN event TO events",
        "ALTER TABLE webhook_outbox RENAME COLUMN data_of TO data_lo",
        "ALTER TABLE webhook_outbox ADD COLUMN data_hi INTEGER",
        "ALTER TABLE webhook_outbox ADD COLUMN n INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE webhook_outbox ADD COLUMN skip INTEGER NOT NULL DEFAULT 0",
        "UPDATE webhook_outbox SET data_hi = data_lo WHERE data_lo IS NOT NULL",
        INDEX_DATA,
    ] {
        sql.exec(ddl, None)?;
    }
    set_version(sql)
}
