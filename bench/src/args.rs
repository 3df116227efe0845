//! The load generator's command line.

use clap::{Parser, ValueEnum};

/// The algorithm the generator signs tokens with.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TokenAlg {
    Hs256,
    Rs256,
    Es256,
    Eddsa,
}

#[derive(Clone, Copy, Debug, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Each publisher keeps `--in-flight` publishes outstanding (next one on each ack).
    Closed,
    /// Publishers send at a fixed total arrival rate (`--rate` publishes/s), acks or not.
    Rate,
}

#[derive(Parser, Debug, Clone)]
#[command(about = "Verified load generator for edge-chat rooms")]
pub struct Args {
    /// Base URL of the server (ws:// or http://). Repeat it for a multi-instance peer:
    /// connection i goes to URL i mod n.
    #[arg(long = "url", default_value = "ws://127.0.0.1:8787")]
    pub urls: Vec<String>,
    /// HS256 secret the server verifies tokens with (AUTH_SECRET).
    #[arg(long, default_value = "dev-secret")]
    pub secret: String,
    /// How tokens are signed: `hs256` with `--secret`, or `rs256`, `es256`, `eddsa` with
    /// `--token-key` under `--token-kid` (the server's `AUTH_JWKS_URL` serving the public key).
    #[arg(long, value_enum, default_value = "hs256")]
    pub token_alg: TokenAlg,
    /// PKCS#8 PEM private key for `--token-alg` rs256, es256 or eddsa.
    #[arg(long)]
    pub token_key: Option<std::path::PathBuf>,
    /// The `kid` in the tokens' header.
    #[arg(long)]
    pub token_kid: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    /// Connections in total, spread round-robin over the rooms.
    #[arg(long, default_value_t = 64)]
    pub conns: usize,
    /// At most this many connections opening at once (connect + welcome); 0: all at once.
    /// Thousands of simultaneous connects overflow the server's listen queue (resets), so a
    /// big room opens its sockets a few hundred at a time (bench/scripts/big_room.mjs).
    #[arg(long, default_value_t = 0)]
    pub connect_concurrency: usize,
    /// Distinct users (default: one per connection); users > 1 connection share a user id.
    #[arg(long)]
    pub users: Option<usize>,
    /// How many of the connections publish (default: all).
    #[arg(long)]
    pub publishers: Option<usize>,
    /// The publishers are every (conns ÷ publishers)-th connection instead of the first ones:
    /// in a big room with fan-out objects (issue 25), the first connections all land on the
    /// room's own object; spread, publishers sit on every object, as a big room's members do.
    #[arg(long)]
    pub spread_publishers: bool,
    /// Payload bytes per message.
    #[arg(long, default_value_t = 32)]
    pub payload: usize,
    #[arg(long, value_enum, default_value = "closed")]
    pub mode: Mode,
    /// Closed loop: publishes outstanding per publisher.
    #[arg(long, default_value_t = 4)]
    pub in_flight: usize,
    /// Rate mode: total publishes per second.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Warm-up seconds: load runs, nothing is recorded (every rate, latency and the server's
    /// CPU cover the measured seconds only; loss checks cover the whole run).
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Processes whose CPU time and RSS are the server's (repeatable).
    #[arg(long = "server-pid")]
    pub server_pids: Vec<u32>,
    /// Or: every process named `--server-name` descending from this pid.
    #[arg(long, alias = "workerd-of")]
    pub server_of: Option<u32>,
    /// Process names that make up the server under `--server-of` (repeatable).
    #[arg(long = "server-name", default_value = "workerd")]
    pub server_names: Vec<String>,
    /// Write the JSON report here.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
    /// A label for the report (peer name, cell).
    #[arg(long, default_value = "edge-chat")]
    pub label: String,
    /// Room name prefix (default: random, so runs never share rooms).
    #[arg(long)]
    pub room_prefix: Option<String>,
    #[arg(long)]
    pub no_progress: bool,
    /// Connect with `?batch=1`: the server may coalesce a turn's frames into one `batch` frame
    /// (each frame inside is verified like any other).
    #[arg(long)]
    pub batch: bool,
    /// Chat-app clients: every connection also types every 2 s and marks the room read after
    /// every WebSocket message that brought it messages, at most once per 500 ms as the
    /// TypeScript client's `markRead` does (the newest seq at the interval's end; see
    /// `chatty.rs`).
    #[arg(long)]
    pub chatty: bool,
    /// With `--chatty`: a read after every WebSocket message that brought messages, unthrottled
    /// (a naive client; the model before issue 24).
    #[arg(long, requires = "chatty")]
    pub read_every_message: bool,
}

impl Args {
    /// The interval of `--chatty`'s reads (zero: `--read-every-message`).
    pub fn read_every(&self) -> std::time::Duration {
        if self.read_every_message {
            std::time::Duration::ZERO
        } else {
            crate::chatty::READ_EVERY
        }
    }
}
