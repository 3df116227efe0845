//! Admission: what a frame must pass before its kind is even looked at — the sender's rate
//! limit, text (not binary), the size limit, and parsing. Everything refused here is answered
//! to the sender alone and changes nothing else in the room.

use super::{Action, Recipients, Room};
use crate::common::error::ErrorCode;
use crate::protocol::{error_frame, parse_client_frame, read_id, ClientFrame};
use crate::room::rate_limit::{check, Verdict};

/// A frame as received from a socket.
#[derive(Debug, Clone, Copy)]
pub enum Incoming<'a> {
    Text(&'a str),
    Binary,
    /// A text frame over `MAX_MESSAGE_BYTES`, of this many bytes: dropped by the shell on
    /// arrival, before it was queued, and only refused here, in order with the rest.
    TooLarge(usize),
}

/// The outcome of admitting a frame.
pub(super) enum Admission<'a> {
    /// A valid frame, to be handled by its kind.
    Accepted(ClientFrame<'a>),
    /// Refused: what to send (an `error` to the sender, or a flood's close and its aftermath).
    Refused(Vec<Action>),
}

impl<H> Room<H> {
    /// Rate, binary, size and parse checks, in that order: the rate limit comes first so
    /// that a flood costs as little as possible; the size is checked before any parsing.
    pub(super) fn admit<'t>(
        &mut self,
        connection_id: &str,
        incoming: Incoming<'t>,
        now_ms: u64,
    ) -> Admission<'t> {
        let refuse = |code: ErrorCode, message: &str, id: Option<&str>| {
            let to = Recipients::One(connection_id.to_owned());
            Admission::Refused(vec![Action::send(to, error_frame(code, message, id))])
        };
        let Some(entry) = self.index.get_mut(connection_id) else {
            return Admission::Refused(Vec::new());
        };
        let Some(buckets) = self.buckets.get_mut(&entry.user_id) else {
            return Admission::Refused(Vec::new());
        };
        let max = self.config.max_message_bytes;
        let limit = &self.config.rate_limit;
        let strikes = &mut entry.handle.strikes;
        match check(&mut buckets.frames, strikes, limit, now_ms as f64) {
            Verdict::Allow => {}
            Verdict::Reject => {
                // The refused frame's id, so the sender can settle what it waits for. Only a
                // frame within the size limit is read for it.
                let id = match incoming {
                    Incoming::Text(t) if t.len() <= max => read_id(t),
                    _ => None,
                };
                let message = "too many frames; slow down";
                return refuse(ErrorCode::RateLimited, message, id.as_deref());
            }
            Verdict::Close => return Admission::Refused(self.close_flooder(connection_id)),
        }
        let text = match incoming {
            Incoming::Binary => {
                let message = "binary frames are not supported; send JSON text";
                return refuse(ErrorCode::BinaryUnsupported, message, None);
            }
            Incoming::TooLarge(len) => len_refusal(len, max),
            Incoming::Text(t) if t.len() > max => len_refusal(t.len(), max),
            Incoming::Text(t) => Ok(t),
        };
        let text = match text {
            Ok(t) => t,
            Err(message) => return refuse(ErrorCode::TooLarge, &message, None),
        };
        match parse_client_frame(text) {
            Ok(frame) => Admission::Accepted(frame),
            Err(e) => refuse(e.code, &e.message, e.id.as_deref()),
        }
    }
}

fn len_refusal<'t>(len: usize, max: usize) -> Result<&'t str, String> {
    Err(format!("frame is {len} bytes; the limit is {max}"))
}

impl<H> Room<H> {
    /// A connection that ignored its `rate_limited` refusals: closed with 1008 (as in v1: no
    /// `closing` frame), and the room told as for any close.
    fn close_flooder(&mut self, connection_id: &str) -> Vec<Action> {
        let mut actions = self.close(connection_id).actions;
        actions.insert(
            0,
            Action::Close {
                connection_id: connection_id.to_owned(),
                reason: crate::room::session::CloseReason::RateLimited,
            },
        );
        actions
    }
}

#[cfg(test)]
mod tests {
    use crate::common::config::Config;
    use crate::room::log::message_log::MemoryLog;
    use crate::room::rate_limit::RateLimit;
    use crate::room::test_support::*;
    use crate::room::*;
    use serde_json::Value;

