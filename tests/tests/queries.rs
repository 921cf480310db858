//! Interactive queries read through the record cache without flushing it: what a cached
//! aggregation emits is the same whether or not its store was queried meanwhile.

use integration_tests::s;
use streams_dsl::prelude::*;

/// Counts per key, cached until each commit.
fn counting() -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("clicks")
        .group_by_key()
        .count_with(Materialized::named("counts"))
        .to_stream()
        .to("counts-out");
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("queries")).unwrap();
    driver.flush_caches_after_each_record(false);
    driver
}

/// Pipes `before`, runs `query` on the store, pipes `after`, commits; returns what the
/// count emitted.
fn emitted(query: impl Fn(&KeyValueStore<String, i64>)) -> Vec<(String, i64)> {
    let driver = counting();
    let clicks = driver.input_topic::<String, String>("clicks").unwrap();
    for key in ["ann", "bob", "ann", "cid"] {
        clicks.pipe_key_value(s(key), s("/")).unwrap();
    }
    query(&driver.key_value_store::<String, i64>("counts").unwrap());
    for key in ["ann", "cid"] {
        clicks.pipe_key_value(s(key), s("/")).unwrap();
    }
    driver.commit().unwrap();
    let mut out = driver
        .output_topic::<String, i64>("counts-out")
        .unwrap()
        .read_key_values_to_list()
        .unwrap();
    out.sort();
    out
}

#[test]
fn range_queries_see_cached_counts_and_leave_the_cache_unflushed() {
    let unqueried = emitted(|_| {});
    assert_eq!(unqueried, vec![(s("ann"), 3), (s("bob"), 1), (s("cid"), 2)]);
    let queried = emitted(|store| {
        let all = store.all().unwrap();
        assert_eq!(all, vec![(s("ann"), 2), (s("bob"), 1), (s("cid"), 1)]);
        let backwards = store.reverse_range(&s("b"), &s("z")).unwrap();
        assert_eq!(backwards, vec![(s("cid"), 1), (s("bob"), 1)]);
        assert_eq!(store.approximate_num_entries().unwrap(), 3);
        assert_eq!(store.get(&s("ann")).unwrap(), Some(2));
    });
    // A query that flushed would have emitted ann=2 and cid=1 before the commit.
    assert_eq!(queried, unqueried);
}

#[test]
fn a_range_query_merges_cached_writes_and_deletes_over_the_committed_store() {
    let driver = counting();
    let clicks = driver.input_topic::<String, String>("clicks").unwrap();
    for key in ["ann", "bob", "cid"] {
        clicks.pipe_key_value(s(key), s("/")).unwrap();
    }
    driver.commit().unwrap();
    // Committed: ann, bob, cid = 1. Cached on top: ann = 2, dan = 1.
    for key in ["ann", "dan"] {
        clicks.pipe_key_value(s(key), s("/")).unwrap();
    }
    let store = driver.key_value_store::<String, i64>("counts").unwrap();
    assert_eq!(
        store.all().unwrap(),
        vec![(s("ann"), 2), (s("bob"), 1), (s("cid"), 1), (s("dan"), 1)]
    );
    assert_eq!(store.approximate_num_entries().unwrap(), 4);
    // A cached delete hides the committed entry.
    store.delete(&s("bob")).unwrap();
    assert_eq!(store.range(&s("a"), &s("c")).unwrap(), vec![(s("ann"), 2)]);
    assert_eq!(store.approximate_num_entries().unwrap(), 3);
}
