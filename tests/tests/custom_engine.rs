//! A user's own store engine (`StoreEngine::custom`) under the runtime's record cache and
//! changelog logging: a `count` materialized on a `BTreeMap` engine written here, its writes
//! held back by the cache until a commit, logged, and restored from the changelog after a
//! restart.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use integration_tests::s;
use streams_core::state::StoreContext;
use streams_core::state_stores::{
    InMemoryKeyValueStore, InMemorySessionStore, InMemoryWindowStore, KeyValueBytesStore,
    KeyValueIter, SessionBytesStore, StateStore, WindowBytesStore,
};
use streams_core::{SessionStore, StoreError, WindowStore};
use streams_dsl::prelude::*;

/// What the engine's stores were asked to do, shared with the test.
#[derive(Default)]
struct Journal {
    opened: Vec<String>,
    puts: usize,
}

/// A key-value engine on a `BTreeMap`, keeping nothing across restarts.
struct BTreeEngine {
    journal: Arc<Mutex<Journal>>,
}

impl StoreEngineSupplier for BTreeEngine {
    fn engine_name(&self) -> &str {
        "btree"
    }

    fn key_value_store(
        &self,
        name: &str,
        ctx: &StoreContext<'_>,
    ) -> Result<Box<dyn KeyValueBytesStore>, StoreError> {
        let mut journal = self.journal.lock().unwrap();
        journal.opened.push(format!("{name}@{}", ctx.task_id));
        Ok(Box::new(BTreeStore {
            name: name.to_owned(),
            entries: BTreeMap::new(),
            journal: Arc::clone(&self.journal),
        }))
    }
}

struct BTreeStore {
    name: String,
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
    journal: Arc<Mutex<Journal>>,
}

impl BTreeStore {
    fn bounds(from: Option<&[u8]>, to: Option<&[u8]>) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        let bound = |b: Option<&[u8]>| b.map_or(Bound::Unbounded, |k| Bound::Included(k.to_vec()));
        (bound(from), bound(to))
    }
}

impl StateStore for BTreeStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn persistent(&self) -> bool {
        false
    }

    fn is_open(&self) -> bool {
        true
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn close(&mut self) {}
}

impl KeyValueBytesStore for BTreeStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.entries.get(key).cloned())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.journal.lock().unwrap().puts += 1;
        self.entries.insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.entries.remove(key))
    }

    fn range(
        &self,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
    ) -> Result<KeyValueIter<'_>, StoreError> {
        if from.zip(to).is_some_and(|(f, t)| f > t) {
            return Ok(Box::new(std::iter::empty()));
        }
        Ok(Box::new(
            self.entries
                .range(Self::bounds(from, to))
                .map(|(k, v)| Ok((k.clone(), v.clone()))),
        ))
    }

    fn reverse_range(
        &self,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
    ) -> Result<KeyValueIter<'_>, StoreError> {
        let mut entries: Vec<_> = self.range(from, to)?.collect();
        entries.reverse();
        Ok(Box::new(entries.into_iter()))
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>, StoreError> {
        let prefix = prefix.to_vec();
        Ok(Box::new(
            self.entries
                .range(prefix.clone()..)
                .take_while(move |(k, _)| k.starts_with(&prefix))
                .map(|(k, v)| Ok((k.clone(), v.clone()))),
        ))
    }

    fn approximate_num_entries(&self) -> Result<u64, StoreError> {
        Ok(self.entries.len() as u64)
    }
}

fn counted(journal: &Arc<Mutex<Journal>>) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    let engine = StoreEngine::custom(BTreeEngine {
        journal: Arc::clone(journal),
    });
    builder
        .stream::<String, String>("clicks")
        .group_by_key()
        .count_with(Materialized::named("counts").with_store_engine(engine.clone()))
        .to_stream()
        .to("counts-out");
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("engine")).unwrap();
    driver.flush_caches_after_each_record(false);
    driver
}

fn count_of(driver: &TopologyTestDriver, key: &str) -> Option<i64> {
    let store = driver.key_value_store::<String, i64>("counts").unwrap();
    store.get(&s(key)).unwrap()
}

#[test]
fn a_user_engine_sits_under_the_cache_and_the_changelog_and_is_restored_after_a_restart() {
    let journal = Arc::new(Mutex::new(Journal::default()));
    let driver = counted(&journal);
    assert_eq!(journal.lock().unwrap().opened, vec![s("counts@0_0")]);
    let clicks = driver.input_topic::<String, String>("clicks").unwrap();
    for key in ["ann", "bob", "ann", "ann"] {
        clicks.pipe_key_value(s(key), s("/")).unwrap();
    }
    // The cache holds the counts: the engine has seen no write, a read sees them.
    assert_eq!(journal.lock().unwrap().puts, 0);
    assert_eq!(count_of(&driver, "ann"), Some(3));
    driver.commit().unwrap();
    // The commit flushed one write per key into the engine and into the changelog.
    assert_eq!(journal.lock().unwrap().puts, 2);
    let changelog = driver
        .output_topic::<String, Vec<u8>>("engine-counts-changelog")
        .unwrap()
        .read_key_values_to_list()
        .unwrap();
    let mut keys: Vec<String> = changelog.into_iter().map(|(k, _)| k).collect();
    keys.sort();
    assert_eq!(keys, vec![s("ann"), s("bob")]);

    driver.restart().unwrap();
    // A fresh engine, filled from the changelog only.
    let journal_now = journal.lock().unwrap();
    assert_eq!(journal_now.opened, vec![s("counts@0_0"), s("counts@0_0")]);
    assert_eq!(journal_now.puts, 4, "two restored entries");
    drop(journal_now);
    assert_eq!(count_of(&driver, "ann"), Some(3));
    assert_eq!(count_of(&driver, "bob"), Some(1));
    clicks.pipe_key_value(s("bob"), s("/")).unwrap();
    driver.commit().unwrap();
    assert_eq!(count_of(&driver, "bob"), Some(2));
    let out = driver
        .output_topic::<String, i64>("counts-out")
        .unwrap()
        .read_key_values_to_list()
        .unwrap();
    assert_eq!(out.last(), Some(&(s("bob"), 2)));
}