    #[test]
    fn bad_input_is_answered_to_the_sender_only() {
        let mut r = Room::new(
            "lobby",
            Config {
                max_message_bytes: 100,
                ..Config::default()
            },
        );
        open(&mut r, "a1", "alice");
        open(&mut r, "b1", "bob");
        let cases = [
            ("{", "bad_json"),
            (r#"{"type":"nope","data":1}"#, "bad_frame"),
            (
                r#"{"type":"publish","data":"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"}"#,
                "too_large",
            ),
        ];
        for (text, code) in cases {
            let d = send(&mut r, "a1", text);
            assert_eq!(d.len(), 1, "{text}");
            assert_eq!(d[0].0, "a1");
            assert_eq!(d[0].1["type"], "error");
            assert_eq!(d[0].1["code"], code);
        }
        let acts = r.receive("a1", Incoming::Binary, 0, &mut MemoryLog::default());
        let d = deliveries(&r, &acts);
        assert_eq!(
            (d[0].0.as_str(), &d[0].1["code"]),
            ("a1", &Value::from("binary_unsupported"))
        );
        // Still a member, still able to publish.
        assert_eq!(
            send(&mut r, "a1", r#"{"type":"publish","data":0}"#).len(),
            2
        );
    }

    #[test]
    fn a_flood_is_refused_then_closed_and_others_are_told() {
        // A bucket of 2 and no refill during the flood: 2 frames pass, then exactly
        // max(burst, 10) = 10 are refused with `rate_limited` (each naming its frame), then the
        // connection is closed with 1008 and the room hears the leave.
        let limit = RateLimit {
            per_second: 1.0,
            burst: 2.0,
        };
        let config = Config {
            rate_limit: limit,
            ..Config::default()
        };
        let mut r = Room::new("lobby", config);
        let mut log = MemoryLog::default();
        open_with(&mut r, "a1", "alice", 1_000, None, &log);
        open_with(&mut r, "b1", "bob", 1_000, None, &log);
        let (mut acks, mut to_bob, mut refused, mut closed) = (Vec::new(), 0, Vec::new(), None);
        for n in 0..20 {
            let text = format!(r#"{{"type":"publish","data":{n},"id":"m{n}"}}"#);
            let acts = r.receive("a1", Incoming::Text(&text), 1_000, &mut log);
            for a in &acts {
                if let Action::Close { reason, .. } = a {
                    closed = Some((n, reason.code(), reason.reason()));
                }
            }
            for (c, v) in deliveries(&r, &acts) {
                match (c.as_str(), v["type"].as_str().unwrap()) {
                    ("a1", "ack") => acks.push(v["id"].as_str().unwrap().to_owned()),
                    ("a1", "error") => {
                        assert_eq!(v["code"], "rate_limited");
                        refused.push(v["id"].as_str().unwrap().to_owned());
                    }
                    ("b1", "message") => to_bob += 1,
                    ("b1", "presence") => assert_eq!(v["event"], "leave"),
                    _ => {}
                }
            }
            if closed.is_some() {
                break;
            }
        }
        assert_eq!(acks, ["m0", "m1"], "acks == accepted frames");
        assert_eq!(to_bob, 2);
        assert_eq!(log.rows.len(), 2);
        let expected: Vec<String> = (2..12).map(|n| format!("m{n}")).collect();
        assert_eq!(
            refused, expected,
            "exactly one bucket of refusals, ids echoed"
        );
        assert_eq!(closed, Some((12, 1008, "rate limit exceeded")));
        assert!(r.index().get("a1").is_none());
    }

    #[test]
    fn a_rate_limited_refusal_names_the_frame_only_when_it_can_be_read() {
        let limit = RateLimit {
            per_second: 0.001,
            burst: 1.0,
        };
        let config = Config {
            rate_limit: limit,
            max_message_bytes: 64,
            ..Config::default()
        };
        let mut r = Room::new("lobby", config);
        let mut log = MemoryLog::default();
        open_with(&mut r, "a1", "alice", 0, None, &log);
        send_logged(&mut r, &mut log, "a1", r#"{"type":"publish","data":1}"#);
        let over = format!(
            r#"{{"type":"publish","id":"big","data":"{}"}}"#,
            "x".repeat(64)
        );
        for (text, id) in [
            (
                r#"{"type":"direct","id":"d1","to":{"user_id":"b"},"data":1}"#,
                Some("d1"),
            ),
            (r#"{"type":"publish","data":1}"#, None),
            ("not json", None),
            (over.as_str(), None),
        ] {
            let d = send_logged(&mut r, &mut log, "a1", text);
            assert_eq!(d[0].1["code"], "rate_limited", "{text}");
            assert_eq!(d[0].1["id"].as_str(), id, "{text}");
        }
    }

    #[test]
    fn unknown_senders_are_ignored() {
        let mut r = room();
        assert!(r
            .receive("ghost", Incoming::Text("{}"), 0, &mut MemoryLog::default())
            .is_empty());
    }

    #[test]
    fn leaving_and_coming_back_does_not_refill_the_bucket() {
        let limit = RateLimit {
            per_second: 0.001,
            burst: 2.0,
        };
        let config = Config {
            rate_limit: limit,
            ..Config::default()
        };
        let mut r = Room::new("lobby", config);
        let mut log = MemoryLog::default();
        open_with(&mut r, "a1", "alice", 0, None, &log);
        let publish = r#"{"type":"publish","data":1}"#;
        for _ in 0..2 {
            send_logged(&mut r, &mut log, "a1", publish);
        }
        r.close("a1");
        open_with(&mut r, "a2", "alice", 0, None, &log);
        let d = send_logged(&mut r, &mut log, "a2", publish);
        assert_eq!(
            d[0].1["code"], "rate_limited",
            "the bucket outlived the connection"
        );
    }
}
