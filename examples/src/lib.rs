//! The topologies of the example applications, shared by their binaries and their tests.

#![warn(missing_docs)]

pub mod cluster;
pub mod progress;
pub mod shutdown;

use serde::{Deserialize, Serialize};
use streams_dsl::prelude::*;

/// Word count: splits each line of `input` into lowercase words and counts each word,
/// writing every new count to `output` and keeping the counts in the store `word-counts`.
pub fn word_count(input: &str, output: &str) -> Result<Topology, TopologyError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<(), String>(input)
        .flat_map_values(|line| {
            line.split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .group_by_with(|_, word| word.clone(), Grouped::named("words"))
        .count_with(Materialized::named("word-counts"))
        .to_stream()
        .to(output);
    builder.build()
}

/// A payment to or from an account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    /// The account.
    pub account: String,
    /// The amount in cents; negative for a withdrawal.
    pub amount_cents: i64,
}

/// The running state of an account.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Balance {
    /// The sum of all amounts, in cents.
    pub total_cents: i64,
    /// How many transactions made it.
    pub transactions: u64,
}

/// Running total: keys each JSON transaction of `input` by account, drops empty ones, and
/// keeps a running balance per account in the store `balances`, writing each new balance to
/// `output` as JSON.
pub fn running_total(input: &str, output: &str) -> Result<Topology, TopologyError> {
    let builder = StreamsBuilder::new()
        .with_serde(Serdes::json::<Transaction>())
        .with_serde(Serdes::json::<Balance>());
    builder
        .stream::<(), Transaction>(input)
        .filter(|_, t| t.amount_cents != 0)
        .select_key(|_, t| t.account.clone())
        .group_by_key()
        .aggregate_with(
            Balance::default,
            |_, t, balance| Balance {
                total_cents: balance.total_cents + t.amount_cents,
                transactions: balance.transactions + 1,
            },
            Materialized::named("balances"),
        )
        .to_stream()
        .to(output);
    builder.build()
}

/// An order placed by a customer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// The customer's id, the key of the `customers` table.
    pub customer: String,
    /// The amount due, in cents.
    pub amount_cents: i64,
}

/// An order with its customer's name, and what was paid for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaidOrder {
    /// The customer's name, from the `customers` table.
    pub customer_name: String,
    /// The amount due, in cents.
    pub amount_cents: i64,
    /// The amount paid, in cents.
    pub paid_cents: i64,
}

