//! The pane emitter: behind a windowed aggregation that forwards every update, it emits each
//! window's result in panes as a [`Trigger`] says. Each open window's pane state (its latest
//! aggregate, how many panes, records since the last one, whether the on-time pane is out, the
//! last pane for retractions) lives in memory, ordered by when it is due, and writes through
//! to a logged store, from which a restarted task rebuilds it.

use std::time::Duration;

use streams_core::{
    Deserializer, Encoded, Headers, KeyValueStore, Processor, ProcessorContext, ProcessorError,
    Punctuation, PunctuationType, Record, SerdeError, SerdeRef, Serializer, WatermarkSource,
};

use super::due_buffer::DueBuffer;
use super::emit_progress::EmitProgress;
use super::encoding::{put_prefixed, Reader};
use crate::panes::{Accumulation, EarlyFiring, Pane, PaneInfo, PaneTiming, Trigger};
use crate::windows::WindowTiming;
use crate::{Change, Windowed};

/// A window's aggregate and pane state.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PaneState<VA> {
    /// Among windows due at once, the window's place in arrival order.
    arrival: u64,
    aggregate: VA,
    /// The latest record time in the window.
    timestamp: i64,
    /// Panes emitted so far (the next pane's index).
    panes: u32,
    /// Records since the last pane.
    pending: u32,
    /// Whether the watermark has passed the window's end (on-time pane or a late pane out).
    past_on_time: bool,
    /// Whether the last pane is out.
    finished: bool,
    /// In retracting mode: the last pane's value, timing and what moved the watermark that
    /// emitted it.
    last: Option<(VA, PaneTiming, WatermarkSource)>,
}

/// Encodes a [`PaneState`]: arrival and time 8 bytes, panes and pending 4 bytes each,
/// big-endian; a flags byte; the aggregate behind a 4-byte length; then, if flagged, the last
/// pane's timing byte (its watermark source in the high four bits, 0 for records) and value
/// behind its length.
pub(crate) struct PaneStateSerde<VA> {
    pub(crate) inner: SerdeRef<VA>,
}

const PAST_ON_TIME: u8 = 1;
const FINISHED: u8 = 2;
const HAS_LAST: u8 = 4;

fn timing_byte(timing: PaneTiming, source: WatermarkSource) -> u8 {
    let timing = match timing {
        PaneTiming::Early => 0,
        PaneTiming::OnTime => 1,
        PaneTiming::Late => 2,
    };
    let source = match source {
        WatermarkSource::Records => 0,
        WatermarkSource::IdlePartition => 1,
        WatermarkSource::WallClock => 2,
    };
    timing | source << 4
}

impl<VA> Serializer<PaneState<VA>> for PaneStateSerde<VA> {
    fn serialize(
        &self,
        topic: &str,
        headers: &mut Headers,
        state: &PaneState<VA>,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        out.extend_from_slice(&state.arrival.to_be_bytes());
        out.extend_from_slice(&state.timestamp.to_be_bytes());
        out.extend_from_slice(&state.panes.to_be_bytes());
        out.extend_from_slice(&state.pending.to_be_bytes());
        let flags = if state.past_on_time { PAST_ON_TIME } else { 0 }
            | if state.finished { FINISHED } else { 0 }
            | if state.last.is_some() { HAS_LAST } else { 0 };
        out.push(flags);
        put_prefixed(&self.inner, topic, headers, &state.aggregate, out)?;
        if let Some((value, timing, source)) = &state.last {
            out.push(timing_byte(*timing, *source));
            put_prefixed(&self.inner, topic, headers, value, out)?;
        }
        Ok(Encoded::Bytes)
    }
}

