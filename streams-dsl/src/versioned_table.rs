//! Tables materialized in versioned stores (Kafka Streams KIP-914), for stream-table joins
//! that look rows up as of each stream record's time.

use streams_core::Stores;

use crate::builder::Graph;
use crate::old_values::OldValues;
use crate::processors::versioned_table::VersionedTableSource;
use crate::{KTable, Materialized};

impl Graph {
    /// Materializes row updates (`None`: a tombstone) into a versioned store that keeps
    /// `history_retention` ms of history; returns the table.
    pub(crate) fn versioned_table_from_rows<K: Clone + 'static, V: Clone + 'static>(
        &self,
        parent: &str,
        prefix: &str,
        materialized: Materialized<K, V>,
        history_retention: i64,
    ) -> KTable<K, V> {
        let node = self.name(prefix);
        let store = materialized
            .name
            .clone()
            .unwrap_or_else(|| format!("{node}-STATE-STORE"));
        let key_serde = self.serde(materialized.key_serde, "a versioned table's store");
        let value_serde = self.serde(materialized.value_serde, "a versioned table's store");
        // A versioned store is always one the user named: old values are at hand.
        let old_values = OldValues::stored();
        let (store_name, send_old) = (store.clone(), old_values.flag().clone());
        self.with_topology(|t| {
            t.add_processor(
                &node,
                move || VersionedTableSource::<K, V>::new(store_name.clone(), send_old.is_on()),
                &[parent],
            )
            .map(|_| ())
        });
        let mut builder = Stores::versioned_key_value_store_builder(
            &store,
            materialized.engine,
            history_retention,
            key_serde,
            value_serde,
        );
        builder = match materialized.logging {
            true => builder.with_logging_enabled(materialized.changelog_configs.clone()),
            false => builder.with_logging_disabled(),
        };
        self.store(builder, &[&node]);
        let mut table = KTable::new(self.clone(), node, Some(store), old_values);
        table.versioned = true;
        table
    }
}
