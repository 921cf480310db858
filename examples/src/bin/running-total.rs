//! Running total per account over JSON transactions, run on the test driver with generated
//! input: prints every balance update and the final balances.
//!
//! `cargo run -p examples --bin running-total`

use examples::{running_total, Balance, Transaction};
use streams_dsl::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    let driver = TopologyTestDriver::new(
        running_total("transactions", "balances")?,
        StreamsConfig::new("running-total"),
    )?;
    let input = driver.input_topic_with::<(), Transaction>(
        "transactions",
        Serdes::unit(),
        Serdes::json(),
    )?;
    let output = driver.output_topic_with::<String, Balance>(
        "balances",
        Serdes::string(),
        Serdes::json(),
    )?;

    let accounts = ["alice", "bob", "carol"];
    for i in 0..12i64 {
        let account = accounts[(i % 3) as usize].to_owned();
        // A deterministic mix of deposits, withdrawals and empty transactions.
        let amount_cents = match i % 4 {
            0 => 1_000 + i * 10,
            1 => -250,
            2 => 0,
            _ => 75 * i,
        };
        input.pipe_value(Transaction {
            account,
            amount_cents,
        })?;
    }

    for record in output.read_records_to_list()? {
        if let (Some(account), Some(balance)) = (record.key, record.value) {
            println!(
                "{account:>6}: {:>8.2} after {} transactions",
                balance.total_cents as f64 / 100.0,
                balance.transactions
            );
        }
    }
    println!("final balances:");
    let store = driver.key_value_store::<String, Balance>("balances")?;
    for (account, balance) in store.all()? {
        println!("  {account:>6} {:>8.2}", balance.total_cents as f64 / 100.0);
    }
    Ok(())
}
