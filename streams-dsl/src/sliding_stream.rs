//! `SlidingWindowedKStream`: a grouped stream aggregated per key over sliding windows.

use std::sync::Arc;

use streams_core::TimestampedSerde;

use crate::old_values::OldValues;
use crate::processors::sliding_aggregate::SlidingAggregate;
use crate::windowed_stream::{
    emit_progress_store, fold_aggregations, input_retention, late_records, window_store,
    windowed_stream_settings, WindowedInput,
};
use crate::windows::WindowTiming;
use crate::{EmitStrategy, KGroupedStream, KTable, Materialized, SlidingWindows, Windowed};

/// A stream grouped by key and aggregated over sliding windows (Kafka Streams KIP-450): a
/// window per distinct set of records at most the time difference apart. Each aggregation is
/// a [`KTable`] keyed by [`Windowed`] keys whose window ends are inclusive.
///
/// Results equal Kafka Streams' own: a window that a record brings into being starts from
/// its neighbouring window's aggregate, so aggregates fold records in arrival order, and
/// records before the time difference share the window `[0, d]`.
///
/// ```
/// use std::time::Duration;
/// use streams_dsl::prelude::*;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let builder = StreamsBuilder::new();
/// builder
///     .stream::<String, String>("logins")
///     .group_by_key()
///     .windowed_by_sliding(SlidingWindows::of_time_difference_with_no_grace(Duration::from_secs(10)))
///     .count()
///     .to_stream()
///     .to("logins-within-10s");
/// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("logins"))?;
/// let logins = driver.input_topic::<String, String>("logins")?;
/// logins.pipe_key_value_at("ann".into(), "ok".into(), 20_000)?;
/// logins.pipe_key_value_at("ann".into(), "ok".into(), 25_000)?;
/// let out = driver.output_topic::<Windowed<String>, i64>("logins-within-10s")?;
/// let windows: Vec<(i64, i64, i64)> = out
///     .read_key_values_to_list()?
///     .into_iter()
///     .map(|(k, count)| (k.window.start, k.window.end, count))
///     .collect();
/// // The first record's left window; then, as Kafka Streams, the first's right window and the
/// // second's left window (from the first's aggregate).
/// assert_eq!(windows, vec![(10_000, 20_000, 1), (20_001, 30_001, 1), (15_000, 25_000, 2)]);
/// # Ok(())
/// # }
/// ```
pub struct SlidingWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: SlidingWindows,
    emit: EmitStrategy,
    late_topic: Option<String>,
}

impl<K: Clone + 'static, V: Clone + 'static> SlidingWindowedKStream<K, V> {
    pub(crate) fn new(grouped: KGroupedStream<K, V>, windows: SlidingWindows) -> Self {
        Self {
            grouped,
            windows,
            emit: EmitStrategy::default(),
            late_topic: None,
        }
    }

    windowed_stream_settings!();

    /// As `fold`: sliding windows are not kept by slices, so `_merge` is not needed.
    fn fold_merging<VA: Clone + 'static>(
        self,
        fold: impl Fn(&K, V, Option<VA>) -> VA + Send + Sync + 'static,
        _merge: Option<std::sync::Arc<crate::processors::window_slices::Merge<VA>>>,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA> {
        self.fold(fold, materialized)
    }

    fn fold<VA: Clone + 'static>(
        self,
        fold: impl Fn(&K, V, Option<VA>) -> VA + Send + Sync + 'static,
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
        // As Kafka Streams: a record reads the windows back to 2 d before it, and a record
        // within grace of stream time must still find them.
        let minimum = self
            .windows
            .time_difference()
            .saturating_mul(2)
            .saturating_add(self.windows.grace());
        let retention = input_retention(&materialized, minimum);
        let aggregates = window_store(
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
            "KSTREAM-SLIDINGWINDOWAGGREGATE-",
            move || {
                SlidingAggregate::new(
                    store_name.clone(),
                    windows,
                    emit,
                    Arc::clone(&fold),
                    late.clone(),
                    every_update,
                )
                .sending_old_values(send_old.is_on())
            },
            &[&parent],
        );
        g.store(aggregates, &[&node]);
        emit_progress_store(&g, emit, &store, &materialized, &node);
        KTable::new(g, node, Some(store), old_values).with_window_timing(WindowTiming {
            on_time_after_end: 1,
            grace: windows.grace(),
        })
    }

    fold_aggregations!("sliding window");
}
