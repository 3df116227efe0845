//! The log's one line format: every line the worker writes is one JSON object with `level`
//! (`error`, `warn` or `info`), `what` (a stable name an operator can search for and look up in
//! docs/operations.md, Logs) and the object it is about (`room`, `shard`) where there is one,
//! plus whatever else tells the story (`detail`, `incident`).
//!
//! Workers Logs indexes the fields of a JSON line, so `what = "stats_report_failed"` or
//! `incident = "…"` is a query, not a text search. Nothing is logged per message or per refusal:
//! those are counted ([`crate::common::metrics`]); a flood must not become a log bill.

use serde_json::{Map, Value};

/// How bad it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something failed and was not retried, or a client got an `internal` error.
    Error,
    /// Something failed and will be retried, or was let through on purpose.
    Warn,
    /// Worth knowing, not a failure.
    Info,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
        }
    }
}

/// The line for `what` at `level`. `fields` is an object whose members are added (`room`,
/// `shard`, `detail`, `incident` …); anything else (a string, a number) becomes `detail`.
/// `level` and `what` are always the caller's: a field of the same name cannot replace them.
pub fn line(level: Level, what: &str, fields: Value) -> String {
    let mut out = Map::new();
    out.insert("level".into(), level.as_str().into());
    out.insert("what".into(), what.into());
    match fields {
        Value::Object(members) => {
            for (k, v) in members {
                if k != "level" && k != "what" {
                    out.insert(k, v);
                }
            }
        }
        Value::Null => {}
        other => {
            out.insert("detail".into(), other);
        }
    }
    Value::Object(out).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(s: &str) -> Value {
        serde_json::from_str(s).expect("one JSON object")
    }

    #[test]
    fn a_line_is_one_json_object_with_level_what_and_the_object() {
        let s = line(
            Level::Warn,
            "stats_report_failed",
            json!({"room": "lobby", "detail": "boom\nsecond line"}),
        );
        assert!(
            !s.contains('\n'),
            "one line, even when the detail has newlines"
        );
        let v = parsed(&s);
        assert_eq!(v["level"], "warn");
        assert_eq!(v["what"], "stats_report_failed");
        assert_eq!(v["room"], "lobby");
        assert_eq!(v["detail"], "boom\nsecond line");
    }

    #[test]
    fn level_and_what_cannot_be_overridden_by_fields() {
        let v = parsed(&line(
            Level::Error,
            "x",
            json!({"level": "info", "what": "y", "shard": 3}),
        ));
        assert_eq!(
            (v["level"].as_str(), v["what"].as_str()),
            (Some("error"), Some("x"))
        );
        assert_eq!(v["shard"], 3);
    }

    #[test]
    fn a_bare_value_is_the_detail_and_null_adds_nothing() {
        let v = parsed(&line(Level::Info, "x", json!("why")));
        assert_eq!(v["detail"], "why");
        let v = parsed(&line(Level::Info, "x", Value::Null));
        assert_eq!(v.as_object().unwrap().len(), 2);
    }

    #[test]
    fn every_level_has_its_name() {
        for (l, n) in [
            (Level::Error, "error"),
            (Level::Warn, "warn"),
            (Level::Info, "info"),
        ] {
            assert_eq!(parsed(&line(l, "x", Value::Null))["level"], n);
        }
    }
}
