//! `publish` frames and server posts: messages to the whole room, stored in the room's log
//! before anyone sees them.

use super::{Action, Author, Recipients, Room};
use crate::protocol::{Sender, ServerFrame};
use crate::room::log::message_log::{Appended, LogEntry, LogError, MessageLog};
use serde_json::value::RawValue;

/// What a server post (`POST /rooms/{room}/messages`) did.
#[derive(Debug)]
pub struct ServerPost {
    /// The broadcast to carry out.
    pub send: Action,
    /// How many connections it reaches.
    pub delivered: usize,
    /// Its place in the room's log.
    pub seq: u64,
    /// Its webhook event, when webhooks record messages.
    pub webhook: Option<Action>,
}

/// What a client's publish did: the actions to carry out, and whether it added a message to
/// the log (`false`: a retried id, acked with its original seq, or a failure).
pub(super) struct Published {
    pub actions: Vec<Action>,
    pub stored: bool,
}

/// A message about to be appended: everything its frame and its log row need.
#[derive(Clone, Copy)]
struct Draft<'a> {
    from: Sender<'a>,
    /// The publishing user (`None` for server posts) and their message id: the idempotency key.
    user_id: Option<&'a str>,
    id: Option<&'a str>,
    data: &'a RawValue,
    ts: u64,
}

impl<H> Room<H> {
    /// A client's `publish`: stored first, broadcast after. The frame carries its seq, and the
    /// runtime's output gate holds these sends until the write is durable.
    pub(super) fn publish(
        &self,
        from: Author<'_>,
        data: &RawValue,
        id: Option<&str>,
        echo: bool,
        now_ms: u64,
        log: &mut dyn MessageLog,
    ) -> Published {
        let me = || Recipients::One(from.connection_id.to_owned());
        let draft = Draft {
            from: Sender::Client {
                user_id: from.user_id,
                connection_id: from.connection_id,
            },
            user_id: Some(from.user_id),
            id,
            data,
            ts: now_ms,
        };
        let not_stored = |action| Published {
            actions: vec![action],
            stored: false,
        };
        match self.append(draft, log) {
            Ok((Appended::Stored, seq, frame)) => {
                let except = (!echo).then(|| from.connection_id.to_owned());
                let event = self.message_event(&draft, seq);
                let mut actions = vec![
                    Action::send(Recipients::AllExcept(except), frame),
                    Action::send(me(), ServerFrame::Ack { id, seq }.to_json()),
                ];
                actions.extend(event);
                Published {
                    actions,
                    stored: true,
                }
            }
            Ok((Appended::Duplicate(original), _, _)) => {
                let ack = ServerFrame::Ack { id, seq: original };
                not_stored(Action::send(me(), ack.to_json()))
            }
            Err(e) => {
                let detail = format!("a publish could not be stored and was not sent: {e}");
                not_stored(Action::internal_error(from.connection_id, id, detail))
            }
        }
    }

    /// `POST /rooms/{room}/messages`: a server message to the room, stored in the log like any
    /// other, optionally leaving out one connection.
    pub fn server_publish(
        &self,
        data: &RawValue,
        exclude: Option<String>,
        now_ms: u64,
        log: &mut dyn MessageLog,
    ) -> Result<ServerPost, LogError> {
        let draft = Draft {
            from: Sender::Server,
            user_id: None,
            id: None,
            data,
            ts: now_ms,
        };
        let (_, seq, frame) = self.append(draft, log)?;
        let to = Recipients::AllExcept(exclude);
        let delivered = self.resolve(&to).count();
        Ok(ServerPost {
            webhook: self.message_event(&draft, seq),
            send: Action::send(to, frame),
            delivered,
            seq,
        })
    }

    /// The `message` webhook event of a stored message (client publish or server post), from
    /// its draft: the frame is never parsed back.
    fn message_event(&self, d: &Draft<'_>, seq: u64) -> Option<Action> {
        use crate::webhooks::{Event, EventType, MessageFields};
        self.webhook(EventType::Message, || {
            let fields = MessageFields {
                seq,
                from: d.from,
                data: d.data,
                client_id: d.id,
            };
            Event::message(d.ts, &fields)
        })
    }

    /// Builds the `message` frame with the next seq and appends it: what happened, the seq it
    /// was given, and the frame.
    fn append(
        &self,
        d: Draft<'_>,
        log: &mut dyn MessageLog,
    ) -> Result<(Appended, u64, String), LogError> {
        let seq = log.last_seq() + 1;
        let frame = ServerFrame::Message {
            room: &self.name,
            from: d.from,
            data: d.data,
            id: d.id,
            ts: d.ts,
            seq,
        }
        .to_json();
        let appended = log.append(LogEntry {
            seq,
            ts: d.ts,
            user_id: d.user_id,
            client_id: d.id,
            frame: &frame,
            target: None,
        })?;
        Ok((appended, seq, frame))
    }
}

#[cfg(test)]
mod tests {
    use crate::room::log::message_log::MemoryLog;
    use crate::room::test_support::*;
    use crate::room::*;
    use serde_json::value::RawValue;
    use serde_json::Value;

