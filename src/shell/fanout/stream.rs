//! What a room sends its fan-out objects ([`crate::fanout`]), and what a fan-out object relays
//! to the objects below it ([`crate::fanout::tree`]): one ordered stream per child.
//!
//! A stream is a queue of steps; a step is an upgrade to accept (optional) and then a bundle —
//! a plan for each object reached through that child. Turns add to the last step's plans, so
//! while a request to a child is in flight, the next turns' plans merge into one. Placing an
//! upgrade on an object starts a new step on the way to it: the plans built before the
//! connection joined go before the socket is accepted, its `welcome` and everything after go
//! after it. One task per child sends the steps one request at a time, and a relay forwards
//! what it receives in the same way, so every object sees what the room sends it in the room's
//! order — which is what lets a plan name a broadcast's recipients as "everyone but …"
//! ([`crate::fanout::Op::SendAll`]).
//!
//! Requests leave an object like its socket sends: held by the output gate until the turn's
//! writes are durable, so an `ack` to a connection on a fan-out object never precedes its
//! commit. The tasks are not timers: once its queue is empty, a task ends.

use crate::calls::{FanoutCall, FanoutRequest, RoomCall, RoomRequest};
use crate::common::meter::ObjectKind;
use crate::fanout::tree::next_hop;
use crate::fanout::{Inbound, Plan, PlanReply};
use crate::shell::calls;
use crate::shell::common::log;
use futures::channel::oneshot;
use serde_json::json;
use std::cell::{RefCell, RefMut};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;
use worker::{Env, Response, Result};

/// An upgrade to accept (the call names the object that holds the socket, `target`), and
/// where its answer (the `101`) goes.
type Accept = (FanoutCall, oneshot::Sender<Result<Response>>);

/// Plans for objects, by object index: what one request carries to a child (its own plan and
/// those it relays).
pub type Bundle = BTreeMap<u32, Plan>;

/// One step of a child's stream: the upgrade to accept first, if any, then the plans.
#[derive(Default)]
struct Step {
    accept: Option<Accept>,
    bundle: Bundle,
}

impl Step {
    fn is_due(&self) -> bool {
        self.accept.is_some() || self.bundle.values().any(|p| !p.is_empty())
    }
}

/// The streams from the room (`from` = `None`) or from fan-out object `from` to its children.
pub struct Outgoing {
    from: Option<u32>,
    degree: u32,
    queues: RefCell<BTreeMap<u32, VecDeque<Step>>>,
    sending: RefCell<BTreeSet<u32>>,
}

impl Outgoing {
    pub fn new(from: Option<u32>, degree: u32) -> Self {
        Outgoing {
            from,
            degree,
            queues: RefCell::default(),
            sending: RefCell::default(),
        }
    }

    /// The child whose stream reaches object `j` (`j` itself if it is not below us: sent
    /// directly, which a well-formed tree never asks for).
    fn child_towards(&self, j: u32) -> u32 {
        next_hop(self.from, j, self.degree).unwrap_or(j)
    }

