//! One connection's publishes: numbered, stamped with their send time, matched with their acks,
//! and (rate mode) paced by a ticker.

use crate::connection::Sender;
use crate::plan::{Plan, Window};
use futures_util::SinkExt;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};
use tokio::time::{Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

pub struct Publisher<'a> {
    plan: &'a Plan,
    /// The connection's index: publish ids are `{index}-{number}`.
    index: usize,
    /// Filler that brings a publish to `--payload` bytes.
    pad: String,
    /// Outstanding publishes by number: an ack counts once, and only for one we sent.
    sent_at: HashMap<u64, Instant>,
    /// Publishes sent, which is also the next one's number.
    sent: u64,
    outstanding: usize,
}

impl<'a> Publisher<'a> {
    pub fn new(plan: &'a Plan, index: usize) -> Self {
        Publisher {
            plan,
            index,
            pad: "x".repeat(plan.args.payload.saturating_sub(24)),
            sent_at: HashMap::new(),
            sent: 0,
            outstanding: 0,
        }
    }

    pub fn sent(&self) -> u64 {
        self.sent
    }

    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// Sends the next publish; `Break` when the socket is gone.
    pub async fn send(&mut self, tx: &mut Sender) -> ControlFlow<()> {
        let n = self.sent;
        self.sent_at.insert(n, Instant::now());
        let t = self.plan.start.elapsed().as_micros() as u64;
        let (pad, index) = (&self.pad, self.index);
        let text =
            format!(r#"{{"type":"publish","data":{{"t":{t},"p":"{pad}"}},"id":"{index}-{n}"}}"#);
        if tx.send(Message::text(text)).await.is_err() {
            return ControlFlow::Break(());
        }
        self.sent += 1;
        self.outstanding += 1;
        ControlFlow::Continue(())
    }

    /// The send time of the publish an ack with this id answers, if it is one of ours and was
    /// not acked before.
    pub fn acked(&mut self, id: Option<&str>) -> Option<Instant> {
        let n = id
            .and_then(|id| id.rsplit('-').next())
            .and_then(|n| n.parse::<u64>().ok())?;
        let sent = self.sent_at.remove(&n)?;
        self.outstanding = self.outstanding.saturating_sub(1);
        Some(sent)
    }

    /// Rate mode: a ticker at this publisher's share of the total rate, from the start of the
    /// warm-up.
    pub fn rate_ticker(&self, window: Window) -> Interval {
        let args = &self.plan.args;
        let publishers = self.plan.publishers.max(1);
        let period = Duration::from_secs_f64(publishers as f64 / args.rate.max(0.001));
        // Publishers are spread evenly over the period: started in phase, they would all fire at
        // once and every "fixed rate" would really be a burst per period.
        let ordinal = self.plan.publisher_ordinal(self.index);
        let phase = period.mul_f64((ordinal % publishers) as f64 / publishers as f64);
        let mut tick = tokio::time::interval_at(
            (window.measure_from - Duration::from_secs_f64(args.warmup) + phase).into(),
            period,
        );
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tick
    }
}
