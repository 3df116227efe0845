//! The front worker's URL map, as a pure function so that routing is unit-tested.
//!
//! Path segments are returned raw; the handler validates them (room names only ever contain
//! URL-unreserved characters, so a percent sign already means `bad_room`).

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET /health`
    Health,
    /// `GET /dev/token?user=U[&rooms=a,b]` (only when `DEV_MODE=1`)
    DevToken,
    /// `GET /dev/rooms/{room}/debug` (only when `DEV_MODE=1`): the room object's instance facts,
    /// used by tests to prove that a room was evicted and woke up again.
    DevRoomDebug(&'a str),
    /// `GET /rooms/{room}/ws` (WebSocket upgrade)
    RoomSocket(&'a str),
    /// Anything else.
    Unknown,
}

pub fn route(path: &str) -> Route<'_> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["health"] => Route::Health,
        ["dev", "token"] => Route::DevToken,
        ["dev", "rooms", room, "debug"] => Route::DevRoomDebug(room),
        ["rooms", room, "ws"] => Route::RoomSocket(room),
        _ => Route::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_the_contract_paths() {
        assert_eq!(route("/health"), Route::Health);
        assert_eq!(route("/dev/token"), Route::DevToken);
        assert_eq!(route("/rooms/lobby/ws"), Route::RoomSocket("lobby"));
        assert_eq!(route("/rooms//ws"), Route::RoomSocket(""));
        assert_eq!(route("/rooms/a%20b/ws"), Route::RoomSocket("a%20b"));
        assert_eq!(route("/dev/rooms/x/debug"), Route::DevRoomDebug("x"));
    }

    #[test]
    fn everything_else_is_unknown() {
        for p in [
            "/",
            "/rooms",
            "/rooms/x",
            "/rooms/x/ws/extra",
            "/rooms/a/b/ws",
            "/healthz",
        ] {
            assert_eq!(route(p), Route::Unknown, "{p}");
        }
    }
}
