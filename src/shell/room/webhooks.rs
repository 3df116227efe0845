//! The room's webhook events ([`crate::webhooks`], shell in [`crate::shell::webhooks`]): what
//! the room core returns as [`Action::Webhook`] is written to the outbox in the same turn, and
//! delivery starts right after it; operators list and re-queue dead letters.
//!
//! [`Action::Webhook`]: crate::room::Action::Webhook

use super::ChatRoom;
use crate::calls::RoomCall;
use crate::error::ErrorCode;
use crate::shell::env::now_ms;
use crate::shell::http::{error, json_response};
use crate::shell::incident;
use crate::webhooks::Event;
use worker::{Response, Result};

impl ChatRoom {
    /// Records `event` in this turn (one commit with what it describes), makes sure the alarm
    /// would resume delivery if this instance died before it, and starts delivery, which runs
    /// once the turn is over.
    pub(super) fn record_event(&self, room: &str, event: Event) {
        if let Err(e) = self.webhooks.record(Some(room), &event) {
            incident::report("webhook outbox", &e.to_string());
            return;
        }
        self.wake_at(self.webhooks.watchdog_at(now_ms()));
        self.webhooks.kick(&self.state, self.alarm_ref());
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
                    self.webhooks.kick(&self.state, self.alarm_ref());
                }
                json_response(200, body)
            }
            _ => error(ErrorCode::NotFound, "not a webhook call"),
        }
    }
}
