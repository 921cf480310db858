//! The configuration objects of DSL operations, in Kafka Streams' vocabulary. Serdes left out
//! are taken from the builder's serde registry (see
//! [`StreamsBuilder::with_serde`](crate::StreamsBuilder::with_serde)).

use std::io::Write;
use std::sync::{Arc, Mutex};

use streams_core::{
    OffsetReset, SerdeRef, StoreEngine, StreamPartitioner, TimestampExtractor,
    TypedTimestampExtractor,
};

use crate::KStream;

/// How a source topic is read: serdes, timestamp extractor and source name.
pub struct Consumed<K, V> {
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) extractor: Option<EventTime<K, V>>,
    pub(crate) name: Option<String>,
    pub(crate) offset_reset: Option<OffsetReset>,
}

/// Where a source's records take their event time from.
pub(crate) enum EventTime<K, V> {
    /// An extractor of the records' bytes.
    Bytes(Arc<dyn TimestampExtractor>),
    /// An extractor of the deserialized records.
    Typed(Arc<dyn TypedTimestampExtractor<K, V>>),
}

impl<K: 'static, V: 'static> EventTime<K, V> {
    /// The same for a table's rows, where `None` is a tombstone: a tombstone keeps its Kafka
    /// timestamp.
    pub(crate) fn for_rows(self) -> EventTime<K, Option<V>> {
        match self {
            Self::Bytes(extractor) => EventTime::Bytes(extractor),
            Self::Typed(extractor) => EventTime::Typed(Arc::new(
                move |key: &K, row: &Option<V>, record_time, partition_time| match row {
                    Some(value) => extractor.extract(key, value, record_time, partition_time),
                    None => record_time,
                },
            )),
        }
    }
}

impl<K, V> Default for Consumed<K, V> {
    fn default() -> Self {
        Self {
            key_serde: None,
            value_serde: None,
            extractor: None,
            name: None,
            offset_reset: None,
        }
    }
}

impl<K, V> Consumed<K, V> {
    /// The registered serdes and the record timestamp.
    pub fn new() -> Self {
        Self::default()
    }

    /// The given key and value serdes.
    pub fn with(key_serde: SerdeRef<K>, value_serde: SerdeRef<V>) -> Self {
        Self {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            ..Self::default()
        }
    }

    /// Takes each record's event time from `extractor`, which reads the record's bytes,
    /// instead of its Kafka timestamp. What a negative time does: see
    /// [`streams_core::time`](streams_core::TimestampExtractor).
    pub fn with_timestamp_extractor(
        mut self,
        extractor: impl TimestampExtractor + 'static,
    ) -> Self {
        self.extractor = Some(EventTime::Bytes(Arc::new(extractor)));
        self
    }

    /// Takes each record's event time from `extractor`, which reads the record as this
    /// source's serdes deserialize it (as Kafka Streams' extractors do): a time inside a
    /// JSON value, say, is parsed once. The record is deserialized when it arrives and kept
    /// until it is processed. For a table, a tombstone keeps its Kafka timestamp.
    ///
    /// ```
    /// use serde::{Deserialize, Serialize};
    /// use streams_dsl::prelude::*;
    ///
    /// #[derive(Clone, Serialize, Deserialize)]
    /// struct Order { placed_at: i64, amount: u32 }
    ///
    /// let builder = StreamsBuilder::new();
    /// let consumed = Consumed::with(Serdes::string(), Serdes::json::<Order>())
    ///     .with_typed_timestamp_extractor(|_: &String, order: &Order, _: i64, _: i64| {
    ///         order.placed_at
    ///     });
    /// let orders = builder.stream_with::<String, Order>("orders", consumed);
    /// # let _ = orders;
    /// ```
    pub fn with_typed_timestamp_extractor(
        mut self,
        extractor: impl TypedTimestampExtractor<K, V> + 'static,
    ) -> Self {
        self.extractor = Some(EventTime::Typed(Arc::new(extractor)));
        self
    }

    /// Names the source node.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Where the source starts reading a partition that the application has no committed
    /// offset for (Kafka Streams' `withOffsetResetPolicy`; default: the earliest record).
    pub fn with_offset_reset_policy(mut self, reset: OffsetReset) -> Self {
        self.offset_reset = Some(reset);
        self
    }
}

