#!/usr/bin/env bash
# CI: builds the Debian package, installs it with dpkg -i, checks what it
# installed (files, user, key, secrets, unit), runs the binary, then purges
# it and checks that the user and directories are gone. Needs root (or sudo)
# and a Debian-like machine; CI runs it on its own throwaway machine.
set -euo pipefail
cd "$(dirname "$0")/.."
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

fail() { echo "ci-deb-test: FAIL: $*" >&2; exit 1; }

if getent passwd radotp >/dev/null || [ -e /etc/radotp ] || [ -e /var/lib/radotp ]; then
  fail "radotp is already installed on this machine (dpkg --purge radotp first)"
fi

deb=$(packaging/build-deb.sh "$@")
echo "built $deb"
dpkg-deb --info "$deb" | sed -n '/Package:/,/Depends:/p'
list=$(dpkg-deb --contents "$deb")
for f in ./usr/bin/radotp ./etc/radotp/radotp.toml ./lib/systemd/system/radotp.service \
         ./usr/share/man/man1/radotp.1.gz ./usr/share/man/man1/radotp-serve.1.gz \
         ./usr/share/bash-completion/completions/radotp ./usr/share/zsh/vendor-completions/_radotp \
         ./usr/share/fish/vendor_completions.d/radotp.fish; do
  grep -q " $f\$" <<<"$list" || fail "$f missing from the package"
done
# The workspace's load generator is a development tool, not shipped.
if grep -q "radotp-bench" <<<"$list"; then fail "radotp-bench (or a page of it) is in the package"; fi
[ "$(dpkg-deb --field "$deb" Package)" = radotp ] || fail "package name"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/radotp/radotp.toml \
  || fail "/etc/radotp/radotp.toml is not a conffile"

$sudo dpkg -i "$deb"
# On a failure: stop the test daemon first (a running radotp user keeps
# the purge from removing it), then purge, so the machine is left clean.
trap '[ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && sleep 1; $sudo dpkg --purge radotp >/dev/null 2>&1 || true' EXIT

radotp --version
radotp config check /etc/radotp/radotp.toml
getent passwd radotp >/dev/null || fail "user radotp not created"
[ "$(stat -c '%a %U %s' /var/lib/radotp/radotp.key)" = "600 radotp 32" ] \
  || fail "key file: $(stat -c '%a %U %s' /var/lib/radotp/radotp.key)"
[ "$(stat -c '%a %U' /var/lib/radotp)" = "750 radotp" ] || fail "state directory"
[ "$(stat -c '%a %G' /etc/radotp/secrets/localhost)" = "640 radotp" ] || fail "local client secret"
[ "$(wc -c < /etc/radotp/secrets/localhost)" -ge 20 ] || fail "local client secret too short"
man -w radotp >/dev/null 2>&1 || [ -f /usr/share/man/man1/radotp.1.gz ] || fail "man page"
zcat /usr/share/man/man1/radotp.1.gz | grep -q '^\.TH' || fail "man page is not roff"
bash -c 'source /usr/share/bash-completion/completions/radotp && complete -p radotp' >/dev/null \
  || fail "bash completion does not load"

# The installed unit with the installed binary and man page.
if command -v systemd-analyze >/dev/null 2>&1; then
  systemd-analyze verify /lib/systemd/system/radotp.service
  systemd-analyze security --offline=true /lib/systemd/system/radotp.service | tail -1
fi

# The daemon starts as user radotp on the installed config and files (on
# spare ports: 1812 may be taken on a CI machine), answers `radotp stats`
# over its control socket, and stops on SIGTERM with exit 0.
cfg=$(mktemp)
sed -e 's/"\[::\]:1812"/"127.0.0.1:18120"/' -e 's/"\[::\]:1813"/"127.0.0.1:18130"/' \
    -e 's|/run/radotp/radotp.sock|/var/lib/radotp/ci.sock|' /etc/radotp/radotp.toml > "$cfg"
chmod 644 "$cfg"
setpriv --reuid=radotp --regid=radotp --clear-groups radotp serve --config "$cfg" > /tmp/radotp-ci.log 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q listening /tmp/radotp-ci.log && break; sleep 0.2; done
grep -q listening /tmp/radotp-ci.log || { cat /tmp/radotp-ci.log; fail "daemon did not start"; }
stats=$(radotp --config "$cfg" stats) || fail "radotp stats over the control socket"
grep -q '"received"' <<<"$stats" || fail "radotp stats over the control socket: $stats"
kill -TERM $pid
wait $pid || fail "daemon exit code $? after SIGTERM"
rm -f "$cfg"
[ "$(stat -c %U /var/lib/radotp/radotp.sqlite)" = radotp ] || fail "database not owned by radotp"
[ -f /etc/logrotate.d/radotp ] || fail "logrotate snippet"
[ "$(stat -c %U /var/log/radotp/audit.log)" = radotp ] || fail "audit trail not opened by the daemon"

$sudo dpkg --purge radotp
trap - EXIT
! dpkg -s radotp >/dev/null 2>&1 || fail "still installed after purge"
! getent passwd radotp >/dev/null || fail "user radotp left after purge"
! getent group radotp >/dev/null || fail "group radotp left after purge"
for d in /var/lib/radotp /var/log/radotp /etc/radotp /run/radotp /usr/bin/radotp \
         /etc/systemd/system/multi-user.target.wants/radotp.service; do
  [ ! -e $d ] || fail "$d left after purge"
done
echo "ci-deb-test: ok"
