//! Grouped streams and tables, and their aggregations.

use std::sync::Arc;

use streams_core::{Processor, SerdeRef};

use crate::builder::Graph;
use crate::change::ChangeSerde;
use crate::config::StoreOptions;
use crate::old_values::OldValues;
use crate::processors::aggregate::Aggregate;
use crate::{Change, Grouped, KTable, Materialized};

/// The repartition topic in front of an aggregation: its name (a generated one if `None`)
/// and serdes (the store's key serde if `key_serde` is `None`).
struct Repartition<K, V> {
    name: Option<String>,
    key_serde: Option<SerdeRef<K>>,
    value_serde: SerdeRef<V>,
}

/// Adds an aggregation node (after a repartition, if one is given) with its store, and returns
/// the resulting table.
fn aggregation<K, VIn, VA, P>(
    graph: &Graph,
    parent: &str,
    prefix: &str,
    repartition: Option<Repartition<K, VIn>>,
    key_serde: Option<SerdeRef<K>>,
    materialized: Materialized<K, VA>,
    processor: impl Fn(String, bool) -> P + Send + Sync + 'static,
) -> KTable<K, VA>
where
    K: Clone + 'static,
    VIn: Clone + 'static,
    VA: Clone + 'static,
    P: Processor<K, VIn, K, Change<VA>>,
{
    let store = materialized
        .name
        .clone()
        .unwrap_or_else(|| graph.name(&format!("{prefix}STATE-STORE-")));
    let options = materialized.options();
    let key_serde = graph.serde(
        materialized.key_serde.or(key_serde),
        "an aggregation's store",
    );
    let value_serde = graph.serde(materialized.value_serde, "an aggregation's store");
    let parent = match repartition {
        Some(topic) => {
            let base = topic.name.unwrap_or_else(|| store.clone());
            let key_serde = topic.key_serde.unwrap_or_else(|| key_serde.clone());
            graph.repartition(parent, &base, key_serde, topic.value_serde)
        }
        None => parent.to_owned(),
    };
    let old_values = OldValues::stored();
    let (store_name, send_old) = (store.clone(), old_values.flag().clone());
    let node = graph.processor(
        prefix,
        move || processor(store_name.clone(), send_old.is_on()),
        &[&parent],
    );
    // The store always has a cache: with caching off in `Materialized`, the processor still
    // forwards every update, and the cache only collapses the writes.
    let options = StoreOptions {
        caching: true,
        ..options
    };
    graph.table_store(&store, options, key_serde, value_serde, &node);
    KTable::new(graph.clone(), node, Some(store), old_values)
}

/// A stream grouped by key, ready to aggregate. Each aggregation is a [`KTable`] of the
/// aggregate per key that emits every update.
pub struct KGroupedStream<K, V> {
    pub(crate) graph: Graph,
    pub(crate) node: String,
    pub(crate) repartition_required: bool,
    pub(crate) grouped: Grouped<K, V>,
}

impl<K: Clone + 'static, V: Clone + 'static> KGroupedStream<K, V> {
    pub(crate) fn new(
        graph: Graph,
        node: String,
        repartition_required: bool,
        grouped: Grouped<K, V>,
    ) -> Self {
        Self {
            graph,
            node,
            repartition_required,
            grouped,
        }
    }

    fn fold<VA: Clone + 'static>(
        self,
        prefix: &str,
        fold: impl Fn(&K, V, Option<VA>) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<K, VA> {
        let repartition = self.repartition_required.then(|| {
            let value_serde = self.graph.serde(
                self.grouped.value_serde.clone(),
                "repartitioning for a grouping",
            );
            Repartition {
                name: self.grouped.name.clone(),
                key_serde: self.grouped.key_serde.clone(),
                value_serde,
            }
        });
        // A stream's aggregate always exists once a key has a record.
        let fold = Arc::new(move |key: &K, value: V, aggregate: Option<VA>| {
            Some(fold(key, value, aggregate))
        });
        let every_update = !materialized.caching;
        aggregation(
            &self.graph,
            &self.node,
            prefix,
            repartition,
            self.grouped.key_serde,
            materialized,
            move |store, send_old| Aggregate::new(store, Arc::clone(&fold), every_update, send_old),
        )
    }

    /// Aggregates per key and time window (tumbling or hopping) instead of per key.
    pub fn windowed_by(self, windows: crate::TimeWindows) -> crate::TimeWindowedKStream<K, V> {
        crate::TimeWindowedKStream::new(self, windows)
    }

    /// Aggregates per key and sliding window (Kafka Streams KIP-450) instead of per key.
    pub fn windowed_by_sliding(
        self,
        windows: crate::SlidingWindows,
    ) -> crate::SlidingWindowedKStream<K, V> {
        crate::SlidingWindowedKStream::new(self, windows)
    }

    /// Aggregates per key and session of activity instead of per key.
    pub fn windowed_by_sessions(
        self,
        windows: crate::SessionWindows,
    ) -> crate::SessionWindowedKStream<K, V> {
        crate::SessionWindowedKStream::new(self, windows)
    }

    /// The number of records per key.
    pub fn count(self) -> KTable<K, i64> {
        self.count_with(Materialized::new())
    }

    /// The number of records per key, stored as `materialized` says.
    pub fn count_with(self, materialized: Materialized<K, i64>) -> KTable<K, i64> {
        self.fold(
            "KSTREAM-AGGREGATE-",
            |_, _, count| count.unwrap_or(0) + 1,
            materialized,
        )
    }

