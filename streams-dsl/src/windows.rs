//! Time windows: the window specs of windowed aggregations and the windowed keys they emit.

use std::time::Duration;

use std::sync::Arc;

use streams_core::{
    DefaultSerde, Deserializer, Encoded, Headers, SerdeError, SerdeRef, Serializer, Timestamp,
    TopologyError,
};

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A window's bounds (ms). For time windows `[start, end)`: start inclusive, end exclusive.
/// For sliding windows and sessions `[start, end]`: both inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    /// The first time in the window.
    pub start: Timestamp,
    /// The first time after the window.
    pub end: Timestamp,
}

/// A key of a windowed aggregate: the grouping key and its window.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Windowed<K> {
    /// The grouping key.
    pub key: K,
    /// The window.
    pub window: Window,
}

/// Tumbling or hopping time windows, aligned to the epoch, with a grace period for records
/// that arrive out of order.
///
/// ```
/// use std::time::Duration;
/// use streams_dsl::{TimeWindows, Window};
///
/// let hopping = TimeWindows::of_size_with_no_grace(Duration::from_secs(10)).advance_by(Duration::from_secs(5));
/// let windows: Vec<Window> = hopping.windows_for(12_000).collect();
/// assert_eq!(windows, vec![Window { start: 5_000, end: 15_000 }, Window { start: 10_000, end: 20_000 }]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeWindows {
    size: i64,
    advance: i64,
    grace: i64,
}

impl TimeWindows {
    /// Tumbling windows of `size` that close as soon as the watermark reaches their end
    /// (Kafka Streams' `ofSizeWithNoGrace`).
    pub fn of_size_with_no_grace(size: Duration) -> Self {
        Self::of_size_and_grace(size, Duration::ZERO)
    }

    /// Tumbling windows of `size` that accept records until the watermark passes their end
    /// by `grace`. A size of 0 fails the topology's build, as Kafka Streams refuses it.
    pub fn of_size_and_grace(size: Duration, grace: Duration) -> Self {
        let size = millis(size);
        Self {
            size,
            advance: size,
            grace: millis(grace),
        }
    }

    /// Hopping windows: a new window every `advance`. An advance of 0 or larger than the
    /// size fails the topology's build, as Kafka Streams refuses it.
    pub fn advance_by(mut self, advance: Duration) -> Self {
        self.advance = millis(advance);
        self
    }

    /// Whether these windows can be used: a size above 0 and an advance above 0 and at most
    /// the size (Kafka Streams' rules).
    pub fn validate(&self) -> Result<(), TopologyError> {
        if self.size <= 0 {
            return Err(TopologyError::InvalidOperation(
                "time windows need a size above 0 ms".to_owned(),
            ));
        }
        if self.advance <= 0 || self.advance > self.size {
            return Err(TopologyError::InvalidOperation(format!(
                "time windows need an advance above 0 ms and at most their size ({} ms), not {} ms",
                self.size, self.advance
            )));
        }
        Ok(())
    }

    /// The window size (ms).
    pub fn size(&self) -> i64 {
        self.size
    }

    /// The advance (ms); equal to the size for tumbling windows.
    pub fn advance(&self) -> i64 {
        self.advance
    }

    /// The grace period (ms).
    pub fn grace(&self) -> i64 {
        self.grace
    }

    /// The windows that hold time `t`, by ascending start; windows never start before 0.
    pub fn windows_for(&self, t: Timestamp) -> impl Iterator<Item = Window> {
        let (size, advance) = (self.size, self.advance);
        // The first start s with s > t - size, rounded up to a multiple of the advance.
        let lowest = (t - size + 1).max(0);
        let first = lowest.div_euclid(advance) * advance
            + if lowest.rem_euclid(advance) == 0 {
                0
            } else {
                advance
            };
        let last = t.div_euclid(advance) * advance;
        (0..)
            .map(move |i| first + i * advance)
            .take_while(move |s| *s <= last && t >= 0)
            .map(move |start| Window {
                start,
                end: start + size,
            })
    }
}

/// Session windows: a key's records within `inactivity_gap` of each other form one session
/// `[first record time, last record time]` (both inclusive); a grace period keeps sessions
/// open for records that arrive out of order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionWindows {
    gap: i64,
    grace: i64,
}

impl SessionWindows {
    /// Sessions split by `gap` of inactivity, with no grace period.
    pub fn of_inactivity_gap_with_no_grace(gap: Duration) -> Self {
        Self::of_inactivity_gap_and_grace(gap, Duration::ZERO)
    }

    /// Sessions split by `gap` of inactivity, accepting records until the watermark passes a
    /// session's end by `grace`. A gap of 0 fails the topology's build, as Kafka Streams
    /// refuses it.
    pub fn of_inactivity_gap_and_grace(gap: Duration, grace: Duration) -> Self {
        Self {
            gap: millis(gap),
            grace: millis(grace),
        }
    }

