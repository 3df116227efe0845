//! A user's erasure on their registry shard (see [`crate::registry::erasure`]):
//!
//! - `authored(user, room)`: the rooms each user published or reacted in, one row per user per
//!   room (rooms report their authors with their read states; a repeat writes nothing);
//! - `erasures(id, user_key, user, rooms_total, rooms_done, messages, started, finished)`: each
//!   erasure's progress (`user_key`: a hash of the id; `user`: the id, until it finishes);
//! - `erasure_rooms(id, room, user)`: the rooms an erasure has yet to visit.
//!
//! `POST /users/{user}/erase` stores the erasure and its rooms, revokes the user's tokens
//! (their sockets close 4005; tokens issued up to this second are refused from now on),
//! deletes the user's rows here and asks for the alarm, which visits the rooms a few at a time
//! and stores what it did after each batch. It finishes [`core::SETTLE_MS`] after it started at
//! the earliest, deleting the user's rows once more: the rooms' reports of the sockets the
//! revocation closed come in meanwhile. The revocation stays: it is a moderation record.

use super::UserRegistry;
use crate::calls::{RoomCall, RoomRequest};
use crate::common::error::ErrorCode;
use crate::common::meter::ObjectKind;
use crate::registry::erasure::{self as core, ErasureState, ErasureStatus};
use crate::shell::calls;
use crate::shell::common::alarm::AlarmRef;
use crate::shell::common::env::{now_ms, random_hex};
use crate::shell::common::http::{error, json_response};
use crate::shell::common::sql::{has_table, int, number, Sql};
use futures::future::join_all;
use serde::Deserialize;
use std::collections::BTreeSet;
use worker::{Response, Result};

fn sql(r: &UserRegistry) -> Sql {
    Sql::new(r.state.storage().sql(), ObjectKind::Registry)
}

/// The rows of the user elsewhere in the shard, deleted when the erasure starts and again when
/// it ends (a room's last report may land in between). `revocations` and `revocation_pushes`
/// stay: moderation records.
const USER_TABLES: &[&str] = &["rooms", "cursors", "user_seen", "authored"];

