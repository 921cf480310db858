//! One conformance suite for window stores, written once and run against both engines, plus
//! RocksDB-specific checks (reopen, dropped segments on disk).

use rocksdb::DB;
use state_stores::{
    split_window_changelog_key, window_changelog_key, ChangelogRecord, InMemoryWindowStore,
    RocksDbConfig, RocksDbWindowStore, StateStore, StoreError, WindowBytesStore, WindowEntry,
};
use tempfile::TempDir;

/// Opens window stores of one engine; a RocksDB factory owns the directory of its stores.
struct Factory {
    dir: Option<TempDir>,
}

impl Factory {
    fn in_memory() -> Self {
        Self { dir: None }
    }

    fn rocksdb() -> Self {
        Self {
            dir: Some(tempfile::tempdir().unwrap()),
        }
    }

    /// Opens the store `name`; for RocksDB, reopening a name finds its data again.
    fn open(&self, name: &str, retention: i64) -> Box<dyn WindowBytesStore> {
        match &self.dir {
            None => Box::new(InMemoryWindowStore::new(name, retention)),
            Some(dir) => {
                let path = dir.path().join(name);
                Box::new(
                    RocksDbWindowStore::open(name, &path, retention, &RocksDbConfig::default())
                        .unwrap(),
                )
            }
        }
    }

    fn persistent(&self) -> bool {
        self.dir.is_some()
    }
}

const MINUTE: i64 = 60_000;

fn entry(key: &[u8], window_start: i64, value: &[u8]) -> WindowEntry {
    WindowEntry {
        key: key.to_vec(),
        window_start,
        value: value.to_vec(),
    }
}

fn starts(entries: &[WindowEntry]) -> Vec<(Vec<u8>, i64)> {
    entries
        .iter()
        .map(|e| (e.key.clone(), e.window_start))
        .collect()
}

fn reversed(mut entries: Vec<WindowEntry>) -> Vec<WindowEntry> {
    entries.reverse();
    entries
}

/// Keys where one is a prefix of another, so that engine keys interleave.
const KEYS: [&[u8]; 5] = [b"", b"a", b"a\x00", b"ab", b"b"];

/// Each key gets windows in three segments (negative times included).
fn fill(store: &mut dyn WindowBytesStore) -> Vec<WindowEntry> {
    let mut written = Vec::new();
    for start in [-MINUTE, 0, 5 * MINUTE, 5 * MINUTE + 1] {
        for key in KEYS.iter().rev() {
            let value = [key, &start.to_be_bytes()[..]].concat();
            assert!(store.put(key, start, Some(&value)).unwrap());
            written.push(entry(key, start, &value));
        }
    }
    written.sort_by(|a, b| (&a.key, a.window_start).cmp(&(&b.key, b.window_start)));
    written
}

fn results_are_ordered_by_key_then_start(f: &Factory) {
    let mut store = f.open("w", 60 * MINUTE);
    let written = fill(&mut *store);
    assert_eq!(store.all().unwrap(), written);
    assert_eq!(
        store
            .fetch_key_range(None, None, i64::MIN, i64::MAX)
            .unwrap(),
        written
    );
    assert_eq!(store.observed_stream_time(), 5 * MINUTE + 1);
    assert_eq!(store.retention(), 60 * MINUTE);
    assert!(store.approximate_num_entries().unwrap() >= 1);
    if !f.persistent() {
        assert_eq!(
            store.approximate_num_entries().unwrap(),
            written.len() as u64
        );
    }
}

fn fetch_by_key_and_time_range_has_inclusive_bounds(f: &Factory) {
    let mut store = f.open("w", 60 * MINUTE);
    fill(&mut *store);
    assert_eq!(
        store.fetch(b"a", 0).unwrap(),
        Some([&b"a"[..], &0i64.to_be_bytes()].concat())
    );
    assert_eq!(store.fetch(b"a", 1).unwrap(), None);
    assert_eq!(store.fetch(b"zz", 0).unwrap(), None);
    let a = |from, to| starts(&store.fetch_range(b"a", from, to).unwrap());
    let a_at = |ts: &[i64]| ts.iter().map(|&t| (b"a".to_vec(), t)).collect::<Vec<_>>();
    assert_eq!(
        a(i64::MIN, i64::MAX),
        a_at(&[-MINUTE, 0, 5 * MINUTE, 5 * MINUTE + 1])
    );
    assert_eq!(
        a(-MINUTE, 5 * MINUTE),
        a_at(&[-MINUTE, 0, 5 * MINUTE]),
        "both ends inclusive"
    );
    assert_eq!(a(-MINUTE + 1, 5 * MINUTE - 1), a_at(&[0]));
    assert_eq!(a(0, 0), a_at(&[0]));
    assert!(a(1, MINUTE).is_empty());
    assert!(
        a(5 * MINUTE, 0).is_empty(),
        "an inverted time range is empty"
    );
    assert_eq!(
        starts(&store.fetch_range(b"", 0, 0).unwrap()),
        vec![(Vec::new(), 0)],
        "the empty key is a key"
    );
}

