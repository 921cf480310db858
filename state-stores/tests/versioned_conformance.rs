//! One conformance suite for versioned key-value stores, run against both engines, and a
//! restore test: a store rebuilt from another's changelog answers every read the same.

use std::cell::RefCell;
use std::rc::Rc;

use state_stores::{
    ChangelogRecord, ChangelogSink, InMemoryVersionedStore, LoggedVersionedStore, RocksDbConfig,
    RocksDbVersionedStore, SharedSink, StateStore, VersionedBytesStore, VersionedPut,
    VersionedRecord,
};
use tempfile::TempDir;

/// A store under test and whatever must live as long as it (the RocksDB directory).
struct Subject {
    store: Box<dyn VersionedBytesStore>,
    _dir: Option<TempDir>,
}

fn in_memory(retention: i64) -> Subject {
    Subject {
        store: Box::new(InMemoryVersionedStore::new("v", retention)),
        _dir: None,
    }
}

fn rocksdb(retention: i64) -> Subject {
    let dir = tempfile::tempdir().unwrap();
    let store = RocksDbVersionedStore::open(
        "v",
        &dir.path().join("v"),
        retention,
        &RocksDbConfig::default(),
    )
    .unwrap();
    Subject {
        store: Box::new(store),
        _dir: Some(dir),
    }
}

