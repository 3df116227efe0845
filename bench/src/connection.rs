//! One connection of a run: connect, wait for everyone, publish (if a publisher) and verify
//! what arrives until the run ends and the last acks and deliveries have drained.

use crate::args::Mode;
use crate::drain::Drain;
use crate::plan::{Go, Plan, Window};
use crate::publisher::Publisher;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::Deserialize;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::Barrier;
use tokio::time::Interval;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
/// The sending half of a connection's socket.
pub type Sender = SplitSink<Socket, Message>;
type Receiver = SplitStream<Socket>;

/// What one connection saw.
pub struct ConnReport {
    pub room: usize,
    pub connect_ms: f64,
    pub published: u64,
    pub acked: u64,
    pub received: u64,
    /// Messages and acks that arrived in the measured window (after the warm-up, before the stop).
    pub received_in_window: u64,
    pub acked_in_window: u64,
    /// WebSocket messages received after the start (a `batch` counts once).
    pub ws_messages: u64,
    /// Seqs that arrived twice or out of order.
    pub duplicates: u64,
    /// Holes between consecutive seqs.
    pub gaps: u64,
    pub last_seq: Option<u64>,
    pub errors: Vec<String>,
    pub latency: Histogram<u64>,
    pub ack_latency: Histogram<u64>,
    /// `--chatty`: typing and read frames sent and received, and of those the reads.
    pub chat_sent: u64,
    pub chat_received: u64,
    pub reads_sent: u64,
    pub reads_received: u64,
    /// Deliveries that arrived after a silence of a second following this connection's own
    /// acks (the old end of run counted them missing), and the longest such silence.
    pub late: u64,
    pub drain_gap: Duration,
}

impl Default for ConnReport {
    fn default() -> Self {
        ConnReport {
            room: 0,
            connect_ms: 0.0,
            published: 0,
            acked: 0,
            received: 0,
            received_in_window: 0,
            acked_in_window: 0,
            ws_messages: 0,
            duplicates: 0,
            gaps: 0,
            last_seq: None,
            errors: Vec::new(),
            latency: histogram(),
            ack_latency: histogram(),
            chat_sent: 0,
            chat_received: 0,
            reads_sent: 0,
            reads_received: 0,
            late: 0,
            drain_gap: Duration::ZERO,
        }
    }
}

impl ConnReport {
    /// Counts a delivery and checks its seq against the last one: a repeat or a step back is a
    /// duplicate, a jump is a gap.
    fn count_seq(&mut self, seq: u64) {
        self.received += 1;
        match self.last_seq {
            Some(last) if seq <= last => self.duplicates += 1,
            Some(last) if seq > last + 1 => self.gaps += seq - last - 1,
            _ => {}
        }
        if self.last_seq.is_none_or(|l| seq > l) {
            self.last_seq = Some(seq);
        }
    }
}

pub fn histogram() -> Histogram<u64> {
    // 1 µs to 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    seq: Option<u64>,
    id: Option<&'a str>,
    code: Option<&'a str>,
    data: Option<Data>,
    /// The frames of a `batch`.
    #[serde(borrow)]
    frames: Option<Vec<Frame<'a>>>,
}

#[derive(Deserialize)]
struct Data {
    /// Send time, µs since the generator started.
    t: u64,
}

impl ConnReport {
    /// The connection never got its `welcome`.
    pub fn failed_to_connect(&self) -> bool {
        self.errors
            .iter()
            .any(|e| e.starts_with("connect:") || e.starts_with("expected welcome"))
    }
}

/// One connection, from connect to close (see the module's doc).
async fn run_connection(
    plan: Arc<Plan>,
    index: usize,
    user: usize,
    publishes: bool,
    barrier: Arc<Barrier>,
    mut go: Go,
) -> ConnReport {
    let room = index % plan.args.rooms.max(1);
    let mut rep = ConnReport {
        room,
        ..ConnReport::default()
    };
    let base = ws_base(&plan.args.urls[index % plan.args.urls.len().max(1)]);
    // Held until the welcome (or the failure): the connects in flight stay under the limit.
    let permit = match &plan.opening {
        Some(s) => s.acquire().await.ok(),
        None => None,
    };
    let t0 = Instant::now();
    let (tx, mut rx) = match connect(&plan, &base, room, user).await {
        Ok(ws) => ws.split(),
        Err(e) => {
            rep.errors.push(e);
            drop(permit);
            barrier.wait().await;
            return rep;
        }
    };
    if let Err(e) = expect_welcome(&mut rx).await {
        rep.errors.push(e);
    }
    rep.connect_ms = t0.elapsed().as_secs_f64() * 1000.0;
    drop(permit);
    barrier.wait().await;
    let Some(window) = wait_for_go(&mut go).await else {
        return rep;
    };
    let publisher = Publisher::new(&plan, index);
    let mut tick = publisher.rate_ticker(window);
    let (warmup, conns) = (plan.args.warmup, plan.args.conns);
    let mut typing = crate::chatty::typing_ticker(window, warmup, index, conns);
    let mut session = Session {
        plan: &plan,
        index,
        window,
        publishes,
        tx,
        publisher,
        rep,
        chatty: crate::chatty::Chatty::new(plan.args.read_every()),
    };
    session.start_closed_loop().await;
    session.exchange(&mut rx, &mut tick, &mut typing).await;
    session.close().await
}

