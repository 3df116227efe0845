//! Small helpers over the Durable Object SQLite API, shared by the objects' stores.

use serde::Deserialize;
use worker::{Result, SqlStorage, SqlStorageValue};

/// An integer as the SQL binding carries it (JavaScript numbers: exact below 2^53, which
/// seqs, versions and unix ms stay far under).
pub fn int(v: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(v.min((1 << 53) - 1) as i64)
}

/// Whether the table exists. Tables are created by their first write, so that an object that
/// never had anything to store has none.
pub fn has_table(sql: &SqlStorage, name: &str) -> Result<bool> {
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
pub fn number(sql: &SqlStorage, query: &str, args: Vec<SqlStorageValue>) -> Result<Option<u64>> {
    #[derive(Deserialize)]
    struct Row {
        n: Option<f64>,
    }
    let rows: Vec<Row> = sql.exec(query, args)?.to_array()?;
    Ok(rows.first().and_then(|r| r.n).map(|n| n as u64))
}
