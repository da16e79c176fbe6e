#!/usr/bin/env bash
# radotp driven by FreeRADIUS's radclient instead of its own generator: an
# independent check of the figures in docs/PERFORMANCE.md. The TOTP codes
# are computed here by Python's hmac (not by radotp), one fresh code per
# user and run: every run waits for a new 30-s step and sends the current
# step's code of every user once.
#
# Environment (defaults in brackets):
#   USERS [300000] (TOTP users, one request each per run)  RUNS [3]
#   METHODS ["pap chap"]  CHUNK [1000] (requests per radclient file)
#   PAR [4] (radclient processes at once, each with 128 requests in flight)
#   WORK [a new /tmp/radotp-radclient.XXXX]  PORT [18130]
#
# radclient reads a whole file before it sends and gets slower with large
# files (here: 250,000 requests in one file ran at under 1,000 req/s), so
# the requests go out in files of CHUNK through PAR processes.
set -euo pipefail

USERS=${USERS:-300000}
RUNS=${RUNS:-3}
METHODS=${METHODS:-"pap chap"}
CHUNK=${CHUNK:-1000}
PAR=${PAR:-4}
PORT=${PORT:-18130}
SECRET=testing123
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/radotp-radclient.XXXX)}
mkdir -p "$WORK"

log() { echo "== $*" >&2; }

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
need=()
command -v radclient >/dev/null || need+=(freeradius-utils)
command -v ss >/dev/null || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]} from Debian"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

log "building radotp and radotp-bench (release)"
(cd "$ROOT" && cargo build --release --locked -q -p radotp-bench -p radotp)
RADOTP=$ROOT/target/release/radotp
BENCH=$ROOT/target/release/radotp-bench

cat >"$WORK/radotp.toml" <<EOF
[server]
listen = ["127.0.0.1:$PORT"]
accounting_listen = []
control_socket = "$WORK/radotp.sock"
log_level = "warn"
[store]
path = "$WORK/radotp.sqlite"
key_file = "$WORK/radotp.key"
[otp]
totp_window = 1
[lockout]
threshold = 0
[[client]]
name = "radclient"
address = "127.0.0.1"
secret = "$SECRET"
EOF
if [ ! -f "$WORK/seeds" ]; then
    log "provisioning $USERS TOTP users"
    "$BENCH" -c "$WORK/radotp.toml" provision --seed-file "$WORK/seeds" \
        --totp "$USERS" --import --radotp "$RADOTP"
fi

"$RADOTP" -c "$WORK/radotp.toml" serve >"$WORK/radotp.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 3000); do
    [ -n "$(ss -Hlun "sport = :$PORT")" ] && break
    if ! kill -0 "$PID" 2>/dev/null; then
        cat "$WORK/radotp.log" >&2
        exit 1
    fi
    sleep 0.01
done
log "radotp up (pid $PID)"

# Request files for every user at the current step, CHUNK requests a file.
requests() { # method
    rm -rf "$WORK/req" && mkdir -p "$WORK/req"
    python3 - "$WORK/seeds" "$WORK/req" "$USERS" "$1" "$CHUNK" <<'PY'
import hashlib, hmac, struct, sys, time
seeds, out, n, method, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
step = int(time.time()) // 30
attr = {"pap": "User-Password", "chap": "CHAP-Password"}[method]
reqs = []
for line in open(seeds):
    if line.startswith("#"):
        continue
    group, name, _pin, seed, _static = line.split()
    if group != "totp":
        continue
    mac = hmac.new(bytes.fromhex(seed), struct.pack(">Q", step), hashlib.sha1).digest()
    o = mac[-1] & 15
    code = (struct.unpack(">I", mac[o:o + 4])[0] & 0x7FFFFFFF) % 1_000_000
    reqs.append(f'User-Name = "{name}"\n{attr} = "{code:06d}"\nMessage-Authenticator = 0x00\n')
    if len(reqs) == n:
        break
for i in range(0, len(reqs), chunk):
    with open(f"{out}/{i // chunk:06d}.txt", "w") as f:
        f.write("\n".join(reqs[i:i + chunk]))
PY
}

cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }

printf '%-6s %4s %9s %9s %6s %9s %8s %12s\n' method run accepted rejected lost req/s wall_s server_us/req
for m in $METHODS; do
    for r in $(seq 1 "$RUNS"); do
        # A new step for every run: a user's code is never sent twice.
        sleep $((31 - $(date +%s) % 30))
        requests "$m"
        c0=$(cpu)
        t0=$(date +%s.%N)
        ls "$WORK"/req/*.txt | xargs -P "$PAR" -I{} \
            radclient -q -s -p 128 -f {} "127.0.0.1:$PORT" auth "$SECRET" >"$WORK/radclient.out" 2>&1 || true
        t1=$(date +%s.%N)
        c1=$(cpu)
        sum() { grep "$1" "$WORK/radclient.out" | awk '{s += $3} END {print s + 0}'; }
        python3 -c "
acc, rej, lost, n = $(sum Accepted), $(sum Rejected), $(sum Lost), $USERS
wall, cpu = $t1 - $t0, ($c1 - $c0) / 100
print('%-6s %4d %9d %9d %6d %9.0f %8.2f %12.2f' % ('$m', $r, acc, rej, lost, n / wall, wall, cpu / n * 1e6))"
    done
done
