//! The rdkafka client configurations of an instance: the runtime's settings first, then the
//! user's pass-through properties, which win: those for every client, then those for the kind
//! of client. Every client the runtime creates is configured here, so that settings such as a
//! secured cluster's credentials reach all of them.

use rdkafka::ClientConfig;

use crate::config::{ProcessingGuarantee, GROUP_INSTANCE_ID, GROUP_PROTOCOL};
use crate::StreamsConfig;

fn base(config: &StreamsConfig, overrides: &[(String, String)]) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", config.bootstrap_servers_value());
    pass_through(&mut client, config, overrides);
    client
}

/// Sets the user's properties for every client, then `own` (those for this kind of client).
fn pass_through(client: &mut ClientConfig, config: &StreamsConfig, own: &[(String, String)]) {
    for (key, value) in config.client_properties().common.iter().chain(own) {
        client.set(key, value);
    }
}

fn isolation(config: &StreamsConfig) -> &'static str {
    match config.processing_guarantee_value() {
        ProcessingGuarantee::AtLeastOnce => "read_uncommitted",
        ProcessingGuarantee::ExactlyOnce => "read_committed",
    }
}

/// The group consumer of stream thread `thread`. Offsets are committed by the runtime only;
/// the range assignor gives a member the same partition numbers of topics with equal
/// partition counts, which is what co-partitioning needs: the client's under the classic
/// protocol, the broker's (`group.remote.assignor`) under KIP-848's. A static member's
/// `group.instance.id` gets the thread's index (as in Kafka Streams), so that the threads of
/// one instance do not fence each other.
pub(crate) fn group_consumer(
    config: &StreamsConfig,
    client_id: &str,
    thread: usize,
) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", config.bootstrap_servers_value())
        .set("group.id", config.application_id())
        .set("client.id", client_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "range")
        .set("isolation.level", isolation(config));
    pass_through(&mut client, config, config.client_properties().consumer);
    for (key, value) in config.client_properties().main_consumer {
        client.set(key, value);
    }
    // Co-partitioning depends on these.
    client.set("enable.auto.commit", "false");
    if client.get(GROUP_PROTOCOL) == Some("consumer") {
        // The broker assigns; librdkafka refuses a client-side strategy with this protocol.
        client
            .remove("partition.assignment.strategy")
            .set("group.remote.assignor", "range");
    } else {
        client.set("partition.assignment.strategy", "range");
    }
    if let Some(id) = client.get(GROUP_INSTANCE_ID).map(str::to_owned) {
        client.set(GROUP_INSTANCE_ID, format!("{id}-{thread}"));
    }
    client
}

/// A consumer that is only ever assigned partitions (restoration, global stores).
pub(crate) fn assigned_consumer(config: &StreamsConfig, client_id: &str) -> ClientConfig {
    let mut client = base(config, config.client_properties().consumer);
    client
        .set(
            "group.id",
            format!("{}-{client_id}", config.application_id()),
        )
        .set("client.id", client_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", isolation(config));
    // It joins no group: a static member's id is the group consumer's alone.
    client.remove(GROUP_INSTANCE_ID);
    client
}

/// The consumer that restores a stream thread's stores (`restore.consumer.` properties).
pub(crate) fn restore_consumer(config: &StreamsConfig, client_id: &str) -> ClientConfig {
    let mut client = assigned_consumer(config, client_id);
    for (key, value) in config.client_properties().restore_consumer {
        client.set(key, value);
    }
    client
}

/// The consumer that keeps a stream thread's global stores (`global.consumer.` properties).
pub(crate) fn global_consumer(config: &StreamsConfig, client_id: &str) -> ClientConfig {
    let mut client = assigned_consumer(config, client_id);
    for (key, value) in config.client_properties().global_consumer {
        client.set(key, value);
    }
    client
}

/// The producer of a stream thread: idempotent, Java-compatible key partitioning, and
/// transactional under exactly-once (one transactional id per instance and thread).
pub(crate) fn producer(
    config: &StreamsConfig,
    client_id: &str,
    transactional_id: &str,
) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", config.bootstrap_servers_value())
        .set("client.id", client_id)
        .set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5");
    if config.processing_guarantee_value() == ProcessingGuarantee::ExactlyOnce {
        client
            .set("transactional.id", transactional_id)
            .set("transaction.timeout.ms", "10000");
    }
    pass_through(&mut client, config, config.client_properties().producer);
    client
}

/// The admin client (topic creation).
pub(crate) fn admin(config: &StreamsConfig) -> ClientConfig {
    base(config, config.client_properties().admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One setting for every client reaches each kind the runtime creates, and a per-client
    /// setting overrides it.
    #[test]
    fn a_common_property_reaches_every_client() {
        let config = StreamsConfig::new("app")
            .client_property("security.protocol", "SASL_SSL")
            .client_property("sasl.mechanism", "SCRAM-SHA-512")
            .producer_property("sasl.mechanism", "PLAIN");
        let clients = [
            group_consumer(&config, "c", 0),
            assigned_consumer(&config, "c"),
            producer(&config, "c", "t"),
            admin(&config),
        ];
        for client in &clients {
            assert_eq!(client.get("security.protocol"), Some("SASL_SSL"));
        }
        assert_eq!(clients[0].get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(clients[2].get("sasl.mechanism"), Some("PLAIN"));
    }

    /// Each thread of a static member joins under an id of its own; consumers that join no
    /// group carry none.
    #[test]
    fn a_static_member_id_gets_the_thread_index() {
        let config = StreamsConfig::new("app").group_instance_id("host-1");
        assert_eq!(
            group_consumer(&config, "c", 0).get("group.instance.id"),
            Some("host-1-0")
        );
        assert_eq!(
            group_consumer(&config, "c", 2).get("group.instance.id"),
            Some("host-1-2")
        );
        let config = StreamsConfig::new("app").consumer_property("group.instance.id", "host-2");
        assert_eq!(
            group_consumer(&config, "c", 1).get("group.instance.id"),
            Some("host-2-1")
        );
        assert_eq!(
            assigned_consumer(&config, "c").get("group.instance.id"),
            None
        );
        assert_eq!(
            group_consumer(&StreamsConfig::new("app"), "c", 0).get("group.instance.id"),
            None
        );
    }

    /// Under KIP-848 the broker's range assignor co-partitions; the classic protocol keeps
    /// the client's, whatever strategy the user passed.
    #[test]
    fn the_range_assignor_is_the_broker_s_under_the_consumer_protocol() {
        let classic = StreamsConfig::new("app")
            .consumer_property("partition.assignment.strategy", "roundrobin");
        let classic = group_consumer(&classic, "c", 0);
        assert_eq!(classic.get("partition.assignment.strategy"), Some("range"));
        assert_eq!(classic.get("group.remote.assignor"), None);
        let consumer = StreamsConfig::new("app").group_protocol(crate::GroupProtocol::Consumer);
        let consumer = group_consumer(&consumer, "c", 0);
        assert_eq!(consumer.get("group.protocol"), Some("consumer"));
        assert_eq!(consumer.get("group.remote.assignor"), Some("range"));
        assert_eq!(consumer.get("partition.assignment.strategy"), None);
    }
}
