//! Internal failures: clients get the `internal` code and an opaque incident id; the detail
//! goes to the log as one JSON line carrying the same id, so an operator can find it from
//! what a user reports.

use super::env::random_hex;

/// Logs `detail` (what failed, in our words and the runtime's) and returns the incident id.
pub fn report(what: &str, detail: &str) -> String {
    let id = random_hex::<6>();
    super::log::error(what, serde_json::json!({"incident": id, "detail": detail}));
    id
}
