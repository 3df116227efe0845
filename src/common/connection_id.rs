//! Connection ids: opaque to clients, but routable by the front worker without any lookup.
//!
//! A connection id is `{room}.{16 lowercase hex}`. The suffix has a fixed length, so the room is
//! everything before the last 17 characters even though room names may themselves contain `.`.
//! The front worker can therefore send `POST /connections/{id}/messages` (and a client's
//! `direct` to a connection in another room) straight to the right room object.

use crate::common::names::is_valid_room;

const NONCE_HEX_LEN: usize = 16;

/// Builds a connection id for `room` from 8 random bytes.
pub fn new_connection_id(room: &str, random: [u8; 8]) -> String {
    format!("{room}.{}", hex::encode(random))
}

/// The room a connection id belongs to, or `None` if `id` is not one of ours.
pub fn room_of(id: &str) -> Option<&str> {
    let split = id.len().checked_sub(NONCE_HEX_LEN + 1)?;
    if !id.is_char_boundary(split) {
        return None;
    }
    let (room, rest) = id.split_at(split);
    let nonce = rest.strip_prefix('.')?;
    let nonce_ok = nonce.len() == NONCE_HEX_LEN
        && nonce
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (nonce_ok && is_valid_room(room)).then_some(room)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_rooms_with_dots() {
        let id = new_connection_id("a.b.c", [0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 0xff]);
        assert_eq!(id, "a.b.c.deadbeef000102ff");
        assert_eq!(room_of(&id), Some("a.b.c"));
    }

    #[test]
    fn rejects_foreign_ids() {
        for bad in [
            "",
            "x",
            "deadbeef000102ff",
            ".deadbeef000102ff",
            "room.DEADBEEF000102FF",
            "room-deadbeef000102ff",
            "bad room.deadbeef000102ff",
            "room.deadbeef000102f",
            "é.deadbeef000102ffé",
        ] {
            assert_eq!(room_of(bad), None, "{bad:?}");
        }
    }
}
