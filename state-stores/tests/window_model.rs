//! Window stores of both engines agree with a naive model under random puts and deletes:
//! a `BTreeMap` of every window ever written, read through the same expiry rule.

use std::collections::BTreeMap;

use proptest::prelude::*;
use state_stores::{
    window_changelog_key, ChangelogRecord, InMemoryWindowStore, RocksDbConfig, RocksDbWindowStore,
    WindowBytesStore, WindowEntry,
};

const RETENTION: i64 = 60_000;
/// Keys where one is a prefix of another, so that engine keys interleave.
const KEYS: [&[u8]; 5] = [b"", b"a", b"a\x00", b"ab", b"b"];

/// Every window ever written; reads keep those within retention of the observed time.
#[derive(Default)]
struct Model {
    observed: Option<i64>,
    windows: BTreeMap<(Vec<u8>, i64), Vec<u8>>,
}

impl Model {
    fn live(&self, start: i64) -> bool {
        self.observed
            .is_none_or(|observed| start >= observed.saturating_sub(RETENTION))
    }

    fn put(&mut self, key: &[u8], start: i64, value: Option<&[u8]>) -> bool {
        self.observed = Some(self.observed.map_or(start, |o| o.max(start)));
        if !self.live(start) {
            return false;
        }
        match value {
            Some(v) => self.windows.insert((key.to_vec(), start), v.to_vec()),
            None => self.windows.remove(&(key.to_vec(), start)),
        };
        true
    }

    fn select(&self, keep: impl Fn(&[u8], i64) -> bool) -> Vec<WindowEntry> {
        self.windows
            .iter()
            .filter(|((k, t), _)| self.live(*t) && keep(k, *t))
            .map(|((k, t), v)| WindowEntry {
                key: k.clone(),
                window_start: *t,
                value: v.clone(),
            })
            .collect()
    }
}

/// One write: a key, how far the test's clock moves, how late the window is behind it (in
/// steps of 5 s, so that writes often hit the same window), and the value (`None`: delete).
#[derive(Clone, Debug)]
struct Write {
    key: usize,
    advance: i64,
    late: i64,
    value: Option<u8>,
}

fn write() -> impl Strategy<Value = Write> {
    (
        0..KEYS.len(),
        0i64..20_000,
        prop_oneof![Just(0i64), 0i64..20, 0i64..90_000],
        proptest::option::weighted(0.75, any::<u8>()),
    )
        .prop_map(|(key, advance, late, value)| Write {
            key,
            advance,
            late,
            value,
        })
}

fn stores(dir: &tempfile::TempDir) -> [(&'static str, Box<dyn WindowBytesStore>); 2] {
    let rocks = RocksDbWindowStore::open(
        "w",
        &dir.path().join("w"),
        RETENTION,
        &RocksDbConfig::default(),
    )
    .unwrap();
    [
        (
            "in-memory",
            Box::new(InMemoryWindowStore::new("w", RETENTION)),
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

/// Every key's windows in `[from, to]`, and those of every key range, forward and backward.
fn check_ranges(
    engine: &str,
    store: &dyn WindowBytesStore,
    model: &Model,
    from: i64,
    to: i64,
) -> Result<(), TestCaseError> {
    for key in KEYS {
        let expected = model.select(|k, t| k == key && (from..=to).contains(&t));
        prop_assert_eq!(
            store.fetch_range(key, from, to).unwrap(),
            expected.clone(),
            "{} fetch_range",
            engine
        );
        let mut backward = store.backward_fetch_range(key, from, to).unwrap();
        backward.reverse();
        prop_assert_eq!(backward, expected, "{} backward_fetch_range", engine);
    }
    for lo in (0..=KEYS.len()).map(key_bound) {
        for hi in (0..=KEYS.len()).map(key_bound) {
            let expected = model.select(|k, t| {
                lo.is_none_or(|lo| k >= lo)
                    && hi.is_none_or(|hi| k <= hi)
                    && (from..=to).contains(&t)
            });
            prop_assert_eq!(
                store.fetch_key_range(lo, hi, from, to).unwrap(),
                expected.clone(),
                "{} fetch_key_range",
                engine
            );
            let mut backward = store.backward_fetch_key_range(lo, hi, from, to).unwrap();
            backward.reverse();
            prop_assert_eq!(backward, expected, "{} backward_fetch_key_range", engine);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn window_stores_agree_with_a_model(
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
                let start = (clock - w.late).div_euclid(5_000) * 5_000;
                let key = KEYS[w.key];
                let value = w.value.map(|v| vec![v]);
                let expected = model.put(key, start, value.as_deref());
                prop_assert_eq!(store.put(key, start, value.as_deref()).unwrap(), expected, "{} put", engine);
                changelog.push(ChangelogRecord { key: window_changelog_key(key, start), value, timestamp: 0 });
            }
            prop_assert_eq!(store.observed_stream_time(), model.observed.unwrap_or(i64::MIN));
            prop_assert_eq!(store.all().unwrap(), model.select(|_, _| true), "{} all", engine);

            let from = query.0.map_or(i64::MIN, |back| clock - back);
            let to = query.1.map_or(i64::MAX, |back| clock - back);
            for (from, to) in [(from, to), (i64::MIN, to), (from, i64::MAX)] {
                check_ranges(engine, &*store, &model, from, to)?;
            }
            for (key, start) in model.windows.keys() {
                let expected = model.windows.get(&(key.clone(), *start)).filter(|_| model.live(*start)).cloned();
                prop_assert_eq!(store.fetch(key, *start).unwrap(), expected, "{} fetch", engine);
            }
            if engine == "in-memory" {
                prop_assert_eq!(store.approximate_num_entries().unwrap(), model.select(|_, _| true).len() as u64);
            }

            let mut restored = InMemoryWindowStore::new("restored", RETENTION);
            for batch in changelog.chunks(7) {
                state_stores::Restorable::restore_batch(&mut restored, batch).unwrap();
            }
            prop_assert_eq!(restored.all().unwrap(), store.all().unwrap(), "{} restored", engine);
        }
    }
}
