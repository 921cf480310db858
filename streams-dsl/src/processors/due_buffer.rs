//! Per-key state that waits in memory until a time: keys by their serialized bytes, ordered
//! by when they are due and then by arrival. The suppression buffer and the pane emitter keep
//! their waiting keys in one.

use std::collections::{BTreeMap, HashMap};

/// Where a key waits: when it is due, then its arrival number.
pub(crate) type Place = (i64, u64);

struct Slot<K, S> {
    key: K,
    state: S,
    place: Place,
}

/// Keys with their state, in the order they fall due.
pub(crate) struct DueBuffer<K, S> {
    slots: HashMap<Vec<u8>, Slot<K, S>>,
    order: BTreeMap<Place, Vec<u8>>,
    /// The arrival number of the next key to enter.
    arrivals: u64,
}

impl<K, S> DueBuffer<K, S> {
    pub(crate) fn new() -> Self {
        Self {
            slots: HashMap::new(),
            order: BTreeMap::new(),
            arrivals: 0,
        }
    }

    /// The arrival number for a key entering now.
    pub(crate) fn next_arrival(&self) -> u64 {
        self.arrivals
    }

    /// How many keys wait.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Puts `key` (serialized as `key_bytes`) with `state` at `place`.
    pub(crate) fn hold(&mut self, key_bytes: Vec<u8>, key: K, state: S, place: Place) {
        self.arrivals = self.arrivals.max(place.1.saturating_add(1));
        self.order.insert(place, key_bytes.clone());
        self.slots.insert(key_bytes, Slot { key, state, place });
    }

    /// Takes the key serialized as `key_bytes` out, with its state.
    pub(crate) fn release(&mut self, key_bytes: &[u8]) -> Option<(K, S)> {
        let slot = self.slots.remove(key_bytes)?;
        self.order.remove(&slot.place);
        Some((slot.key, slot.state))
    }

    /// Takes out the key due first, if it is due at `now` or before (any, without `now`).
    pub(crate) fn pop_due(&mut self, now: Option<i64>) -> Option<(Vec<u8>, K, S)> {
        let entry = self.order.first_entry()?;
        if now.is_some_and(|now| entry.key().0 > now) {
            return None;
        }
        let key_bytes = entry.remove();
        let slot = self.slots.remove(&key_bytes)?;
        Some((key_bytes, slot.key, slot.state))
    }

    /// The serialized keys in the order they fall due, with their state.
    pub(crate) fn in_order(&self) -> impl Iterator<Item = (&Vec<u8>, &S)> {
        self.order
            .values()
            .filter_map(|bytes| self.slots.get(bytes).map(|slot| (bytes, &slot.state)))
    }
}
