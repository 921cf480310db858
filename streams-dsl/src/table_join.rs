//! Table-table joins on the primary key: `KTable::join`, `left_join` and `outer_join`.

use std::sync::Arc;

use streams_core::{Serdes, StoreEngine};

use crate::config::StoreOptions;
use crate::old_values::OldValues;
use crate::processors::table_join::{TableJoin, TableJoinMerger};
use crate::{Change, KTable, Materialized};

/// The stores of the times of the rows of a join's sides: kept like the sides' own rows,
/// logged, with a cache that collapses their writes per commit.
const ROW_TIMES: StoreOptions = StoreOptions {
    engine: StoreEngine::RocksDb,
    logging: true,
    caching: true,
    changelog_configs: Vec::new(),
};

impl<K: Clone + 'static, V: Clone + 'static> KTable<K, V> {
    /// Joins this table with `other` on the key (an inner join): the result has a row for
    /// every key that both tables have, `joiner` of the two rows. An update of either side
    /// updates the result, with the old result computed from the update's old value, so that
    /// an aggregation downstream retracts it; a row deleted on either side deletes the result.
    /// A result carries the later of its two rows' times. Both tables must be co-partitioned.
    ///
    /// ```
    /// use streams_dsl::prelude::*;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let builder = StreamsBuilder::new();
    /// let names = builder.table::<String, String>("names");
    /// let ages = builder.table::<String, i64>("ages");
    /// names
    ///     .join(&ages, |name, age| format!("{name} is {age}"))
    ///     .to_stream()
    ///     .to("people");
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("people"))?;
    /// driver.input_topic::<String, String>("names")?.pipe_key_value("p1".into(), "Ann".into())?;
    /// driver.input_topic::<String, i64>("ages")?.pipe_key_value("p1".into(), 41)?;
    /// let people = driver.output_topic::<String, Option<String>>("people")?;
    /// assert_eq!(people.read_value()?, Some("Ann is 41".to_string()));
    /// # Ok(())
    /// # }
    /// ```
    pub fn join<VO, VR>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(&V, &VO) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
    {
        self.inner_join(other, joiner, None)
    }

    /// As [`join`](Self::join), with the result kept in a store as `materialized` says (a
    /// store that the test driver and interactive queries can read by its name).
    pub fn join_with<VO, VR>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(&V, &VO) -> VR + Send + Sync + 'static,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
    {
        self.inner_join(other, joiner, Some(materialized))
    }

    fn inner_join<VO, VR>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(&V, &VO) -> VR + Send + Sync + 'static,
        materialized: Option<Materialized<K, VR>>,
    ) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
    {
        self.table_join(other, materialized, Kind::Inner, move |v, vo| {
            Some(joiner(v?, vo?))
        })
    }

    /// Joins this table with `other` on the key, keeping every row of this table: the result
    /// has a row for every key of this table, `joiner` of its row and `other`'s row, if any.
    /// Otherwise as [`join`](Self::join).
    pub fn left_join<VO, VR>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
    {
        self.table_join(other, None, Kind::Left, move |v, vo| Some(joiner(v?, vo)))
    }

    /// As [`left_join`](Self::left_join), with the result kept in a store as `materialized`
    /// says.
    pub fn left_join_with<VO, VR>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
    {
        self.table_join(other, Some(materialized), Kind::Left, move |v, vo| {
            Some(joiner(v?, vo))
        })
    }

    /// Joins this table with `other` on the key, keeping every row of both: the result has a
    /// row for every key of either table, `joiner` of the two rows, each if it exists.
    /// Otherwise as [`join`](Self::join).
    pub fn outer_join<VO, VR>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
    {
        self.full_outer_join(other, joiner, None)
    }

    /// As [`outer_join`](Self::outer_join), with the result kept in a store as
    /// `materialized` says.
    pub fn outer_join_with<VO, VR>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
    {
        self.full_outer_join(other, joiner, Some(materialized))
    }

    fn full_outer_join<VO, VR>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
        materialized: Option<Materialized<K, VR>>,
    ) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
    {
        self.table_join(other, materialized, Kind::Outer, move |v, vo| {
            match (v, vo) {
                (None, None) => None,
                (v, vo) => Some(joiner(v, vo)),
            }
        })
    }

    /// Builds a table-table join as Kafka Streams does: a `KTABLE-JOINTHIS-` node under this
    /// table and a `KTABLE-JOINOTHER-` node under `other`, each looking the other side's row
    /// up in its store, meeting in a `KTABLE-MERGE-` node that materializes the result if
    /// asked. `joiner` gets the two rows, each if it exists, and says what the result is
    /// (`None`: none).
    fn table_join<VO, VR, J>(
        &self,
        other: &KTable<K, VO>,
        materialized: Option<Materialized<K, VR>>,
        kind: Kind,
        joiner: J,
    ) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        J: Fn(Option<&V>, Option<&VO>) -> Option<VR> + Send + Sync + 'static,
    {
        let g = &self.graph;
        let this = self.materialized();
        let other = other.materialized();
        // As Kafka Streams: an outer side's old values are always sent to the join; the
        // join's own old results only where its downstream asks for them.
        if kind != Kind::Inner {
            this.old_values.enable(true);
        }
        if kind == Kind::Outer {
            other.old_values.enable(true);
        }
        let old_values = OldValues::join(&this.old_values, &other.old_values);
        let result_store = materialized.as_ref().map(|m| {
            m.name
                .clone()
                .unwrap_or_else(|| g.name("KTABLE-MERGE-STATE-STORE-"))
        });
        let merge = g.name("KTABLE-MERGE-");
        let join_this = g.name("KTABLE-JOINTHIS-");
        let join_other = g.name("KTABLE-JOINOTHER-");
        // `materialized` gives both a store (an empty name would fail the build).
        let this_store = this.store.clone().unwrap_or_default();
        let other_store = other.store.clone().unwrap_or_default();
        let this_times = format!("{join_this}-ROW-TIMES");
        let other_times = format!("{join_other}-ROW-TIMES");

        let joiner = Arc::new(joiner);
        let (times, other_at, j) = (this_times.clone(), other_times.clone(), joiner.clone());
        let (store, send_old) = (other_store.clone(), old_values.flag().clone());
        g.processor_named::<K, Change<V>, K, Change<VR>, _>(
            &join_this,
            move || {
                let (store, times, other_at) = (store.clone(), times.clone(), other_at.clone());
                let keeps_unmatched = kind != Kind::Inner;
                TableJoin::new(
                    store,
                    times,
                    other_at,
                    j.clone(),
                    keeps_unmatched,
                    send_old.is_on(),
                )
            },
            &[&this.node],
        );
        let (times, this_at) = (other_times.clone(), this_times.clone());
        let (store, send_old) = (this_store.clone(), old_values.flag().clone());
        g.processor_named::<K, Change<VO>, K, Change<VR>, _>(
            &join_other,
            move || {
                let joiner = joiner.clone();
                TableJoin::new(
                    store.clone(),
                    times.clone(),
                    this_at.clone(),
                    Arc::new(move |vo: Option<&VO>, v: Option<&V>| joiner(v, vo)),
                    kind == Kind::Outer,
                    send_old.is_on(),
                )
            },
            &[&other.node],
        );
        g.connect_stores(&join_this, &[&other_store]);
        g.connect_stores(&join_other, &[&this_store]);
        let key_serde = g.serde::<K>(None, "a table join's row times");
        for (times, writer, reader) in [
            (&this_times, &join_this, &join_other),
            (&other_times, &join_other, &join_this),
        ] {
            g.key_value_store(times, ROW_TIMES, key_serde.clone(), Serdes::i64(), writer);
            g.connect_stores(reader, &[times]);
        }

        let (store_name, send_old) = (result_store.clone(), old_values.flag().clone());
        g.processor_named::<K, Change<VR>, K, Change<VR>, _>(
            &merge,
            move || TableJoinMerger::new(store_name.clone(), send_old.is_on()),
            &[&join_this, &join_other],
        );
        if let (Some(store), Some(materialized)) = (&result_store, materialized) {
            let options = materialized.options();
            let key_serde = g.serde(materialized.key_serde, "a table join's store");
            let value_serde = g.serde(materialized.value_serde, "a table join's store");
            g.key_value_store(store, options, key_serde, value_serde, &merge);
        }
        KTable::new(g.clone(), merge, result_store, old_values)
    }
}

/// Which sides of a table-table join keep rows without a partner.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Inner,
    Left,
    Outer,
}