type Engine = (&'static str, fn(i64) -> Subject);

const ENGINES: [Engine; 2] = [("in-memory", in_memory), ("rocksdb", rocksdb)];

fn rec(value: &[u8], timestamp: i64) -> Option<VersionedRecord> {
    Some(VersionedRecord {
        value: value.to_vec(),
        timestamp,
    })
}

#[test]
fn reads_as_of_a_time_find_the_version_valid_then() {
    for (engine, make) in ENGINES {
        let mut s = make(1_000);
        let store = &mut *s.store;
        assert_eq!(store.get(b"k").unwrap(), None, "{engine}");
        assert_eq!(
            store.put(b"k", Some(&b"a"[..]), 10).unwrap(),
            VersionedPut::Latest
        );
        assert_eq!(
            store.put(b"k", Some(&b"b"[..]), 20).unwrap(),
            VersionedPut::Latest
        );
        assert_eq!(store.get(b"k").unwrap(), rec(b"b", 20), "{engine}");
        assert_eq!(
            store.get_as_of(&b"k"[..], 9).unwrap(),
            None,
            "{engine}: before the first"
        );
        assert_eq!(
            store.get_as_of(&b"k"[..], 10).unwrap(),
            rec(b"a", 10),
            "{engine}"
        );
        assert_eq!(
            store.get_as_of(&b"k"[..], 19).unwrap(),
            rec(b"a", 10),
            "{engine}"
        );
        assert_eq!(
            store.get_as_of(&b"k"[..], 20).unwrap(),
            rec(b"b", 20),
            "{engine}"
        );
        assert_eq!(
            store.get_as_of(&b"k"[..], 500).unwrap(),
            rec(b"b", 20),
            "{engine}"
        );
        // Keys that are prefixes of each other do not mix.
        store.put(b"k\x00", Some(&b"z"[..]), 15).unwrap();
        store.put(b"", Some(&b"e"[..]), 15).unwrap();
        assert_eq!(
            store.get_as_of(&b"k"[..], 16).unwrap(),
            rec(b"a", 10),
            "{engine}"
        );
        assert_eq!(store.get(b"k\x00").unwrap(), rec(b"z", 15), "{engine}");
        assert_eq!(store.get(b"").unwrap(), rec(b"e", 15), "{engine}");
        assert_eq!(store.get_as_of(b"k\x00", 14).unwrap(), None, "{engine}");
        assert_eq!(store.observed_stream_time(), 20, "{engine}");
        assert_eq!(store.history_retention(), 1_000, "{engine}");
    }
}

#[test]
fn out_of_order_writes_go_into_history_and_leave_the_latest() {
    for (engine, make) in ENGINES {
        let mut s = make(1_000);
        let store = &mut *s.store;
        store.put(b"k", Some(&b"a"[..]), 10).unwrap();
        store.put(b"k", Some(&b"c"[..]), 30).unwrap();
        assert_eq!(
            store.put(b"k", Some(&b"b"[..]), 20).unwrap(),
            VersionedPut::Historical,
            "{engine}"
        );
        assert_eq!(store.get(b"k").unwrap(), rec(b"c", 30), "{engine}");
        assert_eq!(
            store.get_as_of(&b"k"[..], 25).unwrap(),
            rec(b"b", 20),
            "{engine}"
        );
        // The same timestamp replaces a version.
        assert_eq!(
            store.put(b"k", Some(&b"c2"[..]), 30).unwrap(),
            VersionedPut::Latest,
            "{engine}"
        );
        assert_eq!(store.get(b"k").unwrap(), rec(b"c2", 30), "{engine}");
        store.put(b"k", Some(&b"b2"[..]), 20).unwrap();
        assert_eq!(
            store.get_as_of(&b"k"[..], 29).unwrap(),
            rec(b"b2", 20),
            "{engine}"
        );
    }
}

#[test]
fn tombstones_end_a_value_and_delete_returns_it() {
    for (engine, make) in ENGINES {
        let mut s = make(1_000);
        let store = &mut *s.store;
        store.put(b"k", Some(&b"a"[..]), 10).unwrap();
        assert_eq!(
            store.delete(&b"k"[..], 20).unwrap(),
            rec(b"a", 10),
            "{engine}"
        );
        assert_eq!(store.get(b"k").unwrap(), None, "{engine}");
        assert_eq!(
            store.get_as_of(&b"k"[..], 15).unwrap(),
            rec(b"a", 10),
            "{engine}"
        );
        assert_eq!(store.get_as_of(&b"k"[..], 20).unwrap(), None, "{engine}");
        store.put(b"k", Some(&b"b"[..]), 30).unwrap();
        assert_eq!(store.get_as_of(&b"k"[..], 25).unwrap(), None, "{engine}");
        assert_eq!(store.get(b"k").unwrap(), rec(b"b", 30), "{engine}");
        assert_eq!(store.delete(b"none", 30).unwrap(), None, "{engine}");
        assert_eq!(
            store.put(b"e", Some(&b""[..]), 30).unwrap(),
            VersionedPut::Latest
        );
        assert_eq!(
            store.get(b"e").unwrap(),
            rec(b"", 30),
            "{engine}: an empty value is a value"
        );
    }
}

#[test]
fn history_older_than_retention_is_gone_but_the_latest_stays() {
    for (engine, make) in ENGINES {
        let mut s = make(100);
        let store = &mut *s.store;
        store.put(b"k", Some(&b"a"[..]), 0).unwrap();
        store.put(b"k", Some(&b"b"[..]), 50).unwrap();
        store.put(b"old", Some(&b"x"[..]), 60).unwrap();
        store.put(b"other", Some(&b"c"[..]), 200).unwrap();
        // Stream time 200: reads as of 100 and later see the history; older ones only see
        // the latest version, if it is old enough (the latest version never expires).
        assert_eq!(
            store.get_as_of(b"k", 100).unwrap(),
            rec(b"b", 50),
            "{engine}"
        );
        assert_eq!(
            store.get_as_of(b"k", 99).unwrap(),
            rec(b"b", 50),
            "{engine}"
        );
        assert_eq!(store.get_as_of(b"k", 49).unwrap(), None, "{engine}");
        assert_eq!(store.get(b"old").unwrap(), rec(b"x", 60), "{engine}");
        assert_eq!(
            store.get_as_of(b"old", 70).unwrap(),
            rec(b"x", 60),
            "{engine}"
        );
        // A write older than retention is refused; one exactly at it is kept.
        assert_eq!(
            store.put(b"k", Some(&b"late"[..]), 99).unwrap(),
            VersionedPut::Expired,
            "{engine}"
        );
        assert_eq!(
            store.put(b"k", Some(&b"edge"[..]), 100).unwrap(),
            VersionedPut::Latest,
            "{engine}"
        );
        assert_eq!(
            store.get_as_of(b"k", 100).unwrap(),
            rec(b"edge", 100),
            "{engine}"
        );
        assert_eq!(store.get(b"k").unwrap(), rec(b"edge", 100), "{engine}");
        // Beyond retention, and the latest version is newer: nothing.
        assert_eq!(store.get_as_of(b"k", 99).unwrap(), None, "{engine}");
        // A newer write to a key drops the versions no read can reach.
        store.put(b"k", Some(&b"d"[..]), 400).unwrap();
        store.put(b"k", Some(&b"e"[..]), 500).unwrap();
        assert_eq!(
            store.get_as_of(&b"k"[..], 450).unwrap(),
            rec(b"d", 400),
            "{engine}"
        );
        assert_eq!(store.get_as_of(&b"k"[..], 399).unwrap(), None, "{engine}");
        store.flush().unwrap();
    }
}

#[test]
fn a_closed_store_refuses_work() {
    for (engine, make) in ENGINES {
        let mut s = make(100);
        s.store.put(b"k", Some(&b"a"[..]), 1).unwrap();
        s.store.close();
        assert!(!s.store.is_open(), "{engine}");
        assert!(s.store.get(b"k").is_err(), "{engine}");
        assert!(s.store.put(b"k", Some(&b"b"[..]), 2).is_err(), "{engine}");
    }
}

#[test]
fn a_reopened_rocksdb_store_keeps_its_versions_and_stream_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v");
    let config = RocksDbConfig::default();
    {
        let mut store = RocksDbVersionedStore::open("v", &path, 100, &config).unwrap();
        store.put(b"k", Some(&b"a"[..]), 10).unwrap();
        store.put(b"k", Some(&b"b"[..]), 300).unwrap();
        store.close();
    }
    let mut store = RocksDbVersionedStore::open("v", &path, 100, &config).unwrap();
    assert_eq!(store.observed_stream_time(), 300);
    assert_eq!(store.get(b"k").unwrap(), rec(b"b", 300));
    assert_eq!(
        store.put(b"k", Some(&b"x"[..]), 150).unwrap(),
        VersionedPut::Expired
    );
}