    /// Whether these windows can be used: a gap above 0 (Kafka Streams' rule).
    pub fn validate(&self) -> Result<(), TopologyError> {
        if self.gap <= 0 {
            return Err(TopologyError::InvalidOperation(
                "session windows need an inactivity gap above 0 ms".to_owned(),
            ));
        }
        Ok(())
    }

    /// The inactivity gap (ms).
    pub fn gap(&self) -> i64 {
        self.gap
    }

    /// The grace period (ms).
    pub fn grace(&self) -> i64 {
        self.grace
    }
}

/// Sliding windows (Kafka Streams KIP-450): windows of a fixed length that the records
/// themselves define, both ends inclusive, with `end - start` the time difference. Each
/// record has a left window ending at its time, and a right window starting one ms after it
/// once a later record falls into it; a window exists only while it holds records, so a given
/// set of records is aggregated into exactly one window.
///
/// ```
/// use std::time::Duration;
/// use streams_dsl::SlidingWindows;
///
/// let sliding = SlidingWindows::of_time_difference_and_grace(Duration::from_secs(10), Duration::from_secs(2));
/// assert_eq!((sliding.time_difference(), sliding.grace()), (10_000, 2_000));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlidingWindows {
    difference: i64,
    grace: i64,
}

impl SlidingWindows {
    /// Windows spanning `difference` (so records at most that far apart meet in a window),
    /// closing as soon as the watermark passes their end.
    pub fn of_time_difference_with_no_grace(difference: Duration) -> Self {
        Self::of_time_difference_and_grace(difference, Duration::ZERO)
    }

    /// Windows spanning `difference`, accepting records until the watermark passes their end
    /// by `grace`.
    pub fn of_time_difference_and_grace(difference: Duration, grace: Duration) -> Self {
        Self {
            difference: millis(difference),
            grace: millis(grace),
        }
    }

    /// The time difference: each window's `end - start` (ms).
    pub fn time_difference(&self) -> i64 {
        self.difference
    }

    /// The grace period (ms).
    pub fn grace(&self) -> i64 {
        self.grace
    }

    /// The window starting at `start`.
    pub(crate) fn window(&self, start: i64) -> Window {
        Window {
            start,
            end: start.saturating_add(self.difference),
        }
    }
}

/// When the watermark completes a window of some kind: it is on time once the watermark
/// reaches its end plus `on_time_after_end` (0 for time windows, whose end is exclusive; 1
/// for sliding windows; the gap plus 1 for sessions, which a record within the gap could
/// still extend), and closes `grace` later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WindowTiming {
    pub(crate) on_time_after_end: i64,
    pub(crate) grace: i64,
}

impl WindowTiming {
    /// When the watermark reaches `window`'s end (on time).
    pub(crate) fn on_time(&self, window: &Window) -> i64 {
        window.end.saturating_add(self.on_time_after_end)
    }

    /// When `window` closes: on time plus grace.
    pub(crate) fn close(&self, window: &Window) -> i64 {
        self.on_time(window).saturating_add(self.grace)
    }
}

/// When a windowed aggregation speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EmitStrategy {
    /// Every update of a window emits its new value (the default, as Kafka Streams).
    #[default]
    OnWindowUpdate,
    /// Each window emits its final value once, when the watermark passes its end plus grace.
    OnWindowClose,
}

/// Encodes a [`Windowed`] key: the key's encoding, then start and end as 8 bytes big-endian
/// each.
pub(crate) struct WindowedSerde<K> {
    pub(crate) inner: SerdeRef<K>,
}

impl<K> Serializer<Windowed<K>> for WindowedSerde<K> {
    fn serialize(
        &self,
        topic: &str,
        headers: &mut Headers,
        value: &Windowed<K>,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        self.inner.serialize(topic, headers, &value.key, out)?;
        out.extend_from_slice(&value.window.start.to_be_bytes());
        out.extend_from_slice(&value.window.end.to_be_bytes());
        Ok(Encoded::Bytes)
    }
}

impl<K> Deserializer<Windowed<K>> for WindowedSerde<K> {
    fn deserialize(
        &self,
        topic: &str,
        headers: &Headers,
        data: Option<&[u8]>,
    ) -> Result<Windowed<K>, SerdeError> {
        let (key, [start, end]) = split_times::<2>(data)?;
        Ok(Windowed {
            key: self.inner.deserialize(topic, headers, Some(key))?,
            window: Window { start, end },
        })
    }
}

