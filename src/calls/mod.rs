//! Calls between our objects, typed: each Durable Object class has one enum of the calls it
//! serves ([`RoomCall`], [`RegistryCall`], [`StatsCall`]). A caller builds a value and turns
//! it into an [`InternalRequest`] with [`Call::to_request`]; the object turns the request back
//! into the same value with [`Call::from_request`] and dispatches on it. Paths and parameter
//! names therefore live in one place per object, and a caller cannot misspell a call.
//!
//! Internal URLs carry parameters in the query (values may be any Unicode, which HTTP headers
//! cannot carry) and frames or payloads as the raw body, never re-encoded.

pub mod fanout;
pub mod registry;
pub mod room;
pub mod stats;

pub use fanout::{FanoutCall, FanoutRequest};
pub use registry::{OnlineUsers, PresenceReport, RegistryCall, RegistryRequest, ReportReply};
pub use room::{RoomCall, RoomRequest};
pub use stats::StatsCall;

use crate::common::error::{ChatError, ErrorCode};
use serde::{Deserialize, Serialize};

/// GET for reads, POST for everything that changes or delivers something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// An internal HTTP request, free of the runtime: what the shell sends to an object's stub and
/// what the object's `fetch` reads back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalRequest {
    pub method: Method,
    /// Starts with `/`.
    pub path: &'static str,
    pub query: Vec<(String, String)>,
    pub body: Option<String>,
    /// The request must carry `Upgrade: websocket` (it asks for a WebSocket back).
    pub upgrade: bool,
}

impl InternalRequest {
    fn new(method: Method, path: &'static str) -> Self {
        InternalRequest {
            method,
            path,
            query: Vec::new(),
            body: None,
            upgrade: false,
        }
    }

    fn param(mut self, name: &str, value: impl ToString) -> Self {
        self.query.push((name.to_owned(), value.to_string()));
        self
    }

    fn param_opt(self, name: &str, value: Option<impl ToString>) -> Self {
        match value {
            Some(v) => self.param(name, v),
            None => self,
        }
    }

    fn body(mut self, body: String) -> Self {
        self.body = Some(body);
        self
    }

    /// A request as the receiving object reads it: `path` is matched against the object's
    /// known paths by `from_request`, so an unknown one is refused there.
    pub fn received(
        method: Method,
        path: &str,
        query: Vec<(String, String)>,
        body: Option<String>,
    ) -> Result<Self, ChatError> {
        let path = known_path(path).ok_or_else(|| bad("no such internal endpoint"))?;
        Ok(InternalRequest {
            method,
            path,
            query,
            body,
            upgrade: false,
        })
    }

    /// A query parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str) -> Result<&str, ChatError> {
        self.get(name)
            .ok_or_else(|| bad(&format!("missing `{name}`")))
    }

    fn text(&self, name: &str) -> Result<String, ChatError> {
        self.required(name).map(str::to_owned)
    }

    fn optional(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    fn optional_number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ChatError> {
        self.get(name).map(|_| self.number(name)).transpose()
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<T, ChatError> {
        self.required(name)?
            .parse()
            .map_err(|_| bad(&format!("`{name}` must be a number")))
    }

    fn take_body(&mut self) -> Result<String, ChatError> {
        self.body.take().ok_or_else(|| bad("missing body"))
    }
}

/// A call an object serves.
pub trait Call: Sized {
    fn to_request(&self) -> InternalRequest;
    fn from_request(req: InternalRequest) -> Result<Self, ChatError>;
}

fn bad(message: &str) -> ChatError {
    ChatError::new(ErrorCode::BadRequest, message)
}

/// Every internal path, so that a received path can be matched to its `&'static str`.
fn known_path(path: &str) -> Option<&'static str> {
    room::PATHS
        .iter()
        .chain(registry::PATHS)
        .chain(fanout::PATHS)
        .chain(stats::PATHS)
        .copied()
        .find(|p| *p == path)
}

/// The answer of a call that delivers: how many connections got the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    pub delivered: u64,
}

/// A comma list of rooms (a token's `rooms` claim) from a call's parameter. Room names never
/// hold a comma; an empty claim lists no room.
fn split_rooms(r: &str) -> Vec<String> {
    r.split(',')
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The answer of a call that closes connections: how many it closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedCount {
    pub closed: u64,
}

/// The answer of [`RegistryCall::Revoked`]: whether the token is revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    pub revoked: bool,
}

/// A list of user ids from a call's body, one a line (user ids hold no line break: they have
/// no control characters).
fn split_lines(body: &str) -> Vec<String> {
    body.lines()
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The answer of [`RoomCall::Counts`]: the room's connections, those of the users asked about,
/// and the version a report of these counts would carry (so the shard orders the answer
/// against the room's own reports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomCounts {
    pub connections: u64,
    pub users: std::collections::BTreeMap<String, u64>,
    pub version: u64,
}

/// The answer of a call that counts one user's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connections {
    pub connections: u64,
}

#[cfg(test)]
pub(crate) fn round_trip<C: Call + PartialEq + std::fmt::Debug + Clone>(call: C) {
    let req = call.to_request();
    // What arrives is the path and query as sent: rebuild it the way the shell does.
    let received =
        InternalRequest::received(req.method, req.path, req.query.clone(), req.body.clone())
            .unwrap();
    assert_eq!(C::from_request(received).unwrap(), call);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_distinct_and_unknown_ones_are_refused() {
        let all: Vec<&str> = room::PATHS
            .iter()
            .chain(registry::PATHS)
            .chain(stats::PATHS)
            .copied()
            .collect();
        let mut unique = all.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), all.len(), "{all:?}");
        assert!(all.iter().all(|p| p.starts_with('/')));
        let e = InternalRequest::received(Method::Get, "/nope", vec![], None).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
    }
}
