//! Running total per account on Kafka: starts an embedded Kafka cluster (or uses the one
//! given with `--bootstrap-servers HOST:PORT`), writes JSON transactions to `transactions`,
//! runs the running-total application, and prints the balances it writes to `balances`.
//!
//! `cargo run --release -p examples --bin running-total [-- --bootstrap-servers HOST:PORT]`

use std::collections::BTreeMap;
use std::time::Duration;

use examples::cluster::Cluster;
use examples::{running_total, Balance, Transaction};
use streams_dsl::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    let cluster = Cluster::from_args()?;
    cluster.create_topics(&[("transactions", 3), ("balances", 3)])?;
    let state_dir = tempfile::tempdir()?;
    let config = StreamsConfig::new("running-total")
        .state_dir(state_dir.path())
        .commit_interval(Duration::from_millis(500))
        .consumer_property("session.timeout.ms", "6000");
    let streams =
        std::sync::Arc::new(cluster.streams(running_total("transactions", "balances")?, config));
    examples::shutdown::close_on_ctrl_c(std::sync::Arc::clone(&streams))?;
    streams.start()?;

    let accounts = ["alice", "bob", "carol"];
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    let mut records = Vec::new();
    for i in 0..12i64 {
        let account = accounts[(i % 3) as usize].to_owned();
        // A deterministic mix of deposits, withdrawals and empty transactions.
        let amount_cents = match i % 4 {
            0 => 1_000 + i * 10,
            1 => -250,
            2 => 0,
            _ => 75 * i,
        };
        *expected.entry(account.clone()).or_default() += amount_cents;
        let transaction = Transaction {
            account,
            amount_cents,
        };
        records.push((None, serde_json::to_vec(&transaction)?));
    }
    cluster.produce("transactions", &records)?;

    let balances = cluster.read_table(
        "balances",
        |k| String::from_utf8(k.to_vec()).ok(),
        |v| serde_json::from_slice::<Balance>(v).ok(),
        Duration::from_secs(60),
        |table| {
            expected
                .iter()
                .all(|(a, total)| table.get(a).is_some_and(|b| b.total_cents == *total))
        },
    )?;
    println!("balances:");
    for (account, balance) in &balances {
        println!(
            "  {account:>6} {:>8.2} after {} transactions",
            balance.total_cents as f64 / 100.0,
            balance.transactions
        );
    }
    streams.close(Duration::from_secs(30));
    Ok(())
}
