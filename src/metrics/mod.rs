//! `--metrics-listen ADDR`: the workers' counters in the Prometheus text
//! format at `/metrics`.
//!
//! The counters live per worker ([`crate::server::stats::WorkerStats`],
//! written only by their worker with relaxed atomics) and are summed here,
//! at scrape time, so serving metrics costs the hot path nothing but the
//! increments. [`render`] turns them into text (pure); [`serve`] runs the
//! listener on a thread of its own.

pub mod render;
pub mod serve;

#[cfg(test)]
mod parse;
#[cfg(test)]
mod tests;

pub use render::{BackendKind, CONTENT_TYPE, Scrape, render};
pub use serve::{MetricsEndpoint, MetricsError, exposure_warning, start};
