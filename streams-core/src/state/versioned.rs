//! Typed versioned key-value stores (Kafka Streams KIP-889) and their builder.

use std::cell::RefCell;
use std::rc::Rc;

#[cfg(feature = "rocksdb")]
use state_stores::RocksDbVersionedStore;
pub use state_stores::VersionedPut;
use state_stores::{
    ChangelogRecord, InMemoryVersionedStore, LoggedVersionedStore, StoreError, VersionedBytesStore,
};

use super::builder::{BuiltStore, StoreBuilder, StoreContext, StoreEngine, ValueEncoding};
use super::registry::ManagedStore;
use super::windowed::Codec;
use super::{Stores, ValueAndTimestamp};
use crate::{SerdeRef, StateError};

/// A typed versioned key-value store: each key keeps a history of values, each valid from its
/// timestamp until the next, for a history retention period. See
/// [`Stores::persistent_versioned_key_value_store`].
///
/// A handle is cheap to clone; all clones use the same store. Writing a value whose serde
/// encodes it as null writes a tombstone.
pub struct VersionedKeyValueStore<K, V> {
    name: Rc<str>,
    engine: Rc<RefCell<Box<dyn VersionedBytesStore>>>,
    codec: Rc<Codec<K, V>>,
}

impl<K, V> Clone for VersionedKeyValueStore<K, V> {
    fn clone(&self) -> Self {
        Self {
            name: Rc::clone(&self.name),
            engine: Rc::clone(&self.engine),
            codec: Rc::clone(&self.codec),
        }
    }
}

impl<K, V> std::fmt::Debug for VersionedKeyValueStore<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionedKeyValueStore")
            .field("name", &self.name)
            .finish()
    }
}

impl<K, V> VersionedKeyValueStore<K, V> {
    /// A typed store over `bytes`; `serde_topic` is the topic name handed to the serdes.
    pub fn new(
        bytes: Box<dyn VersionedBytesStore>,
        serde_topic: impl Into<String>,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> Self {
        Self {
            name: Rc::from(bytes.name()),
            engine: Rc::new(RefCell::new(bytes)),
            codec: Rc::new(Codec {
                topic: serde_topic.into(),
                key: key_serde,
                value: value_serde,
            }),
        }
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn decode(
        &self,
        found: Option<state_stores::VersionedRecord>,
    ) -> Result<Option<ValueAndTimestamp<V>>, StateError> {
        found
            .map(|r| {
                Ok(ValueAndTimestamp::new(
                    self.codec.decode_value(&r.value)?,
                    r.timestamp,
                ))
            })
            .transpose()
    }

    /// Stores `value` (`None`: a tombstone) for `key`, valid from `timestamp`. A write older
    /// than the history retention is not stored ([`VersionedPut::Expired`]); one older than the
    /// key's latest version goes into its history ([`VersionedPut::Historical`]).
    pub fn put(
        &self,
        key: &K,
        value: Option<&V>,
        timestamp: i64,
    ) -> Result<VersionedPut, StateError> {
        let key = self.codec.key(key)?;
        let value = self.codec.value(value)?;
        Ok(self
            .engine
            .borrow_mut()
            .put(&key, value.as_deref(), timestamp)?)
    }

    /// The latest value of `key` and its timestamp, unless it was deleted.
    pub fn get(&self, key: &K) -> Result<Option<ValueAndTimestamp<V>>, StateError> {
        let key = self.codec.key(key)?;
        let found = self.engine.borrow().get(&key)?;
        self.decode(found)
    }

    /// The value of `key` valid at `as_of` (the version with the largest timestamp `<= as_of`)
    /// and its timestamp; `None` if there is none or it is a tombstone. As of a time older
    /// than the history retention, only the latest version answers, if it is that old.
    pub fn get_as_of(
        &self,
        key: &K,
        as_of: i64,
    ) -> Result<Option<ValueAndTimestamp<V>>, StateError> {
        let key = self.codec.key(key)?;
        let found = self.engine.borrow().get_as_of(&key, as_of)?;
        self.decode(found)
    }

    /// Writes a tombstone for `key` at `timestamp`; returns the version it ends.
    pub fn delete(
        &self,
        key: &K,
        timestamp: i64,
    ) -> Result<Option<ValueAndTimestamp<V>>, StateError> {
        let key = self.codec.key(key)?;
        let found = self.engine.borrow_mut().delete(&key, timestamp)?;
        self.decode(found)
    }

    /// How long (ms) older versions stay readable after stream time passes them.
    pub fn history_retention(&self) -> i64 {
        self.engine.borrow().history_retention()
    }
}

impl<K, V> ManagedStore for VersionedKeyValueStore<K, V> {
    fn name(&self) -> &str {
        &self.name
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.engine.borrow_mut().flush()
    }

    fn close(&mut self) {
        self.engine.borrow_mut().close();
    }

    fn persistent(&self) -> bool {
        self.engine.borrow().persistent()
    }

    fn restore(&mut self, records: &[ChangelogRecord]) -> Result<(), StoreError> {
        self.engine.borrow_mut().restore_batch(records)
    }

    fn metrics(&self) -> super::StoreMetrics {
        super::StoreMetrics {
            engine: self.engine.borrow().engine_metrics(),
            ..super::StoreMetrics::default()
        }
    }
}

/// Builds typed versioned key-value stores: a name, an engine, a history retention and
/// serdes. Made by [`Stores::versioned_key_value_store_builder`].
pub struct VersionedStoreBuilder<K, V> {
    name: String,
    engine: StoreEngine,
    history_retention: i64,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    logging: bool,
    changelog_configs: Vec<(String, String)>,
}

impl<K, V> VersionedStoreBuilder<K, V> {
    /// Turns changelog logging off (it is on by default).
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }

    /// Keeps changelog logging on with these topic configs over the runtime's own (Kafka
    /// Streams' `withLoggingEnabled(Map)`).
    pub fn with_logging_enabled<K2: Into<String>, V2: Into<String>>(
        mut self,
        configs: impl IntoIterator<Item = (K2, V2)>,
    ) -> Self {
        self.logging = true;
        self.changelog_configs = configs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self
    }
}

impl<K: 'static, V: 'static> StoreBuilder for VersionedStoreBuilder<K, V> {
    fn name(&self) -> &str {
        &self.name
    }