    #[test]
    fn publish_reaches_everyone_and_echo_false_excludes_only_the_sender() {
        let mut r = room();
        open(&mut r, "a1", "alice");
        open(&mut r, "a2", "alice");
        open(&mut r, "b1", "bob");
        let d = send(
            &mut r,
            "a1",
            r#"{"type":"publish","data":{"t":"hi"},"id":"m1"}"#,
        );
        assert_eq!(
            d.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            ["a1", "a2", "b1"]
        );
        let m = &d[0].1;
        assert_eq!(m["type"], "message");
        assert_eq!(m["room"], "lobby");
        assert_eq!(
            m["from"],
            serde_json::json!({"user_id":"alice","connection_id":"a1"})
        );
        assert_eq!(m["data"], serde_json::json!({"t":"hi"}));
        assert_eq!(m["id"], "m1");
        assert_eq!(m["ts"], 1_000);

        let d = send(&mut r, "a1", r#"{"type":"publish","data":1,"echo":false}"#);
        assert_eq!(
            d.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            ["a2", "b1"]
        );
    }

    #[test]
    fn server_posts_and_deliveries_count_their_recipients() {
        let mut r = room();
        open(&mut r, "a1", "alice");
        open(&mut r, "b1", "bob");
        open(&mut r, "b2", "bob");
        let data = RawValue::from_string("{\"n\":1}".into()).unwrap();
        let mut log = MemoryLog::default();
        let ServerPost {
            send: act,
            delivered: n,
            seq,
            ..
        } = r
            .server_publish(&data, Some("b1".into()), 7, &mut log)
            .unwrap();
        assert_eq!((seq, log.last), (1, 1));
        assert_eq!(n, 2);
        let d = deliveries(&r, &[act]);
        assert_eq!(
            d.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            ["a1", "b2"]
        );
        assert_eq!(d[0].1["from"], serde_json::json!({"server": true}));
        assert_eq!(d[0].1["ts"], 7);
        assert_eq!(d[0].1["seq"], 1);
        assert!(d[0].1.get("id").is_none());
        assert_eq!(r.deliver_to_user("bob", "x".into()).delivered, 2);
        assert_eq!(r.deliver_to_user("zed", "x".into()).delivered, 0);
        assert_eq!(r.deliver_to_connection("a1", "x".into()).delivered, 1);
        assert_eq!(r.deliver_to_connection("a9", "x".into()).delivered, 0);
        let info: Value = serde_json::from_str(&r.info_json()).unwrap();
        assert_eq!(
            info,
            serde_json::json!({"room":"lobby","connections":3,"users":[{"user_id":"alice","connections":1},{"user_id":"bob","connections":2}]})
        );
    }

    #[test]
    fn publishes_are_stored_with_gapless_seqs_and_acked() {
        let mut r = room();
        let mut log = MemoryLog::default();
        open(&mut r, "a1", "alice");
        open(&mut r, "b1", "bob");
        let d = send_logged(
            &mut r,
            &mut log,
            "a1",
            r#"{"type":"publish","data":1,"id":"m1"}"#,
        );
        assert_eq!(d.len(), 3, "two messages and one ack");
        assert!(d
            .iter()
            .filter(|x| x.1["type"] == "message")
            .all(|x| x.1["seq"] == 1));
        let ack = d.iter().find(|x| x.1["type"] == "ack").unwrap();
        assert_eq!(
            (ack.0.as_str(), &ack.1),
            ("a1", &serde_json::json!({"type":"ack","id":"m1","seq":1}))
        );
        let d = send_logged(
            &mut r,
            &mut log,
            "b1",
            r#"{"type":"publish","data":2,"echo":false}"#,
        );
        assert_eq!(d.iter().filter(|x| x.1["type"] == "message").count(), 1);
        assert_eq!(
            d.iter().find(|x| x.1["type"] == "ack").unwrap().1,
            serde_json::json!({"type":"ack","seq":2})
        );
        assert_eq!(log.rows.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2]);
        let stored: Value = serde_json::from_str(&log.rows[0].3).unwrap();
        assert_eq!(stored["data"], 1);
        assert_eq!(stored["seq"], 1);
    }

    #[test]
    fn a_retried_id_is_acked_with_its_original_seq_and_not_rebroadcast() {
        let mut r = room();
        let mut log = MemoryLog::default();
        open(&mut r, "a1", "alice");
        open(&mut r, "a2", "alice");
        open(&mut r, "b1", "bob");
        send_logged(
            &mut r,
            &mut log,
            "a1",
            r#"{"type":"publish","data":"x","id":"same"}"#,
        );
        send_logged(
            &mut r,
            &mut log,
            "b1",
            r#"{"type":"publish","data":"y","id":"same"}"#,
        );
        // alice retries from another tab: same user, same id.
        let d = send_logged(
            &mut r,
            &mut log,
            "a2",
            r#"{"type":"publish","data":"x","id":"same"}"#,
        );
        assert_eq!(
            d,
            vec![(
                "a2".into(),
                serde_json::json!({"type":"ack","id":"same","seq":1})
            )]
        );
        assert_eq!(log.rows.len(), 2, "bob's equal id is a different message");
    }

    #[test]
    fn a_failed_write_broadcasts_nothing() {
        let mut r = room();
        let mut log = MemoryLog {
            fail: true,
            ..MemoryLog::default()
        };
        open(&mut r, "a1", "alice");
        open(&mut r, "b1", "bob");
        let frame = r#"{"type":"publish","data":1,"id":"z"}"#;
        let acts = r.receive("a1", Incoming::Text(frame), 1_000, &mut log);
        match &acts[..] {
            [Action::InternalError {
                connection_id,
                id,
                detail,
            }] => {
                assert_eq!((connection_id.as_str(), id.as_deref()), ("a1", Some("z")));
                assert!(detail.contains("disk on fire"), "the detail is for the log");
            }
            other => panic!("{other:?}"),
        }
    }
}
