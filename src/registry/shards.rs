//! Which registry shard holds a user (and a room's message counter): [`ShardHash`].
//!
//! User ids and room names are chosen by whoever holds a token, so a public hash lets anyone
//! aim: directs to made-up ids that all land on one shard. With `REGISTRY_SHARD_KEY` set (a
//! secret of its own: `wrangler secret put REGISTRY_SHARD_KEY`), a name's shard is HMAC-SHA256
//! keyed with it, and nobody without the key can tell which names share a shard. Without it,
//! FNV-1a, as every deployment before the key existed had it.
//!
//! The key is part of where every user's state lives (revocations, read cursors, presence,
//! webhook dead letters of `direct_undelivered`). It must never rotate with `AUTH_SECRET`;
//! setting, changing or losing it moves users to other shards, where their state is not:
//! presence heals as connections report again, unread counts start from the next read, but
//! **revocations are forgotten** until their tokens expire (at most
//! `MAX_TOKEN_LIFETIME_SECONDS`). Set it once, before the first user connects, and keep it
//! where the other secrets are kept.

use super::REGISTRY_SHARDS;
use crate::common::config::Secret;
use crate::common::names::fnv1a;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How names map to registry shards (`REGISTRY_SHARD_KEY`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ShardHash {
    /// FNV-1a of the name: public, so shards can be aimed at (no key set).
    #[default]
    Public,
    /// HMAC-SHA256 of the name with the key: the first 4 bytes, big-endian.
    Keyed(Secret),
}

impl ShardHash {
    /// `Keyed` for a non-empty key, else `Public`.
    pub fn from_key(key: Option<String>) -> ShardHash {
        match key {
            Some(k) if !k.is_empty() => ShardHash::Keyed(Secret::new(k)),
            _ => ShardHash::Public,
        }
    }

    /// The registry shard of a user id (or of a room name, for its message counter).
    pub fn shard_of(&self, name: &str) -> u32 {
        let hash = match self {
            ShardHash::Public => fnv1a(name),
            ShardHash::Keyed(key) => match Hmac::<Sha256>::new_from_slice(key.as_bytes()) {
                Ok(mac) => {
                    let tag = mac.chain_update(name.as_bytes()).finalize().into_bytes();
                    u32::from_be_bytes([tag[0], tag[1], tag[2], tag[3]])
                }
                // HMAC takes a key of any length; this arm is never reached.
                Err(_) => fnv1a(name),
            },
        };
        hash % REGISTRY_SHARDS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_key_shards_are_fnv1a_as_before() {
        let public = ShardHash::from_key(None);
        assert_eq!(public, ShardHash::from_key(Some(String::new())));
        for name in ["alice", "bob", "lobby", "é"] {
            assert_eq!(public.shard_of(name), fnv1a(name) % REGISTRY_SHARDS);
        }
    }

    fn public_shard(name: &str) -> u32 {
        ShardHash::Public.shard_of(name)
    }

    #[test]
    fn a_key_spreads_names_that_fnv1a_puts_on_one_shard() {
        // Names an attacker found to share FNV-1a shard 0 ...
        let aimed: Vec<String> = (0..100_000)
            .map(|i| format!("made-up-{i}"))
            .filter(|n| public_shard(n) == 0)
            .take(640)
            .collect();
        assert_eq!(aimed.len(), 640);
        // ... land on (nearly) every shard under a key, about evenly.
        let keyed = ShardHash::from_key(Some("k3y".into()));
        let mut per_shard = [0u32; REGISTRY_SHARDS as usize];
        for n in &aimed {
            per_shard[keyed.shard_of(n) as usize] += 1;
        }
        assert!(per_shard.iter().filter(|&&c| c > 0).count() >= 60);
        assert!(per_shard.iter().all(|&c| c < 40), "{per_shard:?}");
        // Stable for a key, different for another.
        let other = ShardHash::from_key(Some("other".into()));
        assert_eq!(keyed.shard_of("alice"), keyed.shard_of("alice"));
        assert!(aimed.iter().any(|n| keyed.shard_of(n) != other.shard_of(n)));
    }
}