fn key_range_fetch_has_inclusive_and_open_bounds(f: &Factory) {
    let mut store = f.open("w", 60 * MINUTE);
    fill(&mut *store);
    let keys = |from: Option<&[u8]>, to: Option<&[u8]>, t0, t1| {
        let found = store.fetch_key_range(from, to, t0, t1).unwrap();
        let mut keys: Vec<Vec<u8>> = found.iter().map(|e| e.key.clone()).collect();
        keys.dedup();
        keys
    };
    let all: Vec<Vec<u8>> = KEYS.iter().map(|k| k.to_vec()).collect();
    assert_eq!(keys(Some(b"a"), Some(b"ab"), 0, 0), all[1..4].to_vec());
    assert_eq!(keys(Some(b"a\x00"), None, 0, 0), all[2..].to_vec());
    assert_eq!(keys(None, Some(b"a"), 0, 0), all[..2].to_vec());
    assert_eq!(
        keys(Some(b"a\x01"), Some(b"aa"), 0, 0),
        Vec::<Vec<u8>>::new()
    );
    assert!(
        keys(Some(b"b"), Some(b"a"), i64::MIN, i64::MAX).is_empty(),
        "an inverted key range is empty"
    );
    let window = store
        .fetch_key_range(Some(b"a"), Some(b"b"), 0, 5 * MINUTE)
        .unwrap();
    assert_eq!(window.len(), 4 * 2);
    assert!(window
        .iter()
        .all(|e| e.window_start == 0 || e.window_start == 5 * MINUTE));
}

fn backward_variants_reverse_the_order(f: &Factory) {
    let mut store = f.open("w", 60 * MINUTE);
    fill(&mut *store);
    for (from, to) in [(i64::MIN, i64::MAX), (0, 5 * MINUTE), (1, 2)] {
        let forward = store.fetch_range(b"a", from, to).unwrap();
        assert_eq!(
            store.backward_fetch_range(b"a", from, to).unwrap(),
            reversed(forward)
        );
        let forward = store
            .fetch_key_range(Some(b"a"), Some(b"b"), from, to)
            .unwrap();
        assert_eq!(
            store
                .backward_fetch_key_range(Some(b"a"), Some(b"b"), from, to)
                .unwrap(),
            reversed(forward)
        );
    }
    let all = store.all().unwrap();
    assert_eq!(
        store
            .backward_fetch_key_range(None, None, i64::MIN, i64::MAX)
            .unwrap(),
        reversed(all)
    );
}

fn deletes_and_overwrites(f: &Factory) {
    let mut store = f.open("w", 60 * MINUTE);
    assert!(store.put(b"k", 10, Some(b"1")).unwrap());
    assert!(store.put(b"k", 10, Some(b"2")).unwrap());
    assert!(store.put(b"k", 20, Some(b"")).unwrap());
    assert_eq!(store.fetch(b"k", 10).unwrap(), Some(b"2".to_vec()));
    assert_eq!(
        store.fetch(b"k", 20).unwrap(),
        Some(Vec::new()),
        "an empty value is a value"
    );
    assert!(store.put(b"k", 10, None).unwrap());
    assert!(
        store.put(b"k", 30, None).unwrap(),
        "deleting a missing window is fine"
    );
    assert_eq!(store.fetch(b"k", 10).unwrap(), None);
    assert_eq!(store.all().unwrap(), vec![entry(b"k", 20, b"")]);
    assert_eq!(
        store.observed_stream_time(),
        30,
        "a delete is a put: it advances stream time"
    );
}

