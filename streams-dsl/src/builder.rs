//! The builder of a DSL topology and the graph state its streams and tables share.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use streams_core::{
    Deserializer, Encoded, Headers, Processor, RecordTimestamp, SerdeError, SerdeRef,
    SerdeRegistry, Serdes, Serializer, StoreBuilder, Stores, StreamPartitioner, TopicName,
    Topology, TopologyError,
};

use crate::config::{EventTime, StoreOptions};
use crate::old_values::OldValues;
use crate::processors::join::GlobalTableUpdater;
use crate::processors::table::TableSource;
use crate::processors::StoreSlot;
use crate::{Consumed, GlobalKTable, KStream, KTable, Materialized, SourceTopics};

/// The built-in serdes every builder starts with.
fn builtin_serdes() -> SerdeRegistry {
    let mut registry = SerdeRegistry::new();
    registry.register(Serdes::string());
    registry.register(Serdes::bytes());
    registry.register(Serdes::i32());
    registry.register(Serdes::i64());
    registry.register(Serdes::u32());
    registry.register(Serdes::u64());
    registry.register(Serdes::f64());
    registry.register(Serdes::unit());
    registry.register(Serdes::json::<serde_json::Value>());
    registry
}

/// Stands in for a serde that could not be found; the build fails before it could run.
struct MissingSerde;

impl<T> Serializer<T> for MissingSerde {
    fn serialize(
        &self,
        _: &str,
        _: &mut Headers,
        _: &T,
        _: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        Err(SerdeError::Custom(
            "no serde was configured for this type".into(),
        ))
    }
}

impl<T> Deserializer<T> for MissingSerde {
    fn deserialize(&self, _: &str, _: &Headers, _: Option<&[u8]>) -> Result<T, SerdeError> {
        Err(SerdeError::Custom(
            "no serde was configured for this type".into(),
        ))
    }
}

struct BuilderState {
    topology: Topology,
    counter: usize,
    error: Option<TopologyError>,
    serdes: SerdeRegistry,
}

/// The topology under construction, shared by every stream and table of one builder.
#[derive(Clone)]
pub(crate) struct Graph(Rc<RefCell<BuilderState>>);

/// The configuration through which a user gives `operation` its serdes, for the hint of a
/// missing serde.
fn serde_config(operation: &str) -> &'static str {
    match operation {
        o if o.starts_with("reading a") => "`Consumed::with`",
        o if o.starts_with("writing") => "`Produced::with`",
        "repartitioning for a join" => "`StreamJoined::with` or `Joined::with`",
        o if o.starts_with("repartition") => "`Grouped::with` or `Repartitioned::with`",
        o if o.contains("stream-stream join") => "`StreamJoined::with`",
        o if o.contains("stream-table join") => "`Joined::with`",
        _ => "`Materialized::with`",
    }
}

impl Graph {
    /// A fresh node name: `prefix` and a ten-digit sequence number, as Kafka Streams names them.
    pub(crate) fn name(&self, prefix: &str) -> String {
        let mut state = self.0.borrow_mut();
        let name = format!("{prefix}{:010}", state.counter);
        state.counter += 1;
        name
    }

    /// Keeps the first error, to be reported by [`StreamsBuilder::build`].
    pub(crate) fn check<T>(&self, result: Result<T, TopologyError>) {
        if let Err(e) = result {
            self.0.borrow_mut().error.get_or_insert(e);
        }
    }

    pub(crate) fn with_topology<T>(
        &self,
        f: impl FnOnce(&mut Topology) -> Result<T, TopologyError>,
    ) {
        let result = f(&mut self.0.borrow_mut().topology);
        self.check(result);
    }

