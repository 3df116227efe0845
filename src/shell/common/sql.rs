//! Small helpers over the Durable Object SQLite API, shared by the objects' stores.

use crate::common::meter::{self, ObjectKind};
use serde::Deserialize;
use worker::{Result, SqlCursor, SqlStorage, SqlStorageValue};

/// An object's SQLite storage that counts the rows each statement writes (what the platform
/// bills) into the [`meter`]. Every store goes through it, so the count is complete.
#[derive(Clone, Debug)]
pub struct Sql {
    storage: SqlStorage,
    kind: ObjectKind,
}

impl Sql {
    pub fn new(storage: SqlStorage, kind: ObjectKind) -> Self {
        Sql { storage, kind }
    }

    /// Runs `query` like [`SqlStorage::exec`]. A write statement has run to completion when
    /// `exec` returns (only a query's result rows are produced lazily), so its count is final.
    pub fn exec(
        &self,
        query: &str,
        bindings: impl Into<Option<Vec<SqlStorageValue>>>,
    ) -> Result<SqlCursor> {
        let cursor = self.storage.exec(query, bindings)?;
        meter::rows_written(self.kind, cursor.rows_written() as u64);
        Ok(cursor)
    }
}

/// An integer as the SQL binding carries it (JavaScript numbers: exact below 2^53, which
/// seqs, versions and unix ms stay far under).
pub fn int(v: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(v.min((1 << 53) - 1) as i64)
}

/// Whether the table exists. Tables are created by their first write, so that an object that
/// never had anything to store has none.
pub fn has_table(sql: &Sql, name: &str) -> Result<bool> {
    #[derive(Deserialize)]
    struct Row {
        n: f64,
    }
    let rows: Vec<Row> = sql
        .exec(
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?",
            vec![name.into()],
        )?
        .to_array()?;
    Ok(rows.first().is_some_and(|r| r.n > 0.0))
}

/// The first column `n` of the first row, as an integer (`None`: no row, or NULL).
pub fn number(sql: &Sql, query: &str, args: Vec<SqlStorageValue>) -> Result<Option<u64>> {
    #[derive(Deserialize)]
    struct Row {
        n: Option<f64>,
    }
    let rows: Vec<Row> = sql.exec(query, args)?.to_array()?;
    Ok(rows.first().and_then(|r| r.n).map(|n| n as u64))
}
