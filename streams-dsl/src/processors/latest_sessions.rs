//! The latest session of each key of a session aggregation, typed, in memory: a record at or
//! after the start of its key's latest session can only merge with that session (a key's
//! sessions lie more than the gap apart, and no session of the key ends later), so it needs
//! no read of the store. The store is still written as before, each change as it happens
//! (through its record cache, if it has one), so what it holds, logs and answers does not
//! change; this only spares the reads.
//!
//! A key is known here once a read of the store has found all its sessions ending at or
//! after a record's gap (so its latest one), and stays known while every write of the key
//! updates it. Bounded by half the store's cache budget, which the record cache shares (or
//! [`DEFAULT_LIMIT`] without a cache). When full, new keys are not admitted (their records
//! read the store as without this map), so a key space larger than the bound keeps the keys
//! known that fit; everything is forgotten only once the refused keys far outnumber the hits,
//! that is, once the keys known are no longer the keys that come.

use std::cell::Cell;
use std::collections::HashMap;

use streams_core::{CacheBudget, SessionStore, StateError};

/// The bytes held at most when the store has no cache budget to draw on.
pub(crate) const DEFAULT_LIMIT: usize = 10 << 20;

/// A session `[start, end]` and its value.
#[derive(Clone)]
pub(crate) struct Session<V> {
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) value: V,
}

/// What a key costs here besides the value's heap data: its bytes (a heap block), its entry
/// and the hash table's share.
fn key_cost<V>(bytes: &[u8]) -> usize {
    bytes.len() + 16 + std::mem::size_of::<(Vec<u8>, Option<Session<V>>)>() + 16
}

/// The latest session of each known key.
pub(crate) struct LatestSessions<V> {
    /// Key bytes to the key's latest session (`None`: the key has none).
    latest: HashMap<Vec<u8>, Option<Session<V>>>,
    budget: Option<CacheBudget>,
    /// The bytes held (against `budget`, or [`DEFAULT_LIMIT`]).
    held: usize,
    /// The key bytes of the record at hand.
    key_buf: Vec<u8>,
    /// Reads that found their key known, since the map was last emptied.
    hits: Cell<u64>,
    /// New keys not admitted because the map was full, since it was last emptied.
    refused: u64,
}

impl<V: Clone> LatestSessions<V> {
    /// Nothing known yet; drawing on `budget` if the store has one.
    pub(crate) fn new(budget: Option<CacheBudget>) -> Self {
        Self {
            latest: HashMap::new(),
            budget,
            held: 0,
            key_buf: Vec::new(),
            hits: Cell::new(0),
            refused: 0,
        }
    }

    /// Serializes `key` as the key at hand, for the calls that follow.
    pub(crate) fn key<K>(&mut self, store: &SessionStore<K, V>, key: &K) -> Result<(), StateError> {
        store.key_bytes_into(key, &mut self.key_buf)
    }

    /// The latest session of the key at hand, if the key is known (`Some(None)`: known to
    /// have none).
    pub(crate) fn get(&self) -> Option<Option<&Session<V>>> {
        let found = self.latest.get(self.key_buf.as_slice()).map(Option::as_ref);
        if found.is_some() {
            self.hits.set(self.hits.get() + 1);
        }
        found
    }

    /// Notes `session` as the latest of the key at hand.
    pub(crate) fn set(&mut self, session: Option<Session<V>>) {
        if let Some(slot) = self.latest.get_mut(self.key_buf.as_slice()) {
            *slot = session;
            return;
        }
        let cost = key_cost::<V>(&self.key_buf);
        // Half the budget at most: the store's record cache draws on it too.
        let limit = self
            .budget
            .as_ref()
            .map_or(DEFAULT_LIMIT, |b| b.limit() / 2);
        if self.held + cost > limit {
            self.refused += 1;
            let known = self.latest.len() as u64;
            if self.refused <= 2 * known || self.refused <= 4 * self.hits.get() {
                // Full of keys that still come: this one is read from the store as needed.
                return;
            }
            // The keys known no longer come: start again with the keys that do.
            self.forget_all();
        }
        self.held += cost;
        if let Some(budget) = &self.budget {
            budget.add(cost);
        }
        self.latest.insert(self.key_buf.clone(), session);
    }

    /// Forgets the key at hand (its sessions are read from the store again).
    pub(crate) fn forget(&mut self) {
        if let Some((bytes, _)) = self.latest.remove_entry(self.key_buf.as_slice()) {
            let cost = key_cost::<V>(&bytes);
            self.held -= cost;
            if let Some(budget) = &self.budget {
                budget.remove(cost);
            }
        }
    }

    fn forget_all(&mut self) {
        self.latest.clear();
        self.hits.set(0);
        self.refused = 0;
        if let Some(budget) = &self.budget {
            budget.remove(self.held);
        }
        self.held = 0;
    }
}

impl<V> Drop for LatestSessions<V> {
    fn drop(&mut self) {
        if let Some(budget) = &self.budget {
            budget.remove(self.held);
        }
    }
}
