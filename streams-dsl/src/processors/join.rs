use std::sync::Arc;

use streams_core::{Processor, ProcessorContext, ProcessorError, Record};

use super::StoreSlot;

/// Joins each stream record with the row of a global table found under the key that
/// `key_of` picks. The joiner returns `None` to drop the record (an inner join without a row).
pub(crate) struct GlobalJoin<GK, GV, S, J> {
    pub(crate) store: StoreSlot<GK, GV>,
    pub(crate) key_of: Arc<S>,
    pub(crate) joiner: Arc<J>,
    /// A left join joins a record without a table key with no row; an inner one drops it.
    pub(crate) left: bool,
}

impl<K, V, GK, GV, VR, S, J> Processor<K, V, K, VR> for GlobalJoin<GK, GV, S, J>
where
    K: Clone + 'static,
    V: 'static,
    GK: 'static,
    GV: Clone + 'static,
    VR: Clone + 'static,
    S: Fn(&K, &V) -> Option<GK> + 'static,
    J: Fn(V, Option<GV>) -> Option<VR> + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<(), ProcessorError> {
        self.store.open(ctx)
    }

    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, VR>,
    ) -> Result<(), ProcessorError> {
        let row = match (self.key_of)(&r.key, &r.value) {
            Some(key) => self.store.get()?.get(&key)?,
            None if self.left => None,
            None => {
                // As Kafka Streams: no key, nothing to join with.
                ctx.record_dropped(1);
                return Ok(());
            }
        };
        match (self.joiner)(r.value, row) {
            Some(value) => ctx.forward(Record {
                key: r.key,
                value,
                timestamp: r.timestamp,
                headers: r.headers,
            }),
            None => Ok(()),
        }
    }
}

/// Writes each record of a global table's topic into its store (`None` deletes).
pub(crate) struct GlobalTableUpdater<K, V> {
    pub(crate) store: StoreSlot<K, V>,
}

impl<K: 'static, V: Clone + 'static> Processor<K, Option<V>, (), ()> for GlobalTableUpdater<K, V> {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, (), ()>) -> Result<(), ProcessorError> {
        self.store.open(ctx)
    }

    fn process(
        &mut self,
        r: Record<K, Option<V>>,
        _: &mut ProcessorContext<'_, (), ()>,
    ) -> Result<(), ProcessorError> {
        let store = self.store.get()?;
        match &r.value {
            Some(v) => store.put(&r.key, v)?,
            None => {
                store.delete(&r.key)?;
            }
        }
        Ok(())
    }
}
