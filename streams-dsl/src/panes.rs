//! Triggers and panes (our extension, in the spirit of Beam): a triggered window aggregation
//! emits a window's result in panes, early (before the watermark reaches the window's end),
//! on time (when it does) and late (for records accepted within grace), each carrying its
//! [`PaneInfo`]; sinks write the pane info as record headers.

use std::sync::Arc;
use std::time::Duration;

use streams_core::{
    DefaultSerde, Deserializer, Encoded, Headers, SerdeError, SerdeRef, Serializer, WatermarkSource,
};

/// When a triggered window emits panes before the watermark reaches its end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EarlyFiring {
    /// No early panes: the first pane is the on-time one.
    #[default]
    Never,
    /// A pane for every update.
    EveryUpdate,
    /// A pane once this many records have arrived since the window's last pane.
    EveryRecords(u32),
    /// A pane for every window updated since its last pane, each time this much
    /// processing (wall-clock) time passes.
    ProcessingTime(Duration),
}

/// What each pane carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Accumulation {
    /// Each pane carries the whole aggregate of the window so far.
    #[default]
    Accumulating,
    /// As accumulating, and a retraction of the previous pane (its value, marked
    /// [`Pane::retraction`]) precedes each new pane, so that a downstream sum can subtract it.
    Retracting,
}

/// When a triggered window aggregation emits: early firings, the on-time pane when the
/// watermark reaches the window's end, a late pane for each record accepted within grace
/// after it, and the accumulation mode.
///
/// With a grace period, the window's closing (the watermark reaching end plus grace) emits one
/// more pane with the final aggregate and [`PaneInfo::is_last`] set, so that every window's
/// panes end with exactly one last pane; without grace the on-time pane is the last.
///
/// ```
/// use std::time::Duration;
/// use streams_dsl::{Accumulation, EarlyFiring, Trigger};
///
/// let trigger = Trigger::at_watermark().with_early_firings(EarlyFiring::EveryRecords(100)).retracting();
/// assert_eq!(trigger.early(), EarlyFiring::EveryRecords(100));
/// assert_eq!(trigger.accumulation(), Accumulation::Retracting);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trigger {
    early: EarlyFiring,
    accumulation: Accumulation,
}

impl Trigger {
    /// The on-time pane, late panes within grace and the closing pane; no early panes;
    /// accumulating.
    pub fn at_watermark() -> Self {
        Self::default()
    }

    /// Also emits early panes as `early` says.
    pub fn with_early_firings(mut self, early: EarlyFiring) -> Self {
        self.early = early;
        self
    }

    /// Each pane carries the whole aggregate (the default).
    pub fn accumulating(mut self) -> Self {
        self.accumulation = Accumulation::Accumulating;
        self
    }

    /// A retraction of the previous pane precedes each new pane.
    pub fn retracting(mut self) -> Self {
        self.accumulation = Accumulation::Retracting;
        self
    }

    /// The early firings.
    pub fn early(&self) -> EarlyFiring {
        self.early
    }

    /// The accumulation mode.
    pub fn accumulation(&self) -> Accumulation {
        self.accumulation
    }
}

/// When a pane was emitted relative to the watermark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PaneTiming {
    /// Before the watermark reached the window's end.
    Early,
    /// When the watermark reached the window's end.
    OnTime,
    /// After the on-time pane: a record accepted within grace, or the window's closing.
    Late,
}

impl PaneTiming {
    fn as_str(self) -> &'static str {
        match self {
            PaneTiming::Early => "EARLY",
            PaneTiming::OnTime => "ON_TIME",
            PaneTiming::Late => "LATE",
        }
    }

    fn parse(text: &[u8]) -> Option<Self> {
        match text {
            b"EARLY" => Some(PaneTiming::Early),
            b"ON_TIME" => Some(PaneTiming::OnTime),
            b"LATE" => Some(PaneTiming::Late),
            _ => None,
        }
    }
}

