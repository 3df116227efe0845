//! Hibernation tags and attachments: what a socket carries through the object's sleep.
//!
//! The runtime keeps up to 10 tags per socket, each at most 256 characters (UTF-16 units, as
//! JavaScript counts them; the workers-rs wrapper panics past that). A connection tag is always
//! short (room ≤ 64 + 17), but a 128-character user id made of astral-plane characters is 256
//! UTF-16 units on its own, so over-long user tags are replaced by a SHA-256 digest.

use crate::room::session::Session;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Longest tag the runtime accepts, in UTF-16 code units.
pub const MAX_TAG_UTF16: usize = 256;

/// The serialized attachment of every socket (kept well under the 16 KiB limit: ≤ ~300 bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub user_id: String,
    pub connection_id: String,
    /// Set when the server closed this socket itself (e.g. a flood). Such a socket already left
    /// the index, and must not be restored if the object sleeps before its close completes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub closing: bool,
    /// For a socket the server asked to close (`closing`), the unix ms from which it closes it
    /// itself if the client has not, and with which code (0: nothing owed; see
    /// [`crate::room::closing`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub close_by: u64,
    #[serde(default, skip_serializing_if = "is_zero_code")]
    pub close_code: u16,
    /// The connection takes coalesced `batch` frames (it connected with `?batch=1`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub batch: bool,
    /// The token's expiry (unix s; 0: none), `iat`, and whether `token_expiring` was sent:
    /// the session survives hibernation with the socket.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notified: bool,
    /// The token's `rooms` claim: where the connection's `direct`s may go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rooms: Option<Vec<String>>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_code(n: &u16) -> bool {
    *n == 0
}

impl Attachment {
    pub fn session(&self) -> Session {
        Session {
            exp: self.exp,
            iat: self.iat,
            notified: self.notified,
        }
    }

    pub fn set_session(&mut self, s: Session) {
        (self.exp, self.iat, self.notified) = (s.exp, s.iat, s.notified);
    }
}

/// `c:{connection_id}`: finds one socket without loading the room's index.
pub fn connection_tag(connection_id: &str) -> String {
    format!("c:{connection_id}")
}

/// `u:{user_id}`, or `u#{sha256 hex}` when that would be too long for the runtime.
pub fn user_tag(user_id: &str) -> String {
    let plain = format!("u:{user_id}");
    if plain.encode_utf16().count() <= MAX_TAG_UTF16 {
        return plain;
    }
    format!("u#{}", hex::encode(Sha256::digest(user_id.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_omit_the_closing_flag_until_set() {
        let mut a = Attachment {
            user_id: "u".into(),
            connection_id: "r.0000000000000000".into(),
            closing: false,
            close_by: 0,
            close_code: 0,
            batch: false,
            exp: 0,
            iat: None,
            notified: false,
            rooms: None,
        };
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(
            json,
            r#"{"user_id":"u","connection_id":"r.0000000000000000"}"#
        );
        assert_eq!(serde_json::from_str::<Attachment>(&json).unwrap(), a);
        a.closing = true;
        a.set_session(Session {
            exp: 9,
            iat: Some(3),
            notified: true,
        });
        let back: Attachment = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert!(back.closing);
        assert_eq!(back.session(), a.session());
    }

    #[test]
    fn ordinary_ids_stay_readable() {
        assert_eq!(user_tag("alice"), "u:alice");
        assert_eq!(connection_tag("r.0123456789abcdef"), "c:r.0123456789abcdef");
    }

    #[test]
    fn every_valid_user_id_fits_a_tag() {
        let astral = "😀".repeat(128);
        assert!(crate::common::names::is_valid_user_id(&astral));
        let t = user_tag(&astral);
        assert!(t.starts_with("u#") && t.len() == 66);
        assert_eq!(t, user_tag(&astral), "deterministic");
        assert_ne!(t, user_tag(&"😁".repeat(128)));
        assert!(user_tag(&"x".repeat(128)).encode_utf16().count() <= MAX_TAG_UTF16);
        let longest_room = "r".repeat(64);
        let cid = crate::common::connection_id::new_connection_id(&longest_room, [0; 8]);
        assert!(connection_tag(&cid).encode_utf16().count() <= MAX_TAG_UTF16);
    }
}
