//! `cogroup` through the test driver: several grouped streams, each with its own aggregator
//! and value type, folded into one aggregate per key, per time window and per session; an
//! input whose key changed is repartitioned first.

use std::time::Duration;

use integration_tests::s;
use streams_dsl::prelude::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Visits, purchases in cents and refunds, as (visits, net cents).
type Activity = (i64, i64);

fn activity() -> Materialized<String, Activity> {
    Materialized::new().with_value_serde(Serdes::json())
}

#[test]
fn three_streams_fold_into_one_aggregate_per_key() {
    let builder = StreamsBuilder::new();
    let visits = builder.stream::<String, String>("visits").group_by_key();
    let purchases = builder.stream::<String, i64>("purchases").group_by_key();
    // Refunds arrive keyed by order; their value names the customer: regrouped by customer.
    let refunds = builder
        .stream::<String, String>("refunds")
        .group_by(|_, value: &String| value.split(':').next().unwrap_or_default().to_owned());
    visits
        .cogroup(|_, _page, (visits, cents): Activity| (visits + 1, cents))
        .cogroup(purchases, |_, amount, (visits, cents)| {
            (visits, cents + amount)
        })
        .cogroup(refunds, |_, refund: String, (visits, cents)| {
            let amount: i64 = refund
                .split(':')
                .nth(1)
                .and_then(|a| a.parse().ok())
                .unwrap_or(0);
            (visits, cents - amount)
        })
        .aggregate_with(|| (0, 0), activity())
        .to_stream()
        .to_with(
            "activity",
            Produced::with(Serdes::string(), Serdes::optional(Serdes::json())),
        );
    let topology = builder.build().unwrap();
    let description = topology.describe().to_string();
    assert!(
        description.contains("repartition"),
        "the regrouped input is repartitioned: {description}"
    );
    let driver = TopologyTestDriver::new(topology, StreamsConfig::new("cogroup")).unwrap();
    let visits = driver.input_topic::<String, String>("visits").unwrap();
    let purchases = driver.input_topic::<String, i64>("purchases").unwrap();
    let refunds = driver.input_topic::<String, String>("refunds").unwrap();
    visits.pipe_key_value_at(s("ann"), s("/"), 1).unwrap();
    purchases.pipe_key_value_at(s("ann"), 500, 2).unwrap();
    visits.pipe_key_value_at(s("bob"), s("/"), 3).unwrap();
    refunds
        .pipe_key_value_at(s("order-7"), s("ann:200"), 4)
        .unwrap();
    visits.pipe_key_value_at(s("ann"), s("/cart"), 5).unwrap();
    let out = driver
        .output_topic_with::<String, Option<Activity>>(
            "activity",
            Serdes::string(),
            Serdes::optional(Serdes::json()),
        )
        .unwrap();
    assert_eq!(
        out.read_key_values_to_list().unwrap(),
        vec![
            (s("ann"), Some((1, 0))),
            (s("ann"), Some((1, 500))),
            (s("bob"), Some((1, 0))),
            (s("ann"), Some((1, 300))),
            (s("ann"), Some((2, 300))),
        ]
    );
}

#[test]
fn cogrouped_streams_aggregate_per_time_window_and_per_session() {
    let builder = StreamsBuilder::new();
    let visits = builder.stream::<String, String>("visits").group_by_key();
    let purchases = builder.stream::<String, i64>("purchases").group_by_key();
    visits
        .cogroup(|_, _page, (visits, cents): Activity| (visits + 1, cents))
        .cogroup(purchases, |_, amount, (visits, cents)| {
            (visits, cents + amount)
        })
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)))
        .emit_strategy(EmitStrategy::OnWindowClose)
        .aggregate_with(|| (0, 0), activity())
        .to_stream()
        .map(|k, v| (format!("{}@{}", k.key, k.window.start), format!("{v:?}")))
        .to("per-window");
    let visits = builder
        .stream::<String, String>("session-visits")
        .group_by_key();
    let purchases = builder
        .stream::<String, i64>("session-purchases")
        .group_by_key();
    visits
        .cogroup(|_, _page, (visits, cents): Activity| (visits + 1, cents))
        .cogroup(purchases, |_, amount, (visits, cents)| {
            (visits, cents + amount)
        })
        .windowed_by_sessions(SessionWindows::of_inactivity_gap_with_no_grace(ms(10)))
        .emit_strategy(EmitStrategy::OnWindowClose)
        .aggregate_with(|| (0, 0), |_, a, b| (a.0 + b.0, a.1 + b.1), activity())
        .to_stream()
        .map(|k, v| {
            (
                format!("{}@{}-{}", k.key, k.window.start, k.window.end),
                format!("{v:?}"),
            )
        })
        .to("per-session");
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("cogroup")).unwrap();
    for (visits, purchases) in [
        ("visits", "purchases"),
        ("session-visits", "session-purchases"),
    ] {
        let visits = driver.input_topic::<String, String>(visits).unwrap();
        let purchases = driver.input_topic::<String, i64>(purchases).unwrap();
        visits.pipe_key_value_at(s("ann"), s("/"), 1).unwrap();
        purchases.pipe_key_value_at(s("ann"), 500, 8).unwrap();
        visits.pipe_key_value_at(s("ann"), s("/"), 15).unwrap();
        visits.pipe_key_value_at(s("ann"), s("/"), 40).unwrap();
    }
    let per_window = driver.output_topic::<String, String>("per-window").unwrap();
    assert_eq!(
        per_window.read_key_values_to_list().unwrap(),
        vec![
            (s("ann@0"), s("Some((1, 500))")),
            (s("ann@10"), s("Some((1, 0))")),
        ]
    );
    let per_session = driver
        .output_topic::<String, String>("per-session")
        .unwrap();
    assert_eq!(
        per_session.read_key_values_to_list().unwrap(),
        vec![(s("ann@1-15"), s("Some((2, 500))"))]
    );
}
