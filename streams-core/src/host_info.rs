//! Where an instance of the application answers queries.

/// Where an instance answers queries (Kafka Streams' `HostInfo`): the user's
/// `application.server`, `host:port`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostInfo {
    /// The host name or address.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl HostInfo {
    /// Reads `host:port`; `None` if it is not of that form.
    pub fn parse(server: &str) -> Option<Self> {
        let (host, port) = server.rsplit_once(':')?;
        Some(Self {
            host: host.to_owned(),
            port: port.parse().ok()?,
        })
    }
}

impl std::fmt::Display for HostInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}
