//! Typed window and session stores over the byte engines, and their builders.

use std::cell::RefCell;
use std::rc::Rc;

use state_stores::{
    ChangelogRecord, InMemorySessionStore, InMemoryWindowStore, LoggedSessionStore,
    LoggedWindowStore, RocksDbSessionStore, RocksDbWindowStore, SessionBytesStore, StoreError,
    WindowBytesStore,
};

use super::builder::{BuiltStore, StoreBuilder, StoreContext, StoreEngine};
use super::registry::ManagedStore;
use crate::{Encoded, Headers, SerdeError, SerdeRef, StateError};

/// Key and value serdes of a typed store, with the topic name handed to them.
struct Codec<K, V> {
    topic: String,
    key: SerdeRef<K>,
    value: SerdeRef<V>,
}

impl<K, V> Codec<K, V> {
    fn key(&self, key: &K) -> Result<Vec<u8>, StateError> {
        let mut out = Vec::new();
        match self
            .key
            .serialize(&self.topic, &mut Headers::new(), key, &mut out)?
        {
            Encoded::Bytes => Ok(out),
            Encoded::Null => Err(SerdeError::Custom("a store key cannot be null".into()).into()),
        }
    }

    fn value(&self, value: Option<&V>) -> Result<Option<Vec<u8>>, StateError> {
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

    fn decode_key(&self, bytes: &[u8]) -> Result<K, StateError> {
        Ok(self
            .key
            .deserialize(&self.topic, &Headers::new(), Some(bytes))?)
    }

    fn decode_value(&self, bytes: &[u8]) -> Result<V, StateError> {
        Ok(self
            .value
            .deserialize(&self.topic, &Headers::new(), Some(bytes))?)
    }
}

/// A typed window store: values by key and window start, kept for the store's retention.
pub struct WindowStore<K, V> {
    engine: Rc<RefCell<Box<dyn WindowBytesStore>>>,
    codec: Rc<Codec<K, V>>,
    name: Rc<str>,
}

impl<K, V> Clone for WindowStore<K, V> {
    fn clone(&self) -> Self {
        Self {
            engine: Rc::clone(&self.engine),
            codec: Rc::clone(&self.codec),
            name: Rc::clone(&self.name),
        }
    }
}

/// A window of a key, as scans return it: `(key, window start, value)`.
pub type WindowedValue<K, V> = (K, i64, V);

impl<K, V> WindowStore<K, V> {
    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stores `value` (`None` deletes) for `key` in the window starting at `window_start`;
    /// returns whether the window is retained (a put into an expired window is dropped).
    pub fn put(&self, key: &K, window_start: i64, value: Option<&V>) -> Result<bool, StateError> {
        let (k, v) = (self.codec.key(key)?, self.codec.value(value)?);
        Ok(self
            .engine
            .borrow_mut()
            .put(&k, window_start, v.as_deref())?)
    }

    /// The value of `key` in the window starting at `window_start`.
    pub fn fetch(&self, key: &K, window_start: i64) -> Result<Option<V>, StateError> {
        let k = self.codec.key(key)?;
        let bytes = self.engine.borrow().fetch(&k, window_start)?;
        bytes.map(|b| self.codec.decode_value(&b)).transpose()
    }

    /// The windows of `key` starting in `[from, to]`: `(start, value)` by ascending start.
    pub fn fetch_range(&self, key: &K, from: i64, to: i64) -> Result<Vec<(i64, V)>, StateError> {
        let k = self.codec.key(key)?;
        let entries = self.engine.borrow().fetch_range(&k, from, to)?;
        entries
            .into_iter()
            .map(|e| Ok((e.window_start, self.codec.decode_value(&e.value)?)))
            .collect()
    }

    /// The same windows as [`fetch_range`](Self::fetch_range), by descending start.
    pub fn backward_fetch_range(
        &self,
        key: &K,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, V)>, StateError> {
        let k = self.codec.key(key)?;
        let entries = self.engine.borrow().backward_fetch_range(&k, from, to)?;
        entries
            .into_iter()
            .map(|e| Ok((e.window_start, self.codec.decode_value(&e.value)?)))
            .collect()
    }

