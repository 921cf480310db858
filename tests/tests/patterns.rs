//! Sources that subscribe to topics by pattern (`StreamsBuilder::stream_pattern`), through
//! the test driver: every matching topic is read by the one source, none other is.

use integration_tests::s;
use streams_dsl::prelude::*;

#[test]
fn a_pattern_source_reads_every_matching_topic_into_one_count() {
    let builder = StreamsBuilder::new();
    builder
        .stream_pattern::<String, String>("clicks-[a-z]+")
        .group_by_key()
        .count()
        .to_stream()
        .to("counts");
    let topology = builder.build().unwrap();
    let described = topology.describe().to_string();
    assert!(described.contains("clicks-[a-z]+"), "{described}");
    let driver = TopologyTestDriver::new(topology, StreamsConfig::new("patterns")).unwrap();
    let (eu, us) = (
        driver.input_topic::<String, String>("clicks-eu").unwrap(),
        driver.input_topic::<String, String>("clicks-us").unwrap(),
    );
    eu.pipe_key_value_at(s("ann"), s("/"), 1).unwrap();
    us.pipe_key_value_at(s("ann"), s("/"), 2).unwrap();
    eu.pipe_key_value_at(s("bob"), s("/"), 3).unwrap();
    let out = driver.output_topic::<String, i64>("counts").unwrap();
    assert_eq!(
        out.read_key_values_to_list().unwrap(),
        vec![(s("ann"), 1), (s("ann"), 2), (s("bob"), 1)]
    );
    // The whole name must match.
    for other in ["clicks-EU", "clicks-", "old-clicks-eu", "clicks-eu-2"] {
        assert!(
            driver.input_topic::<String, String>(other).is_err(),
            "{other}"
        );
    }
    // Both topics' records were counted in the same store, and survive a restart.
    driver.restart().unwrap();
    us.pipe_key_value_at(s("bob"), s("/"), 4).unwrap();
    assert_eq!(out.read_key_values_to_list().unwrap(), vec![(s("bob"), 2)]);
}

#[test]
fn a_pattern_that_does_not_compile_fails_the_build() {
    let builder = StreamsBuilder::new();
    builder
        .stream_pattern::<String, String>("clicks-(")
        .to("out");
    let error = builder.build().expect_err("the pattern is refused");
    assert!(error.to_string().contains("clicks-("), "{error}");
}
