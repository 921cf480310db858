//! An in-process Schema Registry that follows the Confluent REST API (the part serdes use:
//! register, look up by id and under a subject, latest version, compatibility, per-subject
//! compatibility rules), with Avro compatibility checked by `apache_avro`'s schema
//! resolution rules. For tests, examples and benchmarks on machines where no registry can
//! run; behind the `registry-server` feature.
//!
//! ```
//! use streams_avro::registry_server::RegistryServer;
//!
//! let registry = RegistryServer::start().unwrap();
//! assert!(registry.url().starts_with("http://127.0.0.1:"));
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::Schema;
use serde_json::{json, Value as Json};
use tiny_http::{Header, Method, Response, Server};

/// A subject's compatibility rule (Confluent's `compatibility` levels).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compatibility {
    /// Anything goes.
    None,
    /// The new schema reads data of the latest (the registry's default).
    Backward,
    /// The latest reads data of the new schema.
    Forward,
    /// Both.
    Full,
}

impl Compatibility {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "NONE" => Some(Self::None),
            "BACKWARD" => Some(Self::Backward),
            "FORWARD" => Some(Self::Forward),
            "FULL" => Some(Self::Full),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Backward => "BACKWARD",
            Self::Forward => "FORWARD",
            Self::Full => "FULL",
        }
    }

    /// Why `new` may not follow `old`, if it may not.
    fn check(self, old: &Schema, new: &Schema) -> Result<(), String> {
        let backward = || {
            SchemaCompatibility::can_read(old, new)
                .map(|_| ())
                .map_err(|e| format!("the new schema cannot read data of the latest: {e}"))
        };
        let forward = || {
            SchemaCompatibility::can_read(new, old)
                .map(|_| ())
                .map_err(|e| format!("the latest schema cannot read data of the new: {e}"))
        };
        match self {
            Self::None => Ok(()),
            Self::Backward => backward(),
            Self::Forward => forward(),
            Self::Full => backward().and_then(|()| forward()),
        }
    }
}

struct Stored {
    text: String,
    schema: Schema,
}

#[derive(Default)]
struct State {
    /// Schemas by id - 1; an equal schema (same canonical form) keeps its id across subjects.
    schemas: Vec<Stored>,
    /// Each subject's versions, oldest first, as schema ids.
    subjects: HashMap<String, Vec<u32>>,
    rules: HashMap<String, Compatibility>,
}

type Answer = (u16, Json);

fn error(status: u16, code: i64, message: impl Into<String>) -> Answer {
    (
        status,
        json!({ "error_code": code, "message": message.into() }),
    )
}

fn subject_not_found(subject: &str) -> Answer {
    error(404, 40401, format!("Subject '{subject}' not found."))
}

