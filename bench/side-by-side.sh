#!/usr/bin/env bash
# Kafka Streams side by side with this library, through one Apache Kafka broker:
# WORKLOADS.md's W1-W5 (and W0, the consume-only floor).
#
#   bench/side-by-side.sh [N] [N_WINDOWED] [RUNS]
#
# Builds both sides (the Rust bench `side_by_side`, the Maven module bench/kafka-streams),
# starts a broker with scripts/kafka.sh, preloads the input once per N with our generator
# (the topic both sides read, so their input is byte-identical), then runs, per workload
# and RUNS times, ours and Kafka Streams back to back (alternating, so that load from other
# processes on the machine hits both alike), each in its own process. Prints every RESULT
# line. N (default 2,000,000, WORKLOADS.md's) is for W0-W2; N_WINDOWED (default 200,000) for W3-W5, which
# emit up to 10 results per record.
# Set CARGO_TARGET_DIR as for any cargo command; JAVA_OPTS passes JVM options; WORKLOADS
# picks workloads (default "W1 W2 W3 W4 W5"); SIDE_BY_SIDE_QUEUE_KB bounds librdkafka's
# prefetch per consumer on our side (queued.max.messages.kbytes, 64 MiB by default).
set -euo pipefail

n=${1:-2000000}
n_windowed=${2:-200000}
runs=${3:-1}
repo=$(cd "$(dirname "$0")/.." && pwd -P)
log() { printf 'side-by-side: %s\n' "$*" >&2; }

log "building"
cargo bench -q -p streams-dsl --bench side_by_side --no-run --manifest-path "$repo/Cargo.toml" >&2
ours=$(cargo bench -q -p streams-dsl --bench side_by_side --no-run --message-format=json \
    --manifest-path "$repo/Cargo.toml" 2>/dev/null |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "side_by_side":
        print(m["executable"])')
module="$repo/bench/kafka-streams"
mvn -B -q -f "$module/pom.xml" package dependency:copy-dependencies >&2
theirs=(java ${JAVA_OPTS:-} -cp "$module/target/kafka-streams-bench-0.1.0.jar:$module/target/lib/*"
    streams.bench.SideBySide)

read -r port pid < <("$repo/scripts/kafka.sh" start)
trap '"$repo/scripts/kafka.sh" stop "$pid"' EXIT
bootstrap="127.0.0.1:$port"

for size in $(printf '%s\n' "$n" "$n_windowed" | sort -u); do
    "$ours" preload "$bootstrap" "input-$size" "$size"
done

# The broker's CPU time so far (user + system, 1/100 s ticks after its parenthesized name).
broker_cpu() { awk '{ sub(/.*\) /, ""); print ($12 + $13) / 100 }' "/proc/$pid/stat"; }

# Runs one side ($1 names it) and then says how much CPU the broker used meanwhile, which
# shares the 2 cores with the application.
measure() {
    local who=$1 before
    shift
    before=$(broker_cpu)
    "$@"
    printf 'BROKER_CPU {"system":"%s","workload":"%s","broker_cpu_s":%.2f}\n' \
        "$who" "$w" "$(echo "$(broker_cpu) - $before" | bc)"
}

for _ in $(seq "$runs"); do
    w=W0
    measure rdkafka-consumer "$ours" floor "$bootstrap" "input-$n" "$n"
    for w in ${WORKLOADS:-W1 W2 W3 W4 W5}; do
        size=$n
        [[ $w == W[345] ]] && size=$n_windowed
        measure rust-streams "$ours" run "$bootstrap" "input-$size" "$w" "$size"
        measure kafka-streams "${theirs[@]}" "$bootstrap" "input-$size" "$w" "$size"
    done
done
