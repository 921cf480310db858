//! Subscription patterns: a source reads every topic whose name matches its pattern, kept in
//! its resolved form `^(<regex>)$` (librdkafka subscribes to names starting with `^` as
//! regular expressions).

use regex::Regex;

use super::TopicName;

/// The resolved source names among `names` that are patterns, compiled.
pub(crate) fn compile<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<(String, Regex)> {
    names
        .into_iter()
        .filter(|name| TopicName::is_pattern(name))
        .filter_map(|name| match Regex::new(name) {
            Ok(regex) => Some((name.to_owned(), regex)),
            Err(error) => {
                tracing::error!(pattern = name, %error, "a source pattern does not compile");
                None
            }
        })
        .collect()
}

/// The pattern of `patterns` that `topic` matches, if any.
pub(crate) fn matching<'a>(patterns: &'a [(String, Regex)], topic: &str) -> Option<&'a str> {
    patterns
        .iter()
        .find(|(_, regex)| regex.is_match(topic))
        .map(|(name, _)| name.as_str())
}
