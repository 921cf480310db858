//! `TimeWindowedKStream`: a grouped stream aggregated per key and time window.

use std::sync::Arc;

use streams_core::{SerdeRef, TimestampedSerde, WindowedStoreBuilder};

use crate::builder::Graph;
use crate::old_values::OldValues;
use crate::processors::emit_progress::EmitProgress;
use crate::processors::window_aggregate::WindowAggregate;
use crate::processors::window_slices::Merge;
use crate::processors::LateRecords;
use crate::windows::{WindowTiming, WindowedSerde};
use crate::{EmitStrategy, KGroupedStream, KTable, Materialized, TimeWindows, Windowed};

/// The count, reduce and aggregate operations of a windowed stream, in terms of its
/// `fold(fold, materialized)`, where `fold(key, value, aggregate)` folds one value into a
/// window's aggregate (`None` for a new window).
macro_rules! fold_aggregations {
    ($what:literal) => {
        #[doc = concat!("The number of records per key and ", $what, ".")]
        pub fn count(self) -> KTable<Windowed<K>, i64> {
            self.count_with(Materialized::new())
        }

        #[doc = concat!("The number of records per key and ", $what, ", stored as `materialized` says.")]
        pub fn count_with(self, materialized: Materialized<K, i64>) -> KTable<Windowed<K>, i64> {
            // Counts of two runs of records add up: windows may be counted by slices.
            let merge: std::sync::Arc<crate::processors::window_slices::Merge<i64>> =
                std::sync::Arc::new(|a, b| a + b);
            self.fold_merging(|_, _, count| count.unwrap_or(0) + 1, Some(merge), materialized)
        }

        #[doc = concat!("Combines the values of each key and ", $what, " with `reducer(aggregate, value)`.")]
        pub fn reduce(
            self,
            reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
        ) -> KTable<Windowed<K>, V> {
            self.reduce_with(reducer, Materialized::new())
        }

        /// As [`reduce`](Self::reduce), stored as `materialized` says.
        pub fn reduce_with(
            self,
            reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
            materialized: Materialized<K, V>,
        ) -> KTable<Windowed<K>, V> {
            self.fold(
                move |_, value, aggregate| match aggregate {
                    Some(aggregate) => reducer(aggregate, value),
                    None => value,
                },
                materialized,
            )
        }

        #[doc = concat!("Folds the values of each key and ", $what, " into an aggregate that starts as `initializer()`.")]
        pub fn aggregate<VA: Clone + 'static>(
            self,
            initializer: impl Fn() -> VA + Send + Sync + 'static,
            aggregator: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        ) -> KTable<Windowed<K>, VA> {
            self.aggregate_with(initializer, aggregator, Materialized::new())
        }

        /// As [`aggregate`](Self::aggregate), stored as `materialized` says.
        pub fn aggregate_with<VA: Clone + 'static>(
            self,
            initializer: impl Fn() -> VA + Send + Sync + 'static,
            aggregator: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
            materialized: Materialized<K, VA>,
        ) -> KTable<Windowed<K>, VA> {
            self.fold(
                move |key, value, aggregate| {
                    aggregator(key, value, aggregate.unwrap_or_else(&initializer))
                },
                materialized,
            )
        }
    };
}
pub(crate) use fold_aggregations;

/// The settings every windowed stream has: the late-records topic, the emit strategy, and
/// the trigger that replaces it; for a struct with `late_topic` and `emit` fields.
macro_rules! windowed_stream_settings {
    () => {
        /// Sends every record that arrives too late for one of its windows, unchanged, to
        /// `topic`, with the reason in the `streams.late.reason` header (besides counting it
        /// as dropped).
        pub fn with_late_records_topic(mut self, topic: impl Into<String>) -> Self {
            self.late_topic = Some(topic.into());
            self
        }

        /// Sets when results are emitted (default: on every update).
        pub fn emit_strategy(mut self, emit: EmitStrategy) -> Self {
            self.emit = emit;
            self
        }

        /// Emits each window's result in panes, as `trigger` says (our extension: early,
        /// on-time and late panes with their pane info), instead of by an emit strategy.
        pub fn trigger(self, trigger: crate::Trigger) -> crate::Triggered<Self> {
            crate::Triggered::new(self, trigger)
        }
    };
}
pub(crate) use windowed_stream_settings;

