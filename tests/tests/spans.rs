//! The runtime's tracing spans on the mock cluster: a poll loop iteration, a task's
//! processing batch, a commit, a rebalance with its assigned partitions, a punctuation and
//! the restoration of a store, seen by a subscriber layer that records them. Alone in its
//! test binary: the layer is the process's subscriber.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use integration_tests::kafka::{produce, read_until};
use streams_dsl::prelude::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::Registry;

const WAIT: Duration = Duration::from_secs(60);

/// A span's fields, as text.
type SpanFields = BTreeMap<String, String>;

/// Every span opened: its name and its fields.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<(String, SpanFields)>>>);

struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: Subscriber> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        let mut fields = Fields(BTreeMap::new());
        attrs.record(&mut fields);
        self.0
            .lock()
            .unwrap()
            .push((attrs.metadata().name().to_owned(), fields.0));
    }
}

impl Spans {
    fn named(&self, name: &str) -> Vec<SpanFields> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, f)| f.clone())
            .collect()
    }
}

/// Counts per key into an in-memory store, and punctuates every 50 ms of wall-clock time.
struct Ticking;

impl Processor<String, String> for Ticking {
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
    ) -> Result<(), ProcessorError> {
        ctx.schedule(Duration::from_millis(50), PunctuationType::WallClockTime);
        Ok(())
    }

    fn process(
        &mut self,
        record: Record<String, String>,
        ctx: &mut ProcessorContext<'_, String, String>,
    ) -> Result<(), ProcessorError> {
        ctx.forward(record)
    }
}

fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("events")
        .process(|| Ticking, &[])
        .named("ticking")
        .group_by_key()
        .count_with(Materialized::named("counts").in_memory())
        .to_stream()
        .to("event-counts");
    builder.build().unwrap()
}

#[test]
fn the_runtime_opens_spans_for_its_steps() {
    let spans = Spans::default();
    let subscriber = Registry::default().with(spans.clone());
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("events", 1).unwrap();
    kafka.create_topic("event-counts", 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        StreamsConfig::new("spans")
            .bootstrap_servers(kafka.bootstrap_servers())
            .state_dir(dir.path())
            .commit_interval(Duration::from_millis(100))
            .cache_max_bytes(0)
            .consumer_property("session.timeout.ms", "6000")
    };
    let records: Vec<(Option<&[u8]>, &[u8])> =
        (0..50).map(|_| (Some(&b"k"[..]), &b"x"[..])).collect();
    produce(kafka.bootstrap_servers(), "events", &records);
    for _ in 0..2 {
        // The second run restores the in-memory store from its changelog.
        let streams = KafkaStreams::new(topology(), config()).with_topic_creator(kafka.clone());
        streams.start().unwrap();
        read_until(
            kafka.bootstrap_servers(),
            "event-counts",
            false,
            WAIT,
            |r| r.len() >= 50,
        );
        assert!(streams.wait_for(State::Running, WAIT));
        std::thread::sleep(Duration::from_millis(300));
        assert!(streams.close(WAIT));
    }

    assert!(!spans.named("poll_loop").is_empty());
    assert!(spans.named("commit").len() >= 2);
    let processed = spans.named("process");
    assert!(
        processed.iter().any(|f| f["task"] == "0_0"),
        "{processed:?}"
    );
    let rebalances = spans.named("rebalance");
    assert!(
        rebalances
            .iter()
            .any(|f| f.get("assigned").is_some_and(|a| a.contains("events-0"))),
        "{rebalances:?}"
    );
    let punctuations = spans.named("punctuate");
    assert!(
        punctuations
            .iter()
            .any(|f| f["task"] == "0_0" && f["kind"] == "WallClockTime"),
        "{punctuations:?}"
    );
    let restores = spans.named("restore");
    assert!(
        restores
            .iter()
            .any(|f| f["store"] == "counts" && f["changelog"] == "spans-counts-changelog"),
        "{restores:?}"
    );
}