impl<VA> Deserializer<PaneState<VA>> for PaneStateSerde<VA> {
    fn deserialize(
        &self,
        topic: &str,
        headers: &Headers,
        data: Option<&[u8]>,
    ) -> Result<PaneState<VA>, SerdeError> {
        let mut reader = Reader::new(data)?;
        let (arrival, timestamp) = (reader.u64()?, reader.i64()?);
        let (panes, pending, flags) = (reader.u32()?, reader.u32()?, reader.byte()?);
        let aggregate = reader.prefixed(&self.inner, topic, headers)?;
        let last = if flags & HAS_LAST != 0 {
            let byte = reader.byte()?;
            let timing = match byte & 0x0f {
                0 => PaneTiming::Early,
                1 => PaneTiming::OnTime,
                2 => PaneTiming::Late,
                other => return Err(SerdeError::Custom(format!("unknown pane timing {other}"))),
            };
            let source = match byte >> 4 {
                0 => WatermarkSource::Records,
                1 => WatermarkSource::IdlePartition,
                2 => WatermarkSource::WallClock,
                other => {
                    return Err(SerdeError::Custom(format!(
                        "unknown watermark source {other}"
                    )))
                }
            };
            Some((
                reader.prefixed(&self.inner, topic, headers)?,
                timing,
                source,
            ))
        } else {
            None
        };
        Ok(PaneState {
            arrival,
            aggregate,
            timestamp,
            panes,
            pending,
            past_on_time: flags & PAST_ON_TIME != 0,
            finished: flags & FINISHED != 0,
            last,
        })
    }
}

/// Emits panes for the windows of the updates it receives; see the module documentation.
pub(crate) struct PaneEmitter<K, VA> {
    trigger: Trigger,
    timing: WindowTiming,
    /// The watermark reached, kept across restarts.
    progress: EmitProgress,
    store_name: String,
    store: Option<KeyValueStore<Windowed<K>, PaneState<VA>>>,
    key_serde: SerdeRef<Windowed<K>>,
    /// The open windows, by when their next due pane (on-time, or else the last) is due.
    open: DueBuffer<Windowed<K>, PaneState<VA>>,
    /// Whether a window got an update without a pane since the last processing-time firing.
    unfired: bool,
    /// A session just removed upstream, with its key bytes: Kafka Streams' session
    /// aggregation removes and writes back a session that a record falls into, and the
    /// session's panes carry on if the same session comes right back.
    removed: Option<(Vec<u8>, Windowed<K>, PaneState<VA>)>,
}

impl<K: Clone + 'static, VA: Clone + 'static> PaneEmitter<K, VA> {
    pub(crate) fn new(
        trigger: Trigger,
        timing: WindowTiming,
        store_name: String,
        key_serde: SerdeRef<Windowed<K>>,
    ) -> Self {
        Self {
            trigger,
            timing,
            progress: EmitProgress::new(&store_name),
            store_name,
            store: None,
            key_serde,
            open: DueBuffer::new(),
            unfired: false,
            removed: None,
        }
    }

    /// Ends the panes of the session removed last, unless it came back: in retracting mode
    /// its last pane is retracted.
    fn settle_removed(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Pane<VA>>,
    ) -> Result<(), ProcessorError> {
        if let Some((_, key, mut state)) = self.removed.take() {
            self.retract(ctx, &key, &mut state)?;
            self.store()?.delete(&key)?;
        }
        Ok(())
    }

    fn store(&self) -> Result<&KeyValueStore<Windowed<K>, PaneState<VA>>, ProcessorError> {
        self.store
            .as_ref()
            .ok_or_else(|| ProcessorError::UnknownStore(self.store_name.clone()))
    }

    fn key_bytes(&self, key: &Windowed<K>) -> Result<Vec<u8>, ProcessorError> {
        Ok(self
            .key_serde
            .to_bytes(&self.store_name, key)?
            .unwrap_or_default())
    }

    /// Puts an open window in memory, waiting for its on-time or else its last pane.
    fn hold(&mut self, key_bytes: Vec<u8>, key: Windowed<K>, state: PaneState<VA>) {
        let due = if state.past_on_time {
            self.timing.close(&key.window)
        } else {
            self.timing.on_time(&key.window)
        };
        let place = (due, state.arrival);
        self.open.hold(key_bytes, key, state, place);
    }

    /// Writes the window's pane state through to the store and keeps it open, or, after its
    /// last pane, deletes it.
    fn keep(
        &mut self,
        key_bytes: Vec<u8>,
        key: Windowed<K>,
        state: PaneState<VA>,
    ) -> Result<(), ProcessorError> {
        if state.finished {
            self.store()?.delete(&key)?;
            return Ok(());
        }
        self.store()?.put(&key, &state)?;
        self.hold(key_bytes, key, state);
        Ok(())
    }

