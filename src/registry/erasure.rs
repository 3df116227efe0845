//! A user's erasure (`POST /users/{user}/erase`), as the user's registry shard runs it: the
//! rooms to visit are those the user authored in (rooms report their authors with their read
//! states, see `src/shell/room/read_states.rs`), those where the shard counts them or counted
//! them recently, and those where they have a read cursor. The shard stores the erasure and its
//! rooms left, and its alarm calls the rooms a few at a time (`RoomCall::EraseUser`), so an
//! erasure interrupted by an eviction or a restart carries on where it stopped.
//!
//! The erasure's record keeps no user id: a room left to visit names the user until it is
//! visited; the record itself only keeps [`user_key`], a hash of the id, so that
//! `GET /users/{user}/erase/{erase_id}` answers only with the right user.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Rooms visited per alarm: each is one call, made concurrently; progress is stored after.
pub const ROOMS_PER_WAKE: usize = 8;
/// How long a room that could not be reached waits before it is asked again (ms).
pub const RETRY_MS: u64 = 5_000;
/// An erasure finishes no sooner than this after it started (ms): the rooms report the sockets
/// its revocation closed at most a second later (plus a round trip), and those reports write
/// rows of the user (a tombstone, a last-seen time) that the finish deletes once more.
pub const SETTLE_MS: u64 = 3_000;

/// What an erasure's record keeps of the user: a SHA-256 of the id, hex.
pub fn user_key(user: &str) -> String {
    hex::encode(Sha256::digest(user.as_bytes()))
}

/// Where an erasure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErasureState {
    /// Rooms are left to visit.
    Running,
    /// Every room was visited.
    Done,
}

/// The body of `GET /users/{user}/erase/{erase_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErasureStatus {
    pub erase_id: String,
    pub user_id: String,
    pub state: ErasureState,
    /// Rooms to visit, and visited so far.
    pub rooms_total: u64,
    pub rooms_done: u64,
    /// The user's messages deleted so far (already deleted ones are not counted).
    pub messages_erased: u64,
    /// Unix ms.
    pub started_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
}

/// The body of the `202` that starts an erasure.
pub fn started_body(erase_id: &str) -> String {
    serde_json::json!({ "erase_id": erase_id }).to_string()
}

/// Whether `id` can be an erase id (what the shard makes: 32 lowercase hex digits), so that
/// anything else is a plain 404 without a look-up.
pub fn is_erase_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_reads_as_documented() {
        let status = ErasureStatus {
            erase_id: "ab".into(),
            user_id: "é".into(),
            state: ErasureState::Running,
            rooms_total: 3,
            rooms_done: 1,
            messages_erased: 4,
            started_at: 9,
            finished_at: None,
        };
        assert_eq!(
            serde_json::to_string(&status).unwrap(),
            r#"{"erase_id":"ab","user_id":"é","state":"running","rooms_total":3,"rooms_done":1,"messages_erased":4,"started_at":9}"#
        );
        assert_eq!(started_body("x"), r#"{"erase_id":"x"}"#);
    }

    #[test]
    fn user_keys_and_ids() {
        assert_eq!(user_key("a"), user_key("a"));
        assert_ne!(user_key("a"), user_key("b"));
        assert_eq!(user_key("a").len(), 64);
        assert!(is_erase_id(&"0a".repeat(16)));
        for bad in ["", "0A0a", "zz", &"0".repeat(33)] {
            assert!(!is_erase_id(bad), "{bad}");
        }
    }
}