    /// `explicit`, or the registered serde of `T`; a missing serde fails the build.
    pub(crate) fn serde<T: 'static>(
        &self,
        explicit: Option<SerdeRef<T>>,
        operation: &str,
    ) -> SerdeRef<T> {
        if let Some(serde) = explicit {
            return serde;
        }
        let registered = self.0.borrow().serdes.get::<T>();
        registered.unwrap_or_else(|| {
            self.check::<()>(Err(TopologyError::MissingSerde {
                operation: operation.to_owned(),
                type_name: std::any::type_name::<T>(),
                give_with: serde_config(operation),
            }));
            Arc::new(MissingSerde)
        })
    }

    /// The registered serde of `T`, if there is one (no build error if not).
    pub(crate) fn registered_serde<T: 'static>(&self) -> Option<SerdeRef<T>> {
        self.0.borrow().serdes.get::<T>()
    }

    /// Registers `serde` for `T` (and `Option<T>`), as `StreamsBuilder::with_serde` does.
    pub(crate) fn register_serde<T: 'static>(&self, serde: SerdeRef<T>) {
        self.0.borrow_mut().serdes.register(serde);
    }

    /// Adds a processor with a generated name under `parents`; returns its name.
    pub(crate) fn processor<KIn, VIn, KOut, VOut, P>(
        &self,
        prefix: &str,
        supplier: impl Fn() -> P + Send + Sync + 'static,
        parents: &[&str],
    ) -> String
    where
        P: Processor<KIn, VIn, KOut, VOut>,
        KIn: 'static,
        VIn: 'static,
        KOut: 'static,
        VOut: 'static,
    {
        let name = self.name(prefix);
        self.processor_named(&name, supplier, parents);
        name
    }

    /// Adds the processor `name` under `parents`.
    pub(crate) fn processor_named<KIn, VIn, KOut, VOut, P>(
        &self,
        name: &str,
        supplier: impl Fn() -> P + Send + Sync + 'static,
        parents: &[&str],
    ) where
        P: Processor<KIn, VIn, KOut, VOut>,
        KIn: 'static,
        VIn: 'static,
        KOut: 'static,
        VOut: 'static,
    {
        self.with_topology(|t| t.add_processor(name, supplier, parents).map(|_| ()));
    }

    pub(crate) fn store(&self, builder: impl StoreBuilder, processors: &[&str]) {
        self.with_topology(|t| t.add_state_store(builder, processors).map(|_| ()));
    }

    /// Connects the existing store `store` to `processor` too.
    pub(crate) fn connect(&self, store: &str, processor: &str) {
        self.with_topology(|t| {
            t.connect_processor_and_state_stores(processor, &[store])
                .map(|_| ())
        });
    }

    pub(crate) fn rename(&self, from: &str, to: &str) {
        self.with_topology(|t| t.rename_node(from, to).map(|_| ()));
    }

    /// Writes a stream to the internal topic `<base>-repartition` and reads it back, so that
    /// records are partitioned by their (new) key. Returns the reading source's name.
    pub(crate) fn repartition<K: Clone + 'static, V: Clone + 'static>(
        &self,
        parent: &str,
        base: &str,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> String {
        let source = format!("{base}-repartition-source");
        self.internal_topic(
            &[parent],
            &format!("{base}-repartition"),
            &format!("{base}-repartition-sink"),
            &source,
            key_serde,
            value_serde,
        );
        source
    }

    /// As [`repartition`](Self::repartition), each record written to the partition
    /// `partitioner` chooses.
    pub(crate) fn repartition_partitioned<K: Clone + 'static, V: Clone + 'static>(
        &self,
        parent: &str,
        base: &str,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        partitioner: Arc<dyn StreamPartitioner<K, V>>,
    ) -> String {
        let source = format!("{base}-repartition-source");
        let topic = TopicName::Internal(format!("{base}-repartition"));
        self.with_topology(|t| {
            t.add_sink_node_with_partitioner(
                &format!("{base}-repartition-sink"),
                topic.clone(),
                key_serde.clone(),
                value_serde.clone(),
                partitioner,
                &[parent],
            )?;
            t.add_source_node(
                &source,
                vec![topic],
                key_serde,
                value_serde,
                Arc::new(RecordTimestamp),
            )
            .map(|_| ())
        });
        source
    }

    /// Writes what `parents` forward to the internal topic `topic` (named
    /// `<application.id>-<topic>`) through the sink `sink`, and reads it back in the source
    /// `source`, so that records reach the task of the partition their key maps to.
    pub(crate) fn internal_topic<K: Clone + 'static, V: Clone + 'static>(
        &self,
        parents: &[&str],
        topic: &str,
        sink: &str,
        source: &str,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) {
        let topic = TopicName::Internal(topic.to_owned());
        self.with_topology(|t| {
            t.add_sink_node(
                sink,
                topic.clone(),
                key_serde.clone(),
                value_serde.clone(),
                parents,
            )?;
            t.add_source_node(
                source,
                vec![topic],
                key_serde,
                value_serde,
                Arc::new(RecordTimestamp),
            )
            .map(|_| ())
        });
    }

    /// Connects `processor` to the existing `stores`, so that it may read them.
    pub(crate) fn connect_stores(&self, processor: &str, stores: &[&str]) {
        self.with_topology(|t| {
            t.connect_processor_and_state_stores(processor, stores)
                .map(|_| ())
        });
    }

    /// Materializes row updates (`None` deletes) into a key-value store; returns the table.
    pub(crate) fn table_from_rows<K: Clone + 'static, V: Clone + 'static>(
        &self,
        parent: &str,
        prefix: &str,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        if let Some(retention) = materialized.history_retention {
            let retention = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
            return self.versioned_table_from_rows(parent, prefix, materialized, retention);
        }
        let node = self.name(prefix);
        let old_values = OldValues::source(materialized.name.is_some());
        let store = materialized
            .name
            .clone()
            .unwrap_or_else(|| format!("{node}-STATE-STORE"));
        let options = materialized.options();
        let key_serde = self.serde(materialized.key_serde, "a table's store");
        let value_serde = self.serde(materialized.value_serde, "a table's store");
        let (store_name, send_old) = (store.clone(), old_values.flag().clone());
        self.with_topology(|t| {
            t.add_processor(
                &node,
                move || TableSource::<K, V>::new(store_name.clone(), send_old.is_on()),
                &[parent],
            )
            .map(|_| ())
        });
        self.table_store(&store, options, key_serde, value_serde, &node);
        KTable::new(self.clone(), node, Some(store), old_values)
    }

    /// Adds the key-value store `store`, as `options` say, connected to `processor`.
    pub(crate) fn key_value_store<K: 'static, V: Clone + 'static>(
        &self,
        store: &str,
        options: StoreOptions,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        processor: &str,
    ) {
        let builder = Stores::key_value_store_builder(
            Stores::key_value_store(store, options.engine.clone()),
            key_serde,
            value_serde,
        );
        self.add_key_value_store(builder, options, processor);
    }

    /// Adds the store of a table's rows (a table source's, an aggregation's): a key-value
    /// store that keeps each row's time, as Kafka Streams' timestamped stores do.
    pub(crate) fn table_store<K: 'static, V: Clone + 'static>(
        &self,
        store: &str,
        options: StoreOptions,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        processor: &str,
    ) {
        let builder = Stores::key_value_store_builder(
            Stores::key_value_store(store, options.engine.clone()),
            key_serde,
            value_serde,
        )
        .with_timestamps();
        self.add_key_value_store(builder, options, processor);
    }

    fn add_key_value_store<K: 'static, V: Clone + 'static>(
        &self,
        mut builder: streams_core::KeyValueStoreBuilder<K, V>,
        options: StoreOptions,
        processor: &str,
    ) {
        builder = match options.logging {
            true => builder.with_logging_enabled(options.changelog_configs),
            false => builder.with_logging_disabled(),
        };
        if options.caching {
            builder = builder.with_caching_enabled();
        }
        self.store(builder, &[processor]);
    }
}

