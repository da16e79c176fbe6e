#!/usr/bin/env bash
# The bulk-import benchmark of docs/PERFORMANCE.md ("Hardware-token
# import"): N (default 100000) hardware tokens as a `serial,hex-seed`
# list, imported into a fresh SQLite store; exported as PSKC encrypted
# under a pre-shared key; that file imported into another fresh store.
# Each step prints radotp's --json summary (count, seconds, rate).
#   scripts/bench-import.sh [N] [RADOTP_BINARY]
set -euo pipefail
n=${1:-100000}
bin=${2:-target/release/radotp}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
conf() {
  mkdir -p "$dir/$1"
  printf '[server]\nlisten = ["127.0.0.1:0"]\ncontrol_socket = "%s/s.sock"\n[store]\npath = "%s/db"\nkey_file = "%s/k.key"\n' \
    "$dir/$1" "$dir/$1" "$dir/$1" > "$dir/$1/radotp.toml"
  echo "$dir/$1/radotp.toml"
}
python3 - "$n" > "$dir/seeds.csv" <<'PY'
import os, sys
print("serial,seed,type,digits,period")
for i in range(int(sys.argv[1])):
    print(f"HW-{i:07d},{os.urandom(20).hex()},{'hotp' if i % 2 else 'totp'},6,30")
PY
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 32 > "$dir/psk"
a=$(conf a); b=$(conf b)
echo "seed list, $n tokens:"
/usr/bin/time -f "  %e s, %M KiB peak RSS" "$bin" --config "$a" --json token import "$dir/seeds.csv"
echo "export, PSKC under a pre-shared key:"
/usr/bin/time -f "  %e s, %M KiB peak RSS" "$bin" --config "$a" --json token export --out "$dir/all.pskcxml" --psk-file "$dir/psk"
ls -l "$dir/all.pskcxml" | awk '{print "  " $5 " bytes"}'
echo "PSKC import, $n tokens:"
/usr/bin/time -f "  %e s, %M KiB peak RSS" "$bin" --config "$b" --json token import "$dir/all.pskcxml" --psk-file "$dir/psk"
