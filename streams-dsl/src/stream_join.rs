//! Stream-stream joins: `KStream::join`, `left_join` and `outer_join` within `JoinWindows`.

use std::sync::Arc;

use streams_core::{SerdeRef, Serdes, StoreEngine, Stores, WindowedStoreBuilder};

use crate::builder::Graph;
use crate::processors::stateless::PassThrough;
use crate::processors::stream_join::{JoinBuffer, JoinClocks, Side, StreamJoin, StreamJoinSpec};
use crate::processors::unjoined::{UnjoinedKeySerde, UnjoinedSerde};
use crate::processors::LateRecords;
use crate::{JoinWindows, KStream};

/// How a stream-stream join stores and names what it keeps (Kafka Streams' `StreamJoined`):
/// the serdes of the key and of both sides' values (the registered ones where not given), a
/// name for its processors, a base name for its stores, the store engine, changelog logging,
/// and a topic for records too late to be kept.
///
/// ```
/// use streams_dsl::prelude::*;
///
/// let joined = StreamJoined::<String, i64, String>::new()
///     .with_name("orders-payments")
///     .with_store_name("order-payment")
///     .in_memory();
/// ```
pub struct StreamJoined<K, V1, V2> {
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V1>>,
    pub(crate) other_value_serde: Option<SerdeRef<V2>>,
    pub(crate) name: Option<String>,
    pub(crate) store_name: Option<String>,
    pub(crate) engine: StoreEngine,
    pub(crate) logging: bool,
    pub(crate) late_topic: Option<String>,
}

impl<K, V1, V2> Default for StreamJoined<K, V1, V2> {
    fn default() -> Self {
        Self {
            key_serde: None,
            value_serde: None,
            other_value_serde: None,
            name: None,
            store_name: None,
            engine: StoreEngine::RocksDb,
            logging: true,
            late_topic: None,
        }
    }
}

impl<K, V1, V2> StreamJoined<K, V1, V2> {
    /// The registered serdes, generated names, RocksDB stores with changelogs.
    pub fn new() -> Self {
        Self::default()
    }

    /// The serdes of the key, of this stream's values and of the other stream's values.
    pub fn with(
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V1>,
        other_value_serde: SerdeRef<V2>,
    ) -> Self {
        Self {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            other_value_serde: Some(other_value_serde),
            ..Self::default()
        }
    }

    /// Names the join's processors `<name>-this-windowed`, `<name>-this-join`, …,
    /// `<name>-merge`, and its repartition topics `<name>-left-repartition` and
    /// `<name>-right-repartition`.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Names the join's stores `<store_name>-this-join-store`, `<store_name>-other-join-store`
    /// (and `<store_name>-outer-shared-join-store` for left and outer joins), which also names
    /// their changelog topics.
    pub fn with_store_name(mut self, store_name: impl Into<String>) -> Self {
        self.store_name = Some(store_name.into());
        self
    }

    /// Keeps the join's records in `engine`.
    pub fn with_store_engine(mut self, engine: StoreEngine) -> Self {
        self.engine = engine;
        self
    }

    /// Keeps the join's records in memory (restored from the changelogs on restart).
    pub fn in_memory(self) -> Self {
        self.with_store_engine(StoreEngine::InMemory)
    }

    /// Turns the stores' changelog logging off: a restart then loses what they held.
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }

    /// Sends each record that arrives too late to be kept for the other side (older than
    /// stream time minus the window's size and grace), unchanged, to `topic`, with the reason
    /// in the `streams.late.reason` header, besides counting it as dropped.
    pub fn with_late_records_topic(mut self, topic: impl Into<String>) -> Self {
        self.late_topic = Some(topic.into());
        self
    }
}

/// Which records of a stream-stream join are emitted without a partner.
#[derive(Clone, Copy, PartialEq, Eq)]
enum JoinKind {
    Inner,
    Left,
    Outer,
}

