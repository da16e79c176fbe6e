#!/usr/bin/env bash
# The store's figures (issue 16), measured in one run on this machine:
#   - SQLite and PostgreSQL side by side: PAP + TOTP peak throughput
#     (closed loop), then open loop at RATE requests/s for p50/p99, then the
#     disk alone (the disk probe) at the commit rate of those runs, for the
#     disk's own flush p99 in the same run;
#   - SQLite with BIG_USERS users: the daemon's startup time and its RSS.
# See docs/PERFORMANCE.md.
#
# Environment (defaults in brackets):
#   RUNS [3]  DURATION [5] (seconds per run)  WARMUP [1]  CONCURRENCY [256]
#   USERS [100000] (TOTP users in the throughput and latency runs)
#   RATE [1000] (requests/s of the latency runs)
#   BIG_USERS [1000000] (0: skip the startup/RSS part)
#   STORES ["sqlite postgres"]
#   WORK [a new /tmp/radotp-store.XXXX]  PORT [18130]  PGPORT [18132]
#
# PostgreSQL runs from a private cluster in $WORK (initdb, pg_ctl, loopback
# only, fsync and synchronous_commit on), as user postgres when run as root.
set -euo pipefail

RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONCURRENCY=${CONCURRENCY:-256}
USERS=${USERS:-100000}
RATE=${RATE:-1000}
BIG_USERS=${BIG_USERS:-1000000}
STORES=${STORES:-"sqlite postgres"}
PORT=${PORT:-18130}
PGPORT=${PGPORT:-18132}
SECRET=testing123
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/radotp-store.XXXX)}
mkdir -p "$WORK"

log() { echo "== $*" >&2; }

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
need() { # command package
    if ! command -v "$1" >/dev/null; then
        log "installing $2 from Debian"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$2" >/dev/null
    fi
}
need ss iproute2
if [[ " $STORES " == *" postgres "* ]] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    log "installing postgresql from Debian"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi

log "building radotp and radotp-bench (release)"
(cd "$ROOT" && cargo build --release --locked -q -p radotp -p radotp-bench)
RADOTP=$ROOT/target/release/radotp
BENCH=$ROOT/target/release/radotp-bench

PIDS=()
PG_DATA=""
cleanup() {
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && wait "$p" 2>/dev/null || true
    done
    if [ -n "$PG_DATA" ]; then
        pg_run pg_ctl -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

# ---- PostgreSQL, private ------------------------------------------------------
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
pg_run() { # tool args...
    local tool=$1
    shift
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$PG_BIN/$tool" "$@"
    else
        "$PG_BIN/$tool" "$@"
    fi
}
start_pg() {
    local d=$WORK/pg
    mkdir -p "$d"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$d"
    PG_DATA=$d/data
    pg_run initdb -D "$PG_DATA" -U radotp --auth=trust -E UTF8 >"$d/initdb.log"
    pg_run pg_ctl -D "$PG_DATA" -l "$d/log" -w -t 30 \
        -o "-p $PGPORT -k $d -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c max_connections=100" \
        start >/dev/null
    pg_run psql -h 127.0.0.1 -p "$PGPORT" -U radotp -d postgres -qc "CREATE DATABASE radotp"
    PG_VERSION=$("$PG_BIN/postgres" --version)
    log "started $PG_VERSION on 127.0.0.1:$PGPORT"
}

# ---- radotp ---------------------------------------------------------------------
config() { # store file
    {
        cat <<EOF
[server]
listen = ["127.0.0.1:$PORT"]
accounting_listen = []
control_socket = "$WORK/$1.sock"
log_level = "warn"
[store]
key_file = "$WORK/radotp.key"
EOF
        case $1 in
        sqlite | big) echo "backend = \"sqlite\""; echo "path = \"$WORK/$1.sqlite\"" ;;
        postgres) echo "backend = \"postgres\""; echo "url = \"postgresql://radotp@127.0.0.1:$PGPORT/radotp\"" ;;
        esac
        cat <<EOF
[lockout]
threshold = 0
[[client]]
name = "bench"
address = "127.0.0.1"
secret = "$SECRET"
EOF
    } >"$2"
}

