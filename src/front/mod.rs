//! The stateless front worker's rules: its URL map, user tokens, and the bodies of the server
//! API, each validated before anything is forwarded to an object.

pub mod auth;
pub mod moderation_api;
pub mod routes;
pub mod server_api;