    /// Emits a pane of `state` for `key` (after the retraction of the previous pane, in
    /// retracting mode), and updates the pane state. `source` moved the watermark that
    /// emits it (records, for panes that an update emits).
    fn fire(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Pane<VA>>,
        key: &Windowed<K>,
        state: &mut PaneState<VA>,
        (timing, is_last, source): (PaneTiming, bool, WatermarkSource),
    ) -> Result<(), ProcessorError> {
        self.retract(ctx, key, state)?;
        let info = PaneInfo {
            timing,
            index: state.panes,
            is_last,
            watermark_source: source,
        };
        let pane = Pane {
            value: state.aggregate.clone(),
            info,
            retraction: false,
        };
        ctx.forward(Record::new(key.clone(), pane, state.timestamp))?;
        if self.trigger.accumulation() == Accumulation::Retracting {
            state.last = Some((state.aggregate.clone(), timing, source));
        }
        state.panes = state.panes.saturating_add(1);
        state.pending = 0;
        state.finished |= is_last;
        state.past_on_time |= timing != PaneTiming::Early;
        Ok(())
    }

    /// In retracting mode, emits the retraction of the window's last pane, if any.
    fn retract(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Pane<VA>>,
        key: &Windowed<K>,
        state: &mut PaneState<VA>,
    ) -> Result<(), ProcessorError> {
        let Some((value, timing, source)) = state.last.take() else {
            return Ok(());
        };
        let info = PaneInfo {
            timing,
            index: state.panes.saturating_sub(1),
            is_last: false,
            watermark_source: source,
        };
        let retraction = Pane {
            value,
            info,
            retraction: true,
        };
        ctx.forward(Record::new(key.clone(), retraction, state.timestamp))
    }

    /// Emits, in the order they fall due, the last pane of every window that `watermark`
    /// closes and the on-time pane of every window it completes.
    fn fire_due(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Pane<VA>>,
        watermark: i64,
    ) -> Result<(), ProcessorError> {
        // What moved the watermark to where it completes or closes windows.
        let source = ctx.watermark_source();
        while let Some((key_bytes, key, mut state)) = self.open.pop_due(Some(watermark)) {
            let closes = self.timing.close(&key.window) <= watermark;
            let timing = if state.past_on_time {
                PaneTiming::Late
            } else {
                PaneTiming::OnTime
            };
            self.fire(ctx, &key, &mut state, (timing, closes, source))?;
            self.keep(key_bytes, key, state)?;
        }
        Ok(())
    }

    /// Emits an early pane for every open window updated since its last pane.
    fn fire_unfired(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Pane<VA>>,
    ) -> Result<(), ProcessorError> {
        if !std::mem::take(&mut self.unfired) {
            return Ok(());
        }
        let updated: Vec<Vec<u8>> = self
            .open
            .in_order()
            .filter(|(_, state)| state.pending > 0 && !state.past_on_time)
            .map(|(key_bytes, _)| key_bytes.clone())
            .collect();
        for key_bytes in updated {
            let Some((key, mut state)) = self.open.release(&key_bytes) else {
                continue;
            };
            let early = (PaneTiming::Early, false, WatermarkSource::Records);
            self.fire(ctx, &key, &mut state, early)?;
            self.keep(key_bytes, key, state)?;
        }
        Ok(())
    }

    /// Whether a window with `pending` updates since its last pane fires an early pane now.
    fn fires_early(&self, pending: u32) -> bool {
        match self.trigger.early() {
            EarlyFiring::EveryUpdate => true,
            EarlyFiring::EveryRecords(n) => pending >= n.max(1),
            EarlyFiring::Never | EarlyFiring::ProcessingTime(_) => false,
        }
    }
}

