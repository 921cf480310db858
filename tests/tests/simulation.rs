//! The simulation driver over many seeds (issue 22): word count, a windowed count and a
//! session count, each through a repartition topic, and a stream-stream join of two
//! co-partitioned topics, on three partitions and two instances,
//! with seeded fetches, interleavings, commits, crashes and rebalances. Properties: the final
//! results equal the naive model (what a single-partition run gives: nothing is late with
//! this much grace), and exactly-once emits no count twice.

use std::collections::BTreeMap;
use std::time::Duration;

use integration_tests::session_windows_model;
use streams_core::{Schedule, SimulationDriver};
use streams_dsl::prelude::*;

const SEEDS: u64 = 100;

/// A small generator for the inputs (the schedule has its own).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Runs `topology` on the simulation for `seed` after `pipe`, and hands the driver to
/// `check`; a failure names the seed and the schedule.
fn simulate(
    topology: impl Fn() -> Topology,
    seed: u64,
    pipe: impl FnOnce(&mut SimulationDriver),
    check: impl FnOnce(&SimulationDriver) -> Result<(), String>,
) -> streams_core::RunReport {
    let config = StreamsConfig::new("sim");
    let mut driver = SimulationDriver::new(topology(), config, Schedule::default(), seed)
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    pipe(&mut driver);
    let report = driver
        .run()
        .unwrap_or_else(|e| panic!("seed {seed}: {e}\nschedule: {:?}", driver.report().schedule));
    if let Err(failure) = check(&driver) {
        panic!(
            "seed {seed}: {failure}\nschedule ({} steps): {:?}",
            report.steps, report.schedule
        );
    }
    report
}

/// The latest value of each key, and whether some key's values failed to rise strictly.
fn latest_rising(rows: &[(Option<String>, Option<i64>, i64)]) -> (BTreeMap<String, i64>, bool) {
    let mut latest = BTreeMap::new();
    let mut rising = true;
    for (key, value, _) in rows {
        let (Some(key), Some(value)) = (key, value) else {
            continue;
        };
        if let Some(previous) = latest.insert(key.clone(), *value) {
            rising &= *value > previous;
        }
    }
    (latest, rising)
}

