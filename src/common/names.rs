//! Naming rules for rooms and users, and the stable hash that spreads names over shards.
//!
//! Room names travel in URLs, Durable Object names and connection ids, so they are restricted to
//! URL-unreserved characters, and never `.` or `..`, which URL parsers resolve as path steps
//! (`/rooms/../messages` is `/messages`: such a room could be created but never reached). User
//! ids come from signed tokens: a length bound, so that they always fit a hibernation tag (256
//! chars) and an attachment, and no invisible characters that change how a name displays.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Longest room name, in characters (all ASCII, so also bytes).
pub const MAX_ROOM_LEN: usize = 64;
/// Longest user id (`sub` claim), in characters.
pub const MAX_USER_ID_LEN: usize = 128;

/// `true` when `name` is 1–64 chars of `A-Z a-z 0-9 . _ ~ -`, and not `.` or `..`.
pub fn is_valid_room(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= MAX_ROOM_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
}

/// What a user id must be, as error messages say it.
pub const USER_ID_RULE: &str = "1-128 characters, none of them invisible (control or format)";

/// `true` when `user_id` is 1–128 characters of any Unicode but the invisible ones.
pub fn is_valid_user_id(user_id: &str) -> bool {
    let chars = user_id.chars().count();
    (1..=MAX_USER_ID_LEN).contains(&chars) && !user_id.chars().any(is_invisible)
}

/// Characters that are not shown as themselves: controls (Cc), format characters (Cf: the
/// bidirectional overrides and isolates such as U+202E, zero-width spaces and joiners, the
/// byte-order mark, soft hyphen, tag characters) and the line and paragraph separators (Zl, Zp).
/// In a user id, `\u{202E}nimda` (right-to-left override) displays as `admin`, and a zero-width
/// space makes a second `bob` that looks like the first.
fn is_invisible(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
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
            "a b", "a/b", "a%20", "é", "a:b", "a?b", "a#b", "a+b", "a\u{0}", ".", "..",
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

    #[test]
    fn user_ids_refuse_invisible_characters() {
        assert!(is_valid_user_id("Zoë 🙂 王"));
        assert!(is_valid_user_id("a.b"));
        for bad in [
            "alice\u{202E}nimda", // right-to-left override (Cf)
            "bo\u{200B}b",        // zero-width space (Cf)
            "bob\u{200D}",        // zero-width joiner (Cf)
            "\u{2066}x\u{2069}",  // left-to-right isolate … pop (Cf)
            "\u{FEFF}bob",        // byte-order mark (Cf)
            "so\u{AD}ft",         // soft hyphen (Cf)
            "tag\u{E0041}",       // tag character (Cf)
            "a\u{7F}",            // delete (Cc)
            "a\u{85}b",           // next line (Cc)
            "a\u{2028}b",         // line separator (Zl)
            "a\u{2029}b",         // paragraph separator (Zp)
        ] {
            assert!(!is_valid_user_id(bad), "{bad:?} must be refused");
        }
    }
}