/// How records are written to a topic: serdes, sink name and partitioner.
pub struct Produced<K, V> {
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) name: Option<String>,
    pub(crate) partitioner: Option<Arc<dyn StreamPartitioner<K, V>>>,
}

impl<K, V> Default for Produced<K, V> {
    fn default() -> Self {
        Self {
            key_serde: None,
            value_serde: None,
            name: None,
            partitioner: None,
        }
    }
}

impl<K, V> Produced<K, V> {
    /// The registered serdes.
    pub fn new() -> Self {
        Self::default()
    }

    /// The given key and value serdes.
    pub fn with(key_serde: SerdeRef<K>, value_serde: SerdeRef<V>) -> Self {
        Self {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            ..Self::default()
        }
    }

    /// Names the sink node.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Writes each record to the partition `partitioner` chooses (Kafka Streams'
    /// `withStreamPartitioner`), for `KStream::to_with`; the Kafka runtime applies it (the
    /// test driver has no partitions).
    pub fn with_stream_partitioner(
        mut self,
        partitioner: impl StreamPartitioner<K, V> + 'static,
    ) -> Self {
        self.partitioner = Some(Arc::new(partitioner));
        self
    }
}

/// How a stream is grouped: the serdes and the name of the repartition topic, if one is needed.
pub struct Grouped<K, V> {
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) name: Option<String>,
}

impl<K, V> Default for Grouped<K, V> {
    fn default() -> Self {
        Self {
            key_serde: None,
            value_serde: None,
            name: None,
        }
    }
}

impl<K, V> Grouped<K, V> {
    /// The registered serdes and a generated name.
    pub fn new() -> Self {
        Self::default()
    }

    /// The given key and value serdes.
    pub fn with(key_serde: SerdeRef<K>, value_serde: SerdeRef<V>) -> Self {
        Self {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            name: None,
        }
    }

    /// Names the grouping; its repartition topic is `<application.id>-<name>-repartition`.
    pub fn named(name: impl Into<String>) -> Self {
        Self::new().with_name(name)
    }

    /// Sets the name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// How a repartition topic is written and read.
pub struct Repartitioned<K, V> {
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) name: Option<String>,
    pub(crate) partitions: Option<i32>,
    pub(crate) partitioner: Option<Arc<dyn StreamPartitioner<K, V>>>,
}

impl<K, V> Default for Repartitioned<K, V> {
    fn default() -> Self {
        Self {
            key_serde: None,
            value_serde: None,
            name: None,
            partitions: None,
            partitioner: None,
        }
    }
}

impl<K, V> Repartitioned<K, V> {
    /// The registered serdes, a generated name and the source's partition count.
    pub fn new() -> Self {
        Self::default()
    }

    /// The given key and value serdes.
    pub fn with(key_serde: SerdeRef<K>, value_serde: SerdeRef<V>) -> Self {
        Self {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            ..Self::default()
        }
    }

    /// Names the topic `<application.id>-<name>-repartition`.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The number of partitions of the repartition topic (Kafka Streams'
    /// `withNumberOfPartitions`): the Kafka runtime creates it with that many, and the
    /// sub-topology that reads it runs that many tasks. Below 1 fails the build.
    pub fn with_partitions(mut self, partitions: i32) -> Self {
        self.partitions = Some(partitions);
        self
    }

    /// Writes each record to the partition of the repartition topic that `partitioner`
    /// chooses (Kafka Streams' `withStreamPartitioner`); the Kafka runtime applies it.
    pub fn with_stream_partitioner(
        mut self,
        partitioner: impl StreamPartitioner<K, V> + 'static,
    ) -> Self {
        self.partitioner = Some(Arc::new(partitioner));
        self
    }
}

/// How an aggregate or table is stored: the store's name, engine, serdes, caching and logging.
pub struct Materialized<K, V> {
    pub(crate) name: Option<String>,
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) logging: bool,
    /// Topic configs of the changelog, over the defaults.
    pub(crate) changelog_configs: Vec<(String, String)>,
    pub(crate) caching: bool,
    pub(crate) engine: StoreEngine,
    pub(crate) retention: Option<std::time::Duration>,
    /// For a table: keep it in a versioned store with this much history.
    pub(crate) history_retention: Option<std::time::Duration>,
}

