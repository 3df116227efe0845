//! A fan-out object as a relay ([`crate::fanout::tree`]): past `ROOM_FANOUT_DEGREE` objects, the
//! room sends only to the first ones, and each passes on what is for the objects below it —
//! plans merged per child, upgrades in order with them — through the same ordered streams the
//! room uses ([`super::stream`]).

use super::stream::{Bundle, Outgoing};
use super::RoomFanout;
use crate::calls::FanoutCall;
use std::rc::Rc;
use worker::{Response, Result};

impl RoomFanout {
    /// The streams from this object (`index`) to its children.
    fn relays(&self, index: u32) -> Rc<Outgoing> {
        self.relays
            .borrow_mut()
            .get_or_insert_with(|| Rc::new(Outgoing::new(Some(index), self.config.fanout_degree)))
            .clone()
    }

    /// Queues the plans for objects below this one, each on its way, and starts sending.
    pub(super) fn relay(&self, room: &str, index: u32, bundle: Bundle) {
        if bundle.is_empty() {
            return;
        }
        let out = self.relays(index);
        for (j, plan) in bundle {
            out.plan(j).append(plan);
        }
        out.send(&self.env, room);
    }

    /// An upgrade for an object below this one: passed on after what is queued towards it,
    /// and its answer (the `101`) handed back.
    pub(super) async fn relay_accept(
        &self,
        room: &str,
        index: u32,
        call: FanoutCall,
    ) -> Result<Response> {
        let FanoutCall::Accept { target, .. } = &call else {
            return crate::shell::common::http::internal("relay", "not an accept");
        };
        let out = self.relays(index);
        let answer = out.accept(*target, call);
        out.send(&self.env, room);
        match answer.await {
            Ok(answer) => answer,
            Err(_) => crate::shell::common::http::internal("relay an upgrade", "dropped"),
        }
    }
}
