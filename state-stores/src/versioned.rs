//! Versioned key-value stores (Kafka Streams KIP-889): every key keeps a history of values,
//! each valid from its timestamp until the next one, for a history retention period.

use crate::{Restorable, StateStore, StoreError};

/// One version of a key: its value and the time from which it is valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionedRecord {
    /// The value bytes.
    pub value: Vec<u8>,
    /// The time (ms) from which the value is valid.
    pub timestamp: i64,
}

/// What a [`VersionedBytesStore::put`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionedPut {
    /// The write is older than `observed stream time - history retention`: not stored.
    Expired,
    /// The write is the key's latest version now.
    Latest,
    /// The write went into the key's history: a later version already exists.
    Historical,
}

/// A versioned key-value store over bytes.
///
/// The store's observed stream time is the largest timestamp put so far. A put older than
/// `observed stream time - history retention` is refused; a read as of such a time finds
/// only the latest version, if that is old enough. The latest version of a key stays readable with [`get`](Self::get) however old
/// it is. A tombstone (a `None` put) is a version too: the key has no value from its time on.
pub trait VersionedBytesStore: StateStore + Restorable {
    /// Stores `value` (`None`: a tombstone) for `key`, valid from `timestamp`; a version with
    /// the same timestamp is replaced.
    fn put(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> Result<VersionedPut, StoreError>;

    /// The latest version of `key`, unless it is a tombstone.
    fn get(&self, key: &[u8]) -> Result<Option<VersionedRecord>, StoreError>;

    /// The version of `key` valid at `as_of`: the one with the largest timestamp `<= as_of`,
    /// unless it is a tombstone. As of a time older than the history retention only the
    /// latest version answers (it never expires), if it is that old.
    fn get_as_of(&self, key: &[u8], as_of: i64) -> Result<Option<VersionedRecord>, StoreError>;

    /// Puts a tombstone for `key` at `timestamp`; returns the version it ends (the one valid
    /// at `timestamp` before the delete).
    fn delete(
        &mut self,
        key: &[u8],
        timestamp: i64,
    ) -> Result<Option<VersionedRecord>, StoreError> {
        let old = self.get_as_of(key, timestamp)?;
        self.put(key, None, timestamp)?;
        Ok(old)
    }

    /// How long (ms) older versions stay readable after stream time passes them.
    fn history_retention(&self) -> i64;

    /// The largest timestamp put so far (`i64::MIN` before any).
    fn observed_stream_time(&self) -> i64;

    /// An estimate of the number of stored versions.
    fn approximate_num_entries(&self) -> Result<u64, StoreError>;
}

/// The changelog value of a version: its timestamp (8 bytes big-endian), a tag byte (1: a
/// value, 0: a tombstone), then the value bytes. The changelog key is the plain key, so that
/// compaction keeps each key's latest version.
pub fn versioned_changelog_value(value: Option<&[u8]>, timestamp: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + value.map_or(0, <[u8]>::len));
    out.extend_from_slice(&timestamp.to_be_bytes());
    match value {
        Some(value) => {
            out.push(1);
            out.extend_from_slice(value);
        }
        None => out.push(0),
    }
    out
}

/// The value (`None`: a tombstone) and timestamp that a changelog value holds; `None` if it
/// does not follow [`versioned_changelog_value`]'s layout.
pub fn split_versioned_changelog_value(bytes: &[u8]) -> Option<(Option<&[u8]>, i64)> {
    let (time, rest) = bytes.split_at_checked(8)?;
    let timestamp = i64::from_be_bytes(time.try_into().ok()?);
    match rest.split_first()? {
        (1, value) => Some((Some(value), timestamp)),
        (0, []) => Some((None, timestamp)),
        _ => None,
    }
}

/// Which versions of one key a put makes useless: given the key's versions with timestamps
/// `<= observed - retention` in ascending order (as `(timestamp, is_tombstone)`), the ones
/// that no read can reach any more. Every read as of a retained time sees the last of them
/// or a later one, so all before the last go, and the last too if it is a tombstone.
pub(crate) fn superseded(old_versions: &[(i64, bool)]) -> &[(i64, bool)] {
    match old_versions.split_last() {
        Some(((_, true), _)) => old_versions,
        Some((_, before)) => before,
        None => &[],
    }
}

/// The oldest timestamp that a put may have, or a read be as of, given the observed stream
/// time and the history retention.
pub(crate) fn retained_from(observed: i64, retention: i64) -> i64 {
    if observed == i64::MIN {
        i64::MIN
    } else {
        observed.saturating_sub(retention)
    }
}

/// Applies changelog records to `store` as puts; a record that is not a versioned changelog
/// value fails the batch before any of it is applied, and a changelog tombstone (which a
/// versioned store never writes) is skipped.
pub(crate) fn restore_versions(
    store: &mut dyn VersionedBytesStore,
    records: &[crate::ChangelogRecord],
) -> Result<(), StoreError> {
    let mut writes = Vec::with_capacity(records.len());
    for record in records {
        let Some(value) = &record.value else { continue };
        let (value, timestamp) = split_versioned_changelog_value(value).ok_or_else(|| {
            StoreError::BadChangelogRecord {
                store: store.name().to_owned(),
                reason: "a versioned changelog value needs an 8-byte timestamp and a tag".into(),
            }
        })?;
        writes.push((&record.key[..], value, timestamp));
    }
    for (key, value, timestamp) in writes {
        store.put(key, value, timestamp)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changelog_values_round_trip() {
        let v = versioned_changelog_value(Some(&b"x"[..]), -3);
        assert_eq!(
            split_versioned_changelog_value(&v),
            Some((Some(&b"x"[..]), -3))
        );
        let t = versioned_changelog_value(None, 7);
        assert_eq!(split_versioned_changelog_value(&t), Some((None, 7)));
        assert_eq!(split_versioned_changelog_value(&[0; 8]), None);
        assert_eq!(
            split_versioned_changelog_value(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            None
        );
    }

    #[test]
    fn only_unreachable_versions_are_superseded() {
        assert!(superseded(&[]).is_empty());
        assert!(superseded(&[(1, false)]).is_empty());
        assert_eq!(superseded(&[(1, false), (2, false)]), &[(1, false)]);
        assert_eq!(
            superseded(&[(1, false), (2, true)]),
            &[(1, false), (2, true)]
        );
        assert_eq!(retained_from(i64::MIN, 5), i64::MIN);
        assert_eq!(retained_from(10, 5), 5);
    }
}