fn retention_expires_windows_and_drops_segments(f: &Factory) {
    // Retention of one minute: segments one minute wide.
    let mut store = f.open("w", MINUTE);
    assert_eq!(store.observed_stream_time(), i64::MIN);
    for start in [0, 30_000, 59_999, 60_000, 89_999, 90_000, 120_000] {
        assert!(store.put(b"k", start, Some(b"v")).unwrap());
    }
    assert!(store.put(b"k", 150_000, Some(b"v")).unwrap());
    assert_eq!(store.observed_stream_time(), 150_000);
    // Everything before 150 000 - 60 000 = 90 000 has expired.
    assert!(
        !store.put(b"k", 89_999, Some(b"late")).unwrap(),
        "a put into an expired window is dropped"
    );
    assert!(!store.put(b"k", 0, None).unwrap());
    assert!(
        store.put(b"k", 90_000, Some(b"w")).unwrap(),
        "a window just inside retention is kept"
    );
    assert_eq!(store.fetch(b"k", 89_999).unwrap(), None);
    assert_eq!(
        store.fetch(b"k", 60_000).unwrap(),
        None,
        "expired but in a live segment: hidden"
    );
    assert_eq!(store.fetch(b"k", 90_000).unwrap(), Some(b"w".to_vec()));
    assert_eq!(
        starts(&store.all().unwrap()),
        vec![
            (b"k".to_vec(), 90_000),
            (b"k".to_vec(), 120_000),
            (b"k".to_vec(), 150_000)
        ]
    );
    assert_eq!(
        starts(&store.fetch_range(b"k", 0, 100_000).unwrap()),
        vec![(b"k".to_vec(), 90_000)]
    );
    if !f.persistent() {
        assert_eq!(store.approximate_num_entries().unwrap(), 3);
    }
    // Far later, everything goes.
    assert!(store.put(b"other", 10 * MINUTE, Some(b"x")).unwrap());
    assert_eq!(
        starts(&store.all().unwrap()),
        vec![(b"other".to_vec(), 10 * MINUTE)]
    );
}

fn restoring_the_changelog_rebuilds_the_same_contents(f: &Factory) {
    let mut original = f.open("original", MINUTE);
    let mut changelog = Vec::new();
    for i in 0..120i64 {
        let key = KEYS[(i % 5) as usize];
        let start = (i * 7_919) % 50_000 + i * 2_000 - 30_000;
        let value = (i % 4 != 0).then(|| i.to_be_bytes().to_vec());
        original.put(key, start, value.as_deref()).unwrap();
        changelog.push(ChangelogRecord {
            key: window_changelog_key(key, start),
            value,
            timestamp: 0,
        });
    }
    assert_eq!(
        split_window_changelog_key(&changelog[1].key),
        Some((&b"a"[..], 7_919 + 2_000 - 30_000))
    );
    let mut restored = f.open("restored", MINUTE);
    for batch in changelog.chunks(16) {
        restored.restore_batch(batch).unwrap();
    }
    assert_eq!(restored.all().unwrap(), original.all().unwrap());
    assert_eq!(
        restored.observed_stream_time(),
        original.observed_stream_time()
    );
    assert!(!original.all().unwrap().is_empty());

    let bad = [
        ChangelogRecord {
            key: window_changelog_key(b"k", i64::MAX - 1),
            value: Some(b"v".to_vec()),
            timestamp: 0,
        },
        ChangelogRecord {
            key: b"short".to_vec(),
            value: None,
            timestamp: 0,
        },
    ];
    let error = restored.restore_batch(&bad).unwrap_err();
    assert!(
        matches!(error, StoreError::BadChangelogRecord { .. }),
        "{error}"
    );
    assert_eq!(
        restored.all().unwrap(),
        original.all().unwrap(),
        "a bad batch applies nothing"
    );
}

fn reopening_keeps_data_and_stream_time(f: &Factory) {
    if !f.persistent() {
        return;
    }
    let mut store = f.open("w", MINUTE);
    let written = fill(&mut *store);
    store.flush().unwrap();
    store.close();
    let mut store = f.open("w", MINUTE);
    let retained: Vec<WindowEntry> = written
        .into_iter()
        .filter(|e| e.window_start > 4 * MINUTE)
        .collect();
    assert_eq!(store.all().unwrap(), retained);
    assert_eq!(store.observed_stream_time(), 5 * MINUTE + 1);
    assert!(
        !store.put(b"a", 0, Some(b"late")).unwrap(),
        "expiry resumes where it was"
    );
    assert!(store.put(b"a", 6 * MINUTE, Some(b"on")).unwrap());
    store.close();
    let store = f.open("w", MINUTE);
    assert_eq!(
        store.fetch(b"a", 6 * MINUTE).unwrap(),
        Some(b"on".to_vec()),
        "closing flushes"
    );
}

