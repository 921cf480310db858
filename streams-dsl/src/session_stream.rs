//! `SessionWindowedKStream`: a grouped stream aggregated per key and session.

use std::sync::Arc;

use streams_core::{TimestampedSerde, WindowedStoreBuilder};

use crate::old_values::OldValues;
use crate::processors::session_aggregate::SessionAggregate;
use crate::windowed_stream::{
    emit_progress_store, input_retention, late_records, windowed_stream_settings, WindowedInput,
};
use crate::windows::WindowTiming;
use crate::{EmitStrategy, KGroupedStream, KTable, Materialized, SessionWindows, Windowed};

/// A stream grouped by key and split into sessions of activity, ready to aggregate. Each
/// aggregation is a [`KTable`] keyed by [`Windowed`] keys whose window is the session
/// `[first record time, last record time]`, kept in a session store.
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
///     .windowed_by_sessions(SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_secs(30)))
///     .count()
///     .to_stream()
///     .to("clicks-per-visit");
/// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("visits"))?;
/// let clicks = driver.input_topic::<String, String>("clicks")?;
/// clicks.pipe_key_value_at("ann".into(), "/".into(), 0)?;
/// clicks.pipe_key_value_at("ann".into(), "/a".into(), 20_000)?; // extends the visit
/// let out = driver.output_topic::<Windowed<String>, Option<i64>>("clicks-per-visit")?;
/// let updates = out.read_key_values_to_list()?;
/// // The one-click session is retracted before the merged one is emitted.
/// assert_eq!(updates[1].1, None);
/// assert_eq!((updates[2].0.window.start, updates[2].0.window.end, updates[2].1), (0, 20_000, Some(2)));
/// # Ok(())
/// # }
/// ```
pub struct SessionWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: SessionWindows,
    emit: EmitStrategy,
    late_topic: Option<String>,
}

impl<K: Clone + 'static, V: Clone + 'static> SessionWindowedKStream<K, V> {
    pub(crate) fn new(grouped: KGroupedStream<K, V>, windows: SessionWindows) -> Self {
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
        merge: impl Fn(&K, Option<VA>, VA) -> VA + Send + Sync + 'static,
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
        // A session must stay until no record can merge into it or reach it within grace.
        let minimum = self.windows.gap().saturating_add(self.windows.grace());
        let retention = input_retention(&materialized, minimum);
        let mut builder = WindowedStoreBuilder::session(
            &store,
            materialized.engine.clone(),
            retention,
            key_serde,
            Arc::new(TimestampedSerde::new(value_serde)),
        );
        builder = match materialized.logging {
            true => builder.with_logging_enabled(materialized.changelog_configs.clone()),
            false => builder.with_logging_disabled(),
        };
        // The store always has a cache: with caching off in `Materialized`, the processor
        // still forwards every update, and the cache only collapses the writes.
        builder = builder.with_caching_enabled();
        let every_update = !materialized.caching;
        let (windows, emit, store_name) = (self.windows, self.emit, store.clone());
        let (fold, merge) = (Arc::new(fold), Arc::new(merge));
        let old_values = OldValues::stored();
        let send_old = old_values.flag().clone();
        let node = g.processor(
            "KSTREAM-SESSION-AGGREGATE-",
            move || {
                SessionAggregate::new(
                    store_name.clone(),
                    windows,
                    emit,
                    Arc::clone(&fold),
                    Arc::clone(&merge),
                    late.clone(),
                    every_update,
                )
                .sending_old_values(send_old.is_on())
            },
            &[&parent],
        );
        g.store(builder, &[&node]);
        emit_progress_store(&g, emit, &store, &materialized, &node);
        // A session is complete once no in-order record can reach it: one within the gap
        // after its end could still extend it (as Kafka Streams' suppression assumes).
        KTable::new(g, node, Some(store), old_values).with_window_timing(WindowTiming {
            on_time_after_end: windows.gap().saturating_add(1),
            grace: windows.grace(),
        })
    }

    /// The number of records per key and session.
    pub fn count(self) -> KTable<Windowed<K>, i64> {
        self.count_with(Materialized::new())
    }

    /// The number of records per key and session, stored as `materialized` says.
    pub fn count_with(self, materialized: Materialized<K, i64>) -> KTable<Windowed<K>, i64> {
        self.fold(
            |_, _, count| count.unwrap_or(0) + 1,
            |_, a, b| a.unwrap_or(0) + b,
            materialized,
        )
    }

    /// Combines the values of each session with `reducer(aggregate, value)`; merging sessions
    /// combines their aggregates with the same function.
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
        let reducer = Arc::new(reducer);
        let merger = Arc::clone(&reducer);
        self.fold(
            move |_, value, aggregate| match aggregate {
                Some(aggregate) => reducer(aggregate, value),
                None => value,
            },
            // As Kafka Streams: the reducer's "initializer" is no value at all.
            move |_, a, b| match a {
                Some(a) => merger(a, b),
                None => b,
            },
            materialized,
        )
    }

    /// Folds the values of each session into an aggregate that starts as `initializer()`;
    /// when a record joins sessions together, their aggregate starts as `initializer()` too
    /// and `merger(key, merged, session)` takes in each joined session, by end then start.
    pub fn aggregate<VA: Clone + 'static>(
        self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        merger: impl Fn(&K, VA, VA) -> VA + Send + Sync + 'static,
    ) -> KTable<Windowed<K>, VA> {
        self.aggregate_with(initializer, aggregator, merger, Materialized::new())
    }

    /// As [`aggregate`](Self::aggregate), stored as `materialized` says.
    pub fn aggregate_with<VA: Clone + 'static>(
        self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        merger: impl Fn(&K, VA, VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA> {
        let initializer = Arc::new(initializer);
        let init = Arc::clone(&initializer);
        self.fold(
            move |key, value, aggregate| {
                aggregator(key, value, aggregate.unwrap_or_else(|| initializer()))
            },
            // As Kafka Streams: a merged session starts from the initializer, not from the
            // first session it absorbs.
            move |key, merged, session| merger(key, merged.unwrap_or_else(|| init()), session),
            materialized,
        )
    }
}