/// `%XX` escapes of a path segment decoded.
fn decode_segment(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl State {
    fn rule(&self, subject: &str) -> Compatibility {
        self.rules
            .get(subject)
            .copied()
            .unwrap_or(Compatibility::Backward)
    }

    fn parse(body: &Json) -> Result<(String, Schema), Answer> {
        if let Some(kind) = body.get("schemaType").and_then(Json::as_str) {
            if kind != "AVRO" {
                return Err(error(
                    422,
                    42201,
                    format!("schema type {kind} is not served"),
                ));
            }
        }
        let text = body
            .get("schema")
            .and_then(Json::as_str)
            .ok_or_else(|| error(422, 42201, "no schema given"))?;
        let schema = Schema::parse_str(text)
            .map_err(|e| error(422, 42201, format!("Invalid schema: {e}")))?;
        Ok((text.to_string(), schema))
    }

    fn find(&self, schema: &Schema) -> Option<u32> {
        let canonical = schema.canonical_form();
        self.schemas
            .iter()
            .position(|s| s.schema.canonical_form() == canonical && s.schema == *schema)
            .and_then(|i| u32::try_from(i + 1).ok())
    }

    fn stored(&self, id: u32) -> Option<&Stored> {
        self.schemas.get(usize::try_from(id).ok()?.checked_sub(1)?)
    }

    fn version_answer(&self, subject: &str, version: usize, id: u32) -> Answer {
        let text = self.stored(id).map(|s| s.text.clone()).unwrap_or_default();
        (
            200,
            json!({ "subject": subject, "version": version, "id": id, "schema": text }),
        )
    }

    fn register(&mut self, subject: &str, body: &Json) -> Answer {
        let (text, schema) = match Self::parse(body) {
            Ok(parsed) => parsed,
            Err(answer) => return answer,
        };
        let existing = self.find(&schema);
        let versions = self.subjects.get(subject).cloned().unwrap_or_default();
        if let Some(id) = existing.filter(|id| versions.contains(id)) {
            return (200, json!({ "id": id }));
        }
        if let Some(latest) = versions.last().and_then(|id| self.stored(*id)) {
            if let Err(message) = self.rule(subject).check(&latest.schema, &schema) {
                return error(
                    409,
                    409,
                    format!(
                        "Schema being registered is incompatible with an earlier schema for subject \"{subject}\" ({}): {message}",
                        self.rule(subject).name()
                    ),
                );
            }
        }
        let id = match existing {
            Some(id) => id,
            None => {
                self.schemas.push(Stored { text, schema });
                match u32::try_from(self.schemas.len()) {
                    Ok(id) => id,
                    Err(_) => return error(500, 50001, "out of schema ids"),
                }
            }
        };
        self.subjects
            .entry(subject.to_string())
            .or_default()
            .push(id);
        (200, json!({ "id": id }))
    }

    fn lookup(&self, subject: &str, body: &Json) -> Answer {
        let Some(versions) = self.subjects.get(subject) else {
            return subject_not_found(subject);
        };
        let schema = match Self::parse(body) {
            Ok((_, schema)) => schema,
            Err(answer) => return answer,
        };
        match self
            .find(&schema)
            .and_then(|id| versions.iter().position(|v| *v == id).map(|i| (i, id)))
        {
            Some((index, id)) => self.version_answer(subject, index + 1, id),
            None => error(404, 40403, "Schema not found"),
        }
    }

    fn latest(&self, subject: &str) -> Answer {
        match self
            .subjects
            .get(subject)
            .and_then(|v| v.last().map(|id| (v.len(), *id)))
        {
            Some((version, id)) => self.version_answer(subject, version, id),
            None => subject_not_found(subject),
        }
    }

    fn compatibility(&self, subject: &str, body: &Json) -> Answer {
        let schema = match Self::parse(body) {
            Ok((_, schema)) => schema,
            Err(answer) => return answer,
        };
        let Some(latest) = self
            .subjects
            .get(subject)
            .and_then(|v| v.last())
            .and_then(|id| self.stored(*id))
        else {
            return subject_not_found(subject);
        };
        let verdict = self.rule(subject).check(&latest.schema, &schema);
        (
            200,
            json!({ "is_compatible": verdict.is_ok(), "messages": verdict.err().into_iter().collect::<Vec<_>>() }),
        )
    }

    fn handle(&mut self, method: &Method, path: &[String], body: &Json) -> Answer {
        let parts: Vec<&str> = path.iter().map(String::as_str).collect();
        match (method, parts.as_slice()) {
            (Method::Get, ["schemas", "ids", id]) => {
                match id.parse::<u32>().ok().and_then(|id| self.stored(id)) {
                    Some(stored) => (200, json!({ "schema": stored.text })),
                    None => error(404, 40403, format!("Schema {id} not found")),
                }
            }
            (Method::Get, ["subjects"]) => {
                let mut names: Vec<&String> = self.subjects.keys().collect();
                names.sort();
                (200, json!(names))
            }
            (Method::Post, ["subjects", subject, "versions"]) => self.register(subject, body),
            (Method::Post, ["subjects", subject]) => self.lookup(subject, body),
            (Method::Get, ["subjects", subject, "versions", "latest"]) => self.latest(subject),
            (Method::Post, ["compatibility", "subjects", subject, "versions", "latest"]) => {
                self.compatibility(subject, body)
            }
            (Method::Put, ["config", subject]) => {
                match body
                    .get("compatibility")
                    .and_then(Json::as_str)
                    .and_then(Compatibility::parse)
                {
                    Some(rule) => {
                        self.rules.insert(subject.to_string(), rule);
                        (200, json!({ "compatibility": rule.name() }))
                    }
                    None => error(422, 42203, "Invalid compatibility level"),
                }
            }
            _ => error(404, 404, "Not found"),
        }
    }
}

/// A registry serving on a free port of 127.0.0.1 until dropped.
pub struct RegistryServer {
    server: Arc<Server>,
    url: String,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RegistryServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryServer")
            .field("url", &self.url)
            .finish()
    }
}