fn word_count() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<(), String>("lines")
        .flat_map_values(|line| {
            line.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .group_by_with(|_, word| word.clone(), Grouped::named("words"))
        .count_with(Materialized::named("counts"))
        .to_stream()
        .to("counts");
    builder.build().expect("the topology builds")
}

#[test]
fn word_count_counts_every_word_exactly_once_across_crashes_and_rebalances() {
    let words = ["ant", "bee", "cat", "dog", "eel", "fox", "gnu"];
    let (mut crashes, mut rebalances) = (0, 0);
    for seed in 0..SEEDS {
        let mut gen = Lcg(seed);
        let lines: Vec<String> = (0..40)
            .map(|_| {
                (0..1 + gen.below(4))
                    .map(|_| words[gen.below(words.len() as u64) as usize])
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let mut expected = BTreeMap::new();
        for word in lines.iter().flat_map(|l| l.split_whitespace()) {
            *expected.entry(word.to_owned()).or_insert(0) += 1;
        }
        let report = simulate(
            word_count,
            seed,
            |driver| {
                for (i, line) in lines.iter().enumerate() {
                    driver.pipe("lines", &(), line, i as i64).unwrap();
                }
            },
            |driver| {
                let rows = driver
                    .output::<String, i64>("counts")
                    .map_err(|e| e.to_string())?;
                let (latest, rising) = latest_rising(&rows);
                if latest != expected {
                    return Err(format!("counts {latest:?}, expected {expected:?}"));
                }
                if !rising {
                    return Err(format!("a count was emitted twice or went back: {rows:?}"));
                }
                Ok(())
            },
        );
        crashes += report.crashes;
        rebalances += report.rebalances;
    }
    // The schedules did crash and move tasks (else the property says little).
    assert!(crashes > SEEDS as u32 / 2, "{crashes} crashes");
    assert!(rebalances > SEEDS as u32 / 2, "{rebalances} rebalances");
}

/// Page views (user → page) counted per page and 10 ms window through a repartition topic,
/// with a grace that makes nothing late, to `page@start`.
fn windowed_views() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("views")
        .group_by_with(|_, page| page.clone(), Grouped::named("pages"))
        .windowed_by(TimeWindows::of_size_and_grace(
            Duration::from_millis(10),
            Duration::from_secs(3600),
        ))
        .count_with(Materialized::named("per-window"))
        .to_stream()
        .map(|k, v| (format!("{}@{}", k.key, k.window.start), v))
        .to("views-per-window");
    builder.build().expect("the topology builds")
}

/// `(user, page, time)` views, out of order.
fn views(seed: u64) -> Vec<(String, String, i64)> {
    let mut gen = Lcg(seed ^ 0x5eed);
    (0..60)
        .map(|_| {
            (
                format!("u{}", gen.below(9)),
                format!("p{}", gen.below(4)),
                gen.below(100) as i64,
            )
        })
        .collect()
}

#[test]
fn windowed_counts_equal_the_model_across_crashes_and_rebalances() {
    for seed in 0..SEEDS {
        let input = views(seed);
        let mut expected = BTreeMap::new();
        for (_, page, t) in &input {
            *expected
                .entry(format!("{page}@{}", t - t.rem_euclid(10)))
                .or_insert(0) += 1;
        }
        simulate(
            windowed_views,
            seed,
            |driver| {
                for (user, page, t) in &input {
                    driver.pipe("views", user, page, *t).unwrap();
                }
            },
            |driver| {
                let rows = driver
                    .output::<String, i64>("views-per-window")
                    .map_err(|e| e.to_string())?;
                let (latest, rising) = latest_rising(&rows);
                if latest != expected {
                    return Err(format!("windows {latest:?}, expected {expected:?}"));
                }
                if !rising {
                    return Err(format!("a window count was emitted twice: {rows:?}"));
                }
                Ok(())
            },
        );
    }
}

#[test]
fn session_counts_equal_the_model_across_crashes_and_rebalances() {
    let builder = || {
        let builder = StreamsBuilder::new();
        builder
            .stream::<String, String>("views")
            .group_by_with(|_, page| page.clone(), Grouped::named("pages"))
            .windowed_by_sessions(SessionWindows::of_inactivity_gap_and_grace(
                Duration::from_millis(5),
                Duration::from_secs(3600),
            ))
            .count_with(Materialized::named("sessions"))
            .to_stream()
            .map(|k, v| {
                let key = format!("{}@{}@{}", k.key, k.window.start, k.window.end);
                (key, v)
            })
            .to("sessions");
        builder.build().expect("the topology builds")
    };
    for seed in 0..SEEDS {
        let input = views(seed);
        let model_input: Vec<(u8, i64)> = input
            .iter()
            .map(|(_, page, t)| (page[1..].parse().unwrap_or(0), *t))
            .collect();
        let expected: BTreeMap<String, i64> = session_windows_model(5, 3_600_000, &model_input)
            .into_iter()
            .map(|((k, s, e), c)| (format!("p{}@{s}@{e}", &k[1..]), c))
            .collect();
        simulate(
            builder,
            seed,
            |driver| {
                for (user, page, t) in &input {
                    driver.pipe("views", user, page, *t).unwrap();
                }
            },
            |driver| {
                let rows = driver
                    .output::<String, i64>("sessions")
                    .map_err(|e| e.to_string())?;
                // A merged-away session's last record is its tombstone.
                let mut live = BTreeMap::new();
                for (key, value, _) in &rows {
                    let Some(key) = key else { continue };
                    match value {
                        Some(v) => live.insert(key.clone(), *v),
                        None => live.remove(key),
                    };
                }
                if live != expected {
                    return Err(format!("sessions {live:?}, expected {expected:?}"));
                }
                Ok(())
            },
        );
    }
}

#[test]
fn a_stream_join_emits_every_pair_exactly_once_across_crashes_and_rebalances() {
    let topology = || {
        let builder = StreamsBuilder::new();
        let views = builder.stream::<String, String>("views");
        builder
            .stream::<String, String>("clicks")
            .join(
                &views,
                |click, view| format!("{click}+{view}"),
                JoinWindows::of_time_difference_and_grace(
                    Duration::from_millis(10),
                    Duration::from_secs(3600),
                ),
            )
            .to("joined");
        builder.build().expect("the topology builds")
    };
    for seed in 0..SEEDS {
        let mut gen = Lcg(seed ^ 0x101);
        let mut side = |name: &str| -> Vec<(String, String, i64)> {
            (0..25)
                .map(|i| {
                    let user = format!("u{}", gen.below(5));
                    (user, format!("{name}{i}"), gen.below(100) as i64)
                })
                .collect()
        };
        let (clicks, views) = (side("c"), side("v"));
        let mut expected: Vec<(String, String)> = Vec::new();
        for (cu, c, ct) in &clicks {
            for (vu, v, vt) in &views {
                if cu == vu && (ct - vt).abs() <= 10 {
                    expected.push((cu.clone(), format!("{c}+{v}")));
                }
            }
        }
        expected.sort();
        simulate(
            topology,
            seed,
            |driver| {
                // Each side in its own order: the schedule interleaves them.
                for (user, value, t) in &clicks {
                    driver.pipe("clicks", user, value, *t).unwrap();
                }
                for (user, value, t) in &views {
                    driver.pipe("views", user, value, *t).unwrap();
                }
            },
            |driver| {
                let mut joined: Vec<(String, String)> = driver
                    .output::<String, String>("joined")
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .filter_map(|(k, v, _)| Some((k?, v?)))
                    .collect();
                joined.sort();
                if joined != expected {
                    return Err(format!("joined {joined:?}, expected {expected:?}"));
                }
                Ok(())
            },
        );
    }
}

/// Counts per key and 10 ms window, final results only, to `key@start`.
fn final_counts() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("events")
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_millis(
            10,
        )))
        .count_with(Materialized::named("final"))
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
        .to_stream()
        .map(|k, v| (format!("{}@{}", k.key, k.window.start), v))
        .to("final");
    builder.build().expect("the topology builds")
}