/// Splits `data` into the key's bytes and the `n` trailing big-endian `i64`s.
fn split_times<const N: usize>(data: Option<&[u8]>) -> Result<(&[u8], [i64; N]), SerdeError> {
    let data = data.ok_or(SerdeError::UnexpectedNull)?;
    let split = data
        .len()
        .checked_sub(8 * N)
        .ok_or(SerdeError::InvalidLength {
            expected: 8 * N,
            actual: data.len(),
        })?;
    let (key, tail) = data.split_at(split);
    let mut times = [0i64; N];
    for (time, bytes) in times.iter_mut().zip(tail.chunks_exact(8)) {
        let mut array = [0u8; 8];
        array.copy_from_slice(bytes);
        *time = i64::from_be_bytes(array);
    }
    Ok((key, times))
}

/// Kafka Streams' `TimeWindowedSerde` layout: the key's encoding, then the window's start as 8
/// bytes big-endian. The end is not written; reading gives `start + window size` (saturating),
/// as Java's `TimeWindowedDeserializer` does. Use it for the output topics of time and sliding
/// window aggregations that Java consumers read (Java sliding windows read with the window
/// size set to the time difference).
///
/// ```
/// use std::time::Duration;
/// use streams_core::{Deserializer, Headers, Serdes, Serializer};
/// use streams_dsl::{TimeWindowedSerde, Window, Windowed};
///
/// let serde = TimeWindowedSerde::new(Serdes::string(), Duration::from_millis(100));
/// let key = Windowed { key: "a".to_string(), window: Window { start: 5, end: 105 } };
/// let bytes = serde.to_bytes("t", &key).unwrap().unwrap();
/// assert_eq!(bytes, [b'a', 0, 0, 0, 0, 0, 0, 0, 5]);
/// assert_eq!(serde.deserialize("t", &Headers::new(), Some(&bytes)).unwrap(), key);
/// ```
pub struct TimeWindowedSerde<K> {
    inner: SerdeRef<K>,
    window_size: i64,
}

impl<K> TimeWindowedSerde<K> {
    /// Windowed keys over `inner`, for windows of `window_size`.
    pub fn new(inner: SerdeRef<K>, window_size: Duration) -> Self {
        Self {
            inner,
            window_size: millis(window_size),
        }
    }
}

impl<K> Serializer<Windowed<K>> for TimeWindowedSerde<K> {
    fn serialize(
        &self,
        topic: &str,
        headers: &mut Headers,
        value: &Windowed<K>,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        self.inner.serialize(topic, headers, &value.key, out)?;
        out.extend_from_slice(&value.window.start.to_be_bytes());
        Ok(Encoded::Bytes)
    }
}

impl<K> Deserializer<Windowed<K>> for TimeWindowedSerde<K> {
    fn deserialize(
        &self,
        topic: &str,
        headers: &Headers,
        data: Option<&[u8]>,
    ) -> Result<Windowed<K>, SerdeError> {
        let (key, [start]) = split_times::<1>(data)?;
        Ok(Windowed {
            key: self.inner.deserialize(topic, headers, Some(key))?,
            window: Window {
                start,
                end: start.saturating_add(self.window_size),
            },
        })
    }
}

/// Kafka Streams' `SessionWindowedSerde` layout: the key's encoding, then the session's end,
/// then its start, each 8 bytes big-endian. Use it for the output topics of session window
/// aggregations that Java consumers read.
///
/// ```
/// use streams_core::{Deserializer, Headers, Serdes, Serializer};
/// use streams_dsl::{SessionWindowedSerde, Window, Windowed};
///
/// let serde = SessionWindowedSerde::new(Serdes::string());
/// let key = Windowed { key: "a".to_string(), window: Window { start: 1, end: 2 } };
/// let bytes = serde.to_bytes("t", &key).unwrap().unwrap();
/// assert_eq!(bytes, [b'a', 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1]);
/// assert_eq!(serde.deserialize("t", &Headers::new(), Some(&bytes)).unwrap(), key);
/// ```
pub struct SessionWindowedSerde<K> {
    inner: SerdeRef<K>,
}

impl<K> SessionWindowedSerde<K> {
    /// Session-windowed keys over `inner`.
    pub fn new(inner: SerdeRef<K>) -> Self {
        Self { inner }
    }
}

impl<K> Serializer<Windowed<K>> for SessionWindowedSerde<K> {
    fn serialize(
        &self,
        topic: &str,
        headers: &mut Headers,
        value: &Windowed<K>,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        self.inner.serialize(topic, headers, &value.key, out)?;
        out.extend_from_slice(&value.window.end.to_be_bytes());
        out.extend_from_slice(&value.window.start.to_be_bytes());
        Ok(Encoded::Bytes)
    }
}

impl<K> Deserializer<Windowed<K>> for SessionWindowedSerde<K> {
    fn deserialize(
        &self,
        topic: &str,
        headers: &Headers,
        data: Option<&[u8]>,
    ) -> Result<Windowed<K>, SerdeError> {
        let (key, [end, start]) = split_times::<2>(data)?;
        Ok(Windowed {
            key: self.inner.deserialize(topic, headers, Some(key))?,
            window: Window { start, end },
        })
    }
}