impl<K, V> Default for Materialized<K, V> {
    fn default() -> Self {
        Self {
            name: None,
            key_serde: None,
            value_serde: None,
            logging: true,
            changelog_configs: Vec::new(),
            caching: true,
            engine: StoreEngine::RocksDb,
            retention: None,
            history_retention: None,
        }
    }
}

impl<K, V> Materialized<K, V> {
    /// The registered serdes and a generated store name.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store called `name` (reachable by that name from the test driver and processors).
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            ..Self::default()
        }
    }

    /// The given key and value serdes.
    pub fn with(key_serde: SerdeRef<K>, value_serde: SerdeRef<V>) -> Self {
        Self {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            ..Self::default()
        }
    }

    /// Sets the key serde.
    pub fn with_key_serde(mut self, serde: SerdeRef<K>) -> Self {
        self.key_serde = Some(serde);
        self
    }

    /// Sets the value serde.
    pub fn with_value_serde(mut self, serde: SerdeRef<V>) -> Self {
        self.value_serde = Some(serde);
        self
    }

    /// Keeps the store on `engine` (RocksDB by default).
    pub fn with_store_engine(mut self, engine: StoreEngine) -> Self {
        self.engine = engine;
        self
    }

    /// Keeps the store in memory (restored from its changelog after a restart).
    pub fn in_memory(self) -> Self {
        self.with_store_engine(StoreEngine::InMemory)
    }

    /// Forwards every update downstream at once (Kafka Streams' caching off). With caching on
    /// (the default), the updates of a key within a commit interval may be collapsed into the
    /// last one. Either way an aggregation's store keeps a write cache, within the thread's
    /// cache budget, so that the engine and the compacted changelog get one write per key per
    /// commit; a table read from a topic writes through.
    pub fn with_caching_disabled(mut self) -> Self {
        self.caching = false;
        self
    }

    /// How long a windowed store keeps windows after stream time passes their start (default:
    /// window size plus grace; never less than that).
    pub fn with_retention(mut self, retention: std::time::Duration) -> Self {
        self.retention = Some(retention);
        self
    }

    /// Turns off the store's changelog.
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }

    /// Keeps the store's changelog (the default) with these topic configs over the
    /// runtime's own (Kafka Streams' `withLoggingEnabled(Map)`), for example
    /// `("min.insync.replicas", "2")` or `("segment.bytes", ...)`.
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

    /// A table kept in a versioned store (Kafka Streams'
    /// `Stores.persistentVersionedKeyValueStore`): each row keeps its older values, each
    /// valid from its record's time, for `history_retention` after stream time passes them,
    /// so that a stream-table join looks rows up as of each stream record's time. A table
    /// update older than its key's latest row only goes into the history (it is not
    /// forwarded); one older than the history retention is dropped. Versioned stores have no
    /// cache. For [`StreamsBuilder::table_with`](crate::StreamsBuilder::table_with).
    pub fn as_versioned(history_retention: std::time::Duration) -> Self {
        Self::new().with_history_retention(history_retention)
    }

    /// Keeps the table in a versioned store with `history_retention` of history (see
    /// [`as_versioned`](Self::as_versioned)).
    pub fn with_history_retention(mut self, history_retention: std::time::Duration) -> Self {
        self.history_retention = Some(history_retention);
        self
    }
}

/// What `Materialized` says about a store besides its name and serdes.
#[derive(Clone, Debug)]
pub(crate) struct StoreOptions {
    pub(crate) engine: StoreEngine,
    pub(crate) logging: bool,
    pub(crate) caching: bool,
    /// Topic configs of the changelog, over the defaults.
    pub(crate) changelog_configs: Vec<(String, String)>,
}

impl<K, V> Materialized<K, V> {
    pub(crate) fn options(&self) -> StoreOptions {
        StoreOptions {
            engine: self.engine.clone(),
            logging: self.logging,
            caching: self.caching,
            changelog_configs: self.changelog_configs.clone(),
        }
    }
}

/// A name for a processor node (or, for `split`, the prefix of its branches' names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named(pub(crate) String);

impl Named {
    /// The name `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }
}

/// One branch of a split: its name and, optionally, what to do with its stream (Kafka
/// Streams' `Branched.as`, `Branched.withFunction`, `Branched.withConsumer`).
pub struct Branched<K, V> {
    pub(crate) name: Option<String>,
    pub(crate) chain: Option<BranchChain<K, V>>,
}

