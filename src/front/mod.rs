//! The stateless front worker's rules: its URL map, the admin token, and the bodies of the
//! server API, each validated before anything is forwarded to an object (user tokens are
//! [`crate::auth`]'s, shared with the rooms' refresh in place).

pub mod auth;
pub mod export;
pub mod moderation_api;
pub mod routes;
pub mod server_api;
