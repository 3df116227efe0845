//! What a fan-out object sends its room: its sockets' frames and closes, in arrival order.

use serde::{Deserialize, Serialize};

/// One event of a fan-out object's socket, as the room must see it. Sizes are checked by the
/// fan-out object with the room's limit, so an oversize frame crosses as its length only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Inbound {
    /// A text frame.
    Text { c: String, text: String },
    /// A binary frame (refused by the room, in order with the rest).
    Binary { c: String },
    /// A text frame over `MAX_MESSAGE_BYTES` (refused by the room; its content is not kept).
    TooLarge { c: String, len: usize },
    /// The client closed the socket, or it failed.
    Closed { c: String },
    /// The object does not hold the connection (it restarted, and its sockets died with it
    /// without a close): the room may hold the user's presence ([`crate::room::holds`]).
    Lost { c: String },
}

impl Inbound {
    /// The connection it came from.
    pub fn connection(&self) -> &str {
        match self {
            Inbound::Text { c, .. }
            | Inbound::Binary { c }
            | Inbound::TooLarge { c, .. }
            | Inbound::Closed { c }
            | Inbound::Lost { c } => c,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip_as_tagged_json() {
        let items = vec![
            Inbound::Text {
                c: "r.1".into(),
                text: r#"{"type":"message"}"#.into(),
            },
            Inbound::Binary { c: "r.2".into() },
            Inbound::TooLarge {
                c: "r.3".into(),
                len: 9,
            },
            Inbound::Closed { c: "r.4".into() },
            Inbound::Lost { c: "r.5".into() },
        ];
        let json = serde_json::to_string(&items).unwrap();
        assert!(json.starts_with(r#"[{"k":"text","c":"r.1""#), "{json}");
        let back: Vec<Inbound> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, items);
        let from: Vec<&str> = back.iter().map(Inbound::connection).collect();
        assert_eq!(from, ["r.1", "r.2", "r.3", "r.4", "r.5"]);
    }
}
