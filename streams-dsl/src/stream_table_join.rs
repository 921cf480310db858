//! Stream-table joins: `KStream::join_table` and `left_join_table` (Kafka Streams'
//! `KStream#join(KTable)` and `leftJoin(KTable)`).

use std::sync::Arc;

use streams_core::{StoreEngine, TopologyError};

use crate::config::StoreOptions;
use crate::processors::join_buffer::JoinBuffer;
use crate::processors::stream_table_join::{StreamTableJoin, TableRows};
use crate::processors::versioned_table::VersionedSlot;
use crate::processors::StoreSlot;
use crate::{Joined, KStream, KTable};

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    /// Joins each record with `table`'s row for its key (an inner join): records without a
    /// row are dropped, and table updates emit nothing. The result has the stream record's
    /// key and time.
    ///
    /// If the key may have changed upstream (`select_key`, `map`, ...), the stream is first
    /// repartitioned through `<node>-repartition`, so that it is co-partitioned with the
    /// table. A table without a store of its own (a filtered or mapped table) gets one. A
    /// record whose key or value encodes as null is dropped (and counted as dropped).
    ///
    /// ```
    /// use streams_dsl::prelude::*;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let builder = StreamsBuilder::new();
    /// let prices = builder.table::<String, i64>("prices");
    /// builder
    ///     .stream::<String, i64>("orders")
    ///     .join_table(&prices, |quantity, price| quantity * price)
    ///     .to("order-totals");
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("shop"))?;
    /// driver.input_topic::<String, i64>("prices")?.pipe_key_value("apple".to_string(), 3)?;
    /// let orders = driver.input_topic::<String, i64>("orders")?;
    /// orders.pipe_key_value("apple".to_string(), 4)?;
    /// orders.pipe_key_value("pear".to_string(), 1)?;
    /// let totals = driver.output_topic::<String, i64>("order-totals")?;
    /// assert_eq!(totals.read_key_values_to_list()?, vec![("apple".to_string(), 12)]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn join_table<VT: Clone + 'static, VR: Clone + 'static>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(V, VT) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        self.join_table_with(table, joiner, Joined::new())
    }

    /// As [`join_table`](Self::join_table), configured by `joined` (serdes, name, grace
    /// period).
    pub fn join_table_with<VT: Clone + 'static, VR: Clone + 'static>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(V, VT) -> VR + Send + Sync + 'static,
        joined: Joined<K, V, VT>,
    ) -> KStream<K, VR> {
        let joiner = move |v, row: Option<VT>| row.map(|row| joiner(v, row));
        self.stream_table_join(table, joiner, joined, false)
    }

    /// As [`join_table`](Self::join_table), but every record is joined: with `None` when the
    /// table has no row for its key (a left join). A record whose key encodes as null is
    /// joined with `None` too; one whose value encodes as null is dropped (and counted).
    pub fn left_join_table<VT: Clone + 'static, VR: Clone + 'static>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(V, Option<VT>) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        self.left_join_table_with(table, joiner, Joined::new())
    }

    /// As [`left_join_table`](Self::left_join_table), configured by `joined`.
    pub fn left_join_table_with<VT: Clone + 'static, VR: Clone + 'static>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(V, Option<VT>) -> VR + Send + Sync + 'static,
        joined: Joined<K, V, VT>,
    ) -> KStream<K, VR> {
        self.stream_table_join(table, move |v, row| Some(joiner(v, row)), joined, true)
    }

    fn stream_table_join<VT: Clone + 'static, VR: Clone + 'static>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(V, Option<VT>) -> Option<VR> + Send + Sync + 'static,
        joined: Joined<K, V, VT>,
        left: bool,
    ) -> KStream<K, VR> {
        let g = &self.graph;
        // Only for the null checks: a type without a serde cannot encode as null.
        let key_serde = joined
            .key_serde
            .clone()
            .or_else(|| g.registered_serde::<K>());
        let value_serde = joined
            .value_serde
            .clone()
            .or_else(|| g.registered_serde::<V>());
        let parent = if self.repartition_required {
            let base = joined.name.clone().unwrap_or_else(|| self.node.clone());
            let key_serde = g.serde(joined.key_serde.clone(), "repartitioning for a join");
            let value_serde = g.serde(joined.value_serde.clone(), "repartitioning for a join");
            g.repartition(&self.node, &base, key_serde, value_serde)
        } else {
            self.node.clone()
        };
        let table = table.materialized();
        let Some(table_store) = table.store.clone() else {
            unreachable!("a materialized table has a store");
        };
        let node = joined.name.unwrap_or_else(|| {
            g.name(if left {
                "KSTREAM-LEFTJOIN-"
            } else {
                "KSTREAM-JOIN-"
            })
        });
        let grace = joined
            .grace_period
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        if grace.is_some() && !table.versioned {
            g.check::<()>(Err(TopologyError::InvalidOperation(format!(
                "a stream-table join with a grace period needs a versioned table, and `{}` is not one (see Materialized::as_versioned)",
                table.node
            ))));
        }
        let buffer_store = grace.map(|_| format!("{node}-Buffer"));
        let buffer_serdes = grace.map(|_| {
            (
                g.serde(joined.key_serde, "buffering a stream-table join"),
                g.serde(joined.value_serde, "buffering a stream-table join"),
            )
        });
        let versioned = table.versioned;
        let (rows_store, buffer_name) = (table_store.clone(), buffer_store.clone());
        let joiner = Arc::new(joiner);
        g.with_topology(|t| {
            t.add_processor(
                &node,
                move || StreamTableJoin {
                    rows: if versioned {
                        TableRows::AsOf(VersionedSlot::new(rows_store.clone()))
                    } else {
                        TableRows::Latest(StoreSlot::new(rows_store.clone()))
                    },
                    key_serde: key_serde.clone(),
                    value_serde: value_serde.clone(),
                    joiner: Arc::clone(&joiner),
                    left,
                    buffer: buffer_name
                        .clone()
                        .zip(grace)
                        .zip(buffer_serdes.clone())
                        .map(|((store, grace), (keys, values))| {
                            JoinBuffer::new(store, grace, keys, values)
                        }),
                },
                &[&parent],
            )?;
            t.connect_processor_and_state_stores(&node, &[&table_store])
                .map(|_| ())
        });
        if let Some(store) = buffer_store {
            let options = StoreOptions {
                engine: StoreEngine::RocksDb,
                logging: true,
                caching: false,
                changelog_configs: Vec::new(),
            };
            let bytes = streams_core::Serdes::bytes();
            g.key_value_store(&store, options, bytes.clone(), bytes, &node);
        }
        KStream::new(g.clone(), node, false)
    }
}
