//! What a webhook event is: its type, the kind `WEBHOOK_EVENTS` selects it by, and its JSON.
//!
//! Every event is one JSON object: `id` (unique, the receiver's deduplication key, stable
//! across retries), `type`, `ts` (unix ms) and `room` (`null` where no room is involved), then
//! the fields of its type. The log's frames (`message`, `edit`, `delete`, `react`) lend the
//! event their fields ([`super::logged`]); an undelivered `direct` is carried inside the event
//! exactly as the user would have got it. Nothing is re-encoded.

use crate::protocol::PresenceEvent;
use serde::Serialize;

/// The names `WEBHOOK_EVENTS` selects by. Every [`EventType`] belongs to one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Message,
    Presence,
    Occupancy,
    Moderation,
    DirectUndelivered,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::Message,
        EventKind::Presence,
        EventKind::Occupancy,
        EventKind::Moderation,
        EventKind::DirectUndelivered,
    ];

    /// The name in `WEBHOOK_EVENTS`.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Message => "message",
            EventKind::Presence => "presence",
            EventKind::Occupancy => "occupancy",
            EventKind::Moderation => "moderation",
            EventKind::DirectUndelivered => "direct_undelivered",
        }
    }

    pub fn parse(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of [`EventKind`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Kinds(u8);

impl Kinds {
    /// `message,occupancy,direct_undelivered`: what a backend needs to mirror the log, know
    /// which rooms are live, and send push notifications — without per-user presence traffic.
    pub const DEFAULT: Kinds = Kinds(
        (1 << EventKind::Message as u8)
            | (1 << EventKind::Occupancy as u8)
            | (1 << EventKind::DirectUndelivered as u8),
    );

    pub fn of(kinds: &[EventKind]) -> Kinds {
        Kinds(kinds.iter().fold(0, |bits, k| bits | k.bit()))
    }

    pub fn contains(self, kind: EventKind) -> bool {
        self.0 & kind.bit() != 0
    }

    /// A comma list of kind names (spaces allowed); `None` when a name is unknown or the list
    /// names nothing.
    pub fn parse(list: &str) -> Option<Kinds> {
        let mut bits = 0;
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            bits |= EventKind::parse(name)?.bit();
        }
        (bits != 0).then_some(Kinds(bits))
    }
}

/// Declares [`EventType`]: one line per type — its variant, its `type` name, its kind.
macro_rules! event_types {
    ($($variant:ident => $name:literal, $kind:ident;)*) => {
        /// An event's `type`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum EventType {
            $($variant),*
        }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),*];

            /// The `type` field.
            pub fn name(self) -> &'static str {
                match self {
                    $(EventType::$variant => $name),*
                }
            }

            /// The `WEBHOOK_EVENTS` kind that selects it.
            pub fn kind(self) -> EventKind {
                match self {
                    $(EventType::$variant => EventKind::$kind),*
                }
            }
        }
    };
}

// Adding an event type is one line here, plus its constructor.
event_types! {
    Message => "message", Message;
    Edit => "edit", Message;
    Delete => "delete", Message;
    React => "react", Message;
    Presence => "presence", Presence;
    RoomOccupied => "room_occupied", Occupancy;
    RoomVacated => "room_vacated", Occupancy;
    Moderation => "moderation", Moderation;
    DirectUndelivered => "direct_undelivered", DirectUndelivered;
}

/// What an operator did, in a `moderation` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModerationAction {
    Kick,
    Ban,
    Unban,
    Disconnect,
    Revoke,
}

/// The fields of a `moderation` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModerationEvent<'a> {
    pub action: ModerationAction,
    pub user_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<&'a str>,
    /// The operator's reason, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    /// A ban's end (unix ms; `null`: until unbanned). Bans only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Option<u64>>,
    /// A revocation's cut-off (unix s). Revocations only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
    /// Connections this room closed.
    pub closed: usize,
}

/// One event before it is recorded: its type, its own time when it has one (a message's
/// `ts`; otherwise the time it is recorded), and its type's fields as JSON object members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub event_type: EventType,
    pub ts: Option<u64>,
    /// `"a":1,"b":2` — members of the event object, after the common ones.
    fields: String,
    /// The seq of the message whose data this event carries (a `message`, an `edit`): the
    /// outbox indexes it, so that the message's deletion finds it without reading events.
    pub data_of: Option<u64>,
}

/// The members of a serialised object, without its braces.
fn members(value: &impl Serialize) -> String {
    let text = serde_json::to_string(value).unwrap_or_default();
    match text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        Some(inner) => inner.to_owned(),
        None => String::new(),
    }
}

impl Event {
    /// An event of `event_type` with the fields of `fields` (a struct or map serialising to a
    /// JSON object).
    pub fn with_fields(event_type: EventType, ts: Option<u64>, fields: &impl Serialize) -> Self {
        Event {
            event_type,
            ts,
            fields: members(fields),
            data_of: None,
        }
    }

    /// The event, noting that it carries the data of message `seq`.
    pub fn carrying_data_of(self, seq: Option<u64>) -> Self {
        Event {
            data_of: seq,
            ..self
        }
    }

    /// A user's first connection to the room opened (`join`), or their last closed (`leave`).
    pub fn presence(event: PresenceEvent, user_id: &str) -> Self {
        let fields = serde_json::json!({ "event": event, "user_id": user_id });
        Event::with_fields(EventType::Presence, None, &fields)
    }

