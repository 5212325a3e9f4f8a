#![doc = include_str!("../README.md")]

pub mod api;
pub mod chain;
pub mod config;
mod error;
pub mod server;
pub mod store;

pub use error::{Error, Result};
