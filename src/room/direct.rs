//! `direct` frames and the deliveries other objects ask of the room: messages to one
//! connection or to every connection of one user, never stored.

use super::{Action, Author, Recipients, Room};
use crate::common::connection_id::room_of;
use crate::common::error::ErrorCode;
use crate::protocol::{error_frame, Sender, ServerFrame, Target};
use serde_json::value::RawValue;

/// What a delivery asked of the room by another object did.
#[derive(Debug)]
pub struct LocalDelivery {
    /// The send to carry out.
    pub send: Action,
    /// How many connections it reaches (0: none here).
    pub delivered: usize,
}

impl<H> Room<H> {
    /// A client's `direct`: delivered here when the target connection is here; anything else
    /// is forwarded — to the user's registry (which knows every room of the user, this one
    /// included, and delivers to each exactly once) or to the room of the target connection.
    ///
    /// A connection whose token lists rooms reaches only connections in those rooms
    /// (`forbidden` otherwise), and a user's connections only in those rooms (the registry
    /// filters; none there is `not_found`, which says nothing about the user's other rooms).
    pub(super) fn direct(
        &mut self,
        from: Author<'_>,
        to: Target,
        data: &RawValue,
        id: Option<String>,
        now_ms: u64,
    ) -> Vec<Action> {
        let me = || Recipients::One(from.connection_id.to_owned());
        let refuse = |code, message| {
            vec![Action::send(
                me(),
                error_frame(code, message, id.as_deref()),
            )]
        };
        if !self.take_direct_token(from.user_id, now_ms) {
            return refuse(ErrorCode::RateLimited, "too many directs; slow down");
        }
        let allowed = self
            .index
            .get(from.connection_id)
            .and_then(|c| c.handle.rooms.clone());
        if let (Target::Connection(c), Some(rooms)) = (&to, &allowed) {
            if !self.connection_in(c, rooms) {
                let message = "the token's `rooms` claim does not include that connection's room";
                return refuse(ErrorCode::Forbidden, message);
            }
        }
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
                vec![Action::Forward {
                    to,
                    frame,
                    id,
                    rooms: None,
                    from: from.user_id.to_owned(),
                }]
            }
            Target::Connection(_) => refuse(ErrorCode::NotFound, "no such connection"),
            Target::User(u) => vec![Action::Forward {
                to: Target::User(u),
                frame,
                id,
                rooms: allowed,
                from: from.user_id.to_owned(),
            }],
        }
    }

    /// Whether connection `c` is in one of `rooms`. (A connection here is in this room,
    /// whatever its id looks like.)
    fn connection_in(&self, c: &str, rooms: &[String]) -> bool {
        let room = match self.index.get(c) {
            Some(_) => Some(self.name.as_str()),
            None => room_of(c),
        };
        room.is_some_and(|r| rooms.iter().any(|a| a == r))
    }

    /// Takes a token from the user's `direct` bucket (`DIRECT_RATE_*`), shared by their
    /// connections here.
    fn take_direct_token(&mut self, user: &str, now_ms: u64) -> bool {
        let limit = &self.config.direct_rate;
        self.buckets
            .get_mut(user)
            .is_some_and(|b| b.directs.take(limit.burst, limit.per_second, now_ms as f64))
    }

    /// A ready-made frame for every connection of `user_id` here (from the registry).
    pub fn deliver_to_user(&self, user_id: &str, frame: String) -> LocalDelivery {
        self.deliver(Recipients::User(user_id.to_owned()), frame)
    }

    /// A ready-made frame for one connection here (from another room or the server API).
    pub fn deliver_to_connection(&self, connection_id: &str, frame: String) -> LocalDelivery {
        self.deliver(Recipients::One(connection_id.to_owned()), frame)
    }

    fn deliver(&self, to: Recipients, frame: String) -> LocalDelivery {
        let delivered = self.resolve(&to).count();
        LocalDelivery {
            send: Action::send(to, frame),
            delivered,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::Target;
    use crate::room::log::message_log::MemoryLog;
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

    fn join_with_rooms(r: &mut Room<String>, cid: &str, user: &str, rooms: Option<Vec<String>>) {
        let j = Joining {
            connection_id: cid,
            user_id: user,
            handle: cid.to_owned(),
            session: Default::default(),
            rooms,
            since: None,
        };
        r.open(j, 0, &MemoryLog::default());
    }

    #[test]
    fn directs_honour_the_rooms_claim() {
        let mut r = room();
        join_with_rooms(
            &mut r,
            "a1",
            "alice",
            Some(vec!["lobby".into(), "ok".into()]),
        );
        join_with_rooms(&mut r, "b1", "bob", None);
        let to_conn = |c: &str| {
            format!(r#"{{"type":"direct","to":{{"connection_id":"{c}"}},"data":1,"id":"d"}}"#)
        };
        let d = send(&mut r, "a1", &to_conn("elsewhere.0123456789abcdef"));
        assert_eq!(
            (d[0].0.as_str(), &d[0].1["code"], &d[0].1["id"]),
            (
                "a1",
                &serde_json::json!("forbidden"),
                &serde_json::json!("d")
            )
        );
        let acts = r.receive(
            "a1",
            Incoming::Text(&to_conn("ok.0123456789abcdef")),
            0,
            &mut MemoryLog::default(),
        );
        assert!(
            matches!(&acts[..], [Action::Forward { .. }]),
            "an allowed room is forwarded"
        );
        assert_eq!(
            send(&mut r, "a1", &to_conn("b1"))[0].0,
            "b1",
            "this room is in the claim"
        );
        let to_user = r#"{"type":"direct","to":{"user_id":"carol"},"data":1}"#;
        let acts = r.receive("a1", Incoming::Text(to_user), 0, &mut MemoryLog::default());
        assert!(
            matches!(&acts[..], [Action::Forward { rooms: Some(rooms), .. }] if rooms == &["lobby", "ok"])
        );
        let acts = r.receive("b1", Incoming::Text(to_user), 0, &mut MemoryLog::default());
        assert!(
            matches!(&acts[..], [Action::Forward { rooms: None, .. }]),
            "no claim, no filter"
        );
    }

    #[test]
    fn directs_have_their_own_bucket_per_user() {
        let mut r = room();
        join_with_rooms(&mut r, "a1", "alice", None);
        join_with_rooms(&mut r, "a2", "alice", None);
        join_with_rooms(&mut r, "b1", "bob", None);
        let direct = |n: usize| {
            format!(r#"{{"type":"direct","to":{{"connection_id":"b1"}},"data":{n},"id":"d{n}"}}"#)
        };
        let mut delivered = 0;
        let mut limited = Vec::new();
        for n in 0..30 {
            let from = if n % 2 == 0 { "a1" } else { "a2" };
            for (c, v) in send(&mut r, from, &direct(n)) {
                match (c.as_str(), v["type"].as_str().unwrap()) {
                    ("b1", "direct") => delivered += 1,
                    (_, "error") if v["code"] == "rate_limited" => {
                        limited.push(v["id"].as_str().unwrap().to_owned())
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
        assert_eq!(
            delivered, 20,
            "DIRECT_RATE_BURST, across both of alice's sockets"
        );
        assert_eq!(limited.len(), 10);
        assert_eq!(limited[0], "d20");
        // Publishes use the other bucket.
        assert_eq!(
            send(&mut r, "a1", r#"{"type":"publish","data":1}"#).len(),
            3
        );
        assert_eq!(
            send(&mut r, "b1", &direct(99).replace("b1", "a1")).len(),
            1,
            "bob's bucket is his own"
        );
    }
}