/// Builds a topology with the typed DSL: streams, tables and global tables from topics, and
/// the operations on them.
///
/// Serdes come from the operation's configuration object (`Consumed`, `Produced`, `Grouped`,
/// `Materialized`, `Repartitioned`) or, where it gives none, from the builder's registry of
/// serdes by type, which knows `String`, `Vec<u8>`, `i32`, `i64`, `u32`, `u64`, `f64`, `()`,
/// `serde_json::Value` and `Option` of each. Register more with [`with_serde`](Self::with_serde).
///
/// ```
/// use streams_dsl::prelude::*;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let builder = StreamsBuilder::new();
/// builder
///     .stream::<(), String>("sentences")
///     .flat_map_values(|line| line.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>())
///     .group_by(|_, word| word.clone())
///     .count()
///     .to_stream()
///     .to("word-counts");
/// let topology = builder.build()?;
///
/// let driver = TopologyTestDriver::new(topology, StreamsConfig::new("word-count"))?;
/// let sentences = driver.input_topic::<(), String>("sentences")?;
/// let counts = driver.output_topic::<String, i64>("word-counts")?;
/// sentences.pipe_value("the cat and the hat".to_string())?;
/// let table = counts.read_key_values_to_map()?;
/// assert_eq!(table["the"], 2);
/// assert_eq!(table["hat"], 1);
/// # Ok(())
/// # }
/// ```
pub struct StreamsBuilder {
    graph: Graph,
}

