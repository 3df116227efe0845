//! What every object's shell shares: settings and the clock ([`env`](mod@env)), the alarm ([`alarm`]),
//! JSON responses ([`http`]), incident ids ([`incident`]), log lines ([`log`](mod@log)), operator metrics ([`metrics`]) and metered SQL ([`sql`]).

pub mod alarm;
pub mod env;
pub mod http;
pub mod incident;
pub mod log;
pub mod metrics;
pub mod sql;
