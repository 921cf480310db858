//! `cogroup`: several grouped streams, each with its own aggregator, folded into one aggregate
//! per key (or per key and window), as Kafka Streams' `CogroupedKStream`.
//!
//! The inputs are co-partitioned (each repartitioned first if its key may have changed),
//! tagged by input, merged, and aggregated by one processor whose fold hands each value to
//! its input's aggregator; the tag is a plain enum, so nothing is boxed per record.

use std::sync::Arc;

use crate::{
    EmitStrategy, Grouped, KGroupedStream, KStream, KTable, Materialized, SessionWindowedKStream,
    SessionWindows, SlidingWindowedKStream, SlidingWindows, TimeWindowedKStream, TimeWindows,
    Windowed,
};

/// A value of a cogrouped stream: from the inputs cogrouped so far, or from the one added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cogrouped<A, B> {
    /// A value of an input cogrouped earlier.
    Earlier(A),
    /// A value of the input added last.
    Added(B),
}

/// An input's aggregator, behind the tags that route a value to it.
type Aggregator<K, V, VA> = Arc<dyn Fn(&K, V, VA) -> VA + Send + Sync>;

/// Grouped streams cogrouped into one aggregate per key: made by
/// [`KGroupedStream::cogroup`], extended with [`cogroup`](Self::cogroup), then aggregated
/// (or windowed first).
///
/// ```
/// use streams_dsl::prelude::*;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let builder = StreamsBuilder::new();
/// let clicks = builder.stream::<String, String>("clicks").group_by_key();
/// let spend = builder.stream::<String, i64>("purchases").group_by_key();
/// clicks
///     .cogroup(|_, _click, score: i64| score + 1)
///     .cogroup(spend, |_, amount, score| score + amount / 10)
///     .aggregate(|| 0)
///     .to_stream()
///     .to("scores");
/// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("scores"))?;
/// driver.input_topic::<String, String>("clicks")?.pipe_key_value("ann".into(), "/".into())?;
/// driver.input_topic::<String, i64>("purchases")?.pipe_key_value("ann".into(), 50)?;
/// let scores = driver.output_topic::<String, i64>("scores")?;
/// assert_eq!(scores.read_values_to_list()?, vec![1, 6]);
/// # Ok(())
/// # }
/// ```
pub struct CogroupedKStream<K, VIn, VA> {
    grouped: KGroupedStream<K, VIn>,
    aggregator: Aggregator<K, VIn, VA>,
}

impl<K: Clone + 'static, V: Clone + 'static> KGroupedStream<K, V> {
    /// Starts a cogroup: this stream's values fold into the shared aggregate with
    /// `aggregator(key, value, aggregate)`; add more streams with
    /// [`CogroupedKStream::cogroup`].
    pub fn cogroup<VA: Clone + 'static>(
        self,
        aggregator: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
    ) -> CogroupedKStream<K, V, VA> {
        CogroupedKStream {
            grouped: self.co_partitioned(),
            aggregator: Arc::new(aggregator),
        }
    }

    /// This stream, repartitioned by its key first if the key may have changed, so that it
    /// can meet other streams grouped by the same key.
    fn co_partitioned(self) -> Self {
        if !self.repartition_required {
            return self;
        }
        let g = self.graph.clone();
        let key_serde = g.serde(
            self.grouped.key_serde.clone(),
            "repartitioning for a cogroup",
        );
        let value_serde = g.serde(
            self.grouped.value_serde.clone(),
            "repartitioning for a cogroup",
        );
        let base = self
            .grouped
            .name
            .clone()
            .unwrap_or_else(|| g.name("KSTREAM-COGROUP-"));
        let node = g.repartition(&self.node, &base, key_serde, value_serde);
        KGroupedStream::new(g, node, false, self.grouped)
    }
}

