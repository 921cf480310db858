//! What the window aggregations (time and sliding windows) share on their way downstream:
//! forwarding the windows their store's cache flushed, the final results of closed windows,
//! and reporting the records too late for some of their windows.

use std::collections::BTreeMap;

use streams_core::{
    FlushedChange, ProcessorContext, ProcessorError, Record, ValueAndTimestamp, WatermarkSource,
    WindowStore,
};

use super::LateRecords;
use crate::{Change, Window, Windowed};

/// Forwards, as table changes, the windows that `store`'s cache wrote through since the last
/// call, with their previous aggregates where `send_old`; `window` gives a window from its
/// start.
pub(crate) fn forward_flushed<K: Clone + 'static, VA: Clone + 'static>(
    store: &WindowStore<K, ValueAndTimestamp<VA>>,
    window: impl Fn(i64) -> Window,
    send_old: bool,
    ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
) -> Result<(), ProcessorError> {
    store.drain_flushed(|c: FlushedChange<(K, i64), ValueAndTimestamp<VA>>| {
        let (key, start) = c.key;
        let timestamp = c.new.as_ref().map_or(c.timestamp, |v| v.timestamp);
        let old = c.old.filter(|_| send_old).map(|v| v.value);
        let change = Change::new(c.new.map(|v| v.value), old);
        ctx.forward(Record::new(
            Windowed {
                key,
                window: window(start),
            },
            change,
            timestamp,
        ))
    })
}

/// The windows of an on-close aggregation whose final result is not out yet, by start then
/// key bytes (the order Kafka Streams emits them in). Kept in memory so that emitting what
/// the watermark closes reads just those windows: the stores are laid out key first, so a
/// scan by start would read every window of the segment.
pub(crate) struct Unemitted<K> {
    windows: BTreeMap<(i64, Vec<u8>), K>,
}

impl<K: Clone + 'static> Unemitted<K> {
    pub(crate) fn new() -> Self {
        Self {
            windows: BTreeMap::new(),
        }
    }

    /// Notes a window that a record brought into being.
    pub(crate) fn add<VA: Clone + 'static>(
        &mut self,
        store: &WindowStore<K, ValueAndTimestamp<VA>>,
        key: &K,
        start: i64,
    ) -> Result<(), ProcessorError> {
        let bytes = store.key_bytes(key)?;
        self.windows.insert((start, bytes), key.clone());
        Ok(())
    }

    /// Notes every window of `store` starting at `from` or later, after a restart.
    pub(crate) fn restore<VA: Clone + 'static>(
        &mut self,
        store: &WindowStore<K, ValueAndTimestamp<VA>>,
        from: i64,
    ) -> Result<(), ProcessorError> {
        for (key, start, _) in store.fetch_all(from, i64::MAX)? {
            self.add(store, &key, start)?;
        }
        Ok(())
    }

    /// Forwards, in window order, the final result of every noted window starting at `to`
    /// or before; `window` gives a window from its start.
    pub(crate) fn emit_until<VA: Clone + 'static>(
        &mut self,
        store: &WindowStore<K, ValueAndTimestamp<VA>>,
        to: i64,
        window: impl Fn(i64) -> Window,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessorError> {
        while let Some(entry) = self.windows.first_entry() {
            let start = entry.key().0;
            if start > to {
                break;
            }
            let key = entry.remove();
            let Some(aggregate) = store.fetch_once(&key, start)? else {
                continue;
            };
            let windowed = Windowed {
                key,
                window: window(start),
            };
            ctx.forward(Record::new(
                windowed,
                Change::new(Some(aggregate.value), None),
                aggregate.timestamp,
            ))?;
        }
        Ok(())
    }
}

/// Counts `r` as dropped for `dropped` of its `windows` windows, and sends it to the
/// late-records topic, if there is one, with the reason.
pub(crate) fn report_late<K, V, KO, VO>(
    r: &Record<K, V>,
    (dropped, windows): (u64, u64),
    (watermark, grace): (i64, i64),
    late: Option<&LateRecords<K, V>>,
    ctx: &mut ProcessorContext<'_, KO, VO>,
) -> Result<(), ProcessorError> {
    if dropped == 0 {
        return Ok(());
    }
    tracing::debug!(
        time = r.timestamp,
        watermark,
        dropped,
        "record too late for its windows"
    );
    ctx.record_dropped(dropped);
    if let Some(late) = late {
        let mut reason = format!(
            "too late for {dropped} of {windows} windows: watermark {watermark}, grace {grace}"
        );
        name_watermark_rule(&mut reason, ctx.watermark_source());
        late.send(r, &reason, ctx)?;
    }
    Ok(())
}

/// Ends a late record's `reason` with the rule for quiet inputs that moved the watermark which
/// made it late, if one did.
pub(crate) fn name_watermark_rule(reason: &mut String, source: WatermarkSource) {
    if source != WatermarkSource::Records {
        reason.push_str(&format!(", watermark set by {source}"));
    }
}
