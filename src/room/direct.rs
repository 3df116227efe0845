//! `direct` frames and the deliveries other objects ask of the room: messages to one
//! connection or to every connection of one user, never stored.

use super::{Action, Author, Recipients, Room};
use crate::connection_id::room_of;
use crate::error::ErrorCode;
use crate::protocol::{error_frame, Sender, ServerFrame, Target};
use serde_json::value::RawValue;

/// What a delivery asked of the room by another object did.
#[derive(Debug)]
pub struct Delivery {
    /// The send to carry out.
    pub send: Action,
    /// How many connections it reaches (0: none here).
    pub delivered: usize,
}

impl<H> Room<H> {
    /// A client's `direct`: delivered here when the target connection is here; anything else
    /// is forwarded — to the user's registry (which knows every room of the user, this one
    /// included, and delivers to each exactly once) or to the room of the target connection.
    pub(super) fn direct(
        &self,
        from: Author<'_>,
        to: Target,
        data: &RawValue,
        id: Option<String>,
    ) -> Vec<Action> {
        let frame = ServerFrame::Direct {
            from: Sender::Client {
                user_id: from.user_id,
                connection_id: from.connection_id,
            },
            data,
        }
        .to_json();
        match to {
            Target::Connection(c) if self.index.get(&c).is_some() => {
                vec![Action::send(Recipients::One(c), frame)]
            }
            Target::Connection(c) if room_of(&c).is_some_and(|r| r != self.name) => {
                let to = Target::Connection(c);
                vec![Action::Forward { to, frame, id }]
            }
            Target::Connection(_) => {
                let me = Recipients::One(from.connection_id.to_owned());
                let error = error_frame(ErrorCode::NotFound, "no such connection", id.as_deref());
                vec![Action::send(me, error)]
            }
            Target::User(u) => vec![Action::Forward {
                to: Target::User(u),
                frame,
                id,
            }],
        }
    }

    /// A ready-made frame for every connection of `user_id` here (from the registry).
    pub fn deliver_to_user(&self, user_id: &str, frame: String) -> Delivery {
        self.deliver(Recipients::User(user_id.to_owned()), frame)
    }

    /// A ready-made frame for one connection here (from another room or the server API).
    pub fn deliver_to_connection(&self, connection_id: &str, frame: String) -> Delivery {
        self.deliver(Recipients::One(connection_id.to_owned()), frame)
    }

    fn deliver(&self, to: Recipients, frame: String) -> Delivery {
        let delivered = self.resolve(&to).count();
        Delivery {
            send: Action::send(to, frame),
            delivered,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::message_log::MemoryLog;
    use crate::protocol::Target;
    use crate::room::test_support::*;
    use crate::room::*;

    #[test]
    fn direct_reaches_exactly_the_target_or_says_not_found() {
        let mut r = room();
        open(&mut r, "a1", "alice");
        open(&mut r, "b1", "bob");
        open(&mut r, "b2", "bob");
        let d = send(
            &mut r,
            "a1",
            r#"{"type":"direct","to":{"connection_id":"b2"},"data":"psst"}"#,
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].0, "b2");
        assert_eq!(
            d[0].1,
            serde_json::json!({"type":"direct","from":{"user_id":"alice","connection_id":"a1"},"data":"psst"})
        );

        let acts = r.receive(
            "a1",
            Incoming::Text(r#"{"type":"direct","to":{"user_id":"bob"},"data":1,"id":"u"}"#),
            0,
            &mut MemoryLog::default(),
        );
        assert!(
            matches!(&acts[..], [Action::Forward { to: Target::User(u), id: Some(i), .. }] if u == "bob" && i == "u"),
            "a direct to a user always goes through the registry"
        );
        let other_room =
            r#"{"type":"direct","to":{"connection_id":"elsewhere.0123456789abcdef"},"data":1}"#;
        let acts = r.receive(
            "a1",
            Incoming::Text(other_room),
            0,
            &mut MemoryLog::default(),
        );
        assert!(
            matches!(&acts[..], [Action::Forward { to: Target::Connection(c), .. }] if c.starts_with("elsewhere."))
        );

        let d = send(
            &mut r,
            "a1",
            r#"{"type":"direct","to":{"connection_id":"zz"},"data":1,"id":"q"}"#,
        );
        assert_eq!(d[0].0, "a1");
        assert_eq!(d[0].1["code"], "not_found");
        assert_eq!(d[0].1["id"], "q");
    }
}
