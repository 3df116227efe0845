//! What a registry shard does with one user's rooms: fan a frame out to them, read the user's
//! connections, close them everywhere, revoke. Every call asks the rooms themselves and keeps
//! their answers (no ghosts, no timers).

use super::pushes::Push;
use super::UserRegistry;
use crate::calls::{ClosedCount, Connections, RoomCall, RoomRequest};
use crate::shell::calls;
use crate::shell::common::http::json_response;
use crate::shell::common::log;
use futures::future::join_all;
use serde_json::json;
use std::collections::BTreeMap;
use worker::{Response, Result};

impl UserRegistry {
    /// `GET /users/{user}`: the user's connections per room, each checked with its room.
    pub(super) async fn info(&self, user: &str) -> Result<Response> {
        self.verify_rooms(user, None).await?;
        let rooms: BTreeMap<String, u32> = self.with_user(user, |s| {
            s.rooms
                .live_rooms()
                .map(|(k, v)| (k.to_owned(), v))
                .collect()
        })?;
        let body = serde_json::json!({
            "user_id": user,
            "connections": rooms.values().sum::<u32>(),
            "rooms": rooms,
        });
        json_response(200, body.to_string())
    }

    /// The user's live rooms (those in `allowed`, when given).
    pub(super) fn live_rooms(&self, user: &str, allowed: Option<&[String]>) -> Result<Vec<String>> {
        self.with_user(user, |s| {
            s.rooms
                .live_rooms()
                .filter(|(room, _)| allowed.is_none_or(|a| a.iter().any(|r| r == room)))
                .map(|(room, _)| room.to_owned())
                .collect()
        })
    }

    /// Asks every room the user is in for their connection count there — delivering a frame
    /// to them on the way, when given (only to the rooms of the sender's `rooms` claim, when it
    /// has one) — and stores the answers. Rooms that cannot be reached keep their entry (they
    /// may be fine; the next call asks again).
    pub(super) async fn verify_rooms(
        &self,
        user: &str,
        delivery: Option<(&str, Option<&[String]>)>,
    ) -> Result<u64> {
        let rooms = self.live_rooms(user, delivery.and_then(|(_, allowed)| allowed))?;
        let env = &self.env;
        let calls = rooms.iter().map(|room| async move {
            let user = user.to_owned();
            let call = match delivery {
                Some((frame, _)) => RoomCall::DeliverToUser {
                    user,
                    frame: frame.to_owned(),
                },
                None => RoomCall::CountUser { user },
            };
            let request = RoomRequest {
                room: room.clone(),
                call,
            };
            let res = calls::call(&calls::room(env, room)?, &request).await?;
            match delivery {
                Some(_) => calls::delivered(res).await,
                None => Ok(calls::reply::<Connections>(res).await?.connections),
            }
        });
        let answers = futures::future::join_all(calls).await;
        let mut total = 0;
        for (room, answer) in rooms.iter().zip(answers) {
            let Ok(n) = answer else { continue };
            total += n;
            let confirmed = self.with_user(user, |s| s.rooms.confirm(room, n as u32))?;
            if let Some((entry, _)) = confirmed {
                self.store.save_room(user, room, entry)?;
            }
        }
        Ok(total)
    }

    /// `POST /users/{user}/disconnect`: every room the user is in closes them (4003).
    pub(super) async fn disconnect_everywhere(
        &self,
        user: &str,
        reason: Option<String>,
    ) -> Result<u64> {
        let call = |user| RoomCall::DisconnectUser {
            user,
            reason: reason.clone(),
        };
        self.close_everywhere(user, call).await
    }

    /// `POST /users/{user}/revoke`: stored (the latest `before` wins), then pushed to every
    /// room the shard has a row for — those the user is in, which close the covered
    /// connections (4005), and those they left within the hour, which may still count them
    /// (`shell/room/counted_users.rs`) — each of which remembers it. A push that fails is kept
    /// and retried from the alarm ([`crate::registry::pushes`]).
    pub(super) async fn revoke(
        &self,
        user: &str,
        before: u64,
        reason: Option<String>,
    ) -> Result<u64> {
        self.store.save_revocation(user, before)?;
        let before = self.with_user(user, |s| {
            let before = s.revoked_before.map_or(before, |b| b.max(before));
            s.revoked_before = Some(before);
            before
        })?;
        let mut rooms: std::collections::BTreeSet<String> =
            self.with_user(user, |s| s.rooms.known_rooms().map(str::to_owned).collect())?;
        rooms.extend(self.pending.rooms_of(user));
        let pushes: Vec<Push> = rooms
            .into_iter()
            .map(|room| Push {
                user: user.to_owned(),
                room,
                before: before as f64,
                reason: reason.clone(),
                attempts: 0.0,
            })
            .collect();
        let answers = join_all(pushes.iter().map(|p| self.push_revocation(p))).await;
        let mut closed = 0;
        for (push, answer) in pushes.iter().zip(answers) {
            match answer {
                Ok(n) => closed += n,
                Err(e) => {
                    log::warn(
                        "revocation_push_failed",
                        json!({"room": push.room, "attempts": 1, "detail": e.to_string()}),
                    );
                    self.push_failed(push, 1).await?;
                }
            }
        }
        Ok(closed)
    }

    /// Sends `call` to every room the user is in, concurrently; answers how many connections
    /// they closed. A room that cannot be reached is logged and counts nothing.
    async fn close_everywhere(&self, user: &str, call: impl Fn(String) -> RoomCall) -> Result<u64> {
        let rooms = self.live_rooms(user, None)?;
        let env = &self.env;
        let calls = rooms.iter().map(|room| {
            let request = RoomRequest {
                room: room.clone(),
                call: call(user.to_owned()),
            };
            async move {
                let res = calls::call(&calls::room(env, &request.room)?, &request).await?;
                calls::reply::<ClosedCount>(res).await
            }
        });
        let mut closed = 0;
        for answer in futures::future::join_all(calls).await {
            match answer {
                Ok(c) => closed += c.closed,
                Err(e) => log::warn("room_close_unreachable", json!({"detail": e.to_string()})),
            }
        }
        Ok(closed)
    }
}
