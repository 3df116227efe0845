//! The shell's side of [`crate::room::deferral`]: which turns send the frames connects deferred, and
//! the flush a connect schedules right after itself.

use super::turn::{Turn, TurnKind};
use super::ChatRoom;
use crate::room::deferral::Deferred;
use crate::room::Recipients;
use crate::shell::common::env::now_ms;
use worker::Result;

impl ChatRoom {
    /// At the start of a turn: one that processes frames (or a flush) sends what was deferred
    /// first; a connect records its connection, which deferred frames must no longer reach.
    pub(super) fn start_deferral(&self, kind: &TurnKind, has_frames: bool, turn: &mut Turn) {
        let mut deferred = self.turns.deferred.borrow_mut();
        if has_frames || matches!(kind, TurnKind::Flush) {
            deferred.flush_into(&mut turn.sends);
        }
        if let TurnKind::Open(connection_id) = kind {
            deferred.opened(connection_id);
            turn.opening = Some(connection_id.clone());
        }
    }

    /// A send goes to the turn's sends — except what a connect sends to the others: deferred.
    pub(super) fn queue_send(&self, turn: &mut Turn, to: Recipients, frame: String) {
        if turn.opening.is_some() && Deferred::can_defer(&to) {
            self.turns.deferred.borrow_mut().defer(to, frame, now_ms());
        } else {
            turn.sends.push(to, frame);
        }
    }

    /// Before a turn's sends: the deferred frames go first when the turn sends anything but a
    /// new connection's own frames, or when they have waited long enough.
    pub(super) fn settle_deferred(&self, turn: &mut Turn) {
        let mut deferred = self.turns.deferred.borrow_mut();
        if deferred.is_empty() {
            return;
        }
        let own = turn.opening.as_deref();
        let to_others = turn
            .sends
            .items()
            .iter()
            .any(|(to, _)| own.is_none() || to.only_connection() != own);
        if to_others || deferred.overdue(now_ms()) {
            deferred.flush_into(&mut turn.sends);
        }
    }

    /// After a connect: if frames wait and no flush is scheduled yet, waits one macrotask — the
    /// connects that arrive meanwhile defer theirs too — and sends them all in one turn.
    pub(super) async fn flush_deferred_soon(&self, room: &str) -> Result<()> {
        {
            let deferred = self.turns.deferred.borrow();
            // A flush already waiting will take these — unless it is overdue (its handler may
            // have been cancelled), in which case this one takes over.
            if deferred.is_empty() {
                return Ok(());
            }
            let waiting = self.turns.flush_pending.replace(true) && !deferred.overdue(now_ms());
            if waiting {
                return Ok(());
            }
        }
        worker::Delay::from(std::time::Duration::ZERO).await;
        self.turns.flush_pending.set(false);
        self.run_step_as(room, TurnKind::Flush, |_, _| (Vec::new(), ()))
    }
}