/// Constructors for the windowed key serdes in Kafka Streams' layouts (Java's `WindowedSerdes`).
#[derive(Debug)]
pub struct WindowedSerdes;

impl WindowedSerdes {
    /// Time-windowed keys over `inner` for windows of `window_size` ([`TimeWindowedSerde`]).
    pub fn time_windowed<K: 'static>(
        inner: SerdeRef<K>,
        window_size: Duration,
    ) -> SerdeRef<Windowed<K>> {
        Arc::new(TimeWindowedSerde::new(inner, window_size))
    }

    /// Session-windowed keys over `inner` ([`SessionWindowedSerde`]).
    pub fn session_windowed<K: 'static>(inner: SerdeRef<K>) -> SerdeRef<Windowed<K>> {
        Arc::new(SessionWindowedSerde::new(inner))
    }
}

impl<K: DefaultSerde> DefaultSerde for Windowed<K> {
    fn default_serde() -> SerdeRef<Self> {
        Arc::new(WindowedSerde {
            inner: K::default_serde(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use streams_core::Serdes;

    fn starts(w: TimeWindows, t: i64) -> Vec<i64> {
        w.windows_for(t).map(|w| w.start).collect()
    }

    #[test]
    fn tumbling_windows_hold_their_start_but_not_their_end() {
        let w = TimeWindows::of_size_with_no_grace(Duration::from_millis(10));
        assert_eq!(starts(w, 0), vec![0]);
        assert_eq!(starts(w, 9), vec![0]);
        assert_eq!(starts(w, 10), vec![10]);
        assert_eq!(starts(w, -1), Vec::<i64>::new());
    }

    #[test]
    fn hopping_windows_never_start_before_zero() {
        let w = TimeWindows::of_size_with_no_grace(Duration::from_millis(10))
            .advance_by(Duration::from_millis(3));
        assert_eq!(starts(w, 0), vec![0]);
        assert_eq!(starts(w, 10), vec![3, 6, 9]);
        assert_eq!(starts(w, 12), vec![3, 6, 9, 12]);
        assert_eq!(starts(w, 13), vec![6, 9, 12]);
    }

    /// The layouts of Kafka Streams' `WindowKeySchema.toBinary` (key, start) and
    /// `SessionKeySchema.toBinary` (key, end, start), byte by byte.
    #[test]
    fn windowed_keys_use_kafka_streams_layouts() {
        let key = Windowed {
            key: 7i32,
            window: Window {
                start: 0x0102,
                end: 0x0203,
            },
        };
        let time = TimeWindowedSerde::new(Serdes::i32(), Duration::from_millis(0x0101));
        let bytes = time.to_bytes("t", &key).unwrap().unwrap();
        assert_eq!(bytes, [0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(
            time.deserialize("t", &Headers::new(), Some(&bytes))
                .unwrap(),
            key
        );

        let session = WindowedSerdes::session_windowed(Serdes::i32());
        let bytes = session.to_bytes("t", &key).unwrap().unwrap();
        assert_eq!(
            bytes,
            [0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 2, 3, 0, 0, 0, 0, 0, 0, 1, 2]
        );
        assert_eq!(
            session
                .deserialize("t", &Headers::new(), Some(&bytes))
                .unwrap(),
            key
        );
    }

    #[test]
    fn windowed_keys_too_short_or_saturating() {
        let time = WindowedSerdes::time_windowed(Serdes::string(), Duration::from_millis(10));
        assert_eq!(
            time.deserialize("t", &Headers::new(), Some(&[1, 2])),
            Err(SerdeError::InvalidLength {
                expected: 8,
                actual: 2
            })
        );
        let late = time
            .deserialize("t", &Headers::new(), Some(&i64::MAX.to_be_bytes()))
            .unwrap();
        assert_eq!(late.window.end, i64::MAX);
        assert_eq!(
            WindowedSerdes::session_windowed(Serdes::string())
                .deserialize("t", &Headers::new(), None)
                .err(),
            Some(SerdeError::UnexpectedNull)
        );
    }

    #[test]
    fn windowed_keys_round_trip() {
        let serde = WindowedSerde {
            inner: Serdes::string(),
        };
        let key = Windowed {
            key: "k".to_string(),
            window: Window { start: 10, end: 20 },
        };
        let bytes = serde.to_bytes("t", &key).unwrap();
        assert_eq!(
            serde
                .deserialize("t", &Headers::new(), bytes.as_deref())
                .unwrap(),
            key
        );
        assert!(serde
            .deserialize("t", &Headers::new(), Some(&[1, 2]))
            .is_err());
    }
}
