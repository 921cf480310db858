//! Read-only views of the typed stores, for interactive queries (Kafka Streams'
//! `ReadOnlyKeyValueStore`, `ReadOnlyWindowStore`, `ReadOnlySessionStore`): a query reads a
//! running task's store and cannot write to it.

use super::{
    KeyValueStore, SessionStore, SessionValue, ValueAndTimestamp, WindowStore, WindowedValue,
};
use crate::{Serializer, StateError};

/// A store type that a query may be given: a read-only view built from the task's handle.
pub trait QueryableStore: 'static {
    /// The task's handle of the store.
    type Store: Clone + 'static;

    /// The read-only view of `store`.
    fn read_only(store: Self::Store) -> Self;
}

/// The reads of a [`KeyValueStore`], and nothing else.
pub struct ReadOnlyKeyValueStore<K, V>(KeyValueStore<K, V>);

impl<K: 'static, V: Clone + 'static> QueryableStore for ReadOnlyKeyValueStore<K, V> {
    type Store = KeyValueStore<K, V>;

    fn read_only(store: Self::Store) -> Self {
        Self(store)
    }
}

impl<K, V: Clone> ReadOnlyKeyValueStore<K, V> {
    /// The store's name.
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// The value of `key`, if any.
    pub fn get(&self, key: &K) -> Result<Option<V>, StateError> {
        self.0.get(key)
    }

    /// The value of `key` with its time, if any.
    pub fn get_with_timestamp(&self, key: &K) -> Result<Option<ValueAndTimestamp<V>>, StateError> {
        self.0.get_with_timestamp(key)
    }

    /// The entries with `from <= key <= to` in serialized-key order.
    pub fn range(&self, from: &K, to: &K) -> Result<Vec<(K, V)>, StateError> {
        self.0.range(from, to)
    }

    /// The same entries as [`range`](Self::range), in descending order.
    pub fn reverse_range(&self, from: &K, to: &K) -> Result<Vec<(K, V)>, StateError> {
        self.0.reverse_range(from, to)
    }

    /// Every entry, in serialized-key order.
    pub fn all(&self) -> Result<Vec<(K, V)>, StateError> {
        self.0.all()
    }

    /// Every entry, in descending serialized-key order.
    pub fn reverse_all(&self) -> Result<Vec<(K, V)>, StateError> {
        self.0.reverse_all()
    }

    /// The entries whose serialized key starts with the encoding of `prefix`.
    pub fn prefix_scan<P>(
        &self,
        prefix: &P,
        prefix_serde: &dyn Serializer<P>,
    ) -> Result<Vec<(K, V)>, StateError> {
        self.0.prefix_scan(prefix, prefix_serde)
    }

    /// An estimate of the number of entries.
    pub fn approximate_num_entries(&self) -> Result<u64, StateError> {
        self.0.approximate_num_entries()
    }
}

/// The reads of a [`WindowStore`], and nothing else.
pub struct ReadOnlyWindowStore<K, V>(WindowStore<K, V>);

impl<K: 'static, V: Clone + 'static> QueryableStore for ReadOnlyWindowStore<K, V> {
    type Store = WindowStore<K, V>;

    fn read_only(store: Self::Store) -> Self {
        Self(store)
    }
}

impl<K, V: Clone> ReadOnlyWindowStore<K, V> {
    /// The store's name.
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// The value of `key` in the window starting at `window_start`, if any.
    pub fn fetch(&self, key: &K, window_start: i64) -> Result<Option<V>, StateError> {
        self.0.fetch(key, window_start)
    }

    /// The windows of `key` starting in `[from, to]`, by start.
    pub fn fetch_range(&self, key: &K, from: i64, to: i64) -> Result<Vec<(i64, V)>, StateError> {
        self.0.fetch_range(key, from, to)
    }

    /// The same windows as [`fetch_range`](Self::fetch_range), latest first.
    pub fn backward_fetch_range(
        &self,
        key: &K,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, V)>, StateError> {
        self.0.backward_fetch_range(key, from, to)
    }

    /// The windows of the keys in `[key_from, key_to]` starting in `[from, to]`.
    pub fn fetch_key_range(
        &self,
        key_from: &K,
        key_to: &K,
        from: i64,
        to: i64,
    ) -> Result<Vec<WindowedValue<K, V>>, StateError> {
        self.0.fetch_key_range(key_from, key_to, from, to)
    }

    /// Every window starting in `[from, to]`.
    pub fn fetch_all(&self, from: i64, to: i64) -> Result<Vec<WindowedValue<K, V>>, StateError> {
        self.0.fetch_all(from, to)
    }

    /// Every window.
    pub fn all(&self) -> Result<Vec<WindowedValue<K, V>>, StateError> {
        self.0.all()
    }
}

/// The reads of a [`SessionStore`], and nothing else.
pub struct ReadOnlySessionStore<K, V>(SessionStore<K, V>);

impl<K: 'static, V: Clone + 'static> QueryableStore for ReadOnlySessionStore<K, V> {
    type Store = SessionStore<K, V>;

    fn read_only(store: Self::Store) -> Self {
        Self(store)
    }
}

impl<K, V: Clone> ReadOnlySessionStore<K, V> {
    /// The store's name.
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// The value of `key`'s session `[start, end]`, if any.
    pub fn fetch_session(&self, key: &K, start: i64, end: i64) -> Result<Option<V>, StateError> {
        self.0.fetch_session(key, start, end)
    }

    /// `key`'s sessions that end at or after `earliest_end` and start at or before
    /// `latest_start`.
    pub fn find_sessions(
        &self,
        key: &K,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionValue<K, V>>, StateError> {
        self.0.find_sessions(key, earliest_end, latest_start)
    }

    /// Every session of `key`.
    pub fn fetch(&self, key: &K) -> Result<Vec<SessionValue<K, V>>, StateError> {
        self.0.fetch(key)
    }

    /// Every session.
    pub fn all(&self) -> Result<Vec<SessionValue<K, V>>, StateError> {
        self.0.all()
    }
}
