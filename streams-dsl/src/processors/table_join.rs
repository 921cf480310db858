//! Table-table joins (Kafka Streams' `KTableKTableInnerJoin`, `...LeftJoin`, `...OuterJoin`
//! and `KTableKTableJoinMerger`): each side's updates look up the other side's row.

use std::sync::Arc;

use streams_core::{Processor, ProcessorContext, ProcessorError, Record};

use super::StoreSlot;
use crate::Change;

/// The time of the last update of each row of a table, kept next to a join because table
/// stores hold values only: a join result carries the later of its two rows' times.
pub(crate) struct RowTimes<K> {
    store: StoreSlot<K, i64>,
}

impl<K: Clone + 'static> RowTimes<K> {
    pub(crate) fn new(store_name: String) -> Self {
        Self {
            store: StoreSlot::new(store_name),
        }
    }

    pub(crate) fn open<KO, VO>(
        &mut self,
        ctx: &ProcessorContext<'_, KO, VO>,
    ) -> Result<(), ProcessorError> {
        self.store.open(ctx)?;
        // Nobody forwards this store's flushes: they need only write.
        self.store.get()?.report_flushes(false);
        Ok(())
    }

    /// Records that `key`'s row was updated at `time` (`exists`), or deleted.
    pub(crate) fn update(&self, key: &K, exists: bool, time: i64) -> Result<(), ProcessorError> {
        let time = exists.then_some(time);
        Ok(self
            .store
            .get()?
            .put_at(key, time.as_ref(), time.unwrap_or(0))?)
    }

    /// The time of a result made at `time` with `key`'s row: the later of the two (`time`
    /// where the row's time is unknown).
    pub(crate) fn result_time(&self, key: &K, time: i64) -> Result<i64, ProcessorError> {
        Ok(self
            .store
            .get()?
            .get(key)?
            .map_or(time, |row| row.max(time)))
    }
}

/// One side of a table-table join: each update of this side (values `A`) looks up the other
/// side's row (values `B`) and forwards the change of the join result, with, where
/// `send_old`, its old value computed from the update's old value, so that aggregations
/// downstream retract it. `J` is the join with the absent sides made explicit: `None` where
/// the join has no result (an inner join without a match, say).
///
/// As Kafka Streams' join processors: where the other side has a row, the change is always
/// forwarded (a delete without an old value must still reach downstream). Where it has none,
/// nothing is forwarded if this side's rows need a partner (`keeps_unmatched` is false: an
/// inner join, the right side of a left join), nor if the update carries no value at all.
pub(crate) struct TableJoin<K, B, J> {
    other: StoreSlot<K, B>,
    own_times: RowTimes<K>,
    other_times: RowTimes<K>,
    joiner: Arc<J>,
    keeps_unmatched: bool,
    send_old: bool,
}

impl<K: Clone + 'static, B: 'static, J> TableJoin<K, B, J> {
    pub(crate) fn new(
        other_store: String,
        own_times: String,
        other_times: String,
        joiner: Arc<J>,
        keeps_unmatched: bool,
        send_old: bool,
    ) -> Self {
        Self {
            other: StoreSlot::new(other_store),
            own_times: RowTimes::new(own_times),
            other_times: RowTimes::new(other_times),
            joiner,
            keeps_unmatched,
            send_old,
        }
    }
}

impl<K, A, B, VR, J> Processor<K, Change<A>, K, Change<VR>> for TableJoin<K, B, J>
where
    K: Clone + 'static,
    A: 'static,
    B: Clone + 'static,
    VR: Clone + 'static,
    J: Fn(Option<&A>, Option<&B>) -> Option<VR> + 'static,
{
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VR>>,
    ) -> Result<(), ProcessorError> {
        self.other.open(ctx)?;
        self.own_times.open(ctx)?;
        self.other_times.open(ctx)
    }

    fn process(
        &mut self,
        r: Record<K, Change<A>>,
        ctx: &mut ProcessorContext<'_, K, Change<VR>>,
    ) -> Result<(), ProcessorError> {
        self.own_times
            .update(&r.key, r.value.new.is_some(), r.timestamp)?;
        let other = self.other.get()?.get(&r.key)?;
        if other.is_none() && (!self.keeps_unmatched || r.value.is_empty()) {
            return Ok(());
        }
        let new = (self.joiner)(r.value.new.as_ref(), other.as_ref());
        let old = match self.send_old {
            true => (self.joiner)(r.value.old.as_ref(), other.as_ref()),
            false => None,
        };
        let timestamp = match other {
            Some(_) => self.other_times.result_time(&r.key, r.timestamp)?,
            None => r.timestamp,
        };
        ctx.forward(Record {
            key: r.key,
            value: Change::new(new, old),
            timestamp,
            headers: r.headers,
        })
    }
}

/// Where both sides of a table-table join meet: forwards their result changes, and, when the
/// join is materialized, writes them into the result's store first (with a cache, the store
/// forwards each key's latest change when it flushes, with its old value where `send_old`).
pub(crate) struct TableJoinMerger<K, V> {
    store: Option<StoreSlot<K, V>>,
    send_old: bool,
}

impl<K: 'static, V: 'static> TableJoinMerger<K, V> {
    pub(crate) fn new(store_name: Option<String>, send_old: bool) -> Self {
        Self {
            store: store_name.map(StoreSlot::new),
            send_old,
        }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, Change<V>> for TableJoinMerger<K, V> {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<(), ProcessorError> {
        match &mut self.store {
            Some(store) => store.open(ctx),
            None => Ok(()),
        }
    }

    fn process(
        &mut self,
        r: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<(), ProcessorError> {
        let Some(slot) = &self.store else {
            return ctx.forward(r);
        };
        let store = slot.get()?;
        store.put_at(&r.key, r.value.new.as_ref(), r.timestamp)?;
        if store.is_cached() {
            return slot.forward_flushed(ctx, self.send_old);
        }
        ctx.forward(r)
    }

    fn flush(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<(), ProcessorError> {
        match &self.store {
            Some(store) => store.flush(ctx, self.send_old),
            None => Ok(()),
        }
    }
}