/// Orders enriched with customers and matched with payments. `orders` (JSON [`Order`]s keyed
/// by order id) are re-keyed by customer, joined with the table `customers` (names keyed by
/// customer id), keyed by order id again, and joined with `payments` (amounts in cents keyed
/// by order id) that arrive within `window` of their order; each match goes to `output` as a
/// JSON [`PaidOrder`] keyed by order id. Orders of unknown customers are dropped.
pub fn paid_orders(
    customers: &str,
    orders: &str,
    payments: &str,
    output: &str,
    window: std::time::Duration,
) -> Result<Topology, TopologyError> {
    let builder = StreamsBuilder::new()
        .with_serde(Serdes::json::<Order>())
        .with_serde(Serdes::json::<PaidOrder>())
        .with_serde(Serdes::json::<(String, Order)>())
        .with_serde(Serdes::json::<(String, i64)>());
    let customers = builder.table::<String, String>(customers);
    let enriched = builder
        .stream::<String, Order>(orders)
        // Keyed by customer, carrying the order id along.
        .map(|order_id, order| (order.customer.clone(), (order_id, order)))
        .join_table(&customers, |(order_id, order), name| {
            (order_id, name, order.amount_cents)
        })
        // Keyed by order id again, to meet the payments.
        .map(|_, (order_id, name, amount)| (order_id, (name, amount)));
    enriched
        .join(
            &builder.stream::<String, i64>(payments),
            |(name, amount), paid| PaidOrder {
                customer_name: name.clone(),
                amount_cents: *amount,
                paid_cents: *paid,
            },
            JoinWindows::of_time_difference_with_no_grace(window),
        )
        .to(output);
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_count_counts_words_across_lines() -> Result<(), Box<dyn std::error::Error>> {
        let driver =
            TopologyTestDriver::new(word_count("lines", "counts")?, StreamsConfig::new("wc"))?;
        let lines = driver.input_topic::<(), String>("lines")?;
        lines.pipe_values(["To be, or not to be".to_string(), "that is".to_string()])?;
        let counts = driver
            .output_topic::<String, i64>("counts")?
            .read_key_values_to_map()?;
        assert_eq!(counts["to"], 2);
        assert_eq!(counts["be"], 2);
        assert_eq!(counts["that"], 1);
        let store = driver.key_value_store::<String, i64>("word-counts")?;
        assert_eq!(store.all()?.len(), 6);
        Ok(())
    }

    #[test]
    fn running_total_keeps_a_balance_per_account() -> Result<(), Box<dyn std::error::Error>> {
        let driver =
            TopologyTestDriver::new(running_total("tx", "balances")?, StreamsConfig::new("rt"))?;
        let tx =
            driver.input_topic_with::<(), Transaction>("tx", Serdes::unit(), Serdes::json())?;
        for (account, amount_cents) in [("ann", 500), ("bob", 100), ("ann", -200), ("ann", 0)] {
            tx.pipe_value(Transaction {
                account: account.into(),
                amount_cents,
            })?;
        }
        let balances = driver.output_topic_with::<String, Balance>(
            "balances",
            Serdes::string(),
            Serdes::json(),
        )?;
        let latest = balances.read_key_values_to_map()?;
        assert_eq!(
            latest["ann"],
            Balance {
                total_cents: 300,
                transactions: 2
            }
        );
        assert_eq!(
            latest["bob"],
            Balance {
                total_cents: 100,
                transactions: 1
            }
        );
        Ok(())
    }

    #[test]
    fn paid_orders_meet_their_customer_and_payment() -> Result<(), Box<dyn std::error::Error>> {
        let topology = paid_orders(
            "customers",
            "orders",
            "payments",
            "paid",
            std::time::Duration::from_secs(60),
        )?;
        let driver = TopologyTestDriver::new(topology, StreamsConfig::new("shop"))?;
        let customers = driver.input_topic::<String, String>("customers")?;
        let orders =
            driver.input_topic_with::<String, Order>("orders", Serdes::string(), Serdes::json())?;
        let payments = driver.input_topic::<String, i64>("payments")?;
        customers.pipe_key_value_at("c1".into(), "Ann".into(), 0)?;
        let order = |amount_cents| Order {
            customer: "c1".into(),
            amount_cents,
        };
        orders.pipe_key_value_at("o1".into(), order(500), 1_000)?;
        orders.pipe_key_value_at("o2".into(), order(700), 2_000)?;
        // An unknown customer: no enriched order, so its payment finds nothing.
        orders.pipe_key_value_at(
            "o3".into(),
            Order {
                customer: "c9".into(),
                amount_cents: 1,
            },
            3_000,
        )?;
        payments.pipe_key_value_at("o1".into(), 500, 30_000)?;
        payments.pipe_key_value_at("o3".into(), 1, 31_000)?;
        // Too late for o2's window.
        payments.pipe_key_value_at("o2".into(), 700, 90_000)?;
        let paid = driver.output_topic_with::<String, PaidOrder>(
            "paid",
            Serdes::string(),
            Serdes::json(),
        )?;
        assert_eq!(
            paid.read_key_values_to_list()?,
            vec![(
                "o1".to_string(),
                PaidOrder {
                    customer_name: "Ann".into(),
                    amount_cents: 500,
                    paid_cents: 500
                }
            )]
        );
        Ok(())
    }
}
