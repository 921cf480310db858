use std::any::Any;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use state_stores::{
    ChangelogRecord, InMemoryKeyValueStore, KeyValueBytesStore, LoggedKeyValueStore,
    SessionBytesStore, SharedSink, StoreError, WindowBytesStore,
};
#[cfg(feature = "rocksdb")]
use state_stores::{RocksDbConfig, RocksDbKeyValueStore};

use super::registry::ManagedStore;
use super::{CacheBudget, KeyValueStore};
use crate::{SerdeRef, TaskId};

/// What a store builder knows of the task it builds a store instance for.
#[derive(Clone, Copy)]
pub struct StoreContext<'a> {
    /// The application id.
    pub application_id: &'a str,
    /// The task that will own the store.
    pub task_id: TaskId,
    /// The task's directory; persistent stores live in `<directory>/rocksdb/<store>`.
    pub directory: &'a Path,
    /// The RocksDB budget and tuning shared by every store.
    #[cfg(feature = "rocksdb")]
    pub rocksdb: &'a RocksDbConfig,
    /// Where logged stores send their changelog records.
    pub changelog: &'a SharedSink,
    /// The record-cache budget that the task's cached stores share.
    pub cache: &'a CacheBudget,
    /// How far the watermark trails stream time (ms): windowed stores keep data this much
    /// longer, so that nothing expires before its window closes.
    pub max_out_of_orderness: i64,
    /// Whether the store's operations are timed (the `Debug` metrics recording level): the
    /// builder then puts a [`Metered`](state_stores::Metered) layer on top of its engine.
    pub metered: bool,
}

impl StoreContext<'_> {
    /// The name of the changelog topic of the store called `store`:
    /// `<application.id>-<store>-changelog`.
    pub fn changelog_topic(&self, store: &str) -> String {
        changelog_topic(self.application_id, store)
    }
}

/// `<application.id>-<store>-changelog`.
pub fn changelog_topic(application_id: &str, store: &str) -> String {
    format!("{application_id}-{store}-changelog")
}

/// A store instance ready for a task: its typed handle and its life cycle.
pub struct BuiltStore {
    pub(crate) handle: Box<dyn Any>,
    pub(crate) managed: Box<dyn ManagedStore>,
}

impl BuiltStore {
    /// A store whose typed handle also manages it (every clone shares the same store).
    pub(crate) fn of<S: ManagedStore + Clone + 'static>(store: S) -> Self {
        Self {
            handle: Box::new(store.clone()),
            managed: Box::new(store),
        }
    }
}

/// Creates one instance of a named store per task. Built by [`Stores`].
pub trait StoreBuilder: Send + Sync + 'static {
    /// The store's name.
    fn name(&self) -> &str;

    /// Whether writes are logged to a changelog topic.
    fn logging_enabled(&self) -> bool;

    /// How long the store keeps data (ms), for stores that expire it (window and session
    /// stores): their changelog topics are then `compact,delete` with a matching retention.
    fn retention_ms(&self) -> Option<i64> {
        None
    }

    /// How long compaction must leave a changelog record alone (ms), for stores whose older
    /// records still matter after a newer one of the same key (versioned stores keep a
    /// history): their changelog topics get `min.compaction.lag.ms`.
    fn min_compaction_lag_ms(&self) -> Option<i64> {
        None
    }

    /// Topic configs of the changelog that the user gave, over the runtime's own
    /// (`with_logging_enabled`).
    fn changelog_configs(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// A new store instance for a task.
    fn build(&self, ctx: StoreContext<'_>) -> Result<BuiltStore, StoreError>;
}

/// Where a store keeps its data.
#[derive(Clone, Default)]
pub enum StoreEngine {
    /// RocksDB, on disk in the task's directory: the default. Without the `rocksdb` feature
    /// such a store is kept in memory, as [`InMemory`](Self::InMemory).
    #[default]
    RocksDb,
    /// Memory only: restored from the changelog after every restart.
    InMemory,
    /// The user's own engine (Kafka Streams' `Materialized.as(StoreSupplier)`): the runtime
    /// puts its changelog logging and record cache around what the supplier opens.
    Custom(Arc<dyn StoreEngineSupplier>),
}

impl StoreEngine {
    /// The user's engine `supplier`.
    pub fn custom(supplier: impl StoreEngineSupplier) -> Self {
        StoreEngine::Custom(Arc::new(supplier))
    }

    /// A fresh engine for the store `name` of a task.
    #[cfg_attr(not(feature = "rocksdb"), allow(unused_variables))]
    pub(crate) fn open_key_value(
        &self,
        name: &str,
        ctx: &StoreContext<'_>,
    ) -> Result<Box<dyn KeyValueBytesStore>, StoreError> {
        Ok(match self {
            #[cfg(feature = "rocksdb")]
            StoreEngine::RocksDb => Box::new(RocksDbKeyValueStore::open(
                name,
                &ctx.directory.join("rocksdb").join(name),
                ctx.rocksdb,
            )?),
            StoreEngine::Custom(supplier) => supplier.key_value_store(name, ctx)?,
            // In memory; without the `rocksdb` feature, every store.
            _ => Box::new(InMemoryKeyValueStore::new(name)),
        })
    }
}

impl std::fmt::Debug for StoreEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreEngine::RocksDb => f.write_str("RocksDb"),
            StoreEngine::InMemory => f.write_str("InMemory"),
            StoreEngine::Custom(supplier) => write!(f, "Custom({})", supplier.engine_name()),
        }
    }
}

