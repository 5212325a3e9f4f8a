#![doc = include_str!("../README.md")]

pub mod api;
pub mod chain;
pub mod config;
pub mod dev;
mod error;
pub mod failpoint;
pub mod hub;
pub mod metrics;
pub mod server;
pub mod store;
pub mod tx;
pub mod watchtower;

pub use error::{Error, Result};
