//! One conformance suite for key-value stores, run against both engines, and a property test
//! that each engine agrees with a `BTreeMap` under random operations.

use std::collections::BTreeMap;

use proptest::prelude::*;
use state_stores::{
    ChangelogRecord, InMemoryKeyValueStore, KeyValueBytesStore, KeyValueIter, Restorable,
    RocksDbConfig, RocksDbKeyValueStore, StateStore, StoreError,
};
use tempfile::TempDir;

/// A store under test and whatever must live as long as it (the RocksDB directory).
struct Subject {
    store: Box<dyn KeyValueBytesStore>,
    _dir: Option<TempDir>,
}

fn in_memory() -> Subject {
    Subject {
        store: Box::new(InMemoryKeyValueStore::new("kv")),
        _dir: None,
    }
}

fn rocksdb() -> Subject {
    let dir = tempfile::tempdir().unwrap();
    let store = RocksDbKeyValueStore::open("kv", &dir.path().join("kv"), &RocksDbConfig::default())
        .unwrap();
    Subject {
        store: Box::new(store),
        _dir: Some(dir),
    }
}

/// An engine's label and how to make a fresh store on it.
type Engine = (&'static str, fn() -> Subject);

const ENGINES: [Engine; 2] = [("in-memory", in_memory), ("rocksdb", rocksdb)];

fn keys(iter: Result<KeyValueIter<'_>, StoreError>) -> Vec<Vec<u8>> {
    iter.unwrap().map(|item| item.unwrap().0).collect()
}

fn fill(store: &mut dyn KeyValueBytesStore, ks: &[&[u8]]) {
    for k in ks {
        store.put(k, &[k.len() as u8]).unwrap();
    }
}

#[test]
fn reads_and_writes() {
    for (engine, make) in ENGINES {
        let mut s = make();
        let store = &mut *s.store;
        assert_eq!(store.get(b"a").unwrap(), None, "{engine}");
        store.put(b"a", b"1").unwrap();
        store.put(b"a", b"2").unwrap();
        assert_eq!(store.get(b"a").unwrap(), Some(b"2".to_vec()), "{engine}");
        assert_eq!(
            store.put_if_absent(b"a", b"3").unwrap(),
            Some(b"2".to_vec()),
            "{engine}"
        );
        assert_eq!(store.put_if_absent(b"b", b"4").unwrap(), None, "{engine}");
        assert_eq!(store.delete(b"a").unwrap(), Some(b"2".to_vec()), "{engine}");
        assert_eq!(store.delete(b"a").unwrap(), None, "{engine}");
        assert_eq!(store.get(b"b").unwrap(), Some(b"4".to_vec()), "{engine}");
        store.put(b"empty", b"").unwrap();
        assert_eq!(
            store.get(b"empty").unwrap(),
            Some(Vec::new()),
            "{engine}: an empty value is a value"
        );
        store.flush().unwrap();
        assert!(store.approximate_num_entries().unwrap() >= 1, "{engine}");
    }
}

#[test]
fn scans_follow_key_byte_order_with_inclusive_bounds() {
    for (engine, make) in ENGINES {
        let mut s = make();
        let store = &mut *s.store;
        fill(store, &[b"b", b"a", b"c", b"ab", b"d", b"\xff", b"\x00"]);
        assert_eq!(
            keys(store.all()),
            vec![
                b"\x00".to_vec(),
                b"a".to_vec(),
                b"ab".to_vec(),
                b"b".to_vec(),
                b"c".to_vec(),
                b"d".to_vec(),
                b"\xff".to_vec()
            ],
            "{engine}"
        );
        assert_eq!(
            keys(store.range(Some(b"ab"), Some(b"c"))),
            vec![b"ab".to_vec(), b"b".to_vec(), b"c".to_vec()],
            "{engine}"
        );
        assert_eq!(
            keys(store.reverse_range(Some(b"ab"), Some(b"c"))),
            vec![b"c".to_vec(), b"b".to_vec(), b"ab".to_vec()],
            "{engine}"
        );
        assert_eq!(
            keys(store.range(None, Some(b"a"))),
            vec![b"\x00".to_vec(), b"a".to_vec()],
            "{engine}"
        );
        assert_eq!(
            keys(store.range(Some(b"d"), None)),
            vec![b"d".to_vec(), b"\xff".to_vec()],
            "{engine}"
        );
        assert_eq!(
            keys(store.reverse_range(None, Some(b"a"))),
            vec![b"a".to_vec(), b"\x00".to_vec()],
            "{engine}"
        );
        assert!(
            keys(store.range(Some(b"c"), Some(b"b"))).is_empty(),
            "{engine}: an inverted range is empty"
        );
        assert_eq!(
            keys(store.prefix_scan(b"a")),
            vec![b"a".to_vec(), b"ab".to_vec()],
            "{engine}"
        );
        assert!(keys(store.prefix_scan(b"z")).is_empty(), "{engine}");
        store.delete(b"b").unwrap();
        assert_eq!(
            keys(store.range(Some(b"ab"), Some(b"c"))),
            vec![b"ab".to_vec(), b"c".to_vec()],
            "{engine}"
        );
    }
}

#[test]
fn restoring_a_changelog_rebuilds_the_same_state() {
    for (engine, make) in ENGINES {
        let mut original = make();
        let mut changelog = Vec::new();
        let mut write = |store: &mut dyn KeyValueBytesStore, key: &[u8], value: Option<&[u8]>| {
            match value {
                Some(v) => store.put(key, v).unwrap(),
                None => {
                    store.delete(key).unwrap();
                }
            }
            changelog.push(ChangelogRecord {
                key: key.to_vec(),
                value: value.map(<[u8]>::to_vec),
                timestamp: 0,
            });
        };
        for i in 0..50u8 {
            write(&mut *original.store, &[i % 7], Some(&[i]));
            if i % 5 == 0 {
                write(&mut *original.store, &[i % 3], None);
            }
        }
        let mut restored = make();
        for batch in changelog.chunks(8) {
            restored.store.restore_batch(batch).unwrap();
        }
        let all = |s: &Subject| {
            s.store
                .all()
                .unwrap()
                .map(Result::unwrap)
                .collect::<Vec<_>>()
        };
        assert_eq!(all(&restored), all(&original), "{engine}");
    }
}

#[test]
fn a_closed_store_refuses_work() {
    for (engine, make) in ENGINES {
        let mut s = make();
        s.store.put(b"a", b"1").unwrap();
        s.store.close();
        assert!(!s.store.is_open(), "{engine}");
        assert!(
            matches!(s.store.get(b"a"), Err(StoreError::Closed { .. })),
            "{engine}"
        );
    }
}

#[test]
fn rocksdb_keeps_data_across_reopen_and_reports_a_held_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv");
    let config = RocksDbConfig::default();
    let mut store = RocksDbKeyValueStore::open("kv", &path, &config).unwrap();
    store.put(b"k", b"v").unwrap();
    store.flush().unwrap();
    let locked = RocksDbKeyValueStore::open("kv", &path, &config).unwrap_err();
    assert!(matches!(locked, StoreError::Locked { .. }), "{locked}");
    store.close();
    let mut reopened = RocksDbKeyValueStore::open("kv", &path, &config).unwrap();
    assert_eq!(reopened.get(b"k").unwrap(), Some(b"v".to_vec()));
    Restorable::restore_batch(
        &mut reopened,
        &[ChangelogRecord {
            key: b"k".to_vec(),
            value: None,
            timestamp: 0,
        }],
    )
    .unwrap();
    assert_eq!(reopened.get(b"k").unwrap(), None);
}

