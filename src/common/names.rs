//! Naming rules for rooms and users, and the stable hash that spreads names over shards.
//!
//! Room names travel in URLs, Durable Object names and connection ids, so they are restricted to
//! URL-unreserved characters. User ids come from signed tokens; they only need a length bound so
//! that they always fit a hibernation tag (256 chars) and an attachment.

/// Longest room name, in characters (all ASCII, so also bytes).
pub const MAX_ROOM_LEN: usize = 64;
/// Longest user id (`sub` claim), in characters.
pub const MAX_USER_ID_LEN: usize = 128;

/// `true` when `name` is 1–64 chars of `A-Z a-z 0-9 . _ ~ -`.
pub fn is_valid_room(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_ROOM_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
}

/// `true` when `user_id` is 1–128 characters (any Unicode, no control characters).
pub fn is_valid_user_id(user_id: &str) -> bool {
    let chars = user_id.chars().count();
    (1..=MAX_USER_ID_LEN).contains(&chars) && !user_id.chars().any(char::is_control)
}

/// FNV-1a (32 bits) of `key`: a stable hash for spreading names over shards.
pub fn fnv1a(key: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in key.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet() {
        assert!(is_valid_room("a"));
        assert!(is_valid_room("Lobby-1.general_chat~x"));
        assert!(is_valid_room(&"x".repeat(64)));
    }

    #[test]
    fn rejects_everything_else() {
        assert!(!is_valid_room(""));
        assert!(!is_valid_room(&"x".repeat(65)));
        for bad in [
            "a b", "a/b", "a%20", "é", "a:b", "a?b", "a#b", "a+b", "a\u{0}",
        ] {
            assert!(!is_valid_room(bad), "{bad:?} must be refused");
        }
    }

    #[test]
    fn user_ids_are_bounded() {
        assert!(is_valid_user_id("alice"));
        assert!(is_valid_user_id(&"é".repeat(128)));
        assert!(!is_valid_user_id(""));
        assert!(!is_valid_user_id(&"u".repeat(129)));
        assert!(!is_valid_user_id("a\nb"));
    }
}
