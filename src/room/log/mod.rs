//! The room's durable log, free of storage: messages with gapless seqs ([`message_log`]), the
//! events and read cursors of the chat extensions ([`chat_log`]), a message's current state
//! ([`message_state`]) and the pages history is read in ([`history_page`]). The SQLite implementation is the shell's (`src/shell/room/log/`).

pub mod chat_log;
pub mod history_page;
pub mod message_log;
pub mod message_state;