/// Where a pane stands among its window's panes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PaneInfo {
    /// Early, on time or late.
    pub timing: PaneTiming,
    /// The pane's position among its window's panes, from 0.
    pub index: u32,
    /// Whether no pane of the window follows.
    pub is_last: bool,
    /// What moved the watermark that emitted the pane: [`WatermarkSource::Records`] for
    /// panes that records emitted (all of them unless a rule for quiet inputs is on), else
    /// the rule that closed or completed the window while its inputs were quiet.
    pub watermark_source: WatermarkSource,
}

/// One pane of a window's result: the aggregate, its pane info, and whether it retracts an
/// earlier pane (in retracting mode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pane<V> {
    /// The aggregate (for a retraction, the retracted pane's).
    pub value: V,
    /// The pane's timing, index and whether it is the last (for a retraction, the retracted
    /// pane's).
    pub info: PaneInfo,
    /// Whether this record withdraws the pane it describes rather than emitting it.
    pub retraction: bool,
}

/// The header holding a pane's timing: `EARLY`, `ON_TIME` or `LATE`.
pub const PANE_TIMING_HEADER: &str = "streams.pane.timing";
/// The header holding a pane's index, in decimal.
pub const PANE_INDEX_HEADER: &str = "streams.pane.index";
/// The header saying whether a pane is its window's last: `true` or `false`.
pub const PANE_LAST_HEADER: &str = "streams.pane.last";
/// The header saying whether a record retracts a pane: `true` or `false`.
pub const PANE_RETRACTION_HEADER: &str = "streams.pane.retraction";
/// The header naming the rule for quiet inputs that emitted a pane (`IDLE_PARTITION` or
/// `WALL_CLOCK`, see [`WatermarkSource`]); absent for panes that records emitted.
pub const PANE_WATERMARK_HEADER: &str = "streams.pane.watermark";

/// Writes a [`Pane`] as its value in the inner serde, with the pane info in headers
/// ([`PANE_TIMING_HEADER`], [`PANE_INDEX_HEADER`], [`PANE_LAST_HEADER`],
/// [`PANE_RETRACTION_HEADER`]); reads it back from them.
pub struct PaneSerde<V> {
    inner: SerdeRef<V>,
}

impl<V> PaneSerde<V> {
    /// Panes whose values use `inner`.
    pub fn new(inner: SerdeRef<V>) -> Self {
        Self { inner }
    }
}

fn flag(value: bool) -> &'static str {
    if value {
        "true"
    } else {
        "false"
    }
}

impl<V> Serializer<Pane<V>> for PaneSerde<V> {
    fn serialize(
        &self,
        topic: &str,
        headers: &mut Headers,
        pane: &Pane<V>,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        headers.remove(PANE_TIMING_HEADER);
        headers.remove(PANE_INDEX_HEADER);
        headers.remove(PANE_LAST_HEADER);
        headers.remove(PANE_RETRACTION_HEADER);
        headers.remove(PANE_WATERMARK_HEADER);
        headers.add(PANE_TIMING_HEADER, pane.info.timing.as_str());
        headers.add(PANE_INDEX_HEADER, pane.info.index.to_string());
        headers.add(PANE_LAST_HEADER, flag(pane.info.is_last));
        headers.add(PANE_RETRACTION_HEADER, flag(pane.retraction));
        if pane.info.watermark_source != WatermarkSource::Records {
            headers.add(PANE_WATERMARK_HEADER, pane.info.watermark_source.as_str());
        }
        self.inner.serialize(topic, headers, &pane.value, out)
    }
}

/// The header `name`, or a typed error naming it.
fn header<'h>(headers: &'h Headers, name: &str) -> Result<&'h [u8], SerdeError> {
    headers
        .last(name)
        .ok_or_else(|| SerdeError::Custom(format!("a pane needs the `{name}` header")))
}

