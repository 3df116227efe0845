//! `edit` and `delete`: only a message's author changes it (the server API may delete any
//! message). A deletion erases the message's data from storage — its row and the data of its
//! edits — so a deleted message is gone, not hidden; history then shows it `deleted`.

use super::message_events::{Changeable, ClientEvent, Made, MessageEvent, Refusal};
use super::{Action, Author, Recipients, Room};
use crate::common::error::ErrorCode;
use crate::protocol::{Sender, ServerFrame};
use crate::room::log::chat_log::ChatLog;
use crate::room::log::message_log::LogError;
use crate::room::log::message_state::erase_edit_data;
use crate::webhooks::EventType;
use serde_json::value::RawValue;

const NOT_THE_AUTHOR: Refusal = (ErrorCode::Forbidden, "only its author may change a message");

/// What a deletion through the server API did.
#[derive(Debug)]
pub struct ServerDelete {
    pub send: Action,
    pub delivered: usize,
    pub seq: u64,
    /// Its webhook event, when webhooks record messages.
    pub webhook: Option<Action>,
}

impl<H> Room<H> {
    /// `{"type":"edit","target":S,"data":D}` from the author of message S.
    pub(super) fn edit(
        &self,
        e: ClientEvent<'_>,
        data: &RawValue,
        log: &mut dyn ChatLog,
    ) -> Vec<Action> {
        let outcome = self.client_event(EventType::Edit, e, log, |author, mut state, seq| {
            only_the_author(author, e.from)?;
            state.edit(data, seq);
            let frame = ServerFrame::Edit {
                seq,
                target: e.target,
                from: sender(e.from),
                data,
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

    /// `{"type":"delete","target":S}` from the author of message S. The data of the message's
    /// edits is erased with it ([`Self::log_event`]); once logged, copies outside the log are
    /// asked to go ([`Action::MessageErased`]).
    pub(super) fn delete(&self, e: ClientEvent<'_>, log: &mut dyn ChatLog) -> Vec<Action> {
        let outcome = self.client_event(EventType::Delete, e, log, |author, mut state, seq| {
            only_the_author(author, e.from)?;
            state.delete(seq);
            let frame = ServerFrame::Delete {
                seq,
                target: e.target,
                from: sender(e.from),
                id: e.id,
                ts: e.now_ms,
            };
            Ok(Made::Changed {
                state,
                frame: frame.to_json(),
            })
        });
        let mut actions = outcome.actions;
        if outcome.logged {
            actions.push(Action::MessageErased { target: e.target });
        }
        actions
    }

    /// `DELETE /rooms/{room}/messages/{seq}`: any message, by the server. `Ok(None)`: no such
    /// message (or it is deleted already).
    pub fn server_delete(
        &self,
        target: u64,
        now_ms: u64,
        log: &mut dyn ChatLog,
    ) -> Result<Option<ServerDelete>, LogError> {
        let Ok(Changeable {
            mut state, stored, ..
        }) = self.message_to_change(target, log)?
        else {
            return Ok(None);
        };
        let seq = log.last_seq() + 1;
        state.delete(seq);
        let frame = ServerFrame::Delete {
            seq,
            target,
            from: Sender::Server,
            id: None,
            ts: now_ms,
        };
        let event = MessageEvent {
            user: None,
            id: None,
            target,
            ts: now_ms,
            state,
            previous: stored,
            frame: frame.to_json(),
        };
        self.log_event(&event, log)?;
        let to = Recipients::AllExcept(None);
        let delivered = self.resolve(&to).count();
        Ok(Some(ServerDelete {
            webhook: self.logged_event(EventType::Delete, now_ms, &event.frame),
            send: Action::send(to, event.frame),
            delivered,
            seq,
        }))
    }
}

/// Only a message's author edits or deletes it.
fn only_the_author(author: Option<String>, from: Author<'_>) -> Result<(), Refusal> {
    match author.as_deref() == Some(from.user_id) {
        true => Ok(()),
        false => Err(NOT_THE_AUTHOR),
    }
}

/// A client's frame as `from`.
fn sender(from: Author<'_>) -> Sender<'_> {
    Sender::Client {
        user_id: from.user_id,
        connection_id: from.connection_id,
    }
}

/// Erases the data of the edits of a deleted message: deleted means gone, also from history.
pub(super) fn erase_edits(target: u64, log: &mut dyn ChatLog) -> Result<(), LogError> {
    for (seq, frame) in log.events_of(target)? {
        if let Some(erased) = erase_edit_data(&frame) {
            log.rewrite(seq, &erased)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::room::log::chat_log::ChatLog;
    use crate::room::log::message_log::MemoryLog;
    use crate::room::test_support::*;
    use serde_json::{json, Value};

    fn setup() -> (crate::room::Room<String>, MemoryLog) {
        let mut r = room();
        let mut log = MemoryLog::default();
        open(&mut r, "a1", "alice");
        open(&mut r, "b1", "bob");
        send_logged(
            &mut r,
            &mut log,
            "a1",
            r#"{"type":"publish","data":{"t":"helo"},"id":"m1"}"#,
        );
        (r, log)
    }

    fn stored(log: &MemoryLog, seq: u64) -> Value {
        serde_json::from_str(&log.stored(seq).unwrap().unwrap().frame).unwrap()
    }

    #[test]
    fn the_author_edits_everyone_sees_it_and_the_log_keeps_the_current_state() {
        let (mut r, mut log) = setup();
        let d = send_logged(
            &mut r,
            &mut log,
            "a1",
            r#"{"type":"edit","target":1,"data":{"t":"hello"},"id":"e1"}"#,
        );
        let edits: Vec<&(String, Value)> = d.iter().filter(|x| x.1["type"] == "edit").collect();
        assert_eq!(
            edits.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            ["a1", "b1"]
        );
        let e = &edits[0].1;
        assert_eq!(
            (e["seq"].clone(), e["target"].clone(), e["data"].clone()),
            (json!(2), json!(1), json!({"t":"hello"}))
        );
        assert_eq!(e["from"], json!({"user_id":"alice","connection_id":"a1"}));
        assert_eq!(e["id"], "e1");
        let ack = d.iter().find(|x| x.1["type"] == "ack").unwrap();
        assert_eq!(ack.1, json!({"type":"ack","id":"e1","seq":2}));
        let m = stored(&log, 1);
        assert_eq!(
            (m["data"].clone(), m["edited"].clone(), m["updated"].clone()),
            (json!({"t":"hello"}), json!(true), json!(2))
        );
        // A retry with the same id: acked with the original seq, nothing logged again.
        let d = send_logged(
            &mut r,
            &mut log,
            "a1",
            r#"{"type":"edit","target":1,"data":{"t":"other"},"id":"e1"}"#,
        );
        assert_eq!(
            d,
            vec![("a1".to_string(), json!({"type":"ack","id":"e1","seq":2}))]
        );
        assert_eq!(log.last, 2);
    }

    #[test]
    fn only_the_author_changes_a_message_and_only_a_message_that_exists() {
        let (mut r, mut log) = setup();
        let code = |d: &[(String, Value)]| d[0].1["code"].as_str().unwrap().to_owned();
        let d = send_logged(
            &mut r,
            &mut log,
            "b1",
            r#"{"type":"edit","target":1,"data":1,"id":"x"}"#,
        );
        assert_eq!(
            (d.len(), code(&d), d[0].1["id"].clone()),
            (1, "forbidden".into(), json!("x"))
        );
        let d = send_logged(&mut r, &mut log, "b1", r#"{"type":"delete","target":1}"#);
        assert_eq!(code(&d), "forbidden");
        for text in [
            r#"{"type":"edit","target":7,"data":1}"#,
            r#"{"type":"delete","target":7}"#,
        ] {
            let d = send_logged(&mut r, &mut log, "a1", text);
            assert_eq!((d.len(), code(&d)), (1, "not_found".into()), "{text}");
        }
        assert_eq!(log.last, 1, "nothing was logged");
        // An event is not a message.
        send_logged(
            &mut r,
            &mut log,
            "a1",
            r#"{"type":"edit","target":1,"data":2}"#,
        );
        let d = send_logged(
            &mut r,
            &mut log,
            "a1",
            r#"{"type":"edit","target":2,"data":3}"#,
        );
        assert_eq!(code(&d), "not_found");
    }

    #[test]
    fn a_deleted_message_is_gone_with_the_data_of_its_edits() {
        let (mut r, mut log) = setup();
        send_logged(
            &mut r,
            &mut log,
            "a1",
            r#"{"type":"edit","target":1,"data":{"t":"secret"}}"#,
        );
        send_logged(
            &mut r,
            &mut log,
            "b1",
            r#"{"type":"react","target":1,"emoji":"👍","on":true}"#,
        );
        let d = send_logged(
            &mut r,
            &mut log,
            "a1",
            r#"{"type":"delete","target":1,"id":"d1"}"#,
        );
        let del = d.iter().find(|x| x.1["type"] == "delete").unwrap();
        assert_eq!(
            (del.1["seq"].clone(), del.1["target"].clone()),
            (json!(4), json!(1))
        );
        assert!(d
            .iter()
            .any(|x| x.1 == json!({"type":"ack","id":"d1","seq":4})));
        let all: String = log.rows.iter().map(|r| r.3.clone()).collect();
        assert!(!all.contains("secret") && !all.contains("helo"), "{all}");
        let m = stored(&log, 1);
        assert_eq!(
            (m["deleted"].clone(), m["data"].clone()),
            (json!(true), Value::Null)
        );
        assert!(m.get("reactions").is_none());
        // Gone: no edit, reaction or second deletion.
        for text in [
            r#"{"type":"edit","target":1,"data":1}"#,
            r#"{"type":"delete","target":1}"#,
            r#"{"type":"react","target":1,"emoji":"x","on":true}"#,
        ] {
            let d = send_logged(&mut r, &mut log, "a1", text);
            assert_eq!(d[0].1["code"], "not_found", "{text}");
        }
        // The retried deletion is still acked.
        let d = send_logged(
            &mut r,
            &mut log,
            "a1",
            r#"{"type":"delete","target":1,"id":"d1"}"#,
        );
        assert_eq!(
            d,
            vec![("a1".to_string(), json!({"type":"ack","id":"d1","seq":4}))]
        );
    }

    #[test]
    fn the_server_deletes_any_message() {
        let (r, mut log) = setup();
        let del = r.server_delete(1, 9, &mut log).unwrap().unwrap();
        assert_eq!((del.seq, del.delivered), (2, 2));
        let d = deliveries(&r, &[del.send]);
        assert_eq!(d[0].1["from"], json!({"server":true}));
        assert!(
            r.server_delete(1, 9, &mut log).unwrap().is_none(),
            "already gone"
        );
        assert!(r.server_delete(99, 9, &mut log).unwrap().is_none());
    }
}