    /// Combines the values of each key with `reducer(aggregate, value)`; a key's first value
    /// is its first aggregate.
    pub fn reduce(self, reducer: impl Fn(V, V) -> V + Send + Sync + 'static) -> KTable<K, V> {
        self.reduce_with(reducer, Materialized::new())
    }

    /// As [`reduce`](Self::reduce), stored as `materialized` says.
    pub fn reduce_with(
        self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        self.fold(
            "KSTREAM-REDUCE-",
            move |_, value, aggregate| match aggregate {
                Some(aggregate) => reducer(aggregate, value),
                None => value,
            },
            materialized,
        )
    }

    /// Folds the values of each key into an aggregate that starts as `initializer()`.
    pub fn aggregate<VA: Clone + 'static>(
        self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
    ) -> KTable<K, VA> {
        self.aggregate_with(initializer, aggregator, Materialized::new())
    }

    /// As [`aggregate`](Self::aggregate), stored as `materialized` says.
    pub fn aggregate_with<VA: Clone + 'static>(
        self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<K, VA> {
        self.fold(
            "KSTREAM-AGGREGATE-",
            move |key, value, aggregate| {
                aggregator(key, value, aggregate.unwrap_or_else(&initializer))
            },
            materialized,
        )
    }
}

/// A table regrouped by a new key, ready to aggregate with an adder (for new rows) and a
/// subtractor (for replaced or deleted rows).
pub struct KGroupedTable<K, V> {
    graph: Graph,
    node: String,
    grouped: Grouped<K, V>,
}

impl<K: Clone + 'static, V: Clone + 'static> KGroupedTable<K, V> {
    pub(crate) fn new(graph: Graph, node: String, grouped: Grouped<K, V>) -> Self {
        Self {
            graph,
            node,
            grouped,
        }
    }

    fn fold<VA: Clone + 'static>(
        self,
        prefix: &str,
        fold: impl Fn(&K, Change<V>, Option<VA>) -> Option<VA> + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<K, VA> {
        let value_serde = self.graph.serde(
            self.grouped.value_serde,
            "repartitioning a table's grouping",
        );
        let change_serde: SerdeRef<Change<V>> = Arc::new(ChangeSerde { inner: value_serde });
        let repartition = Some(Repartition {
            name: self.grouped.name,
            key_serde: self.grouped.key_serde.clone(),
            value_serde: change_serde,
        });
        let fold = Arc::new(fold);
        let every_update = !materialized.caching;
        aggregation(
            &self.graph,
            &self.node,
            prefix,
            repartition,
            self.grouped.key_serde,
            materialized,
            move |store, send_old| Aggregate::new(store, Arc::clone(&fold), every_update, send_old),
        )
    }

    /// The number of rows per group.
    pub fn count(self) -> KTable<K, i64> {
        self.count_with(Materialized::new())
    }

    /// The number of rows per group, stored as `materialized` says.
    pub fn count_with(self, materialized: Materialized<K, i64>) -> KTable<K, i64> {
        self.fold(
            "KTABLE-AGGREGATE-",
            |_, change, count| {
                let mut count = count.unwrap_or(0);
                count -= i64::from(change.old.is_some());
                count += i64::from(change.new.is_some());
                Some(count)
            },
            materialized,
        )
    }

    /// Combines each group's rows with `adder(aggregate, new row)` and
    /// `subtractor(aggregate, old row)`; a group whose aggregate was absent starts from its
    /// first row.
    pub fn reduce(
        self,
        adder: impl Fn(V, V) -> V + Send + Sync + 'static,
        subtractor: impl Fn(V, V) -> V + Send + Sync + 'static,
    ) -> KTable<K, V> {
        self.reduce_with(adder, subtractor, Materialized::new())
    }

    /// As [`reduce`](Self::reduce), stored as `materialized` says.
    pub fn reduce_with(
        self,
        adder: impl Fn(V, V) -> V + Send + Sync + 'static,
        subtractor: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        self.fold(
            "KTABLE-REDUCE-",
            move |_, change, aggregate| {
                let intermediate = match (aggregate, change.old) {
                    (Some(aggregate), Some(old)) => Some(subtractor(aggregate, old)),
                    (aggregate, _) => aggregate,
                };
                match (intermediate, change.new) {
                    (Some(aggregate), Some(new)) => Some(adder(aggregate, new)),
                    (None, Some(new)) => Some(new),
                    (intermediate, None) => intermediate,
                }
            },
            materialized,
        )
    }

    /// Folds each group's rows into an aggregate that starts as `initializer()`: `adder` for
    /// each new row, `subtractor` for each replaced or deleted one.
    pub fn aggregate<VA: Clone + 'static>(
        self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        adder: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        subtractor: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
    ) -> KTable<K, VA> {
        self.aggregate_with(initializer, adder, subtractor, Materialized::new())
    }

    /// As [`aggregate`](Self::aggregate), stored as `materialized` says.
    pub fn aggregate_with<VA: Clone + 'static>(
        self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        adder: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        subtractor: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<K, VA> {
        self.fold(
            "KTABLE-AGGREGATE-",
            move |key, change, aggregate| {
                let mut aggregate = aggregate.unwrap_or_else(&initializer);
                if let Some(old) = change.old {
                    aggregate = subtractor(key, old, aggregate);
                }
                if let Some(new) = change.new {
                    aggregate = adder(key, new, aggregate);
                }
                Some(aggregate)
            },
            materialized,
        )
    }
}
