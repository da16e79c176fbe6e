#!/usr/bin/env bash
# Side-by-side benchmark of radotp and FreeRADIUS on this machine, in one
# run, with the same generator (`radotp-bench`), population, concurrency
# and duration. See docs/PERFORMANCE.md.
#
# Environment (defaults in brackets):
#   RUNS [3]  DURATION [5] (seconds per run)  WARMUP [1] (seconds, not counted)
#   CONCURRENCY [256]
#   THREADS [1] (generator threads)  USERS [500000] (per TOTP group)
#   HALF [1]: after the pairs, radotp again in open loop at half of its
#     median peak rate per pair, for p99 at half load, then the disk alone
#     (`radotp-bench disk`) at the flush rate of those runs (0: skip)
#   FR_USERS [20000] (users per group in FreeRADIUS's users file)
#   WORKERS [0]: radotp's [server] workers (0: its default, one per core and
#     at least 2). On 2 cores shared with the generator, 1 costs less CPU
#     per request but gives less throughput (PERFORMANCE.md)
#   WORK [a new /tmp/radotp-compare.XXXX]  PORT_BASE [18120]
#   PAIRS [all]: space-separated subset of
#     pap-totp pap-pin-totp chap-totp mschapv2-pin-totp-w1 mschapv2-pin-totp-w10
#
# It never touches /etc/freeradius: FreeRADIUS runs in the foreground from
# a private configuration directory under $WORK, on 127.0.0.1 only.
set -euo pipefail

RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONCURRENCY=${CONCURRENCY:-256}
THREADS=${THREADS:-1}
WORKERS=${WORKERS:-0}
USERS=${USERS:-500000}
HALF=${HALF:-1}
FR_USERS=${FR_USERS:-20000}
PORT_BASE=${PORT_BASE:-18120}
PAIRS=${PAIRS:-"pap-totp pap-pin-totp chap-totp mschapv2-pin-totp-w1 mschapv2-pin-totp-w10"}
SECRET=testing123
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/radotp-compare.XXXX)}
mkdir -p "$WORK"
P_RADOTP=$PORT_BASE
P_STATIC=$((PORT_BASE + 1))
P_TOTP=$((PORT_BASE + 2))

log() { echo "== $*" >&2; }

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
if ! command -v freeradius >/dev/null; then
    log "installing FreeRADIUS from Debian"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends freeradius >/dev/null
fi
# `ss` times radotp's startup (see start_radotp).
if ! command -v ss >/dev/null; then
    log "installing iproute2 from Debian"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends iproute2 >/dev/null
fi
FR_VERSION=$(freeradius -v 2>/dev/null | head -1 || true)

log "building radotp and radotp-bench (release)"
(cd "$ROOT" && cargo build --release --locked -q -p radotp-bench -p radotp)
RADOTP=$ROOT/target/release/radotp
BENCH=$ROOT/target/release/radotp-bench

PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && wait "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT

# ---- radotp configuration and population -----------------------------------
radotp_config() { # window file
    cat >"$2" <<EOF
[server]
listen = ["127.0.0.1:$P_RADOTP"]
accounting_listen = []
control_socket = "$WORK/radotp.sock"
log_level = "warn"
workers = $WORKERS
[store]
path = "$WORK/radotp.sqlite"
key_file = "$WORK/radotp.key"
cache_mb = 64
[otp]
totp_window = $1
[lockout]
threshold = 0
[[client]]
name = "bench"
address = "127.0.0.1"
secret = "$SECRET"
EOF
}
radotp_config 1 "$WORK/radotp-w1.toml"
radotp_config 10 "$WORK/radotp-w10.toml"

FR=$WORK/freeradius
mkdir -p "$FR/log" "$FR/run" "$FR/mods-config"
if [ ! -f "$WORK/seeds" ]; then
    log "provisioning $USERS TOTP users without PIN and $USERS with PIN"
    "$BENCH" -c "$WORK/radotp-w1.toml" provision --seed-file "$WORK/seeds" \
        --totp "$USERS" --totp-pin "$USERS" --import --radotp "$RADOTP" \
        --freeradius-users "$FR/users" --freeradius-limit "$FR_USERS"
fi

# ---- FreeRADIUS private configuration --------------------------------------
TOTP_OK=no
[ -e /usr/lib/freeradius/rlm_totp.so ] && TOTP_OK=yes
: >"$FR/dictionary"
: >"$FR/acct_users"
python3 - "$HERE" "$FR" "$SECRET" "$P_STATIC" "$P_TOTP" "$TOTP_OK" <<'PY'
import sys
here, d, secret, ps, pt, totp = sys.argv[1:]
s = open(f"{here}/freeradius.conf.in").read()
t = open(f"{here}/freeradius-totp.conf.in").read().replace("@PORT_TOTP@", pt)
s = (s.replace("@DIR@", d).replace("@SECRET@", secret).replace("@PORT_STATIC@", ps)
      .replace("@TOTP_MODULE@", "totp {\n\t}" if totp == "yes" else "")
      .replace("@TOTP_SERVER@", t if totp == "yes" else ""))