    /// Object `j`'s plan being built (in the last step towards it), to add to.
    pub fn plan(&self, j: u32) -> RefMut<'_, Plan> {
        let child = self.child_towards(j);
        RefMut::map(self.queues.borrow_mut(), |queues| {
            let queue = queues.entry(child).or_default();
            if queue.is_empty() {
                queue.push_back(Step::default());
            }
            let last = queue.len() - 1;
            queue[last].bundle.entry(j).or_default()
        })
    }

    /// Object `j` is to accept an upgrade after what is queued on the way to it; its answer
    /// comes through the returned receiver once the call has been made.
    pub fn accept(&self, j: u32, call: FanoutCall) -> oneshot::Receiver<Result<Response>> {
        let (reply, answer) = oneshot::channel();
        let step = Step {
            accept: Some((call, reply)),
            bundle: Bundle::new(),
        };
        let child = self.child_towards(j);
        self.queues
            .borrow_mut()
            .entry(child)
            .or_default()
            .push_back(step);
        answer
    }

    /// Starts a task for every child with something queued and no task yet.
    pub fn send(self: &Rc<Self>, env: &Env, room: &str) {
        let ready: Vec<u32> = {
            let queues = self.queues.borrow();
            let mut sending = self.sending.borrow_mut();
            let waiting = queues.iter().filter(|(_, q)| q.iter().any(Step::is_due));
            let ready: Vec<u32> = waiting.map(|(i, _)| *i).collect();
            ready.into_iter().filter(|i| sending.insert(*i)).collect()
        };
        for child in ready {
            let task = send_steps(env.clone(), self.clone(), room.to_owned(), child);
            wasm_bindgen_futures::spawn_local(task);
        }
    }

    /// Who sends: the room, or a fan-out object relaying.
    fn kind(&self) -> ObjectKind {
        match self.from {
            None => ObjectKind::Room,
            Some(_) => ObjectKind::Fanout,
        }
    }

    fn next_step(&self, child: u32) -> Option<Step> {
        let mut queues = self.queues.borrow_mut();
        let queue = queues.get_mut(&child)?;
        while let Some(step) = queue.pop_front() {
            if step.is_due() {
                return Some(step);
            }
        }
        None
    }
}

/// Sends `child` its queued steps, one request at a time, until none is left.
async fn send_steps(env: Env, out: Rc<Outgoing>, room: String, child: u32) {
    while let Some(step) = out.next_step(child) {
        if let Some((call, reply)) = step.accept {
            let _ = reply.send(fanout_call(&env, out.kind(), &room, child, call).await);
        }
        let bundle: Bundle = step
            .bundle
            .into_iter()
            .filter(|(_, p)| !p.is_empty())
            .collect();
        if bundle.is_empty() {
            continue;
        }
        match apply(&env, out.kind(), &room, child, &bundle).await {
            Ok(reply) if !reply.is_empty() => gone(&env, &room, reply).await,
            Ok(_) => {}
            Err(e) => log::warn(
                "fanout_plan_failed",
                json!({"room": room, "fanout": child, "detail": e.to_string()}),
            ),
        }
    }
    out.sending.borrow_mut().remove(&child);
}

/// A call to fan-out object `index`, made by an object of `by` (metered).
async fn fanout_call(
    env: &Env,
    by: ObjectKind,
    room: &str,
    index: u32,
    call: FanoutCall,
) -> Result<Response> {
    crate::common::meter::fanout_request(by);
    let request = FanoutRequest {
        room: room.to_owned(),
        index,
        call,
    };
    calls::call(&calls::fanout(env, room, index)?, &request).await
}

/// Sends a bundle to object `index` (which relays what is not its own); its answer names the
/// connections of its own plan it does not hold.
pub async fn apply(
    env: &Env,
    by: ObjectKind,
    room: &str,
    index: u32,
    bundle: &Bundle,
) -> Result<PlanReply> {
    let bundle = serde_json::to_string(bundle)?;
    let res = fanout_call(env, by, room, index, FanoutCall::Apply { bundle }).await?;
    calls::reply(res).await
}

/// Connections an object no longer holds: the room hears of them as closed or lost (through
/// its `fetch`, as an object's closes come, so they take a turn of their own).
pub async fn gone(env: &Env, room: &str, reply: PlanReply) {
    let closed = reply.missing.into_iter().map(|c| Inbound::Closed { c });
    let lost = reply.lost.into_iter().map(|c| Inbound::Lost { c });
    let closed: Vec<Inbound> = closed.chain(lost).collect();
    let Ok(frames) = serde_json::to_string(&closed) else {
        return;
    };
    let request = RoomRequest {
        room: room.to_owned(),
        call: RoomCall::FanoutFrames { frames },
    };
    let told = match calls::room(env, room) {
        Ok(stub) => calls::call(&stub, &request).await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = told {
        log::warn(
            "fanout_gone_not_told",
            json!({"room": room, "detail": e.to_string()}),
        );
    }
}
