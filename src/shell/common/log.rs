//! Writes the log's lines ([`crate::common::log`] builds them): `error` and `warn` go to the
//! console's error and warning streams, so `wrangler tail` and Workers Logs show each at its
//! level. (There is no `info` writer: nothing we do is worth a line unless it failed.)
//!
//! ```ignore
//! log::warn("stats_report_failed", json!({"room": name, "detail": e.to_string()}));
//! ```

use crate::common::log::{line, Level};
use serde_json::Value;

/// A failure that was not retried (see docs/operations.md, Logs, for each `what`).
pub fn error(what: &str, fields: Value) {
    worker::console_error!("{}", line(Level::Error, what, fields));
}

/// A failure that will be retried, or that was let through on purpose.
pub fn warn(what: &str, fields: Value) {
    worker::console_warn!("{}", line(Level::Warn, what, fields));
}
