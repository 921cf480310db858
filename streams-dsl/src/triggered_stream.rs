//! `Triggered`: a windowed stream whose aggregations emit panes, for every window type.

use std::sync::Arc;

use streams_core::SerdeRef;

use crate::config::StoreOptions;
use crate::panes::{Pane, PaneSerde, Trigger};
use crate::processors::emit_progress::EmitProgress;
use crate::processors::pane_emitter::{PaneEmitter, PaneStateSerde};
use crate::{
    EmitStrategy, KStream, KTable, Materialized, SessionWindowedKStream, SlidingWindowedKStream,
    TimeWindowedKStream, Windowed,
};

/// A windowed stream (time, sliding or session windows) whose aggregations emit [`Pane`]s as
/// a [`Trigger`] says: a stream of windowed panes, each with its pane info, which sinks write
/// as record headers. Made by the windowed streams' `trigger`.
///
/// The aggregation forwards every update (its store's cache only collapses writes) to a pane
/// emitter, which keeps each open window's pane state in a logged store `<store>-panes`.
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
pub struct Triggered<S> {
    windowed: S,
    trigger: Trigger,
}

impl<S> Triggered<S> {
    pub(crate) fn new(windowed: S, trigger: Trigger) -> Self {
        Self { windowed, trigger }
    }
}

/// What a pane emitter takes from the aggregation's `Materialized`: the value serde and the
/// store options.
struct PaneStore<VA> {
    value_serde: Option<SerdeRef<VA>>,
    options: StoreOptions,
}

impl<VA> PaneStore<VA> {
    /// Takes what the pane emitter needs from `materialized`, and returns it for the
    /// aggregation with its cache off, so that every update reaches the emitter.
    fn split<K>(materialized: Materialized<K, VA>) -> (Self, Materialized<K, VA>) {
        let store = Self {
            value_serde: materialized.value_serde.clone(),
            options: StoreOptions {
                caching: false,
                ..materialized.options()
            },
        };
        (store, materialized.with_caching_disabled())
    }
}

/// Puts a pane emitter for `trigger` behind `table`, a windowed aggregation forwarding every
/// update.
fn panes<K: Clone + 'static, VA: Clone + 'static>(
    table: KTable<Windowed<K>, VA>,
    trigger: Trigger,
    pane_store: PaneStore<VA>,
) -> KStream<Windowed<K>, Pane<VA>> {
    let g = table.graph().clone();
    let timing = table
        .window_timing()
        .expect("a windowed aggregation's table knows its window timing");
    let store = format!(
        "{}-panes",
        table.store_name().unwrap_or_else(|| table.node_name())
    );
    let key_serde = g.serde::<Windowed<K>>(None, "a pane emitter's store");
    let value_serde = g.serde(pane_store.value_serde, "a pane emitter's store");
    g.register_serde::<Pane<VA>>(Arc::new(PaneSerde::new(value_serde.clone())));
    let (store_name, keys) = (store.clone(), key_serde.clone());
    let node = g.processor(
        "KTABLE-PANES-",
        move || PaneEmitter::<K, VA>::new(trigger, timing, store_name.clone(), keys.clone()),
        &[table.node_name()],
    );
    let options = pane_store.options;
    let states = Arc::new(PaneStateSerde { inner: value_serde });
    g.key_value_store(&store, options.clone(), key_serde, states, &node);
    g.key_value_store(
        &EmitProgress::store_name(&store),
        options,
        streams_core::Serdes::string(),
        streams_core::Serdes::i64(),
        &node,
    );
    KStream::new(g, node, false)
}

/// The count, reduce and aggregate of a triggered windowed stream whose inner stream folds
/// without a merger (time and sliding windows).
macro_rules! triggered_folds {
    ($inner:ident) => {
        impl<K: Clone + 'static, V: Clone + 'static> Triggered<$inner<K, V>> {
            /// The number of records per key and window, in panes.
            pub fn count(self) -> KStream<Windowed<K>, Pane<i64>> {
                self.count_with(Materialized::new())
            }

            /// As [`count`](Self::count), stored as `materialized` says.
            pub fn count_with(
                self,
                materialized: Materialized<K, i64>,
            ) -> KStream<Windowed<K>, Pane<i64>> {
                let (pane_store, materialized) = PaneStore::split(materialized);
                let stream = self.windowed.emit_strategy(EmitStrategy::OnWindowUpdate);
                panes(stream.count_with(materialized), self.trigger, pane_store)
            }

            /// Combines the values of each key and window with `reducer(aggregate, value)`, in
            /// panes.
            pub fn reduce(
                self,
                reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
            ) -> KStream<Windowed<K>, Pane<V>> {
                let (pane_store, materialized) = PaneStore::split(Materialized::new());
                let stream = self.windowed.emit_strategy(EmitStrategy::OnWindowUpdate);
                panes(
                    stream.reduce_with(reducer, materialized),
                    self.trigger,
                    pane_store,
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
                let (pane_store, materialized) = PaneStore::split(materialized);
                let stream = self.windowed.emit_strategy(EmitStrategy::OnWindowUpdate);
                let table = stream.aggregate_with(initializer, aggregator, materialized);
                panes(table, self.trigger, pane_store)
            }
        }
    };
}

triggered_folds!(TimeWindowedKStream);
triggered_folds!(SlidingWindowedKStream);

impl<K: Clone + 'static, V: Clone + 'static> Triggered<SessionWindowedKStream<K, V>> {
    /// The number of records per key and session, in panes. A session that a merge replaces
    /// emits no more panes (in retracting mode, its last pane is retracted); the merged
    /// session carries on.
    pub fn count(self) -> KStream<Windowed<K>, Pane<i64>> {
        let (pane_store, materialized) = PaneStore::split(Materialized::new());
        let stream = self.windowed.emit_strategy(EmitStrategy::OnWindowUpdate);
        panes(stream.count_with(materialized), self.trigger, pane_store)
    }

    /// Combines the values of each session (and the aggregates of sessions a record joins)
    /// with `reducer(aggregate, value)`, in panes.
    pub fn reduce(
        self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
    ) -> KStream<Windowed<K>, Pane<V>> {
        let (pane_store, materialized) = PaneStore::split(Materialized::new());
        let stream = self.windowed.emit_strategy(EmitStrategy::OnWindowUpdate);
        panes(
            stream.reduce_with(reducer, materialized),
            self.trigger,
            pane_store,
        )
    }

    /// Folds the values of each session into an aggregate that starts as `initializer()`,
    /// merging sessions with `merger`, in panes, stored as `materialized` says.
    pub fn aggregate_with<VA: Clone + 'static>(
        self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        merger: impl Fn(&K, VA, VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KStream<Windowed<K>, Pane<VA>> {
        let (pane_store, materialized) = PaneStore::split(materialized);
        let stream = self.windowed.emit_strategy(EmitStrategy::OnWindowUpdate);
        let table = stream.aggregate_with(initializer, aggregator, merger, materialized);
        panes(table, self.trigger, pane_store)
    }
}
