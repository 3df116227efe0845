//! What `edit`, `delete` and `react` share: each is an **event** about one message — checked
//! against the message's stored state, appended to the room's log with its own seq (gapless
//! with messages), applied to the message's stored state ([`MessageState`]), acked like a
//! publish (idempotent by `id`) and broadcast to the whole room.

use super::{Action, Author, Recipients, Room};
use crate::common::error::ErrorCode;
use crate::protocol::{error_frame, ServerFrame};
use crate::room::log::chat_log::ChatLog;
use crate::room::log::message_log::{Appended, LogEntry, LogError};
use crate::room::log::message_state::{MessageState, StateError};
use crate::webhooks::EventType;

/// A refusal: the `error` frame's code and message.
pub(super) type Refusal = (ErrorCode, &'static str);

pub(super) const NO_SUCH_MESSAGE: Refusal = (ErrorCode::NotFound, "no such message");

/// A client's `edit`, `delete` or `react`, as every one of them names it: who sent it, the
/// message it is about (`target`), the client's id for it, and when it arrived.
#[derive(Debug, Clone, Copy)]
pub(super) struct ClientEvent<'a> {
    pub from: Author<'a>,
    pub target: u64,
    pub id: Option<&'a str>,
    pub now_ms: u64,
}

/// What a client's event does to its message.
pub(super) enum Made {
    /// The message's new state, and the event's frame (seq included).
    Changed { state: MessageState, frame: String },
    /// Nothing (a repeat of what the message already has): acked with `version`, the seq of
    /// the message's latest change, and neither logged nor broadcast.
    Unchanged { version: u64 },
}

/// What a client's event did: the actions to carry out, and whether it was logged now (not a
/// retry, a repeat, a refusal or a failure).
pub(super) struct EventOutcome {
    pub actions: Vec<Action>,
    pub logged: bool,
}

impl EventOutcome {
    fn not_logged(action: Action) -> Self {
        EventOutcome {
            actions: vec![action],
            logged: false,
        }
    }
}

/// A message an event may change, as its row in the log holds it.
pub(super) struct Changeable {
    /// Its author (`None`: a server post).
    pub author: Option<String>,
    pub state: MessageState,
    /// The row's frame as stored: put back if the event cannot be logged.
    pub stored: String,
}

/// One event, ready to be logged: who (`None`: the server API), its id, its message, the
/// message's new state, the message's row as it was, and the event's frame (seq included).
pub(super) struct MessageEvent<'a> {
    pub user: Option<&'a str>,
    pub id: Option<&'a str>,
    pub target: u64,
    pub ts: u64,
    pub state: MessageState,
    pub previous: String,
    pub frame: String,
}

impl<H> Room<H> {
    /// The message `target`, unless it is not retained, not a message, or deleted (deleted
    /// means gone).
    pub(super) fn message_to_change(
        &self,
        target: u64,
        log: &dyn ChatLog,
    ) -> Result<Result<Changeable, Refusal>, LogError> {
        let Some(row) = log.stored(target)? else {
            return Ok(Err(NO_SUCH_MESSAGE));
        };
        match MessageState::parse(&row.frame) {
            Ok(state) if !state.deleted => Ok(Ok(Changeable {
                author: row.user_id,
                state,
                stored: row.frame,
            })),
            _ => Ok(Err(NO_SUCH_MESSAGE)),
        }
    }