RADOTP_PID=""
start_radotp() { # config log -> sets RADOTP_PID, UP_S
    local t0 t1
    t0=$(date +%s.%N)
    "$RADOTP" -c "$1" serve >"$2" 2>&1 &
    RADOTP_PID=$!
    PIDS+=("$RADOTP_PID")
    # The daemon opens its store before it binds the port: bound means ready.
    for _ in $(seq 1 6000); do
        [ -n "$(ss -Hlun "sport = :$PORT")" ] && break
        if ! kill -0 "$RADOTP_PID" 2>/dev/null; then
            echo "radotp exited at startup; its log:" >&2
            cat "$2" >&2
            exit 1
        fi
        sleep 0.005
    done
    t1=$(date +%s.%N)
    UP_S=$(python3 -c "print(round($t1-$t0,3))")
}
stop_radotp() {
    kill "$RADOTP_PID" 2>/dev/null || true
    wait "$RADOTP_PID" 2>/dev/null || true
    RADOTP_PID=""
}
rss_mb() { # pid -> "VmRSS VmHWM" in MB
    awk '/^VmRSS/ {r = $2} /^VmHWM/ {h = $2} END {printf "%.1f %.1f", r / 1024, h / 1024}' "/proc/$1/status"
}
commits() { # config -> the daemon's count of store commits
    "$RADOTP" -c "$1" --json stats 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["server"]["group_commit"]["commits"])' 2>/dev/null || echo 0
}

: >"$WORK/results.jsonl"
record() { # name json
    python3 -c 'import json,sys; r=json.loads(sys.argv[2]); r["name"]=sys.argv[1]; print(json.dumps(r))' "$1" "$2" >>"$WORK/results.jsonl"
}

for store in $STORES; do
    [ "$store" = postgres ] && start_pg
    cfg=$WORK/$store.toml
    config "$store" "$cfg"
    log "$store: provisioning $USERS TOTP users through the admin CLI"
    t0=$(date +%s.%N)
    "$BENCH" -c "$cfg" provision --radotp "$RADOTP" --seed-file "$WORK/$store.seeds" --totp "$USERS" --import >&2
    log "$store: provisioned in $(python3 -c "print(round($(date +%s.%N)-$t0,1))") s"
    start_radotp "$cfg" "$WORK/$store.log"
    log "$store: radotp up in $UP_S s"
    G=(--server "127.0.0.1:$PORT" --secret "$SECRET" --seed-file "$WORK/$store.seeds"
        --state-file "$WORK/$store.state" --group totp --method pap --duration "$DURATION" --warmup "$WARMUP")
    for i in $(seq 1 "$RUNS"); do
        out=$("$BENCH" --json "${G[@]}" --concurrency "$CONCURRENCY")
        record "$store peak" "$out"
        echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("   %-10s peak %8.0f req/s  p99 %6.2f ms  acc %d rej %d timeouts %d" % (sys.argv[1], r["requests_per_sec"], r["latency_us"]["p99"]/1000, r["accepts"], r["rejects"], r["timeouts"]))' "$store" >&2
    done
    for i in $(seq 1 "$RUNS"); do
        c0=$(commits "$cfg")
        out=$("$BENCH" --json "${G[@]}" --rate "$RATE")
        c1=$(commits "$cfg")
        out=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); s=r["seconds"]+r.get("warmup_seconds",0); r["commits_per_s"]=(int(sys.argv[3])-int(sys.argv[2]))/s if s else None; print(json.dumps(r))' "$out" "$c0" "$c1")
        record "$store rate" "$out"
        echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); l=r["latency_us"]; print("   %-10s at %d req/s: p50 %.3f ms  p99 %.3f ms  acc %d rej %d timeouts %d  commits/s %.0f" % (sys.argv[1], r["requests_per_sec"], l["p50"]/1000, l["p99"]/1000, r["accepts"], r["rejects"], r["timeouts"], r["commits_per_s"] or 0))' "$store" >&2
    done
    stop_radotp
    # The disk alone at the median commit rate of the latency runs, the
    # servers idle: its flush p99 is the floor under any durable server's.
    frate=$(python3 - "$WORK/results.jsonl" "$store rate" <<'PY'
import json, statistics, sys
v = [json.loads(l).get("commits_per_s") for l in open(sys.argv[1]) if json.loads(l)["name"] == sys.argv[2]]
v = [x for x in v if x]
print(max(1, int(statistics.median(v))) if v else 1000)
PY
)
    for i in $(seq 1 "$RUNS"); do
        out=$("$BENCH" --json disk --dir "$WORK" --rate "$frate" --duration "$DURATION")
        record "$store disk" "$out"
        echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); l=r["latency_us"]; print("   disk alone at %.0f flushes/s: p50 %.3f ms  p99 %.3f ms" % (r["flushes_per_sec"], l["p50"]/1000, l["p99"]/1000))' >&2
    done
