//! Who is asking on the front worker's HTTP side, beyond user tokens ([`crate::auth`]): the
//! admin token, compared in constant time, and the room list of the `DEV_MODE` token endpoint.

use crate::common::error::{ChatError, ErrorCode};
use crate::common::names::is_valid_room;

/// Parses the `rooms=a,b` query value of `/dev/token` into a validated list.
pub fn parse_room_list(list: &str) -> Result<Vec<String>, ChatError> {
    list.split(',')
        .filter(|r| !r.is_empty())
        .map(|r| {
            if is_valid_room(r) {
                Ok(r.to_owned())
            } else {
                Err(ChatError::new(
                    ErrorCode::BadRoom,
                    format!("invalid room name {r:?}"),
                ))
            }
        })
        .collect()
}

/// Compares two secrets in time that does not depend on where they differ (`subtle`, a
/// maintained constant-time primitive; unequal lengths compare unequal).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_lists_are_validated() {
        assert_eq!(parse_room_list("a,b").unwrap(), vec!["a", "b"]);
        assert_eq!(parse_room_list("").unwrap(), Vec::<String>::new());
        assert_eq!(
            parse_room_list("a,b c").unwrap_err().code,
            ErrorCode::BadRoom
        );
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