/// The names of a join's nodes and stores, as Kafka Streams gives them.
struct JoinNames {
    this_windowed: String,
    other_windowed: String,
    this_join: String,
    other_join: String,
    merge: String,
    this_store: String,
    other_store: String,
    unjoined_store: String,
}

impl JoinNames {
    fn new(g: &Graph, kind: JoinKind, name: Option<&str>, store_name: Option<&str>) -> Self {
        let (this_prefix, this_suffix) = match kind {
            JoinKind::Outer => ("KSTREAM-OUTERTHIS-", "-outer-this-join"),
            _ => ("KSTREAM-JOINTHIS-", "-this-join"),
        };
        let (other_prefix, other_suffix) = match kind {
            JoinKind::Inner => ("KSTREAM-JOINOTHER-", "-other-join"),
            _ => ("KSTREAM-OUTEROTHER-", "-outer-other-join"),
        };
        let named = |suffix: &str, prefix: &str| match name {
            Some(n) => format!("{n}{suffix}"),
            None => g.name(prefix),
        };
        let this_windowed = named("-this-windowed", "KSTREAM-WINDOWED-");
        let other_windowed = named("-other-windowed", "KSTREAM-WINDOWED-");
        let this_generated = g.name(this_prefix);
        let other_generated = g.name(other_prefix);
        let this_join = name.map_or(this_generated.clone(), |n| format!("{n}{this_suffix}"));
        let other_join = name.map_or(other_generated.clone(), |n| format!("{n}{other_suffix}"));
        let merge = named("-merge", "KSTREAM-MERGE-");
        let store = |generated: &str, suffix: &str| match store_name {
            Some(s) => format!("{s}{suffix}-store"),
            None => format!("{generated}-store"),
        };
        let unjoined_store = match store_name {
            Some(s) => format!("{s}-outer-shared-join-store"),
            None => format!(
                "KSTREAM-OUTERSHARED-{}-store",
                &this_generated[this_prefix.len()..]
            ),
        };
        Self {
            this_windowed,
            other_windowed,
            this_store: store(&this_generated, this_suffix),
            other_store: store(&other_generated, other_suffix),
            this_join,
            other_join,
            merge,
            unjoined_store,
        }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    /// This stream's records joined with the `other` stream's records of the same key whose
    /// times are within `windows` of theirs: one result per pair, with the later of the two
    /// times. See [`JoinWindows`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_dsl::prelude::*;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let builder = StreamsBuilder::new();
    /// let orders = builder.stream::<String, i64>("orders");
    /// let payments = builder.stream::<String, i64>("payments");
    /// orders
    ///     .join(&payments, |order, paid| order - paid, JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(60)))
    ///     .to("balances");
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("orders"))?;
    /// driver.input_topic::<String, i64>("orders")?.pipe_key_value_at("ann".to_string(), 100, 1_000)?;
    /// driver.input_topic::<String, i64>("payments")?.pipe_key_value_at("ann".to_string(), 60, 20_000)?;
    /// let balances = driver.output_topic::<String, i64>("balances")?;
    /// assert_eq!(balances.read_key_value()?, ("ann".to_string(), 40));
    /// # Ok(())
    /// # }
    /// ```
    pub fn join<V2: Clone + 'static, VR: Clone + 'static>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(&V, &V2) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
    ) -> KStream<K, VR> {
        self.join_with(other, joiner, windows, StreamJoined::new())
    }

    /// As [`join`](Self::join), stored and named as `joined` says.
    pub fn join_with<V2: Clone + 'static, VR: Clone + 'static>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(&V, &V2) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: StreamJoined<K, V, V2>,
    ) -> KStream<K, VR> {
        self.stream_join(
            other,
            move |_: &K, l: Option<&V>, r: Option<&V2>| l.zip(r).map(|(l, r)| joiner(l, r)),
            windows,
            joined,
            JoinKind::Inner,
        )
    }

    /// As [`join`](Self::join), and each record of this stream that found no partner by the
    /// time its window closed is emitted once, alone (`None` for the other side), with its own
    /// time. Never earlier: no result is contradicted by a later match.
    pub fn left_join<V2: Clone + 'static, VR: Clone + 'static>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(&V, Option<&V2>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
    ) -> KStream<K, VR> {
        self.left_join_with(other, joiner, windows, StreamJoined::new())
    }

    /// As [`left_join`](Self::left_join), stored and named as `joined` says.
    pub fn left_join_with<V2: Clone + 'static, VR: Clone + 'static>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(&V, Option<&V2>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: StreamJoined<K, V, V2>,
    ) -> KStream<K, VR> {
        self.stream_join(
            other,
            move |_: &K, l: Option<&V>, r: Option<&V2>| l.map(|l| joiner(l, r)),
            windows,
            joined,
            JoinKind::Left,
        )
    }

    /// As [`left_join`](Self::left_join), and the records of `other` without a partner are
    /// emitted alone too (`None` for this side).
    pub fn outer_join<V2: Clone + 'static, VR: Clone + 'static>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(Option<&V>, Option<&V2>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
    ) -> KStream<K, VR> {
        self.outer_join_with(other, joiner, windows, StreamJoined::new())
    }

    /// As [`outer_join`](Self::outer_join), stored and named as `joined` says.
    pub fn outer_join_with<V2: Clone + 'static, VR: Clone + 'static>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(Option<&V>, Option<&V2>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: StreamJoined<K, V, V2>,
    ) -> KStream<K, VR> {
        self.stream_join(
            other,
            move |_: &K, l: Option<&V>, r: Option<&V2>| Some(joiner(l, r)),
            windows,
            joined,
            JoinKind::Outer,
        )
    }

    fn stream_join<V2, VR, J>(
        &self,
        other: &KStream<K, V2>,
        joiner: J,
        windows: JoinWindows,
        joined: StreamJoined<K, V, V2>,
        kind: JoinKind,
    ) -> KStream<K, VR>
    where
        V2: Clone + 'static,
        VR: Clone + 'static,
        J: Fn(&K, Option<&V>, Option<&V2>) -> Option<VR> + Send + Sync + 'static,
    {
        let g = &self.graph;
        let key_serde = g.serde(joined.key_serde, "a stream-stream join");
        let left_serde = g.serde(joined.value_serde, "a stream-stream join");
        let right_serde = g.serde(joined.other_value_serde, "a stream-stream join");
        let name = joined.name.as_deref();
        let (left, right) =
            co_partitioned(self, other, name, &key_serde, &left_serde, &right_serde);
        let names = JoinNames::new(g, kind, name, joined.store_name.as_deref());

        let late = joined.late_topic.as_deref();
        let clocks = Arc::new(JoinClocks::default());
        let unjoined = (kind != JoinKind::Inner).then(|| names.unjoined_store.clone());
        let left_spec = StreamJoinSpec {
            windows,
            outer: kind != JoinKind::Inner,
            this_store: names.this_store.clone(),
            other_store: names.other_store.clone(),
            unjoined_store: unjoined.clone(),
            key_serde: key_serde.clone(),
            value_serde: left_serde.clone(),
            clocks: Arc::clone(&clocks),
        };
        let right_spec = StreamJoinSpec {
            windows,
            outer: kind == JoinKind::Outer,
            this_store: names.other_store.clone(),
            other_store: names.this_store.clone(),
            unjoined_store: unjoined.clone(),
            key_serde: key_serde.clone(),
            value_serde: right_serde.clone(),
            clocks,
        };
        let stores = (joined.engine.clone(), joined.logging);
        buffer(
            g,
            &names.this_windowed,
            &left,
            &left_spec,
            late,
            stores.clone(),
        );
        buffer(g, &names.other_windowed, &right, &right_spec, late, stores);
        let joiner = Arc::new(joiner);
        let right_joiner = Arc::clone(&joiner);
        g.with_topology(|t| {
            t.add_processor(
                &names.this_join,
                move || StreamJoin::new(left_spec.clone(), Side::left(), Arc::clone(&joiner)),
                &[&names.this_windowed],
            )?;
            t.add_processor(
                &names.other_join,
                move || {
                    StreamJoin::new(right_spec.clone(), Side::right(), Arc::clone(&right_joiner))
                },
                &[&names.other_windowed],
            )?;
            t.add_processor::<K, VR, K, VR, _>(
                &names.merge,
                || PassThrough,
                &[&names.this_join, &names.other_join],
            )
            .map(|_| ())
        });
        // Each side's buffer is read by the other side's join processor.
        g.connect(&names.this_store, &names.other_join);
        g.connect(&names.other_store, &names.this_join);
        if let Some(store) = unjoined {
            let mut builder = Stores::key_value_store_builder(
                Stores::key_value_store(&store, joined.engine),
                Arc::new(UnjoinedKeySerde {
                    key: key_serde.clone(),
                }),
                Serdes::list(Arc::new(UnjoinedSerde {
                    left: left_serde,
                    right: right_serde,
                })),
            );
            if !joined.logging {
                builder = builder.with_logging_disabled();
            }
            g.store(builder, &[&names.this_join, &names.other_join]);
        }
        KStream::new(g.clone(), names.merge, false)
    }
}

