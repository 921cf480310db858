//! One conformance suite for session stores, written once and run against both engines, plus
//! RocksDB-specific checks.

use state_stores::{
    session_changelog_key, split_session_changelog_key, ChangelogRecord, InMemorySessionStore,
    RocksDbConfig, RocksDbSessionStore, SessionBytesStore, SessionEntry, StoreError,
};
use tempfile::TempDir;

/// Opens session stores of one engine; a RocksDB factory owns the directory of its stores.
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
    fn open(&self, name: &str, retention: i64) -> Box<dyn SessionBytesStore> {
        match &self.dir {
            None => Box::new(InMemorySessionStore::new(name, retention)),
            Some(dir) => {
                let path = dir.path().join(name);
                Box::new(
                    RocksDbSessionStore::open(name, &path, retention, &RocksDbConfig::default())
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

/// Keys where one is a prefix of another, so that engine keys interleave.
const KEYS: [&[u8]; 5] = [b"", b"a", b"a\x00", b"ab", b"b"];

/// `(key, start, end)` of each session.
fn spans(entries: &[SessionEntry]) -> Vec<(Vec<u8>, i64, i64)> {
    entries
        .iter()
        .map(|e| (e.key.clone(), e.start, e.end))
        .collect()
}

fn of(key: &[u8], sessions: &[(i64, i64)]) -> Vec<(Vec<u8>, i64, i64)> {
    sessions
        .iter()
        .map(|&(s, e)| (key.to_vec(), s, e))
        .collect()
}

fn reversed(mut entries: Vec<SessionEntry>) -> Vec<SessionEntry> {
    entries.reverse();
    entries
}

/// The same sessions for every key, across segments, with shared ends and shared starts.
const SESSIONS: [(i64, i64); 6] = [
    (-MINUTE, -MINUTE + 10),
    (0, 10),
    (5, 10),
    (20, 30),
    (40, 40),
    (50, 5 * MINUTE),
];

fn fill(store: &mut dyn SessionBytesStore) -> Vec<SessionEntry> {
    let mut written = Vec::new();
    for (start, end) in SESSIONS {
        for key in KEYS.iter().rev() {
            let value = [key, &start.to_be_bytes()[..], &end.to_be_bytes()[..]].concat();
            assert!(store.put(key, start, end, Some(&value)).unwrap());
            written.push(SessionEntry {
                key: key.to_vec(),
                start,
                end,
                value,
            });
        }
    }
    written.sort_by(|a, b| (&a.key, a.end, a.start).cmp(&(&b.key, b.end, b.start)));
    written
}

fn results_are_ordered_by_key_end_then_start(f: &Factory) {
    let mut store = f.open("s", 60 * MINUTE);
    let written = fill(&mut *store);
    assert_eq!(store.all().unwrap(), written);
    assert_eq!(
        store.observed_stream_time(),
        5 * MINUTE,
        "the largest end put"
    );
    assert_eq!(store.retention(), 60 * MINUTE);
    let a = spans(&store.fetch(b"a").unwrap());
    assert_eq!(
        a,
        of(
            b"a",
            &[
                (-MINUTE, -MINUTE + 10),
                (0, 10),
                (5, 10),
                (20, 30),
                (40, 40),
                (50, 5 * MINUTE)
            ]
        )
    );
    assert!(store.approximate_num_entries().unwrap() >= 1);
    if !f.persistent() {
        assert_eq!(
            store.approximate_num_entries().unwrap(),
            written.len() as u64
        );
    }
}

fn find_sessions_returns_the_overlapping_ones(f: &Factory) {
    let mut store = f.open("s", 60 * MINUTE);
    fill(&mut *store);
    let find = |earliest_end, latest_start| {
        spans(
            &store
                .find_sessions(b"a", earliest_end, latest_start)
                .unwrap(),
        )
    };
    assert_eq!(find(25, 45), of(b"a", &[(20, 30), (40, 40)]));
    assert_eq!(
        find(30, 40),
        of(b"a", &[(20, 30), (40, 40)]),
        "both bounds inclusive"
    );
    assert!(find(31, 39).is_empty());
    assert_eq!(find(10, 10), of(b"a", &[(0, 10), (5, 10)]));
    assert_eq!(
        find(11, 50),
        of(b"a", &[(20, 30), (40, 40), (50, 5 * MINUTE)])
    );
    assert_eq!(
        find(1_000, 1_000),
        of(b"a", &[(50, 5 * MINUTE)]),
        "a long session overlaps a point inside it"
    );
    assert_eq!(find(i64::MIN, -1), of(b"a", &[(-MINUTE, -MINUTE + 10)]));
    assert_eq!(
        store.fetch_session(b"a", 5, 10).unwrap(),
        Some([&b"a"[..], &5i64.to_be_bytes(), &10i64.to_be_bytes()].concat())
    );
    assert_eq!(store.fetch_session(b"a", 6, 10).unwrap(), None);
    assert_eq!(store.fetch_session(b"zz", 5, 10).unwrap(), None);
    assert_eq!(
        spans(&store.find_sessions(b"", 40, 40).unwrap()),
        of(b"", &[(40, 40)]),
        "the empty key is a key"
    );
}

fn key_range_search_has_inclusive_and_open_bounds(f: &Factory) {
    let mut store = f.open("s", 60 * MINUTE);
    fill(&mut *store);
    let keys = |from: Option<&[u8]>, to: Option<&[u8]>| {
        let found = store.find_sessions_in_key_range(from, to, 40, 50).unwrap();
        assert!(found
            .chunks(2)
            .all(|pair| pair.len() == 2 && pair[0].start == 40 && pair[1].start == 50));
        found
            .iter()
            .step_by(2)
            .map(|e| e.key.clone())
            .collect::<Vec<_>>()
    };
    let all: Vec<Vec<u8>> = KEYS.iter().map(|k| k.to_vec()).collect();
    assert_eq!(keys(Some(b"a"), Some(b"ab")), all[1..4].to_vec());
    assert_eq!(keys(Some(b"a\x00"), None), all[2..].to_vec());
    assert_eq!(keys(None, Some(b"a")), all[..2].to_vec());
    assert!(keys(Some(b"a\x01"), Some(b"aa")).is_empty());
    assert!(
        keys(Some(b"b"), Some(b"a")).is_empty(),
        "an inverted key range is empty"
    );
}

fn backward_variants_reverse_the_order(f: &Factory) {
    let mut store = f.open("s", 60 * MINUTE);
    fill(&mut *store);
    for (earliest_end, latest_start) in [(i64::MIN, i64::MAX), (10, 40), (31, 39)] {
        let forward = store
            .find_sessions(b"a", earliest_end, latest_start)
            .unwrap();
        assert_eq!(
            store
                .backward_find_sessions(b"a", earliest_end, latest_start)
                .unwrap(),
            reversed(forward)
        );
    }
}

fn deletes_and_overwrites(f: &Factory) {
    let mut store = f.open("s", 60 * MINUTE);
    assert!(store.put(b"k", 0, 10, Some(b"1")).unwrap());
    assert!(store.put(b"k", 0, 10, Some(b"2")).unwrap());
    assert!(store.put(b"k", 5, 10, Some(b"")).unwrap());
    assert_eq!(
        store.fetch_session(b"k", 0, 10).unwrap(),
        Some(b"2".to_vec())
    );
    assert_eq!(
        store.fetch_session(b"k", 5, 10).unwrap(),
        Some(Vec::new()),
        "an empty value is a value"
    );
    assert!(store.put(b"k", 0, 10, None).unwrap());
    assert!(
        store.put(b"k", 0, 30, None).unwrap(),
        "removing a missing session is fine"
    );
    assert_eq!(spans(&store.fetch(b"k").unwrap()), of(b"k", &[(5, 10)]));
    assert_eq!(
        store.observed_stream_time(),
        30,
        "a removal is a put: it advances stream time"
    );
}

fn retention_follows_session_ends(f: &Factory) {
    let mut store = f.open("s", MINUTE);
    assert_eq!(store.observed_stream_time(), i64::MIN);
    for (start, end) in [
        (0, 10),
        (0, 59_999),
        (60_000, 89_999),
        (10, 90_000),
        (100_000, 120_000),
    ] {
        assert!(store.put(b"k", start, end, Some(b"v")).unwrap());
    }
    assert!(store.put(b"k", 150_000, 150_000, Some(b"v")).unwrap());
    // Everything ending before 150 000 - 60 000 = 90 000 has expired.
    assert!(
        !store.put(b"k", 80_000, 89_999, Some(b"late")).unwrap(),
        "a put into an expired session is dropped"
    );
    assert!(!store.put(b"k", 0, 10, None).unwrap());
    assert!(
        store.put(b"k", 0, 90_000, Some(b"w")).unwrap(),
        "a session ending just inside retention is kept"
    );
    assert_eq!(
        store.fetch_session(b"k", 60_000, 89_999).unwrap(),
        None,
        "expired but in a live segment: hidden"
    );
    assert_eq!(
        spans(&store.fetch(b"k").unwrap()),
        of(
            b"k",
            &[
                (0, 90_000),
                (10, 90_000),
                (100_000, 120_000),
                (150_000, 150_000)
            ]
        )
    );
    assert_eq!(
        spans(&store.find_sessions(b"k", 0, 0).unwrap()),
        of(b"k", &[(0, 90_000)])
    );
    if !f.persistent() {
        assert_eq!(store.approximate_num_entries().unwrap(), 4);
    }
    assert!(store
        .put(b"other", 10 * MINUTE, 10 * MINUTE, Some(b"x"))
        .unwrap());
    assert_eq!(
        spans(&store.all().unwrap()),
        of(b"other", &[(10 * MINUTE, 10 * MINUTE)])
    );
}

fn restoring_the_changelog_rebuilds_the_same_contents(f: &Factory) {
    let mut original = f.open("original", MINUTE);
    let mut changelog = Vec::new();
    for i in 0..120i64 {
        let key = KEYS[(i % 5) as usize];
        let start = (i * 7_919) % 50_000 + i * 2_000 - 30_000;
        let end = start + (i * 31) % 20_000;
        let value = (i % 4 != 0).then(|| i.to_be_bytes().to_vec());
        original.put(key, start, end, value.as_deref()).unwrap();
        changelog.push(ChangelogRecord {
            key: session_changelog_key(key, start, end),
            value,
            timestamp: 0,
        });
    }
    assert_eq!(
        split_session_changelog_key(&changelog[1].key),
        Some((&b"a"[..], -20_081, -20_050))
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
            key: session_changelog_key(b"k", 0, i64::MAX - 1),
            value: Some(b"v".to_vec()),
            timestamp: 0,
        },
        ChangelogRecord {
            key: b"fifteen bytes!!".to_vec(),
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
    let mut store = f.open("s", MINUTE);
    let written = fill(&mut *store);
    store.flush().unwrap();
    store.close();
    let mut store = f.open("s", MINUTE);
    let retained: Vec<SessionEntry> = written
        .into_iter()
        .filter(|e| e.end >= 4 * MINUTE)
        .collect();
    assert_eq!(store.all().unwrap(), retained);
    assert_eq!(store.observed_stream_time(), 5 * MINUTE);
    assert!(
        !store.put(b"a", 0, 10, Some(b"late")).unwrap(),
        "expiry resumes where it was"
    );
    assert!(store.put(b"a", 0, 6 * MINUTE, Some(b"on")).unwrap());
    store.close();
    let store = f.open("s", MINUTE);
    assert_eq!(
        store.fetch_session(b"a", 0, 6 * MINUTE).unwrap(),
        Some(b"on".to_vec()),
        "closing flushes"
    );
}

fn a_closed_store_refuses_work(f: &Factory) {
    let mut store = f.open("s", MINUTE);
    store.put(b"k", 0, 0, Some(b"v")).unwrap();
    store.close();
    assert!(!store.is_open());
    assert!(matches!(
        store.fetch_session(b"k", 0, 0),
        Err(StoreError::Closed { .. })
    ));
    assert!(matches!(
        store.put(b"k", 0, 0, Some(b"v")),
        Err(StoreError::Closed { .. })
    ));
    assert!(matches!(
        store.find_sessions(b"k", 0, 0),
        Err(StoreError::Closed { .. })
    ));
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
    results_are_ordered_by_key_end_then_start,
    find_sessions_returns_the_overlapping_ones,
    key_range_search_has_inclusive_and_open_bounds,
    backward_variants_reverse_the_order,
    deletes_and_overwrites,
    retention_follows_session_ends,
    restoring_the_changelog_rebuilds_the_same_contents,
    reopening_keeps_data_and_stream_time,
    a_closed_store_refuses_work,
);
