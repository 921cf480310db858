//! `Joined`: how a stream-table join is configured (Kafka Streams' `Joined`).

use std::time::Duration;

use streams_core::SerdeRef;

/// How a stream is joined with a table: the serdes of the stream's key and value (used when
/// the stream must be repartitioned first) and of the table's value, a name for the join node
/// (and its repartition topic, `<name>-repartition`), and a grace period for a join against a
/// versioned table.
///
/// ```
/// use std::time::Duration;
/// use streams_dsl::prelude::*;
///
/// let joined = Joined::<String, i64, String>::as_("enrich")
///     .with_key_serde(Serdes::string())
///     .with_grace_period(Duration::from_secs(5));
/// # let _ = joined;
/// ```
pub struct Joined<K, V, VT> {
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) other_value_serde: Option<SerdeRef<VT>>,
    pub(crate) name: Option<String>,
    pub(crate) grace_period: Option<Duration>,
}

impl<K, V, VT> Default for Joined<K, V, VT> {
    fn default() -> Self {
        Self {
            key_serde: None,
            value_serde: None,
            other_value_serde: None,
            name: None,
            grace_period: None,
        }
    }
}

impl<K, V, VT> Joined<K, V, VT> {
    /// The registered serdes, a generated name, no grace period.
    pub fn new() -> Self {
        Self::default()
    }

    /// The given serdes: the stream's key and value, and the table's value.
    pub fn with(
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        other_value_serde: SerdeRef<VT>,
    ) -> Self {
        Self {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            other_value_serde: Some(other_value_serde),
            ..Self::default()
        }
    }

    /// Names the join node `name` (Kafka Streams' `Joined.as`); a repartition topic in front
    /// of it is `<application.id>-<name>-repartition`.
    pub fn as_(name: impl Into<String>) -> Self {
        Self::new().with_name(name)
    }

    /// Sets the name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the serde of the stream's key.
    pub fn with_key_serde(mut self, serde: SerdeRef<K>) -> Self {
        self.key_serde = Some(serde);
        self
    }

    /// Sets the serde of the stream's value.
    pub fn with_value_serde(mut self, serde: SerdeRef<V>) -> Self {
        self.value_serde = Some(serde);
        self
    }

    /// Sets the serde of the table's value (kept for Kafka Streams' shape: the table's store
    /// already has its value serde, so a stream-table join does not need it).
    pub fn with_other_value_serde(mut self, serde: SerdeRef<VT>) -> Self {
        self.other_value_serde = Some(serde);
        self
    }

    /// Holds each stream record back until stream time passes its time plus `grace`, then
    /// joins it with the table's row as of its own time, so that table updates arriving up
    /// to `grace` late are still seen (Kafka Streams KIP-923). The table must be versioned
    /// (see [`Materialized::as_versioned`](crate::Materialized::as_versioned)); otherwise the
    /// build fails.
    pub fn with_grace_period(mut self, grace: Duration) -> Self {
        self.grace_period = Some(grace);
        self
    }
}
