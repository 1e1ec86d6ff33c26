//! Artists: quote, submit, watch, inspect, download and settle render jobs.
pub mod actions;
pub mod download;
pub mod quote;
pub mod scene;
pub mod spec;
pub mod status;
pub mod submit;
pub mod watch;
