//! The shell's side of [`crate::room::member_count`]: a `member_count` frame due now joins the
//! turn's sends; one that must wait for its interval goes out from a trailing task at its time,
//! so the last change of a burst is always announced. The task's timer (at most a second) keeps
//! the object in memory that long — a join or a leave has just woken it anyway.

use super::sends::send_planned;
use super::turn::{Loaded, Peer, SharedRoom};
use super::ChatRoom;
use crate::room::sends::TurnSends;
use crate::room::{Action, Room};
use crate::shell::common::env::now_ms;
use std::cell::Cell;
use std::rc::Rc;

/// Whether a trailing `member_count` task is waiting (one per room at a time).
#[derive(Default, Clone)]
pub struct CountTimer(Rc<Cell<bool>>);

impl ChatRoom {
    /// After a turn's own step: the `member_count` frame if one is due (to go with the turn's
    /// sends); if one waits for its interval, the trailing task is started.
    pub(super) fn member_count_actions(&self, r: &mut Room<Peer>) -> Vec<Action> {
        if !r.member_count_pending() {
            return Vec::new();
        }
        let (actions, due) = r.member_count_due(now_ms());
        if let Some(at) = due {
            self.count_at(at);
        }
        actions
    }

    fn count_at(&self, at_ms: u64) {
        if self.count_timer.0.replace(true) {
            return; // the waiting task sends the latest count
        }
        let task = CountTask {
            shared: self.room.clone(),
            timer: self.count_timer.clone(),
            fanouts: self.fanouts.clone(),
            env: self.env.clone(),
            at_ms,
        };
        self.state.wait_until(task.run());
    }
}

/// Sends the waiting `member_count` once its interval has passed.
struct CountTask {
    shared: SharedRoom,
    timer: CountTimer,
    /// Where the frames for connections on fan-out objects go.
    fanouts: Rc<super::fanout::Fanouts>,
    env: worker::Env,
    at_ms: u64,
}

impl CountTask {
    async fn run(self) {
        let mut at = self.at_ms;
        loop {
            let wait = at.saturating_sub(now_ms());
            worker::Delay::from(std::time::Duration::from_millis(wait)).await;
            // Between events: no turn holds the room (turns never await while borrowing it).
            let Ok(mut slot) = self.shared.try_borrow_mut() else {
                break;
            };
            let Some(Loaded { room: r, .. }) = slot.as_mut() else {
                break; // unloaded meanwhile (the room was deleted): nothing to announce
            };
            let (actions, due) = r.member_count_due(now_ms());
            let mut sends = TurnSends::default();
            for a in actions {
                if let Action::Send { to, frame } = a {
                    sends.push(to, frame);
                }
            }
            send_planned(r, &mut sends, &self.fanouts);
            self.fanouts.send(&self.env, r.name());
            match due {
                Some(next) => at = next,
                None => break,
            }
        }
        self.timer.0.set(false);
    }
}