/// A stream grouped by key and split into time windows, ready to aggregate. Each aggregation
/// is a [`KTable`] keyed by [`Windowed`] keys, kept in a window store.
///
/// ```
/// use std::time::Duration;
/// use streams_dsl::prelude::*;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let builder = StreamsBuilder::new();
/// builder
///     .stream::<String, String>("clicks")
///     .group_by_key()
///     .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(60)))
///     .emit_strategy(EmitStrategy::OnWindowClose)
///     .count()
///     .to_stream()
///     .to("clicks-per-minute");
/// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("clicks"))?;
/// let clicks = driver.input_topic::<String, String>("clicks")?;
/// clicks.pipe_key_value_at("ann".into(), "/".into(), 1_000)?;
/// clicks.pipe_key_value_at("ann".into(), "/a".into(), 30_000)?;
/// clicks.pipe_key_value_at("bob".into(), "/".into(), 61_000)?; // closes the first minute
/// let out = driver.output_topic::<Windowed<String>, i64>("clicks-per-minute")?;
/// let (key, count) = out.read_key_value()?;
/// assert_eq!((key.key.as_str(), key.window.start, key.window.end, count), ("ann", 0, 60_000, 2));
/// assert!(out.is_empty());
/// # Ok(())
/// # }
/// ```
pub struct TimeWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: TimeWindows,
    emit: EmitStrategy,
    late_topic: Option<String>,
}

impl<K: Clone + 'static, V: Clone + 'static> TimeWindowedKStream<K, V> {
    pub(crate) fn new(grouped: KGroupedStream<K, V>, windows: TimeWindows) -> Self {
        grouped.graph.check(windows.validate());
        Self {
            grouped,
            windows,
            emit: EmitStrategy::default(),
            late_topic: None,
        }
    }

    windowed_stream_settings!();

    fn fold<VA: Clone + 'static>(
        self,
        fold: impl Fn(&K, V, Option<VA>) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA> {
        self.fold_merging(fold, None, materialized)
    }

    /// As `fold`, with `merge` merging two aggregates of a key and window where known.
    fn fold_merging<VA: Clone + 'static>(
        self,
        fold: impl Fn(&K, V, Option<VA>) -> VA + Send + Sync + 'static,
        merge: Option<Arc<Merge<VA>>>,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA> {
        let input = WindowedInput::new(&self.grouped, &materialized);
        let (g, store, key_serde, value_serde, parent) = (
            input.graph,
            input.store,
            input.key_serde,
            input.value_serde,
            input.parent,
        );
        let late = late_records(&g, &self.grouped, &key_serde, self.late_topic.as_deref());
        let minimum = self.windows.size().saturating_add(self.windows.grace());
        let retention = input_retention(&materialized, minimum);
        let builder = window_store(
            &store,
            &materialized,
            retention,
            key_serde,
            Arc::new(TimestampedSerde::new(value_serde)),
        );
        let every_update = !materialized.caching;
        let (windows, emit, store_name, fold) =
            (self.windows, self.emit, store.clone(), Arc::new(fold));
        let old_values = OldValues::stored();
        let send_old = old_values.flag().clone();
        let node = g.processor(
            "KSTREAM-AGGREGATE-",
            move || {
                WindowAggregate::new(
                    store_name.clone(),
                    windows,
                    emit,
                    Arc::clone(&fold),
                    late.clone(),
                    every_update,
                )
                .sending_old_values(send_old.is_on())
                .merging_with(merge.clone())
            },
            &[&parent],
        );
        g.store(builder, &[&node]);
        emit_progress_store(&g, emit, &store, &materialized, &node);
        KTable::new(g, node, Some(store), old_values).with_window_timing(WindowTiming {
            on_time_after_end: 0,
            grace: windows.grace(),
        })
    }

    fold_aggregations!("window");
}

