use std::sync::Arc;

use streams_core::{KeyValueStore, Processor, ProcessorContext, ProcessorError, Record};

use crate::Change;

fn open<K: 'static, VA: 'static, KO, VO>(
    ctx: &ProcessorContext<'_, KO, VO>,
    name: &str,
) -> Result<KeyValueStore<K, VA>, ProcessorError> {
    ctx.key_value_store(name)
}

/// Folds each record of a grouped stream into its key's aggregate and forwards the update.
/// `F` gets the key, the record's value and the current aggregate (`None` for a new key);
/// count, reduce and aggregate are each one such function.
pub(crate) struct StreamAggregate<K, VA, F> {
    pub(crate) store_name: String,
    pub(crate) store: Option<KeyValueStore<K, VA>>,
    pub(crate) fold: Arc<F>,
}

impl<K, VA, F> StreamAggregate<K, VA, F> {
    pub(crate) fn new(store_name: String, fold: Arc<F>) -> Self {
        Self {
            store_name,
            store: None,
            fold,
        }
    }
}

impl<K, V, VA, F> Processor<K, V, K, Change<VA>> for StreamAggregate<K, VA, F>
where
    K: Clone + 'static,
    V: 'static,
    VA: Clone + 'static,
    F: Fn(&K, V, Option<VA>) -> VA + 'static,
{
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VA>>,
    ) -> Result<(), ProcessorError> {
        self.store = Some(open(ctx, &self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, Change<VA>>,
    ) -> Result<(), ProcessorError> {
        let store = self
            .store
            .as_ref()
            .ok_or_else(|| ProcessorError::UnknownStore(self.store_name.clone()))?;
        let Record {
            key,
            value,
            timestamp,
            headers,
        } = r;
        let old = store.get(&key)?;
        let new = (self.fold)(&key, value, old.clone());
        store.put(&key, &new)?;
        ctx.forward(Record {
            key,
            value: Change::new(Some(new), old),
            timestamp,
            headers,
        })
    }
}

/// Applies each table update to its group's aggregate: `F` gets the key, the change (old row
/// to retract, new row to add) and the current aggregate, and returns the new aggregate
/// (`None` deletes it).
pub(crate) struct TableAggregate<K, VA, F> {
    pub(crate) store_name: String,
    pub(crate) store: Option<KeyValueStore<K, VA>>,
    pub(crate) fold: Arc<F>,
}

impl<K, VA, F> TableAggregate<K, VA, F> {
    pub(crate) fn new(store_name: String, fold: Arc<F>) -> Self {
        Self {
            store_name,
            store: None,
            fold,
        }
    }
}

impl<K, V, VA, F> Processor<K, Change<V>, K, Change<VA>> for TableAggregate<K, VA, F>
where
    K: Clone + 'static,
    V: 'static,
    VA: Clone + 'static,
    F: Fn(&K, Change<V>, Option<VA>) -> Option<VA> + 'static,
{
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VA>>,
    ) -> Result<(), ProcessorError> {
        self.store = Some(open(ctx, &self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K, Change<VA>>,
    ) -> Result<(), ProcessorError> {
        let store = self
            .store
            .as_ref()
            .ok_or_else(|| ProcessorError::UnknownStore(self.store_name.clone()))?;
        let Record {
            key,
            value,
            timestamp,
            headers,
        } = r;
        let old = store.get(&key)?;
        let new = (self.fold)(&key, value, old.clone());
        match &new {
            Some(agg) => store.put(&key, agg)?,
            None => {
                store.delete(&key)?;
            }
        }
        ctx.forward(Record {
            key,
            value: Change::new(new, old),
            timestamp,
            headers,
        })
    }
}
