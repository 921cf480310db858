//! A client of a Confluent-compatible Schema Registry's REST API, with the caches that keep
//! the registry off the hot path: once a serde has seen a topic and a schema id, it never asks
//! the registry again.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use apache_avro::Schema;
use serde::Deserialize;
use streams_core::SchemaRegistryError;
use thiserror::Error;
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// Where the registry is and how to reach it.
///
/// ```
/// use std::time::Duration;
/// use streams_avro::SchemaRegistryConfig;
///
/// let config = SchemaRegistryConfig::new("https://registry.example:8081/")
///     .basic_auth("app", "secret")
///     .timeout(Duration::from_secs(5));
/// assert_eq!(config.url(), "https://registry.example:8081");
/// ```
#[derive(Clone)]
pub struct SchemaRegistryConfig {
    url: String,
    basic_auth: Option<(String, String)>,
    ca_pem: Option<Vec<u8>>,
    client_pem: Option<(Vec<u8>, Vec<u8>)>,
    timeout: Duration,
}

impl std::fmt::Debug for SchemaRegistryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaRegistryConfig")
            .field("url", &self.url)
            .field(
                "basic_auth",
                &self.basic_auth.as_ref().map(|(user, _)| user),
            )
            .field("custom_ca", &self.ca_pem.is_some())
            .field("client_certificate", &self.client_pem.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl SchemaRegistryConfig {
    /// A registry at `url` (for Apicurio's Confluent API, the `/apis/ccompat/v7` path
    /// included), with a 30 s timeout, no login, and the platform's web roots for `https`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into().trim_end_matches('/').to_string(),
            basic_auth: None,
            ca_pem: None,
            client_pem: None,
            timeout: Duration::from_secs(30),
        }
    }

    /// HTTP basic authentication (Confluent's `basic.auth.user.info`).
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.basic_auth = Some((user.into(), password.into()));
        self
    }

    /// Trusts only the CA certificates in `pem` for an `https` registry.
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// Authenticates with a client certificate chain and its private key (both PEM), for a
    /// registry that asks for mutual TLS.
    pub fn client_certificate_pem(
        mut self,
        chain: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> Self {
        self.client_pem = Some((chain.into(), key.into()));
        self
    }

    /// The limit on each request, connection included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The registry's base URL, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// A registry configuration that cannot make a client.
#[derive(Debug, Error)]
pub enum RegistryConfigError {
    /// A PEM certificate or key that does not parse.
    #[error("invalid PEM for the schema registry's {what}: {message}")]
    InvalidPem {
        /// Which PEM (the CA certificates, the client chain or key).
        what: &'static str,
        /// The parser's message.
        message: String,
    },
}

/// A schema the registry holds under a subject.
#[derive(Clone, Debug)]
pub struct RegisteredSchema {
    /// Its global id.
    pub id: u32,
    /// Its version under the subject.
    pub version: i32,
    /// The schema.
    pub schema: Arc<Schema>,
}

#[derive(Deserialize)]
struct IdAnswer {
    id: u32,
}

#[derive(Deserialize)]
struct SchemaAnswer {
    schema: String,
}

#[derive(Deserialize)]
struct VersionAnswer {
    id: u32,
    version: i32,
    schema: String,
}

#[derive(Deserialize)]
struct CompatibilityAnswer {
    is_compatible: bool,
}

#[derive(Deserialize, Default)]
struct ErrorAnswer {
    #[serde(default)]
    error_code: i64,
    #[serde(default)]
    message: String,
}

/// What a failed request is about, to choose its typed error.
enum About<'a> {
    Id(u32),
    Subject(&'a str),
}

/// A Schema Registry client over the Confluent REST API: register a schema, look one up by
/// id, the latest version of a subject, and check compatibility. Schemas by id and ids by
/// subject and schema are cached for the client's life (they never change in a registry);
/// the latest version of a subject is cached too, as Confluent's serdes do by default.
///
/// Calls block the calling thread (the stream threads call it only while warming up); the
/// client holds no async runtime and may be called from inside one.
pub struct SchemaRegistryClient {
    config: SchemaRegistryConfig,
    agent: ureq::Agent,
    authorization: Option<String>,
    by_id: RwLock<HashMap<u32, Arc<Schema>>>,
    ids: RwLock<HashMap<(String, String), u32>>,
    latest: RwLock<HashMap<String, RegisteredSchema>>,
}

impl std::fmt::Debug for SchemaRegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaRegistryClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn pem_error(what: &'static str) -> impl Fn(ureq::Error) -> RegistryConfigError {
    move |e| RegistryConfigError::InvalidPem {
        what,
        message: e.to_string(),
    }
}

/// The certificates in `pem` (other items skipped).
fn certificates(pem: &[u8]) -> Result<Vec<Certificate<'static>>, ureq::Error> {
    ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => Some(Ok(cert)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect()
}

/// `s` with every byte outside RFC 3986's unreserved set percent-encoded, for a path segment.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The JSON text of `schema` as registered: the full form, defaults and all (the canonical
/// form drops defaults, which compatibility checks need).
pub(crate) fn schema_text(schema: &Schema) -> String {
    serde_json::to_string(schema).unwrap_or_else(|_| schema.canonical_form())
}

fn parse_schema(text: &str) -> Result<Arc<Schema>, SchemaRegistryError> {
    Schema::parse_str(text)
        .map(Arc::new)
        .map_err(|e| SchemaRegistryError::BadResponse(format!("schema does not parse: {e}")))
}

impl SchemaRegistryClient {
    /// A client for the registry `config` describes. Nothing is sent until the first call.
    pub fn new(config: SchemaRegistryConfig) -> Result<Self, RegistryConfigError> {
        let mut tls = TlsConfig::builder();
        if let Some(pem) = &config.ca_pem {
            let certs = certificates(pem).map_err(pem_error("CA certificates"))?;
            tls = tls.root_certs(RootCerts::new_with_certs(&certs));
        }
        if let Some((chain, key)) = &config.client_pem {
            let chain = certificates(chain).map_err(pem_error("client certificate chain"))?;
            let key = PrivateKey::from_pem(key).map_err(pem_error("client key"))?;
            tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(config.timeout))
            .tls_config(tls.build())
            .build()
            .into();
        let authorization = config.basic_auth.as_ref().map(|(user, password)| {
            use base64::Engine;
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {token}")
        });
        Ok(Self {
            config,
            agent,
            authorization,
            by_id: RwLock::default(),
            ids: RwLock::default(),
            latest: RwLock::default(),
        })
    }

    /// The configuration this client was made with.
    pub fn config(&self) -> &SchemaRegistryConfig {
        &self.config
    }

    fn call<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: Option<serde_json::Value>,
        about: About<'_>,
    ) -> Result<T, SchemaRegistryError> {
        let url = format!("{}{path}", self.config.url);
        let unreachable = |e: ureq::Error| SchemaRegistryError::Unreachable(format!("{url}: {e}"));
        let mut response = match body {
            Some(body) => {
                let mut request = self.agent.post(&url).header("Accept", CONTENT_TYPE);
                if let Some(auth) = &self.authorization {
                    request = request.header("Authorization", auth);
                }
                request
                    .content_type(CONTENT_TYPE)
                    .send(body.to_string())
                    .map_err(unreachable)?
            }
            None => {
                let mut request = self.agent.get(&url).header("Accept", CONTENT_TYPE);
                if let Some(auth) = &self.authorization {
                    request = request.header("Authorization", auth);
                }
                request.call().map_err(unreachable)?
            }
        };
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| SchemaRegistryError::BadResponse(format!("{url}: {e}")))?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text)
                .map_err(|e| SchemaRegistryError::BadResponse(format!("{url}: {e}: {text}")));
        }
        let answer: ErrorAnswer = serde_json::from_str(&text).unwrap_or(ErrorAnswer {
            error_code: i64::from(status),
            message: text,
        });
        Err(match (status, about) {
            (404, About::Id(id)) => SchemaRegistryError::UnknownSchemaId(id),
            (404, About::Subject(subject)) => SchemaRegistryError::NotFound {
                subject: subject.to_string(),
                message: answer.message,
            },
            (409, About::Subject(subject)) => SchemaRegistryError::Incompatible {
                subject: subject.to_string(),
                message: answer.message,
            },
            (422, _) => SchemaRegistryError::InvalidSchema(answer.message),
            (status, _) => SchemaRegistryError::Rejected {
                status,
                code: answer.error_code,
                message: answer.message,
            },
        })
    }

    fn cached_id(&self, subject: &str, text: &str) -> Option<u32> {
        let ids = self.ids.read().unwrap_or_else(|e| e.into_inner());
        ids.get(&(subject.to_string(), text.to_string())).copied()
    }

    fn remember_id(&self, subject: &str, text: String, id: u32, schema: &Schema) {
        self.ids
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert((subject.to_string(), text), id);
        self.by_id
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id)
            .or_insert_with(|| Arc::new(schema.clone()));
    }

    /// Registers `schema` under `subject` (or finds it there) and returns its id. The
    /// registry refuses a schema incompatible with the subject's earlier versions:
    /// [`SchemaRegistryError::Incompatible`].
    pub fn register(&self, subject: &str, schema: &Schema) -> Result<u32, SchemaRegistryError> {
        let text = schema_text(schema);
        if let Some(id) = self.cached_id(subject, &text) {
            return Ok(id);
        }
        let answer: IdAnswer = self.call(
            &format!("/subjects/{}/versions", encode_segment(subject)),
            Some(serde_json::json!({ "schema": text })),
            About::Subject(subject),
        )?;
        self.remember_id(subject, text, answer.id, schema);
        Ok(answer.id)
    }

    /// The id of `schema` if it is registered under `subject`, without registering it:
    /// [`SchemaRegistryError::NotFound`] if it is not.
    pub fn id_of(&self, subject: &str, schema: &Schema) -> Result<u32, SchemaRegistryError> {
        let text = schema_text(schema);
        if let Some(id) = self.cached_id(subject, &text) {
            return Ok(id);
        }
        let answer: VersionAnswer = self.call(
            &format!("/subjects/{}", encode_segment(subject)),
            Some(serde_json::json!({ "schema": text })),
            About::Subject(subject),
        )?;
        self.remember_id(subject, text, answer.id, schema);
        Ok(answer.id)
    }

    /// The schema with id `id`: [`SchemaRegistryError::UnknownSchemaId`] if there is none.
    pub fn schema_by_id(&self, id: u32) -> Result<Arc<Schema>, SchemaRegistryError> {
        if let Some(schema) = self
            .by_id
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
        {
            return Ok(schema.clone());
        }
        let answer: SchemaAnswer = self.call(&format!("/schemas/ids/{id}"), None, About::Id(id))?;
        let schema = parse_schema(&answer.schema)?;
        self.by_id
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, schema.clone());
        Ok(schema)
    }

    /// The latest version registered under `subject`, cached after the first call.
    pub fn latest(&self, subject: &str) -> Result<RegisteredSchema, SchemaRegistryError> {
        if let Some(latest) = self
            .latest
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(subject)
        {
            return Ok(latest.clone());
        }
        let answer: VersionAnswer = self.call(
            &format!("/subjects/{}/versions/latest", encode_segment(subject)),
            None,
            About::Subject(subject),
        )?;
        let latest = RegisteredSchema {
            id: answer.id,
            version: answer.version,
            schema: parse_schema(&answer.schema)?,
        };
        self.by_id
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(latest.id, latest.schema.clone());
        self.latest
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(subject.to_string(), latest.clone());
        Ok(latest)
    }

    /// Whether `schema` is compatible with the latest version under `subject`, by the
    /// subject's compatibility rule (asked of the registry, not cached).
    pub fn is_compatible(
        &self,
        subject: &str,
        schema: &Schema,
    ) -> Result<bool, SchemaRegistryError> {
        let answer: CompatibilityAnswer = self.call(
            &format!(
                "/compatibility/subjects/{}/versions/latest",
                encode_segment(subject)
            ),
            Some(serde_json::json!({ "schema": schema_text(schema) })),
            About::Subject(subject),
        )?;
        Ok(answer.is_compatible)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_percent_encoded_in_paths() {
        assert_eq!(encode_segment("orders-value"), "orders-value");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn a_bad_ca_pem_is_a_typed_error() {
        let config = SchemaRegistryConfig::new("https://localhost:1").ca_certificate_pem(
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        );
        assert!(matches!(
            SchemaRegistryClient::new(config),
            Err(RegistryConfigError::InvalidPem { .. })
        ));
    }

    #[test]
    fn an_unreachable_registry_is_a_typed_error() {
        // A port nothing listens on: bind one, then close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let client = SchemaRegistryClient::new(
            SchemaRegistryConfig::new(format!("http://127.0.0.1:{port}"))
                .timeout(Duration::from_secs(2)),
        )
        .expect("client");
        assert!(matches!(
            client.schema_by_id(1),
            Err(SchemaRegistryError::Unreachable(_))
        ));
    }
}