/// One connection (see [`run_connection`]); whatever happened, it counts no more acks after.
pub async fn connection(
    plan: Arc<Plan>,
    index: usize,
    user: usize,
    publishes: bool,
    barrier: Arc<Barrier>,
    go: Go,
) -> ConnReport {
    let tally = plan.clone();
    let rep = run_connection(plan, index, user, publishes, barrier, go).await;
    tally.tally.settle(index);
    rep
}

/// The WebSocket base of a server URL: http://h → ws://h, https://h → wss://h; ws:// and
/// wss:// stay.
fn ws_base(url: &str) -> String {
    let url = url.trim_end_matches('/');
    match url.strip_prefix("http") {
        Some(rest) => format!("ws{rest}"),
        None => url.to_owned(),
    }
}

/// Opens the room's socket with a fresh token for `user-{user}`.
async fn connect(plan: &Plan, base: &str, room: usize, user: usize) -> Result<Socket, String> {
    let args = &plan.args;
    let token = plan.tokens.for_user(user);
    let url = format!(
        "{base}/rooms/{}-{room}/ws?token={token}{}",
        plan.prefix,
        if args.batch { "&batch=1" } else { "" }
    );
    // Nagle off: small publishes must not wait for the previous one's ACK (delayed ACKs put a
    // ~40 ms floor under every latency otherwise).
    match tokio_tungstenite::connect_async_with_config(url.as_str(), None, true).await {
        Ok((ws, _)) => Ok(ws),
        Err(e) => Err(format!("connect: {e}")),
    }
}

/// The first frame is `welcome`.
async fn expect_welcome(rx: &mut Receiver) -> Result<(), String> {
    match rx.next().await {
        Some(Ok(Message::Text(t))) if t.contains("\"welcome\"") => Ok(()),
        other => Err(format!("expected welcome, got {other:?}")),
    }
}

/// The measured window, once every connection is welcomed (`None` if the run was dropped).
async fn wait_for_go(go: &mut Go) -> Option<Window> {
    match go.wait_for(|g| g.is_some()).await {
        Ok(g) => *g,
        Err(_) => None,
    }
}

/// A connection after the go signal: what it sends and what it saw.
struct Session<'a> {
    plan: &'a Plan,
    /// The connection's index (its place in the run's [`crate::drain::Tally`]).
    index: usize,
    window: Window,
    /// Whether this connection publishes (the first `--publishers` connections do).
    publishes: bool,
    tx: Sender,
    publisher: Publisher<'a>,
    rep: ConnReport,
    /// `--chatty`: typing and reads.
    chatty: crate::chatty::Chatty,
}