#[test]
fn a_user_engine_without_window_stores_fails_a_windowed_count_with_the_store_named() {
    let journal = Arc::new(Mutex::new(Journal::default()));
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("clicks")
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(
            std::time::Duration::from_secs(60),
        ))
        .count_with(
            Materialized::named("per-minute").with_store_engine(StoreEngine::custom(BTreeEngine {
                journal: Arc::clone(&journal),
            })),
        );
    let error = TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("engine"))
        .err()
        .expect("the engine offers no window stores");
    let message = error.to_string();
    assert!(
        message.contains("per-minute") && message.contains("btree"),
        "{message}"
    );
}

/// An engine that offers window and session stores too, here the built-in in-memory ones,
/// and notes which it opened.
struct WindowedEngine {
    opened: Arc<Mutex<Vec<String>>>,
}

impl StoreEngineSupplier for WindowedEngine {
    fn engine_name(&self) -> &str {
        "windowed"
    }

    fn key_value_store(
        &self,
        name: &str,
        _: &StoreContext<'_>,
    ) -> Result<Box<dyn KeyValueBytesStore>, StoreError> {
        self.opened.lock().unwrap().push(format!("kv {name}"));
        Ok(Box::new(InMemoryKeyValueStore::new(name)))
    }

    fn window_store(
        &self,
        name: &str,
        retention_ms: i64,
        _: &StoreContext<'_>,
    ) -> Result<Box<dyn WindowBytesStore>, StoreError> {
        self.opened.lock().unwrap().push(format!("window {name}"));
        Ok(Box::new(InMemoryWindowStore::new(name, retention_ms)))
    }

    fn session_store(
        &self,
        name: &str,
        retention_ms: i64,
        _: &StoreContext<'_>,
    ) -> Result<Box<dyn SessionBytesStore>, StoreError> {
        self.opened.lock().unwrap().push(format!("session {name}"));
        Ok(Box::new(InMemorySessionStore::new(name, retention_ms)))
    }
}

#[test]
fn window_and_session_stores_on_a_user_engine_are_logged_and_restored() {
    use std::time::Duration;
    let opened = Arc::new(Mutex::new(Vec::new()));
    let engine = StoreEngine::custom(WindowedEngine {
        opened: Arc::clone(&opened),
    });
    let builder = StreamsBuilder::new();
    let clicks = builder.stream::<String, String>("clicks");
    clicks
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_millis(
            100,
        )))
        .count_with(Materialized::named("per-window").with_store_engine(engine.clone()));
    clicks
        .group_by_key()
        .windowed_by_sessions(SessionWindows::of_inactivity_gap_with_no_grace(
            Duration::from_millis(100),
        ))
        .count_with(Materialized::named("per-session").with_store_engine(engine));
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("engine")).unwrap();
    let mut expected = vec![s("session per-session"), s("window per-window")];
    let mut seen = opened.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, expected);
    let input = driver.input_topic::<String, String>("clicks").unwrap();
    for t in [0, 5, 50, 120] {
        input.pipe_key_value_at(s("ann"), s("/"), t).unwrap();
    }
    driver.restart().unwrap();
    let windows = driver
        .state_store::<WindowStore<String, ValueAndTimestamp<i64>>>("per-window")
        .unwrap();
    let counts: Vec<(i64, i64)> = windows
        .fetch_range(&s("ann"), 0, 200)
        .unwrap()
        .into_iter()
        .map(|(start, v)| (start, v.value))
        .collect();
    assert_eq!(
        counts,
        vec![(0, 3), (100, 1)],
        "restored into a fresh engine"
    );
    let sessions = driver
        .state_store::<SessionStore<String, ValueAndTimestamp<i64>>>("per-session")
        .unwrap();
    let counts: Vec<(i64, i64, i64)> = sessions
        .fetch(&s("ann"))
        .unwrap()
        .into_iter()
        .map(|(_, start, end, v)| (start, end, v.value))
        .collect();
    assert_eq!(counts, vec![(0, 120, 4)], "restored into a fresh engine");
    expected.extend(expected.clone());
    let mut seen = opened.lock().unwrap().clone();
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected);
}
