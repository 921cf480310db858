//! Session stores of both engines agree with a naive model under random puts and removals:
//! a `BTreeMap` of every session ever written, read through the same expiry rule.

use std::collections::BTreeMap;

use proptest::prelude::*;
use state_stores::{
    session_changelog_key, ChangelogRecord, InMemorySessionStore, Restorable, RocksDbConfig,
    RocksDbSessionStore, SessionBytesStore, SessionEntry,
};

const RETENTION: i64 = 60_000;
/// Keys where one is a prefix of another, so that engine keys interleave.
const KEYS: [&[u8]; 5] = [b"", b"a", b"a\x00", b"ab", b"b"];

/// Every session ever written, by `(key, end, start)`; reads keep those whose end is within
/// retention of the observed time.
#[derive(Default)]
struct Model {
    observed: Option<i64>,
    sessions: BTreeMap<(Vec<u8>, i64, i64), Vec<u8>>,
}

impl Model {
    fn live(&self, end: i64) -> bool {
        self.observed
            .is_none_or(|observed| end >= observed.saturating_sub(RETENTION))
    }

    fn put(&mut self, key: &[u8], start: i64, end: i64, value: Option<&[u8]>) -> bool {
        self.observed = Some(self.observed.map_or(end, |o| o.max(end)));
        if !self.live(end) {
            return false;
        }
        match value {
            Some(v) => self.sessions.insert((key.to_vec(), end, start), v.to_vec()),
            None => self.sessions.remove(&(key.to_vec(), end, start)),
        };
        true
    }

    /// The live sessions whose key passes `keep` and that overlap `[earliest_end, latest_start]`.
    fn find(
        &self,
        keep: impl Fn(&[u8]) -> bool,
        earliest_end: i64,
        latest_start: i64,
    ) -> Vec<SessionEntry> {
        self.sessions
            .iter()
            .filter(|((k, end, start), _)| {
                self.live(*end) && keep(k) && *end >= earliest_end && *start <= latest_start
            })
            .map(|((k, end, start), v)| SessionEntry {
                key: k.clone(),
                start: *start,
                end: *end,
                value: v.clone(),
            })
            .collect()
    }
}

/// One write: a key, how far the test's clock moves, how late the session ends behind it and
/// how long it is (in steps of 5 s, so that writes often hit the same session), and the
/// value (`None`: removal).
#[derive(Clone, Debug)]
struct Write {
    key: usize,
    advance: i64,
    late: i64,
    length: i64,
    value: Option<u8>,
}

fn write() -> impl Strategy<Value = Write> {
    (
        0..KEYS.len(),
        0i64..20_000,
        prop_oneof![Just(0i64), 0i64..20, 0i64..90_000],
        prop_oneof![Just(0i64), 0i64..30_000],
        proptest::option::weighted(0.75, any::<u8>()),
    )
        .prop_map(|(key, advance, late, length, value)| Write {
            key,
            advance,
            late,
            length,
            value,
        })
}

fn stores(dir: &tempfile::TempDir) -> [(&'static str, Box<dyn SessionBytesStore>); 2] {
    let rocks = RocksDbSessionStore::open(
        "s",
        &dir.path().join("s"),
        RETENTION,
        &RocksDbConfig::default(),
    )
    .unwrap();
    [
        (
            "in-memory",
            Box::new(InMemorySessionStore::new("s", RETENTION)),
        ),
        ("rocksdb", Box::new(rocks)),
    ]
}

fn bound() -> impl Strategy<Value = Option<i64>> {
    proptest::option::weighted(0.8, 0i64..200_000)
}

fn key_bound(i: usize) -> Option<&'static [u8]> {
    KEYS.get(i).copied()
}

/// Every key's sessions overlapping `[earliest_end, latest_start]`, and those of every key
/// range, forward and backward.
fn check_searches(
    engine: &str,
    store: &dyn SessionBytesStore,
    model: &Model,
    earliest_end: i64,
    latest_start: i64,
) -> Result<(), TestCaseError> {
    for key in KEYS {
        let expected = model.find(|k| k == key, earliest_end, latest_start);
        prop_assert_eq!(
            store
                .find_sessions(key, earliest_end, latest_start)
                .unwrap(),
            expected.clone(),
            "{} find_sessions",
            engine
        );
        let mut backward = store
            .backward_find_sessions(key, earliest_end, latest_start)
            .unwrap();
        backward.reverse();
        prop_assert_eq!(backward, expected, "{} backward_find_sessions", engine);
        prop_assert_eq!(
            store.fetch(key).unwrap(),
            model.find(|k| k == key, i64::MIN, i64::MAX),
            "{} fetch",
            engine
        );
    }
    for lo in (0..=KEYS.len()).map(key_bound) {
        for hi in (0..=KEYS.len()).map(key_bound) {
            let in_range = |k: &[u8]| lo.is_none_or(|lo| k >= lo) && hi.is_none_or(|hi| k <= hi);
            prop_assert_eq!(
                store
                    .find_sessions_in_key_range(lo, hi, earliest_end, latest_start)
                    .unwrap(),
                model.find(in_range, earliest_end, latest_start),
                "{} find_sessions_in_key_range",
                engine
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn session_stores_agree_with_a_model(
        writes in proptest::collection::vec(write(), 1..100),
        // A bound of `None` is open (i64::MIN or i64::MAX); otherwise it is this far behind the clock.
        query in (bound(), bound()),
    ) {
        let dir = tempfile::tempdir().unwrap();
        for (engine, mut store) in stores(&dir) {
            let mut model = Model::default();
            let mut changelog = Vec::new();
            let mut clock = -100_000i64;
            for w in &writes {
                clock += w.advance;
                let end = (clock - w.late).div_euclid(5_000) * 5_000;
                let start = end - w.length.div_euclid(5_000) * 5_000;
                let key = KEYS[w.key];
                let value = w.value.map(|v| vec![v]);
                let expected = model.put(key, start, end, value.as_deref());
                prop_assert_eq!(store.put(key, start, end, value.as_deref()).unwrap(), expected, "{} put", engine);
                changelog.push(ChangelogRecord { key: session_changelog_key(key, start, end), value, timestamp: 0 });
            }
            prop_assert_eq!(store.observed_stream_time(), model.observed.unwrap_or(i64::MIN));
            prop_assert_eq!(store.all().unwrap(), model.find(|_| true, i64::MIN, i64::MAX), "{} all", engine);

            let earliest_end = query.0.map_or(i64::MIN, |back| clock - back);
            let latest_start = query.1.map_or(i64::MAX, |back| clock - back);
            for (earliest_end, latest_start) in [(earliest_end, latest_start), (i64::MIN, latest_start), (earliest_end, i64::MAX)] {
                check_searches(engine, &*store, &model, earliest_end, latest_start)?;
            }
            for (key, end, start) in model.sessions.keys() {
                let expected = model.sessions.get(&(key.clone(), *end, *start)).filter(|_| model.live(*end)).cloned();
                prop_assert_eq!(store.fetch_session(key, *start, *end).unwrap(), expected, "{} fetch_session", engine);
            }
            if engine == "in-memory" {
                prop_assert_eq!(store.approximate_num_entries().unwrap(), model.find(|_| true, i64::MIN, i64::MAX).len() as u64);
            }

            let mut restored = InMemorySessionStore::new("restored", RETENTION);
            for batch in changelog.chunks(7) {
                restored.restore_batch(batch).unwrap();
            }
            prop_assert_eq!(restored.all().unwrap(), store.all().unwrap(), "{} restored", engine);
        }
    }
}
