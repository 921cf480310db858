//! State across a compatible change of its Avro schema: a running aggregate written with v1 of
//! its schema is read, after a restart with v2 (a field added with a default), through schema
//! resolution, both from the local state directory and restored from the changelog on a new
//! machine. Stores and changelogs hold framed values, so each value names its writer's schema.
//! An incompatible change is refused when the task starts, with an error that names the store,
//! both schemas and the way out.

use std::sync::Arc;

use apache_avro::Schema;
use serde::{Deserialize, Serialize};
use streams_avro::registry_server::RegistryServer;
use streams_avro::{AvroSerde, AvroSerdeConfig, SchemaRegistryClient, SchemaRegistryConfig};
use streams_core::{ChangelogRecord, Headers, RawRecord, SerdeRef, Task};
use streams_dsl::prelude::*;

const TOTAL_V1: &str = r#"{"type":"record","name":"Total","namespace":"shop","fields":[
    {"name":"orders","type":"long"},{"name":"spent","type":"double"}]}"#;
/// Incompatible with v1: `spent` became a string.
const TOTAL_BROKEN: &str = r#"{"type":"record","name":"Total","namespace":"shop","fields":[
    {"name":"orders","type":"long"},{"name":"spent","type":"string"}]}"#;
const TOTAL_V2: &str = r#"{"type":"record","name":"Total","namespace":"shop","fields":[
    {"name":"orders","type":"long"},{"name":"spent","type":"double"},
    {"name":"items","type":"long","default":0}]}"#;

/// The aggregate as the first version of the application keeps it.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Default)]
struct TotalV1 {
    orders: i64,
    spent: f64,
}

/// The aggregate as the second keeps it: items counted from its deployment on.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Default)]
struct TotalV2 {
    orders: i64,
    spent: f64,
    items: i64,
}

const STORE: &str = "totals";
const CHANGELOG: &str = "shop-totals-changelog";

fn serde<T>(registry: &RegistryServer, schema: &str) -> SerdeRef<T>
where
    T: Serialize + serde::de::DeserializeOwned + 'static,
{
    let client =
        Arc::new(SchemaRegistryClient::new(SchemaRegistryConfig::new(registry.url())).unwrap());
    let schema = Schema::parse_str(schema).unwrap();
    Arc::new(AvroSerde::<T>::new(
        client,
        schema,
        AvroSerdeConfig::value(),
    ))
}

/// Order amounts (`f64`) summed per customer into an aggregate of type `T`.
fn topology<T: Clone + Default + 'static>(
    serde: SerdeRef<T>,
    add: impl Fn(f64, T) -> T + Send + Sync + 'static,
) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream_with("orders", Consumed::with(Serdes::string(), Serdes::f64()))
        .group_by_key()
        .aggregate_with(
            T::default,
            move |_, amount, total| add(amount, total),
            Materialized::named(STORE)
                .with_key_serde(Serdes::string())
                .with_value_serde(serde.clone())
                .with_store_engine(StoreEngine::RocksDb),
        )
        .to_stream()
        .to_with(
            "totals",
            Produced::with(Serdes::string(), Serdes::optional(serde)),
        );
    builder.build().unwrap()
}

fn v1(registry: &RegistryServer) -> Topology {
    topology(serde::<TotalV1>(registry, TOTAL_V1), |amount, t| TotalV1 {
        orders: t.orders + 1,
        spent: t.spent + amount,
    })
}

fn v2(registry: &RegistryServer) -> Topology {
    topology(serde::<TotalV2>(registry, TOTAL_V2), |amount, t| TotalV2 {
        orders: t.orders + 1,
        spent: t.spent + amount,
        items: t.items + 1,
    })
}

fn task(topology: &Topology, dir: &std::path::Path) -> Task {
    let config = StreamsConfig::new("shop").state_dir(dir);
    topology.create_task(0, 0, &config).unwrap()
}

/// An output record's key and value bytes.
type KeyValueBytes = (Vec<u8>, Vec<u8>);

