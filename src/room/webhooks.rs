//! The room's webhook events ([`crate::webhooks`]): each is an [`Action::Webhook`] returned
//! with the actions of the step that caused it, so the shell records it in the same turn —
//! the same commit — as the message, the connection or the ban it describes. Nothing is built
//! unless `WEBHOOK_URL` is set and `WEBHOOK_EVENTS` selects the event's kind.

use super::{Action, Removal, Room};
use crate::protocol::PresenceEvent;
use crate::webhooks::{Event, EventType, ModerationAction, ModerationEvent};

impl<H> Room<H> {
    /// `event()` as an action, when webhooks record events of `event_type`.
    pub(super) fn webhook(
        &self,
        event_type: EventType,
        event: impl FnOnce() -> Event,
    ) -> Option<Action> {
        self.config
            .webhooks
            .wants(event_type)
            .then(|| Action::Webhook(event()))
    }

    /// The event of a frame the log just stored: a `message`, `edit`, `delete` or `react`.
    pub(super) fn logged_event(
        &self,
        event_type: EventType,
        ts: u64,
        frame: &str,
    ) -> Option<Action> {
        self.config
            .webhooks
            .wants(event_type)
            .then(|| Event::logged(event_type, ts, frame))
            .flatten()
            .map(Action::Webhook)
    }

    /// A connection was added (`presence`: what adding it did to its user's presence):
    /// `room_occupied` for the room's first connection, then the user's `join`.
    pub(super) fn opened_events(
        &self,
        presence: Option<PresenceEvent>,
        user_id: &str,
    ) -> Vec<Action> {
        let Some(presence) = presence else {
            return Vec::new();
        };
        // The room's first connection, and nobody held across a restart (the room was
        // occupied all along, as far as the backend heard).
        let first = self.index.connection_count() == 1 && self.holds.is_empty();
        let occupied = first
            .then(|| self.webhook(EventType::RoomOccupied, || Event::occupancy(true)))
            .flatten();
        let join = self.webhook(EventType::Presence, || Event::presence(presence, user_id));
        occupied.into_iter().chain(join).collect()
    }

    /// A connection was removed: the user's `leave` if it was their last, then `room_vacated`
    /// if it was the room's last.
    pub(super) fn closed_events(
        &self,
        presence: Option<PresenceEvent>,
        user_id: &str,
    ) -> Vec<Action> {
        let leave = presence
            .and_then(|p| self.webhook(EventType::Presence, || Event::presence(p, user_id)));
        let vacated = self
            .is_unoccupied()
            .then(|| self.webhook(EventType::RoomVacated, || Event::occupancy(false)))
            .flatten();
        leave.into_iter().chain(vacated).collect()
    }

    /// An operator's call: its `moderation` event goes first, before the leaves and the
    /// vacancy its closes cause.
    pub(super) fn moderated(&self, mut removal: Removal, event: ModerationEvent<'_>) -> Removal {
        let event = ModerationEvent {
            closed: removal.closed,
            ..event
        };
        if let Some(action) = self.webhook(EventType::Moderation, || Event::moderation(&event)) {
            removal.actions.insert(0, action);
        }
        removal
    }

    /// A ban was lifted (`DELETE /rooms/{room}/bans/{user}` found one in force).
    pub fn unbanned(&self, user_id: &str) -> Vec<Action> {
        let event = ModerationEvent {
            action: ModerationAction::Unban,
            ..ModerationEvent::about(user_id)
        };
        self.webhook(EventType::Moderation, || Event::moderation(&event))
            .into_iter()
            .collect()
    }
}

