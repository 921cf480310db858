//! The stream-table join (Kafka Streams' `KStreamKTableJoinProcessor`).

use std::sync::Arc;

use streams_core::{Processor, ProcessorContext, ProcessorError, Record, SerdeRef};

use super::join_buffer::JoinBuffer;
use super::versioned_table::VersionedSlot;
use super::StoreSlot;

/// Where a join looks up the table's row for a stream record.
pub(crate) enum TableRows<K, VT> {
    /// A key-value store of the current rows.
    Latest(StoreSlot<K, VT>),
    /// A versioned store: the row valid at the stream record's time.
    AsOf(VersionedSlot<K, VT>),
}

impl<K: 'static, VT: Clone + 'static> TableRows<K, VT> {
    fn open<KO, VO>(&mut self, ctx: &ProcessorContext<'_, KO, VO>) -> Result<(), ProcessorError> {
        match self {
            TableRows::Latest(slot) => slot.open(ctx),
            TableRows::AsOf(slot) => slot.open(ctx),
        }
    }

    fn row(&self, key: &K, time: i64) -> Result<Option<VT>, ProcessorError> {
        Ok(match self {
            TableRows::Latest(slot) => slot.get()?.get(key)?,
            TableRows::AsOf(slot) => slot.get()?.get_as_of(key, time)?.map(|row| row.value),
        })
    }
}

/// Joins each stream record with the table's row for its key; the joiner returns `None` to
/// drop the record (an inner join without a row). A record whose key encodes as null cannot
/// be looked up: a left join joins it with `None`, an inner join drops it (counted). A record
/// whose value encodes as null is an empty message: both drop it (counted), as Kafka Streams
/// does. With a
/// buffer (a grace period, versioned tables only), records are joined once stream time
/// passes their time plus the grace period, each with the row as of its own time.
pub(crate) struct StreamTableJoin<K, V, VT, J> {
    pub(crate) rows: TableRows<K, VT>,
    /// The serde of the stream's key, if one is known: a key it encodes as null has no row.
    pub(crate) key_serde: Option<SerdeRef<K>>,
    /// The serde of the stream's value, if one is known, for the null-value check.
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) joiner: Arc<J>,
    pub(crate) left: bool,
    pub(crate) buffer: Option<JoinBuffer<K, V>>,
}

impl<K, V, VT, VR, J> StreamTableJoin<K, V, VT, J>
where
    K: Clone + 'static,
    V: 'static,
    VT: Clone + 'static,
    VR: Clone + 'static,
    J: Fn(V, Option<VT>) -> Option<VR> + 'static,
{
    fn join(
        rows: &TableRows<K, VT>,
        joiner: &J,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, VR>,
    ) -> Result<(), ProcessorError> {
        let row = rows.row(&r.key, r.timestamp)?;
        match joiner(r.value, row) {
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

impl<K, V, VT, VR, J> Processor<K, V, K, VR> for StreamTableJoin<K, V, VT, J>
where
    K: Clone + 'static,
    V: 'static,
    VT: Clone + 'static,
    VR: Clone + 'static,
    J: Fn(V, Option<VT>) -> Option<VR> + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<(), ProcessorError> {
        self.rows.open(ctx)?;
        match &mut self.buffer {
            Some(buffer) => buffer.open(ctx),
            None => Ok(()),
        }
    }

    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, VR>,
    ) -> Result<(), ProcessorError> {
        if self
            .value_serde
            .as_ref()
            .is_some_and(|s| s.is_null(&r.value))
        {
            ctx.record_dropped(1);
            return Ok(());
        }
        if self.key_serde.as_ref().is_some_and(|s| s.is_null(&r.key)) {
            if !self.left {
                ctx.record_dropped(1);
                return Ok(());
            }
            // Nothing to look up: the row is missing.
            let Record {
                key,
                value,
                timestamp,
                headers,
            } = r;
            return match (self.joiner)(value, None) {
                Some(value) => ctx.forward(Record {
                    key,
                    value,
                    timestamp,
                    headers,
                }),
                None => Ok(()),
            };
        }
        let Some(buffer) = &mut self.buffer else {
            return Self::join(&self.rows, &self.joiner, r, ctx);
        };
        if let Some(too_late) = buffer.put(r)? {
            return Self::join(&self.rows, &self.joiner, too_late, ctx);
        }
        let (rows, joiner) = (&self.rows, &*self.joiner);
        buffer.evict(|due| Self::join(rows, joiner, due, ctx))
    }
}
