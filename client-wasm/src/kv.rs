//! A small string key-value store: what the browser's `localStorage` offers, and all the wallet and the channel
//! store need from it. The browser build wraps `localStorage` (or any object with the same methods); native
//! programs and tests use [`MemoryKv`].

use std::{collections::HashMap, sync::Mutex};

use crate::{platform::MaybeSendSync, Error, Result};

/// Where strings are kept. `set` returns once the value is as durable as the store makes it.
pub trait KeyValue: MaybeSendSync + std::fmt::Debug {
    fn get(&self, key: &str) -> Result<Option<String>>;
    fn set(&self, key: &str, value: &str) -> Result<()>;
    fn remove(&self, key: &str) -> Result<()>;
}

/// Keys and values in memory, lost with the process.
#[derive(Debug, Default)]
pub struct MemoryKv {
    entries: Mutex<HashMap<String, String>>,
}

impl MemoryKv {
    pub fn new() -> MemoryKv {
        MemoryKv::default()
    }

    /// Every value, for tests that look at what was stored.
    pub fn values(&self) -> Vec<String> {
        self.lock()
            .map(|e| e.values().cloned().collect())
            .unwrap_or_default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, String>>> {
        self.entries
            .lock()
            .map_err(|_| Error::Store("the memory store was poisoned by a panic".into()))
    }
}

impl KeyValue for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<String>> {
        Ok(self.lock()?.get(key).cloned())
    }

    fn set(&self, key: &str, value: &str) -> Result<()> {
        self.lock()?.insert(key.to_string(), value.to_string());
        Ok(())
    }

    fn remove(&self, key: &str) -> Result<()> {
        self.lock()?.remove(key);
        Ok(())
    }
}