open(f"{d}/radiusd.conf", "w").write(s)
PY
log "starting $FR_VERSION from $FR"
freeradius -f -d "$FR" >"$FR/log/stderr" 2>&1 &
FR_PID=$!
PIDS+=("$FR_PID")

RADOTP_PID=""
RADOTP_WINDOW=1
start_radotp() { # window
    RADOTP_WINDOW=$1
    if [ -n "$RADOTP_PID" ]; then
        kill "$RADOTP_PID" 2>/dev/null || true
        wait "$RADOTP_PID" 2>/dev/null || true
    fi
    local t0 t1
    t0=$(date +%s.%N)
    "$RADOTP" -c "$WORK/radotp-w$1.toml" serve >"$WORK/radotp-w$1.log" 2>&1 &
    RADOTP_PID=$!
    PIDS+=("$RADOTP_PID")
    # The daemon opens its store before it binds the port, so a bound port
    # means ready. (A probe with `radotp-bench` timed the probe: it reads
    # the whole seed list, 0.5-1 s for 1,000,000 users.)
    for _ in $(seq 1 3000); do
        if [ -n "$(ss -Hlun "sport = :$P_RADOTP")" ]; then
            break
        fi
        if ! kill -0 "$RADOTP_PID" 2>/dev/null; then
            echo "radotp exited at startup; its log:" >&2
            cat "$WORK/radotp-w$1.log" >&2
            exit 1
        fi
        sleep 0.01
    done
    t1=$(date +%s.%N)
    log "radotp (window ±$1, workers = $WORKERS) up in $(python3 -c "print(round($t1-$t0,2))") s"
}
start_radotp 1
sleep 1
kill -0 "$FR_PID" || { cat "$FR/log/stderr"; echo "FreeRADIUS did not start" >&2; exit 1; }

CLK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# The daemon's group-commit counters (radotp only; "{}" for FreeRADIUS).
commit_stats() { # PID
    if [ "$1" = "$RADOTP_PID" ]; then
        "$RADOTP" -c "$WORK/radotp-w$RADOTP_WINDOW.toml" --json stats 2>/dev/null |
            python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["result"]["server"]["group_commit"]))' 2>/dev/null ||
            echo '{}'
    else
        echo '{}'
    fi
}

