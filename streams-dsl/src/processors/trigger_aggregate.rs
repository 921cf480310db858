//! The triggered time-window aggregation: a window aggregation that emits panes (see
//! [`Trigger`]). Each window's pane state (how many panes, records since the last one,
//! whether the on-time pane is out, the last pane for retractions) is kept with its aggregate
//! in the window store, so a restarted task continues each window's panes.

use std::sync::Arc;
use std::time::Duration;

use streams_core::{
    Deserializer, Encoded, Headers, Processor, ProcessorContext, ProcessorError, Punctuation,
    PunctuationType, Record, SerdeError, SerdeRef, Serializer, WindowStore,
};

use super::emit_progress::EmitProgress;
use super::{window_emit, LateRecords};
use crate::panes::{Accumulation, EarlyFiring, Pane, PaneInfo, PaneTiming, Trigger};
use crate::{TimeWindows, Window, Windowed};

/// A window's aggregate and pane state.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PaneState<VA> {
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
    /// In retracting mode: the last pane's value and timing.
    last: Option<(VA, PaneTiming)>,
}

/// Encodes a [`PaneState`]: time 8 bytes, panes and pending 4 bytes each, big-endian; a flags
/// byte; the aggregate behind a 4-byte length; then, if flagged, the last pane's timing byte
/// and value.
pub(crate) struct PaneStateSerde<VA> {
    pub(crate) inner: SerdeRef<VA>,
}

const PAST_ON_TIME: u8 = 1;
const FINISHED: u8 = 2;
const HAS_LAST: u8 = 4;

fn timing_byte(timing: PaneTiming) -> u8 {
    match timing {
        PaneTiming::Early => 0,
        PaneTiming::OnTime => 1,
        PaneTiming::Late => 2,
    }
}

impl<VA> PaneStateSerde<VA> {
    fn value(
        &self,
        topic: &str,
        headers: &mut Headers,
        value: &VA,
        out: &mut Vec<u8>,
    ) -> Result<(), SerdeError> {
        match self.inner.serialize(topic, headers, value, out)? {
            Encoded::Bytes => Ok(()),
            Encoded::Null => Err(SerdeError::Custom(
                "a windowed aggregate cannot encode as a null".to_owned(),
            )),
        }
    }
}

impl<VA> Serializer<PaneState<VA>> for PaneStateSerde<VA> {
    fn serialize(
        &self,
        topic: &str,
        headers: &mut Headers,
        state: &PaneState<VA>,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        out.extend_from_slice(&state.timestamp.to_be_bytes());
        out.extend_from_slice(&state.panes.to_be_bytes());
        out.extend_from_slice(&state.pending.to_be_bytes());
        let flags = if state.past_on_time { PAST_ON_TIME } else { 0 }
            | if state.finished { FINISHED } else { 0 }
            | if state.last.is_some() { HAS_LAST } else { 0 };
        out.push(flags);
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        self.value(topic, headers, &state.aggregate, out)?;
        let length = u32::try_from(out.len() - at - 4).map_err(|_| SerdeError::InvalidLength {
            expected: u32::MAX as usize,
            actual: out.len() - at - 4,
        })?;
        out[at..at + 4].copy_from_slice(&length.to_be_bytes());
        if let Some((value, timing)) = &state.last {
            out.push(timing_byte(*timing));
            self.value(topic, headers, value, out)?;
        }
        Ok(Encoded::Bytes)
    }
}

fn take<'a>(data: &mut &'a [u8], n: usize) -> Result<&'a [u8], SerdeError> {
    let (head, tail) = data.split_at_checked(n).ok_or(SerdeError::InvalidLength {
        expected: n,
        actual: data.len(),
    })?;
    *data = tail;
    Ok(head)
}

fn number<const N: usize>(data: &mut &[u8]) -> Result<[u8; N], SerdeError> {
    let mut array = [0; N];
    array.copy_from_slice(take(data, N)?);
    Ok(array)
}