    /// The room got its first connection (`true`) or lost its last.
    pub fn occupancy(occupied: bool) -> Self {
        let event_type = match occupied {
            true => EventType::RoomOccupied,
            false => EventType::RoomVacated,
        };
        Event {
            event_type,
            ts: None,
            fields: String::new(),
            data_of: None,
        }
    }

    pub fn moderation(m: &ModerationEvent<'_>) -> Self {
        Event::with_fields(EventType::Moderation, None, m)
    }

    /// A `direct` (its frame as the user would have got it) to a user with no connection.
    pub fn direct_undelivered(user_id: &str, frame: &str) -> Self {
        let user = serde_json::to_string(user_id).unwrap_or_default();
        Event {
            event_type: EventType::DirectUndelivered,
            ts: None,
            fields: format!(r#""user_id":{user},"direct":{frame}"#),
            data_of: None,
        }
    }

    /// The event's JSON, as recorded and delivered: `id`, `type`, `ts` (its own, else
    /// `now_ms`), `room`, then its fields.
    pub fn to_json(&self, id: &str, room: Option<&str>, now_ms: u64) -> String {
        let text = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let room = room.map_or_else(|| "null".to_owned(), text);
        let mut out = format!(
            r#"{{"id":{},"type":"{}","ts":{},"room":{room}"#,
            text(id),
            self.event_type.name(),
            self.ts.unwrap_or(now_ms),
        );
        if !self.fields.is_empty() {
            out.push(',');
            out.push_str(&self.fields);
        }
        out.push('}');
        out
    }
}

/// The room of the connection that sent a `direct` frame (`None` for the server's).
pub fn direct_sender_room(frame: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct From<'a> {
        #[serde(borrow)]
        connection_id: Option<&'a str>,
    }
    #[derive(serde::Deserialize)]
    struct Direct<'a> {
        #[serde(borrow)]
        from: From<'a>,
    }
    let direct: Direct<'_> = serde_json::from_str(frame).ok()?;
    crate::common::connection_id::room_of(direct.from.connection_id?).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn the_room_of_a_direct_is_its_senders() {
        let client = r#"{"type":"direct","from":{"user_id":"a","connection_id":"lobby.0123456789abcdef"},"data":1}"#;
        assert_eq!(direct_sender_room(client).as_deref(), Some("lobby"));
        let server = r#"{"type":"direct","from":{"server":true},"data":1}"#;
        assert_eq!(direct_sender_room(server), None);
        assert_eq!(direct_sender_room("junk"), None);
    }

    fn parsed(e: &Event, room: Option<&str>) -> Value {
        serde_json::from_str(&e.to_json("e-1", room, 77)).unwrap()
    }

    #[test]
    fn kinds_parse_from_a_comma_list_and_refuse_unknown_names() {
        let k = Kinds::parse(" message , presence").unwrap();
        assert!(k.contains(EventKind::Message) && k.contains(EventKind::Presence));
        assert!(!k.contains(EventKind::Occupancy));
        assert_eq!(Kinds::parse("message,typo"), None);
        assert_eq!(Kinds::parse(" , "), None);
        let all = EventKind::ALL.map(EventKind::name).join(",");
        assert_eq!(Kinds::parse(&all), Some(Kinds::of(&EventKind::ALL)));
        assert_eq!(
            Kinds::parse("message,occupancy,direct_undelivered"),
            Some(Kinds::DEFAULT)
        );
    }

    #[test]
    fn every_type_has_a_distinct_name_and_a_kind() {
        let mut names: Vec<&str> = EventType::ALL.iter().map(|t| t.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EventType::ALL.len());
        for kind in EventKind::ALL {
            assert!(EventType::ALL.iter().any(|t| t.kind() == kind), "{kind:?}");
        }
    }

    #[test]
    fn the_other_events_have_their_fields() {
        let p = parsed(&Event::presence(PresenceEvent::Leave, "b\"ob"), Some("r"));
        assert_eq!(
            p,
            json!({"id":"e-1","type":"presence","ts":77,"room":"r","event":"leave","user_id":"b\"ob"})
        );
        let o = parsed(&Event::occupancy(true), Some("r"));
        assert_eq!(
            o,
            json!({"id":"e-1","type":"room_occupied","ts":77,"room":"r"})
        );
        assert_eq!(
            parsed(&Event::occupancy(false), Some("r"))["type"],
            "room_vacated"
        );
        let ban = ModerationEvent {
            action: ModerationAction::Ban,
            user_id: "eve",
            connection_id: None,
            reason: Some("spam"),
            until: Some(None),
            before: None,
            closed: 2,
        };
        let m = parsed(&Event::moderation(&ban), Some("r"));
        assert_eq!(
            m,
            json!({"id":"e-1","type":"moderation","ts":77,"room":"r","action":"ban",
                   "user_id":"eve","reason":"spam","until":null,"closed":2})
        );
        let frame = r#"{"type":"direct","from":{"server":true},"data":"hi"}"#;
        let d = parsed(&Event::direct_undelivered("bob", frame), None);
        assert_eq!(
            d,
            json!({"id":"e-1","type":"direct_undelivered","ts":77,"room":null,"user_id":"bob",
                   "direct":{"type":"direct","from":{"server":true},"data":"hi"}})
        );
    }
}