/// How the registry is reached.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// A path prefix before the API (Apicurio serves it under `/apis/ccompat/v7`).
    pub prefix: String,
    /// A login that every request must present as HTTP basic authentication.
    pub basic_auth: Option<(String, String)>,
}

fn respond(request: tiny_http::Request, (status, body): Answer) {
    let header = Header::from_bytes("Content-Type", "application/vnd.schemaregistry.v1+json");
    let mut response = Response::from_string(body.to_string()).with_status_code(status);
    if let Ok(header) = header {
        response = response.with_header(header);
    }
    // A client that went away is no concern of the registry's.
    let _ = request.respond(response);
}

fn authorized(request: &tiny_http::Request, expected: Option<&str>) -> bool {
    let Some(expected) = expected else {
        return true;
    };
    request
        .headers()
        .iter()
        .any(|h| h.field.equiv("Authorization") && h.value.as_str() == expected)
}

impl RegistryServer {
    /// A registry with no prefix and no login.
    pub fn start() -> std::io::Result<Self> {
        Self::start_with(ServerOptions::default())
    }

    /// A registry reached as `options` says.
    pub fn start_with(options: ServerOptions) -> std::io::Result<Self> {
        let server = Server::http("127.0.0.1:0").map_err(std::io::Error::other)?;
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .ok_or_else(|| std::io::Error::other("the registry has no IP address"))?;
        let server = Arc::new(server);
        let prefix = options.prefix.trim_end_matches('/').to_string();
        let url = format!("http://127.0.0.1:{port}{prefix}");
        let expected = options.basic_auth.map(|(user, password)| {
            use base64::Engine;
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )
        });
        let state = Mutex::new(State::default());
        let serving = server.clone();
        let thread = std::thread::Builder::new()
            .name("schema-registry".into())
            .spawn(move || {
                for mut request in serving.incoming_requests() {
                    if !authorized(&request, expected.as_deref()) {
                        respond(request, error(401, 401, "Unauthorized"));
                        continue;
                    }
                    let mut text = String::new();
                    let body = match request.as_reader().read_to_string(&mut text) {
                        Ok(0) => Json::Null,
                        Ok(_) => match serde_json::from_str(&text) {
                            Ok(body) => body,
                            Err(e) => {
                                respond(request, error(400, 400, format!("bad JSON: {e}")));
                                continue;
                            }
                        },
                        Err(e) => {
                            respond(request, error(400, 400, e.to_string()));
                            continue;
                        }
                    };
                    let path = request.url().split('?').next().unwrap_or_default();
                    let answer = match path.strip_prefix(prefix.as_str()) {
                        Some(rest) => {
                            let segments: Vec<String> = rest
                                .split('/')
                                .filter(|s| !s.is_empty())
                                .map(decode_segment)
                                .collect();
                            let method = request.method().clone();
                            let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
                            state.handle(&method, &segments, &body)
                        }
                        None => error(404, 404, "Not found"),
                    };
                    respond(request, answer);
                }
            })?;
        Ok(Self {
            server,
            url,
            thread: Some(thread),
        })
    }

    /// The base URL of its API, the prefix included.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