# run NAME PID ARGS... -> appends a JSON line to $WORK/results.jsonl
# The server's CPU (utime + stime from /proc/PID/stat) and, for radotp, its
# group-commit counters are read before and after the generator's call;
# that window holds the warm-up too, so CPU per request divides by every
# reply of the call (the generator's replies_total, warm-up included).
run() {
    local name=$1 pid=$2
    shift 2
    local c0 c1 out g0 g1
    g0=$(commit_stats "$pid")
    c0=$(cpu_ticks "$pid")
    out=$("$BENCH" --json --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP" \
        --threads "$THREADS" --secret "$SECRET" --seed-file "$WORK/seeds" "$@" || true)
    c1=$(cpu_ticks "$pid")
    g1=$(commit_stats "$pid")
    python3 - "$name" "$c0" "$c1" "$out" "$g0" "$g1" "$CLK" >>"$WORK/results.jsonl" <<'PY'
import json, sys
name, c0, c1, out, g0, g1, clk = sys.argv[1:]
r = json.loads(out)
cpu = (int(c1) - int(c0)) / int(clk)
r["name"] = name
r["server_cpu_s"] = cpu
everything = r.get("replies_total") or (r["accepts"] + r["rejects"])
r["cpu_s_per_100k"] = cpu / everything * 1e5 if everything else None
g0, g1 = json.loads(g0), json.loads(g1)
if g0 and g1:
    # One store commit (one transaction, flushed: SQLite's WAL with
    # synchronous = FULL, PostgreSQL's COMMIT) per batch of Accepts.
    d = {k: (g1.get(k) or 0) - (g0.get(k) or 0) for k in ("commits", "accepts", "waits_over_2500us")}
    secs = r["seconds"] + r.get("warmup_seconds", 0)
    r["commit"] = {
        "commits_per_s": d["commits"] / secs if secs else None,
        "accepts_per_commit": d["accepts"] / d["commits"] if d["commits"] else None,
        # Group-commit waits over 2.5 ms (each holds up its whole batch).
        "slow_waits_per_s": d["waits_over_2500us"] / secs if secs else None,
    }
print(json.dumps(r))
PY
    tail -1 "$WORK/results.jsonl" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
c = r.get("commit") or {}
extra = "  commits/s %.0f  accepts/commit %.1f  waits>2.5ms/s %.1f" % (c.get("commits_per_s") or 0, c.get("accepts_per_commit") or 0, c.get("slow_waits_per_s") or 0) if c else ""
print("   %-34s %8.0f req/s  p99 %6.2f ms  acc %d rej %d to %d err %d unexp %d starved %d  cpu/100k %.2f%s" % (r["name"], r["requests_per_sec"], r["latency_us"]["p99"] / 1000, r["accepts"], r["rejects"], r["timeouts"], r["errors"], r["unexpected"], r["starved"], r["cpu_s_per_100k"] or 0, extra))' >&2
}

: >"$WORK/results.jsonl"
R=(--server "127.0.0.1:$P_RADOTP" --state-file "$WORK/radotp.state")
F=(--server "127.0.0.1:$P_STATIC" --static --users "$FR_USERS")
for pair in $PAIRS; do
    log "pair $pair: $RUNS runs of $DURATION s each, concurrency $CONCURRENCY"
    for i in $(seq 1 "$RUNS"); do
        case $pair in
        pap-totp)
            run "$pair radotp" "$RADOTP_PID" "${R[@]}" --group totp --method pap
            if [ "$TOTP_OK" = yes ]; then
                run "$pair freeradius" "$FR_PID" --server "127.0.0.1:$P_TOTP" --group totp \
                    --users "$FR_USERS" --reuse --method pap --state-file "$WORK/fr.state"
            fi
            ;;
        pap-pin-totp)
            run "$pair radotp" "$RADOTP_PID" "${R[@]}" --group totp-pin --method pap
            run "$pair freeradius" "$FR_PID" "${F[@]}" --group totp-pin --method pap
            ;;
        chap-totp)
            run "$pair radotp" "$RADOTP_PID" "${R[@]}" --group totp --method chap
            run "$pair freeradius" "$FR_PID" "${F[@]}" --group totp --method chap
            ;;
        mschapv2-pin-totp-w1)
            run "$pair radotp" "$RADOTP_PID" "${R[@]}" --group totp-pin --method mschapv2
            run "$pair freeradius" "$FR_PID" "${F[@]}" --group totp-pin --method mschapv2
            ;;
        mschapv2-pin-totp-w10)
            [ "$i" = 1 ] && start_radotp 10
            run "$pair radotp" "$RADOTP_PID" "${R[@]}" --group totp-pin --method mschapv2
            run "$pair freeradius" "$FR_PID" "${F[@]}" --group totp-pin --method mschapv2
            [ "$i" = "$RUNS" ] && start_radotp 1
            ;;
        *) echo "unknown pair $pair" >&2; exit 2 ;;
        esac
    done
done

# ---- radotp at half of its peak, open loop -----------------------------------
if [ "$HALF" = 1 ]; then
    for pair in $PAIRS; do
        peak=$(python3 - "$WORK/results.jsonl" "$pair radotp" <<'PY'
import json, statistics, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
v = [r["requests_per_sec"] for r in rs if r["name"] == sys.argv[2]]
print(int(statistics.median(v)) if v else 0)
PY
)
        [ "$peak" -gt 0 ] || continue
        rate=$((peak / 2))
        log "pair $pair: radotp in open loop at $rate req/s (half of its median peak), $RUNS runs"
        case $pair in
        pap-totp) args=(--group totp --method pap) ;;
        pap-pin-totp) args=(--group totp-pin --method pap) ;;
        chap-totp) args=(--group totp --method chap) ;;
        mschapv2-pin-totp-w1) args=(--group totp-pin --method mschapv2) ;;
        mschapv2-pin-totp-w10) start_radotp 10; args=(--group totp-pin --method mschapv2) ;;
        esac
        for i in $(seq 1 "$RUNS"); do
            run "$pair radotp half-load" "$RADOTP_PID" "${R[@]}" "${args[@]}" --rate "$rate"
        done
        [ "$pair" = mschapv2-pin-totp-w10 ] && start_radotp 1
    done
    # The disk alone, at radotp's median flush rate of the half-load runs,
    # with both servers idle: the floor the disk sets under any durable
    # server's p99 (docs/PERFORMANCE.md, "The disk's floor").
    frate=$(python3 - "$WORK/results.jsonl" <<'PY'
import json, statistics, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
v = [(r.get("commit") or {}).get("commits_per_s") for r in rs if r["name"].endswith("half-load")]
v = [x for x in v if x]
print(int(statistics.median(v)) if v else 2500)
PY
)
    log "the disk alone: radotp-bench disk in $WORK at $frate flushes/s, $RUNS runs of $DURATION s"
    for i in $(seq 1 "$RUNS"); do
        "$BENCH" --json disk --dir "$WORK" --rate "$frate" --duration "$DURATION" |
            python3 -c 'import json, sys