impl Default for StreamsBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamsBuilder {
    /// An empty builder with the built-in serdes registered.
    pub fn new() -> Self {
        Self {
            graph: Graph(Rc::new(RefCell::new(BuilderState {
                topology: Topology::new(),
                counter: 0,
                error: None,
                serdes: builtin_serdes(),
            }))),
        }
    }

    /// Registers `serde` as the serde of `T` (and its optional form for `Option<T>`), for
    /// every later operation that is given no serde of its own.
    pub fn with_serde<T: 'static>(self, serde: SerdeRef<T>) -> Self {
        self.graph.0.borrow_mut().serdes.register(serde);
        self
    }

    /// A stream of the records of `topics` (one topic, or several merged in timestamp
    /// order; see [`SourceTopics`]), read with the registered serdes.
    pub fn stream<K: Clone + 'static, V: Clone + 'static>(
        &self,
        topics: impl SourceTopics,
    ) -> KStream<K, V> {
        self.stream_with(topics, Consumed::new())
    }

    /// A stream of the records of `topics` (one topic, or several merged in timestamp
    /// order), read as `consumed` says.
    pub fn stream_with<K: Clone + 'static, V: Clone + 'static>(
        &self,
        topics: impl SourceTopics,
        consumed: Consumed<K, V>,
    ) -> KStream<K, V> {
        let topics = topics.into_topic_names();
        let name = self.add_source(
            topics.into_iter().map(TopicName::External).collect(),
            consumed,
        );
        KStream::new(self.graph.clone(), name, false)
    }

    /// A stream of the records of every topic whose whole name matches the regular
    /// expression `pattern` (Kafka Streams' `stream(Pattern)`), merged in timestamp order
    /// as one source: the topics must be co-partitioned, and the runtime subscribes by
    /// pattern, so topics created later join at the next rebalance.
    ///
    /// ```
    /// use streams_dsl::prelude::*;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let builder = StreamsBuilder::new();
    /// builder.stream_pattern::<String, String>("clicks-.*").to("all-clicks");
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("app"))?;
    /// driver.input_topic::<String, String>("clicks-eu")?.pipe_key_value("ann".into(), "/".into())?;
    /// driver.input_topic::<String, String>("clicks-us")?.pipe_key_value("bob".into(), "/".into())?;
    /// let out = driver.output_topic::<String, String>("all-clicks")?;
    /// assert_eq!(out.read_records_to_list()?.len(), 2);
    /// assert!(driver.input_topic::<String, String>("views-eu").is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn stream_pattern<K: Clone + 'static, V: Clone + 'static>(
        &self,
        pattern: &str,
    ) -> KStream<K, V> {
        self.stream_pattern_with(pattern, Consumed::new())
    }

    /// A stream of the topics that `pattern` matches (see
    /// [`stream_pattern`](Self::stream_pattern)), read as `consumed` says.
    pub fn stream_pattern_with<K: Clone + 'static, V: Clone + 'static>(
        &self,
        pattern: &str,
        consumed: Consumed<K, V>,
    ) -> KStream<K, V> {
        let topics = vec![TopicName::Pattern(pattern.to_owned())];
        let name = self.add_source(topics, consumed);
        KStream::new(self.graph.clone(), name, false)
    }

    fn add_source<K: Clone + 'static, V: Clone + 'static>(
        &self,
        topics: Vec<TopicName>,
        consumed: Consumed<K, V>,
    ) -> String {
        let g = &self.graph;
        let name = consumed.name.unwrap_or_else(|| g.name("KSTREAM-SOURCE-"));
        let key_serde = g.serde(consumed.key_serde, "reading a source topic");
        let value_serde = g.serde(consumed.value_serde, "reading a source topic");
        if let Some(reset) = consumed.offset_reset {
            g.with_topology(|t| {
                for topic in &topics {
                    t.set_offset_reset(topic.clone(), reset);
                }
                Ok(())
            });
        }
        g.with_topology(|t| {
            match consumed.extractor {
                Some(EventTime::Typed(extractor)) => t.add_source_node_with_typed_extractor(
                    &name,
                    topics,
                    key_serde,
                    value_serde,
                    extractor,
                ),
                Some(EventTime::Bytes(extractor)) => {
                    t.add_source_node(&name, topics, key_serde, value_serde, extractor)
                }
                None => {
                    let extractor = Arc::new(RecordTimestamp);
                    t.add_source_node(&name, topics, key_serde, value_serde, extractor)
                }
            }
            .map(|_| ())
        });
        name
    }

    /// A table of the latest value per key of `topic` (a tombstone deletes), materialized in
    /// a store that keeps each row's time. With caching (the default) it forwards each key's
    /// last update per flush, as Kafka Streams does; without, every update but an exact
    /// repeat of a row's value and time.
    pub fn table<K: Clone + 'static, V: Clone + 'static>(&self, topic: &str) -> KTable<K, V> {
        self.table_with(topic, Consumed::new(), Materialized::new())
    }

    /// A table of `topic`, read as `consumed` says and stored as `materialized` says.
    pub fn table_with<K: Clone + 'static, V: Clone + 'static>(
        &self,
        topic: &str,
        consumed: Consumed<K, V>,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        let g = &self.graph;
        let key_serde = g.serde(consumed.key_serde, "reading a table topic");
        let value_serde = g.serde(consumed.value_serde, "reading a table topic");
        let materialized = Materialized {
            key_serde: Some(materialized.key_serde.unwrap_or_else(|| key_serde.clone())),
            value_serde: Some(
                materialized
                    .value_serde
                    .unwrap_or_else(|| value_serde.clone()),
            ),
            ..materialized
        };
        let rows = Consumed {
            key_serde: Some(key_serde),
            value_serde: Some(Serdes::optional(value_serde)),
            extractor: consumed.extractor.map(EventTime::for_rows),
            name: consumed.name,
            offset_reset: consumed.offset_reset,
        };
        let source =
            self.add_source::<K, Option<V>>(vec![TopicName::External(topic.to_owned())], rows);
        g.table_from_rows(&source, "KTABLE-SOURCE-", materialized)
    }

    /// A table of `topic` replicated in full to every instance of the application, for
    /// lookups by any key (no co-partitioning needed).
    pub fn global_table<K: Clone + 'static, V: Clone + 'static>(
        &self,
        topic: &str,
    ) -> GlobalKTable<K, V> {
        self.global_table_with(topic, Consumed::new(), Materialized::new())
    }

    /// A global table of `topic`, read as `consumed` says and stored as `materialized` says.
    pub fn global_table_with<K: Clone + 'static, V: Clone + 'static>(
        &self,
        topic: &str,
        consumed: Consumed<K, V>,
        materialized: Materialized<K, V>,
    ) -> GlobalKTable<K, V> {
        let g = &self.graph;
        let key_serde = g.serde(consumed.key_serde, "reading a global table topic");
        let value_serde = g.serde(consumed.value_serde, "reading a global table topic");
        let source = consumed.name.unwrap_or_else(|| g.name("KSTREAM-SOURCE-"));
        let processor = g.name("KTABLE-SOURCE-");
        let store = materialized.name.unwrap_or_else(|| {
            format!(
                "{topic}-STATE-STORE-{}",
                &processor["KTABLE-SOURCE-".len()..]
            )
        });
        let builder = Stores::key_value_store_builder(
            Stores::key_value_store(&store, materialized.engine),
            materialized.key_serde.unwrap_or_else(|| key_serde.clone()),
            materialized
                .value_serde
                .unwrap_or_else(|| value_serde.clone()),
        )
        .with_logging_disabled();
        let store_name = store.clone();
        g.with_topology(|t| {
            t.add_global_store(
                builder,
                &source,
                topic,
                key_serde,
                Serdes::optional(value_serde),
                &processor,
                move || GlobalTableUpdater::<K, V> {
                    store: StoreSlot::new(store_name.clone()),
                },
            )
            .map(|_| ())
        });
        GlobalKTable::new(store)
    }

    /// Adds a store for processors attached with [`KStream::process`].
    pub fn add_state_store(&self, builder: impl StoreBuilder) -> &Self {
        self.graph.store(builder, &[]);
        self
    }

    /// The topology, or the first error made while building it.
    pub fn build(self) -> Result<Topology, TopologyError> {
        let state = Rc::try_unwrap(self.graph.0)
            .map(RefCell::into_inner)
            .map_err(|shared| {
                // Streams and tables still alive share the state; take it over from them.
                let mut state = shared.borrow_mut();
                (
                    std::mem::take(&mut state.topology),
                    state.error.take(),
                    state.serdes.clone(),
                )
            });
        let (mut topology, error, serdes) = match state {
            Ok(state) => (state.topology, state.error, state.serdes),
            Err(taken) => taken,
        };
        match error {
            Some(e) => Err(e),
            None => {
                topology.set_serdes(serdes);
                Ok(topology)
            }
        }
    }
}
