//! Foreign-key table joins (KIP-213): `KTable::join_foreign_key` and
//! `left_join_foreign_key`.

use std::sync::Arc;

use streams_core::{SerdeRef, Serdes, StoreEngine};

use crate::config::StoreOptions;
use crate::old_values::OldValues;
use crate::processors::fk_join::{
    ForeignTableJoin, ResponseJoin, SubscriptionJoin, SubscriptionReceive, SubscriptionSend,
    ValueHasher,
};
use crate::processors::subscription::{
    CombinedKeySerde, ForeignKeyPrefix, HashSerde, SubscriptionResponseWrapper,
    SubscriptionResponseWrapperSerde, SubscriptionWrapper, SubscriptionWrapperSerde,
};
use crate::processors::table::TableSource;
use crate::processors::table_join::RowTimes;
use crate::processors::StoreSlot;
use crate::{Change, KTable, Materialized};

/// The right side's stores (subscriptions, row times): logged, without a cache, since every
/// right update scans the subscriptions anyway.
const RIGHT_SIDE: StoreOptions = StoreOptions {
    engine: StoreEngine::RocksDb,
    logging: true,
    caching: false,
    changelog_configs: Vec::new(),
};

impl<K: Clone + 'static, V: Clone + 'static> KTable<K, V> {
    /// Joins each row of this table with the row of `other` whose key `foreign_key` extracts
    /// from it (an inner join): the result, keyed as this table, has a row for every row of
    /// this table whose foreign key `other` has, `joiner` of the two. An update of either
    /// side updates the result; a row whose foreign key changes leaves its old right row
    /// (its old result is deleted, or replaced by the new one), and a row deleted on either
    /// side deletes its result.
    ///
    /// The tables need not be co-partitioned: this table's rows reach `other`'s task through
    /// the internal topic `<application.id>-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-<n>-topic`
    /// (keyed by the foreign key), and `other`'s answers come back through
    /// `...-SUBSCRIPTION-RESPONSE-<n>-topic` (keyed by this table's key). An answer made for a
    /// value this table's row no longer holds is dropped (and counted as dropped), so only
    /// results of current values are emitted. The serdes of `K`, `V`, `KO` and `VO` come from
    /// the builder's registry (see
    /// [`StreamsBuilder::with_serde`](crate::StreamsBuilder::with_serde)); the topics are
    /// partitioned by the serialized keys, as a source topic written by Kafka's default
    /// partitioner is. The result is kept in a store (name it with
    /// [`join_foreign_key_with`](Self::join_foreign_key_with)) and emits only real changes.
    ///
    /// ```
    /// use streams_dsl::prelude::*;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let builder = StreamsBuilder::new();
    /// let orders = builder.table::<String, String>("orders"); // order -> "customer:item"
    /// let customers = builder.table::<String, String>("customers"); // customer -> name
    /// orders
    ///     .join_foreign_key(
    ///         &customers,
    ///         |order| order.split(':').next().unwrap_or_default().to_string(),
    ///         |order, name| format!("{order} for {name}"),
    ///     )
    ///     .to_stream()
    ///     .to("enriched");
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("shop"))?;
    /// driver.input_topic::<String, String>("customers")?.pipe_key_value("c1".into(), "Ann".into())?;
    /// driver.input_topic::<String, String>("orders")?.pipe_key_value("o1".into(), "c1:tea".into())?;
    /// let enriched = driver.output_topic::<String, Option<String>>("enriched")?;
    /// assert_eq!(enriched.read_key_value()?, ("o1".to_string(), Some("c1:tea for Ann".to_string())));
    /// # Ok(())
    /// # }
    /// ```
    pub fn join_foreign_key<KO, VO, VR>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key: impl Fn(&V) -> KO + Send + Sync + 'static,
        joiner: impl Fn(&V, &VO) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR>
    where
        KO: Clone + PartialEq + 'static,
        VO: Clone + 'static,
        VR: Clone + 'static,
    {
        self.join_foreign_key_with(other, foreign_key, joiner, Materialized::new())
    }

    /// As [`join_foreign_key`](Self::join_foreign_key), with the result kept in a store as
    /// `materialized` says.
    pub fn join_foreign_key_with<KO, VO, VR>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key: impl Fn(&V) -> KO + Send + Sync + 'static,
        joiner: impl Fn(&V, &VO) -> VR + Send + Sync + 'static,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        KO: Clone + PartialEq + 'static,
        VO: Clone + 'static,
        VR: Clone + 'static,
    {
        self.foreign_key_join(other, foreign_key, materialized, false, move |v, vo| {
            Some(joiner(v, vo?))
        })
    }

    /// As [`join_foreign_key`](Self::join_foreign_key), but every row of this table has a
    /// result: `joiner` of it and the row of `other` under its foreign key, if any. A row
    /// whose foreign key changes is first joined with nothing, then with its new right row.
    pub fn left_join_foreign_key<KO, VO, VR>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key: impl Fn(&V) -> KO + Send + Sync + 'static,
        joiner: impl Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR>
    where
        KO: Clone + PartialEq + 'static,
        VO: Clone + 'static,
        VR: Clone + 'static,
    {
        self.left_join_foreign_key_with(other, foreign_key, joiner, Materialized::new())
    }

    /// As [`left_join_foreign_key`](Self::left_join_foreign_key), with the result kept in a
    /// store as `materialized` says.
    pub fn left_join_foreign_key_with<KO, VO, VR>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key: impl Fn(&V) -> KO + Send + Sync + 'static,
        joiner: impl Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        KO: Clone + PartialEq + 'static,
        VO: Clone + 'static,
        VR: Clone + 'static,
    {
        self.foreign_key_join(other, foreign_key, materialized, true, move |v, vo| {
            Some(joiner(v, vo))
        })
    }

    /// Builds the join as Kafka Streams does, with its node names: under this table the
    /// subscription sender and its sink; on `other`'s side the subscription source, the
    /// receiver with the subscription store, the subscription joiner and, under `other`, the
    /// joiner of right updates, both writing to the response sink; back on this side the
    /// response source, the resolver that drops stale answers, and the result table.
    fn foreign_key_join<KO, VO, VR, J>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key: impl Fn(&V) -> KO + Send + Sync + 'static,
        materialized: Materialized<K, VR>,
        left_join: bool,
        joiner: J,
    ) -> KTable<K, VR>
    where
        KO: Clone + PartialEq + 'static,
        VO: Clone + 'static,
        VR: Clone + 'static,
        J: Fn(&V, Option<&VO>) -> Option<VR> + Send + Sync + 'static,
    {
        let g = &self.graph;
        let left = self.materialized();
        let right = other.materialized();
        // As Kafka Streams: this side's old values say where a changed foreign key's
        // subscription must be withdrawn; the other side's avoid needless lookups.
        left.old_values.enable(true);
        right.old_values.enable(true);
        let old_values = OldValues::source(materialized.name.is_some());
        // `materialized` gives both a store (an empty name would fail the build).
        let left_store = left.store.clone().unwrap_or_default();
        let right_store = right.store.clone().unwrap_or_default();
        let operation = "a foreign-key join";
        let key_serde = g.serde::<K>(materialized.key_serde.clone(), operation);
        let value_serde = g.serde::<V>(None, operation);
        let foreign_key_serde = g.serde::<KO>(None, operation);
        let foreign_value_serde = g.serde::<VO>(None, operation);

        let registration_topic = format!(
            "{}-topic",
            g.name("KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-")
        );
        let send = g.name("KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-");
        let registration_sink = g.name("KTABLE-SINK-");
        let registration_source = g.name("KTABLE-SOURCE-");
        let subscription_store = g.name("KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE-");
        let receive = g.name("KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-");
        let subscription_join = g.name("KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-");
        let foreign_join = g.name("KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-");
        let response_topic = format!("{}-topic", g.name("KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-"));
        let response_sink = g.name("KTABLE-SINK-");
        let response_source = g.name("KTABLE-SOURCE-");
        let resolver = g.name("KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-PROCESSOR-");
        let output = g.name("KTABLE-FK-JOIN-OUTPUT-");
        let output_store = materialized
            .name
            .clone()
            .unwrap_or_else(|| g.name("KTABLE-FK-JOIN-OUTPUT-STATE-STORE-"));
        let right_times = format!("{foreign_join}-ROW-TIMES");
        // Left values are hashed as their serde writes them, under this pseudo-topic name.
        let hash_topic: Arc<str> = Arc::from(format!("{registration_topic}-vh"));

        let subscription_serde: SerdeRef<SubscriptionWrapper<K>> =
            Arc::new(SubscriptionWrapperSerde {
                key_serde: key_serde.clone(),
            });
        let response_serde: SerdeRef<SubscriptionResponseWrapper<VO>> =
            Arc::new(SubscriptionResponseWrapperSerde {
                value_serde: foreign_value_serde,
            });
        let combined_key_serde: SerdeRef<(KO, K)> = Arc::new(CombinedKeySerde {
            foreign_key_serde: foreign_key_serde.clone(),
            primary_key_serde: key_serde.clone(),
        });
        let hash_serde: SerdeRef<u128> = Arc::new(HashSerde);

        // This side: subscribe.
        let (fk, serde, topic) = (
            Arc::new(foreign_key),
            value_serde.clone(),
            hash_topic.clone(),
        );
        g.processor_named::<K, Change<V>, KO, SubscriptionWrapper<K>, _>(
            &send,
            move || SubscriptionSend {
                foreign_key: fk.clone(),
                hasher: ValueHasher::new(serde.clone(), topic.clone()),
                left_join,
            },
            &[&left.node],
        );
        g.internal_topic(
            &[&send],
            &registration_topic,
            &registration_sink,
            &registration_source,
            foreign_key_serde.clone(),
            subscription_serde,
        );

        // The other side: keep subscriptions, answer them and the right table's updates.
        let store = subscription_store.clone();
        g.processor_named::<KO, SubscriptionWrapper<K>, KO, SubscriptionWrapper<K>, _>(
            &receive,
            move || SubscriptionReceive::<KO, K> {
                store: StoreSlot::new(store.clone()),
            },
            &[&registration_source],
        );
        g.key_value_store(
            &subscription_store,
            RIGHT_SIDE,
            combined_key_serde,
            hash_serde,
            &receive,
        );
        let (store, times) = (right_store.clone(), right_times.clone());
        g.processor_named::<KO, SubscriptionWrapper<K>, K, SubscriptionResponseWrapper<VO>, _>(
            &subscription_join,
            move || SubscriptionJoin::<KO, VO> {
                foreign: StoreSlot::new(store.clone()),
                foreign_times: RowTimes::new(times.clone()),
            },
            &[&receive],
        );
        let (store, times, prefix) = (
            subscription_store.clone(),
            right_times.clone(),
            foreign_key_serde.clone(),
        );
        g.processor_named::<KO, Change<VO>, K, SubscriptionResponseWrapper<VO>, _>(
            &foreign_join,
            move || ForeignTableJoin::<KO, K> {
                subscriptions: StoreSlot::new(store.clone()),
                prefix: ForeignKeyPrefix(prefix.clone()),
                own_times: RowTimes::new(times.clone()),
            },
            &[&right.node],
        );
        g.connect_stores(&subscription_join, &[&right_store]);
        g.connect_stores(&foreign_join, &[&subscription_store]);
        g.key_value_store(
            &right_times,
            RIGHT_SIDE,
            foreign_key_serde,
            Serdes::i64(),
            &foreign_join,
        );
        g.connect_stores(&subscription_join, &[&right_times]);
        g.internal_topic(
            &[&subscription_join, &foreign_join],
            &response_topic,
            &response_sink,
            &response_source,
            key_serde.clone(),
            response_serde,
        );

        // Back on this side: resolve the answers into the result table.
        let (store, joiner) = (left_store.clone(), Arc::new(joiner));
        g.processor_named::<K, SubscriptionResponseWrapper<VO>, K, Option<VR>, _>(
            &resolver,
            move || ResponseJoin {
                left: StoreSlot::<K, V>::new(store.clone()),
                hasher: ValueHasher::new(value_serde.clone(), hash_topic.clone()),
                joiner: joiner.clone(),
            },
            &[&response_source],
        );
        g.connect_stores(&resolver, &[&left_store]);
        let (store, send_old) = (output_store.clone(), old_values.flag().clone());
        g.processor_named::<K, Option<VR>, K, Change<VR>, _>(
            &output,
            move || TableSource::<K, VR>::new(store.clone(), send_old.is_on()),
            &[&resolver],
        );
        let options = materialized.options();
        let value_serde = g.serde(materialized.value_serde, "a foreign-key join's store");
        g.table_store(&output_store, options, key_serde, value_serde, &output);
        KTable::new(g.clone(), output, Some(output_store), old_values)
    }
}