impl UserRegistry {
    /// A room's authors of this shard: the room joins each one's set of rooms to erase.
    pub(super) fn note_authors(&self, room: &str, authors: &[String]) -> Result<()> {
        if authors.is_empty() {
            return Ok(());
        }
        let sql = sql(self);
        sql.exec(
            "CREATE TABLE IF NOT EXISTS authored(user TEXT NOT NULL, room TEXT NOT NULL,
               PRIMARY KEY (user, room)) WITHOUT ROWID",
            None,
        )?;
        for user in authors {
            sql.exec(
                "INSERT INTO authored(user, room) VALUES (?, ?) ON CONFLICT DO NOTHING",
                vec![user.as_str().into(), room.into()],
            )?;
        }
        Ok(())
    }

    /// `POST /users/{user}/erase` → 202 `{"erase_id"}`; the rooms are visited from the alarm.
    pub(super) async fn start_erasure(&self, user: &str) -> Result<Response> {
        let rooms = self.rooms_to_erase(user)?;
        let id = random_hex::<16>();
        let sql = sql(self);
        create_tables(&sql)?;
        sql.exec(
            "INSERT INTO erasures(id, user_key, user, rooms_total, rooms_done, messages, started)
             VALUES (?, ?, ?, ?, 0, 0, ?)",
            vec![
                id.as_str().into(),
                core::user_key(user).into(),
                user.into(),
                int(rooms.len() as u64),
                int(now_ms()),
            ],
        )?;
        for room in &rooms {
            sql.exec(
                "INSERT INTO erasure_rooms(id, room, user) VALUES (?, ?, ?)",
                vec![id.as_str().into(), room.as_str().into(), user.into()],
            )?;
        }
        if rooms.is_empty() {
            // Nothing was stored of the user: no room will report them; done at once.
            let done = "UPDATE erasures SET finished = started, user = NULL WHERE id = ?";
            sql.exec(done, vec![id.as_str().into()])?;
        }
        self.revoke(user, now_ms() / 1000 + 1, Some("erased".into()))
            .await?;
        self.forget_user(user)?;
        AlarmRef::new(&self.state, &self.scheduled)
            .wake_at(now_ms())
            .await;
        json_response(202, core::started_body(&id))
    }

    /// Every room the user may have left something in: authored in, counted in (live or
    /// recently), holding a read cursor of theirs.
    fn rooms_to_erase(&self, user: &str) -> Result<BTreeSet<String>> {
        #[derive(Deserialize)]
        struct Row {
            room: String,
        }
        let sql = sql(self);
        let mut rooms = BTreeSet::new();
        for table in ["authored", "rooms", "cursors"] {
            if has_table(&sql, table)? {
                let query = format!("SELECT room FROM {table} WHERE user = ?");
                let rows: Vec<Row> = sql.exec(&query, vec![user.into()])?.to_array()?;
                rooms.extend(rows.into_iter().map(|r| r.room));
            }
        }
        Ok(rooms)
    }

    /// Deletes the user's rows here (see [`USER_TABLES`]) and what this instance holds of them.
    fn forget_user(&self, user: &str) -> Result<()> {
        self.pending.settle(&self.store, &self.users);
        let sql = sql(self);
        for table in USER_TABLES {
            if has_table(&sql, table)? {
                let query = format!("DELETE FROM {table} WHERE user = ?");
                sql.exec(&query, vec![user.into()])?;
            }
        }
        self.users.borrow_mut().remove(user);
        Ok(())
    }

    /// `GET /users/{user}/erase/{erase_id}`: the erasure's progress, or 404 (unknown, or
    /// another user's).
    pub(super) fn erasure_status(&self, user: &str, id: &str) -> Result<Response> {
        #[derive(Deserialize)]
        struct Row {
            rooms_total: f64,
            rooms_done: f64,
            messages: f64,
            started: f64,
            finished: Option<f64>,
        }
        let sql = sql(self);
        let rows: Vec<Row> = match core::is_erase_id(id) && has_table(&sql, "erasures")? {
            true => sql
                .exec(
                    "SELECT rooms_total, rooms_done, messages, started, finished FROM erasures
                     WHERE id = ? AND user_key = ?",
                    vec![id.into(), core::user_key(user).into()],
                )?
                .to_array()?,
            false => Vec::new(),
        };
        let Some(row) = rows.into_iter().next() else {
            return error(ErrorCode::NotFound, "no such erasure");
        };
        let status = ErasureStatus {
            erase_id: id.to_owned(),
            user_id: user.to_owned(),
            state: match row.finished {
                Some(_) => ErasureState::Done,
                None => ErasureState::Running,
            },
            rooms_total: row.rooms_total as u64,
            rooms_done: row.rooms_done as u64,
            messages_erased: row.messages as u64,
            started_at: row.started as u64,
            finished_at: row.finished.map(|f| f as u64),
        };
        json_response(200, serde_json::to_string(&status)?)
    }
}

fn create_tables(sql: &Sql) -> Result<()> {
    sql.exec(
        "CREATE TABLE IF NOT EXISTS erasures(id TEXT PRIMARY KEY, user_key TEXT NOT NULL,
           user TEXT, rooms_total INTEGER NOT NULL, rooms_done INTEGER NOT NULL, messages INTEGER NOT NULL,
           started INTEGER NOT NULL, finished INTEGER)",
        None,
    )?;
    sql.exec(
        "CREATE TABLE IF NOT EXISTS erasure_rooms(id TEXT NOT NULL, room TEXT NOT NULL,
           user TEXT NOT NULL, PRIMARY KEY (id, room)) WITHOUT ROWID",
        None,
    )?;
    Ok(())
}

/// A room an erasure has yet to visit.
#[derive(Deserialize)]
struct Visit {
    id: String,
    room: String,
    user: String,
}

