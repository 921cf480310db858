//! Interactive queries across instances: two instances of the word count run side by side
//! (on the embedded cluster, or the one given with `--bootstrap-servers HOST:PORT`), each
//! with a small HTTP server at its `application.server` address. `GET /count/<word>` on either
//! server answers from the instance that holds the word: the server asks
//! `query_metadata_for_key` which instance that is, reads its own store if it is this one, and
//! otherwise forwards the request to the owner's server.
//!
//! `cargo run --release -p examples --bin interactive-queries [-- --bootstrap-servers HOST:PORT]`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use examples::cluster::Cluster;
use examples::word_count;
use streams_core::HostInfo;
use streams_dsl::prelude::*;

const TEXT: &[&str] = &[
    "All streams flow to the sea,",
    "yet the sea is not full;",
    "to the place the streams come from,",
    "there they return again.",
];

const WAIT: Duration = Duration::from_secs(60);

/// One instance of the application and the server that answers its queries.
struct Instance {
    streams: Arc<KafkaStreams>,
    host: HostInfo,
}

/// Starts an instance whose server listens on a free local port.
fn start(cluster: &Cluster, dir: &std::path::Path) -> Result<Instance, Box<dyn std::error::Error>> {
    let server = tiny_http::Server::http("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = server
        .server_addr()
        .to_ip()
        .ok_or("the server has no IP address")?
        .port();
    let host = HostInfo {
        host: "127.0.0.1".into(),
        port,
    };
    let config = StreamsConfig::new("interactive-queries")
        .state_dir(dir)
        .commit_interval(Duration::from_millis(500))
        .consumer_property("session.timeout.ms", "6000")
        .application_server(host.clone());
    let streams = Arc::new(cluster.streams(word_count("text-lines", "word-counts")?, config));
    streams.start()?;
    let (answering, me) = (Arc::clone(&streams), host.clone());
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let (status, body) = answer(&answering, &me, request.url());
            let response = tiny_http::Response::from_string(body).with_status_code(status);
            if let Err(error) = request.respond(response) {
                eprintln!("{me}: could not answer: {error}");
            }
        }
    });
    Ok(Instance { streams, host })
}

/// The answer to `GET /count/<word>`: `<count> (from <host>)`, read here or forwarded.
fn answer(streams: &KafkaStreams, me: &HostInfo, url: &str) -> (u16, String) {
    let Some(word) = url.strip_prefix("/count/") else {
        return (404, "ask /count/<word>".into());
    };
    let word = word.to_string();
    match streams.query_metadata_for_key("word-counts", &word, &*Serdes::string()) {
        Ok(Some(owner)) if owner.active_host == *me => {
            match streams.get::<String, i64>("word-counts", word) {
                Ok(Some(count)) => (200, format!("{count} (from {me})")),
                Ok(None) => (404, format!("no count here (from {me})")),
                Err(error) => (503, error.to_string()),
            }
        }
        Ok(Some(owner)) => {
            let url = format!("http://{}/count/{word}", owner.active_host);
            match ureq::get(&url).call() {
                Ok(mut response) => match response.body_mut().read_to_string() {
                    Ok(body) => (200, body),
                    Err(error) => (502, error.to_string()),
                },
                Err(error) => (502, format!("{url}: {error}")),
            }
        }
        Ok(None) => (503, "no instance holds it right now (rebalancing)".into()),
        Err(error) => (500, error.to_string()),
    }
}

/// What the word count must arrive at.
fn expected_counts() -> BTreeMap<String, i64> {
    let mut expected = BTreeMap::new();
    for word in TEXT
        .iter()
        .flat_map(|l| l.split(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty())
    {
        *expected.entry(word.to_lowercase()).or_default() += 1;
    }
    expected
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    let cluster = Cluster::from_args()?;
    cluster.create_topics(&[("text-lines", 4), ("word-counts", 4)])?;
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    let instances = [
        start(&cluster, dirs[0].path())?,
        start(&cluster, dirs[1].path())?,
    ];
    for instance in &instances {
        println!("instance serving at http://{}/count/<word>", instance.host);
    }
    let lines: Vec<(Option<Vec<u8>>, Vec<u8>)> =
        TEXT.iter().map(|l| (None, l.as_bytes().to_vec())).collect();
    cluster.produce("text-lines", &lines)?;

    // Ask both servers for every word until each answers every count right.
    let expected = expected_counts();
    let deadline = Instant::now() + WAIT;
    let answers = loop {
        let mut answers = Vec::new();
        let mut right = true;
        for (word, count) in &expected {
            for instance in &instances {
                let url = format!("http://{}/count/{word}", instance.host);
                let body = ureq::get(&url)
                    .call()
                    .ok()
                    .and_then(|mut r| r.body_mut().read_to_string().ok())
                    .unwrap_or_default();
                right &= body.starts_with(&format!("{count} "));
                answers.push((word.clone(), instance.host.clone(), body));
            }
        }
        if right || Instant::now() > deadline {
            break right.then_some(answers);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let Some(answers) = answers else {
        return Err("the servers did not answer every count within 60 s".into());
    };
    for (word, asked, body) in answers {
        println!("  {word:>8} asked at {asked}: {body}");
    }
    for instance in &instances {
        instance.streams.close(Duration::from_secs(30));
    }
    Ok(())
}