/// Processes `orders` (from `offset` on) and returns the output and changelog records.
fn process(
    task: &mut Task,
    offset: i64,
    orders: &[(&str, f64)],
) -> (Vec<KeyValueBytes>, Vec<ChangelogRecord>) {
    let records = orders
        .iter()
        .enumerate()
        .map(|(i, (customer, amount))| RawRecord {
            offset: offset + i as i64,
            timestamp: offset + i as i64,
            key: Some(customer.as_bytes().to_vec()),
            value: Some(amount.to_be_bytes().to_vec()),
            headers: Headers::new(),
        });
    task.add_records("orders", records).unwrap();
    while task.process_next().unwrap() {}
    task.flush_caches().unwrap();
    let (mut output, mut changelog) = (Vec::new(), Vec::new());
    task.drain_output_with(|r| match (r.topic, r.key, r.value) {
        ("totals", Some(k), Some(v)) => output.push((k.to_vec(), v.to_vec())),
        (topic, Some(k), v) if topic.ends_with("-changelog") => changelog.push(ChangelogRecord {
            key: k.to_vec(),
            value: v.map(<[u8]>::to_vec),
            timestamp: r.timestamp,
        }),
        _ => {}
    });
    (output, changelog)
}

/// Runs v1 over the first orders in `dir`, committed and closed; returns its changelog.
fn first_run(registry: &RegistryServer, dir: &std::path::Path) -> Vec<ChangelogRecord> {
    let mut first = task(&v1(registry), dir);
    first.init().unwrap();
    let (output, changelog) = process(&mut first, 0, &[("ann", 10.0), ("ann", 5.0), ("bob", 1.0)]);
    assert_eq!(output.len(), 2, "one update per key after the cache flush");
    first
        .commit([(CHANGELOG.to_owned(), changelog.len() as i64 - 1)])
        .unwrap();
    first.close();
    changelog
}

/// Runs v2 over one more order of ann's and returns the totals it writes.
fn second_run(registry: &RegistryServer, mut second: Task) -> Vec<(String, TotalV2)> {
    second.init().unwrap();
    let (output, _) = process(&mut second, 3, &[("ann", 2.0)]);
    second.close();
    let read = serde::<TotalV2>(registry, TOTAL_V2);
    output
        .into_iter()
        .map(|(k, v)| {
            let total = read
                .deserialize("totals", &Headers::new(), Some(&v))
                .unwrap();
            (String::from_utf8(k).unwrap(), total)
        })
        .collect()
}

#[test]
fn a_compatible_schema_change_reads_the_local_state_written_before_it() {
    let registry = RegistryServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    first_run(&registry, dir.path());
    let totals = second_run(&registry, task(&v2(&registry), dir.path()));
    // ann's two orders of v1 carry over; items count from v2 on (default 0, then 1).
    assert_eq!(
        totals,
        vec![(
            "ann".to_string(),
            TotalV2 {
                orders: 3,
                spent: 17.0,
                items: 1
            }
        )]
    );
}

#[test]
fn a_compatible_schema_change_restores_from_the_changelog_written_before_it() {
    let registry = RegistryServer::start().unwrap();
    let old = tempfile::tempdir().unwrap();
    let changelog = first_run(&registry, old.path());
    assert!(!changelog.is_empty());
    // A new machine: an empty state directory, the store restored from the changelog.
    let new = tempfile::tempdir().unwrap();
    let mut second = task(&v2(&registry), new.path());
    second
        .restore(STORE, &changelog, changelog.len() as i64 - 1)
        .unwrap();
    let totals = second_run(&registry, second);
    assert_eq!(
        totals,
        vec![(
            "ann".to_string(),
            TotalV2 {
                orders: 3,
                spent: 17.0,
                items: 1
            }
        )]
    );
}

/// The aggregate with an incompatible schema.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Default)]
struct TotalBroken {
    orders: i64,
    spent: String,
}

#[test]
fn an_incompatible_schema_change_is_refused_at_start_naming_store_schemas_and_way_out() {
    let registry = RegistryServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    first_run(&registry, dir.path());
    let broken = topology(serde::<TotalBroken>(&registry, TOTAL_BROKEN), |_, t| t);
    let config = StreamsConfig::new("shop").state_dir(dir.path());
    let error = match broken.create_task(0, 0, &config) {
        Ok(_) => panic!("an incompatible store schema must not start"),
        Err(error) => error.to_string(),
    };
    for needle in [
        "`totals`",
        r#""spent","type":"double""#,
        r#""spent","type":"string""#,
        "kafka-streams-application-reset",
        "delete its state directory",
    ] {
        assert!(error.contains(needle), "{needle} missing from: {error}");
    }
    // Nothing was recorded or changed: v2, compatible, still starts on the same state.
    let totals = second_run(&registry, task(&v2(&registry), dir.path()));
    assert_eq!(totals[0].1.orders, 3);
}