#[derive(Default)]
struct Recorder(Vec<ChangelogRecord>);

impl ChangelogSink for Recorder {
    fn send(&mut self, _: &str, key: &[u8], value: Option<&[u8]>) {
        self.0.push(ChangelogRecord {
            key: key.to_vec(),
            value: value.map(<[u8]>::to_vec),
            timestamp: 0,
        });
    }
}

#[test]
fn a_store_restored_from_the_changelog_answers_the_same() {
    for (engine, make) in ENGINES {
        let recorder = Rc::new(RefCell::new(Recorder::default()));
        let sink: SharedSink = recorder.clone();
        let mut s = make(1_000);
        let mut logged =
            LoggedVersionedStore::new(std::mem::replace(&mut s.store, in_memory(0).store), sink);
        logged.put(b"k", Some(&b"a"[..]), 10).unwrap();
        logged.put(b"k", Some(&b"c"[..]), 30).unwrap();
        logged.put(b"k", Some(&b"b"[..]), 20).unwrap();
        logged.delete(&b"j"[..], 25).unwrap();
        logged.put(b"j", Some(&b"x"[..]), 5).unwrap();
        logged.put(b"k", Some(&b"expired"[..]), -2_000).unwrap();
        assert_eq!(
            recorder.borrow().0.len(),
            5,
            "{engine}: the expired write is not logged"
        );
        for (target, make_target) in ENGINES {
            let mut restored = make_target(1_000);
            let records = recorder.borrow().0.clone();
            restored.store.restore_batch(&records).unwrap();
            for (key, t) in [
                (&b"k"[..], 9),
                (&b"k"[..], 10),
                (&b"k"[..], 25),
                (&b"k"[..], 99),
                (&b"j"[..], 5),
                (&b"j"[..], 25),
            ] {
                assert_eq!(
                    restored.store.get_as_of(key, t).unwrap(),
                    logged.get_as_of(key, t).unwrap(),
                    "{engine} -> {target} at {t}"
                );
            }
            assert_eq!(restored.store.get(b"k").unwrap(), rec(b"c", 30), "{target}");
            assert_eq!(restored.store.observed_stream_time(), 30, "{target}");
        }
        let bad = [ChangelogRecord {
            key: b"k".to_vec(),
            value: Some(vec![1, 2]),
            timestamp: 0,
        }];
        assert!(make(10).store.restore_batch(&bad).is_err(), "{engine}");
    }
}
