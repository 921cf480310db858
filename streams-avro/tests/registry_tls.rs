//! The registry client's TLS options against a registry behind TLS: a registry certificate
//! signed by the CA the client is given is trusted, one it was not given is refused with a
//! typed error, and a registry that asks for client certificates (mutual TLS) lets in only
//! the client that presents one its CA signed.
//!
//! The registry is the in-process one, behind a TLS front built on rustls; the certificates
//! are made for each test with rcgen.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use apache_avro::Schema;
use rcgen::{BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};
use streams_avro::registry_server::RegistryServer;
use streams_avro::{SchemaRegistryClient, SchemaRegistryConfig};
use streams_core::SchemaRegistryError;

const ORDER: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
    {"name":"id","type":"long"}]}"#;

/// A certificate authority of the test, and what it signs.
struct Authority {
    cert: Certificate,
    key: KeyPair,
}

impl Authority {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self { cert, key }
    }

    /// A certificate for `names` (DNS names or IP addresses) and its key.
    fn sign(&self, names: &[&str]) -> (Certificate, KeyPair) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.cert, &self.key)
            .unwrap();
        (cert, key)
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Serves TLS on a local port and passes each connection's plain bytes to and from
/// `upstream`; with `client_ca`, only clients with a certificate that CA signed get in.
fn tls_front(
    upstream: SocketAddr,
    server: (&Certificate, &KeyPair),
    client_ca: Option<&Authority>,
) -> String {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(ca.cert.der().clone()).unwrap();
            let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider())
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    let chain: Vec<CertificateDer<'static>> = vec![server.0.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server.1.serialize_der()));
    let config = Arc::new(builder.with_single_cert(chain, key).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || relay(client, upstream, config));
        }
    });
    format!("https://127.0.0.1:{port}")
}

/// Copies bytes both ways between a TLS client and the plain `upstream` until either closes
/// (short read timeouts on both sides let one thread serve both directions).
fn relay(client: TcpStream, upstream: SocketAddr, config: Arc<ServerConfig>) {
    let Ok(mut plain) = TcpStream::connect(upstream) else {
        return;
    };
    let tick = Some(Duration::from_millis(5));
    if client.set_read_timeout(tick).is_err() || plain.set_read_timeout(tick).is_err() {
        return;
    }
    let Ok(connection) = ServerConnection::new(config) else {
        return;
    };
    let mut tls = StreamOwned::new(connection, client);
    let mut buffer = [0; 16 * 1024];
    let waiting =
        |e: &std::io::Error| matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut);
    loop {
        match tls.read(&mut buffer) {
            Ok(0) => return,
            Ok(n) if plain.write_all(&buffer[..n]).is_err() => return,
            Ok(_) => {}
            Err(e) if waiting(&e) => {}
            Err(_) => return,
        }
        match plain.read(&mut buffer) {
            Ok(0) => return,
            Ok(n)
                if tls
                    .write_all(&buffer[..n])
                    .and_then(|()| tls.flush())
                    .is_err() =>
            {
                return
            }
            Ok(_) => {}
            Err(e) if waiting(&e) => {}
            Err(_) => return,
        }
    }
}

fn registry_address(registry: &RegistryServer) -> SocketAddr {
    let authority = registry
        .url()
        .trim_start_matches("http://")
        .trim_end_matches('/');
    authority.parse().expect("the registry's socket address")
}

fn register(config: SchemaRegistryConfig) -> Result<u32, SchemaRegistryError> {
    let client = SchemaRegistryClient::new(config.timeout(Duration::from_secs(5))).unwrap();
    client.register("orders-value", &Schema::parse_str(ORDER).unwrap())
}

#[test]
fn a_registry_behind_tls_is_trusted_by_the_ca_the_client_is_given_only() {
    let registry = RegistryServer::start().unwrap();
    let ca = Authority::new("registry ca");
    let (cert, key) = ca.sign(&["127.0.0.1", "localhost"]);
    let url = tls_front(registry_address(&registry), (&cert, &key), None);

    let trusted = SchemaRegistryConfig::new(&url).ca_certificate_pem(ca.cert.pem());
    let id = register(trusted).expect("registered over TLS");
    // The same registry answers over TLS and in plain: the schema is there.
    let plain = SchemaRegistryClient::new(SchemaRegistryConfig::new(registry.url())).unwrap();
    assert_eq!(
        plain.schema_by_id(id).unwrap().canonical_form(),
        Schema::parse_str(ORDER).unwrap().canonical_form()
    );

    // Another CA's client does not trust the registry: a typed error, no panic.
    let stranger = Authority::new("another ca");
    let refused = register(SchemaRegistryConfig::new(&url).ca_certificate_pem(stranger.cert.pem()));
    assert!(
        matches!(refused, Err(SchemaRegistryError::Unreachable(_))),
        "{refused:?}"
    );
    // Nor does a client with the system's roots only.
    let refused = register(SchemaRegistryConfig::new(&url));
    assert!(
        matches!(refused, Err(SchemaRegistryError::Unreachable(_))),
        "{refused:?}"
    );
}

#[test]
fn a_registry_that_asks_for_client_certificates_lets_in_the_client_its_ca_signed() {
    let registry = RegistryServer::start().unwrap();
    let ca = Authority::new("registry ca");
    let (server_cert, server_key) = ca.sign(&["127.0.0.1"]);
    let clients = Authority::new("clients ca");
    let url = tls_front(
        registry_address(&registry),
        (&server_cert, &server_key),
        Some(&clients),
    );
    let trusting = || SchemaRegistryConfig::new(&url).ca_certificate_pem(ca.cert.pem());

    let refused = register(trusting());
    assert!(
        matches!(refused, Err(SchemaRegistryError::Unreachable(_))),
        "without a client certificate: {refused:?}"
    );
    let (other, other_key) = Authority::new("not the clients ca").sign(&["app"]);
    let refused =
        register(trusting().client_certificate_pem(other.pem(), other_key.serialize_pem()));
    assert!(
        matches!(refused, Err(SchemaRegistryError::Unreachable(_))),
        "with a certificate the registry's CA did not sign: {refused:?}"
    );
    let (app, app_key) = clients.sign(&["app"]);
    register(trusting().client_certificate_pem(app.pem(), app_key.serialize_pem()))
        .expect("registered with a client certificate");
}
