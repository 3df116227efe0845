//! What a room sends its fan-out objects ([`crate::fanout`]): one ordered stream per object.
//!
//! Each object has a queue of steps; a step is an upgrade to accept (optional) and then a plan.
//! Turns add to the last step's plan, so while a request to the object is in flight, the next
//! turns' plans merge into one. Placing an upgrade on the object starts a new step: the plans
//! built before the connection joined go before the socket is accepted, its `welcome` and
//! everything after go after it. One task per object sends the steps one request at a time,
//! so the object sees everything in the room's order — which is what lets a plan name a
//! broadcast's recipients as "everyone but …" ([`crate::fanout::Op::SendAll`]).
//!
//! Requests leave the object like its socket sends: held by the output gate until the turn's
//! writes are durable, so an `ack` to a connection on a fan-out object never precedes its
//! commit. The tasks are not timers: once its queue is empty, a task ends.

use crate::calls::{FanoutCall, FanoutRequest, RoomCall, RoomRequest};
use crate::fanout::{Inbound, Plan, PlanReply};
use crate::shell::calls;
use crate::shell::common::log;
use futures::channel::oneshot;
use serde_json::json;
use std::cell::{RefCell, RefMut};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;
use worker::{Env, Response, Result};

/// An upgrade for the object to accept, and where its answer (the `101`) goes.
type Accept = (FanoutCall, oneshot::Sender<Result<Response>>);

/// One step of an object's stream: the upgrade to accept first, if any, then the plan.
#[derive(Default)]
struct Step {
    accept: Option<Accept>,
    plan: Plan,
}

/// Every object's stream, and the objects a task is sending to.
#[derive(Default)]
pub struct Outgoing {
    queues: RefCell<BTreeMap<u32, VecDeque<Step>>>,
    sending: RefCell<BTreeSet<u32>>,
}

impl Outgoing {
    /// Object `index`'s plan being built (the last step's), to add to.
    pub fn plan(&self, index: u32) -> RefMut<'_, Plan> {
        RefMut::map(self.queues.borrow_mut(), |queues| {
            let queue = queues.entry(index).or_default();
            if queue.is_empty() {
                queue.push_back(Step::default());
            }
            let last = queue.len() - 1;
            &mut queue[last].plan
        })
    }

    /// Object `index` is to accept an upgrade after what is queued for it; its answer comes
    /// through the returned receiver once the task has made the call.
    pub fn accept(&self, index: u32, call: FanoutCall) -> oneshot::Receiver<Result<Response>> {
        let (reply, answer) = oneshot::channel();
        let step = Step {
            accept: Some((call, reply)),
            plan: Plan::default(),
        };
        self.queues
            .borrow_mut()
            .entry(index)
            .or_default()
            .push_back(step);
        answer
    }

    /// Starts a task for every object with something queued and no task yet.
    pub fn send(self: &Rc<Self>, env: &Env, room: &str) {
        let ready: Vec<u32> = {
            let queues = self.queues.borrow();
            let mut sending = self.sending.borrow_mut();
            let waiting = queues.iter().filter(|(_, q)| q.iter().any(Step::is_due));
            let ready: Vec<u32> = waiting.map(|(i, _)| *i).collect();
            ready.into_iter().filter(|i| sending.insert(*i)).collect()
        };
        for index in ready {
            let task = send_steps(env.clone(), self.clone(), room.to_owned(), index);
            wasm_bindgen_futures::spawn_local(task);
        }
    }

    fn next_step(&self, index: u32) -> Option<Step> {
        let mut queues = self.queues.borrow_mut();
        let queue = queues.get_mut(&index)?;
        while let Some(step) = queue.pop_front() {
            if step.is_due() {
                return Some(step);
            }
        }
        None
    }
}

impl Step {
    fn is_due(&self) -> bool {
        self.accept.is_some() || !self.plan.is_empty()
    }
}

/// Sends object `index` its queued steps, one request at a time, until none is left.
async fn send_steps(env: Env, out: Rc<Outgoing>, room: String, index: u32) {
    while let Some(step) = out.next_step(index) {
        if let Some((call, reply)) = step.accept {
            let _ = reply.send(accept(&env, &room, index, call).await);
        }
        if step.plan.is_empty() {
            continue;
        }
        match apply(&env, &room, index, &step.plan).await {
            Ok(reply) if !reply.missing.is_empty() => gone(&env, &room, reply.missing).await,
            Ok(_) => {}
            Err(e) => log::warn(
                "fanout_plan_failed",
                json!({"room": room, "fanout": index, "detail": e.to_string()}),
            ),
        }
    }
    out.sending.borrow_mut().remove(&index);
}

async fn call(env: &Env, room: &str, index: u32, call: FanoutCall) -> Result<Response> {
    let request = FanoutRequest {
        room: room.to_owned(),
        index,
        call,
    };
    calls::call(&calls::fanout(env, room, index)?, &request).await
}

/// Asks object `index` to accept an upgrade the room admitted: its answer is the `101`.
async fn accept(env: &Env, room: &str, index: u32, accept: FanoutCall) -> Result<Response> {
    call(env, room, index, accept).await
}

/// Sends one plan to object `index`; its answer names the connections it does not hold.
pub async fn apply(env: &Env, room: &str, index: u32, plan: &Plan) -> Result<PlanReply> {
    let plan = serde_json::to_string(plan)?;
    let res = call(env, room, index, FanoutCall::Apply { plan }).await?;
    calls::reply(res).await
}

/// Connections an object no longer holds: the room hears of them as of closes (through its
/// own `fetch`, as an object's closes come, so they take a turn of their own).
async fn gone(env: &Env, room: &str, missing: Vec<String>) {
    let closed: Vec<Inbound> = missing.into_iter().map(|c| Inbound::Closed { c }).collect();
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
