//! Queries across instances on librdkafka's mock cluster: with `application.server` set, every
//! instance knows which instance holds each key (`query_metadata_for_key`), checked against
//! where the key's task actually runs and what its store answers there, before and after a
//! rebalance; `all_metadata` lists the instances, their tasks and stores.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::init_tracing;
use integration_tests::kafka::produce;
use streams_core::runtime::{HostInfo, KafkaStreams};
use streams_core::TaskId;
use streams_dsl::prelude::*;

const WAIT: Duration = Duration::from_secs(60);
const KEYS: usize = 20;
const PARTITIONS: i32 = 4;

fn counting(input: &str) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>(input)
        .group_by_key()
        .count_with(Materialized::named("counts"));
    builder.build().expect("the topology builds")
}

fn start(kafka: &Arc<EmbeddedKafka>, port: Option<u16>, dir: &std::path::Path) -> KafkaStreams {
    let mut config = StreamsConfig::new("where")
        .bootstrap_servers(kafka.bootstrap_servers())
        .state_dir(dir)
        .commit_interval(Duration::from_millis(200))
        .consumer_property("session.timeout.ms", "6000")
        .consumer_property("heartbeat.interval.ms", "1000");
    if let Some(port) = port {
        config = config.application_server(host(port));
    }
    let streams =
        KafkaStreams::new(counting("where-input"), config).with_topic_creator(kafka.clone());
    streams.start().expect("the instance starts");
    streams
}

fn host(port: u16) -> HostInfo {
    HostInfo {
        host: "127.0.0.1".into(),
        port,
    }
}

fn keys() -> Vec<String> {
    (0..KEYS).map(|i| format!("k{i}")).collect()
}

/// Waits until every instance names, for every key, the same owner, and that owner runs the
/// key's task and answers the key's count from its store; returns the owners by key.
fn owners_agree(instances: &[(&KafkaStreams, u16)], count: i64) -> Vec<u16> {
    let deadline = Instant::now() + WAIT;
    loop {
        match check(instances, count) {
            Ok(owners) => return owners,
            Err(why) if Instant::now() > deadline => panic!("{why}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn check(instances: &[(&KafkaStreams, u16)], count: i64) -> Result<Vec<u16>, String> {
    let mut owners = Vec::new();
    for key in keys() {
        let mut named = BTreeSet::new();
        let mut partition = 0;
        for (streams, _) in instances {
            let metadata = streams
                .query_metadata_for_key("counts", &key, &*Serdes::string())
                .map_err(|e| e.to_string())?
                .ok_or(format!("{key}: no owner yet"))?;
            partition = metadata.partition;
            named.insert(metadata.active_host.port);
        }
        let [port] = named.iter().copied().collect::<Vec<_>>()[..] else {
            return Err(format!("{key}: instances disagree: {named:?}"));
        };
        let (owner, _) = instances
            .iter()
            .find(|(_, p)| *p == port)
            .ok_or(format!("{key}: unknown owner {port}"))?;
        let task = TaskId {
            subtopology: 0,
            partition,
        };
        if !owner.metrics().tasks.iter().any(|t| t.task_id == task) {
            return Err(format!("{key}: {port} does not run {task}"));
        }
        let value: Option<i64> = owner
            .get("counts", key.clone())
            .map_err(|e| e.to_string())?;
        // At least: at-least-once counts a record again when a rebalance came before its
        // commit (the mock cluster refuses commits during one).
        if value.is_none_or(|v| v < count) {
            return Err(format!(
                "{key}: {port} answers {value:?}, not {count} or more"
            ));
        }
        owners.push(port);
    }
    Ok(owners)
}

fn send_round(kafka: &EmbeddedKafka) {
    let keys = keys();
    let records: Vec<(Option<&[u8]>, &[u8])> = keys
        .iter()
        .map(|k| (Some(k.as_bytes()), &b"x"[..]))
        .collect();
    produce(kafka.bootstrap_servers(), "where-input", &records);
}

#[test]
fn every_instance_knows_which_instance_holds_a_key_before_and_after_a_rebalance() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("where-input", PARTITIONS).unwrap();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = start(&kafka, Some(7001), dirs[0].path());
    let b = start(&kafka, Some(7002), dirs[1].path());
    send_round(&kafka);
    let owners = owners_agree(&[(&a, 7001), (&b, 7002)], 1);
    assert!(
        owners.contains(&7001) && owners.contains(&7002),
        "{owners:?}"
    );

    let all = a.all_metadata().unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    let tasks: BTreeSet<TaskId> = all.iter().flat_map(|m| m.tasks.clone()).collect();
    assert_eq!(tasks.len(), PARTITIONS as usize, "{all:?}");
    assert!(all.iter().all(|m| m.state_store_names.contains("counts")));

    // A third instance takes some tasks over: the owners move with them, and the
    // rebalances show in the instances' metrics.
    let rebalanced = a.metrics().rebalances;
    assert!(rebalanced > 0);
    let c = start(&kafka, Some(7003), dirs[2].path());
    send_round(&kafka);
    let owners = owners_agree(&[(&a, 7001), (&b, 7002), (&c, 7003)], 2);
    assert!(owners.contains(&7003), "{owners:?}");
    assert!(a.metrics().rebalances > rebalanced);
    assert!(c.metrics().rebalances > 0);

    assert!(matches!(
        a.query_metadata_for_key("no-such-store", &"k0".to_string(), &*Serdes::string()),
        Err(RuntimeError::Streams(_))
    ));
    for instance in [a, b, c] {
        assert!(instance.close(WAIT));
    }
}

#[test]
fn without_an_application_server_there_is_no_metadata() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("where-input", PARTITIONS).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let streams = start(&kafka, None, dir.path());
    let error = streams
        .query_metadata_for_key("counts", &"k0".to_string(), &*Serdes::string())
        .unwrap_err();
    assert!(error.to_string().contains("application.server"), "{error}");
    assert!(streams.all_metadata().is_err());
    assert!(streams.close(WAIT));
}