/// What a branch does with its stream: `Some` is the stream the split returns for it.
pub(crate) type BranchChain<K, V> = Box<dyn FnOnce(KStream<K, V>) -> Option<KStream<K, V>>>;

impl<K, V> Default for Branched<K, V> {
    fn default() -> Self {
        Self {
            name: None,
            chain: None,
        }
    }
}

impl<K: 'static, V: 'static> Branched<K, V> {
    /// The branch is called `<split prefix><name>`.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            chain: None,
        }
    }

    /// The branch gets a number as its name.
    pub fn unnamed() -> Self {
        Self::default()
    }

    /// The branch's stream goes through `chain`, and the split returns what `chain` returns
    /// for it (Kafka Streams' `Branched.withFunction`).
    pub fn with_function(chain: impl FnOnce(KStream<K, V>) -> KStream<K, V> + 'static) -> Self {
        Self {
            name: None,
            chain: Some(Box::new(move |stream| Some(chain(stream)))),
        }
    }

    /// The branch's stream is handed to `consume`, and the split returns nothing for it
    /// (Kafka Streams' `Branched.withConsumer`).
    pub fn with_consumer(consume: impl FnOnce(KStream<K, V>) + 'static) -> Self {
        Self {
            name: None,
            chain: Some(Box::new(move |stream| {
                consume(stream);
                None
            })),
        }
    }

    /// Names the branch `<split prefix><name>` (for `with_function` and `with_consumer`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// Where [`KStream::print`](crate::KStream::print) writes: stdout, or a writer.
enum PrintTarget {
    Stdout,
    Writer(Mutex<Box<dyn Write + Send>>),
}

/// The lines of a key and a value.
type LineMapper<K, V> = Arc<dyn Fn(&K, &V) -> String + Send + Sync>;

/// How [`KStream::print`](crate::KStream::print) writes records: where to, with which label,
/// and how a record becomes text (Kafka Streams' `Printed`).
pub struct Printed<K, V> {
    target: PrintTarget,
    pub(crate) label: Option<String>,
    mapper: LineMapper<K, V>,
}

impl<K: std::fmt::Debug, V: std::fmt::Debug> Printed<K, V> {
    /// Prints to stdout, each record as `[label]: key, value` (`Debug` formatting).
    pub fn to_sys_out() -> Self {
        Self {
            target: PrintTarget::Stdout,
            label: None,
            mapper: Arc::new(|k, v| format!("{k:?}, {v:?}")),
        }
    }

    /// Prints to `writer` (a file, a buffer), one line per record, shared by every task.
    pub fn to_writer(writer: impl Write + Send + 'static) -> Self {
        Self {
            target: PrintTarget::Writer(Mutex::new(Box::new(writer))),
            ..Self::to_sys_out()
        }
    }
}

impl<K, V> Printed<K, V> {
    /// Labels each line with `label` instead of the printing node's name.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Formats each record's key and value with `mapper` instead of `Debug`.
    pub fn with_key_value_mapper(
        mut self,
        mapper: impl Fn(&K, &V) -> String + Send + Sync + 'static,
    ) -> Self {
        self.mapper = Arc::new(mapper);
        self
    }

    pub(crate) fn into_printer(self, label: String) -> Printer<K, V> {
        Printer {
            target: self.target,
            label,
            mapper: self.mapper,
        }
    }
}

/// A [`Printed`] with its label settled: writes the lines.
pub(crate) struct Printer<K, V> {
    target: PrintTarget,
    label: String,
    mapper: LineMapper<K, V>,
}

impl<K, V> Printer<K, V> {
    /// Writes the line of one record.
    pub(crate) fn print(&self, key: &K, value: &V) -> std::io::Result<()> {
        let line = format!("[{}]: {}\n", self.label, (self.mapper)(key, value));
        match &self.target {
            PrintTarget::Stdout => std::io::stdout().lock().write_all(line.as_bytes()),
            PrintTarget::Writer(writer) => {
                let mut writer = writer
                    .lock()
                    .map_err(|_| std::io::Error::other("a printer panicked while writing"))?;
                writer.write_all(line.as_bytes())?;
                writer.flush()
            }
        }
    }
}
