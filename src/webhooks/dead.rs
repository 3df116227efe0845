//! Dead letters: batches that failed `WEBHOOK_MAX_ATTEMPTS` times, kept in the object's storage
//! until an operator re-queues them. `GET /rooms/{room}/webhooks/dead?limit=L` lists the oldest
//! `L` (1–100, default 20) with their events, exactly as they were sent.

use crate::common::error::{ChatError, ErrorCode};

pub const DEFAULT_DEAD_LIMIT: u32 = 20;
pub const MAX_DEAD_LIMIT: u32 = 100;

/// Why a batch was given up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadReason {
    /// It failed `WEBHOOK_MAX_ATTEMPTS` times.
    Attempts,
    /// The outbox passed `WEBHOOK_MAX_BACKLOG_EVENTS` or `WEBHOOK_MAX_BACKLOG_BYTES`, and these
    /// were its oldest events.
    Backlog,
}

impl DeadReason {
    /// Its name in the listing (`reason`) and in storage.
    pub fn name(self) -> &'static str {
        match self {
            DeadReason::Attempts => "attempts",
            DeadReason::Backlog => "backlog",
        }
    }

    /// Read back from storage (anything unknown: `attempts`, the only reason before there were
    /// others).
    pub fn parse(name: &str) -> DeadReason {
        match name {
            "backlog" => DeadReason::Backlog,
            _ => DeadReason::Attempts,
        }
    }
}

/// One dead batch, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadBatch {
    /// Its number in this object (increasing; never reused).
    pub batch: u64,
    /// When it was given up on (unix ms).
    pub failed_at: u64,
    pub attempts: u32,
    pub reason: DeadReason,
    /// What the last attempt got: `HTTP 500`, `timeout`, or the network error (for the
    /// backlog: which cap was passed).
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

/// `{"batches":[{"batch","failed_at","attempts","reason","error","events":[...]}],"total":N}`.
pub fn dead_body(batches: &[DeadBatch], total: u64) -> String {
    let mut body = String::from(r#"{"batches":["#);
    for (i, b) in batches.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        let error = serde_json::to_string(&b.error).unwrap_or_default();
        body.push_str(&format!(
            r#"{{"batch":{},"failed_at":{},"attempts":{},"reason":"{}","error":{error},"events":{}}}"#,
            b.batch,
            b.failed_at,
            b.attempts,
            b.reason.name(),
            b.events
        ));
    }
    body.push_str(&format!(r#"],"total":{total}}}"#));
    body
}

/// `GET /registry/webhooks/dead`: the registry shards' answers (`(shard, body)`, each body as
/// [`dead_body`] writes it) as one list — the oldest `limit` batches over all shards, by the
/// time they were given up on, each with its `shard` — and the total over all shards.
pub fn merge_dead(answers: &[(u32, String)], limit: u32) -> Result<String, serde_json::Error> {
    /// A batch as a shard lists it; its events stay the text they were stored as.
    #[derive(serde::Deserialize)]
    struct Listed<'a> {
        batch: u64,
        failed_at: u64,
        attempts: u32,
        reason: DeadReason,
        error: String,
        #[serde(borrow)]
        events: &'a serde_json::value::RawValue,
    }
    #[derive(serde::Deserialize)]
    struct Body<'a> {
        #[serde(borrow)]
        batches: Vec<Listed<'a>>,
        total: u64,
    }
    let (mut batches, mut total) = (Vec::new(), 0);
    for (shard, body) in answers {
        let body: Body<'_> = serde_json::from_str(body)?;
        total += body.total;
        batches.extend(body.batches.into_iter().map(|b| (*shard, b)));
    }
    batches.sort_by_key(|(shard, b)| (b.failed_at, *shard, b.batch));
    batches.truncate(limit as usize);
    let mut out = String::from(r#"{"batches":["#);
    for (i, (shard, b)) in batches.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let error = serde_json::to_string(&b.error)?;
        out.push_str(&format!(
            r#"{{"shard":{shard},"batch":{},"failed_at":{},"attempts":{},"reason":"{}","error":{error},"events":{}}}"#,
            b.batch,
            b.failed_at,
            b.attempts,
            b.reason.name(),
            b.events.get()
        ));
    }
    out.push_str(&format!(r#"],"total":{total}}}"#));
    Ok(out)
}

/// `POST /registry/webhooks/dead/retry`: the shards' `{"requeued","batches"}`, added up.
pub fn merge_requeued(answers: &[String]) -> Result<String, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Requeued {
        requeued: u64,
        batches: u64,
    }
    let (mut requeued, mut batches) = (0, 0);
    for answer in answers {
        let r: Requeued = serde_json::from_str(answer)?;
        requeued += r.requeued;
        batches += r.batches;
    }
    Ok(format!(r#"{{"requeued":{requeued},"batches":{batches}}}"#))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_shards_dead_letters_merge_oldest_first_with_their_shard() {
        let batch = |n, at| DeadBatch {
            batch: n,
            failed_at: at,
            attempts: 12,
            reason: DeadReason::Attempts,
            error: "HTTP 500".into(),
            events: format!(r#"[{{"id":"e{n}"}}]"#),
        };
        let answers = [
            (3, dead_body(&[batch(1, 50), batch(2, 70)], 5)),
            (9, dead_body(&[batch(1, 60)], 1)),
            (4, dead_body(&[], 0)),
        ];
        let merged: serde_json::Value =
            serde_json::from_str(&merge_dead(&answers, 2).unwrap()).unwrap();
        assert_eq!(merged["total"], 6);
        let order: Vec<(u64, u64)> = merged["batches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["shard"].as_u64().unwrap(),
                    b["failed_at"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(order, [(3, 50), (9, 60)]);
        assert_eq!(merged["batches"][1]["events"], json!([{"id":"e1"}]));
        assert_eq!(merged["batches"][1]["reason"], "attempts");
        assert_eq!(DeadReason::parse("backlog"), DeadReason::Backlog);
        assert_eq!(DeadReason::parse("?"), DeadReason::Attempts);
        let big = r#"[{"data":123456789012345678901234567890,"b":1,"a":2}]"#;
        let exact = DeadBatch {
            events: big.into(),
            ..batch(1, 1)
        };
        let text = merge_dead(&[(0, dead_body(&[exact], 1))], 5).unwrap();
        assert!(text.contains(big), "events are passed on as stored: {text}");
        assert!(merge_dead(&[(1, "junk".into())], 2).is_err());
        let sum = merge_requeued(&[
            r#"{"requeued":3,"batches":1}"#.into(),
            r#"{"requeued":0,"batches":0}"#.into(),
        ]);
        assert_eq!(sum.unwrap(), r#"{"requeued":3,"batches":1}"#);
    }

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
            reason: DeadReason::Backlog,
            error: "HTTP \"500\"".into(),
            events: r#"[{"id":"e1","type":"message"}]"#.into(),
        };
        let v: serde_json::Value = serde_json::from_str(&dead_body(&[b], 4)).unwrap();
        assert_eq!(
            v,
            json!({"batches":[{"batch":3,"failed_at":10,"attempts":12,"reason":"backlog","error":"HTTP \"500\"",
                    "events":[{"id":"e1","type":"message"}]}],"total":4})
        );
        assert_eq!(dead_body(&[], 0), r#"{"batches":[],"total":0}"#);
    }
}
