//! Webhooks: what happens in rooms, pushed to the application's backend — signed, in order per
//! object, at least once, never lost. This is the pure half (event shapes, settings, the retry
//! schedule, batching, the signature); the shell (`src/shell/webhooks/`) keeps the durable
//! outbox in each object's SQLite storage and POSTs from it.
//!
//! The life of an event:
//! 1. the room core (or a registry shard) returns it as [`crate::room::Action::Webhook`], only
//!    when `WEBHOOK_URL` is set and `WEBHOOK_EVENTS` selects its [`EventKind`];
//! 2. the shell writes it to the object's outbox table **in the same turn** as what it
//!    describes, so one SQLite commit makes both durable (a message and its event together);
//! 3. right after the turn, in the background, the oldest events go out in one POST
//!    ([`batch_len`]: at most 100 events or 256 KiB), signed ([`signature()`]); the rows are
//!    deleted after a 2xx, and only then does the next batch go;
//! 4. anything else (non-2xx, timeout, network error) is retried on the object's one alarm
//!    ([`retry_delay_ms`]); after `WEBHOOK_MAX_ATTEMPTS` the batch is set aside as a dead
//!    letter, which an operator can list and re-queue — with the events that waited as long
//!    behind it (the schedule follows the events' age, [`attempts_by_age`]);
//! 5. the outbox stays bounded ([`Backlog`], [`Cutoffs`]): past its caps the oldest events
//!    become dead letters (reason `backlog`), dead letters expire, and message data follows
//!    history retention.
//!
//! The modules: `event` (types, kinds, the JSON of an event), `logged` (the log's messages and
//! their edits, deletions and reactions as events), `settings` (`WEBHOOK_*`), `batch` (what one
//! POST carries), `signature`, `schedule` (retries and the watchdog), `dead` (dead letters),
//! `bounds` (the backlog cap and expiry), `rows` (a turn's events in one outbox row, a POST
//! starting or ending mid-row), `undelivered` (when a `direct_undelivered` is recorded).

mod batch;
mod bounds;
mod dead;
mod event;
mod logged;
mod rows;
mod schedule;
mod settings;
mod signature;
mod undelivered;

pub use batch::{batch_len, BATCH_BUDGET, MAX_BATCH_BYTES, MAX_BATCH_EVENTS};
pub use bounds::{expires_at, Backlog, Cutoffs};
pub use dead::{dead_body, merge_dead, merge_requeued, parse_dead_limit, DeadBatch, DeadReason};
pub use event::{
    direct_sender_room, Event, EventKind, EventType, Kinds, ModerationAction, ModerationEvent,
};
pub use logged::MessageFields;
pub use rows::{join_into, prefix_len, row_sizes, split, take, Cut, RowEvents, MAX_ROW_BYTES};
pub use schedule::{
    after_failure, attempts_by_age, retry_delay_ms, schedule_span_ms, watchdog_ms, NextStep,
    MAX_RESPONSE_BYTES, TIMEOUT_MS,
};
pub use settings::{Refusal, WebhookConfig};
pub use signature::{signature, SIGNATURE_HEADER};
pub use undelivered::{DirectSender, SenderGate, SENDER_INTERVAL_MS};
