//! The serdes of window and session stores, and the builder of both.

use std::rc::Rc;

use state_stores::{
    InMemorySessionStore, InMemoryWindowStore, LoggedSessionStore, LoggedWindowStore,
    SessionBytesStore, StoreError, WindowBytesStore,
};
#[cfg(feature = "rocksdb")]
use state_stores::{RocksDbSessionStore, RocksDbWindowStore};

use super::builder::{BuiltStore, StoreBuilder, StoreContext, StoreEngine, ValueEncoding};
use super::{SessionStore, WindowStore};
use crate::{Encoded, Headers, SerdeError, SerdeRef, StateError};

/// Key and value serdes of a typed store, with the topic name handed to them.
pub(crate) struct Codec<K, V> {
    pub(crate) topic: String,
    pub(crate) key: SerdeRef<K>,
    pub(crate) value: SerdeRef<V>,
}

impl<K, V> Codec<K, V> {
    pub(crate) fn key(&self, key: &K) -> Result<Vec<u8>, StateError> {
        let mut out = Vec::new();
        self.key_into(key, &mut out)?;
        Ok(out)
    }

    /// Serializes `key` into `out` (cleared first), reusing its buffer.
    pub(crate) fn key_into(&self, key: &K, out: &mut Vec<u8>) -> Result<(), StateError> {
        out.clear();
        match self
            .key
            .serialize(&self.topic, &mut Headers::new(), key, out)?
        {
            Encoded::Bytes => Ok(()),
            Encoded::Null => Err(SerdeError::Custom("a store key cannot be null".into()).into()),
        }
    }

    /// Appends the serialization of `value` to `out`; `false` if it serializes as null.
    pub(crate) fn value_onto(&self, value: &V, out: &mut Vec<u8>) -> Result<bool, StateError> {
        Ok(self
            .value
            .serialize(&self.topic, &mut Headers::new(), value, out)?
            == Encoded::Bytes)
    }

    pub(crate) fn value(&self, value: Option<&V>) -> Result<Option<Vec<u8>>, StateError> {
        let Some(value) = value else { return Ok(None) };
        let mut out = Vec::new();
        Ok(
            match self
                .value
                .serialize(&self.topic, &mut Headers::new(), value, &mut out)?
            {
                Encoded::Bytes => Some(out),
                Encoded::Null => None,
            },
        )
    }

    pub(crate) fn decode_key(&self, bytes: &[u8]) -> Result<K, StateError> {
        Ok(self
            .key
            .deserialize(&self.topic, &Headers::new(), Some(bytes))?)
    }

    pub(crate) fn decode_value(&self, bytes: &[u8]) -> Result<V, StateError> {
        Ok(self
            .value
            .deserialize(&self.topic, &Headers::new(), Some(bytes))?)
    }
}

/// The life cycle of a typed window or session store: a flush writes the record cache
/// through first. A processor flushes (and forwards) its cache itself; this catches one that
/// did not, so that the engine and the changelog never lag a commit, and drops the changes
/// left unread (processors drain theirs in their own flush, before this one).
macro_rules! managed_windowed_store {
    ($store:ident) => {
        impl<K, V: Clone> super::registry::ManagedStore for $store<K, V> {
            fn name(&self) -> &str {
                &self.name
            }

            fn flush(&mut self) -> Result<(), state_stores::StoreError> {
                self.flush_cache()
                    .map_err(|e| super::windowed::to_store_error(&self.name, e))?;
                if let Some(cached) = &self.cached {
                    cached.borrow_mut().flushed.clear();
                }
                self.engine.borrow_mut().flush()
            }

            fn close(&mut self) {
                self.engine.borrow_mut().close();
            }

            fn persistent(&self) -> bool {
                self.engine.borrow().persistent()
            }

            fn restore(
                &mut self,
                records: &[state_stores::ChangelogRecord],
            ) -> Result<(), state_stores::StoreError> {
                self.engine.borrow_mut().restore_batch(records)
            }

            fn metrics(&self) -> super::registry::StoreMetrics {
                super::registry::StoreMetrics {
                    engine: self.engine.borrow().engine_metrics(),
                    ..super::registry::StoreMetrics::default()
                }
            }
        }
    };
}
pub(crate) use managed_windowed_store;

/// A store failure, for the store's life-cycle calls (which speak in engine errors).
pub(crate) fn to_store_error(store: &str, error: StateError) -> StoreError {
    match error {
        StateError::Store(e) => e,
        StateError::Serde(e) => StoreError::Engine {
            store: store.to_owned(),
            reason: e.to_string(),
        },
    }
}

/// What kind of windowed store a builder makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Window,
    Session,
}