/// The nodes whose records a join reads: each side as it is, or through a repartition topic
/// if its key may have changed, so that both sides are partitioned by the join key. A stream
/// joined with itself is repartitioned once.
fn co_partitioned<K, V, V2>(
    left: &KStream<K, V>,
    right: &KStream<K, V2>,
    name: Option<&str>,
    key_serde: &SerdeRef<K>,
    left_serde: &SerdeRef<V>,
    right_serde: &SerdeRef<V2>,
) -> (String, String)
where
    K: Clone + 'static,
    V: Clone + 'static,
    V2: Clone + 'static,
{
    let g = &left.graph;
    let self_join = left.node == right.node;
    let base = |side: &str, node: &str| match name {
        Some(n) => format!("{n}-{side}"),
        None => node.to_owned(),
    };
    let left_node = if left.repartition_required {
        g.repartition(
            &left.node,
            &base("left", &left.node),
            key_serde.clone(),
            left_serde.clone(),
        )
    } else {
        left.node.clone()
    };
    let right_node = if self_join {
        left_node.clone()
    } else if right.repartition_required {
        g.repartition(
            &right.node,
            &base("right", &right.node),
            key_serde.clone(),
            right_serde.clone(),
        )
    } else {
        right.node.clone()
    };
    (left_node, right_node)
}

