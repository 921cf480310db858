# Shell functions that the scripts starting test servers share (kafka.sh, apicurio.sh,
# tansu.sh): sourced, not run.

# A free loopback port. The kernel chooses it (port 0); there is a small race until the
# server binds it, which the callers notice (the server exits) and retry.
free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# Stops the server with pid $2 once process $1 (its owner) exits, however it exits, by the
# sourcing script's `stop`.
watch_owner() {
    local owner="$1" pid="$2"
    (
        while kill -0 "$owner" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do
            sleep 1
        done
        stop "$pid"
    ) </dev/null >/dev/null 2>&1 &
    disown
}

# Stops the Java server with pid $1 (SIGTERM, then SIGKILL after 20 s) and deletes its
# directory, which its command line names as `-D$2=<dir>`, if that directory holds the file
# $3 (so that only a directory the script made is deleted).
stop_java_server() {
    local pid="$1" property="$2" marker="$3" dir
    dir=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null |
        sed -n "s/^-D${property//./\\.}=//p" | head -n 1) || true
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -9 "$pid" 2>/dev/null || true
    if [ -n "$dir" ] && [ -f "$dir/$marker" ]; then
        rm -rf "$dir"
    fi
}