#[test]
fn rocksdb_reports_corrupt_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv");
    let config = RocksDbConfig::default();
    let mut store = RocksDbKeyValueStore::open("kv", &path, &config).unwrap();
    store.put(b"k", b"v").unwrap();
    store.close();
    let current = std::fs::read_to_string(path.join("CURRENT")).unwrap();
    std::fs::write(path.join(current.trim()), b"this is not a manifest").unwrap();
    let error = RocksDbKeyValueStore::open("kv", &path, &config).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
}

#[test]
fn an_options_hook_sees_every_store() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&seen);
    let config = RocksDbConfig::default().with_options_hook(move |store, options| {
        log.lock().unwrap().push(store.to_owned());
        options.set_max_write_buffer_number(3);
    });
    let dir = tempfile::tempdir().unwrap();
    RocksDbKeyValueStore::open("first", &dir.path().join("a"), &config).unwrap();
    RocksDbKeyValueStore::open("second", &dir.path().join("b"), &config).unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["first".to_owned(), "second".to_owned()]
    );
}

#[derive(Clone, Debug)]
enum Op {
    Put(u8, u8),
    Delete(u8),
    PutIfAbsent(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..16, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        (0u8..16).prop_map(Op::Delete),
        (0u8..16, any::<u8>()).prop_map(|(k, v)| Op::PutIfAbsent(k, v)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn engines_agree_with_a_btreemap(ops in proptest::collection::vec(op(), 1..80), lo in 0u8..16, hi in 0u8..16) {
        for (engine, make) in ENGINES {
            let mut s = make();
            let store = &mut *s.store;
            let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            for op in &ops {
                match *op {
                    Op::Put(k, v) => {
                        store.put(&[k], &[v]).unwrap();
                        model.insert(vec![k], vec![v]);
                    }
                    Op::Delete(k) => {
                        prop_assert_eq!(store.delete(&[k]).unwrap(), model.remove(&vec![k]), "{}", engine);
                    }
                    Op::PutIfAbsent(k, v) => {
                        let expected = model.get(&vec![k]).cloned();
                        if expected.is_none() {
                            model.insert(vec![k], vec![v]);
                        }
                        prop_assert_eq!(store.put_if_absent(&[k], &[v]).unwrap(), expected, "{}", engine);
                    }
                }
            }
            let all: Vec<_> = store.all().unwrap().map(Result::unwrap).collect();
            let expected: Vec<_> = model.clone().into_iter().collect();
            prop_assert_eq!(all, expected, "{}", engine);
            let range: Vec<_> = store.range(Some(&[lo]), Some(&[hi])).unwrap().map(Result::unwrap).collect();
            let expected: Vec<_> = if lo <= hi {
                model.range(vec![lo]..=vec![hi]).map(|(k, v)| (k.clone(), v.clone())).collect()
            } else {
                Vec::new()
            };
            prop_assert_eq!(&range, &expected, "{}", engine);
            let mut reversed: Vec<_> = store.reverse_range(Some(&[lo]), Some(&[hi])).unwrap().map(Result::unwrap).collect();
            reversed.reverse();
            prop_assert_eq!(reversed, expected, "{}", engine);
        }
    }
}