impl<VA> Deserializer<PaneState<VA>> for PaneStateSerde<VA> {
    fn deserialize(
        &self,
        topic: &str,
        headers: &Headers,
        data: Option<&[u8]>,
    ) -> Result<PaneState<VA>, SerdeError> {
        let mut data = data.ok_or(SerdeError::UnexpectedNull)?;
        let timestamp = i64::from_be_bytes(number(&mut data)?);
        let panes = u32::from_be_bytes(number(&mut data)?);
        let pending = u32::from_be_bytes(number(&mut data)?);
        let [flags] = number::<1>(&mut data)?;
        let length = u32::from_be_bytes(number(&mut data)?) as usize;
        let aggregate = self
            .inner
            .deserialize(topic, headers, Some(take(&mut data, length)?))?;
        let last = if flags & HAS_LAST != 0 {
            let timing = match number::<1>(&mut data)? {
                [0] => PaneTiming::Early,
                [1] => PaneTiming::OnTime,
                [2] => PaneTiming::Late,
                [other] => return Err(SerdeError::Custom(format!("unknown pane timing {other}"))),
            };
            Some((self.inner.deserialize(topic, headers, Some(data))?, timing))
        } else {
            None
        };
        Ok(PaneState {
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

/// Folds records into time windows like the plain window aggregation, and emits panes as its
/// trigger says; see [`Trigger`].
pub(crate) struct TriggeredAggregate<K, V, VA, F> {
    /// The watermark reached, kept across restarts.
    progress: EmitProgress,
    late: Option<Arc<LateRecords<K, V>>>,
    store_name: String,
    store: Option<WindowStore<K, PaneState<VA>>>,
    windows: TimeWindows,
    trigger: Trigger,
    fold: Arc<F>,
    /// Windows starting before this have had their on-time pane (or a late one).
    on_time_before: i64,
    /// Windows starting before this have had their last pane.
    closed_before: i64,
    /// Whether a window got a record without a pane since the last processing-time firing.
    unfired: bool,
}

impl<K, V, VA, F> TriggeredAggregate<K, V, VA, F> {
    pub(crate) fn new(
        store_name: String,
        windows: TimeWindows,
        trigger: Trigger,
        fold: Arc<F>,
        late: Option<Arc<LateRecords<K, V>>>,
    ) -> Self {
        Self {
            progress: EmitProgress::new(&store_name),
            late,
            store_name,
            store: None,
            windows,
            trigger,
            fold,
            on_time_before: i64::MIN,
            closed_before: i64::MIN,
            unfired: false,
        }
    }

    fn store(&self) -> Result<&WindowStore<K, PaneState<VA>>, ProcessorError> {
        self.store
            .as_ref()
            .ok_or_else(|| ProcessorError::UnknownStore(self.store_name.clone()))
    }

    fn window(&self, start: i64) -> Window {
        Window {
            start,
            end: start + self.windows.size(),
        }
    }

    /// The first window start after `start` (starts are multiples of the advance).
    fn next_start_after(&self, start: i64) -> i64 {
        let advance = self.windows.advance();
        (start.div_euclid(advance) + 1) * advance
    }

    /// Where the scans stand once the watermark has reached `watermark`: the windows that
    /// have ended, and those that have closed, have had their panes.
    fn catch_up(&mut self, watermark: i64) {
        let ended = watermark.saturating_sub(self.windows.size());
        self.on_time_before = self.on_time_before.max(self.next_start_after(ended));
        let closed = ended.saturating_sub(self.windows.grace());
        self.closed_before = self.closed_before.max(self.next_start_after(closed));
    }
}

impl<K, V, VA, F> TriggeredAggregate<K, V, VA, F>
where
    K: Clone + 'static,
    VA: Clone + 'static,
{
    /// Emits a pane of `state` for `key`'s window at `start` (after the retraction of the
    /// previous pane, in retracting mode), and updates the pane state.
    fn fire(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Pane<VA>>,
        key: &K,
        start: i64,
        state: &mut PaneState<VA>,
        (timing, is_last): (PaneTiming, bool),
    ) -> Result<(), ProcessorError> {
        let windowed = Windowed {
            key: key.clone(),
            window: self.window(start),
        };
        if let Some((value, previous)) = state.last.take() {
            let info = PaneInfo {
                timing: previous,
                index: state.panes.saturating_sub(1),
                is_last: false,
            };
            let retraction = Pane {
                value,
                info,
                retraction: true,
            };
            ctx.forward(Record::new(windowed.clone(), retraction, state.timestamp))?;
        }
        let info = PaneInfo {
            timing,
            index: state.panes,
            is_last,
        };
        let pane = Pane {
            value: state.aggregate.clone(),
            info,
            retraction: false,
        };
        ctx.forward(Record::new(windowed, pane, state.timestamp))?;
        if self.trigger.accumulation() == Accumulation::Retracting {
            state.last = Some((state.aggregate.clone(), timing));
        }
        state.panes = state.panes.saturating_add(1);
        state.pending = 0;
        state.finished |= is_last;
        state.past_on_time |= timing != PaneTiming::Early;
        Ok(())
    }

    /// Emits, in window order, the last pane of every window that `watermark` closes and
    /// the on-time pane of every window it ends.
    fn fire_due(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Pane<VA>>,
        watermark: i64,
    ) -> Result<(), ProcessorError> {
        let (size, grace) = (self.windows.size(), self.windows.grace());
        let ended = watermark.saturating_sub(size);
        let closed = ended.saturating_sub(grace);
        // Closing first: those windows start before the ones that only end now.
        let scans = [
            (self.closed_before, closed, true),
            (
                self.on_time_before.max(self.next_start_after(closed)),
                ended,
                false,
            ),
        ];
        for (from, to, closing) in scans {
            if to < from {
                continue;
            }
            let mut due = self.store()?.fetch_all(from, to)?;
            due.sort_by_key(|(_, start, _)| *start);
            for (key, start, mut state) in due {
                let timing = if closing && state.past_on_time {
                    PaneTiming::Late
                } else {
                    PaneTiming::OnTime
                };
                if state.finished || (!closing && state.past_on_time) {
                    continue;
                }
                self.fire(ctx, &key, start, &mut state, (timing, closing))?;
                self.store()?.put(&key, start, Some(&state))?;
            }
        }
        self.catch_up(watermark);
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
        let mut open = self.store()?.fetch_all(self.on_time_before, i64::MAX)?;
        open.sort_by_key(|(_, start, _)| *start);
        for (key, start, mut state) in open {
            if state.pending > 0 && !state.past_on_time {
                self.fire(ctx, &key, start, &mut state, (PaneTiming::Early, false))?;
                self.store()?.put(&key, start, Some(&state))?;
            }
        }
        Ok(())
    }

    /// Whether a window with `pending` records since its last pane fires an early pane now.
    fn fires_early(&self, pending: u32) -> bool {
        match self.trigger.early() {
            EarlyFiring::EveryUpdate => true,
            EarlyFiring::EveryRecords(n) => pending >= n.max(1),
            EarlyFiring::Never | EarlyFiring::ProcessingTime(_) => false,
        }
    }
}

impl<K, V, VA, F> Processor<K, V, Windowed<K>, Pane<VA>> for TriggeredAggregate<K, V, VA, F>
where
    K: Clone + 'static,
    V: Clone + 'static,
    VA: Clone + 'static,
    F: Fn(&K, V, Option<VA>) -> VA + 'static,
{
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Pane<VA>>,
    ) -> Result<(), ProcessorError> {
        let store: WindowStore<K, PaneState<VA>> = ctx.state_store(&self.store_name)?;
        store.report_flushes(false);
        self.store = Some(store);
        self.progress.open(ctx)?;
        if self.progress.watermark() > i64::MIN {
            // The panes due before a restart are out.
            self.catch_up(self.progress.watermark());
        }
        if let EarlyFiring::ProcessingTime(interval) = self.trigger.early() {
            let interval = interval.max(Duration::from_millis(1));
            ctx.schedule(interval, PunctuationType::WallClockTime);
            // Windows updated before a restart may not have fired.
            self.unfired = true;
        }
        Ok(())
    }

    fn punctuate(
        &mut self,
        _: Punctuation,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Pane<VA>>,
    ) -> Result<(), ProcessorError> {
        self.fire_unfired(ctx)
    }

    fn flush(
        &mut self,
        _: &mut ProcessorContext<'_, Windowed<K>, Pane<VA>>,
    ) -> Result<(), ProcessorError> {
        self.store()?.flush_cache()?;
        self.progress.flush()
    }

    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Pane<VA>>,
    ) -> Result<(), ProcessorError> {
        let watermark = self.progress.advance(ctx.watermark());
        // Before this record's writes: they may expire windows that close just now.
        self.fire_due(ctx, watermark)?;
        let grace = self.windows.grace();
        let (mut dropped, mut windows) = (0, 0);
        for window in self.windows.windows_for(r.timestamp) {
            windows += 1;
            if watermark >= window.end.saturating_add(grace) {
                dropped += 1;
                continue;
            }
            let old = self.store()?.fetch(&r.key, window.start)?;
            let mut state = match old {
                Some(mut state) => {
                    state.aggregate = (self.fold)(&r.key, r.value.clone(), Some(state.aggregate));
                    state.timestamp = state.timestamp.max(r.timestamp);
                    state
                }
                None => PaneState {
                    aggregate: (self.fold)(&r.key, r.value.clone(), None),
                    timestamp: r.timestamp,
                    panes: 0,
                    pending: 0,
                    past_on_time: false,
                    finished: false,
                    last: None,
                },
            };
            state.pending = state.pending.saturating_add(1);
            if watermark >= window.end {
                // Accepted within grace after the window's end.
                self.fire(
                    ctx,
                    &r.key,
                    window.start,
                    &mut state,
                    (PaneTiming::Late, false),
                )?;
            } else if self.fires_early(state.pending) {
                self.fire(
                    ctx,
                    &r.key,
                    window.start,
                    &mut state,
                    (PaneTiming::Early, false),
                )?;
            } else {
                self.unfired = true;
            }
            if !self.store()?.put(&r.key, window.start, Some(&state))? {
                dropped += 1;
            }
        }
        window_emit::report_late(
            &r,
            (dropped, windows),
            (watermark, grace),
            self.late.as_deref(),
            ctx,
        )
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
        for last in [None, Some(("prev".to_string(), PaneTiming::Late))] {
            let state = PaneState {
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
                .deserialize("t", &Headers::new(), Some(&bytes[..20]))
                .is_err());
        }
    }
}