impl Session<'_> {
    /// A closed-loop publisher: `--in-flight` publishes at the start, then one per ack.
    fn closed_loop(&self) -> bool {
        self.publishes && matches!(self.plan.args.mode, Mode::Closed)
    }

    /// A rate-mode publisher: one publish per tick, acks or not.
    fn fixed_rate(&self) -> bool {
        self.publishes && matches!(self.plan.args.mode, Mode::Rate)
    }

    async fn start_closed_loop(&mut self) {
        if self.closed_loop() {
            for _ in 0..self.plan.args.in_flight {
                if self.publisher.send(&mut self.tx).await.is_break() {
                    break;
                }
            }
        }
    }

    /// Publishes (rate mode) and receives until the run has stopped and drained.
    async fn exchange(&mut self, rx: &mut Receiver, tick: &mut Interval, typing: &mut Interval) {
        let fixed_rate = self.fixed_rate();
        let chatty = self.plan.args.chatty;
        let mut drain = Drain::new(self.window.stop_at);
        loop {
            let now = Instant::now();
            let publishing = fixed_rate && now < self.window.stop_at;
            let typing_now = chatty && now < self.window.stop_at;
            let read_due = self.chatty.read_due().filter(|_| now < self.window.stop_at);
            let have = self.rep.received - self.rep.duplicates;
            let me = (self.index, self.rep.room);
            let outstanding = self.publisher.outstanding();
            let Some(wake) = drain.wake_at(now, outstanding, have, &self.plan.tally, me) else {
                break;
            };
            let flow = tokio::select! {
                _ = tick.tick(), if publishing => self.publisher.send(&mut self.tx).await,
                _ = typing.tick(), if typing_now => self.chatty.typing(&mut self.tx).await,
                _ = tokio::time::sleep_until(read_due.unwrap_or(now).into()), if read_due.is_some() => {
                    self.chatty.read_held(&mut self.tx, Instant::now()).await
                }
                frame = rx.next() => self.receive(frame, &mut drain).await,
                _ = tokio::time::sleep_until(wake.into()) => ControlFlow::Continue(()),
            };
            if flow.is_break() {
                break;
            }
        }
        self.rep.drain_gap = drain.longest_gap;
    }

    /// A WebSocket message: every frame in it verified (a `batch` holds several); `Break` when
    /// the socket closed.
    async fn receive(
        &mut self,
        frame: Option<Result<Message, tungstenite::Error>>,
        drain: &mut Drain,
    ) -> ControlFlow<()> {
        let Some(Ok(Message::Text(text))) = frame else {
            if frame.is_none() || matches!(frame, Some(Err(_))) {
                self.rep.errors.push("connection closed early".into());
                return ControlFlow::Break(());
            }
            return ControlFlow::Continue(());
        };
        let arrived = Instant::now();
        self.rep.ws_messages += 1;
        drain.heard(arrived);
        let Ok(mut f) = serde_json::from_str::<Frame>(&text) else {
            let head = &text[..text.len().min(80)];
            self.rep.errors.push(format!("unreadable frame: {head}"));
            return ControlFlow::Continue(());
        };
        // A frame on its own, or the frames of a batch (no allocation for the former).
        let (single, batch) = match f.frames.take() {
            Some(inner) if f.kind == "batch" => (None, inner),
            _ => (Some(f), Vec::new()),
        };
        for f in single.into_iter().chain(batch) {
            if drain.past_old_cutoff && f.kind == "message" {
                self.rep.late += 1;
            }
            self.verify(f, arrived).await?;
        }
        if self.plan.args.chatty && arrived < self.window.stop_at {
            return self.chatty.mark_read(&mut self.tx, arrived).await;
        }
        ControlFlow::Continue(())
    }

    async fn verify(&mut self, f: Frame<'_>, arrived: Instant) -> ControlFlow<()> {
        match f.kind {
            "message" => {
                self.chatty.saw(f.seq.unwrap_or(0));
                self.delivered(&f, arrived)
            }
            "typing" => self.rep.chat_received += 1,
            "read" => {
                self.rep.chat_received += 1;
                self.rep.reads_received += 1;
            }
            "ack" => return self.acked(&f, arrived).await,
            "error" => {
                let code = f.code.unwrap_or("?");
                self.rep.errors.push(format!("error frame: {code}"));
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    /// A delivery: counted and checked against the last seq; timed if in the window.
    fn delivered(&mut self, f: &Frame, arrived: Instant) {
        let Some(seq) = f.seq else {
            return;
        };
        self.rep.count_seq(seq);
        if self.window.contains(arrived) {
            self.rep.received_in_window += 1;
            if let Some(d) = &f.data {
                let sent = self.plan.start + Duration::from_micros(d.t);
                let us = arrived.saturating_duration_since(sent).as_micros() as u64;
                let _ = self.rep.latency.record(us.max(1));
            }
        }
    }

    /// An ack of one of our publishes: timed if in the window; in the closed loop, the next
    /// publish (until the stop). `Break` when the socket is gone.
    async fn acked(&mut self, f: &Frame<'_>, arrived: Instant) -> ControlFlow<()> {
        let Some(sent) = self.publisher.acked(f.id) else {
            return ControlFlow::Continue(());
        };
        self.rep.acked += 1;
        self.plan.tally.acked(self.rep.room);
        if self.window.contains(arrived) {
            self.rep.acked_in_window += 1;
            let us = (arrived - sent).as_micros().max(1) as u64;
            let _ = self.rep.ack_latency.record(us);
        }
        if self.closed_loop() && arrived < self.window.stop_at {
            return self.publisher.send(&mut self.tx).await;
        }
        ControlFlow::Continue(())
    }

    async fn close(mut self) -> ConnReport {
        self.rep.published = self.publisher.sent();
        self.rep.chat_sent = self.chatty.typing_sent + self.chatty.reads_sent;
        self.rep.reads_sent = self.chatty.reads_sent;
        let _ = self.tx.send(Message::Close(None)).await;
        self.rep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls_become_websocket_urls() {
        assert_eq!(ws_base("http://h:1/"), "ws://h:1");
        assert_eq!(ws_base("https://h"), "wss://h");
        assert_eq!(ws_base("ws://h"), "ws://h");
        assert_eq!(ws_base("wss://h//"), "wss://h");
    }

    #[test]
    fn seqs_count_repeats_and_holes() {
        let mut rep = ConnReport::default();
        for seq in [1, 2, 2, 5, 3, 6] {
            rep.count_seq(seq);
        }
        // 2 twice and 3 after 5 are duplicates; 3 and 4 were missing when 5 came.
        assert_eq!((rep.received, rep.duplicates, rep.gaps), (6, 2, 2));
        assert_eq!(rep.last_seq, Some(6));
    }
}
