//! Stateful value transformers for tables (Kafka Streams' `ValueTransformerWithKey`).

use streams_core::{Processor, ProcessorContext, ProcessorError, Record};

use crate::Change;

/// Maps a table row's value, with state: one instance per task, created by the supplier given
/// to [`KTable::transform_values`](crate::KTable::transform_values). It may read and write the
/// stores connected to it; it cannot forward records (the table forwards what it returns).
pub trait ValueTransformerWithKey<K, V, VR>: 'static {
    /// Called once before the first row: look up stores here.
    fn init(&mut self, ctx: &ProcessorContext<'_, K, Change<VR>>) -> Result<(), ProcessorError> {
        let _ = ctx;
        Ok(())
    }

    /// The new value of the row `key` whose value is `value` (`None` for a deleted row); a
    /// `None` result deletes the row downstream.
    fn transform(&mut self, key: &K, value: Option<&V>) -> Result<Option<VR>, ProcessorError>;

    /// Called once when the task closes.
    fn close(&mut self) {}
}

/// Runs a [`ValueTransformerWithKey`] on both sides of each table update.
pub(crate) struct TableTransformValues<T> {
    transformer: T,
    send_old: bool,
}

impl<T> TableTransformValues<T> {
    /// `send_old`: whether the old row is transformed too (an operator downstream needs it).
    pub(crate) fn new(transformer: T, send_old: bool) -> Self {
        Self {
            transformer,
            send_old,
        }
    }
}

impl<K, V, VR, T> Processor<K, Change<V>, K, Change<VR>> for TableTransformValues<T>
where
    K: Clone + 'static,
    V: 'static,
    VR: Clone + 'static,
    T: ValueTransformerWithKey<K, V, VR>,
{
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VR>>,
    ) -> Result<(), ProcessorError> {
        self.transformer.init(ctx)
    }

    fn process(
        &mut self,
        r: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K, Change<VR>>,
    ) -> Result<(), ProcessorError> {
        let new = self.transformer.transform(&r.key, r.value.new.as_ref())?;
        let old = match &r.value.old {
            Some(old) if self.send_old => self.transformer.transform(&r.key, Some(old))?,
            _ => None,
        };
        let change = Change::new(new, old);
        // Without old values a change with no new row must still go on: it deletes the row.
        if self.send_old && change.is_empty() {
            return Ok(());
        }
        ctx.forward(r.with_value(change))
    }

    fn close(&mut self) {
        self.transformer.close();
    }
}