    fn decode_all(
        &self,
        entries: Vec<state_stores::WindowEntry>,
    ) -> Result<Vec<WindowedValue<K, V>>, StateError> {
        entries
            .into_iter()
            .map(|e| {
                Ok((
                    self.codec.decode_key(&e.key)?,
                    e.window_start,
                    self.codec.decode_value(&e.value)?,
                ))
            })
            .collect()
    }

    /// The windows of the keys in `[key_from, key_to]` starting in `[from, to]`, by key then start.
    pub fn fetch_key_range(
        &self,
        key_from: &K,
        key_to: &K,
        from: i64,
        to: i64,
    ) -> Result<Vec<WindowedValue<K, V>>, StateError> {
        let (kf, kt) = (self.codec.key(key_from)?, self.codec.key(key_to)?);
        let entries = self
            .engine
            .borrow()
            .fetch_key_range(Some(&kf), Some(&kt), from, to)?;
        self.decode_all(entries)
    }

    /// The same windows as [`fetch_key_range`](Self::fetch_key_range), in reverse order.
    pub fn backward_fetch_key_range(
        &self,
        key_from: &K,
        key_to: &K,
        from: i64,
        to: i64,
    ) -> Result<Vec<WindowedValue<K, V>>, StateError> {
        let (kf, kt) = (self.codec.key(key_from)?, self.codec.key(key_to)?);
        let entries =
            self.engine
                .borrow()
                .backward_fetch_key_range(Some(&kf), Some(&kt), from, to)?;
        self.decode_all(entries)
    }

    /// The windows of every key starting in `[from, to]`, by key then start.
    pub fn fetch_all(&self, from: i64, to: i64) -> Result<Vec<WindowedValue<K, V>>, StateError> {
        let entries = self.engine.borrow().fetch_key_range(None, None, from, to)?;
        self.decode_all(entries)
    }

    /// Every retained window, by key then start.
    pub fn all(&self) -> Result<Vec<WindowedValue<K, V>>, StateError> {
        let entries = self.engine.borrow().all()?;
        self.decode_all(entries)
    }
}

/// A typed session store: values by key and session `[start, end]`.
pub struct SessionStore<K, V> {
    engine: Rc<RefCell<Box<dyn SessionBytesStore>>>,
    codec: Rc<Codec<K, V>>,
    name: Rc<str>,
}

impl<K, V> Clone for SessionStore<K, V> {
    fn clone(&self) -> Self {
        Self {
            engine: Rc::clone(&self.engine),
            codec: Rc::clone(&self.codec),
            name: Rc::clone(&self.name),
        }
    }
}

/// A session of a key, as scans return it: `(key, start, end, value)`.
pub type SessionValue<K, V> = (K, i64, i64, V);

impl<K, V> SessionStore<K, V> {
    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stores `value` (`None` removes) for the session `[start, end]` of `key`; returns
    /// whether the session is retained.
    pub fn put(
        &self,
        key: &K,
        start: i64,
        end: i64,
        value: Option<&V>,
    ) -> Result<bool, StateError> {
        let (k, v) = (self.codec.key(key)?, self.codec.value(value)?);
        Ok(self.engine.borrow_mut().put(&k, start, end, v.as_deref())?)
    }

    /// The value of exactly the session `[start, end]` of `key`.
    pub fn fetch_session(&self, key: &K, start: i64, end: i64) -> Result<Option<V>, StateError> {
        let k = self.codec.key(key)?;
        let bytes = self.engine.borrow().fetch_session(&k, start, end)?;
        bytes.map(|b| self.codec.decode_value(&b)).transpose()
    }

