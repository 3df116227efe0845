//! What every object shares: settings, error codes, naming rules, the meter of what the
//! platform bills, the one alarm's arithmetic and connection ids.

pub mod alarm;
pub mod config;
pub mod connection_id;
pub mod error;
pub mod heal;
pub mod log;
pub mod meter;
pub mod metrics;
pub mod names;