/// What a windowed aggregation needs before its store and processor: the store's name and
/// serdes (the `Windowed<K>` serde registered), and the node to read from, behind a
/// repartition topic if the key may have changed.
pub(crate) struct WindowedInput<K, VA> {
    pub(crate) graph: Graph,
    pub(crate) store: String,
    pub(crate) key_serde: SerdeRef<K>,
    pub(crate) value_serde: SerdeRef<VA>,
    pub(crate) parent: String,
}

impl<K: Clone + 'static, VA: 'static> WindowedInput<K, VA> {
    pub(crate) fn new<V: Clone + 'static>(
        grouped: &KGroupedStream<K, V>,
        materialized: &Materialized<K, VA>,
    ) -> Self {
        let g = grouped.graph.clone();
        let store = materialized
            .name
            .clone()
            .unwrap_or_else(|| g.name("KSTREAM-AGGREGATE-STATE-STORE-"));
        let what = "a windowed aggregation's store";
        let key_serde = g.serde(
            materialized
                .key_serde
                .clone()
                .or(grouped.grouped.key_serde.clone()),
            what,
        );
        let value_serde = g.serde(materialized.value_serde.clone(), what);
        g.register_serde::<Windowed<K>>(Arc::new(WindowedSerde {
            inner: key_serde.clone(),
        }));
        let parent = if grouped.repartition_required {
            let base = grouped
                .grouped
                .name
                .clone()
                .unwrap_or_else(|| store.clone());
            let value_serde = g.serde(
                grouped.grouped.value_serde.clone(),
                "repartitioning for a grouping",
            );
            g.repartition(&grouped.node, &base, key_serde.clone(), value_serde)
        } else {
            grouped.node.clone()
        };
        Self {
            graph: g,
            store,
            key_serde,
            value_serde,
            parent,
        }
    }
}

/// The retention `materialized` asks for, never below `minimum` (ms).
pub(crate) fn input_retention<K, VA>(materialized: &Materialized<K, VA>, minimum: i64) -> i64 {
    materialized.retention.map_or(minimum, |r| {
        i64::try_from(r.as_millis())
            .unwrap_or(i64::MAX)
            .max(minimum)
    })
}

/// Adds, for an on-close aggregation, the store where its watermark survives a restart (see
/// `EmitProgress`), connected to `node`, with the aggregate store's engine and logging.
pub(crate) fn emit_progress_store<K, VA>(
    g: &Graph,
    emit: EmitStrategy,
    store: &str,
    materialized: &Materialized<K, VA>,
    node: &str,
) {
    if emit == EmitStrategy::OnWindowClose {
        g.key_value_store(
            &EmitProgress::store_name(store),
            materialized.options(),
            streams_core::Serdes::string(),
            streams_core::Serdes::i64(),
            node,
        );
    }
}

/// The late-records side output, if `topic` is set: declared in the topology, with the
/// grouping's serdes to write records unchanged.
pub(crate) fn late_records<K: 'static, V: Clone + 'static>(
    graph: &Graph,
    grouped: &KGroupedStream<K, V>,
    key_serde: &SerdeRef<K>,
    topic: Option<&str>,
) -> Option<Arc<LateRecords<K, V>>> {
    let topic = topic?;
    let value_serde = graph.serde(grouped.grouped.value_serde.clone(), "writing late records");
    graph.with_topology(|t| {
        t.add_side_output_topic(topic);
        Ok(())
    });
    Some(Arc::new(LateRecords {
        topic: topic.to_owned(),
        key_serde: key_serde.clone(),
        value_serde,
    }))
}

/// A window store named `name` for an aggregation stored as `materialized` says. It always
/// has a cache: with caching off in `Materialized`, the processor still forwards every
/// update, and the cache only collapses the writes.
pub(crate) fn window_store<K, VA, X: 'static>(
    name: &str,
    materialized: &Materialized<K, VA>,
    retention: i64,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<X>,
) -> WindowedStoreBuilder<K, X> {
    let builder = WindowedStoreBuilder::window(
        name,
        materialized.engine.clone(),
        retention,
        key_serde,
        value_serde,
    )
    .with_caching_enabled();
    if materialized.logging {
        builder.with_logging_enabled(materialized.changelog_configs.clone())
    } else {
        builder.with_logging_disabled()
    }
}
