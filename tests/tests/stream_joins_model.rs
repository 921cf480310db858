//! Stream-stream joins against a naive model: for random inputs arriving out of order by less
//! than the grace period, the joined pairs are exactly those whose times are within the join
//! window, and every record without a partner (left side for left joins, both for outer
//! joins) is emitted alone exactly once, with its own time, after its window has closed.

use std::time::Duration;

use proptest::prelude::*;
use streams_core::StoreEngine;
use streams_dsl::prelude::*;

/// The largest disorder: each record arrives after every record at least this much earlier.
const DISORDER: i64 = 3;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Inner,
    Left,
    Outer,
}

#[derive(Clone, Debug)]
struct Input {
    left: bool,
    key: u8,
    time: i64,
    value: String,
}

/// `(key, left value or "null", right value or "null", time)`.
type Row = (String, String, String, i64);

fn model(kind: Kind, windows: JoinWindows, input: &[Input]) -> Vec<Row> {
    let (lefts, rights): (Vec<&Input>, Vec<&Input>) = input.iter().partition(|r| r.left);
    let joins = |l: &Input, r: &Input| {
        l.key == r.key
            && r.time >= l.time - windows.before_ms()
            && r.time <= l.time + windows.after_ms()
    };
    let mut rows = Vec::new();
    for l in &lefts {
        for r in &rights {
            if joins(l, r) {
                rows.push((
                    format!("k{}", l.key),
                    l.value.clone(),
                    r.value.clone(),
                    l.time.max(r.time),
                ));
            }
        }
    }
    if kind != Kind::Inner {
        for l in lefts.iter().filter(|l| !rights.iter().any(|r| joins(l, r))) {
            rows.push((
                format!("k{}", l.key),
                l.value.clone(),
                "null".into(),
                l.time,
            ));
        }
    }
    if kind == Kind::Outer {
        for r in rights.iter().filter(|r| !lefts.iter().any(|l| joins(l, r))) {
            rows.push((
                format!("k{}", r.key),
                "null".into(),
                r.value.clone(),
                r.time,
            ));
        }
    }
    rows.sort();
    rows
}

fn show(v: Option<&String>) -> String {
    v.cloned().unwrap_or_else(|| "null".into())
}

fn run(
    kind: Kind,
    windows: JoinWindows,
    engine: StoreEngine,
    input: &[Input],
) -> Result<Vec<Row>, TestCaseError> {
    let builder = StreamsBuilder::new();
    let left = builder.stream::<String, String>("left");
    let right = builder.stream::<String, String>("right");
    let joined = StreamJoined::new().with_store_engine(engine.clone());
    // The joined value keeps both sides apart: "left|right".
    let stream = match kind {
        Kind::Inner => left.join_with(&right, |l, r| format!("{l}|{r}"), windows, joined),
        Kind::Left => {
            left.left_join_with(&right, |l, r| format!("{l}|{}", show(r)), windows, joined)
        }
        Kind::Outer => left.outer_join_with(
            &right,
            |l, r| format!("{}|{}", show(l), show(r)),
            windows,
            joined,
        ),
    };
    stream.to("out");
    let driver = TopologyTestDriver::new(
        builder.build().expect("builds"),
        StreamsConfig::new("model"),
    )
    .expect("driver");
    let lefts = driver.input_topic::<String, String>("left").expect("topic");
    let rights = driver
        .input_topic::<String, String>("right")
        .expect("topic");
    let out = driver.output_topic::<String, String>("out").expect("topic");
    let mut stream_time = i64::MIN;
    let mut rows = Vec::new();
    let last = input.iter().map(|r| r.time).max().unwrap_or(0);
    // Two records far later close every window (they wait unjoined themselves).
    let flush = [
        Input {
            left: true,
            key: 100,
            time: last + 1_000,
            value: "end".into(),
        },
        Input {
            left: false,
            key: 101,
            time: last + 1_000,
            value: "end".into(),
        },
    ];
    for r in input.iter().chain(&flush) {
        let topic = if r.left { &lefts } else { &rights };
        topic
            .pipe_key_value_at(format!("k{}", r.key), r.value.clone(), r.time)
            .expect("pipe");
        stream_time = stream_time.max(r.time);
        for record in out.read_records_to_list().expect("read") {
            let key = record.key.expect("a key");
            let value = record.value.expect("a value");
            let time = record.timestamp.expect("a time");
            let (l, r) = value.split_once('|').expect("left|right");
            // An unjoined record comes out only once its window has closed.
            let closes = match (l, r) {
                (_, "null") => Some(time + windows.after_ms() + windows.grace_ms()),
                ("null", _) => Some(time + windows.before_ms() + windows.grace_ms()),
                _ => None,
            };
            if let Some(closes) = closes {
                prop_assert!(
                    stream_time > closes,
                    "{value} at {time} emitted at stream time {stream_time}"
                );
            }
            rows.push((key, l.to_owned(), r.to_owned(), time));
        }
    }
    rows.sort();
    Ok(rows)
}

fn inputs() -> impl Strategy<Value = Vec<Input>> {
    prop::collection::vec((any::<bool>(), 0u8..3, 0i64..4, 0..DISORDER), 0..40).prop_map(|draws| {
        let mut time = 0;
        let mut records: Vec<(i64, Input)> = draws
            .into_iter()
            .enumerate()
            .map(|(i, (left, key, step, jitter))| {
                time += step;
                let value = format!("{}{i}", if left { "L" } else { "R" });
                (
                    time + jitter,
                    Input {
                        left,
                        key,
                        time,
                        value,
                    },
                )
            })
            .collect();
        // Arrival order: by time plus a jitter below DISORDER.
        records.sort_by_key(|(arrival, _)| *arrival);
        records.into_iter().map(|(_, r)| r).collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn joins_match_the_model(
        input in inputs(),
        kind in prop_oneof![Just(Kind::Inner), Just(Kind::Left), Just(Kind::Outer)],
        before in DISORDER..DISORDER + 8,
        after in DISORDER..DISORDER + 8,
        grace in DISORDER..DISORDER + 4,
        in_memory in any::<bool>(),
    ) {
        let windows = JoinWindows::of_time_difference_and_grace(
            Duration::from_millis(after as u64),
            Duration::from_millis(grace as u64),
        )
        .before(Duration::from_millis(before as u64));
        let engine = if in_memory { StoreEngine::InMemory } else { StoreEngine::RocksDb };
        let got = run(kind, windows, engine.clone(), &input)?;
        prop_assert_eq!(got, model(kind, windows, &input));
    }
}
