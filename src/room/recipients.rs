//! Who receives a frame: the one rule every part of the room uses — resolving sends against the
//! index ([`super::Room::resolve`]), planning a turn's sends ([`crate::room::sends::TurnSends::plan`])
//! and settling what a connection closed mid-turn is still owed
//! ([`crate::room::sends::TurnSends::owed_to`]).

/// Who gets a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipients {
    /// One connection.
    One(String),
    /// Every connection, except the one named (if any).
    AllExcept(Option<String>),
    /// Every connection of one user.
    User(String),
    /// Every connection of every user but this one (a user's `typing` goes to the others).
    OtherUsers(String),
    /// Every connection except these (sorted): a deferred `join` leaves out its own connection
    /// and those opened after it (see [`crate::room::deferral::Deferred`]).
    AllExceptThese(Vec<String>),
}

/// Whom a room-wide frame leaves out: [`Recipients::includes`] is false exactly for the
/// connection, or the connections of the user, named here (and for nobody when there is none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exclusion<'a> {
    Connection(&'a str),
    User(&'a str),
    Connections(&'a [String]),
}

impl Recipients {
    /// **The rule**: does a frame addressed to `self` go to connection `connection_id`, which
    /// belongs to `user_id`?
    pub fn includes(&self, connection_id: &str, user_id: &str) -> bool {
        match self {
            Recipients::One(c) => c == connection_id,
            Recipients::AllExcept(except) => except.as_deref() != Some(connection_id),
            Recipients::User(u) => u == user_id,
            Recipients::OtherUsers(u) => u != user_id,
            Recipients::AllExceptThese(these) => these
                .binary_search_by(|c| c.as_str().cmp(connection_id))
                .is_err(),
        }
    }

    /// For a room-wide frame, whom it leaves out (see [`Exclusion`]): lets a turn's plan find
    /// the few connections a frame skips without checking every frame for every connection.
    pub fn exclusion(&self) -> Option<Exclusion<'_>> {
        match self {
            Recipients::AllExcept(Some(c)) => Some(Exclusion::Connection(c)),
            Recipients::OtherUsers(u) => Some(Exclusion::User(u)),
            Recipients::AllExceptThese(these) => Some(Exclusion::Connections(these)),
            _ => None,
        }
    }

    /// Whether the frame goes to the whole room, but for at most a few: such frames are shared
    /// by every connection they include (and planned as one shared `batch` text).
    pub fn is_room_wide(&self) -> bool {
        matches!(
            self,
            Recipients::AllExcept(_) | Recipients::OtherUsers(_) | Recipients::AllExceptThese(_)
        )
    }

    /// Whether a room-wide frame includes every connection without exception.
    pub fn is_everyone(&self) -> bool {
        matches!(self, Recipients::AllExcept(None))
    }

    /// The connection a frame is addressed to alone, if it is: an index key, so that planning
    /// looks only at the frames that can concern a connection.
    pub fn only_connection(&self) -> Option<&str> {
        match self {
            Recipients::One(c) => Some(c),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Recipients::*;

    #[test]
    fn the_rule() {
        let one = One("c1".into());
        assert!(one.includes("c1", "u") && !one.includes("c2", "u"));
        let all = AllExcept(None);
        assert!(all.includes("c1", "u") && all.is_everyone() && all.is_room_wide());
        let but = AllExcept(Some("c1".into()));
        assert!(!but.includes("c1", "u") && but.includes("c2", "u"));
        assert!(but.is_room_wide() && !but.is_everyone());
        let user = User("alice".into());
        assert!(user.includes("c9", "alice") && !user.includes("c9", "bob"));
        assert!(!user.is_room_wide() && user.only_connection().is_none());
        assert_eq!(one.only_connection(), Some("c1"));
        let others = OtherUsers("alice".into());
        assert!(!others.includes("c1", "alice") && others.includes("c1", "bob"));
        assert!(others.is_room_wide() && !others.is_everyone());
    }

    /// `exclusion` says exactly whom `includes` leaves out, for every room-wide variant.
    #[test]
    fn exclusions_agree_with_the_rule() {
        use super::Exclusion;
        let conns = [("c1", "alice"), ("c2", "alice"), ("c3", "bob")];
        for to in [
            AllExcept(None),
            AllExcept(Some("c1".into())),
            OtherUsers("alice".into()),
            AllExceptThese(vec!["c1".into(), "c3".into()]),
        ] {
            assert!(to.is_room_wide());
            for (c, u) in conns {
                let left_out = match to.exclusion() {
                    None => false,
                    Some(Exclusion::Connection(x)) => x == c,
                    Some(Exclusion::User(x)) => x == u,
                    Some(Exclusion::Connections(these)) => these.iter().any(|x| x == c),
                };
                assert_eq!(to.includes(c, u), !left_out, "{to:?} {c} {u}");
            }
        }
    }
}
