//! `react`: a user's reaction (an emoji, 1–32 characters) on a message, on or off. The
//! message's stored state keeps `reactions: {emoji: [user ids]}`; a repeat of the state a
//! reaction already has is acknowledged (with the seq of the message's latest change) and
//! changes nothing: nothing is logged, nothing is broadcast.

use super::message_events::{ClientEvent, Made};
use super::{Action, Room};
use crate::common::error::ErrorCode;
use crate::protocol::{Sender, ServerFrame};
use crate::room::log::chat_log::ChatLog;
use crate::room::log::message_state::StateError;
use crate::webhooks::EventType;

impl<H> Room<H> {
    /// `{"type":"react","target":S,"emoji":E,"on":B}`: `on` adds the user's `emoji` to message
    /// S, `!on` takes it back.
    pub(super) fn react(
        &self,
        e: ClientEvent<'_>,
        emoji: &str,
        on: bool,
        log: &mut dyn ChatLog,
    ) -> Vec<Action> {
        let from = e.from;
        let outcome = self.client_event(EventType::React, e, log, |_, mut state, seq| {
            match state.react(emoji, from.user_id, on, seq) {
                Ok(true) => {}
                Ok(false) => {
                    let version = state.version();
                    return Ok(Made::Unchanged { version });
                }
                Err(StateError::TooLarge) | Err(StateError::NotAMessage) => {
                    return Err((
                        ErrorCode::TooLarge,
                        "a message carries at most 20 distinct reactions",
                    ))
                }
            }
            let frame = ServerFrame::React {
                seq,
                target: e.target,
                emoji,
                on,
                from: Sender::Client {
                    user_id: from.user_id,
                    connection_id: from.connection_id,
                },
                id: e.id,
                ts: e.now_ms,
            };
            Ok(Made::Changed {
                state,
                frame: frame.to_json(),
            })
        });
        outcome.actions
    }
}

#[cfg(test)]
mod tests {
    use crate::room::log::chat_log::ChatLog;
    use crate::room::log::message_log::MemoryLog;
    use crate::room::test_support::*;
    use serde_json::{json, Value};

    #[test]
    fn reactions_are_logged_broadcast_and_kept_in_the_message_state() {
        let mut r = room();
        let mut log = MemoryLog::default();
        open(&mut r, "a1", "alice");
        open(&mut r, "b1", "bob");
        send_logged(&mut r, &mut log, "a1", r#"{"type":"publish","data":"hi"}"#);
        let react = |r: &mut _, log: &mut _, c, on: bool, id: &str| {
            let text =
                format!(r#"{{"type":"react","target":1,"emoji":"👍","on":{on},"id":"{id}"}}"#);
            send_logged(r, log, c, &text)
        };
        let d = react(&mut r, &mut log, "b1", true, "r1");
        let ev: Vec<&(String, Value)> = d.iter().filter(|x| x.1["type"] == "react").collect();
        assert_eq!(ev.len(), 2, "to everyone");
        assert_eq!(
            (
                ev[0].1["seq"].clone(),
                ev[0].1["emoji"].clone(),
                ev[0].1["on"].clone(),
                ev[0].1["from"]["user_id"].clone()
            ),
            (json!(2), json!("👍"), json!(true), json!("bob"))
        );
        assert!(d
            .iter()
            .any(|x| x == &("b1".to_string(), json!({"type":"ack","id":"r1","seq":2}))));
        react(&mut r, &mut log, "a1", true, "r2");
        let state = |log: &MemoryLog| -> Value {
            serde_json::from_str(&log.stored(1).unwrap().unwrap().frame).unwrap()
        };
        assert_eq!(state(&log)["reactions"], json!({"👍":["bob","alice"]}));
        // The same state again: acked with the message's latest change, nothing logged or sent.
        let d = react(&mut r, &mut log, "b1", true, "r3");
        assert_eq!(
            d,
            vec![("b1".to_string(), json!({"type":"ack","id":"r3","seq":3}))]
        );
        assert_eq!(log.last, 3);
        react(&mut r, &mut log, "b1", false, "r4");
        assert_eq!(state(&log)["reactions"], json!({"👍":["alice"]}));
        assert_eq!(state(&log)["updated"], 4);
        let d = send_logged(
            &mut r,
            &mut log,
            "b1",
            r#"{"type":"react","target":9,"emoji":"x","on":true}"#,
        );
        assert_eq!(d[0].1["code"], "not_found");
    }

    #[test]
    fn a_message_carries_a_bounded_number_of_reactions() {
        let mut r = room();
        let mut log = MemoryLog::default();
        open(&mut r, "a1", "alice");
        send_logged(&mut r, &mut log, "a1", r#"{"type":"publish","data":"hi"}"#);
        for i in 0..crate::room::log::message_state::MAX_REACTIONS {
            let text = format!(r#"{{"type":"react","target":1,"emoji":"e{i}","on":true}}"#);
            send_logged(&mut r, &mut log, "a1", &text);
        }
        let d = send_logged(
            &mut r,
            &mut log,
            "a1",
            r#"{"type":"react","target":1,"emoji":"one more","on":true,"id":"x"}"#,
        );
        assert_eq!(
            (d[0].1["code"].clone(), d[0].1["id"].clone()),
            (json!("too_large"), json!("x"))
        );
    }
}