r = json.load(sys.stdin); r["name"] = "disk probe"; print(json.dumps(r))
l = r["latency_us"]
print("   disk alone: %.0f flushes/s  p99 %.2f ms  p99.9 %.2f ms  max %.1f ms  over %g ms %.1f/s  stalled %.2f %%" % (r["flushes_per_sec"], l["p99"] / 1000, l["p999"] / 1000, l["max"] / 1000, r["threshold_ms"], r["slow_per_sec"], r["stalled_percent"]), file=sys.stderr)' >>"$WORK/results.jsonl"
    done
fi

# ---- table of medians --------------------------------------------------------
python3 - "$WORK/results.jsonl" "$RUNS" "$DURATION" "$CONCURRENCY" "$FR_VERSION" <<'PY'
import json, statistics, sys
path, runs, dur, conc, frv = sys.argv[1:]
rows = [json.loads(l) for l in open(path)]
by = {}
disk = [r for r in rows if r["name"] == "disk probe"]
rows = [r for r in rows if r["name"] != "disk probe"]
for r in rows:
    by.setdefault(r["name"], []).append(r)
def med(rs, f):
    v = [f(r) for r in rs if f(r) is not None]
    return statistics.median(v) if v else None
print(f"\nMedians of {runs} runs of {dur} s, concurrency {conc}; FreeRADIUS: {frv}")
print(f"{'pair':<24} {'server':<11} {'req/s':>9} {'p99 ms':>8} {'CPU s/100k':>11} {'errors':>7} {'timeouts':>8}")
pairs = []
for name in by:
    p = name.rsplit(" ", 1)[0]
    if p not in pairs:
        pairs.append(p)
for p in pairs:
    got = {}
    for srv in ("radotp", "freeradius"):
        rs = by.get(f"{p} {srv}")
        if not rs:
            continue
        rps = med(rs, lambda r: r["requests_per_sec"])
        p99 = med(rs, lambda r: r["latency_us"]["p99"] / 1000)
        cpu = med(rs, lambda r: r["cpu_s_per_100k"])
        err = sum(r["errors"] + r["unexpected"] for r in rs)
        to = sum(r["timeouts"] for r in rs)
        got[srv] = (rps, p99, cpu)
        print(f"{p:<24} {srv:<11} {rps:>9.0f} {p99:>8.2f} {cpu if cpu is not None else float('nan'):>11.2f} {err:>7} {to:>8}")
    half = by.get(f"{p} radotp half-load")
    if half:
        # A run that got no reply has no CPU per reply: nan, not a crash.
        hc = med(half, lambda r: r["cpu_s_per_100k"])
        print(f"{p:<24} {'half-load':<11} {med(half, lambda r: r['requests_per_sec']):>9.0f} {med(half, lambda r: r['latency_us']['p99'] / 1000):>8.2f} {hc if hc is not None else float('nan'):>11.2f} {sum(r['errors'] + r['unexpected'] for r in half):>7} {sum(r['timeouts'] for r in half):>8}")
        sw = med(half, lambda r: (r.get("commit") or {}).get("slow_waits_per_s"))
        if sw is not None:
            print(f"{p:<24} {'half-load':<11} {sw:>9.1f} group-commit waits over 2.5 ms per second (median)")
    rs = by.get(f"{p} radotp") or []
    fd = med(rs, lambda r: (r.get("commit") or {}).get("commits_per_s"))
    ab = med(rs, lambda r: (r.get("commit") or {}).get("accepts_per_commit"))
    if fd is not None and ab is not None:
        print(f"{p:<24} {'at peak':<11} {fd:>9.0f} store commits/s, {ab:.1f} Accepts per commit (medians)")
    if len(got) == 2:
        a, b = got["radotp"], got["freeradius"]
        ratio = lambda x, y: x / y if x and y else float("nan")
        print(f"{p:<24} {'ratio r/F':<11} {ratio(a[0], b[0]):>9.2f} {ratio(a[1], b[1]):>8.2f} {ratio(a[2], b[2]):>11.2f}")
if disk:
    m = lambda f: statistics.median(f(r) for r in disk)
    print(f"\nThe disk alone (radotp-bench disk, servers idle, {len(disk)} runs, medians): "
          f"{m(lambda r: r['flushes_per_sec']):.0f} flushes/s, p99 {m(lambda r: r['latency_us']['p99']) / 1000:.2f} ms, "
          f"{m(lambda r: r['slow_per_sec']):.1f} flushes/s over {disk[0]['threshold_ms']:g} ms; "
          f"stalled {m(lambda r: r['stalled_percent']):.2f} % of the time "
          f"(runs: {', '.join('%.2f' % r['stalled_percent'] for r in disk)}): at least that share of "
          f"durable Accepts wait over {disk[0]['threshold_ms']:g} ms on this disk, whatever the server")
PY
echo "raw results: $WORK/results.jsonl" >&2