#[test]
fn a_quiet_partition_closes_its_windows_only_with_the_idle_partition_timeout() {
    let schedule = Schedule {
        partitions: 2,
        ..Schedule::default()
    };
    for seed in 0..20 {
        for on in [false, true] {
            let config = StreamsConfig::new("sim-quiet");
            let config = if on {
                config.idle_partition_timeout(Duration::from_millis(100))
            } else {
                config
            };
            let mut driver = SimulationDriver::new(final_counts(), config, schedule, seed).unwrap();
            // One key on each partition: `quiet` gets one record, `busy` moves on to 400 ms.
            let key_on = |driver: &SimulationDriver, p: i32| {
                (0..)
                    .map(|i| format!("k{i}"))
                    .find(|k| driver.partition_for_key(k.as_bytes()) == p)
                    .unwrap_or_default()
            };
            let (quiet, busy) = (key_on(&driver, 0), key_on(&driver, 1));
            driver.pipe("events", &quiet, &String::new(), 1).unwrap();
            for t in 1..400 {
                driver.pipe("events", &busy, &String::new(), t).unwrap();
            }
            let report = driver.run().unwrap();
            let finals: BTreeMap<String, i64> = driver
                .output::<String, i64>("final")
                .unwrap()
                .into_iter()
                .filter_map(|(k, v, _)| Some((k?, v?)))
                .collect();
            let busy_windows = finals.keys().filter(|k| k.starts_with(&busy)).count();
            let quiet_final = finals.get(&format!("{quiet}@0")).copied();
            assert_eq!(busy_windows, 39, "seed {seed}: {:?}", report.schedule);
            assert_eq!(
                quiet_final,
                on.then_some(1),
                "seed {seed}, rule on: {on}: {:?}",
                report.schedule
            );
        }
    }
}

#[test]
fn the_same_seed_replays_the_same_schedule() {
    let run = |seed| {
        let mut driver = SimulationDriver::new(
            word_count(),
            StreamsConfig::new("sim"),
            Schedule::default(),
            seed,
        )
        .unwrap();
        for i in 0..30 {
            driver
                .pipe("lines", &(), &format!("w{} w{}", i % 5, i % 3), i)
                .unwrap();
        }
        driver.run().unwrap()
    };
    let (a, b, c) = (run(7), run(7), run(8));
    assert_eq!(a, b);
    assert_ne!(a.schedule, c.schedule);
}
