//! State through the task and the test driver: RocksDB and in-memory stores, changelogs,
//! restoration from a changelog, and checkpoints.

use std::path::Path;

use integration_tests::s;
use streams_core::{
    ChangelogRecord, Headers, RawRecord, StoreEngine, StreamsConfig, Task, Topology,
};
use streams_dsl::prelude::*;

fn counting_with(materialized: Materialized<String, i64>) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("words")
        .group_by_key()
        .count_with(materialized)
        .to_stream()
        .to("counts-out");
    builder.build().expect("builds")
}

/// Counts words, every update forwarded (caching off in `Materialized`; the store still
/// collapses its writes per commit).
fn counting(engine: StoreEngine) -> Topology {
    counting_with(
        Materialized::named("counts")
            .with_store_engine(engine.clone())
            .with_caching_disabled(),
    )
}

fn word(offset: i64, key: &str) -> RawRecord {
    RawRecord {
        offset,
        timestamp: offset,
        key: Some(key.as_bytes().to_vec()),
        value: Some(b"x".to_vec()),
        headers: Headers::new(),
    }
}

/// Runs `words` through a fresh task in `dir`; returns the task and its changelog records.
fn run(topology: &Topology, dir: &Path, words: &[&str]) -> (Task, Vec<ChangelogRecord>) {
    let config = StreamsConfig::new("app").state_dir(dir);
    let mut task = topology.create_task(0, 0, &config).expect("task");
    task.init().expect("init");
    let records: Vec<RawRecord> = words
        .iter()
        .enumerate()
        .map(|(i, w)| word(i as i64, w))
        .collect();
    task.add_records("words", records).expect("known topic");
    while task.process_next().expect("processes") {}
    task.flush_caches().expect("flushes");
    let mut changelog = Vec::new();
    task.drain_output_with(|r| {
        if r.topic == "app-counts-changelog" {
            changelog.push(ChangelogRecord {
                key: r.key.expect("a key").to_vec(),
                value: r.value.map(<[u8]>::to_vec),
                timestamp: r.timestamp,
            });
        }
    });
    (task, changelog)
}

fn contents(task: &Task) -> Vec<(String, i64)> {
    task.store::<KeyValueStore<String, i64>>("counts")
        .expect("store")
        .all()
        .expect("scan")
}

#[test]
fn every_write_reaches_the_changelog_topic() -> Result<(), StreamsError> {
    let driver = TopologyTestDriver::new(
        counting(StoreEngine::RocksDb),
        StreamsConfig::new("test-app"),
    )?;
    let words = driver.input_topic::<String, String>("words")?;
    for (word, time) in [("a", 5), ("b", 3), ("a", 2)] {
        words.pipe_key_value_at(s(word), s("x"), time)?;
    }
    // As in Kafka Streams: the value alone, with the count's time as the record's time.
    let changelog = driver.output_topic::<String, i64>("test-app-counts-changelog")?;
    let records: Vec<_> = changelog
        .read_records_to_list()?
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect();
    let at = |k: &str, n, t| (Some(s(k)), Some(n), Some(t));
    assert_eq!(records, vec![at("a", 1, 5), at("b", 1, 3), at("a", 2, 5)]);
    Ok(())
}

#[test]
fn the_test_driver_keeps_rocksdb_stores_in_a_directory_it_removes() -> Result<(), StreamsError> {
    let driver = TopologyTestDriver::new(
        counting(StoreEngine::RocksDb),
        StreamsConfig::new("test-app"),
    )?;
    driver
        .input_topic::<String, String>("words")?
        .pipe_key_value(s("a"), s("x"))?;
    let dir = driver.state_dir().to_owned();
    assert!(dir
        .join("test-app")
        .join("0_0")
        .join("rocksdb")
        .join("counts")
        .is_dir());
    assert_eq!(
        driver
            .key_value_store::<String, i64>("counts")?
            .get(&s("a"))?,
        Some(1)
    );
    drop(driver);
    assert!(!dir.exists());
    Ok(())
}

#[test]
fn a_store_rebuilt_from_its_changelog_equals_the_original() {
    for engine in [StoreEngine::RocksDb, StoreEngine::InMemory] {
        let topology = counting(engine.clone());
        let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let words = ["a", "b", "a", "c", "b", "a"];
        let (original, changelog) = run(&topology, first.path(), &words);
        assert_eq!(
            changelog.len(),
            3,
            "{engine:?}: one changelog record per key per commit"
        );

        let config = StreamsConfig::new("app").state_dir(second.path());
        let mut restored = topology.create_task(0, 0, &config).unwrap();
        let partitions = restored.changelog_partitions();
        assert_eq!(partitions.len(), 1);
        assert_eq!(
            (partitions[0].topic.as_str(), partitions[0].restored_up_to),
            ("app-counts-changelog", None)
        );
        for (i, batch) in changelog.chunks(4).enumerate() {
            let last_offset = (i * 4 + batch.len() - 1) as i64;
            restored.restore("counts", batch, last_offset).unwrap();
        }
        assert_eq!(contents(&restored), contents(&original), "{engine:?}");
        assert_eq!(
            contents(&restored),
            vec![(s("a"), 3), (s("b"), 2), (s("c"), 1)]
        );
        // Restoration writes nothing to the changelog again.
        assert!(!restored.has_output(), "{engine:?}");
    }
}

