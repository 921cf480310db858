//! `KTable`: a changelog stream read as a table of the latest value per key.

use std::marker::PhantomData;
use std::sync::Arc;

use streams_core::{Processor, StoreEngine, TopologyError};

use crate::builder::Graph;
use crate::config::StoreOptions;
use crate::old_values::OldValues;
use crate::processors::suppress::{Suppress, WaitingSerde};
use crate::processors::table::{
    TableFilter, TableMapValues, TableMaterializer, TableSelect, TableToStream,
};
use crate::suppress::{BufferFull, Until};
use crate::value_transformer::{TableTransformValues, ValueTransformerWithKey};
use crate::windows::WindowTiming;
use crate::{Change, Grouped, KGroupedTable, KStream, Materialized, Suppressed};

/// A table with keys of type `K` and values of type `V`: each record is an update of its key's
/// row. Internally its operators pass [`Change`]s: the new value, and the old one where an
/// operator downstream needs it (an aggregation retracts it; Kafka Streams'
/// `enableSendingOldValues`).
pub struct KTable<K, V> {
    pub(crate) graph: Graph,
    pub(crate) node: String,
    /// The store that holds the table, where it is materialized.
    pub(crate) store: Option<String>,
    /// For a windowed aggregation's table: when its windows are on time and close.
    window_timing: Option<WindowTiming>,
    /// Whether the store is a versioned one (rows looked up as of a time).
    pub(crate) versioned: bool,
    /// Whether (and how) the node forwards old values.
    pub(crate) old_values: OldValues,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for KTable<K, V> {
    fn clone(&self) -> Self {
        Self {
            graph: self.graph.clone(),
            node: self.node.clone(),
            store: self.store.clone(),
            window_timing: self.window_timing,
            versioned: self.versioned,
            old_values: self.old_values.clone(),
            types: PhantomData,
        }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KTable<K, V> {
    pub(crate) fn new(
        graph: Graph,
        node: String,
        store: Option<String>,
        old_values: OldValues,
    ) -> Self {
        Self {
            graph,
            node,
            store,
            window_timing: None,
            versioned: false,
            old_values,
            types: PhantomData,
        }
    }

    /// The graph this table belongs to.
    pub(crate) fn graph(&self) -> &Graph {
        &self.graph
    }

    /// For a windowed aggregation's table: when its windows are on time and close.
    pub(crate) fn window_timing(&self) -> Option<WindowTiming> {
        self.window_timing
    }

    /// Marks a windowed aggregation's table with when its windows are on time and close.
    pub(crate) fn with_window_timing(mut self, timing: WindowTiming) -> Self {
        self.window_timing = Some(timing);
        self
    }

    /// This table with a store of its rows: itself where it has one, else the same updates
    /// after a node that writes them into a new logged store (joins look rows up there).
    pub(crate) fn materialized(&self) -> KTable<K, V> {
        // Kafka Streams materializes a source table that a join looks up.
        self.old_values.mark_materialized();
        if self.store.is_some() {
            return self.clone();
        }
        self.materialize_as(Materialized::new())
    }

    /// The same updates after a node that writes them into the store `materialized`
    /// describes (a generated name if it gives none), which makes the table queryable. The
    /// store forwards every update as it comes: it has no cache of its own.
    fn materialize_as(&self, materialized: Materialized<K, V>) -> KTable<K, V> {
        let g = &self.graph;
        let node = g.name("KTABLE-MATERIALIZE-");
        let store = materialized
            .name
            .clone()
            .unwrap_or_else(|| format!("{node}-STATE-STORE"));
        let key_serde = g.serde::<K>(materialized.key_serde.clone(), "materializing a table");
        let value_serde = g.serde::<V>(materialized.value_serde.clone(), "materializing a table");
        let options = StoreOptions {
            caching: false,
            ..materialized.options()
        };
        let store_name = store.clone();
        g.with_topology(|t| {
            t.add_processor(
                &node,
                move || TableMaterializer::<K, V>::new(store_name.clone()),
                &[&self.node],
            )
            .map(|_| ())
        });
        g.table_store(&store, options, key_serde, value_serde, &node);
        KTable {
            window_timing: self.window_timing,
            // The materializer forwards its parent's changes as they are.
            ..KTable::new(g.clone(), node, Some(store), self.old_values.clone())
        }
    }

    /// The name of the store that holds this table, if it is materialized.
    pub fn store_name(&self) -> Option<&str> {
        self.store.as_deref()
    }

    /// The name of the node that produces this table's updates.
    pub fn node_name(&self) -> &str {
        &self.node
    }

    /// Renames the node that produces this table (Kafka Streams' `Named`).
    pub fn named(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.graph.rename(&self.node, &name);
        Self { node: name, ..self }
    }

    /// A node that derives its changes from this table's; `processor` makes it given
    /// whether it must forward old values.
    fn then<V2: Clone + 'static, P>(
        &self,
        prefix: &str,
        processor: impl Fn(bool) -> P + Send + Sync + 'static,
    ) -> KTable<K, V2>
    where
        P: Processor<K, Change<V>, K, Change<V2>>,
    {
        let old_values = OldValues::derived(&self.old_values);
        let flag = old_values.flag().clone();
        let node = self
            .graph
            .processor(prefix, move || processor(flag.is_on()), &[&self.node]);
        KTable {
            window_timing: self.window_timing,
            ..KTable::new(self.graph.clone(), node, None, old_values)
        }
    }

    /// The rows for which `predicate` holds; a row that stops satisfying it is deleted
    /// downstream.
    pub fn filter(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Self {
        let f = Arc::new(predicate);
        let table = self.then("KTABLE-FILTER-", move |send_old| TableFilter {
            predicate: Arc::clone(&f),
            send_old,
        });
        // As Kafka Streams: where this table has its old values at hand (a store of its own),
        // the filter takes them, so that it need not forward a delete for every row it drops.
        table.old_values.enable(false);
        table
    }

    /// The rows for which `predicate` does not hold.
    pub fn filter_not(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Self {
        self.filter(move |k, v| !predicate(k, v))
    }

    /// Maps every row's value.
    pub fn map_values<V2: Clone + 'static>(
        &self,
        mapper: impl Fn(V) -> V2 + Send + Sync + 'static,
    ) -> KTable<K, V2> {
        self.map_values_with_key(move |_, v| mapper(v))
    }

    /// Maps every row's value, given its key too.
    pub fn map_values_with_key<V2: Clone + 'static>(
        &self,
        mapper: impl Fn(&K, V) -> V2 + Send + Sync + 'static,
    ) -> KTable<K, V2> {
        let f = Arc::new(mapper);
        self.then("KTABLE-MAPVALUES-", move |send_old| TableMapValues {
            mapper: Arc::clone(&f),
            send_old,
        })
    }

    /// As [`filter`](Self::filter), with the result kept in the store `materialized`
    /// describes, so that it can be queried (Kafka Streams' `filter(predicate, Materialized)`).
    pub fn filter_with(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> Self {
        self.filter(predicate).materialize_as(materialized)
    }

    /// As [`filter_not`](Self::filter_not), with the result kept in the store `materialized`
    /// describes.
    pub fn filter_not_with(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> Self {
        self.filter_not(predicate).materialize_as(materialized)
    }

    /// As [`map_values`](Self::map_values), with the result kept in the store
    /// `materialized` describes (Kafka Streams' `mapValues(mapper, Materialized)`).
    pub fn map_values_with<V2: Clone + 'static>(
        &self,
        mapper: impl Fn(V) -> V2 + Send + Sync + 'static,
        materialized: Materialized<K, V2>,
    ) -> KTable<K, V2> {
        self.map_values(mapper).materialize_as(materialized)
    }

    /// Maps every row's value with a stateful transformer (Kafka Streams'
    /// `KTable.transformValues`): one transformer per task, from `supplier`, which may use the
    /// named `stores` (added with
    /// [`StreamsBuilder::add_state_store`](crate::StreamsBuilder::add_state_store)). The
    /// transformer sees the new row of each update (`None` for a delete) and, where an
    /// operator downstream needs old values (an aggregation retracts them), the old row once
    /// more, as Kafka Streams does for an unmaterialized result.
    pub fn transform_values<V2, T>(
        &self,
        supplier: impl Fn() -> T + Send + Sync + 'static,
        stores: &[&str],
    ) -> KTable<K, V2>
    where
        V2: Clone + 'static,
        T: ValueTransformerWithKey<K, V, V2>,
    {
        let table = self.then("KTABLE-TRANSFORMVALUES-", move |send_old| {
            TableTransformValues::new(supplier(), send_old)
        });
        if !stores.is_empty() {
            self.graph.connect_stores(&table.node, stores);
        }
        table
    }

    /// As [`transform_values`](Self::transform_values), with the result kept in the store
    /// `materialized` describes.
    pub fn transform_values_with<V2, T>(
        &self,
        supplier: impl Fn() -> T + Send + Sync + 'static,
        materialized: Materialized<K, V2>,
        stores: &[&str],
    ) -> KTable<K, V2>
    where
        V2: Clone + 'static,
        T: ValueTransformerWithKey<K, V, V2>,
    {
        self.transform_values(supplier, stores)
            .materialize_as(materialized)
    }

    /// Holds back updates as `suppressed` says: until each window closes (final results
    /// only) or for a time limit per key, in a buffer that a logged store keeps across
    /// restarts. See [`Suppressed`].
    pub fn suppress(&self, suppressed: Suppressed<K>) -> KTable<K, V> {
        let g = &self.graph;
        // The buffer keeps each key's old value beside the new one it holds back.
        self.old_values.enable(true);
        let close_after_end = match (&suppressed.until, self.window_timing) {
            (Until::WindowCloses(_), None) => {
                g.check::<()>(Err(TopologyError::InvalidOperation(format!(
                    "suppress until windows close needs a windowed aggregation's table, and `{}` is not one",
                    self.node
                ))));
                0
            }
            (Until::WindowCloses(_), Some(timing)) => {
                if suppressed.buffer.is_bounded()
                    && suppressed.buffer.on_full() == BufferFull::EmitEarly
                {
                    g.check::<()>(Err(TopologyError::InvalidOperation(
                        "suppress until windows close emits final results only: its buffer must be unbounded or shut down when full".to_owned(),
                    )));
                }
                timing.on_time_after_end.saturating_add(timing.grace)
            }
            (Until::TimeLimit(_), _) => 0,
        };
        let store = match &suppressed.name {
            Some(name) => format!("{name}-store"),
            None => g.name("KTABLE-SUPPRESS-STATE-STORE-"),
        };
        let key_serde = g.serde::<K>(None, "a suppression buffer");
        let value_serde = g.serde::<V>(None, "a suppression buffer");
        let buffer_serde = Arc::new(WaitingSerde {
            inner: value_serde.clone(),
        });
        let (until, buffer, store_name) =
            (Arc::new(suppressed.until), suppressed.buffer, store.clone());
        let (keys, values) = (key_serde.clone(), value_serde);
        let mut node = g.processor(
            "KTABLE-SUPPRESS-",
            move || {
                Suppress::new(
                    until.as_ref().clone(),
                    close_after_end,
                    buffer,
                    store_name.clone(),
                    keys.clone(),
                    values.clone(),
                )
            },
            &[&self.node],
        );
        if let Some(name) = suppressed.name {
            g.rename(&node, &name);
            node = name;
        }
        let options = StoreOptions {
            engine: StoreEngine::InMemory,
            logging: suppressed.logging,
            caching: false,
            changelog_configs: suppressed.changelog_configs,
        };
        g.key_value_store(&store, options, key_serde, buffer_serde, &node);
        KTable {
            window_timing: self.window_timing,
            ..KTable::new(g.clone(), node, None, self.old_values.clone())
        }
    }

    /// The table's updates as a stream: the new value of each update, `None` for a delete.
    pub fn to_stream(&self) -> KStream<K, Option<V>> {
        let node = self.graph.processor::<K, Change<V>, K, Option<V>, _>(
            "KTABLE-TOSTREAM-",
            || TableToStream,
            &[&self.node],
        );
        KStream::new(self.graph.clone(), node, false)
    }

    /// The table's updates as a stream keyed by what `mapper` computes from each row's key
    /// and new value (`None` for a delete); Kafka Streams' `toStream(KeyValueMapper)`. Marks
    /// the stream for repartitioning.
    pub fn to_stream_with_key<K2: Clone + 'static>(
        &self,
        mapper: impl Fn(&K, &Option<V>) -> K2 + Send + Sync + 'static,
    ) -> KStream<K2, Option<V>> {
        let stream = self.to_stream();
        let f = Arc::new(mapper);
        stream.select_key(move |k, v| f(k, v))
    }

    /// Regroups the rows by the key (and value) `selector` computes, for an aggregation with
    /// an adder and a subtractor. The aggregation repartitions first.
    pub fn group_by<K2, V2>(
        &self,
        selector: impl Fn(&K, V) -> (K2, V2) + Send + Sync + 'static,
    ) -> KGroupedTable<K2, V2>
    where
        K2: Clone + PartialEq + 'static,
        V2: Clone + 'static,
    {
        self.group_by_with(selector, Grouped::new())
    }

    /// As [`group_by`](Self::group_by), with the serdes and name of `grouped`.
    pub fn group_by_with<K2, V2>(
        &self,
        selector: impl Fn(&K, V) -> (K2, V2) + Send + Sync + 'static,
        grouped: Grouped<K2, V2>,
    ) -> KGroupedTable<K2, V2>
    where
        K2: Clone + PartialEq + 'static,
        V2: Clone + 'static,
    {
        // The aggregation retracts each row's old value from its old group.
        self.old_values.enable(true);
        let f = Arc::new(selector);
        let node = self.graph.processor(
            "KTABLE-SELECT-",
            move || TableSelect(Arc::clone(&f)),
            &[&self.node],
        );
        KGroupedTable::new(self.graph.clone(), node, grouped)
    }
}
