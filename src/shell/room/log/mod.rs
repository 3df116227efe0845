//! The room's log in its SQLite storage ([`crate::room::log`] says what it must do).

pub mod chat_log;
pub mod message_log;