    /// Stores the message's new state (a deletion first erases the data of the message's
    /// edits), then appends the event; the seq it was logged as: its own, or the original's for
    /// a retried id. All or nothing for the message: the state and the event are one statement
    /// each, and the message's row is put back as it was when the append fails or finds a
    /// duplicate (the room's storage has no transaction to roll back but the turn's own).
    pub(super) fn log_event(
        &self,
        e: &MessageEvent<'_>,
        log: &mut dyn ChatLog,
    ) -> Result<u64, LogError> {
        let seq = log.last_seq() + 1;
        let state = e
            .state
            .to_frame()
            .map_err(|_| LogError::Storage("the message state does not serialise".into()))?;
        if e.state.deleted {
            // Before anything else: should this fail halfway, nothing says the message is
            // deleted yet, and a retry erases the rest (erasing is idempotent).
            super::edits::erase_edits(e.target, log)?;
        }
        log.rewrite(e.target, &state)?;
        let entry = LogEntry {
            seq,
            ts: e.ts,
            user_id: e.user,
            client_id: e.id,
            frame: &e.frame,
            target: Some(e.target),
        };
        let appended = log.append(entry);
        if !matches!(appended, Ok(Appended::Stored)) {
            log.rewrite(e.target, &e.previous)?;
        }
        match appended? {
            Appended::Duplicate(original) => Ok(original),
            Appended::Stored => Ok(seq),
        }
    }

    /// The common course of a client's event: a retried id is acked with its original seq; a
    /// refusal becomes an `error`; else `make` says what the event does to the message (given
    /// its author, state and the event's seq): a change is logged, broadcast, acked and — when
    /// webhooks record messages — recorded as a webhook event of `event_type`; no change is
    /// acked with the message's latest seq.
    pub(super) fn client_event(
        &self,
        event_type: EventType,
        e: ClientEvent<'_>,
        log: &mut dyn ChatLog,
        make: impl FnOnce(Option<String>, MessageState, u64) -> Result<Made, Refusal>,
    ) -> EventOutcome {
        let (from, id) = (e.from, e.id);
        let me = || Recipients::One(from.connection_id.to_owned());
        let refuse = |(code, message): Refusal| {
            EventOutcome::not_logged(Action::send(me(), error_frame(code, message, id)))
        };
        let internal = |e: LogError| {
            let detail = format!("an event could not be stored and was not sent: {e}");
            EventOutcome::not_logged(Action::internal_error(from.connection_id, id, detail))
        };
        if let Some(id) = id {
            match log.event_by_id(from.user_id, id) {
                Ok(Some(seq)) => return EventOutcome::not_logged(ack(me(), Some(id), seq)),
                Ok(None) => {}
                Err(e) => return internal(e),
            }
        }
        let found = match self.message_to_change(e.target, log) {
            Ok(Ok(found)) => found,
            Ok(Err(refusal)) => return refuse(refusal),
            Err(e) => return internal(e),
        };
        let seq = log.last_seq() + 1;
        let (state, frame) = match make(found.author, found.state, seq) {
            Ok(Made::Changed { state, frame }) => (state, frame),
            Ok(Made::Unchanged { version }) => {
                return EventOutcome::not_logged(ack(me(), id, version))
            }
            Err(refusal) => return refuse(refusal),
        };
        if let Err(StateError::TooLarge) = state.to_frame() {
            return refuse((
                ErrorCode::TooLarge,
                "the message's state would grow too large",
            ));
        }
        let event = MessageEvent {
            user: Some(from.user_id),
            id,
            target: e.target,
            ts: e.now_ms,
            state,
            previous: found.stored,
            frame,
        };
        match self.log_event(&event, log) {
            Ok(logged) if logged == seq => self.logged_now(event_type, event, from, seq),
            Ok(original) => EventOutcome::not_logged(ack(me(), id, original)),
            Err(e) => internal(e),
        }
    }

    /// A client's event logged as `seq`: broadcast, acked, and recorded for the webhooks.
    fn logged_now(
        &self,
        event_type: EventType,
        event: MessageEvent<'_>,
        from: Author<'_>,
        seq: u64,
    ) -> EventOutcome {
        let webhook = self.logged_event(event_type, event.ts, &event.frame);
        let me = Recipients::One(from.connection_id.to_owned());
        let mut actions = vec![
            Action::send(Recipients::AllExcept(None), event.frame),
            ack(me, event.id, seq),
        ];
        actions.extend(webhook);
        EventOutcome {
            actions,
            logged: true,
        }
    }
}

pub(super) fn ack(to: Recipients, id: Option<&str>, seq: u64) -> Action {
    Action::send(to, ServerFrame::Ack { id, seq }.to_json())
}
