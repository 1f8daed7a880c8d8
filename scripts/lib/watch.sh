# Sourced by the fixture scripts: one `cargo lambda watch` on 127.0.0.1, stopped on exit.
#
#   start_watch SETTING PORT [cargo lambda watch options...]
#
# Fails at once if PORT is taken, naming SETTING (the variable that chooses it). Returns once the watcher is alive and its port accepts
# a connection (it logs "starting Runtime server" before it binds, and exits if the bind
# fails), within 120 s. On exit the watcher's process group and the functions it started
# are stopped: cargo-lambda runs each function in a session of its own, out of its group.

watch_log=""
watch_pid=""

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_watch() {
    local setting="$1" port="$2"
    shift 2
    if port_open "$port"; then
        echo "port $port is already in use: stop what listens there or set $setting to another port" >&2
        return 1
    fi
    watch_log="$(mktemp)"
    trap stop_watch EXIT
    setsid cargo lambda watch -A 127.0.0.1 -P "$port" --ignore-changes "$@" >"$watch_log" 2>&1 &
    watch_pid=$!
    local _
    for _ in $(seq 1200); do
        if ! kill -0 "$watch_pid" 2>/dev/null; then
            cat "$watch_log" >&2
            echo "cargo lambda watch exited before serving on port $port" >&2
            return 1
        fi
        if grep -q "starting Runtime server" "$watch_log" && port_open "$port"; then
            return 0
        fi
        sleep 0.1
    done
    cat "$watch_log" >&2
    echo "cargo lambda watch not serving on port $port after 120 s" >&2
    return 1
}

stop_watch() {
    if [[ -n "$watch_pid" ]]; then
        # Before any signal: once the watcher is gone its children are re-parented.
        local functions pid _
        functions="$(pgrep -P "$watch_pid" || true)"
        # shellcheck disable=SC2086 # one pid per word
        kill -- "-$watch_pid" $functions 2>/dev/null || true
        wait "$watch_pid" 2>/dev/null || true
        for pid in $functions; do
            for _ in $(seq 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -KILL "$pid" 2>/dev/null || true
        done
        watch_pid=""
    fi
    [[ -z "$watch_log" ]] || rm -f "$watch_log"
}