/// Builds typed window or session stores: a name, an engine, a retention period and serdes.
pub struct WindowedStoreBuilder<K, V> {
    name: String,
    engine: StoreEngine,
    retention: i64,
    shape: Shape,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    logging: bool,
    changelog_configs: Vec<(String, String)>,
    caching: bool,
}

impl<K, V> WindowedStoreBuilder<K, V> {
    /// A builder of window stores (values by key and window start).
    pub fn window(
        name: impl Into<String>,
        engine: StoreEngine,
        retention_ms: i64,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> Self {
        Self::new(
            name,
            engine,
            retention_ms,
            Shape::Window,
            key_serde,
            value_serde,
        )
    }

    /// A builder of session stores (values by key and session).
    pub fn session(
        name: impl Into<String>,
        engine: StoreEngine,
        retention_ms: i64,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> Self {
        Self::new(
            name,
            engine,
            retention_ms,
            Shape::Session,
            key_serde,
            value_serde,
        )
    }

    fn new(
        name: impl Into<String>,
        engine: StoreEngine,
        retention: i64,
        shape: Shape,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> Self {
        Self {
            name: name.into(),
            engine,
            retention,
            shape,
            key_serde,
            value_serde,
            logging: true,
            changelog_configs: Vec::new(),
            caching: false,
        }
    }

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

    /// Puts a record cache in front of the store (off by default), drawing on the thread's
    /// cache budget.
    pub fn with_caching_enabled(mut self) -> Self {
        self.caching = true;
        self
    }
}

impl<K: 'static, V: Clone + 'static> StoreBuilder for WindowedStoreBuilder<K, V> {
    fn retention_ms(&self) -> Option<i64> {
        Some(self.retention)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn logging_enabled(&self) -> bool {
        self.logging
    }

    fn changelog_configs(&self) -> Vec<(String, String)> {
        self.changelog_configs.clone()
    }

    fn build(&self, ctx: StoreContext<'_>) -> Result<BuiltStore, StoreError> {
        let (name, retention) = (
            self.name.as_str(),
            self.retention.saturating_add(ctx.max_out_of_orderness),
        );
        let encoding =
            super::builder::check_value_encoding(name, ctx.directory, &self.value_serde)?;
        #[cfg(feature = "rocksdb")]
        let path = ctx.directory.join("rocksdb").join(name);
        let codec = Rc::new(Codec {
            topic: ctx.changelog_topic(name),
            key: self.key_serde.clone(),
            value: self.value_serde.clone(),
        });
        let name: Rc<str> = Rc::from(name);
        let built = match self.shape {
            Shape::Window => {
                let mut engine: Box<dyn WindowBytesStore> = match &self.engine {
                    #[cfg(feature = "rocksdb")]
                    StoreEngine::RocksDb => Box::new(RocksDbWindowStore::open(
                        &*name,
                        &path,
                        retention,
                        ctx.rocksdb,
                    )?),
                    StoreEngine::Custom(supplier) => {
                        supplier.window_store(&name, retention, &ctx)?
                    }
                    // In memory; without the `rocksdb` feature, every store.
                    _ => Box::new(InMemoryWindowStore::new(&*name, retention)),
                };
                if self.logging {
                    engine = Box::new(LoggedWindowStore::new(engine, ctx.changelog.clone()));
                }
                if ctx.metered {
                    engine = Box::new(state_stores::Metered::new(engine));
                }
                let mut store = WindowStore::new(engine, codec, name);
                if self.caching {
                    store = store.with_cache(ctx.cache.clone());
                }
                BuiltStore::of(store)
            }
            Shape::Session => {
                let mut engine: Box<dyn SessionBytesStore> = match &self.engine {
                    #[cfg(feature = "rocksdb")]
                    StoreEngine::RocksDb => Box::new(RocksDbSessionStore::open(
                        &*name,
                        &path,
                        retention,
                        ctx.rocksdb,
                    )?),
                    StoreEngine::Custom(supplier) => {
                        supplier.session_store(&name, retention, &ctx)?
                    }
                    // In memory; without the `rocksdb` feature, every store.
                    _ => Box::new(InMemorySessionStore::new(&*name, retention)),
                };
                if self.logging {
                    engine = Box::new(LoggedSessionStore::new(engine, ctx.changelog.clone()));
                }
                if ctx.metered {
                    engine = Box::new(state_stores::Metered::new(engine));
                }
                let mut store = SessionStore::new(engine, codec, name);
                if self.caching {
                    store = store.with_cache(ctx.cache.clone());
                }
                BuiltStore::of(store)
            }
        };
        Ok(ValueEncoding::guard(encoding, built))
    }
}
