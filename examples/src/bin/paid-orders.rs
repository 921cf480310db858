//! Orders enriched with customers and matched with payments, on Kafka: starts an embedded
//! Kafka cluster (or uses the one given with `--bootstrap-servers HOST:PORT`), writes
//! customers, orders and payments, runs the application (a stream-table join, then a
//! stream-stream join, each after a repartition), and prints the paid orders it writes.
//!
//! `cargo run --release -p examples --bin paid-orders [-- --bootstrap-servers HOST:PORT]`

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use examples::cluster::Cluster;
use examples::{paid_orders, Order, PaidOrder};
use streams_dsl::prelude::*;

const CUSTOMERS: &[(&str, &str)] = &[("c1", "Ann"), ("c2", "Bob"), ("c3", "Cleo")];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    let cluster = Cluster::from_args()?;
    cluster.create_topics(&[
        ("customers", 3),
        ("orders", 3),
        ("payments", 3),
        ("paid-orders", 3),
    ])?;
    let topology = paid_orders(
        "customers",
        "orders",
        "payments",
        "paid-orders",
        Duration::from_secs(600),
    )?;
    println!("{}", topology.describe());
    let state_dir = tempfile::tempdir()?;
    let config = StreamsConfig::new("paid-orders")
        .state_dir(state_dir.path())
        .commit_interval(Duration::from_millis(500))
        .consumer_property("session.timeout.ms", "6000");
    let streams = std::sync::Arc::new(cluster.streams(topology, config));
    examples::shutdown::close_on_ctrl_c(std::sync::Arc::clone(&streams))?;
    let started = Instant::now();
    streams.start()?;

    let bytes = |s: &str| Some(s.as_bytes().to_vec());
    let customers: Vec<_> = CUSTOMERS
        .iter()
        .map(|(id, name)| (bytes(id), name.as_bytes().to_vec()))
        .collect();
    cluster.produce("customers", &customers)?;
    // The table must hold the customers before the orders that look them up arrive.
    std::thread::sleep(Duration::from_secs(2));

    let mut orders = Vec::new();
    let mut payments = Vec::new();
    let mut expected = BTreeMap::new();
    for i in 0..12i64 {
        let (customer, name) = CUSTOMERS[(i % 3) as usize];
        let order_id = format!("order-{i}");
        let order = Order {
            customer: customer.into(),
            amount_cents: 100 * (i + 1),
        };
        orders.push((bytes(&order_id), serde_json::to_vec(&order)?));
        payments.push((bytes(&order_id), order.amount_cents.to_be_bytes().to_vec()));
        expected.insert(
            order_id,
            PaidOrder {
                customer_name: name.into(),
                amount_cents: order.amount_cents,
                paid_cents: order.amount_cents,
            },
        );
    }
    cluster.produce("orders", &orders)?;
    cluster.produce("payments", &payments)?;
    println!(
        "wrote {} customers, {} orders and {} payments",
        customers.len(),
        orders.len(),
        payments.len()
    );

    let paid = cluster.read_table(
        "paid-orders",
        |k| String::from_utf8(k.to_vec()).ok(),
        |v| serde_json::from_slice::<PaidOrder>(v).ok(),
        Duration::from_secs(90),
        |table| *table == expected,
    )?;
    println!(
        "paid-orders after {:.1} s ({} orders, state {:?}):",
        started.elapsed().as_secs_f64(),
        paid.len(),
        streams.state()
    );
    for (order, p) in &paid {
        println!(
            "  {order:>9} {:>5} {:>5} paid {:>5}",
            p.customer_name, p.amount_cents, p.paid_cents
        );
    }
    streams.close(Duration::from_secs(30));
    if paid != expected {
        return Err("the paid orders did not arrive within 90 s".into());
    }
    Ok(())
}
