#!/usr/bin/env bash
# Installs Apache Kafka (the broker, KRaft mode) from Maven Central into a cache outside the
# clone, and starts single-node brokers for the test suite and the benchmarks.
#
#   scripts/kafka.sh [install]   install if needed; print the directory of the broker's jars
#   scripts/kafka.sh start [--owner PID]
#                                install if needed; format a fresh log directory, start a
#                                combined broker and controller on free 127.0.0.1 ports in
#                                the background; print "PORT PID" once it serves requests.
#   scripts/kafka.sh start --sasl-ssl [--owner PID]
#                                the same, and clients connect through a SASL_SSL listener
#                                (SCRAM-SHA-512 over TLS) instead; print
#                                "PORT PID CA_PEM USER PASSWORD": that listener's port, the
#                                CA certificate that signed the broker's, and a user's login.
#                                With --owner (either form), the broker is stopped (and its
#                                directory deleted) once process PID exits, however it exits.
#   scripts/kafka.sh stop PID    stop that broker and delete its log directory
#
# Only the path (or "PORT PID") goes to stdout, so callers can capture it; progress and
# errors go to stderr. Cache: ${RUST_STREAMS_TOOLS:-$HOME/.cache/rust-streams-tools}; Maven's
# own repository (~/.m2) keeps the downloads, so a wiped cache reinstalls in seconds.
# The broker's settings suit tests, not production: one replica of every internal topic,
# no initial rebalance delay, short heartbeats and sessions for KIP-848 groups, small
# segments, and aborted transactions cleaned up quickly.
# A secured broker's CA, certificate and SCRAM user are made afresh at each start, in its
# directory, so nothing secret outlives it.
set -euo pipefail

KAFKA_VERSION=4.1.1
START_TIMEOUT=90

here=$(cd "$(dirname "$0")" && pwd -P)
# shellcheck source=lib/servers.sh
. "$here/lib/servers.sh"
cache="${RUST_STREAMS_TOOLS:-$HOME/.cache/rust-streams-tools}"
mkdir -p "$cache"
cache=$(cd "$cache" && pwd -P)
libs="$cache/kafka-$KAFKA_VERSION/libs"

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# A KRaft cluster id: 16 random bytes in URL-safe base64 without padding (what
# `kafka-storage.sh random-uuid` prints, without starting a JVM for it). Like Kafka's own, it
# never starts with "-", which the storage tool would take for an option (1 start in 64).
cluster_id() {
    python3 -c 'import base64, uuid
id = "-"
while id.startswith("-"):
    id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
print(id)'
}

install() {
    [ -f "$libs/.complete" ] && return 0
    command -v java >/dev/null 2>&1 || die "java (17 or later) is needed to run Apache Kafka"
    command -v mvn >/dev/null 2>&1 || die "mvn is needed to install Apache Kafka"
    local started=$SECONDS part="$libs.$$.part"
    log "installing Apache Kafka $KAFKA_VERSION into $libs (Maven Central)"
    rm -rf "$part"
    mvn -B -q -f "$here/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
        dependency:copy-dependencies -DoutputDirectory="$part" >&2 ||
        { rm -rf "$part"; die "mvn could not fetch Apache Kafka $KAFKA_VERSION"; }
    # A half-copied directory must never count as installed: rename it into place whole.
    rm -rf "$libs"
    mv "$part" "$libs"
    touch "$libs/.complete"
    log "installed in $((SECONDS - started)) s"
}

# Writes the broker's configuration and logging settings into $dir. With a fourth argument,
# clients get a SASL_SSL listener on that port too; the broker keeps PLAINTEXT on loopback for
# itself (inter-broker traffic), which spares it a SCRAM login and a trust store of its own.
configure() {
    local dir="$1" port="$2" controller="$3" secure="${4:-}"
    local listeners="PLAINTEXT://127.0.0.1:$port" protocols="PLAINTEXT:PLAINTEXT"
    if [ -n "$secure" ]; then
        listeners="$listeners,SASL_SSL://127.0.0.1:$secure"
        protocols="$protocols,SASL_SSL:SASL_SSL"
    fi
    cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller
listeners=$listeners,CONTROLLER://127.0.0.1:$controller
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.consumer.min.heartbeat.interval.ms=500
group.consumer.heartbeat.interval.ms=1000
group.consumer.min.session.timeout.ms=6000
group.consumer.session.timeout.ms=10000
log.segment.bytes=1048576
log.cleaner.backoff.ms=1000
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
EOF
    if [ -n "$secure" ]; then
        cat >>"$dir/server.properties" <<EOF
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PKCS12
ssl.keystore.location=$dir/tls/broker.p12
ssl.keystore.password=$(cat "$dir/tls/store-password")
ssl.client.auth=none
EOF
    fi
    cat >"$dir/log4j2.properties" <<EOF
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName=$dir/server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
EOF
}

