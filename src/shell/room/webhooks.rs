//! The room's webhook events ([`crate::webhooks`], shell in [`crate::shell::webhooks`]): what
//! the room core returns as [`Action::Webhook`] is written to the outbox in the same turn, and
//! delivery starts right after it; operators list and re-queue dead letters.
//!
//! [`Action::Webhook`]: crate::room::Action::Webhook

use super::ChatRoom;
use crate::calls::RoomCall;
use crate::common::error::ErrorCode;
use crate::room::log::message_log::HistoryStorage;
use crate::shell::common::env::now_ms;
use crate::shell::common::http::{error, json_response};
use crate::shell::common::incident;
use crate::webhooks::{Event, EventKind};
use worker::{Response, Result};

impl ChatRoom {
    /// Records `event` in this turn. The event of a log entry (a message, an edit, a deletion,
    /// a reaction) joins the turn's batch, written in one
    /// statement at the end of the turn ([`Self::flush_events`]): the message's own log write
    /// came first, so the turn's sends already wait for the commit that holds both. Any other
    /// event (presence, occupancy, moderation) is written at once — before the turn's sends
    /// that announce it, which only then wait for its commit — together with the messages
    /// batched before it, so the outbox keeps the order the room saw.
    pub(super) fn record_event(&self, room: &str, event: Event) {
        // (With `HISTORY_STORAGE=none` a message has no write of its own either.)
        let logged = self.config.history_storage == HistoryStorage::Durable;
        let urgent = event.event_type.kind() != EventKind::Message || !logged;
        self.webhooks.record(Some(room), &event);
        if urgent {
            self.flush_events();
        }
    }

    /// Writes the events recorded and not written yet; when there were any, makes sure the
    /// alarm would resume delivery if this instance died before it, and starts delivery, which
    /// runs once the turn is over.
    pub(super) fn flush_events(&self) {
        match self.webhooks.flush() {
            Ok(false) => {}
            Ok(true) => {
                self.wake_at(self.webhooks.watchdog_at(now_ms()));
                self.webhooks.kick(&self.state, || self.alarm_ref());
            }
            Err(e) => {
                incident::report("webhook outbox", &e.to_string());
            }
        }
    }

    /// A message was deleted: the events about it still waiting lose its data — those of
    /// this turn too, written first (a sent POST can no longer be changed; its receiver gets
    /// the `delete` event next).
    pub(super) fn erase_webhook_data(&self, target: u64) {
        self.flush_events();
        if let Err(e) = self.webhooks.erase_message(target) {
            incident::report("webhook outbox erase", &e.to_string());
        }
    }

    /// `GET /rooms/{room}/webhooks/dead` and `POST /rooms/{room}/webhooks/dead/retry`. They
    /// read and write the outbox only, never the room's sockets, so the room is not loaded.
    pub(super) fn webhook_call(&self, call: RoomCall) -> Result<Response> {
        match call {
            RoomCall::WebhooksDead { limit } => json_response(200, self.webhooks.dead_json(limit)?),
            RoomCall::WebhooksRetry => {
                let body = self.webhooks.requeue_dead()?;
                if self.webhooks.config().enabled() {
                    self.wake_at(self.webhooks.watchdog_at(now_ms()));
                    self.webhooks.kick(&self.state, || self.alarm_ref());
                }
                json_response(200, body)
            }
            _ => error(ErrorCode::NotFound, "not a webhook call"),
        }
    }
}
