//! Window and session stores through the Processor API: reachable by name from processors and
//! from the test driver, on both engines, logged to their changelogs.

use integration_tests::s;
use streams_core::{
    SessionStore, StoreEngine, StreamsConfig, Topology, TopologyTestDriver, WindowStore,
    WindowedStoreBuilder,
};
use streams_dsl::prelude::*;

const SIZE: i64 = 10;

/// Counts records per key in tumbling windows of 10 ms, kept in a window store.
struct WindowCounter {
    store: Option<WindowStore<String, i64>>,
}

impl Processor<String, String, String, i64> for WindowCounter {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, i64>) -> Result<(), ProcessorError> {
        self.store = Some(ctx.state_store("windows")?);
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<String, String>,
        ctx: &mut ProcessorContext<'_, String, i64>,
    ) -> Result<(), ProcessorError> {
        let store = self.store.as_ref().expect("initialized");
        let start = r.timestamp - r.timestamp % SIZE;
        let count = store.fetch(&r.key, start)?.unwrap_or(0) + 1;
        if store.put(&r.key, start, Some(&count))? {
            ctx.forward(Record::new(r.key, count, r.timestamp))?;
        }
        Ok(())
    }
}

/// Merges each record into the session of its key that it falls within 5 ms of, keeping the
/// number of records per session.
struct SessionCounter {
    store: Option<SessionStore<String, i64>>,
}

const GAP: i64 = 5;

impl Processor<String, String, String, i64> for SessionCounter {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, i64>) -> Result<(), ProcessorError> {
        self.store = Some(ctx.state_store("sessions")?);
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<String, String>,
        ctx: &mut ProcessorContext<'_, String, i64>,
    ) -> Result<(), ProcessorError> {
        let store = self.store.as_ref().expect("initialized");
        let t = r.timestamp;
        let (mut start, mut end, mut count) = (t, t, 1);
        for (_, s, e, c) in store.find_sessions(&r.key, t - GAP, t + GAP)? {
            store.put(&r.key, s, e, None)?;
            start = start.min(s);
            end = end.max(e);
            count += c;
        }
        store.put(&r.key, start, end, Some(&count))?;
        ctx.forward(Record::new(r.key, count, t))
    }
}

fn topology(engine: StoreEngine) -> Topology {
    let mut t = Topology::new();
    t.add_source("in", &["events"], Serdes::string(), Serdes::string())
        .and_then(|t| t.add_processor("windowed", || WindowCounter { store: None }, &["in"]))
        .and_then(|t| t.add_processor("sessions", || SessionCounter { store: None }, &["in"]))
        .and_then(|t| {
            t.add_state_store(
                WindowedStoreBuilder::window(
                    "windows",
                    engine.clone(),
                    100,
                    Serdes::string(),
                    Serdes::i64(),
                ),
                &["windowed"],
            )
        })
        .and_then(|t| {
            t.add_state_store(
                WindowedStoreBuilder::session(
                    "sessions",
                    engine.clone(),
                    100,
                    Serdes::string(),
                    Serdes::i64(),
                ),
                &["sessions"],
            )
        })
        .and_then(|t| {
            t.add_sink(
                "w-out",
                "window-counts",
                Serdes::string(),
                Serdes::i64(),
                &["windowed"],
            )
        })
        .and_then(|t| {
            t.add_sink(
                "s-out",
                "session-counts",
                Serdes::string(),
                Serdes::i64(),
                &["sessions"],
            )
        })
        .expect("builds");
    t
}

#[test]
fn window_and_session_stores_work_on_both_engines() -> Result<(), Box<dyn std::error::Error>> {
    for engine in [StoreEngine::RocksDb, StoreEngine::InMemory] {
        let driver = TopologyTestDriver::new(topology(engine.clone()), StreamsConfig::new("app"))?;
        let input = driver.input_topic::<String, String>("events")?;
        for (key, t) in [
            ("a", 1),
            ("a", 4),
            ("b", 5),
            ("a", 12),
            ("a", 200),
            ("a", 15),
        ] {
            input.pipe_key_value_at(s(key), s("x"), t)?;
        }
        let windows = driver.output_topic::<String, i64>("window-counts")?;
        // The record at 15 falls in window [10, 20), expired once stream time is 200 with a
        // retention of 100: dropped.
        assert_eq!(
            windows.read_values_to_list()?,
            vec![1, 2, 1, 1, 1],
            "{engine:?}"
        );
        let sessions = driver.output_topic::<String, i64>("session-counts")?;
        assert_eq!(
            sessions.read_values_to_list()?,
            vec![1, 2, 1, 1, 1, 1],
            "{engine:?}"
        );

        let store = driver.state_store::<WindowStore<String, i64>>("windows")?;
        assert_eq!(
            store.fetch_range(&s("a"), 0, 300)?,
            vec![(200, 1)],
            "{engine:?}"
        );
        assert_eq!(store.fetch(&s("b"), 0)?, None, "{engine:?}: expired");
        let sessions = driver.state_store::<SessionStore<String, i64>>("sessions")?;
        assert_eq!(
            sessions.fetch(&s("a"))?,
            vec![(s("a"), 200, 200, 1)],
            "{engine:?}"
        );

        // Every retained write reached the changelog, with the window in the key.
        let changelog = driver.output_topic_with::<Vec<u8>, Option<i64>>(
            "app-windows-changelog",
            Serdes::bytes(),
            Serdes::optional(Serdes::i64()),
        )?;
        let records = changelog.read_key_values_to_list()?;
        assert_eq!(records.len(), 5, "{engine:?}");
        assert_eq!(&records[0].0[..1], b"a");
        assert_eq!(i64::from_be_bytes(records[0].0[1..].try_into()?), 0);
    }
    Ok(())
}