/// Restores `store` of a task of `topology`, started in the empty directory `dir` of a new
/// machine, from `changelog`; the error if that is refused.
fn restore_on_a_new_machine(
    topology: &Topology,
    dir: &std::path::Path,
    store: &str,
    changelog: &[ChangelogRecord],
) -> Result<Task, String> {
    let mut task = task(topology, dir);
    match task.restore(store, changelog, changelog.len() as i64 - 1) {
        Ok(()) => Ok(task),
        Err(error) => {
            task.close();
            Err(error.to_string())
        }
    }
}

#[test]
fn an_incompatible_schema_change_is_refused_at_start_when_the_store_restores_on_a_new_machine() {
    let registry = RegistryServer::start().unwrap();
    let old = tempfile::tempdir().unwrap();
    let changelog = first_run(&registry, old.path());
    // No local state and so no record of the store's encoding: the changelog's values name
    // their writer's schema, which the new serde cannot read.
    let new = tempfile::tempdir().unwrap();
    let broken = topology(serde::<TotalBroken>(&registry, TOTAL_BROKEN), |_, t| t);
    let error = match restore_on_a_new_machine(&broken, new.path(), STORE, &changelog) {
        Ok(_) => panic!("an incompatible store schema must not restore"),
        Err(error) => error,
    };
    for needle in [
        "`totals`",
        "a value restored from its changelog was written with schema id",
        r#""spent","type":"double""#,
        r#""spent","type":"string""#,
        "kafka-streams-application-reset",
        "delete its state directory",
    ] {
        assert!(error.contains(needle), "{needle} missing from: {error}");
    }
    // The refused start left no record of its encoding behind: v2, compatible, restores in
    // the same directory and carries the totals over.
    let second = restore_on_a_new_machine(&v2(&registry), new.path(), STORE, &changelog).unwrap();
    let totals = second_run(&registry, second);
    assert_eq!(totals[0].1.orders, 3);
    assert_eq!(totals[0].1.spent, 17.0);
}

/// Order amounts summed per customer and minute, kept in a window store of aggregates `T`.
fn windowed_topology<T: Clone + Default + 'static>(
    serde: SerdeRef<T>,
    add: impl Fn(f64, T) -> T + Send + Sync + 'static,
) -> Topology {
    let builder = StreamsBuilder::new();
    let _minute_totals = builder
        .stream_with("orders", Consumed::with(Serdes::string(), Serdes::f64()))
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(
            std::time::Duration::from_secs(60),
        ))
        .aggregate_with(
            T::default,
            move |_, amount, total| add(amount, total),
            Materialized::named("minute-totals")
                .with_key_serde(Serdes::string())
                .with_value_serde(serde)
                .with_store_engine(StoreEngine::RocksDb),
        );
    builder.build().unwrap()
}

#[test]
fn a_window_store_refuses_an_incompatible_schema_change_at_start() {
    let registry = RegistryServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let v1 = windowed_topology(serde::<TotalV1>(&registry, TOTAL_V1), |amount, t| TotalV1 {
        orders: t.orders + 1,
        spent: t.spent + amount,
    });
    let mut first = task(&v1, dir.path());
    first.init().unwrap();
    let (_, changelog) = process(&mut first, 0, &[("ann", 10.0)]);
    first.close();
    let broken = windowed_topology(serde::<TotalBroken>(&registry, TOTAL_BROKEN), |_, t| t);
    let config = StreamsConfig::new("shop").state_dir(dir.path());
    let error = match broken.create_task(0, 0, &config) {
        Ok(_) => panic!("an incompatible window store schema must not start"),
        Err(error) => error.to_string(),
    };
    for needle in ["`minute-totals`", r#""spent","type":"string""#] {
        assert!(error.contains(needle), "{needle} missing from: {error}");
    }
    // A compatible change starts on the same state.
    let v2 = windowed_topology(serde::<TotalV2>(&registry, TOTAL_V2), |amount, t| TotalV2 {
        orders: t.orders + 1,
        spent: t.spent + amount,
        items: t.items + 1,
    });
    task(&v2, dir.path()).close();
    // On a new machine, the changelog's values are checked as they are restored.
    assert!(!changelog.is_empty());
    let new = tempfile::tempdir().unwrap();
    let error = match restore_on_a_new_machine(&broken, new.path(), "minute-totals", &changelog) {
        Ok(_) => panic!("an incompatible window store schema must not restore"),
        Err(error) => error,
    };
    for needle in ["`minute-totals`", r#""spent","type":"double""#] {
        assert!(error.contains(needle), "{needle} missing from: {error}");
    }
    restore_on_a_new_machine(&v2, new.path(), "minute-totals", &changelog)
        .unwrap()
        .close();
}