/// Adds the node that buffers one side's records (read from `parent`) in its window store,
/// with the store itself.
fn buffer<K, V>(
    g: &Graph,
    node: &str,
    parent: &str,
    spec: &StreamJoinSpec<K, V>,
    late_topic: Option<&str>,
    (engine, logging): (StoreEngine, bool),
) where
    K: Clone + 'static,
    V: Clone + 'static,
{
    let late = late_topic.map(|topic| {
        g.with_topology(|t| {
            t.add_side_output_topic(topic);
            Ok(())
        });
        Arc::new(LateRecords {
            topic: topic.to_owned(),
            key_serde: spec.key_serde.clone(),
            value_serde: spec.value_serde.clone(),
        })
    });
    let (store, keys, values) = (
        spec.this_store.clone(),
        spec.key_serde.clone(),
        spec.value_serde.clone(),
    );
    g.with_topology(|t| {
        t.add_processor(
            node,
            move || JoinBuffer::new(store.clone(), keys.clone(), values.clone(), late.clone()),
            &[parent],
        )
        .map(|_| ())
    });
    let mut builder = WindowedStoreBuilder::window(
        &spec.this_store,
        engine,
        spec.windows.retention_ms(),
        spec.key_serde.clone(),
        Serdes::list(spec.value_serde.clone()),
    );
    // The join keeps its recent records in its own typed buffer in front of the store
    // (`HotJoinBuffer`), which draws on the record caches' budget; the store's cache itself
    // stays empty.
    builder = builder.with_caching_enabled();
    if !logging {
        builder = builder.with_logging_disabled();
    }
    g.store(builder, &[node]);
}
