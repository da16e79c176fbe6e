#!/usr/bin/env bash
# Builds target/debian/radotp_<version>_<arch>.deb with dpkg-deb: the release
# binary, /etc/radotp/radotp.toml (conffile), the systemd unit, man pages and
# shell completions generated from the clap definitions, and the maintainer
# scripts of packaging/debian/. Prints the path of the .deb.
#
# Usage: packaging/build-deb.sh [--no-build]   (--no-build: reuse target/release/radotp)
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
[ "${1:-}" = "--no-build" ] && build=0

if [ $build -eq 1 ]; then
  # The radotp package of the workspace only (radotp-bench is not shipped).
  cargo build --release --locked -p radotp --bin radotp >&2
fi
bin=target/release/radotp
[ -x "$bin" ] || { echo "build-deb: $bin missing" >&2; exit 1; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
out=target/debian
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

install -d "$root/DEBIAN" "$root/usr/bin" "$root/etc/radotp" "$root/lib/systemd/system" \
  "$root/etc/logrotate.d" \
  "$root/usr/share/man/man1" "$root/usr/share/doc/radotp" \
  "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
  "$root/usr/share/fish/vendor_completions.d"

install -m 0755 "$bin" "$root/usr/bin/radotp"
if command -v strip >/dev/null 2>&1; then
  strip --strip-debug "$root/usr/bin/radotp"
fi
install -m 0644 packaging/radotp.toml "$root/etc/radotp/radotp.toml"
install -m 0644 systemd/radotp.service "$root/lib/systemd/system/radotp.service"
install -m 0644 packaging/logrotate/radotp "$root/etc/logrotate.d/radotp"

"$bin" generate man --dir "$root/usr/share/man/man1"
gzip -9n "$root"/usr/share/man/man1/*.1
"$bin" generate completions bash > "$root/usr/share/bash-completion/completions/radotp"
"$bin" generate completions zsh > "$root/usr/share/zsh/vendor-completions/_radotp"
"$bin" generate completions fish > "$root/usr/share/fish/vendor_completions.d/radotp.fish"

cat > "$root/usr/share/doc/radotp/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: radotp

Files: *
License: Apache-2.0
 On Debian systems the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
COPYRIGHT
install -m 0644 README.md "$root/usr/share/doc/radotp/README.md"

install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$root/DEBIAN/"
printf '%s\n' /etc/radotp/radotp.toml /etc/logrotate.d/radotp > "$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: radotp
Version: $version
Architecture: $arch
Maintainer: radotp developers <radotp@localhost>
Installed-Size: $size
Depends: libc6 (>= 2.34), libgcc-s1, passwd
Section: net
Priority: optional
Description: RADIUS server for one-time passwords (TOTP/HOTP)
 radotp authenticates network devices (VPNs, switches, firewalls) with
 TOTP or HOTP one-time passwords, optionally behind a PIN, over PAP, CHAP,
 MS-CHAP and MS-CHAP-V2. It runs as a hardened systemd service with a local
 control socket for administration, accounting and Prometheus metrics.
CONTROL

mkdir -p "$out"
deb="$out/radotp_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
echo "$deb"
