use std::any::Any;

use state_stores::{InMemoryKeyValueStore, KeyValueBytesStore};

use super::registry::ManagedStore;
use super::KeyValueStore;
use crate::{SerdeRef, TaskId};

/// What a store builder knows of the task it builds a store instance for.
#[derive(Clone, Copy, Debug)]
pub struct StoreContext<'a> {
    /// The application id.
    pub application_id: &'a str,
    /// The task that will own the store.
    pub task_id: TaskId,
}

impl StoreContext<'_> {
    /// The name of the changelog topic of the store called `store`:
    /// `<application.id>-<store>-changelog`.
    pub fn changelog_topic(&self, store: &str) -> String {
        format!("{}-{}-changelog", self.application_id, store)
    }
}

/// A store instance ready for a task: its typed handle and its life cycle.
pub struct BuiltStore {
    pub(crate) handle: Box<dyn Any>,
    pub(crate) managed: Box<dyn ManagedStore>,
}

/// Creates one instance of a named store per task. Built by [`Stores`].
pub trait StoreBuilder: Send + Sync + 'static {
    /// The store's name.
    fn name(&self) -> &str;

    /// Whether writes are logged to a changelog topic.
    fn logging_enabled(&self) -> bool;

    /// A new store instance for a task.
    fn build(&self, ctx: StoreContext<'_>) -> BuiltStore;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyValueEngine {
    InMemory,
}

/// Names a key-value store and the engine that holds it, without its types.
#[derive(Clone, Debug)]
pub struct KeyValueStoreSupplier {
    name: String,
    engine: KeyValueEngine,
}

impl KeyValueStoreSupplier {
    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn engine(&self) -> Box<dyn KeyValueBytesStore> {
        match self.engine {
            KeyValueEngine::InMemory => Box::new(InMemoryKeyValueStore::new(self.name.clone())),
        }
    }
}

/// Builds typed key-value stores: a supplier plus the key and value serdes.
pub struct KeyValueStoreBuilder<K, V> {
    supplier: KeyValueStoreSupplier,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    logging: bool,
}

impl<K, V> KeyValueStoreBuilder<K, V> {
    /// Turns changelog logging off (it is on by default).
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }
}

impl<K: 'static, V: 'static> StoreBuilder for KeyValueStoreBuilder<K, V> {
    fn name(&self) -> &str {
        &self.supplier.name
    }

    fn logging_enabled(&self) -> bool {
        self.logging
    }

    fn build(&self, ctx: StoreContext<'_>) -> BuiltStore {
        let store = KeyValueStore::new(
            self.supplier.engine(),
            ctx.changelog_topic(&self.supplier.name),
            self.key_serde.clone(),
            self.value_serde.clone(),
        );
        BuiltStore {
            handle: Box::new(store.clone()),
            managed: Box::new(store),
        }
    }
}

/// Constructors for store suppliers and builders, in Kafka Streams' vocabulary.
///
/// ```
/// use streams_core::{Serdes, Stores, StoreBuilder};
///
/// let builder = Stores::key_value_store_builder(
///     Stores::in_memory_key_value_store("counts"),
///     Serdes::string(),
///     Serdes::i64(),
/// );
/// assert_eq!(builder.name(), "counts");
/// ```
#[derive(Debug)]
pub struct Stores;

impl Stores {
    /// A key-value store held in memory.
    pub fn in_memory_key_value_store(name: impl Into<String>) -> KeyValueStoreSupplier {
        KeyValueStoreSupplier {
            name: name.into(),
            engine: KeyValueEngine::InMemory,
        }
    }

    /// A builder of typed key-value stores from `supplier`.
    pub fn key_value_store_builder<K, V>(
        supplier: KeyValueStoreSupplier,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> KeyValueStoreBuilder<K, V> {
        KeyValueStoreBuilder {
            supplier,
            key_serde,
            value_serde,
            logging: true,
        }
    }
}
