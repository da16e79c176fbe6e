#!/usr/bin/env bash
# Installs the outside tools the test suite compares radotp with:
# oathtool (an independent TOTP/HOTP generator) and radclient (FreeRADIUS's
# RADIUS client, from freeradius-utils), radsecproxy and openssl (RadSec), curl (the HTTP API),
# eapol_test (eapoltest), systemd-analyze (from systemd),
# PostgreSQL's server binaries (the shared-store tests start their own). Idempotent; needs root or sudo.
set -euo pipefail
need=()
command -v oathtool >/dev/null 2>&1 || need+=(oathtool)
command -v radclient >/dev/null 2>&1 || need+=(freeradius-utils)
[ -f /usr/share/freeradius/dictionary ] || need+=(freeradius-common)
# openssl makes the RadSec test certificates; radsecproxy is the real
# RadSec (RADIUS over TLS) client of tests/radsec.rs.
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v radsecproxy >/dev/null 2>&1 || need+=(radsecproxy)
# curl drives the HTTP API as a privacyIDEA client would (tests/api.rs).
command -v curl >/dev/null 2>&1 || need+=(curl)
# wpa_supplicant's eapol_test runs EAP-MSCHAPv2 and EAP-GTC (tests/eap.rs), and PEAP
# and EAP-TTLS with an openssl-made certificate (tests/eap_tls.rs).
command -v eapol_test >/dev/null 2>&1 || need+=(eapoltest)
# PostgreSQL (initdb, pg_ctl): tests/postgres.rs starts its own server.
[ -n "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null)" ] || need+=(postgresql)
# systemd-analyze checks systemd/radotp.service (tests/service.rs).
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# The Python pskc library writes and reads PSKC files (tests/pskc.rs); it
# is Debian's python3-pskc, for the system python3.
/usr/bin/python3 -c 'import pskc' >/dev/null 2>&1 || need+=(python3-pskc)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
oathtool --version | head -1
radclient -v 2>&1 | head -1 || true
