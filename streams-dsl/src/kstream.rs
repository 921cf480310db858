//! `KStream`: an unbounded stream of independent records.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use streams_core::{FixedKey, FixedKeyProcessor, Processor, Record};

use crate::builder::Graph;
use crate::processors::join::GlobalJoin;
use crate::processors::stateless::{
    FlatMap, FlatMapValues, ForEach, Map, MapValues, PassThrough, Peek, Print, SelectKey,
};
use crate::processors::table::StreamToRows;
use crate::processors::StoreSlot;
use crate::{
    BranchedKStream, GlobalKTable, Grouped, KGroupedStream, KTable, Materialized, Named, Printed,
    Produced, Repartitioned,
};

/// A stream of records with keys of type `K` and values of type `V`.
///
/// Operations add nodes to the builder's topology and return new streams; a stream may be used
/// by several operations (the records then fan out to each). Records move between the
/// operators of a sub-topology as typed values; they are serialized only at topics and stores.
pub struct KStream<K, V> {
    pub(crate) graph: Graph,
    pub(crate) node: String,
    /// Whether the key may have changed upstream, so that a grouping or join must repartition.
    pub(crate) repartition_required: bool,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for KStream<K, V> {
    fn clone(&self) -> Self {
        Self {
            graph: self.graph.clone(),
            node: self.node.clone(),
            repartition_required: self.repartition_required,
            types: PhantomData,
        }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    pub(crate) fn new(graph: Graph, node: String, repartition_required: bool) -> Self {
        Self {
            graph,
            node,
            repartition_required,
            types: PhantomData,
        }
    }

    /// The name of the node that produces this stream.
    pub fn node_name(&self) -> &str {
        &self.node
    }

    fn then<K2: Clone + 'static, V2: Clone + 'static, P>(
        &self,
        prefix: &str,
        processor: impl Fn() -> P + Send + Sync + 'static,
        key_changed: bool,
    ) -> KStream<K2, V2>
    where
        P: Processor<K, V, K2, V2>,
    {
        let node = self.graph.processor(prefix, processor, &[&self.node]);
        KStream::new(
            self.graph.clone(),
            node,
            self.repartition_required || key_changed,
        )
    }

    /// Renames the node that produces this stream (Kafka Streams' `Named`).
    pub fn named(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.graph.rename(&self.node, &name);
        Self { node: name, ..self }
    }

    /// Keeps the records for which `predicate` holds.
    pub fn filter(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Self {
        let f = Arc::new(predicate);
        self.then(
            "KSTREAM-FILTER-",
            move || crate::processors::stateless::Filter(Arc::clone(&f)),
            false,
        )
    }

    /// Drops the records for which `predicate` holds.
    pub fn filter_not(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Self {
        self.filter(move |k, v| !predicate(k, v))
    }

    /// Replaces each record's key and value. Marks the stream for repartitioning before a
    /// later grouping or join, since the key may have changed.
    pub fn map<K2: Clone + 'static, V2: Clone + 'static>(
        &self,
        mapper: impl Fn(K, V) -> (K2, V2) + Send + Sync + 'static,
    ) -> KStream<K2, V2> {
        let f = Arc::new(mapper);
        self.then("KSTREAM-MAP-", move || Map(Arc::clone(&f)), true)
    }

    /// Replaces each record's value.
    pub fn map_values<V2: Clone + 'static>(
        &self,
        mapper: impl Fn(V) -> V2 + Send + Sync + 'static,
    ) -> KStream<K, V2> {
        self.map_values_with_key(move |_, v| mapper(v))
    }

    /// Replaces each record's value, given its key too.
    pub fn map_values_with_key<V2: Clone + 'static>(
        &self,
        mapper: impl Fn(&K, V) -> V2 + Send + Sync + 'static,
    ) -> KStream<K, V2> {
        let f = Arc::new(mapper);
        self.then(
            "KSTREAM-MAPVALUES-",
            move || MapValues(Arc::clone(&f)),
            false,
        )
    }

    /// Replaces each record by the records `mapper` returns (zero or more). Marks the stream
    /// for repartitioning.
    pub fn flat_map<K2: Clone + 'static, V2: Clone + 'static, I>(
        &self,
        mapper: impl Fn(K, V) -> I + Send + Sync + 'static,
    ) -> KStream<K2, V2>
    where
        I: IntoIterator<Item = (K2, V2)> + 'static,
    {
        let f = Arc::new(mapper);
        self.then("KSTREAM-FLATMAP-", move || FlatMap(Arc::clone(&f)), true)
    }

    /// Replaces each record's value by the values `mapper` returns, keeping the key.
    pub fn flat_map_values<V2: Clone + 'static, I>(
        &self,
        mapper: impl Fn(V) -> I + Send + Sync + 'static,
    ) -> KStream<K, V2>
    where
        I: IntoIterator<Item = V2> + 'static,
    {
        let f = Arc::new(move |_: &K, v: V| mapper(v));
        self.then(
            "KSTREAM-FLATMAPVALUES-",
            move || FlatMapValues(Arc::clone(&f)),
            false,
        )
    }

    /// Replaces each record's value by the values `mapper` returns given its key and value,
    /// keeping the key (Kafka Streams' `flatMapValues(ValueMapperWithKey)`).
    pub fn flat_map_values_with_key<V2: Clone + 'static, I>(
        &self,
        mapper: impl Fn(&K, V) -> I + Send + Sync + 'static,
    ) -> KStream<K, V2>
    where
        I: IntoIterator<Item = V2> + 'static,
    {
        let f = Arc::new(mapper);
        self.then(
            "KSTREAM-FLATMAPVALUES-",
            move || FlatMapValues(Arc::clone(&f)),
            false,
        )
    }