done

if [ "$BIG_USERS" -gt 0 ]; then
    cfg=$WORK/big.toml
    config big "$cfg"
    log "sqlite: provisioning $BIG_USERS TOTP users through the admin CLI"
    t0=$(date +%s.%N)
    "$BENCH" -c "$cfg" provision --radotp "$RADOTP" --seed-file "$WORK/big.seeds" --totp "$BIG_USERS" --import >&2
    log "sqlite: provisioned in $(python3 -c "print(round($(date +%s.%N)-$t0,1))") s"
    sync
    for i in $(seq 1 "$RUNS"); do
        start_radotp "$cfg" "$WORK/big.log"
        idle=$(rss_mb "$RADOTP_PID")
        out=$("$BENCH" --json --server "127.0.0.1:$PORT" --secret "$SECRET" --seed-file "$WORK/big.seeds" \
            --state-file "$WORK/big.state" --group totp --method pap --duration "$DURATION" --concurrency "$CONCURRENCY")
        loaded=$(rss_mb "$RADOTP_PID")
        stop_radotp
        python3 - "$UP_S" "$idle" "$loaded" "$out" "$BIG_USERS" >>"$WORK/results.jsonl" <<'PY'
import json, sys
up, idle, loaded, out, n = sys.argv[1:]
r = json.loads(out)
i, l = idle.split(), loaded.split()
print(json.dumps({"name": "big", "users": int(n), "startup_s": float(up), "rss_idle_mb": float(i[0]),
                  "rss_after_load_mb": float(l[0]), "rss_peak_mb": float(l[1]),
                  "requests_per_sec": r["requests_per_sec"], "accepts": r["accepts"]}))
PY
        tail -1 "$WORK/results.jsonl" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("   %d users: up in %.3f s, RSS %.1f MB idle, %.1f MB after %.0f req/s (peak %.1f MB)" % (r["users"], r["startup_s"], r["rss_idle_mb"], r["rss_after_load_mb"], r["requests_per_sec"], r["rss_peak_mb"]))' >&2
    done
fi

# ---- medians ------------------------------------------------------------------
python3 - "$WORK/results.jsonl" "$RUNS" "$DURATION" "$CONCURRENCY" "$RATE" <<'PY'
import json, statistics, sys
path, runs, dur, conc, rate = sys.argv[1:]
rows = [json.loads(l) for l in open(path)]
def med(name, f):
    v = [f(r) for r in rows if r["name"] == name]
    return statistics.median(v) if v else None
print(f"\nMedians of {runs} runs of {dur} s (PAP + TOTP; peak: concurrency {conc}; latency: open loop at {rate} req/s)")
print(f"{'store':<10} {'peak req/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'disk p99 ms':>12} {'p99 - disk':>11}")
for s in ("sqlite", "postgres"):
    peak = med(f"{s} peak", lambda r: r["requests_per_sec"])
    if peak is None:
        continue
    p50 = med(f"{s} rate", lambda r: r["latency_us"]["p50"] / 1000)
    p99 = med(f"{s} rate", lambda r: r["latency_us"]["p99"] / 1000)
    d99 = med(f"{s} disk", lambda r: r["latency_us"]["p99"] / 1000)
    diff = p99 - d99 if p99 is not None and d99 is not None else float("nan")
    print(f"{s:<10} {peak:>11.0f} {p50:>8.3f} {p99:>8.3f} {d99:>12.3f} {diff:>11.3f}")
big = [r for r in rows if r["name"] == "big"]
if big:
    m = lambda k: statistics.median(r[k] for r in big)
    print(f"\nSQLite, {big[0]['users']} users ({len(big)} starts, medians): startup {m('startup_s'):.3f} s, "
          f"RSS {m('rss_idle_mb'):.1f} MB idle, {m('rss_after_load_mb'):.1f} MB after {m('requests_per_sec'):.0f} req/s, "
          f"peak {m('rss_peak_mb'):.1f} MB")
PY
echo "raw results: $WORK/results.jsonl" >&2
