//! The processors behind the DSL's operators. Each holds its user function behind an `Arc`
//! shared by every task's instance, and calls it directly (no boxing per call).

pub(crate) mod aggregate;
pub(crate) mod due_buffer;
pub(crate) mod emit_progress;
pub(crate) mod encoding;
pub(crate) mod fk_join;
pub(crate) mod hot_join_buffer;
pub(crate) mod hot_windows;
pub(crate) mod join;
pub(crate) mod join_buffer;
pub(crate) mod key_queue;
pub(crate) mod latest_sessions;
pub(crate) mod murmur3;
pub(crate) mod pane_emitter;
pub(crate) mod session_aggregate;
pub(crate) mod sliding_aggregate;
pub(crate) mod stateless;
pub(crate) mod stream_join;
pub(crate) mod stream_table_join;
pub(crate) mod subscription;
pub(crate) mod suppress;
pub(crate) mod table;
pub(crate) mod table_join;
pub(crate) mod unjoined;
pub(crate) mod versioned_table;
pub(crate) mod window_aggregate;
pub(crate) mod window_emit;
pub(crate) mod window_slices;

use streams_core::{Headers, KeyValueStore, ProcessorContext, ProcessorError, Record, SerdeRef};

use crate::Change;

/// A processor's handle on a store (of type `S`, such as a [`KeyValueStore`]), looked up by
/// name when the processor starts.
pub(crate) struct Slot<S> {
    name: String,
    store: Option<S>,
}

/// A processor's handle on a key-value store.
pub(crate) type StoreSlot<K, V> = Slot<KeyValueStore<K, V>>;

impl<S: Clone + 'static> Slot<S> {
    pub(crate) fn new(name: String) -> Self {
        Self { name, store: None }
    }

    /// Looks the store up; call from `Processor::init`.
    pub(crate) fn open<KO, VO>(
        &mut self,
        ctx: &ProcessorContext<'_, KO, VO>,
    ) -> Result<(), ProcessorError> {
        self.store = Some(ctx.state_store(&self.name)?);
        Ok(())
    }

    /// The store; an error if `open` has not run.
    pub(crate) fn get(&self) -> Result<&S, ProcessorError> {
        self.store
            .as_ref()
            .ok_or_else(|| ProcessorError::UnknownStore(self.name.clone()))
    }
}

impl<K: Clone + 'static, V: Clone + 'static> Slot<KeyValueStore<K, V>> {
    /// Forwards, as table changes, what the store's cache wrote through since the last call,
    /// with the old values where `send_old`.
    pub(crate) fn forward_flushed(
        &self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        send_old: bool,
    ) -> Result<(), ProcessorError> {
        self.get()?.drain_flushed(|c| {
            let old = c.old.filter(|_| send_old);
            ctx.forward(Record::new(c.key, Change::new(c.new, old), c.timestamp))
        })
    }

    /// Flushes the store's cache and forwards what it wrote through.
    pub(crate) fn flush(
        &self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        send_old: bool,
    ) -> Result<(), ProcessorError> {
        self.get()?.flush_cache()?;
        self.forward_flushed(ctx, send_old)
    }
}

/// Where a windowed aggregation sends the records it drops as too late: a topic, and the
/// serdes that write the record unchanged.
pub(crate) struct LateRecords<K, V> {
    pub(crate) topic: String,
    pub(crate) key_serde: SerdeRef<K>,
    pub(crate) value_serde: SerdeRef<V>,
}

/// The header that says why a record was sent to the late-records topic.
pub(crate) const LATE_REASON_HEADER: &str = "streams.late.reason";

impl<K, V> LateRecords<K, V> {
    /// Writes `r` to the late-records topic with `reason` in its headers.
    pub(crate) fn send<KO, VO>(
        &self,
        r: &Record<K, V>,
        reason: &str,
        ctx: &mut ProcessorContext<'_, KO, VO>,
    ) -> Result<(), ProcessorError> {
        let mut headers: Headers = r.headers.clone();
        headers.add(LATE_REASON_HEADER, reason);
        let serialize = |bytes: Result<Option<Vec<u8>>, streams_core::SerdeError>, part| {
            bytes.map_err(|source| ProcessorError::Serialization {
                topic: self.topic.clone(),
                part,
                source,
            })
        };
        let key = serialize(
            self.key_serde.to_bytes(&self.topic, &r.key),
            streams_core::RecordPart::Key,
        )?;
        let value = serialize(
            self.value_serde.to_bytes(&self.topic, &r.value),
            streams_core::RecordPart::Value,
        )?;
        ctx.send_to(
            &self.topic,
            key.as_deref(),
            value.as_deref(),
            r.timestamp,
            headers,
        );
        Ok(())
    }
}
