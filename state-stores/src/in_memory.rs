use std::collections::BTreeMap;
use std::ops::Bound;

use crate::{
    ChangelogRecord, KeyValueBytesStore, KeyValueIter, Restorable, StateStore, StoreError,
};

/// Inclusive-or-open bounds of a key range.
type KeyBounds<'k> = (Bound<&'k [u8]>, Bound<&'k [u8]>);

/// A key-value store held in memory, in a B-tree ordered by key bytes.
///
/// It is not persistent: after a restart its content comes back from its changelog.
#[derive(Debug)]
pub struct InMemoryKeyValueStore {
    name: String,
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
    open: bool,
}

impl InMemoryKeyValueStore {
    /// An empty, open store called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            entries: BTreeMap::new(),
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

    fn bounds<'k>(from: Option<&'k [u8]>, to: Option<&'k [u8]>) -> Option<KeyBounds<'k>> {
        if let (Some(f), Some(t)) = (from, to) {
            // BTreeMap::range panics on an inverted range; an inverted range is simply empty.
            if f > t {
                return None;
            }
        }
        let lower = from.map_or(Bound::Unbounded, Bound::Included);
        let upper = to.map_or(Bound::Unbounded, Bound::Included);
        Some((lower, upper))
    }
}

impl StateStore for InMemoryKeyValueStore {
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
        self.entries.clear();
    }
}

impl KeyValueBytesStore for InMemoryKeyValueStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.check_open()?;
        Ok(self.entries.get(key).cloned())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.check_open()?;
        match self.entries.get_mut(key) {
            // Reuse the existing allocation: updates to hot keys are the common case.
            Some(existing) => {
                existing.clear();
                existing.extend_from_slice(value);
            }
            None => {
                self.entries.insert(key.to_vec(), value.to_vec());
            }
        }
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.check_open()?;
        Ok(self.entries.remove(key))
    }

    fn range(
        &self,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
    ) -> Result<KeyValueIter<'_>, StoreError> {
        self.check_open()?;
        Ok(match Self::bounds(from, to) {
            Some(bounds) => Box::new(
                self.entries
                    .range::<[u8], _>(bounds)
                    .map(|(k, v)| Ok((k.clone(), v.clone()))),
            ),
            None => Box::new(std::iter::empty()),
        })
    }

    fn reverse_range(
        &self,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
    ) -> Result<KeyValueIter<'_>, StoreError> {
        self.check_open()?;
        Ok(match Self::bounds(from, to) {
            Some(bounds) => Box::new(
                self.entries
                    .range::<[u8], _>(bounds)
                    .rev()
                    .map(|(k, v)| Ok((k.clone(), v.clone()))),
            ),
            None => Box::new(std::iter::empty()),
        })
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>, StoreError> {
        self.check_open()?;
        let prefix = prefix.to_vec();
        Ok(Box::new(
            self.entries
                .range::<[u8], _>((Bound::Included(prefix.as_slice()), Bound::Unbounded))
                .take_while(move |(k, _)| k.starts_with(&prefix))
                .map(|(k, v)| Ok((k.clone(), v.clone()))),
        ))
    }

    fn approximate_num_entries(&self) -> Result<u64, StoreError> {
        self.check_open()?;
        Ok(self.entries.len() as u64)
    }
}

impl Restorable for InMemoryKeyValueStore {
    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<(), StoreError> {
        KeyValueBytesStore::restore_batch(self, records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(iter: KeyValueIter<'_>) -> Vec<Vec<u8>> {
        iter.map(|item| item.unwrap().0).collect()
    }

    fn store_with(keys: &[&[u8]]) -> InMemoryKeyValueStore {
        let mut store = InMemoryKeyValueStore::new("s");
        for k in keys {
            store.put(k, b"v").unwrap();
        }
        store
    }

    #[test]
    fn put_get_delete_and_put_if_absent() {
        let mut store = InMemoryKeyValueStore::new("s");
        assert_eq!(store.get(b"a").unwrap(), None);
        store.put(b"a", b"1").unwrap();
        store.put(b"a", b"22").unwrap();
        assert_eq!(store.get(b"a").unwrap(), Some(b"22".to_vec()));
        assert_eq!(
            store.put_if_absent(b"a", b"3").unwrap(),
            Some(b"22".to_vec())
        );
        assert_eq!(store.put_if_absent(b"b", b"3").unwrap(), None);
        assert_eq!(store.get(b"b").unwrap(), Some(b"3".to_vec()));
        assert_eq!(store.delete(b"a").unwrap(), Some(b"22".to_vec()));
        assert_eq!(store.delete(b"a").unwrap(), None);
        assert_eq!(store.approximate_num_entries().unwrap(), 1);
    }

    #[test]
    fn ranges_are_inclusive_and_ordered_by_bytes() {
        let store = store_with(&[b"b", b"a", b"c", b"ab", b"d"]);
        assert_eq!(
            keys(store.range(Some(b"ab"), Some(b"c")).unwrap()),
            vec![b"ab".to_vec(), b"b".to_vec(), b"c".to_vec()]
        );
        assert_eq!(
            keys(store.reverse_range(Some(b"ab"), Some(b"c")).unwrap()),
            vec![b"c".to_vec(), b"b".to_vec(), b"ab".to_vec()]
        );
        assert_eq!(
            keys(store.range(None, Some(b"ab")).unwrap()),
            vec![b"a".to_vec(), b"ab".to_vec()]
        );
        assert!(keys(store.range(Some(b"d"), Some(b"a")).unwrap()).is_empty());
        assert_eq!(
            keys(store.prefix_scan(b"a").unwrap()),
            vec![b"a".to_vec(), b"ab".to_vec()]
        );
        assert_eq!(keys(store.all().unwrap()).len(), 5);
    }

    #[test]
    fn a_closed_store_refuses_work() {
        let mut store = store_with(&[b"a"]);
        store.close();
        assert!(!store.is_open());
        assert_eq!(
            store.get(b"a"),
            Err(StoreError::Closed { store: "s".into() })
        );
        assert!(store.put(b"a", b"1").is_err());
    }
}
