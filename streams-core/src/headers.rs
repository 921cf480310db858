/// One record header: a key and an optional value, as in Kafka.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// The header's key.
    pub key: String,
    /// The header's value; `None` is a header with a null value.
    pub value: Option<Vec<u8>>,
}

/// The ordered headers of a record. Keys may repeat; the last one added wins for
/// [`last`](Headers::last), as in Kafka's `Headers.lastHeader`.
///
/// An empty `Headers` does not allocate, so records without headers cost nothing extra.
///
/// ```
/// use streams_core::Headers;
///
/// let mut headers = Headers::new();
/// headers.add("trace", "abc").add("trace", "def");
/// assert_eq!(headers.last("trace"), Some(&b"def"[..]));
/// assert_eq!(headers.len(), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Headers {
    entries: Vec<Header>,
}

impl Headers {
    /// No headers.
    pub const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// Appends a header with a value.
    pub fn add(&mut self, key: impl Into<String>, value: impl AsRef<[u8]>) -> &mut Self {
        self.entries.push(Header {
            key: key.into(),
            value: Some(value.as_ref().to_vec()),
        });
        self
    }

    /// Appends a header with a null value.
    pub fn add_null(&mut self, key: impl Into<String>) -> &mut Self {
        self.entries.push(Header {
            key: key.into(),
            value: None,
        });
        self
    }

    /// The headers, consumed and returned with one more header: handy in builders.
    pub fn with(mut self, key: impl Into<String>, value: impl AsRef<[u8]>) -> Self {
        self.add(key, value);
        self
    }

    /// The value of the last header called `key`; `None` if there is none or its value is null.
    pub fn last(&self, key: &str) -> Option<&[u8]> {
        self.last_header(key).and_then(|h| h.value.as_deref())
    }

    /// The last header called `key`.
    pub fn last_header(&self, key: &str) -> Option<&Header> {
        self.entries.iter().rev().find(|h| h.key == key)
    }

    /// Removes every header called `key`.
    pub fn remove(&mut self, key: &str) -> &mut Self {
        self.entries.retain(|h| h.key != key);
        self
    }

    /// All headers, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.entries.iter()
    }

    /// The number of headers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl FromIterator<Header> for Headers {
    fn from_iter<I: IntoIterator<Item = Header>>(iter: I) -> Self {
        Self {
            entries: iter.into_iter().collect(),
        }
    }
}
