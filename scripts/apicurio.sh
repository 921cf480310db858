#!/usr/bin/env bash
# Builds Apicurio Registry's server from its Maven Central artifacts into a cache outside the
# clone, and starts it with in-memory storage for the Avro tests (its Confluent-compatible API
# is under /apis/ccompat/v7).
#
#   scripts/apicurio.sh [install]   build if needed; print the server's directory
#   scripts/apicurio.sh start [--owner PID]
#                                   build if needed; start a registry on a free 127.0.0.1
#                                   port in the background; print "URL PID" once its
#                                   Confluent API answers (URL ends in /apis/ccompat/v7).
#                                   With --owner, it is stopped once process PID exits.
#   scripts/apicurio.sh stop PID    stop that registry and delete its directory
#
# Only the path (or "URL PID") goes to stdout; progress and errors go to stderr.
# Why a build: the registry ships its server as a Quarkus library jar
# (io.apicurio:apicurio-registry-app), which Quarkus' build step turns into a runnable jar.
# scripts/apicurio/pom.xml runs that step. One artifact the step needs, the deployment module
# of Apicurio's config-index extension, is not on Maven Central: this script first installs
# into the local Maven repository a stand-in of ours at its coordinates
# (scripts/apicurio/config-index-deployment), with no build step, and the bean that upstream
# build step would add (the registry's list of run-time-changeable settings, empty here) comes
# from our producer in scripts/apicurio/src/main/java. The build takes a few minutes once;
# later runs reuse it.
# Settings suit tests: storage in memory (H2), the registry's own default; the global
# compatibility rule BACKWARD, Confluent's default (Apicurio's is none), so incompatible
# registrations are refused as with Confluent's registry.
set -euo pipefail

APICURIO_VERSION=2.4.2.Final
START_TIMEOUT=180

here=$(cd "$(dirname "$0")" && pwd -P)
# shellcheck source=lib/servers.sh
. "$here/lib/servers.sh"
cache="${RUST_STREAMS_TOOLS:-$HOME/.cache/rust-streams-tools}"
mkdir -p "$cache"
cache=$(cd "$cache" && pwd -P)
home="$cache/apicurio-$APICURIO_VERSION"

log() { printf 'apicurio.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

install() {
    [ -f "$home/.complete" ] && return 0
    command -v javac >/dev/null 2>&1 || die "a JDK (17) is needed to build Apicurio Registry"
    command -v mvn >/dev/null 2>&1 || die "mvn is needed to build Apicurio Registry"
    local started=$SECONDS build="$home.$$.build" app
    log "building Apicurio Registry $APICURIO_VERSION into $home (Maven Central; minutes, once)"
    rm -rf "$build"
    cp -R "$here/apicurio" "$build"
    mvn -B -q -f "$build/config-index-deployment/pom.xml" install -DskipTests >&2 ||
        { rm -rf "$build"; die "mvn could not install the config-index-deployment stand-in"; }
    mvn -B -q dependency:get -Dtransitive=false \
        -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION" >&2 ||
        { rm -rf "$build"; die "mvn could not fetch apicurio-registry-app $APICURIO_VERSION"; }
    app="$HOME/.m2/repository/io/apicurio/apicurio-registry-app/$APICURIO_VERSION/apicurio-registry-app-$APICURIO_VERSION.jar"
    # The registry's own settings, and ours on top (see build.properties).
    mkdir -p "$build/src/main/resources"
    {
        python3 -c 'import sys, zipfile
sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read("application.properties"))' "$app"
        cat "$build/build.properties"
    } >"$build/src/main/resources/application.properties" ||
        { rm -rf "$build"; die "no application.properties in $app"; }
    mvn -B -q -f "$build/pom.xml" -Dapicurio.version="$APICURIO_VERSION" package \
        -DskipTests >&2 || { rm -rf "$build"; die "the Quarkus build of the registry failed"; }
    # A half-built directory must never count as installed: move the result into place whole.
    rm -rf "$home"
    mkdir -p "$home"
    mv "$build"/target/*-runner.jar "$home/registry.jar"
    mv "$build/target/lib" "$home/lib"
    rm -rf "$build"
    touch "$home/.complete"
    log "built in $((SECONDS - started)) s"
}

# Waits until the Confluent API answers; fails early if the process died.
wait_until_started() {
    local url="$1" pid="$2" deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        kill -0 "$pid" 2>/dev/null || return 1
        python3 -c 'import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/subjects", timeout=2).read()' "$url" 2>/dev/null &&
            return 0
        sleep 0.5
    done
    return 1
}

start() {
    local owner="${1:-}" dir port url pid attempt started=$SECONDS
    for attempt in 1 2 3; do
        dir=$(mktemp -d "${TMPDIR:-/tmp}/apicurio.XXXXXX")
        port=$(free_port)
        url="http://127.0.0.1:$port/apis/ccompat/v7"
        # The marker property lets `stop` find the directory. C1 alone starts it sooner.
        java -Xms64m -Xmx512m -XX:TieredStopAtLevel=1 -Drust.streams.apicurio.dir="$dir" \
            -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$port" \
            -Dregistry.rules.global.compatibility=BACKWARD \
            -jar "$home/registry.jar" </dev/null >"$dir/server.log" 2>&1 &
        pid=$!
        if wait_until_started "$url" "$pid"; then
            log "registry pid $pid at $url, started in $((SECONDS - started)) s, log $dir/server.log"
            [ -z "$owner" ] || watch_owner "$owner" "$pid"
            printf '%s %s\n' "$url" "$pid"
            return 0
        fi
        log "registry did not start on port $port (attempt $attempt); last lines of its log:"
        tail -n 30 "$dir/server.log" >&2 2>/dev/null || true
        stop "$pid"
    done
    die "Apicurio Registry failed to start"
}

# Stops the server with this pid and deletes its directory (see stop_java_server).
stop() { stop_java_server "$1" rust.streams.apicurio.dir server.log; }

case "${1:-install}" in
    install)
        install
        printf '%s\n' "$home"
        ;;
    start)
        owner=""
        shift
        while [ "$#" -gt 0 ]; do
            case "$1" in
                --owner)
                    [ -n "${2:-}" ] || die "usage: $0 start [--owner PID]"
                    owner="$2"
                    shift
                    ;;
                *) die "usage: $0 start [--owner PID]" ;;
            esac
            shift
        done
        install
        start "$owner"
        ;;
    stop)
        [ -n "${2:-}" ] || die "usage: $0 stop PID"
        stop "$2"
        ;;
    *)
        die "usage: $0 [install|start [--owner PID]|stop PID]"
        ;;
esac
