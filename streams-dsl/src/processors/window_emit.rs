//! What the window aggregations (time and sliding windows) share on their way downstream:
//! forwarding the windows their store's cache flushed, the final results of closed windows,
//! and reporting the records too late for some of their windows.

use streams_core::{
    FlushedChange, ProcessorContext, ProcessorError, Record, ValueAndTimestamp, WindowStore,
};

use super::LateRecords;
use crate::{Change, Window, Windowed};

/// Forwards, as table changes, the windows that `store`'s cache wrote through since the last
/// call; `window` gives a window from its start.
pub(crate) fn forward_flushed<K: Clone + 'static, VA: Clone + 'static>(
    store: &WindowStore<K, ValueAndTimestamp<VA>>,
    window: impl Fn(i64) -> Window,
    ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
) -> Result<(), ProcessorError> {
    store.drain_flushed(|c: FlushedChange<(K, i64), ValueAndTimestamp<VA>>| {
        let (key, start) = c.key;
        let timestamp = c.new.as_ref().map_or(c.timestamp, |v| v.timestamp);
        let change = Change::new(c.new.map(|v| v.value), c.old.map(|v| v.value));
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

/// Forwards, in window order, the final result of every window of `store` starting in
/// `[from, to]`.
pub(crate) fn forward_closed<K: Clone + 'static, VA: Clone + 'static>(
    store: &WindowStore<K, ValueAndTimestamp<VA>>,
    from: i64,
    to: i64,
    window: impl Fn(i64) -> Window,
    ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
) -> Result<(), ProcessorError> {
    if to < from {
        return Ok(());
    }
    let mut closed = store.fetch_all(from, to)?;
    // Stable: keys of one window stay in store order.
    closed.sort_by_key(|(_, start, _)| *start);
    for (key, start, aggregate) in closed {
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
        let reason = format!(
            "too late for {dropped} of {windows} windows: watermark {watermark}, grace {grace}"
        );
        late.send(r, &reason, ctx)?;
    }
    Ok(())
}
