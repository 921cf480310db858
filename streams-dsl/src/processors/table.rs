use std::sync::Arc;

use streams_core::{Processor, ProcessorContext, ProcessorError, PutOutcome, Record};

use super::StoreSlot;
use crate::Change;

/// Materializes a stream of row updates into a store and forwards them, with their old
/// values where `send_old`. `None` deletes a row. Without a cache, an update that repeats a
/// row's value and time is not forwarded (nothing changed); with one, each key's last update
/// is forwarded when the cache flushes, as Kafka Streams' caching stores do.
pub(crate) struct TableSource<K, V> {
    store: StoreSlot<K, V>,
    send_old: bool,
}

impl<K: 'static, V: 'static> TableSource<K, V> {
    pub(crate) fn new(store_name: String, send_old: bool) -> Self {
        Self {
            store: StoreSlot::new(store_name),
            send_old,
        }
    }
}

impl<K, V> Processor<K, Option<V>, K, Change<V>> for TableSource<K, V>
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
        if store.is_cached() {
            // The cache forwards each key's last update when it flushes, as Kafka Streams'.
            store.put_at(&r.key, r.value.as_ref(), r.timestamp)?;
            return self.store.forward_flushed(ctx, self.send_old);
        }
        // The store keeps each row's time: the same value at another time is an update too.
        match store.put_if_changed(&r.key, r.value.as_ref(), r.timestamp)? {
            PutOutcome::Unchanged => Ok(()),
            PutOutcome::Changed { old } => {
                let old = old.filter(|_| self.send_old);
                ctx.forward(r.map_value(|_, new| Change::new(new, old)))
            }
        }
    }

    fn flush(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<(), ProcessorError> {
        self.store.flush(ctx, self.send_old)
    }
}

/// Wraps each stream value as a row update (`to_table`).
pub(crate) struct StreamToRows;

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, V, K, Option<V>> for StreamToRows {
    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, Option<V>>,
    ) -> Result<(), ProcessorError> {
        let value = Some(r.value);
        ctx.forward(Record {
            key: r.key,
            value,
            timestamp: r.timestamp,
            headers: r.headers,
        })
    }
}

/// Filters each change's new value, and its old value where `send_old`. With old values, a
/// change whose both sides end up empty is not forwarded (the row was not in the filtered
/// table and still is not); without them, a dropped row is forwarded as a delete, since it
/// may have been in the table before (Kafka Streams' `KTableFilter`).
pub(crate) struct TableFilter<F> {
    pub(crate) predicate: Arc<F>,
    pub(crate) send_old: bool,
}

impl<K, V, F> Processor<K, Change<V>> for TableFilter<F>
where
    K: Clone + 'static,
    V: Clone + 'static,
    F: Fn(&K, &V) -> bool + 'static,
{
    fn process(
        &mut self,
        r: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<(), ProcessorError> {
        let keep = |v: Option<V>| v.filter(|v| (self.predicate)(&r.key, v));
        let old = if self.send_old {
            keep(r.value.old.clone())
        } else {
            None
        };
        let change = Change::new(keep(r.value.new.clone()), old);
        if self.send_old && change.is_empty() {
            return Ok(());
        }
        ctx.forward(r.with_value(change))
    }
}

/// Maps each change's new value, and its old value where `send_old` (else the mapper is not
/// called for it, and the change goes on without one).
pub(crate) struct TableMapValues<F> {
    pub(crate) mapper: Arc<F>,
    pub(crate) send_old: bool,
}

impl<K, V, V2, F> Processor<K, Change<V>, K, Change<V2>> for TableMapValues<F>
where
    K: Clone + 'static,
    V: 'static,
    V2: Clone + 'static,
    F: Fn(&K, V) -> V2 + 'static,
{
    fn process(
        &mut self,
        r: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K, Change<V2>>,
    ) -> Result<(), ProcessorError> {
        let send_old = self.send_old;
        ctx.forward(r.map_value(|key, change| {
            Change {
                new: change.new.map(|v| (self.mapper)(key, v)),
                old: change
                    .old
                    .filter(|_| send_old)
                    .map(|v| (self.mapper)(key, v)),
            }
        }))
    }
}

/// Turns table updates into a stream of new values (`None` for deletes).
pub(crate) struct TableToStream;

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, Change<V>, K, Option<V>>
    for TableToStream
{
    fn process(
        &mut self,
        r: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K, Option<V>>,
    ) -> Result<(), ProcessorError> {
        ctx.forward(r.map_value(|_, change| change.new))
    }
}

/// Re-keys table updates for a grouping: the old row is retracted from its old group and the
/// new row added to its new group. When both land in the same group, one record carries both,
/// so that the aggregate updates once (Kafka Streams KIP-904).
pub(crate) struct TableSelect<F>(pub(crate) Arc<F>);

impl<K, V, K2, V2, F> Processor<K, Change<V>, K2, Change<V2>> for TableSelect<F>
where
    K: 'static,
    V: 'static,
    K2: Clone + PartialEq + 'static,
    V2: Clone + 'static,
    F: Fn(&K, V) -> (K2, V2) + 'static,
{
    fn process(
        &mut self,
        r: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K2, Change<V2>>,
    ) -> Result<(), ProcessorError> {
        let Record {
            key,
            value,
            timestamp,
            headers,
        } = r;
        let old = value.old.map(|v| (self.0)(&key, v));
        let new = value.new.map(|v| (self.0)(&key, v));
        let mut send = |k: K2, change: Change<V2>| {
            ctx.forward(Record {
                key: k,
                value: change,
                timestamp,
                headers: headers.clone(),
            })
        };
        match (new, old) {
            (Some((nk, nv)), Some((ok, ov))) if nk == ok => {
                send(nk, Change::new(Some(nv), Some(ov)))
            }
            (new, old) => {
                if let Some((ok, ov)) = old {
                    send(ok, Change::new(None, Some(ov)))?;
                }
                if let Some((nk, nv)) = new {
                    send(nk, Change::new(Some(nv), None))?;
                }
                Ok(())
            }
        }
    }
}

/// Writes each change's new value into a store (`None` deletes) and forwards the change
/// unchanged: gives a table that has no store of its own (a filtered or mapped table) one
/// that a join can look its rows up in.
pub(crate) struct TableMaterializer<K, V> {
    store: StoreSlot<K, V>,
}

impl<K: 'static, V: 'static> TableMaterializer<K, V> {
    pub(crate) fn new(store_name: String) -> Self {
        Self {
            store: StoreSlot::new(store_name),
        }
    }
}

impl<K, V> Processor<K, Change<V>> for TableMaterializer<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<(), ProcessorError> {
        self.store.open(ctx)
    }

    fn process(
        &mut self,
        r: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<(), ProcessorError> {
        self.store
            .get()?
            .put_at(&r.key, r.value.new.as_ref(), r.timestamp)?;
        ctx.forward(r)
    }
}