fn parse_flag(headers: &Headers, name: &str) -> Result<bool, SerdeError> {
    match header(headers, name)? {
        b"true" => Ok(true),
        b"false" => Ok(false),
        _ => Err(SerdeError::Custom(format!(
            "`{name}` is neither true nor false"
        ))),
    }
}

impl<V> Deserializer<Pane<V>> for PaneSerde<V> {
    fn deserialize(
        &self,
        topic: &str,
        headers: &Headers,
        data: Option<&[u8]>,
    ) -> Result<Pane<V>, SerdeError> {
        let timing = PaneTiming::parse(header(headers, PANE_TIMING_HEADER)?).ok_or_else(|| {
            SerdeError::Custom(format!("`{PANE_TIMING_HEADER}` is not a pane timing"))
        })?;
        let index = std::str::from_utf8(header(headers, PANE_INDEX_HEADER)?)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| SerdeError::Custom(format!("`{PANE_INDEX_HEADER}` is not a number")))?;
        let watermark_source = match headers.last(PANE_WATERMARK_HEADER) {
            None => WatermarkSource::Records,
            Some(text) => WatermarkSource::parse(text).ok_or_else(|| {
                SerdeError::Custom(format!(
                    "`{PANE_WATERMARK_HEADER}` is not a watermark source"
                ))
            })?,
        };
        Ok(Pane {
            value: self.inner.deserialize(topic, headers, data)?,
            info: PaneInfo {
                timing,
                index,
                is_last: parse_flag(headers, PANE_LAST_HEADER)?,
                watermark_source,
            },
            retraction: parse_flag(headers, PANE_RETRACTION_HEADER)?,
        })
    }
}

impl<V: DefaultSerde + 'static> DefaultSerde for Pane<V> {
    fn default_serde() -> SerdeRef<Self> {
        Arc::new(PaneSerde::new(V::default_serde()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use streams_core::Serdes;

    #[test]
    fn panes_round_trip_through_their_headers() {
        let serde = PaneSerde::new(Serdes::i64());
        let pane = Pane {
            value: 7,
            info: PaneInfo {
                timing: PaneTiming::OnTime,
                index: 2,
                is_last: true,
                watermark_source: WatermarkSource::Records,
            },
            retraction: false,
        };
        let mut headers = Headers::new().with(PANE_INDEX_HEADER, "99");
        let mut out = Vec::new();
        serde.serialize("t", &mut headers, &pane, &mut out).unwrap();
        assert_eq!(headers.last(PANE_TIMING_HEADER), Some(&b"ON_TIME"[..]));
        assert_eq!(headers.last(PANE_INDEX_HEADER), Some(&b"2"[..]));
        assert_eq!(headers.len(), 4, "an upstream pane's headers are replaced");
        let back = serde.deserialize("t", &headers, Some(&out)).unwrap();
        assert_eq!(back, pane);
        let without = Headers::new();
        assert!(serde.deserialize("t", &without, Some(&out)).is_err());
    }

    #[test]
    fn a_quiet_input_rule_that_emitted_a_pane_is_named_in_a_header() {
        let serde = PaneSerde::new(Serdes::i64());
        let pane = Pane {
            value: 7,
            info: PaneInfo {
                timing: PaneTiming::OnTime,
                index: 0,
                is_last: true,
                watermark_source: WatermarkSource::WallClock,
            },
            retraction: false,
        };
        let mut headers = Headers::new();
        let mut out = Vec::new();
        serde.serialize("t", &mut headers, &pane, &mut out).unwrap();
        assert_eq!(
            headers.last(PANE_WATERMARK_HEADER),
            Some(&b"WALL_CLOCK"[..])
        );
        assert_eq!(serde.deserialize("t", &headers, Some(&out)).unwrap(), pane);
        let bad = headers.clone().with(PANE_WATERMARK_HEADER, "SUNDIAL");
        assert!(serde.deserialize("t", &bad, Some(&out)).is_err());
    }
}
