//! The room's record of its connections on fan-out objects: which object holds each, and the
//! attachment a socket of its own would carry through hibernation (for these, the room keeps
//! it in its SQLite, `fanout_connections`, and loads it with the room).

use crate::room::sockets::Attachment;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Connections on fan-out objects, by connection id, and by object.
#[derive(Debug, Default)]
pub struct Remote {
    connections: HashMap<String, (u32, Attachment)>,
    objects: BTreeMap<u32, HashSet<String>>,
}

impl Remote {
    /// Connection `a.connection_id` lives on fan-out object `index`.
    pub fn insert(&mut self, index: u32, a: Attachment) {
        let c = a.connection_id.clone();
        if let Some((old, _)) = self.connections.insert(c.clone(), (index, a)) {
            self.unlist(old, &c);
        }
        self.objects.entry(index).or_default().insert(c);
    }

    pub fn remove(&mut self, c: &str) -> Option<(u32, Attachment)> {
        let removed = self.connections.remove(c)?;
        self.unlist(removed.0, c);
        Some(removed)
    }

    fn unlist(&mut self, index: u32, c: &str) {
        if let Some(set) = self.objects.get_mut(&index) {
            set.remove(c);
            if set.is_empty() {
                self.objects.remove(&index);
            }
        }
    }

    pub fn get(&self, c: &str) -> Option<&(u32, Attachment)> {
        self.connections.get(c)
    }

    pub fn get_mut(&mut self, c: &str) -> Option<&mut Attachment> {
        self.connections.get_mut(c).map(|(_, a)| a)
    }

    pub fn len(&self) -> usize {
        self.connections.len()
    }

    pub fn is_empty(&self) -> bool {
        self.connections.is_empty()
    }

    /// The fan-out object a new connection goes to: the first (lowest index) holding fewer
    /// than `per_object`, so objects fill in order and emptied places are filled again first.
    pub fn place(&self, per_object: usize) -> u32 {
        let mut index = 0;
        for (&i, set) in &self.objects {
            if i != index || set.len() < per_object {
                return index;
            }
            index += 1;
        }
        index
    }

    /// How many connections each object holds (only objects holding some).
    pub fn counts(&self) -> BTreeMap<u32, usize> {
        self.objects.iter().map(|(i, s)| (*i, s.len())).collect()
    }

    /// The connections object `index` holds.
    pub fn on_object(&self, index: u32) -> Option<&HashSet<String>> {
        self.objects.get(&index)
    }

    /// Every connection, by object (to ask each which it still holds).
    pub fn by_object(&self) -> BTreeMap<u32, Vec<String>> {
        self.objects
            .iter()
            .map(|(i, s)| (*i, s.iter().cloned().collect()))
            .collect()
    }

    /// How many connections `user` has on fan-out objects.
    pub fn of_user(&self, user: &str) -> usize {
        self.connections
            .values()
            .filter(|(_, a)| a.user_id == user)
            .count()
    }

    /// Any one connection id (an object does not know its own name; a connection id holds it).
    pub fn any_connection(&self) -> Option<&str> {
        self.connections.keys().next().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(c: &str, user: &str) -> Attachment {
        Attachment {
            user_id: user.into(),
            connection_id: c.into(),
            ..Attachment::default()
        }
    }

    #[test]
    fn objects_fill_in_order_and_emptied_places_first() {
        let mut r = Remote::default();
        assert_eq!(r.place(2), 0);
        r.insert(0, a("c1", "u"));
        assert_eq!(r.place(2), 0);
        r.insert(0, a("c2", "u"));
        assert_eq!(r.place(2), 1);
        r.insert(1, a("c3", "v"));
        r.insert(1, a("c4", "v"));
        assert_eq!(r.place(2), 2);
        r.remove("c1");
        assert_eq!(r.place(2), 0, "a place on object 0 is free again");
        r.remove("c2");
        assert_eq!(r.place(2), 0, "object 0 holds nothing");
        assert_eq!(r.counts().get(&0), None);
        assert!(r
            .on_object(1)
            .is_some_and(|s| s.contains("c3") && s.len() == 2));
        assert_eq!((r.len(), r.of_user("v"), r.of_user("u")), (2, 2, 0));
    }

    #[test]
    fn a_connection_moved_is_counted_once() {
        let mut r = Remote::default();
        r.insert(0, a("c1", "u"));
        r.insert(3, a("c1", "u"));
        assert_eq!(r.counts().into_iter().collect::<Vec<_>>(), [(3, 1)]);
        assert!(r.on_object(0).is_none());
        assert_eq!(r.by_object()[&3], ["c1"]);
        assert_eq!(r.remove("c1").map(|(i, _)| i), Some(3));
        assert!(r.is_empty() && r.remove("c1").is_none());
    }
}
