//! An embedded Kafka cluster: librdkafka's mock cluster, in process, for examples and tests.

use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;

use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

use super::topics::{InternalTopic, TopicCreator};
use super::RuntimeError;

enum Command {
    CreateTopic {
        name: String,
        partitions: i32,
        reply: mpsc::Sender<Result<(), String>>,
    },
    RequestErrors {
        api: RDKafkaApiKey,
        errors: Vec<RDKafkaRespErr>,
        reply: mpsc::Sender<Result<(), String>>,
    },
}

/// A Kafka-protocol cluster inside this process (librdkafka's mock cluster), reachable over
/// loopback TCP at [`bootstrap_servers`](Self::bootstrap_servers).
///
/// It needs no installation, which makes it the broker of the examples and of the fast test
/// suite. It does not answer the admin `CreateTopics` call, so topics are created with
/// [`create_topic`](Self::create_topic), and the application is given the cluster as its
/// [`TopicCreator`]. Know its limits: it keeps at most 100,000 records (or 5 MB) per partition,
/// dropping the oldest; it does not compact topics; it does not store offsets committed
/// inside transactions; and its `read_committed` consumers also see aborted transactions, so
/// exactly-once isolation cannot be shown on it.
///
/// ```no_run
/// use streams_core::runtime::EmbeddedKafka;
///
/// let kafka = EmbeddedKafka::start(3)?;
/// kafka.create_topic("words", 4)?;
/// println!("brokers at {}", kafka.bootstrap_servers());
/// # Ok::<(), streams_core::runtime::RuntimeError>(())
/// ```
pub struct EmbeddedKafka {
    bootstrap_servers: String,
    commands: Mutex<Option<mpsc::Sender<Command>>>,
    owner: Option<JoinHandle<()>>,
}

impl EmbeddedKafka {
    /// Starts a cluster of `brokers` brokers. The mock cluster's handle cannot move between
    /// threads, so one thread owns it and serves topic creation until the cluster is dropped.
    pub fn start(brokers: i32) -> Result<Self, RuntimeError> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (commands, receiver) = mpsc::channel::<Command>();
        let owner = std::thread::Builder::new()
            .name("embedded-kafka".into())
            .spawn(move || {
                let cluster = match MockCluster::new(brokers) {
                    Ok(cluster) => cluster,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(cluster.bootstrap_servers()));
                for command in receiver {
                    match command {
                        Command::CreateTopic {
                            name,
                            partitions,
                            reply,
                        } => {
                            let result = cluster
                                .create_topic(&name, partitions, 1)
                                .map_err(|e| e.to_string());
                            let _ = reply.send(result);
                        }
                        Command::RequestErrors { api, errors, reply } => {
                            cluster.request_errors(api, &errors);
                            let _ = reply.send(Ok(()));
                        }
                    }
                }
            })?;
        let bootstrap_servers = ready_rx
            .recv()
            .map_err(|_| RuntimeError::EmbeddedClusterStopped)?
            .map_err(RuntimeError::kafka("start the mock cluster"))?;
        Ok(Self {
            bootstrap_servers,
            commands: Mutex::new(Some(commands)),
            owner: Some(owner),
        })
    }

    /// The cluster's `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    /// Creates `name` with `partitions` partitions (replication factor 1).
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), RuntimeError> {
        self.call(|reply| Command::CreateTopic {
            name: name.to_owned(),
            partitions,
            reply,
        })
        .map_err(|reason| RuntimeError::TopicCreation {
            topic: name.to_owned(),
            reason,
        })
    }

    /// Makes the next requests of kind `api` fail with `errors`, one each, in order: fault
    /// injection for tests (for example `EndTxn` answered with `PRODUCER_FENCED`, as a zombie
    /// producer would be).
    pub fn inject_request_errors(
        &self,
        api: RDKafkaApiKey,
        errors: &[RDKafkaRespErr],
    ) -> Result<(), RuntimeError> {
        self.call(|reply| Command::RequestErrors {
            api,
            errors: errors.to_vec(),
            reply,
        })
        .map_err(|_| RuntimeError::EmbeddedClusterStopped)
    }

    /// Hands a command to the thread that owns the cluster and waits for its answer.
    fn call(
        &self,
        command: impl FnOnce(mpsc::Sender<Result<(), String>>) -> Command,
    ) -> Result<(), String> {
        let stopped = || "the embedded Kafka cluster is not running".to_owned();
        let (reply, result) = mpsc::channel();
        let commands = self.commands.lock().map_err(|_| stopped())?;
        let sent = commands.as_ref().map(|c| c.send(command(reply)));
        drop(commands);
        if !matches!(sent, Some(Ok(()))) {
            return Err(stopped());
        }
        result.recv().map_err(|_| stopped())?
    }
}

impl TopicCreator for EmbeddedKafka {
    fn create_topics(&self, topics: &[InternalTopic]) -> Result<(), RuntimeError> {
        topics
            .iter()
            .try_for_each(|t| self.create_topic(&t.name, t.partitions))
    }
}

impl Drop for EmbeddedKafka {
    fn drop(&mut self) {
        // Closing the channel ends the owner thread, which drops (destroys) the cluster.
        if let Ok(mut commands) = self.commands.lock() {
            commands.take();
        }
        if let Some(owner) = self.owner.take() {
            let _ = owner.join();
        }
    }
}

impl std::fmt::Debug for EmbeddedKafka {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedKafka")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .finish()
    }
}