    /// Sets each record's key to what `selector` computes. Marks the stream for repartitioning.
    pub fn select_key<K2: Clone + 'static>(
        &self,
        selector: impl Fn(&K, &V) -> K2 + Send + Sync + 'static,
    ) -> KStream<K2, V> {
        let f = Arc::new(selector);
        self.then(
            "KSTREAM-KEY-SELECT-",
            move || SelectKey(Arc::clone(&f)),
            true,
        )
    }

    /// Calls `action` on each record and passes it on unchanged.
    pub fn peek(&self, action: impl Fn(&K, &V) + Send + Sync + 'static) -> Self {
        let f = Arc::new(action);
        self.then("KSTREAM-PEEK-", move || Peek(Arc::clone(&f)), false)
    }

    /// Calls `action` on each record; a terminal operation.
    pub fn foreach(&self, action: impl Fn(&K, &V) + Send + Sync + 'static) {
        let f = Arc::new(action);
        self.graph.processor::<K, V, (), (), _>(
            "KSTREAM-FOREACH-",
            move || ForEach(Arc::clone(&f)),
            &[&self.node],
        );
    }

    /// Writes each record as a line to stdout or a writer, as `printed` says (Kafka Streams'
    /// `print`): `[label]: key, value`, the label defaulting to the node's name. A terminal
    /// operation, for debugging.
    pub fn print(&self, printed: Printed<K, V>) {
        let node = self.graph.name("KSTREAM-PRINTER-");
        let label = printed.label.clone().unwrap_or_else(|| node.clone());
        let printer = Arc::new(printed.into_printer(label));
        self.graph.processor_named::<K, V, (), (), _>(
            &node,
            move || Print(Arc::clone(&printer)),
            &[&self.node],
        );
    }

    /// Splits the stream into named branches by predicates: each record goes to the first
    /// branch whose predicate it satisfies.
    pub fn split(&self) -> BranchedKStream<K, V> {
        BranchedKStream::new(
            self.graph.clone(),
            self.node.clone(),
            None,
            self.repartition_required,
        )
    }

    /// As [`split`](Self::split), with `named` as the prefix of the branches' names.
    pub fn split_with(&self, named: Named) -> BranchedKStream<K, V> {
        BranchedKStream::new(
            self.graph.clone(),
            self.node.clone(),
            Some(named.0),
            self.repartition_required,
        )
    }

    /// The records of this stream and of `other`, interleaved as they are processed.
    pub fn merge(&self, other: &KStream<K, V>) -> Self {
        let node = self.graph.processor::<K, V, K, V, _>(
            "KSTREAM-MERGE-",
            || PassThrough,
            &[&self.node, &other.node],
        );
        KStream::new(
            self.graph.clone(),
            node,
            self.repartition_required || other.repartition_required,
        )
    }

    /// Writes the stream through an internal topic, partitioned by key, and reads it back.
    pub fn repartition(&self) -> Self {
        self.repartition_with(Repartitioned::new())
    }

    /// As [`repartition`](Self::repartition), configured by `repartitioned`.
    pub fn repartition_with(&self, repartitioned: Repartitioned<K, V>) -> Self {
        let g = &self.graph;
        let base = repartitioned
            .name
            .unwrap_or_else(|| g.name("KSTREAM-REPARTITION-"));
        let key_serde = g.serde(repartitioned.key_serde, "repartition");
        let value_serde = g.serde(repartitioned.value_serde, "repartition");
        let source = match repartitioned.partitioner {
            Some(partitioner) => {
                g.repartition_partitioned(&self.node, &base, key_serde, value_serde, partitioner)
            }
            None => g.repartition(&self.node, &base, key_serde, value_serde),
        };
        if let Some(partitions) = repartitioned.partitions {
            g.with_topology(|t| {
                t.set_internal_topic_partitions(&format!("{base}-repartition"), partitions)
                    .map(|_| ())
            });
        }
        KStream::new(g.clone(), source, false)
    }

    /// Writes the stream to `topic` with the registered serdes.
    pub fn to(&self, topic: &str) {
        self.to_with(topic, Produced::new());
    }

    /// Writes the stream to `topic` as `produced` says.
    pub fn to_with(&self, topic: &str, produced: Produced<K, V>) {
        let g = &self.graph;
        let name = produced.name.unwrap_or_else(|| g.name("KSTREAM-SINK-"));
        let key_serde = g.serde(produced.key_serde, "writing to a topic");
        let value_serde = g.serde(produced.value_serde, "writing to a topic");
        let topic = streams_core::TopicName::External(topic.to_owned());
        g.with_topology(|t| {
            match produced.partitioner {
                Some(partitioner) => t.add_sink_node_with_partitioner(
                    &name,
                    topic,
                    key_serde,
                    value_serde,
                    partitioner,
                    &[&self.node],
                ),
                None => t.add_sink_node(&name, topic, key_serde, value_serde, &[&self.node]),
            }
            .map(|_| ())
        });
    }

    /// Writes each record to the topic that `choose` names for it.
    pub fn to_per_record(
        &self,
        choose: impl Fn(&Record<K, V>) -> String + Send + Sync + 'static,
        produced: Produced<K, V>,
    ) {
        let g = &self.graph;
        let name = produced.name.unwrap_or_else(|| g.name("KSTREAM-SINK-"));
        let key_serde = g.serde(produced.key_serde, "writing to a topic");
        let value_serde = g.serde(produced.value_serde, "writing to a topic");
        g.with_topology(|t| {
            t.add_sink_per_record(&name, choose, key_serde, value_serde, &[&self.node])
                .map(|_| ())
        });
    }

    /// A table of the latest value per key of this stream.
    pub fn to_table(&self) -> KTable<K, V> {
        self.to_table_with(Materialized::new())
    }

    /// A table of the latest value per key, stored as `materialized` says.
    pub fn to_table_with(&self, materialized: Materialized<K, V>) -> KTable<K, V> {
        let rows = self.graph.processor::<K, V, K, Option<V>, _>(
            "KSTREAM-TOTABLE-",
            || StreamToRows,
            &[&self.node],
        );
        self.graph
            .table_from_rows(&rows, "KTABLE-SOURCE-", materialized)
    }

    /// Attaches a Processor API processor (one per task, from `supplier`) connected to the
    /// named stores, which must be added with
    /// [`StreamsBuilder::add_state_store`](crate::StreamsBuilder::add_state_store).
    pub fn process<K2: Clone + 'static, V2: Clone + 'static, P>(
        &self,
        supplier: impl Fn() -> P + Send + Sync + 'static,
        stores: &[&str],
    ) -> KStream<K2, V2>
    where
        P: Processor<K, V, K2, V2>,
    {
        let node = self
            .graph
            .processor("KSTREAM-PROCESSOR-", supplier, &[&self.node]);
        if !stores.is_empty() {
            self.graph.with_topology(|t| {
                t.connect_processor_and_state_stores(&node, stores)
                    .map(|_| ())
            });
        }
        KStream::new(self.graph.clone(), node, true)
    }

    /// Attaches a fixed-key processor (Kafka Streams' `processValues`): one per task, from
    /// `supplier`, connected to the named stores (added with
    /// [`StreamsBuilder::add_state_store`](crate::StreamsBuilder::add_state_store)). It may
    /// change values, times and headers but not keys, so, unlike
    /// [`process`](Self::process), it never makes a later grouping or join repartition.
    pub fn process_values<V2: Clone + 'static, P>(
        &self,
        supplier: impl Fn() -> P + Send + Sync + 'static,
        stores: &[&str],
    ) -> KStream<K, V2>
    where
        P: FixedKeyProcessor<K, V, V2>,
    {
        let node = self.graph.processor(
            "KSTREAM-PROCESSVALUES-",
            move || FixedKey::new(supplier()),
            &[&self.node],
        );
        if !stores.is_empty() {
            self.graph.connect_stores(&node, stores);
        }
        KStream::new(self.graph.clone(), node, self.repartition_required)
    }

    /// Groups the records by their key, for an aggregation. If the key may have changed
    /// upstream, the aggregation first repartitions.
    pub fn group_by_key(&self) -> KGroupedStream<K, V> {
        self.group_by_key_with(Grouped::new())
    }

    /// As [`group_by_key`](Self::group_by_key), with the serdes and name of `grouped`.
    pub fn group_by_key_with(&self, grouped: Grouped<K, V>) -> KGroupedStream<K, V> {
        KGroupedStream::new(
            self.graph.clone(),
            self.node.clone(),
            self.repartition_required,
            grouped,
        )
    }

    /// Groups the records by the key `selector` computes; the aggregation repartitions first.
    pub fn group_by<K2: Clone + 'static>(
        &self,
        selector: impl Fn(&K, &V) -> K2 + Send + Sync + 'static,
    ) -> KGroupedStream<K2, V> {
        self.group_by_with(selector, Grouped::new())
    }

    /// As [`group_by`](Self::group_by), with the serdes and name of `grouped`.
    pub fn group_by_with<K2: Clone + 'static>(
        &self,
        selector: impl Fn(&K, &V) -> K2 + Send + Sync + 'static,
        grouped: Grouped<K2, V>,
    ) -> KGroupedStream<K2, V> {
        self.select_key(selector).group_by_key_with(grouped)
    }

    fn global_join<GK: 'static, GV: Clone + 'static, VR: Clone + 'static, KM: Into<Option<GK>>>(
        &self,
        table: &GlobalKTable<GK, GV>,
        key_of: impl Fn(&K, &V) -> KM + Send + Sync + 'static,
        joiner: impl Fn(V, Option<GV>) -> Option<VR> + Send + Sync + 'static,
        left: bool,
    ) -> KStream<K, VR> {
        let key_of = Arc::new(move |k: &K, v: &V| key_of(k, v).into());
        let joiner = Arc::new(joiner);
        let store_name = table.store_name().to_owned();
        let prefix = if left {
            "KSTREAM-LEFTJOIN-"
        } else {
            "KSTREAM-JOIN-"
        };
        self.then(
            prefix,
            move || GlobalJoin {
                store: StoreSlot::new(store_name.clone()),
                key_of: Arc::clone(&key_of),
                joiner: Arc::clone(&joiner),
                left,
            },
            false,
        )
    }

    /// Joins each record with the global table's row under the key `key_of` picks; records
    /// without a row are dropped. `key_of` may return `Option<GK>`: a record it gives no key
    /// is dropped and counted in the `dropped` metric.
    pub fn join_global<GK, GV, VR, KM>(
        &self,
        table: &GlobalKTable<GK, GV>,
        key_of: impl Fn(&K, &V) -> KM + Send + Sync + 'static,
        joiner: impl Fn(V, GV) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR>
    where
        GK: 'static,
        GV: Clone + 'static,
        VR: Clone + 'static,
        KM: Into<Option<GK>>,
    {
        self.global_join(
            table,
            key_of,
            move |v, row: Option<GV>| row.map(|row| joiner(v, row)),
            false,
        )
    }

    /// As [`join_global`](Self::join_global), but records without a row, or that `key_of`
    /// gives no key, are joined with `None`.
    pub fn left_join_global<GK, GV, VR, KM>(
        &self,
        table: &GlobalKTable<GK, GV>,
        key_of: impl Fn(&K, &V) -> KM + Send + Sync + 'static,
        joiner: impl Fn(V, Option<GV>) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR>
    where
        GK: 'static,
        GV: Clone + 'static,
        VR: Clone + 'static,
        KM: Into<Option<GK>>,
    {
        self.global_join(table, key_of, move |v, row| Some(joiner(v, row)), true)
    }
}

/// The branches of a split, by name.
pub type Branches<K, V> = HashMap<String, KStream<K, V>>;