impl<K, VIn, VA> CogroupedKStream<K, VIn, VA>
where
    K: Clone + 'static,
    VIn: Clone + 'static,
    VA: Clone + 'static,
{
    /// Adds `other`, whose values fold into the same aggregate with `aggregator`.
    pub fn cogroup<V2: Clone + 'static>(
        self,
        other: KGroupedStream<K, V2>,
        aggregator: impl Fn(&K, V2, VA) -> VA + Send + Sync + 'static,
    ) -> CogroupedKStream<K, Cogrouped<VIn, V2>, VA> {
        let other = other.co_partitioned();
        let g = self.grouped.graph.clone();
        let key_serde = self
            .grouped
            .grouped
            .key_serde
            .clone()
            .or(other.grouped.key_serde.clone());
        let earlier = KStream::<K, VIn>::new(g.clone(), self.grouped.node, false)
            .map_values(Cogrouped::Earlier);
        let added =
            KStream::<K, V2>::new(g.clone(), other.node, false).map_values(Cogrouped::Added);
        let mut grouped = Grouped::new();
        grouped.key_serde = key_serde;
        let (before, add) = (self.aggregator, Arc::new(aggregator));
        CogroupedKStream {
            grouped: earlier.merge(&added).group_by_key_with(grouped),
            aggregator: Arc::new(move |key: &K, value, aggregate| match value {
                Cogrouped::Earlier(v) => before(key, v, aggregate),
                Cogrouped::Added(v) => add(key, v, aggregate),
            }),
        }
    }

    /// The aggregate per key, starting as `initializer()`.
    pub fn aggregate(self, initializer: impl Fn() -> VA + Send + Sync + 'static) -> KTable<K, VA> {
        self.aggregate_with(initializer, Materialized::new())
    }

    /// As [`aggregate`](Self::aggregate), stored as `materialized` says.
    pub fn aggregate_with(
        self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<K, VA> {
        let aggregator = self.aggregator;
        self.grouped.aggregate_with(
            initializer,
            move |key, value, aggregate| aggregator(key, value, aggregate),
            materialized,
        )
    }

    /// Aggregates per key and time window (tumbling or hopping).
    pub fn windowed_by(
        self,
        windows: TimeWindows,
    ) -> CogroupedWindowedKStream<TimeWindowedKStream<K, VIn>, K, VIn, VA> {
        CogroupedWindowedKStream {
            windowed: self.grouped.windowed_by(windows),
            aggregator: self.aggregator,
        }
    }

    /// Aggregates per key and sliding window.
    pub fn windowed_by_sliding(
        self,
        windows: SlidingWindows,
    ) -> CogroupedWindowedKStream<SlidingWindowedKStream<K, VIn>, K, VIn, VA> {
        CogroupedWindowedKStream {
            windowed: self.grouped.windowed_by_sliding(windows),
            aggregator: self.aggregator,
        }
    }

    /// Aggregates per key and session.
    pub fn windowed_by_sessions(
        self,
        windows: SessionWindows,
    ) -> CogroupedWindowedKStream<SessionWindowedKStream<K, VIn>, K, VIn, VA> {
        CogroupedWindowedKStream {
            windowed: self.grouped.windowed_by_sessions(windows),
            aggregator: self.aggregator,
        }
    }
}

/// Cogrouped streams split into windows (`S` is the windowed stream of their tagged values),
/// ready to aggregate.
pub struct CogroupedWindowedKStream<S, K, VIn, VA> {
    windowed: S,
    aggregator: Aggregator<K, VIn, VA>,
}

/// Emit strategy and aggregate of cogrouped time or sliding windows.
macro_rules! cogrouped_windows {
    ($inner:ident) => {
        impl<K, VIn, VA> CogroupedWindowedKStream<$inner<K, VIn>, K, VIn, VA>
        where
            K: Clone + 'static,
            VIn: Clone + 'static,
            VA: Clone + 'static,
        {
            /// Sets when results are emitted (default: on every update).
            pub fn emit_strategy(self, emit: EmitStrategy) -> Self {
                Self {
                    windowed: self.windowed.emit_strategy(emit),
                    ..self
                }
            }

            /// The aggregate per key and window, starting as `initializer()`, stored as
            /// `materialized` says.
            pub fn aggregate_with(
                self,
                initializer: impl Fn() -> VA + Send + Sync + 'static,
                materialized: Materialized<K, VA>,
            ) -> KTable<Windowed<K>, VA> {
                let aggregator = self.aggregator;
                self.windowed.aggregate_with(
                    initializer,
                    move |key, value, aggregate| aggregator(key, value, aggregate),
                    materialized,
                )
            }
        }
    };
}

cogrouped_windows!(TimeWindowedKStream);
cogrouped_windows!(SlidingWindowedKStream);

impl<K, VIn, VA> CogroupedWindowedKStream<SessionWindowedKStream<K, VIn>, K, VIn, VA>
where
    K: Clone + 'static,
    VIn: Clone + 'static,
    VA: Clone + 'static,
{
    /// Sets when results are emitted (default: on every update).
    pub fn emit_strategy(self, emit: EmitStrategy) -> Self {
        Self {
            windowed: self.windowed.emit_strategy(emit),
            ..self
        }
    }

    /// The aggregate per key and session, starting as `initializer()`, with `merger`
    /// combining the aggregates of sessions that a record joins, stored as `materialized`
    /// says.
    pub fn aggregate_with(
        self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        merger: impl Fn(&K, VA, VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA> {
        let aggregator = self.aggregator;
        self.windowed.aggregate_with(
            initializer,
            move |key, value, aggregate| aggregator(key, value, aggregate),
            merger,
            materialized,
        )
    }
}
