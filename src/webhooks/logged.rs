//! The events of the room's log as webhook events: a `message` (client publish or server
//! post) and the `edit`, `delete` and `react` events about a message.
//!
//! A log event carries the frame's own fields **flat**, exactly as the log and the history API
//! hold them — `seq`, `from`, `data`, and `target`, `emoji`, `on` where the frame has them —
//! with one rename: the frame's `id` (the one its client gave it, the idempotency key its ack
//! answered) becomes `client_id`, because an event's `id` is the receiver's deduplication key
//! and must be unique (two clients may publish the same `id`). The frame's `type`, `room` and
//! `ts` are the event's own common fields, with the same values.

use super::{Event, EventType};
use crate::protocol::Sender;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

/// The fields of a log frame, read without re-encoding any of them.
#[derive(Deserialize, Serialize)]
struct LoggedFields<'a> {
    seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<u64>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    emoji: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    on: Option<bool>,
    #[serde(borrow)]
    from: &'a RawValue,
    /// `Some` whenever the frame has `data`, `null` included (`Option<&RawValue>` alone would
    /// read a `null` as absent).
    #[serde(
        borrow,
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    data: Option<&'a RawValue>,
    #[serde(
        borrow,
        rename(deserialize = "id", serialize = "client_id"),
        skip_serializing_if = "Option::is_none"
    )]
    client_id: Option<&'a RawValue>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// A message's event fields, from the parts its frame was made of: the same fields as
/// [`Event::logged`] reads from the frame, without parsing the frame back (a publish is the hot
/// path).
#[derive(Serialize)]
pub struct MessageFields<'a> {
    pub seq: u64,
    pub from: Sender<'a>,
    pub data: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<&'a str>,
}

impl Event {
    /// A stored message's event, at its `ts`.
    pub fn message(ts: u64, fields: &MessageFields<'_>) -> Event {
        Event::with_fields(EventType::Message, Some(ts), fields).carrying_data_of(Some(fields.seq))
    }

    /// The event of a frame the room's log just stored (`event_type`: `Message`, `Edit`,
    /// `Delete` or `React`), at the frame's own `ts`. `None` if `frame` is not a log frame —
    /// the room builds these frames itself, so that would be a defect, never a client's doing.
    pub fn logged(event_type: EventType, ts: u64, frame: &str) -> Option<Event> {
        let fields: LoggedFields<'_> = serde_json::from_str(frame).ok()?;
        let data_of = match event_type {
            EventType::Message => Some(fields.seq),
            EventType::Edit => fields.target,
            _ => None,
        };
        Some(Event::with_fields(event_type, Some(ts), &fields).carrying_data_of(data_of))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn event(t: EventType, frame: &str) -> Value {
        let e = Event::logged(t, 5, frame).expect("a log frame");
        serde_json::from_str(&e.to_json("e-1", Some("lobby"), 77)).unwrap()
    }

    #[test]
    fn a_message_carries_its_log_fields_flat_with_its_id_as_client_id() {
        let frame = r#"{"type":"message","room":"lobby","from":{"user_id":"a","connection_id":"lobby.1"},"data":{"x":[1,"é\n"]},"id":"m\"1","ts":5,"seq":9}"#;
        assert_eq!(
            event(EventType::Message, frame),
            json!({"id":"e-1","type":"message","ts":5,"room":"lobby","seq":9,
                   "from":{"user_id":"a","connection_id":"lobby.1"},
                   "data":{"x":[1,"é\n"]},"client_id":"m\"1"})
        );
        let post = r#"{"type":"message","room":"lobby","from":{"server":true},"data":null,"ts":5,"seq":10}"#;
        assert_eq!(
            event(EventType::Message, post),
            json!({"id":"e-1","type":"message","ts":5,"room":"lobby","seq":10,
                   "from":{"server":true},"data":null}),
            "null data is kept, an absent id stays absent"
        );
    }

    #[test]
    fn a_message_built_from_its_parts_is_the_event_read_from_its_frame() {
        let data = RawValue::from_string(r#"{"x":[1,"é\n"]}"#.into()).unwrap();
        let from = Sender::Client {
            user_id: "a",
            connection_id: "lobby.1",
        };
        for id in [Some("m\"1"), None] {
            let frame = crate::protocol::ServerFrame::Message {
                room: "lobby",
                from,
                data: &data,
                id,
                ts: 5,
                seq: 9,
            }
            .to_json();
            let fields = MessageFields {
                seq: 9,
                from,
                data: &data,
                client_id: id,
            };
            let built = Event::message(5, &fields).to_json("e", Some("lobby"), 7);
            let read = Event::logged(EventType::Message, 5, &frame).unwrap();
            assert_eq!(built, read.to_json("e", Some("lobby"), 7));
        }
    }

    #[test]
    fn edits_deletions_and_reactions_carry_their_target() {
        let edit = r#"{"type":"edit","seq":11,"target":9,"from":{"server":true},"data":"new","id":"e","ts":5}"#;
        let data_of = |t, f| Event::logged(t, 5, f).and_then(|e| e.data_of);
        assert_eq!(
            data_of(EventType::Edit, edit),
            Some(9),
            "an edit carries its target's data"
        );
        assert_eq!(
            event(EventType::Edit, edit),
            json!({"id":"e-1","type":"edit","ts":5,"room":"lobby","seq":11,"target":9,
                   "from":{"server":true},"data":"new","client_id":"e"})
        );
        let delete = r#"{"type":"delete","seq":12,"target":9,"from":{"server":true},"ts":5}"#;
        assert_eq!(
            event(EventType::Delete, delete),
            json!({"id":"e-1","type":"delete","ts":5,"room":"lobby","seq":12,"target":9,
                   "from":{"server":true}})
        );
        let react = r#"{"type":"react","seq":13,"target":9,"emoji":"👍","on":false,"from":{"server":true},"ts":5}"#;
        assert_eq!(
            event(EventType::React, react),
            json!({"id":"e-1","type":"react","ts":5,"room":"lobby","seq":13,"target":9,
                   "emoji":"👍","on":false,"from":{"server":true}})
        );
    }

    #[test]
    fn anything_else_is_no_event() {
        assert!(Event::logged(EventType::Message, 1, "junk").is_none());
        assert!(Event::logged(EventType::Message, 1, r#"{"type":"ack","seq":1}"#).is_none());
    }
}
