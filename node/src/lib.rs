#![doc = include_str!("../README.md")]

mod error;
pub mod store;

pub use error::{Error, Result};