    fn decode_all(
        &self,
        entries: Vec<state_stores::SessionEntry>,
    ) -> Result<Vec<SessionValue<K, V>>, StateError> {
        entries
            .into_iter()
            .map(|e| {
                Ok((
                    self.codec.decode_key(&e.key)?,
                    e.start,
                    e.end,
                    self.codec.decode_value(&e.value)?,
                ))
            })
            .collect()
    }

    /// The sessions of `key` ending at or after `earliest_end` and starting at or before
    /// `latest_start`.
    pub fn find_sessions(
        &self,
        key: &K,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionValue<K, V>>, StateError> {
        let k = self.codec.key(key)?;
        let entries = self
            .engine
            .borrow()
            .find_sessions(&k, earliest_end, latest_start)?;
        self.decode_all(entries)
    }

    /// The same sessions as [`find_sessions`](Self::find_sessions), in reverse order.
    pub fn backward_find_sessions(
        &self,
        key: &K,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionValue<K, V>>, StateError> {
        let k = self.codec.key(key)?;
        let entries =
            self.engine
                .borrow()
                .backward_find_sessions(&k, earliest_end, latest_start)?;
        self.decode_all(entries)
    }

    /// Every retained session of `key`.
    pub fn fetch(&self, key: &K) -> Result<Vec<SessionValue<K, V>>, StateError> {
        let k = self.codec.key(key)?;
        let entries = self.engine.borrow().fetch(&k)?;
        self.decode_all(entries)
    }

    /// Every retained session.
    pub fn all(&self) -> Result<Vec<SessionValue<K, V>>, StateError> {
        let entries = self.engine.borrow().all()?;
        self.decode_all(entries)
    }
}

macro_rules! managed {
    ($store:ident) => {
        impl<K, V> ManagedStore for $store<K, V> {
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
        }
    };
}

managed!(WindowStore);
managed!(SessionStore);

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
        }
    }

    /// Turns changelog logging off (it is on by default).
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }
}

impl<K: 'static, V: 'static> StoreBuilder for WindowedStoreBuilder<K, V> {
    fn retention_ms(&self) -> Option<i64> {
        Some(self.retention)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn logging_enabled(&self) -> bool {
        self.logging
    }

    fn build(&self, ctx: StoreContext<'_>) -> Result<BuiltStore, StoreError> {
        let (name, retention) = (
            self.name.as_str(),
            self.retention.saturating_add(ctx.max_out_of_orderness),
        );
        let path = ctx.directory.join("rocksdb").join(name);
        let codec = Rc::new(Codec {
            topic: ctx.changelog_topic(name),
            key: self.key_serde.clone(),
            value: self.value_serde.clone(),
        });
        let name: Rc<str> = Rc::from(name);
        Ok(match self.shape {
            Shape::Window => {
                let mut engine: Box<dyn WindowBytesStore> = match self.engine {
                    StoreEngine::RocksDb => Box::new(RocksDbWindowStore::open(
                        &*name,
                        &path,
                        retention,
                        ctx.rocksdb,
                    )?),
                    StoreEngine::InMemory => Box::new(InMemoryWindowStore::new(&*name, retention)),
                };
                if self.logging {
                    engine = Box::new(LoggedWindowStore::new(engine, ctx.changelog.clone()));
                }
                BuiltStore::of(WindowStore {
                    engine: Rc::new(RefCell::new(engine)),
                    codec,
                    name,
                })
            }
            Shape::Session => {
                let mut engine: Box<dyn SessionBytesStore> = match self.engine {
                    StoreEngine::RocksDb => Box::new(RocksDbSessionStore::open(
                        &*name,
                        &path,
                        retention,
                        ctx.rocksdb,
                    )?),
                    StoreEngine::InMemory => Box::new(InMemorySessionStore::new(&*name, retention)),
                };
                if self.logging {
                    engine = Box::new(LoggedSessionStore::new(engine, ctx.changelog.clone()));
                }
                BuiltStore::of(SessionStore {
                    engine: Rc::new(RefCell::new(engine)),
                    codec,
                    name,
                })
            }
        })
    }
}
