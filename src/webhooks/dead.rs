//! Dead letters: batches that failed `WEBHOOK_MAX_ATTEMPTS` times, kept in the object's storage
//! until an operator re-queues them. `GET /rooms/{room}/webhooks/dead?limit=L` lists the oldest
//! `L` (1–100, default 20) with their events, exactly as they were sent.

use crate::error::{ChatError, ErrorCode};

pub const DEFAULT_DEAD_LIMIT: u32 = 20;
pub const MAX_DEAD_LIMIT: u32 = 100;

/// One dead batch, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadBatch {
    /// Its number in this object (increasing; never reused).
    pub batch: u64,
    /// When it was given up on (unix ms).
    pub failed_at: u64,
    pub attempts: u32,
    /// What the last attempt got: `HTTP 500`, `timeout`, or the network error.
    pub error: String,
    /// The events' JSON array, exactly as sent.
    pub events: String,
}

/// `limit` from the query (`None` when absent).
pub fn parse_dead_limit(limit: Option<&str>) -> Result<u32, ChatError> {
    let Some(limit) = limit else {
        return Ok(DEFAULT_DEAD_LIMIT);
    };
    limit
        .parse::<u32>()
        .ok()
        .filter(|l| (1..=MAX_DEAD_LIMIT).contains(l))
        .ok_or_else(|| {
            let message = format!("`limit` must be 1-{MAX_DEAD_LIMIT}");
            ChatError::new(ErrorCode::BadRequest, message)
        })
}

/// `{"batches":[{"batch","failed_at","attempts","error","events":[...]}],"total":N}`.
pub fn dead_body(batches: &[DeadBatch], total: u64) -> String {
    let mut body = String::from(r#"{"batches":["#);
    for (i, b) in batches.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        let error = serde_json::to_string(&b.error).unwrap_or_default();
        body.push_str(&format!(
            r#"{{"batch":{},"failed_at":{},"attempts":{},"error":{error},"events":{}}}"#,
            b.batch, b.failed_at, b.attempts, b.events
        ));
    }
    body.push_str(&format!(r#"],"total":{total}}}"#));
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_limit_is_bounded() {
        assert_eq!(parse_dead_limit(None).unwrap(), 20);
        assert_eq!(parse_dead_limit(Some("100")).unwrap(), 100);
        for bad in ["0", "101", "-1", "x", ""] {
            assert_eq!(
                parse_dead_limit(Some(bad)).unwrap_err().code,
                ErrorCode::BadRequest
            );
        }
    }

    #[test]
    fn the_listing_embeds_the_events_as_sent() {
        let b = DeadBatch {
            batch: 3,
            failed_at: 10,
            attempts: 12,
            error: "HTTP \"500\"".into(),
            events: r#"[{"id":"e1","type":"message"}]"#.into(),
        };
        let v: serde_json::Value = serde_json::from_str(&dead_body(&[b], 4)).unwrap();
        assert_eq!(
            v,
            json!({"batches":[{"batch":3,"failed_at":10,"attempts":12,"error":"HTTP \"500\"",
                    "events":[{"id":"e1","type":"message"}]}],"total":4})
        );
        assert_eq!(dead_body(&[], 0), r#"{"batches":[],"total":0}"#);
    }
}
