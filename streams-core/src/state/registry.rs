use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use state_stores::{ChangelogRecord, StoreError};

use crate::ProcessorError;

/// What a store instance reports of itself: cache reads and flushes (counted by the task
/// and the cache, no clock per record) and its engine's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreMetrics {
    /// Reads answered by the record cache.
    pub cache_hits: u64,
    /// Reads the record cache could not answer (they went to the engine).
    pub cache_misses: u64,
    /// Flushes of the store (one per commit).
    pub flushes: u64,
    /// Time spent in those flushes.
    pub flush_time: std::time::Duration,
    /// What the engine reports (RocksDB's memory and compaction backlog).
    pub engine: state_stores::EngineMetrics,
}

impl StoreMetrics {
    /// The share of cache reads that hit, or `None` before any read.
    pub fn cache_hit_ratio(&self) -> Option<f64> {
        let reads = self.cache_hits + self.cache_misses;
        (reads > 0).then(|| self.cache_hits as f64 / reads as f64)
    }
}

/// The type-independent side of a store instance: what a task does to all of its stores.
pub trait ManagedStore {
    /// The store's name.
    fn name(&self) -> &str;
    /// Makes every write durable in the engine.
    fn flush(&mut self) -> Result<(), StoreError>;
    /// Releases the store.
    fn close(&mut self);
    /// Whether the store keeps its data on disk across restarts.
    fn persistent(&self) -> bool;
    /// Applies changelog records to the engine directly (not logged again).
    fn restore(&mut self, records: &[ChangelogRecord]) -> Result<(), StoreError>;
    /// The store's cache and engine figures (flushes are counted by the task).
    fn metrics(&self) -> StoreMetrics {
        StoreMetrics::default()
    }
}

/// The typed handles of a task's stores, by name, and which of them are global.
#[derive(Default)]
pub(crate) struct StoreRegistry {
    handles: HashMap<String, Rc<dyn Any>>,
    globals: HashSet<String>,
}

impl StoreRegistry {
    pub(crate) fn insert(&mut self, name: String, handle: Box<dyn Any>, global: bool) {
        if global {
            self.globals.insert(name.clone());
        }
        self.handles.insert(name, Rc::from(handle));
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.handles.contains_key(name)
    }

    pub(crate) fn is_global(&self, name: &str) -> bool {
        self.globals.contains(name)
    }

    /// Makes this registry's global stores reachable from `other` too.
    pub(crate) fn share_globals_with(&self, other: &mut StoreRegistry) {
        for name in &self.globals {
            other.globals.insert(name.clone());
            other
                .handles
                .insert(name.clone(), Rc::clone(&self.handles[name]));
        }
    }

    /// The handle called `name`, as the type `S`.
    pub(crate) fn get<S: Clone + 'static>(&self, name: &str) -> Result<S, ProcessorError> {
        let handle = self
            .handles
            .get(name)
            .ok_or_else(|| ProcessorError::UnknownStore(name.to_owned()))?;
        handle
            .downcast_ref::<S>()
            .cloned()
            .ok_or_else(|| ProcessorError::StoreType {
                store: name.to_owned(),
                expected: std::any::type_name::<S>(),
            })
    }
}