#[test]
fn a_checkpoint_lets_a_persistent_store_resume_without_replaying() {
    let topology = counting(StoreEngine::RocksDb);
    let dir = tempfile::tempdir().unwrap();
    let (mut task, changelog) = run(&topology, dir.path(), &["a", "b", "a"]);
    task.commit([(s("app-counts-changelog"), changelog.len() as i64 - 1)])
        .unwrap();
    task.close();
    drop(task);

    let config = StreamsConfig::new("app").state_dir(dir.path());
    let reopened = topology.create_task(0, 0, &config).unwrap();
    let partition = &reopened.changelog_partitions()[0];
    assert_eq!(changelog.len(), 2, "a and b, once each");
    assert_eq!(
        partition.restored_up_to,
        Some(1),
        "restoration starts after offset 1"
    );
    assert_eq!(contents(&reopened), vec![(s("a"), 2), (s("b"), 1)]);
}

#[test]
fn an_in_memory_store_always_restores_in_full() {
    let topology = counting(StoreEngine::InMemory);
    let dir = tempfile::tempdir().unwrap();
    let (mut task, changelog) = run(&topology, dir.path(), &["a"]);
    task.commit([(s("app-counts-changelog"), changelog.len() as i64 - 1)])
        .unwrap();
    task.close();
    let config = StreamsConfig::new("app").state_dir(dir.path());
    let reopened = topology.create_task(0, 0, &config).unwrap();
    assert_eq!(reopened.changelog_partitions()[0].restored_up_to, None);
    assert!(contents(&reopened).is_empty());
}

#[test]
fn two_tasks_cannot_open_one_store_directory() {
    let topology = counting(StoreEngine::RocksDb);
    let dir = tempfile::tempdir().unwrap();
    let config = StreamsConfig::new("app").state_dir(dir.path());
    let _first = topology.create_task(0, 0, &config).unwrap();
    let error = topology.create_task(0, 0, &config).unwrap_err();
    assert!(
        error.to_string().contains("locked by another instance"),
        "{error}"
    );
}

#[test]
fn a_cached_store_writes_each_key_once_per_commit() {
    let topology = counting_with(Materialized::named("counts"));
    let dir = tempfile::tempdir().unwrap();
    let config = StreamsConfig::new("app").state_dir(dir.path());
    let mut task = topology.create_task(0, 0, &config).unwrap();
    let words = ["a", "b", "a", "c", "b", "a"];
    task.add_records(
        "words",
        words.iter().enumerate().map(|(i, w)| word(i as i64, w)),
    )
    .unwrap();
    while task.process_next().unwrap() {}
    let mut out = Vec::new();
    task.drain_output(&mut out);
    assert!(out.is_empty(), "nothing leaves the cache before the commit");
    task.commit([]).unwrap();
    task.drain_output(&mut out);
    let topics: Vec<&str> = out.iter().map(|r| &*r.topic).collect();
    assert_eq!(
        topics.iter().filter(|t| **t == "counts-out").count(),
        3,
        "one update per key"
    );
    assert_eq!(
        topics
            .iter()
            .filter(|t| **t == "app-counts-changelog")
            .count(),
        3
    );
    let latest: Vec<(Vec<u8>, i64)> = out
        .iter()
        .filter(|r| &*r.topic == "counts-out")
        .map(|r| {
            (
                r.key.clone().unwrap(),
                i64::from_be_bytes(r.value.clone().unwrap().try_into().unwrap()),
            )
        })
        .collect();
    // Keys leave the cache in the order of their last update, each with that update's time.
    assert_eq!(
        latest,
        vec![(b"c".to_vec(), 1), (b"b".to_vec(), 2), (b"a".to_vec(), 3)]
    );
    let times: Vec<i64> = out
        .iter()
        .filter(|r| &*r.topic == "counts-out")
        .map(|r| r.timestamp)
        .collect();
    assert_eq!(times, vec![3, 4, 5]);
}

