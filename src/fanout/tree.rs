//! Where a room's fan-out objects sit: a tree of degree `ROOM_FANOUT_DEGREE` (d) under the room.
//!
//! The room sends to objects 0 … d − 1 only; object `i` relays to objects d(i + 1) …
//! d(i + 1) + d − 1. So whatever the room's size, the room makes at most d requests per turn,
//! and so does every object; a message reaches object `j` through ⌈log_d⌉-ish hops. Objects
//! are numbered in the order they fill, so a room with at most d fan-out objects is a star.

/// The object that relays to `j`: `None` for the room itself.
pub fn parent(j: u32, degree: u32) -> Option<u32> {
    let d = degree.max(1);
    (j >= d).then(|| j / d - 1)
}

/// The next object on the way from `from` (`None`: the room) to `to` — a child of `from` —, or
/// `None` if `to` is `from` itself or not below it.
pub fn next_hop(from: Option<u32>, to: u32, degree: u32) -> Option<u32> {
    if from == Some(to) {
        return None;
    }
    let mut hop = to;
    loop {
        let up = parent(hop, degree);
        if up == from {
            return Some(hop);
        }
        hop = up?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_relays_to_the_first_d_and_each_object_to_d_more() {
        assert_eq!((0..3).map(|j| parent(j, 3)).collect::<Vec<_>>(), [None; 3]);
        assert_eq!(
            (3..6).map(|j| parent(j, 3)).collect::<Vec<_>>(),
            [Some(0); 3]
        );
        assert_eq!(
            (6..9).map(|j| parent(j, 3)).collect::<Vec<_>>(),
            [Some(1); 3]
        );
        assert_eq!(
            parent(12, 3),
            Some(3),
            "object 3 (under 0) relays to 12, 13, 14"
        );
    }

    #[test]
    fn a_hop_is_the_child_on_the_way_down() {
        assert_eq!(next_hop(None, 2, 3), Some(2), "the room's own child");
        assert_eq!(next_hop(None, 12, 3), Some(0), "12 → 3 → 0 → the room");
        assert_eq!(next_hop(Some(0), 12, 3), Some(3));
        assert_eq!(next_hop(Some(3), 12, 3), Some(12));
        assert_eq!(next_hop(Some(12), 12, 3), None, "itself");
        assert_eq!(next_hop(Some(1), 12, 3), None, "not below it");
        assert_eq!(next_hop(Some(2), 0, 3), None, "not below it");
        // Every object is reached from the room, one hop at a time, within a few hops.
        for j in 0..500 {
            let (mut at, mut hops) = (None, 0);
            while let Some(next) = next_hop(at, j, 8) {
                (at, hops) = (Some(next), hops + 1);
            }
            assert_eq!(at, Some(j));
            assert!(hops <= 3, "{j}: {hops} hops");
        }
        assert_eq!(next_hop(None, 7, 1), Some(0), "degree 1 is a chain");
        assert_eq!(parent(5, 0), Some(4), "degree 0 is taken as 1");
    }
}
