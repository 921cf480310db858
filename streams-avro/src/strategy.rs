//! Subject name strategies: under which subject of the registry a topic's key or value
//! schemas are registered and looked up (Confluent's `subject.name.strategy`).

use apache_avro::Schema;

/// How a serde names the subject of a schema.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SubjectNameStrategy {
    /// `<topic>-key` or `<topic>-value`: one schema lineage per topic (the default).
    #[default]
    TopicName,
    /// The record's full name: one lineage per record type, whatever the topic.
    RecordName,
    /// `<topic>-<record full name>`: one lineage per record type in each topic.
    TopicRecordName,
}

impl SubjectNameStrategy {
    /// The subject for `schema` written to `topic` as a key (`is_key`) or a value. The record
    /// strategies need a named schema (record, enum or fixed); for others they fall back to
    /// the topic strategy.
    ///
    /// ```
    /// use apache_avro::Schema;
    /// use streams_avro::SubjectNameStrategy;
    ///
    /// let schema = Schema::parse_str(r#"{"type":"record","name":"Order","namespace":"shop","fields":[]}"#).unwrap();
    /// assert_eq!(SubjectNameStrategy::TopicName.subject("orders", false, &schema), "orders-value");
    /// assert_eq!(SubjectNameStrategy::RecordName.subject("orders", false, &schema), "shop.Order");
    /// assert_eq!(SubjectNameStrategy::TopicRecordName.subject("orders", true, &schema), "orders-shop.Order");
    /// ```
    pub fn subject(&self, topic: &str, is_key: bool, schema: &Schema) -> String {
        let record = || schema.name().map(|name| name.fullname(None));
        match (self, record()) {
            (Self::RecordName, Some(name)) => name,
            (Self::TopicRecordName, Some(name)) => format!("{topic}-{name}"),
            _ => format!("{topic}-{}", if is_key { "key" } else { "value" }),
        }
    }
}
