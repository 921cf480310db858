//! The in-memory versioned store.

use std::collections::BTreeMap;

use crate::versioned::{restore_versions, retained_from, superseded};
use crate::{
    ChangelogRecord, Restorable, StateStore, StoreError, VersionedBytesStore, VersionedPut,
    VersionedRecord,
};

/// A versioned store held in memory: per key, its versions by timestamp (`None`: a
/// tombstone). It is not persistent: after a restart its content comes back from its
/// changelog.
#[derive(Debug)]
pub struct InMemoryVersionedStore {
    name: String,
    retention: i64,
    observed: i64,
    keys: BTreeMap<Vec<u8>, BTreeMap<i64, Option<Vec<u8>>>>,
    open: bool,
}

impl InMemoryVersionedStore {
    /// An empty, open store called `name` that keeps history for `history_retention_ms`
    /// (a negative retention counts as 0).
    pub fn new(name: impl Into<String>, history_retention_ms: i64) -> Self {
        Self {
            name: name.into(),
            retention: history_retention_ms.max(0),
            observed: i64::MIN,
            keys: BTreeMap::new(),
            open: true,
        }
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.open {
            Ok(())
        } else {
            Err(StoreError::Closed {
                store: self.name.clone(),
            })
        }
    }

    fn record(found: Option<(&i64, &Option<Vec<u8>>)>) -> Option<VersionedRecord> {
        let (timestamp, value) = found?;
        value.as_ref().map(|value| VersionedRecord {
            value: value.clone(),
            timestamp: *timestamp,
        })
    }
}

impl StateStore for InMemoryVersionedStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn persistent(&self) -> bool {
        false
    }

    fn is_open(&self) -> bool {
        self.open
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.check_open()
    }

    fn close(&mut self) {
        self.open = false;
        self.keys.clear();
    }
}

impl VersionedBytesStore for InMemoryVersionedStore {
    fn put(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> Result<VersionedPut, StoreError> {
        self.check_open()?;
        if timestamp < retained_from(self.observed, self.retention) {
            return Ok(VersionedPut::Expired);
        }
        self.observed = self.observed.max(timestamp);
        let versions = self.keys.entry(key.to_vec()).or_default();
        let latest = versions
            .last_key_value()
            .is_none_or(|(t, _)| timestamp >= *t);
        versions.insert(timestamp, value.map(<[u8]>::to_vec));
        let cutoff = retained_from(self.observed, self.retention);
        let old: Vec<(i64, bool)> = versions
            .range(..=cutoff)
            .map(|(t, v)| (*t, v.is_none()))
            .collect();
        for (t, _) in superseded(&old) {
            versions.remove(t);
        }
        if versions.is_empty() {
            self.keys.remove(key);
        }
        Ok(if latest {
            VersionedPut::Latest
        } else {
            VersionedPut::Historical
        })
    }

    fn get(&self, key: &[u8]) -> Result<Option<VersionedRecord>, StoreError> {
        self.check_open()?;
        Ok(self
            .keys
            .get(key)
            .and_then(|versions| Self::record(versions.last_key_value())))
    }

    fn get_as_of(&self, key: &[u8], as_of: i64) -> Result<Option<VersionedRecord>, StoreError> {
        self.check_open()?;
        let Some(versions) = self.keys.get(key) else {
            return Ok(None);
        };
        if as_of < retained_from(self.observed, self.retention) {
            // Beyond the history: only the latest version, which never expires, answers.
            let latest = versions.last_key_value().filter(|(t, _)| **t <= as_of);
            return Ok(Self::record(latest));
        }
        Ok(Self::record(versions.range(..=as_of).next_back()))
    }

    fn history_retention(&self) -> i64 {
        self.retention
    }

    fn observed_stream_time(&self) -> i64 {
        self.observed
    }

    fn approximate_num_entries(&self) -> Result<u64, StoreError> {
        self.check_open()?;
        Ok(self.keys.values().map(|v| v.len() as u64).sum())
    }
}

impl Restorable for InMemoryVersionedStore {
    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<(), StoreError> {
        restore_versions(self, records)
    }
}