impl<K: Clone + 'static, VA: Clone + 'static>
    Processor<Windowed<K>, Change<VA>, Windowed<K>, Pane<VA>> for PaneEmitter<K, VA>
{
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Pane<VA>>,
    ) -> Result<(), ProcessorError> {
        let store: KeyValueStore<Windowed<K>, PaneState<VA>> =
            ctx.key_value_store(&self.store_name)?;
        let restored = store.all()?;
        self.store = Some(store);
        for (key, state) in restored {
            let key_bytes = self.key_bytes(&key)?;
            self.unfired |= state.pending > 0;
            self.hold(key_bytes, key, state);
        }
        self.progress.open(ctx)?;
        // Stream time moves without updates reaching this node (records too late for every
        // window, other keys' records dropped upstream): panes fall due with it.
        ctx.schedule(Duration::from_millis(1), PunctuationType::StreamTime);
        if let EarlyFiring::ProcessingTime(interval) = self.trigger.early() {
            ctx.schedule(
                interval.max(Duration::from_millis(1)),
                PunctuationType::WallClockTime,
            );
        }
        Ok(())
    }

    fn punctuate(
        &mut self,
        punctuation: Punctuation,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Pane<VA>>,
    ) -> Result<(), ProcessorError> {
        self.settle_removed(ctx)?;
        match punctuation.kind {
            PunctuationType::StreamTime => {
                let watermark = self.progress.advance(ctx.watermark());
                self.fire_due(ctx, watermark)
            }
            PunctuationType::WallClockTime => self.fire_unfired(ctx),
        }
    }

    fn flush(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Pane<VA>>,
    ) -> Result<(), ProcessorError> {
        self.settle_removed(ctx)?;
        self.progress.flush()
    }

    /// A watermark raised without a record (quiet inputs) completes and closes windows:
    /// their on-time and last panes go now, naming the rule in their pane info.
    fn on_watermark(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Pane<VA>>,
    ) -> Result<(), ProcessorError> {
        self.settle_removed(ctx)?;
        let watermark = self.progress.advance(ctx.watermark());
        self.fire_due(ctx, watermark)
    }

    fn process(
        &mut self,
        r: Record<Windowed<K>, Change<VA>>,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Pane<VA>>,
    ) -> Result<(), ProcessorError> {
        let watermark = self.progress.advance(ctx.watermark());
        // Before this update: the windows it does not touch that fell due come first.
        self.fire_due(ctx, watermark)?;
        let key_bytes = self.key_bytes(&r.key)?;
        let slot = match self.removed.take() {
            Some((bytes, key, state)) if bytes == key_bytes && r.value.new.is_some() => {
                Some((key, state))
            }
            removed => {
                self.removed = removed;
                self.settle_removed(ctx)?;
                self.open.release(&key_bytes)
            }
        };
        let Some(aggregate) = r.value.new else {
            // A removed session: its panes end (see `settle_removed`) unless it comes back.
            if let Some((key, state)) = slot {
                self.removed = Some((key_bytes, key, state));
            }
            return Ok(());
        };
        let mut state = match slot {
            Some((_, state)) => PaneState {
                aggregate,
                timestamp: r.timestamp,
                ..state
            },
            None => PaneState {
                arrival: self.open.next_arrival(),
                aggregate,
                timestamp: r.timestamp,
                panes: 0,
                pending: 0,
                past_on_time: false,
                finished: false,
                last: None,
            },
        };
        state.pending = state.pending.saturating_add(1);
        if self.timing.on_time(&r.key.window) <= watermark {
            // An update within grace after the window's end.
            let late = (PaneTiming::Late, false, WatermarkSource::Records);
            self.fire(ctx, &r.key, &mut state, late)?;
        } else if self.fires_early(state.pending) {
            let early = (PaneTiming::Early, false, WatermarkSource::Records);
            self.fire(ctx, &r.key, &mut state, early)?;
        } else {
            self.unfired = true;
        }
        self.keep(key_bytes, r.key, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use streams_core::Serdes;

    #[test]
    fn pane_states_round_trip() {
        let serde = PaneStateSerde {
            inner: Serdes::string(),
        };
        for last in [
            None,
            Some((
                "prev".to_string(),
                PaneTiming::Late,
                WatermarkSource::Records,
            )),
            Some((
                "prev".to_string(),
                PaneTiming::OnTime,
                WatermarkSource::WallClock,
            )),
        ] {
            let state = PaneState {
                arrival: 9,
                aggregate: "agg".to_string(),
                timestamp: 42,
                panes: 3,
                pending: 1,
                past_on_time: true,
                finished: false,
                last,
            };
            let bytes = serde.to_bytes("t", &state).unwrap().unwrap();
            let back = serde.deserialize("t", &Headers::new(), Some(&bytes));
            assert_eq!(back.unwrap(), state);
            assert!(serde
                .deserialize("t", &Headers::new(), Some(&bytes[..28]))
                .is_err());
        }
    }
}