impl<'a> ModerationEvent<'a> {
    /// A `kick` of `user_id` with nothing else said: the base the calls fill in.
    pub fn about(user_id: &'a str) -> Self {
        ModerationEvent {
            action: ModerationAction::Kick,
            user_id,
            connection_id: None,
            reason: None,
            until: None,
            before: None,
            closed: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::common::config::Config;
    use crate::room::log::message_log::MemoryLog;
    use crate::room::test_support::*;
    use crate::room::*;
    use crate::webhooks::{Event, Kinds, WebhookConfig};
    use serde_json::Value;

    fn hooked(kinds: Kinds) -> Room<String> {
        let webhooks = WebhookConfig {
            url: Some("https://backend.example/hooks".into()),
            kinds,
            ..WebhookConfig::default()
        };
        Room::new(
            "lobby",
            Config {
                webhooks,
                ..Config::default()
            },
        )
    }

    fn all() -> Room<String> {
        hooked(Kinds::of(&crate::webhooks::EventKind::ALL))
    }

    /// The events among `actions`, as (type, parsed JSON).
    fn events(actions: &[Action]) -> Vec<(String, Value)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Webhook(e) => Some(e),
                _ => None,
            })
            .map(|e: &Event| {
                let v: Value = serde_json::from_str(&e.to_json("id", Some("lobby"), 1)).unwrap();
                (v["type"].as_str().unwrap().to_owned(), v)
            })
            .collect()
    }

    fn types(actions: &[Action]) -> Vec<String> {
        events(actions).into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn occupancy_and_presence_follow_the_first_and_last_connections() {
        let mut r = all();
        assert_eq!(
            types(&open(&mut r, "a1", "alice")),
            ["room_occupied", "presence"]
        );
        assert_eq!(
            types(&open(&mut r, "a2", "alice")),
            Vec::<String>::new(),
            "a second tab"
        );
        let b = open(&mut r, "b1", "bob");
        assert_eq!(events(&b)[0].1["user_id"], "bob");
        assert_eq!(types(&r.close("a1").actions), Vec::<String>::new());
        let leave = r.close("a2").actions;
        assert_eq!(events(&leave)[0].1["event"], "leave");
        assert_eq!(types(&r.close("b1").actions), ["presence", "room_vacated"]);
        assert!(
            r.close("b1").actions.is_empty(),
            "closing twice says nothing"
        );
    }

    #[test]
    fn members_held_across_a_restart_keep_the_room_occupied() {
        let mut r = all();
        r.hold_presence("alice", 10_000);
        r.hold_presence("bob", 10_000);
        r.hold_presence("eve", 10_000);
        r.hold_presence("fay", 10_000);
        assert_eq!(
            types(&open(&mut r, "a1", "alice")),
            Vec::<String>::new(),
            "alice was never gone, and the room never empty"
        );
        let c = open(&mut r, "c1", "carol");
        assert_eq!(
            types(&c),
            ["presence"],
            "a stranger joins, the room already occupied"
        );
        assert_eq!(types(&r.close("a1").actions), ["presence"]);
        assert_eq!(
            types(&r.close("c1").actions),
            ["presence"],
            "bob still held"
        );
        let banned = r.kick("eve", None, None).actions;
        assert_eq!(
            types(&banned),
            ["moderation", "presence"],
            "a kick ends a hold"
        );
        let (ended, _) = r.holds_due(10_000);
        assert_eq!(
            types(&ended),
            ["presence", "presence", "room_vacated"],
            "vacated once"
        );
        assert_eq!(events(&ended)[0].1["event"], "leave");
    }

    #[test]
    fn a_stored_message_has_one_event_and_a_duplicate_none() {
        let mut r = all();
        let mut log = MemoryLog::default();
        open(&mut r, "a1", "alice");
        let text = r#"{"type":"publish","data":{"t":"hi"},"id":"m1"}"#;
        let first = r.receive("a1", Incoming::Text(text), 5, &mut log);
        let ev = events(&first);
        assert_eq!(ev.len(), 1);
        let (t, v) = &ev[0];
        assert_eq!(
            (t.as_str(), &v["seq"], &v["ts"]),
            ("message", &1.into(), &5.into())
        );
        assert_eq!(
            (&v["client_id"], &v["data"]["t"], &v["from"]["user_id"]),
            (&"m1".into(), &"hi".into(), &"alice".into())
        );
        let again = r.receive("a1", Incoming::Text(text), 6, &mut log);
        assert!(
            events(&again).is_empty(),
            "an idempotent retry is not a new message"
        );
        let data = serde_json::value::RawValue::from_string("7".into()).unwrap();
        let post = r.server_publish(&data, None, 9, &mut log).unwrap();
        let posted = events(&post.webhook.into_iter().collect::<Vec<_>>());
        assert_eq!(
            (&posted[0].1["seq"], &posted[0].1["from"]["server"]),
            (&2.into(), &true.into())
        );
    }

    #[test]
    fn edits_reactions_and_deletions_have_their_events_and_a_repeat_none() {
        let mut r = all();
        let mut log = MemoryLog::default();
        open(&mut r, "a1", "alice");
        let mut say = |text: &str| events(&r.receive("a1", Incoming::Text(text), 5, &mut log));
        say(r#"{"type":"publish","data":"a"}"#);
        say(r#"{"type":"publish","data":"b"}"#);
        let edit = say(r#"{"type":"edit","target":1,"data":"a2","id":"e1"}"#);
        assert_eq!(edit.len(), 1);
        assert_eq!(
            (&edit[0].0[..], &edit[0].1["seq"], &edit[0].1["target"]),
            ("edit", &3.into(), &1.into())
        );
        assert_eq!(
            (&edit[0].1["data"], &edit[0].1["client_id"]),
            (&"a2".into(), &"e1".into())
        );
        let on = r#"{"type":"react","target":1,"emoji":"👍","on":true}"#;
        let react = say(on);
        assert_eq!(
            (&react[0].0[..], &react[0].1["emoji"], &react[0].1["on"]),
            ("react", &"👍".into(), &true.into())
        );
        assert!(say(on).is_empty(), "a repeat changes nothing");
        let forbidden = say(r#"{"type":"edit","target":99,"data":1}"#);
        assert!(forbidden.is_empty(), "a refusal is no event");
        let delete = say(r#"{"type":"delete","target":1}"#);
        assert_eq!(
            (&delete[0].0[..], &delete[0].1["seq"]),
            ("delete", &5.into())
        );
        let by_server = r.server_delete(2, 9, &mut log).unwrap().unwrap();
        let e = events(&by_server.webhook.into_iter().collect::<Vec<_>>());
        assert_eq!(
            (&e[0].0[..], &e[0].1["target"], &e[0].1["from"]["server"]),
            ("delete", &2.into(), &true.into())
        );
    }

    #[test]
    fn moderation_comes_before_the_closes_it_causes() {
        let mut r = all();
        open(&mut r, "a1", "alice");
        let ban = crate::room::Ban {
            user_id: "alice".into(),
            until: Some(99),
            reason: Some("spam".into()),
        };
        let removal = r.kick("alice", Some(ban), Some("spam"));
        assert_eq!(
            types(&removal.actions),
            ["moderation", "presence", "room_vacated"]
        );
        let m = &events(&removal.actions)[0].1;
        assert_eq!(
            (&m["action"], &m["until"], &m["closed"]),
            (&"ban".into(), &99.into(), &1.into())
        );
        open(&mut r, "b1", "bob");
        let kicked = r.disconnect("b1", None);
        let m = &events(&kicked.actions)[0].1;
        assert_eq!(
            (&m["action"], &m["connection_id"], &m["user_id"]),
            (&"disconnect".into(), &"b1".into(), &"bob".into())
        );
        let revoked = r.revoke("carol", 100, None);
        let m = &events(&revoked.actions)[0].1;
        assert_eq!(
            (&m["action"], &m["before"], &m["closed"]),
            (&"revoke".into(), &100.into(), &0.into())
        );
        assert_eq!(types(&r.unbanned("alice")), ["moderation"]);
    }

    #[test]
    fn only_the_selected_kinds_and_nothing_when_off() {
        let mut r = hooked(Kinds::DEFAULT);
        assert_eq!(
            types(&open(&mut r, "a1", "alice")),
            ["room_occupied"],
            "no presence by default"
        );
        assert!(r
            .kick("alice", None, None)
            .actions
            .iter()
            .all(|a| !matches!(a, Action::Webhook(_))
                || types(std::slice::from_ref(a)) == ["room_vacated"]));
        let mut off = room();
        let mut log = MemoryLog::default();
        let mut acts = open(&mut off, "a1", "alice");
        acts.extend(off.receive(
            "a1",
            Incoming::Text(r#"{"type":"publish","data":1}"#),
            1,
            &mut log,
        ));
        acts.extend(off.close("a1").actions);
        assert!(events(&acts).is_empty());
    }
}