impl PartialEq for StoreEngine {
    /// Built-in engines by kind; user engines by identity (the same supplier).
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (StoreEngine::RocksDb, StoreEngine::RocksDb)
            | (StoreEngine::InMemory, StoreEngine::InMemory) => true,
            (StoreEngine::Custom(a), StoreEngine::Custom(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for StoreEngine {}

/// A user's storage engine: opens the raw byte stores of a task, under which the runtime
/// puts its changelog logging, record cache and metrics, as for its own engines (Kafka
/// Streams' `KeyValueBytesStoreSupplier`, `WindowBytesStoreSupplier` and
/// `SessionBytesStoreSupplier` in one). An engine need not offer every kind of store: the
/// kinds it does not offer fail the task's start with a [`StoreError::Engine`] naming the
/// store.
///
/// A store the engine opens is restored from its changelog when
/// [`persistent`](state_stores::StateStore::persistent) says it keeps nothing across a restart.
pub trait StoreEngineSupplier: Send + Sync + 'static {
    /// The engine's name, for diagnostics.
    fn engine_name(&self) -> &str;

    /// A key-value store called `name` for the task `ctx` describes.
    fn key_value_store(
        &self,
        name: &str,
        ctx: &StoreContext<'_>,
    ) -> Result<Box<dyn KeyValueBytesStore>, StoreError>;

    /// A window store called `name`, keeping windows for `retention_ms`.
    fn window_store(
        &self,
        name: &str,
        retention_ms: i64,
        ctx: &StoreContext<'_>,
    ) -> Result<Box<dyn WindowBytesStore>, StoreError> {
        let _ = (retention_ms, ctx);
        Err(not_offered(self.engine_name(), name, "window"))
    }

    /// A session store called `name`, keeping sessions for `retention_ms`.
    fn session_store(
        &self,
        name: &str,
        retention_ms: i64,
        ctx: &StoreContext<'_>,
    ) -> Result<Box<dyn SessionBytesStore>, StoreError> {
        let _ = (retention_ms, ctx);
        Err(not_offered(self.engine_name(), name, "session"))
    }
}

/// The error of an engine asked for a kind of store it does not offer.
pub(crate) fn not_offered(engine: &str, store: &str, kind: &str) -> StoreError {
    StoreError::Engine {
        store: store.to_owned(),
        reason: format!("the store engine `{engine}` offers no {kind} stores"),
    }
}

/// Names a key-value store and the engine that holds it, without its types.
#[derive(Clone, Debug)]
pub struct KeyValueStoreSupplier {
    name: String,
    engine: StoreEngine,
}

impl KeyValueStoreSupplier {
    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The store's engine.
    pub fn engine(&self) -> StoreEngine {
        self.engine.clone()
    }
}

/// Builds typed key-value stores: a supplier plus the key and value serdes.
pub struct KeyValueStoreBuilder<K, V> {
    supplier: KeyValueStoreSupplier,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    logging: bool,
    changelog_configs: Vec<(String, String)>,
    caching: bool,
    timestamped: bool,
}

impl<K, V> KeyValueStoreBuilder<K, V> {
    /// Keeps each value's time beside it (see [`KeyValueStore::with_timestamps`]), as the
    /// DSL's tables and aggregations do.
    pub fn with_timestamps(mut self) -> Self {
        self.timestamped = true;
        self
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

    /// Puts a record cache in front of the store (off by default for the Processor API; the
    /// DSL turns it on unless `Materialized` says otherwise). A processor that uses a cached
    /// store forwards what [`KeyValueStore::drain_flushed`] reports.
    pub fn with_caching_enabled(mut self) -> Self {
        self.caching = true;
        self
    }
}

impl<K: 'static, V: Clone + 'static> StoreBuilder for KeyValueStoreBuilder<K, V> {
    fn name(&self) -> &str {
        &self.supplier.name
    }

    fn logging_enabled(&self) -> bool {
        self.logging
    }

    fn changelog_configs(&self) -> Vec<(String, String)> {
        self.changelog_configs.clone()
    }

    fn build(&self, ctx: StoreContext<'_>) -> Result<BuiltStore, StoreError> {
        let name = &self.supplier.name;
        let encoding = check_value_encoding(name, ctx.directory, &self.value_serde)?;
        let mut engine = self.supplier.engine.open_key_value(name, &ctx)?;
        if self.logging {
            let sink = ctx.changelog.clone();
            engine = Box::new(match self.timestamped {
                true => LoggedKeyValueStore::timestamped(engine, sink),
                false => LoggedKeyValueStore::new(engine, sink),
            });
        }
        if ctx.metered {
            engine = Box::new(state_stores::Metered::new(engine));
        }
        let mut store = KeyValueStore::new(
            engine,
            ctx.changelog_topic(name),
            self.key_serde.clone(),
            self.value_serde.clone(),
        );
        if self.timestamped {
            store = store.with_timestamps();
        }
        if self.caching {
            store = store.with_cache(ctx.cache.clone());
        }
        Ok(ValueEncoding::guard(encoding, BuiltStore::of(store)))
    }
}

/// Checks that `serde` reads the values that the task's local copy of store `store` holds,
/// by the encoding recorded beside it at the last start (`<task directory>/<store>.encoding`),
/// then records `serde`'s. A serde that describes no encoding is not checked (`None`). A
/// changed encoding that `serde` cannot read fails the start here, before any record is
/// processed. What restoration later brings in is checked by the returned [`ValueEncoding`]
/// (see [`ValueEncoding::guard`]): a store rebuilt on a new machine has no record to check.
pub(crate) fn check_value_encoding<V: 'static>(
    store: &str,
    directory: &Path,
    serde: &SerdeRef<V>,
) -> Result<Option<ValueEncoding>, StoreError> {
    let Some(encoding) = serde.encoding() else {
        return Ok(None);
    };
    let path = directory.join(format!("{store}.encoding"));
    let before = match std::fs::read_to_string(&path) {
        Ok(recorded) => Some(recorded),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(encoding_io_error(&path, e)),
    };
    if let Some(recorded) = before.as_deref().filter(|r| *r != encoding) {
        serde.reads(recorded).map_err(|reason| {
            incompatible_encoding(
                store,
                &format!(
                    "the values were written as {recorded} and are now read as {encoding}, \
                     which cannot read them ({reason})"
                ),
            )
        })?;
    }
    if before.as_deref() != Some(encoding.as_str()) {
        std::fs::create_dir_all(directory).map_err(|e| encoding_io_error(&path, e))?;
        std::fs::write(&path, &encoding).map_err(|e| encoding_io_error(&path, e))?;
    }
    let serde = serde.clone();
    Ok(Some(ValueEncoding {
        store: store.to_owned(),
        path,
        before,
        now: encoding,
        reads_written: Box::new(move |data| serde.reads_written(data)),
        value_of: |bytes| Some(bytes),
    }))
}

/// A refused change of a store's value serde: names the store, what changed and the ways out.
fn incompatible_encoding(store: &str, what: &str) -> StoreError {
    StoreError::Engine {
        store: store.to_owned(),
        reason: format!(
            "its value serde changed incompatibly: {what}. Either go back to a compatible \
             encoding (for Avro: add fields with defaults, remove fields that have one), or \
             rebuild the store from the source topics: stop the application, reset it (Kafka's \
             kafka-streams-application-reset tool rewinds the input topics and deletes the \
             changelogs) and delete its state directory"
        ),
    }
}

fn encoding_io_error(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// A value serde's [`reads_written`](crate::Deserializer::reads_written), its type erased.
type ReadsWritten = Box<dyn Fn(&[u8]) -> Result<(), String>>;

/// The value encoding of a store instance, as [`check_value_encoding`] recorded it at start.
pub(crate) struct ValueEncoding {
    store: String,
    path: PathBuf,
    /// What the record held before this start.
    before: Option<String>,
    now: String,
    reads_written: ReadsWritten,
    /// The value that a changelog record's value holds (`None`: a delete).
    value_of: fn(&[u8]) -> Option<&[u8]>,
}

impl ValueEncoding {
    /// `built`, with every value restored into it checked first: a value the serde cannot
    /// read fails the restoration (and so the task's start) with the error a local copy
    /// gets, and puts back the encoding record of before this start, since the store now
    /// holds values of the old encoding.
    pub(crate) fn guard(encoding: Option<Self>, built: BuiltStore) -> BuiltStore {
        match encoding {
            None => built,
            Some(encoding) => BuiltStore {
                handle: built.handle,
                managed: Box::new(RestoreChecked {
                    inner: built.managed,
                    encoding,
                }),
            },
        }
    }

    /// The same, for a versioned store, whose changelog values hold the version's time and
    /// whether it is a delete in front of the value.
    pub(crate) fn of_versioned_changelog(self) -> Self {
        Self {
            value_of: |bytes| {
                state_stores::split_versioned_changelog_value(bytes).and_then(|(value, _)| value)
            },
            ..self
        }
    }

    fn check(&self, records: &[ChangelogRecord]) -> Result<(), StoreError> {
        let refused = records
            .iter()
            .filter_map(|r| r.value.as_deref().and_then(self.value_of))
            .find_map(|value| (self.reads_written)(value).err());
        let Some(reason) = refused else {
            return Ok(());
        };
        // Best effort: the refusal below is the error that matters.
        let _ = match &self.before {
            Some(before) => std::fs::write(&self.path, before),
            None => std::fs::remove_file(&self.path),
        };
        Err(incompatible_encoding(
            &self.store,
            &format!(
                "a value restored from its changelog {reason}; values are now read as {}",
                self.now
            ),
        ))
    }
}

/// A store whose restored values are checked against its value serde before they reach it.
struct RestoreChecked {
    inner: Box<dyn ManagedStore>,
    encoding: ValueEncoding,
}

impl ManagedStore for RestoreChecked {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.inner.flush()
    }

    fn close(&mut self) {
        self.inner.close();
    }

    fn persistent(&self) -> bool {
        self.inner.persistent()
    }

    fn restore(&mut self, records: &[ChangelogRecord]) -> Result<(), StoreError> {
        self.encoding.check(records)?;
        self.inner.restore(records)
    }

    fn metrics(&self) -> super::StoreMetrics {
        self.inner.metrics()
    }
}

/// Constructors for store suppliers and builders, in Kafka Streams' vocabulary.
///
/// ```
/// use streams_core::{Serdes, Stores, StoreBuilder};
///
/// let builder = Stores::key_value_store_builder(
///     Stores::persistent_key_value_store("counts"),
///     Serdes::string(),
///     Serdes::i64(),
/// );
/// assert_eq!(builder.name(), "counts");
/// assert!(builder.logging_enabled());
/// ```
#[derive(Debug)]
pub struct Stores;

impl Stores {
    /// A key-value store in RocksDB.
    pub fn persistent_key_value_store(name: impl Into<String>) -> KeyValueStoreSupplier {
        Self::key_value_store(name, StoreEngine::RocksDb)
    }

    /// A key-value store held in memory.
    pub fn in_memory_key_value_store(name: impl Into<String>) -> KeyValueStoreSupplier {
        Self::key_value_store(name, StoreEngine::InMemory)
    }

    /// A key-value store on `engine`.
    pub fn key_value_store(name: impl Into<String>, engine: StoreEngine) -> KeyValueStoreSupplier {
        KeyValueStoreSupplier {
            name: name.into(),
            engine,
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
            changelog_configs: Vec::new(),
            caching: false,
            timestamped: false,
        }
    }
}