fn a_closed_store_refuses_work(f: &Factory) {
    let mut store = f.open("w", MINUTE);
    store.put(b"k", 0, Some(b"v")).unwrap();
    store.close();
    assert!(!store.is_open());
    assert!(matches!(
        store.fetch(b"k", 0),
        Err(StoreError::Closed { .. })
    ));
    assert!(matches!(
        store.put(b"k", 0, Some(b"v")),
        Err(StoreError::Closed { .. })
    ));
    assert!(matches!(store.all(), Err(StoreError::Closed { .. })));
}

macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod in_memory_engine {
            $(#[test] fn $test() { super::$test(&super::Factory::in_memory()); })*
        }
        mod rocksdb_engine {
            $(#[test] fn $test() { super::$test(&super::Factory::rocksdb()); })*
        }
    };
}

conformance!(
    results_are_ordered_by_key_then_start,
    fetch_by_key_and_time_range_has_inclusive_bounds,
    key_range_fetch_has_inclusive_and_open_bounds,
    backward_variants_reverse_the_order,
    deletes_and_overwrites,
    retention_expires_windows_and_drops_segments,
    restoring_the_changelog_rebuilds_the_same_contents,
    reopening_keeps_data_and_stream_time,
    a_closed_store_refuses_work,
);

/// The segment ids of every record key in the RocksDB directory (the first 8 bytes, sign bit
/// flipped back), skipping the empty metadata key.
fn segments_on_disk(path: &std::path::Path) -> Vec<i64> {
    let db = DB::open_default(path).unwrap();
    let mut ids: Vec<i64> = db
        .iterator(rocksdb::IteratorMode::Start)
        .map(|item| item.unwrap().0)
        .filter(|key| !key.is_empty())
        .map(|key| (u64::from_be_bytes(key[..8].try_into().unwrap()) ^ (1 << 63)) as i64)
        .collect();
    ids.dedup();
    ids
}

#[test]
fn rocksdb_drops_expired_segments_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w");
    let config = RocksDbConfig::default();
    let mut store = RocksDbWindowStore::open("w", &path, MINUTE, &config).unwrap();
    for i in 0..50 {
        store.put(&[i], i64::from(i) * 1_000, Some(b"v")).unwrap();
        store
            .put(&[i], MINUTE + i64::from(i) * 1_000, Some(b"v"))
            .unwrap();
    }
    store.flush().unwrap();
    store.close();
    assert_eq!(segments_on_disk(&path), vec![0, 1]);
    let mut store = RocksDbWindowStore::open("w", &path, MINUTE, &config).unwrap();
    store.put(b"k", 3 * MINUTE, Some(b"v")).unwrap();
    store.close();
    // Stream time 3 min expires everything before 2 min: segments 0 and 1 are gone.
    assert_eq!(segments_on_disk(&path), vec![3]);
}

#[test]
fn rocksdb_refuses_another_retention_and_a_held_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w");
    let config = RocksDbConfig::default();
    let mut store = RocksDbWindowStore::open("w", &path, 10 * MINUTE, &config).unwrap();
    store.put(b"k", 0, Some(b"v")).unwrap();
    let locked = RocksDbWindowStore::open("w", &path, 10 * MINUTE, &config).unwrap_err();
    assert!(matches!(locked, StoreError::Locked { .. }), "{locked}");
    store.close();
    let changed = RocksDbWindowStore::open("w", &path, 20 * MINUTE, &config).unwrap_err();
    assert!(matches!(changed, StoreError::Corrupt { .. }), "{changed}");
    // A retention with the same segment interval (at least one minute) is fine.
    assert!(RocksDbWindowStore::open("w", &path, 10 * MINUTE + 1, &config).is_ok());
}

#[test]
fn rocksdb_bounds_the_starts_it_holds_even_when_its_stream_time_record_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w");
    let config = RocksDbConfig::default();
    let mut store = RocksDbWindowStore::open("w", &path, MINUTE, &config).unwrap();
    assert_eq!(store.latest_stored_start(), i64::MIN);
    store.put(b"k", 50_000, Some(b"v")).unwrap();
    assert_eq!(store.latest_stored_start(), 50_000);
    store.close();
    // As after a crash that persisted the records but not the stream time.
    let db = DB::open_default(&path).unwrap();
    db.delete(b"").unwrap();
    db.flush().unwrap();
    drop(db);
    let store = RocksDbWindowStore::open("w", &path, MINUTE, &config).unwrap();
    assert_eq!(store.observed_stream_time(), i64::MIN);
    assert!(
        store.latest_stored_start() >= 50_000,
        "the segment on disk bounds it"
    );
    assert_eq!(store.fetch(b"k", 50_000).unwrap(), Some(b"v".to_vec()));
}
