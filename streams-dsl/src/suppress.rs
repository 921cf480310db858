//! `suppress`: holding back a table's updates until its windows close or a time limit passes,
//! in a bounded buffer (Kafka Streams' `Suppressed` and `BufferConfig`).

use std::time::Duration;

use crate::Windowed;

/// What a full suppression buffer does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BufferFull {
    /// Emits the update that has waited longest, before its time (the default for bounded
    /// buffers, as Kafka Streams' `emitEarlyWhenFull`).
    #[default]
    EmitEarly,
    /// Fails the task with [`ProcessorError::BufferFull`](streams_core::ProcessorError),
    /// as Kafka Streams' `shutDownWhenFull`: no update is ever emitted early.
    Fail,
}

/// How much a suppression buffer holds, and what it does when full.
///
/// ```
/// use streams_dsl::{BufferConfig, BufferFull};
///
/// let strict = BufferConfig::max_records(10_000).with_max_bytes(1 << 20).shut_down_when_full();
/// assert_eq!(strict.on_full(), BufferFull::Fail);
/// assert!(!BufferConfig::unbounded().is_bounded());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferConfig {
    max_records: Option<usize>,
    max_bytes: Option<usize>,
    on_full: BufferFull,
}

impl BufferConfig {
    /// A buffer without limits (it holds whatever is waiting).
    pub fn unbounded() -> Self {
        Self {
            max_records: None,
            max_bytes: None,
            on_full: BufferFull::EmitEarly,
        }
    }

    /// A buffer of at most `records` keys, emitting early when full.
    pub fn max_records(records: usize) -> Self {
        Self::unbounded().with_max_records(records)
    }

    /// A buffer of at most `bytes` (serialized keys and values), emitting early when full.
    pub fn max_bytes(bytes: usize) -> Self {
        Self::unbounded().with_max_bytes(bytes)
    }

    /// Also limits the buffer to `records` keys.
    pub fn with_max_records(mut self, records: usize) -> Self {
        self.max_records = Some(records);
        self
    }

    /// Also limits the buffer to `bytes` (serialized keys and values).
    pub fn with_max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = Some(bytes);
        self
    }

    /// When full, emit the update that has waited longest.
    pub fn emit_early_when_full(mut self) -> Self {
        self.on_full = BufferFull::EmitEarly;
        self
    }

    /// When full, fail the task.
    pub fn shut_down_when_full(mut self) -> Self {
        self.on_full = BufferFull::Fail;
        self
    }

    /// The most keys the buffer holds, if limited.
    pub fn max_records_limit(&self) -> Option<usize> {
        self.max_records
    }

    /// The most bytes the buffer holds, if limited.
    pub fn max_bytes_limit(&self) -> Option<usize> {
        self.max_bytes
    }

    /// What the buffer does when full.
    pub fn on_full(&self) -> BufferFull {
        self.on_full
    }

    /// Whether the buffer has a limit.
    pub fn is_bounded(&self) -> bool {
        self.max_records.is_some() || self.max_bytes.is_some()
    }

    /// Whether `records` keys taking `bytes` exceed the limits.
    pub(crate) fn is_exceeded(&self, records: usize, bytes: usize) -> bool {
        self.max_records.is_some_and(|max| records > max)
            || self.max_bytes.is_some_and(|max| bytes > max)
    }
}

/// Until when an update waits.
pub(crate) enum Until<K> {
    /// Until its window closes: the watermark reaches the window's end (given by the
    /// function) plus the aggregation's grace.
    WindowCloses(fn(&K) -> i64),
    /// Until stream time passes the time of the key's first waiting update by this (ms).
    TimeLimit(i64),
}

impl<K> Clone for Until<K> {
    fn clone(&self) -> Self {
        match self {
            Until::WindowCloses(end) => Until::WindowCloses(*end),
            Until::TimeLimit(limit) => Until::TimeLimit(*limit),
        }
    }
}

/// How [`KTable::suppress`](crate::KTable::suppress) holds back updates: per key, only the
/// latest update waits, and it goes downstream when its window closes
/// ([`until_window_closes`](Self::until_window_closes)) or once stream time has passed the
/// first waiting update's time by a limit ([`until_time_limit`](Self::until_time_limit)).
///
/// ```
/// use std::time::Duration;
/// use streams_dsl::prelude::*;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let builder = StreamsBuilder::new();
/// builder
///     .stream::<String, String>("clicks")
///     .group_by_key()
///     .windowed_by(TimeWindows::of_size_and_grace(Duration::from_secs(60), Duration::from_secs(10)))
///     .count()
///     .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
///     .to_stream()
///     .to("final-clicks-per-minute");
/// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("clicks"))?;
/// let clicks = driver.input_topic::<String, String>("clicks")?;
/// clicks.pipe_key_value_at("ann".into(), "/".into(), 1_000)?;
/// clicks.pipe_key_value_at("ann".into(), "/a".into(), 65_000)?; // within grace: no output yet
/// clicks.pipe_key_value_at("ann".into(), "/b".into(), 70_000)?; // closes [0, 60 s)
/// let out = driver.output_topic::<Windowed<String>, Option<i64>>("final-clicks-per-minute")?;
/// let (key, count) = out.read_key_value()?;
/// assert_eq!((key.window.start, count), (0, Some(1)));
/// assert!(out.is_empty());
/// # Ok(())
/// # }
/// ```
pub struct Suppressed<K> {
    pub(crate) until: Until<K>,
    pub(crate) buffer: BufferConfig,
    pub(crate) name: Option<String>,
    pub(crate) logging: bool,
    pub(crate) changelog_configs: Vec<(String, String)>,
}

impl<K> Suppressed<K> {
    /// Holds each key's updates until stream time has passed the time of its first waiting
    /// update by `limit`, then emits the latest: at most one update per key per `limit`.
    pub fn until_time_limit(limit: Duration, buffer: BufferConfig) -> Self {
        Self {
            until: Until::TimeLimit(i64::try_from(limit.as_millis()).unwrap_or(i64::MAX)),
            buffer,
            name: None,
            logging: true,
            changelog_configs: Vec::new(),
        }
    }

    /// Names the suppression node (its buffer store is `<name>-store`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Keeps the buffer's changelog (on by default) with these topic configs over the
    /// runtime's own (Kafka Streams' `BufferConfig.withLoggingEnabled(Map)`).
    pub fn with_logging_enabled<K2: Into<String>, V2: Into<String>>(
        mut self,
        configs: impl IntoIterator<Item = (K2, V2)>,
    ) -> Self {
        self.logging = true;
        self.changelog_configs = configs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self
    }

    /// Keeps the buffer in memory only, without a changelog (Kafka Streams'
    /// `BufferConfig.withLoggingDisabled()`): what waits in it is lost on a restart.
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self.changelog_configs.clear();
        self
    }
}

fn window_end<K>(key: &Windowed<K>) -> i64 {
    key.window.end
}

impl<K> Suppressed<Windowed<K>> {
    /// Holds each window's updates until the window closes, then emits its final result
    /// once: the same results as [`EmitStrategy::OnWindowClose`](crate::EmitStrategy). The
    /// buffer must not emit early: unbounded, or failing when full.
    pub fn until_window_closes(buffer: BufferConfig) -> Self {
        Self {
            until: Until::WindowCloses(window_end::<K>),
            buffer,
            name: None,
            logging: true,
            changelog_configs: Vec::new(),
        }
    }
}
