use std::sync::Arc;

use streams_core::{Processor, ProcessorContext, ProcessorError, Record};

use super::StoreSlot;
use crate::Change;

/// Folds each input into its key's aggregate and forwards the change, at the later of the
/// input's time and the previous aggregate's (the store keeps each aggregate's time). `F` gets the key, the
/// input (a stream value, or a table [`Change`] to retract and add) and the current aggregate
/// (`None` for a new key), and returns the new aggregate (`None` deletes it). Count, reduce
/// and aggregate, of streams and of tables, are each one such function.
///
/// With `every_update`, each change is forwarded at once, while the store's cache still
/// collapses the writes to the engine and the changelog to one per key per commit (the
/// changelog is compacted, so the intermediate values it would have carried are never read).
/// Otherwise the cache also collapses what goes downstream. Changes carry the previous
/// aggregate only where `send_old`.
pub(crate) struct Aggregate<K, VA, F> {
    store: StoreSlot<K, VA>,
    fold: Arc<F>,
    every_update: bool,
    send_old: bool,
}

impl<K: 'static, VA: 'static, F> Aggregate<K, VA, F> {
    pub(crate) fn new(
        store_name: String,
        fold: Arc<F>,
        every_update: bool,
        send_old: bool,
    ) -> Self {
        Self {
            store: StoreSlot::new(store_name),
            fold,
            every_update,
            send_old,
        }
    }
}

impl<K, VIn, VA, F> Processor<K, VIn, K, Change<VA>> for Aggregate<K, VA, F>
where
    K: Clone + 'static,
    VIn: 'static,
    VA: Clone + 'static,
    F: Fn(&K, VIn, Option<VA>) -> Option<VA> + 'static,
{
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VA>>,
    ) -> Result<(), ProcessorError> {
        self.store.open(ctx)?;
        if self.every_update {
            // Every change is forwarded as it happens: flushes need only write.
            self.store.get()?.report_flushes(false);
        }
        Ok(())
    }

    fn flush(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VA>>,
    ) -> Result<(), ProcessorError> {
        if self.every_update {
            // Already forwarded, one by one, as they happened.
            return Ok(self.store.get()?.flush_cache()?);
        }
        self.store.flush(ctx, self.send_old)
    }

    fn process(
        &mut self,
        r: Record<K, VIn>,
        ctx: &mut ProcessorContext<'_, K, Change<VA>>,
    ) -> Result<(), ProcessorError> {
        let store = self.store.get()?;
        if store.is_null_key(&r.key) {
            // As Kafka Streams: a record without a key has nothing to aggregate into.
            ctx.record_dropped(1);
            return Ok(());
        }
        let (mut old, timestamp) = match store.get_with_timestamp(&r.key)? {
            // As Kafka Streams 3.x+: an aggregate is as recent as the latest record in it.
            Some(old) => (Some(old.value), old.timestamp.max(r.timestamp)),
            None => (None, r.timestamp),
        };
        let new = match self.send_old {
            true => (self.fold)(&r.key, r.value, old.clone()),
            false => (self.fold)(&r.key, r.value, old.take()),
        };
        store.put_at(&r.key, new.as_ref(), timestamp)?;
        if store.is_cached() && !self.every_update {
            // The cache forwards the key's latest aggregate when it flushes or evicts it.
            return self.store.forward_flushed(ctx, self.send_old);
        }
        let change = Change::new(new, old);
        ctx.forward(Record {
            key: r.key,
            value: change,
            timestamp,
            headers: r.headers,
        })
    }
}