#[test]
fn a_full_cache_evicts_downstream_and_to_the_changelog_before_the_commit() {
    let topology = counting_with(Materialized::named("counts"));
    let dir = tempfile::tempdir().unwrap();
    // A budget for a few dozen entries, shared by the task's cached stores.
    let config = StreamsConfig::new("app")
        .state_dir(dir.path())
        .cache_max_bytes(4_000);
    let mut task = topology.create_task(0, 0, &config).unwrap();
    let keys: Vec<String> = (0..500).map(|i| format!("key-{i:03}")).collect();
    task.add_records(
        "words",
        keys.iter().enumerate().map(|(i, k)| word(i as i64, k)),
    )
    .unwrap();
    while task.process_next().unwrap() {}
    let mut evicted = Vec::new();
    task.drain_output(&mut evicted);
    let updates = evicted.iter().filter(|r| &*r.topic == "counts-out").count();
    let logged = evicted
        .iter()
        .filter(|r| &*r.topic == "app-counts-changelog")
        .count();
    assert!(
        updates > 400 && updates < 500,
        "evictions went downstream before the commit: {updates}"
    );
    assert_eq!(logged, updates, "and to the changelog, one record each");
    // The least recently used keys left first.
    assert_eq!(evicted[0].key.as_deref(), Some(&b"key-000"[..]));
    task.commit([]).unwrap();
    let mut rest = Vec::new();
    task.drain_output(&mut rest);
    let total = updates + rest.iter().filter(|r| &*r.topic == "counts-out").count();
    assert_eq!(total, 500, "every key is forwarded exactly once");
    assert_eq!(contents(&task).len(), 500);
}

/// Counts words per 100 ms window (per session of 50 ms gap with `sessions`), forwarding
/// what the cache flushes (caching on, the default).
fn windowed_counting(sessions: bool) -> Topology {
    let builder = StreamsBuilder::new();
    let grouped = builder.stream::<String, String>("words").group_by_key();
    let counts = if sessions {
        grouped
            .windowed_by_sessions(SessionWindows::of_inactivity_gap_with_no_grace(
                std::time::Duration::from_millis(50),
            ))
            .count_with(Materialized::named("counts"))
    } else {
        grouped
            .windowed_by(TimeWindows::of_size_with_no_grace(
                std::time::Duration::from_millis(100),
            ))
            .count_with(Materialized::named("counts"))
    };
    counts
        .to_stream()
        .map(|k, v| (k.key.clone(), v))
        .to("counts-out");
    builder.build().expect("builds")
}

#[test]
fn window_and_session_caches_forward_and_log_each_window_once_per_commit() {
    for sessions in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let config = StreamsConfig::new("app").state_dir(dir.path());
        let mut task = windowed_counting(sessions)
            .create_task(0, 0, &config)
            .unwrap();
        task.init().unwrap();
        // Three keys, four records each, all in one window (one session) per key.
        let words = ["a", "b", "c", "a", "b", "c", "a", "b", "c", "a", "b", "c"];
        task.add_records(
            "words",
            words.iter().enumerate().map(|(i, w)| word(i as i64, w)),
        )
        .unwrap();
        while task.process_next().unwrap() {}
        let mut before = Vec::new();
        task.drain_output(&mut before);
        assert!(
            before.is_empty(),
            "nothing leaves the cache before the commit"
        );
        task.commit([]).unwrap();
        let mut out = Vec::new();
        task.drain_output(&mut out);
        let logged = out
            .iter()
            .filter(|r| &*r.topic == "app-counts-changelog")
            .count();
        let counts: Vec<(Vec<u8>, i64)> = out
            .iter()
            .filter(|r| &*r.topic == "counts-out")
            .map(|r| {
                let value: [u8; 8] = r.value.clone().unwrap().try_into().unwrap();
                (r.key.clone().unwrap(), i64::from_be_bytes(value))
            })
            .collect();
        assert_eq!(logged, 3, "sessions: {sessions}");
        assert_eq!(
            counts,
            vec![(b"a".to_vec(), 4), (b"b".to_vec(), 4), (b"c".to_vec(), 4)],
            "sessions: {sessions}"
        );
    }
}

#[test]
fn full_window_and_session_caches_evict_downstream_and_to_the_changelog() {
    for sessions in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let config = StreamsConfig::new("app")
            .state_dir(dir.path())
            .cache_max_bytes(4_000);
        let mut task = windowed_counting(sessions)
            .create_task(0, 0, &config)
            .unwrap();
        task.init().unwrap();
        let keys: Vec<String> = (0..500).map(|i| format!("key-{i:03}")).collect();
        task.add_records(
            "words",
            keys.iter().enumerate().map(|(i, k)| word(i as i64 / 10, k)),
        )
        .unwrap();
        while task.process_next().unwrap() {}
        let mut evicted = Vec::new();
        task.drain_output(&mut evicted);
        let updates = evicted.iter().filter(|r| &*r.topic == "counts-out").count();
        let logged = evicted
            .iter()
            .filter(|r| &*r.topic == "app-counts-changelog")
            .count();
        assert!(
            updates > 400 && updates < 500,
            "sessions: {sessions}: evictions went downstream before the commit: {updates}"
        );
        assert_eq!(logged, updates, "and to the changelog, one record each");
        assert_eq!(evicted[0].key.as_deref(), Some(&b"key-000"[..]));
        task.commit([]).unwrap();
        let mut rest = Vec::new();
        task.drain_output(&mut rest);
        let total = updates + rest.iter().filter(|r| &*r.topic == "counts-out").count();
        assert_eq!(
            total, 500,
            "sessions: {sessions}: every window is forwarded once"
        );
    }
}
