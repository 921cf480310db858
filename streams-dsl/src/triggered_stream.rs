//! `TriggeredWindowedKStream`: a time-windowed stream whose aggregations emit panes.

use std::sync::Arc;

use crate::panes::{Pane, PaneSerde, Trigger};
use crate::processors::trigger_aggregate::{PaneStateSerde, TriggeredAggregate};
use crate::windowed_stream::{
    emit_progress_store, input_retention, late_records, window_store, WindowedInput,
};
use crate::{EmitStrategy, KGroupedStream, KStream, Materialized, TimeWindows, Windowed};

/// A stream grouped by key and split into time windows whose aggregations emit [`Pane`]s as a
/// [`Trigger`] says: a stream of windowed panes, each with its pane info, which sinks write as
/// record headers. Made by [`TimeWindowedKStream::trigger`](crate::TimeWindowedKStream::trigger).
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
///     .trigger(Trigger::at_watermark().with_early_firings(EarlyFiring::EveryRecords(2)))
///     .count()
///     .to("click-panes");
/// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("clicks"))?;
/// let clicks = driver.input_topic::<String, String>("clicks")?;
/// for t in [1_000, 2_000, 3_000, 61_000] {
///     clicks.pipe_key_value_at("ann".into(), "/".into(), t)?;
/// }
/// let out = driver.output_topic::<Windowed<String>, Pane<i64>>("click-panes")?;
/// let panes: Vec<(i64, PaneTiming, bool)> = out
///     .read_values_to_list()?
///     .into_iter()
///     .map(|p| (p.value, p.info.timing, p.info.is_last))
///     .collect();
/// // An early pane after two records, then the on-time pane of the first minute.
/// assert_eq!(panes, vec![(2, PaneTiming::Early, false), (3, PaneTiming::OnTime, true)]);
/// # Ok(())
/// # }
/// ```
pub struct TriggeredWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: TimeWindows,
    trigger: Trigger,
    late_topic: Option<String>,
}

impl<K: Clone + 'static, V: Clone + 'static> TriggeredWindowedKStream<K, V> {
    pub(crate) fn new(
        grouped: KGroupedStream<K, V>,
        windows: TimeWindows,
        trigger: Trigger,
        late_topic: Option<String>,
    ) -> Self {
        Self {
            grouped,
            windows,
            trigger,
            late_topic,
        }
    }

    fn fold<VA: Clone + 'static>(
        self,
        fold: impl Fn(&K, V, Option<VA>) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KStream<Windowed<K>, Pane<VA>> {
        let input = WindowedInput::new(&self.grouped, &materialized);
        let (g, store, key_serde, value_serde, parent) = (
            input.graph,
            input.store,
            input.key_serde,
            input.value_serde,
            input.parent,
        );
        g.register_serde::<Pane<VA>>(Arc::new(PaneSerde::new(value_serde.clone())));
        let late = late_records(&g, &self.grouped, &key_serde, self.late_topic.as_deref());
        let minimum = self.windows.size().saturating_add(self.windows.grace());
        let retention = input_retention(&materialized, minimum);
        let builder = window_store(
            &store,
            &materialized,
            retention,
            key_serde,
            Arc::new(PaneStateSerde { inner: value_serde }),
        );
        let (windows, trigger, store_name, fold) =
            (self.windows, self.trigger, store.clone(), Arc::new(fold));
        let node = g.processor(
            "KSTREAM-TRIGGERED-AGGREGATE-",
            move || {
                TriggeredAggregate::new(
                    store_name.clone(),
                    windows,
                    trigger,
                    Arc::clone(&fold),
                    late.clone(),
                )
            },
            &[&parent],
        );
        g.store(builder, &[&node]);
        // The pane scans follow the watermark, which must survive restarts.
        emit_progress_store(
            &g,
            EmitStrategy::OnWindowClose,
            &store,
            &materialized,
            &node,
        );
        KStream::new(g, node, false)
    }

    /// The number of records per key and window, in panes.
    pub fn count(self) -> KStream<Windowed<K>, Pane<i64>> {
        self.count_with(Materialized::new())
    }

    /// As [`count`](Self::count), stored as `materialized` says.
    pub fn count_with(self, materialized: Materialized<K, i64>) -> KStream<Windowed<K>, Pane<i64>> {
        self.fold(|_, _, count| count.unwrap_or(0) + 1, materialized)
    }

    /// Combines the values of each key and window with `reducer(aggregate, value)`, in
    /// panes.
    pub fn reduce(
        self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
    ) -> KStream<Windowed<K>, Pane<V>> {
        self.fold(
            move |_, value, aggregate| match aggregate {
                Some(aggregate) => reducer(aggregate, value),
                None => value,
            },
            Materialized::new(),
        )
    }

    /// Folds the values of each key and window into an aggregate that starts as
    /// `initializer()`, in panes, stored as `materialized` says.
    pub fn aggregate_with<VA: Clone + 'static>(
        self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KStream<Windowed<K>, Pane<VA>> {
        self.fold(
            move |key, value, aggregate| {
                aggregator(key, value, aggregate.unwrap_or_else(&initializer))
            },
            materialized,
        )
    }
}
