//! The topics a source reads, in whichever form the caller has them.

/// One topic or several, as [`StreamsBuilder::stream`](crate::StreamsBuilder::stream) and
/// [`stream_with`](crate::StreamsBuilder::stream_with) take them (Kafka Streams' overloads
/// for one topic and for a collection of topics): `"orders"`, `["orders", "refunds"]`,
/// `&["orders"][..]`, a `Vec<String>`.
///
/// ```
/// use streams_dsl::prelude::*;
///
/// let builder = StreamsBuilder::new();
/// let one = builder.stream::<String, String>("orders");
/// let both = builder.stream::<String, String>(["refunds", "chargebacks"]);
/// one.merge(&both).to("money");
/// assert!(builder.build().is_ok());
/// ```
pub trait SourceTopics {
    /// The topic names.
    fn into_topic_names(self) -> Vec<String>;
}

impl SourceTopics for &str {
    fn into_topic_names(self) -> Vec<String> {
        vec![self.to_owned()]
    }
}

impl SourceTopics for String {
    fn into_topic_names(self) -> Vec<String> {
        vec![self]
    }
}

impl SourceTopics for &String {
    fn into_topic_names(self) -> Vec<String> {
        vec![self.clone()]
    }
}

impl<T: AsRef<str>> SourceTopics for &[T] {
    fn into_topic_names(self) -> Vec<String> {
        self.iter().map(|t| t.as_ref().to_owned()).collect()
    }
}

impl<T: AsRef<str>, const N: usize> SourceTopics for [T; N] {
    fn into_topic_names(self) -> Vec<String> {
        self.iter().map(|t| t.as_ref().to_owned()).collect()
    }
}

impl<T: AsRef<str>, const N: usize> SourceTopics for &[T; N] {
    fn into_topic_names(self) -> Vec<String> {
        self.iter().map(|t| t.as_ref().to_owned()).collect()
    }
}

impl<T: AsRef<str>> SourceTopics for Vec<T> {
    fn into_topic_names(self) -> Vec<String> {
        self.iter().map(|t| t.as_ref().to_owned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::SourceTopics;

    #[test]
    fn every_form_names_the_same_topics() {
        let two = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!("a".into_topic_names(), ["a"]);
        assert_eq!(String::from("a").into_topic_names(), ["a"]);
        assert_eq!(["a", "b"].into_topic_names(), two);
        assert_eq!((&["a", "b"]).into_topic_names(), two);
        assert_eq!((&["a", "b"][..]).into_topic_names(), two);
        assert_eq!(two.clone().into_topic_names(), two);
    }
}
