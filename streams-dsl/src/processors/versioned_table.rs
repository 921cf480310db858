use streams_core::{
    Processor, ProcessorContext, ProcessorError, Record, VersionedKeyValueStore, VersionedPut,
};

use super::Slot;
use crate::Change;

/// A processor's handle on a versioned store.
pub(crate) type VersionedSlot<K, V> = Slot<VersionedKeyValueStore<K, V>>;

/// Materializes row updates (`None`: a tombstone) into a versioned store, each valid from
/// its record's time, as Kafka Streams' `KTableSource` does with a versioned store: an update
/// older than the key's latest version only goes into its history, and one older than the
/// history retention is dropped; neither is forwarded, so downstream only ever sees the
/// latest row (with, where `send_old`, the latest row it replaces as the old value).
pub(crate) struct VersionedTableSource<K, V> {
    store: VersionedSlot<K, V>,
    send_old: bool,
}

impl<K: 'static, V: 'static> VersionedTableSource<K, V> {
    pub(crate) fn new(store_name: String, send_old: bool) -> Self {
        Self {
            store: VersionedSlot::new(store_name),
            send_old,
        }
    }
}

impl<K, V> Processor<K, Option<V>, K, Change<V>> for VersionedTableSource<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<(), ProcessorError> {
        self.store.open(ctx)
    }

    fn process(
        &mut self,
        r: Record<K, Option<V>>,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<(), ProcessorError> {
        let store = self.store.get()?;
        let old = store.get(&r.key)?.map(|row| row.value);
        match store.put(&r.key, r.value.as_ref(), r.timestamp)? {
            VersionedPut::Expired | VersionedPut::Historical => Ok(()),
            VersionedPut::Latest if r.value.is_none() && old.is_none() => Ok(()),
            VersionedPut::Latest => {
                let old = old.filter(|_| self.send_old);
                ctx.forward(r.map_value(|_, new| Change::new(new, old)))
            }
        }
    }
}