    fn logging_enabled(&self) -> bool {
        self.logging
    }

    fn changelog_configs(&self) -> Vec<(String, String)> {
        self.changelog_configs.clone()
    }

    /// Compaction keeps only a key's latest record; the versions within the history must
    /// survive it to be restored (Kafka Streams: the history retention plus a day).
    fn min_compaction_lag_ms(&self) -> Option<i64> {
        Some(self.history_retention.saturating_add(24 * 60 * 60 * 1000))
    }

    fn build(&self, ctx: StoreContext<'_>) -> Result<BuiltStore, StoreError> {
        let name = &self.name;
        let encoding =
            super::builder::check_value_encoding(name, ctx.directory, &self.value_serde)?;
        let mut engine: Box<dyn VersionedBytesStore> = match &self.engine {
            #[cfg(feature = "rocksdb")]
            StoreEngine::RocksDb => Box::new(RocksDbVersionedStore::open(
                name,
                &ctx.directory.join("rocksdb").join(name),
                self.history_retention,
                ctx.rocksdb,
            )?),
            StoreEngine::Custom(supplier) => {
                return Err(super::builder::not_offered(
                    supplier.engine_name(),
                    name,
                    "versioned",
                ))
            }
            // In memory; without the `rocksdb` feature, every store.
            _ => Box::new(InMemoryVersionedStore::new(name, self.history_retention)),
        };
        if self.logging {
            engine = Box::new(LoggedVersionedStore::new(engine, ctx.changelog.clone()));
        }
        if ctx.metered {
            engine = Box::new(state_stores::Metered::new(engine));
        }
        let store = VersionedKeyValueStore::new(
            engine,
            ctx.changelog_topic(name),
            self.key_serde.clone(),
            self.value_serde.clone(),
        );
        let encoding = encoding.map(ValueEncoding::of_versioned_changelog);
        Ok(ValueEncoding::guard(encoding, BuiltStore::of(store)))
    }
}

impl Stores {
    /// A builder of versioned key-value stores called `name` on `engine`, keeping older
    /// versions for `history_retention_ms` (Kafka Streams'
    /// `Stores.persistentVersionedKeyValueStore` with a store builder).
    ///
    /// ```
    /// use streams_core::{Serdes, StoreBuilder, StoreEngine, Stores};
    ///
    /// let builder = Stores::versioned_key_value_store_builder(
    ///     "prices",
    ///     StoreEngine::RocksDb,
    ///     60_000,
    ///     Serdes::string(),
    ///     Serdes::i64(),
    /// );
    /// assert_eq!(builder.name(), "prices");
    /// assert!(builder.logging_enabled());
    /// ```
    pub fn versioned_key_value_store_builder<K, V>(
        name: impl Into<String>,
        engine: StoreEngine,
        history_retention_ms: i64,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> VersionedStoreBuilder<K, V> {
        VersionedStoreBuilder {
            name: name.into(),
            engine,
            history_retention: history_retention_ms,
            key_serde,
            value_serde,
            logging: true,
            changelog_configs: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Serdes;

    #[test]
    fn typed_versions() {
        let store = VersionedKeyValueStore::new(
            Box::new(InMemoryVersionedStore::new("v", 100)),
            "app-v-changelog",
            Serdes::string(),
            Serdes::optional(Serdes::i64()),
        );
        let k = "a".to_string();
        assert_eq!(
            store.put(&k, Some(&Some(1)), 10).unwrap(),
            VersionedPut::Latest
        );
        assert_eq!(
            store.put(&k, Some(&Some(3)), 30).unwrap(),
            VersionedPut::Latest
        );
        assert_eq!(
            store.put(&k, Some(&Some(2)), 20).unwrap(),
            VersionedPut::Historical
        );
        assert_eq!(
            store.get(&k).unwrap(),
            Some(ValueAndTimestamp::new(Some(3), 30))
        );
        assert_eq!(
            store.get_as_of(&k, 25).unwrap(),
            Some(ValueAndTimestamp::new(Some(2), 20))
        );
        // A value that encodes as null is a tombstone.
        store.put(&k, Some(&None), 40).unwrap();
        assert_eq!(store.get(&k).unwrap(), None);
        assert_eq!(
            store.delete(&k, 50).unwrap(),
            None,
            "nothing was valid at 50 before the delete"
        );
        assert_eq!(store.history_retention(), 100);
    }
}