impl UserRegistry {
    /// From the alarm: visits the next rooms of the running erasures (at most
    /// [`core::ROOMS_PER_WAKE`], concurrently), stores what each did, finishes the erasures
    /// with no room left, and asks for the alarm again while any remains.
    pub(super) async fn continue_erasures(&self) -> Result<()> {
        let sql = sql(self);
        if !has_table(&sql, "erasures")? {
            return Ok(());
        }
        let pause = self.erase_pause_ms();
        let batch = if pause.is_some() {
            1
        } else {
            core::ROOMS_PER_WAKE
        };
        let visits: Vec<Visit> = sql
            .exec(
                "SELECT id, room, user FROM erasure_rooms ORDER BY id, room LIMIT ?",
                vec![int(batch as u64)],
            )?
            .to_array()?;
        let answers = join_all(visits.iter().map(|v| self.visit(v))).await;
        let mut wait = pause.unwrap_or(0);
        for (visit, answer) in visits.iter().zip(answers) {
            match answer {
                Ok(answer) => visited(&sql, visit, &answer)?,
                Err(e) => {
                    crate::shell::common::log::warn(
                        "erasure_room_not_visited",
                        serde_json::json!({"room": visit.room, "detail": e.to_string()}),
                    );
                    wait = core::RETRY_MS;
                }
            }
        }
        let finish = self.finish_erasures(&sql)?;
        let left = number(&sql, "SELECT COUNT(*) AS n FROM erasure_rooms", vec![])?;
        let visit = (left.unwrap_or(0) > 0).then(|| now_ms() + wait);
        if let Some(at) = visit.into_iter().chain(finish).min() {
            AlarmRef::new(&self.state, &self.scheduled)
                .wake_at(at)
                .await;
        }
        Ok(())
    }

    /// One room of an erasure: the room's answer.
    async fn visit(&self, v: &Visit) -> Result<Erased> {
        let request = RoomRequest {
            room: v.room.clone(),
            call: RoomCall::EraseUser {
                user: v.user.clone(),
            },
        };
        let res = calls::call(&calls::room(&self.env, &v.room)?, &request).await?;
        calls::reply::<Erased>(res).await
    }

    /// The running erasures with no room left finish once [`core::SETTLE_MS`] passed since
    /// they started: the user's rows here are deleted once more (the reports of the sockets
    /// the revocation closed), and the erasure forgets the user id. Answers when the next one
    /// is due, if any waits.
    fn finish_erasures(&self, sql: &Sql) -> Result<Option<u64>> {
        #[derive(Deserialize)]
        struct Ending {
            id: String,
            user: Option<String>,
            started: f64,
        }
        let ending: Vec<Ending> = sql
            .exec(
                "SELECT id, user, started FROM erasures WHERE finished IS NULL AND NOT EXISTS
                   (SELECT 1 FROM erasure_rooms r WHERE r.id = erasures.id)",
                None,
            )?
            .to_array()?;
        let now = now_ms();
        let mut next: Option<u64> = None;
        for e in ending {
            let due = e.started as u64 + core::SETTLE_MS;
            if now < due {
                next = Some(next.map_or(due, |n| n.min(due)));
                continue;
            }
            if let Some(user) = &e.user {
                self.forget_user(user)?;
            }
            sql.exec(
                "UPDATE erasures SET finished = ?, user = NULL WHERE id = ?",
                vec![int(now), e.id.as_str().into()],
            )?;
        }
        Ok(next)
    }

    /// Test hook, honoured only with `DEV_MODE=1`: `DEV_ERASE_PAUSE_MS=N` makes an erasure
    /// visit one room per alarm, N ms apart, so that a test can kill workerd mid-way.
    fn erase_pause_ms(&self) -> Option<u64> {
        if !crate::shell::common::env::settings(&self.env).dev_mode {
            return None;
        }
        let pause = self.env.var("DEV_ERASE_PAUSE_MS").ok()?;
        pause.to_string().trim().parse().ok()
    }
}

/// A room's answer to [`RoomCall::EraseUser`].
#[derive(Deserialize)]
struct Erased {
    messages: u64,
    /// `false`: more of the user's messages wait there (the room deletes a bounded number per
    /// call); the room stays on the list and is called again at once.
    done: bool,
}

/// A room visited: its messages count, and once it is done its row goes and the erasure's
/// progress grows — one commit.
fn visited(sql: &Sql, v: &Visit, answer: &Erased) -> Result<()> {
    if answer.done {
        sql.exec(
            "DELETE FROM erasure_rooms WHERE id = ? AND room = ?",
            vec![v.id.as_str().into(), v.room.as_str().into()],
        )?;
    }
    sql.exec(
        "UPDATE erasures SET rooms_done = rooms_done + ?, messages = messages + ? WHERE id = ?",
        vec![
            int(u64::from(answer.done)),
            int(answer.messages),
            v.id.as_str().into(),
        ],
    )?;
    Ok(())
}