# Makes a CA and a broker certificate it signs (for 127.0.0.1 and localhost, which clients
# verify) in $dir/tls: ca.pem for clients, broker.p12 (key and chain) for the broker.
make_certificates() {
    local tls="$1/tls"
    mkdir -p "$tls"
    random_secret >"$tls/store-password"
    {
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=rust-streams test CA" \
            -keyout "$tls/ca.key" -out "$tls/ca.pem" &&
            openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
                -keyout "$tls/broker.key" -out "$tls/broker.csr" &&
            openssl x509 -req -in "$tls/broker.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
                -CAcreateserial -days 2 -out "$tls/broker.pem" \
                -extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n') &&
            openssl pkcs12 -export -in "$tls/broker.pem" -certfile "$tls/ca.pem" \
                -inkey "$tls/broker.key" -name broker -out "$tls/broker.p12" \
                -passout "file:$tls/store-password"
    } >"$tls/openssl.log" 2>&1 ||
        { cat "$tls/openssl.log" >&2; rm -rf "$1"; die "could not make certificates"; }
}

# 24 random hex characters: no character that the SCRAM or JAAS syntax treats specially.
random_secret() {
    python3 -c 'import secrets; print(secrets.token_hex(12))'
}

java_opts() {
    local dir="$1"
    # A small heap is plenty for tests; the marker property lets `stop` find the directory.
    printf '%s\n' -Xms128m -Xmx512m -Dlog4j2.configurationFile="$dir/log4j2.properties" \
        -Drust.streams.kafka.dir="$dir" -cp "$libs/*"
}

# Starts the broker in $dir in the background and sets BROKER_PID; it is detached from our
# stdin/stdout so that a caller capturing our stdout with $(...) does not wait on it. Extra
# arguments go to the storage format (the SCRAM users).
start_broker() {
    local dir="$1" opts
    shift
    mapfile -t opts < <(java_opts "$dir")
    java "${opts[@]}" kafka.tools.StorageTool format --ignore-formatted \
        -t "$(cluster_id)" -c "$dir/server.properties" "$@" >"$dir/format.log" 2>&1 ||
        { cat "$dir/format.log" >&2; rm -rf "$dir"; die "could not format a log directory"; }
    java "${opts[@]}" kafka.Kafka "$dir/server.properties" </dev/null >"$dir/stdout.log" 2>&1 &
    BROKER_PID=$!
    echo "$BROKER_PID" >"$dir/pid"
}

# Waits for the broker's "started" line, which it logs once its listeners serve requests;
# fails early if the process died (e.g. a port taken between free_port and bind).
wait_until_started() {
    local dir="$1" pid="$2" deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        kill -0 "$pid" 2>/dev/null || return 1
        grep -q 'Kafka Server started' "$dir/server.log" 2>/dev/null && return 0
        sleep 0.2
    done
    return 1
}

# Starts a broker; with "--sasl-ssl", a secured one (see the top of this file); with an
# owner pid, one that stops when its owner exits.
start() {
    local sasl_ssl="${1:-}" owner="${2:-}" dir port controller secure user=streams password
    local attempt started=$SECONDS scram=()
    for attempt in 1 2 3; do
        dir=$(mktemp -d "${TMPDIR:-/tmp}/kafka.XXXXXX")
        port=$(free_port)
        controller=$(free_port)
        secure=""
        if [ -n "$sasl_ssl" ]; then
            secure=$(free_port)
            make_certificates "$dir"
            password=$(random_secret)
            scram=(--add-scram "SCRAM-SHA-512=[name=$user,password=$password]")
        fi
        configure "$dir" "$port" "$controller" "$secure"
        start_broker "$dir" "${scram[@]}"
        if wait_until_started "$dir" "$BROKER_PID"; then
            log "broker pid $BROKER_PID on 127.0.0.1:${secure:-$port}, started in $((SECONDS - started)) s, log $dir/server.log"
            [ -z "$owner" ] || watch_owner "$owner" "$BROKER_PID"
            if [ -n "$sasl_ssl" ]; then
                printf '%s %s %s %s %s\n' "$secure" "$BROKER_PID" "$dir/tls/ca.pem" "$user" "$password"
            else
                printf '%s %s\n' "$port" "$BROKER_PID"
            fi
            return 0
        fi
        log "broker did not start on port $port (attempt $attempt); last lines of its log:"
        tail -n 30 "$dir/server.log" "$dir/stdout.log" >&2 2>/dev/null || true
        stop "$BROKER_PID"
    done
    die "Apache Kafka failed to start"
}

# Stops the server with this pid and deletes its directory (see stop_java_server).
stop() { stop_java_server "$1" rust.streams.kafka.dir server.properties; }

case "${1:-install}" in
    install)
        install
        printf '%s\n' "$libs"
        ;;
    start)
        secure=""
        owner=""
        shift
        while [ "$#" -gt 0 ]; do
            case "$1" in
                --sasl-ssl) secure=yes ;;
                --owner)
                    [ -n "${2:-}" ] || die "usage: $0 start [--sasl-ssl] [--owner PID]"
                    owner="$2"
                    shift
                    ;;
                *) die "usage: $0 start [--sasl-ssl] [--owner PID]" ;;
            esac
            shift
        done
        install
        start "$secure" "$owner"
        ;;
    stop)
        [ -n "${2:-}" ] || die "usage: $0 stop PID"
        stop "$2"
        ;;
    *)
        die "usage: $0 [install|start [--sasl-ssl] [--owner PID]|stop PID]"
        ;;
esac
