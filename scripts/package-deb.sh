#!/usr/bin/env bash
# Builds a Debian package of this checkout with dpkg-deb: portwarden-VERSION_ARCH.deb in OUTDIR (default: .).
#   bash scripts/package-deb.sh [OUTDIR]
# Needs what `scripts/setup.sh` leaves: dist/ compiled, the native addons built, node_modules installed (the
# production dependencies are copied from it, so nothing is downloaded). The package installs:
#   /usr/lib/portwarden/          the program (bin, dist/src, native/*/…/*.node, production node_modules)
#   /usr/bin/portwarden           the command
#   /lib/systemd/system/portwarden.service
#   /etc/portwarden/portwarden.yaml   the example config (a conffile; as shipped it changes nothing)
#   /usr/share/man/man8/portwarden.8.gz, bash and zsh completion, /usr/share/doc/portwarden (copyright, README)
# Depends on Node.js 20 or newer (Debian 12's own nodejs is 18: README "Packaging" says where 20 comes from).
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(realpath "${1:-.}")"
version="$(node -p 'require("./package.json").version')"
arch="$(dpkg --print-architecture)"
for f in dist/src/cli/main.js native/netlink/build/Release/portwarden_netlink.node node_modules/better-sqlite3/build/Release/better_sqlite3.node; do
  [[ -e "$f" ]] || { echo "package-deb: $f is missing; run scripts/setup.sh first" >&2; exit 2; }
done

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
root="$stage/portwarden_${version}_${arch}"
lib="$root/usr/lib/portwarden"
echo "package-deb: staging in $root"
mkdir -p "$lib" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/portwarden" "$root/usr/share/man/man8" \
  "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" "$root/usr/share/doc/portwarden" "$root/DEBIAN"

cp -r bin package.json "$lib/"
mkdir -p "$lib/dist" && cp -r dist/src "$lib/dist/"
find "$lib/dist" -name '*.map' -delete
for node in native/*/build/Release/*.node; do
  mkdir -p "$lib/$(dirname "$node")" && cp "$node" "$lib/$node"
done
# The production dependency closure, copied as npm installed it (better-sqlite3 with its compiled addon).
echo "package-deb: copying the production dependencies"
npm ls --omit=dev --all --parseable 2>/dev/null | tail -n +2 | while read -r dir; do
  rel="${dir#"$PWD"/}"
  mkdir -p "$lib/$(dirname "$rel")" && cp -r "$dir" "$lib/$rel"
done
rm -rf "$lib/node_modules/better-sqlite3/deps" "$lib/node_modules/better-sqlite3/src" "$lib/node_modules/better-sqlite3/build/Release/obj.target" \
  "$lib/node_modules/better-sqlite3/build/Release/.deps" "$lib/node_modules/better-sqlite3/build/Release/test_extension.node"
ln -s ../lib/portwarden/bin/portwarden.js "$root/usr/bin/portwarden"

sed 's#/usr/local/bin/portwarden#/usr/bin/portwarden#; s#file:///usr/local/lib/node_modules/portwarden/README.md#man:portwarden(8)#' contrib/systemd/portwarden.service >"$root/lib/systemd/system/portwarden.service"
cp config/portwarden.example.yaml "$root/etc/portwarden/portwarden.yaml"
gzip -9n <docs/portwarden.8 >"$root/usr/share/man/man8/portwarden.8.gz"
cp contrib/completion/portwarden.bash "$root/usr/share/bash-completion/completions/portwarden"
cp contrib/completion/_portwarden "$root/usr/share/zsh/vendor-completions/_portwarden"
cp LICENSE "$root/usr/share/doc/portwarden/copyright"
gzip -9n <README.md >"$root/usr/share/doc/portwarden/README.md.gz"
cp docs/reference.md "$root/usr/share/doc/portwarden/reference.md"

echo "/etc/portwarden/portwarden.yaml" >"$root/DEBIAN/conffiles"
cat >"$root/DEBIAN/control" <<CONTROL
Package: portwarden
Version: ${version}
Architecture: ${arch}
Maintainer: portwarden developers <portwarden@example.org>
Depends: nodejs (>= 20), libc6, libpcap0.8, libnetfilter-queue1, nftables
Recommends: iproute2
Suggests: iptables, ipset
Section: net
Priority: optional
Installed-Size: $(du -sk "$root" | cut -f1)
Homepage: https://example.org/portwarden
Description: dynamic firewall and network intrusion detection (nftables)
 portwarden watches traffic, recognises port scans of every kind, sweeps,
 slow, distributed and decoy scans and floods, and bans their sources in an
 nftables table of its own, with expiry, allowlists, escalation for repeat
 offenders, persistent state, metrics and alerts.
CONTROL
# Purge removes what the daemon made at run time (state, the socket folder); the config is a conffile dpkg purges.
cat >"$root/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ "$1" = "purge" ]; then
  rm -rf /var/lib/portwarden /run/portwarden
  rmdir /etc/portwarden 2>/dev/null || true
fi
POSTRM
chmod 0755 "$root/DEBIAN/postrm"

mkdir -p "$out"
echo "package-deb: building with dpkg-deb"
dpkg-deb --root-owner-group -Zgzip --build "$root" "$out/portwarden_${version}_${arch}.deb" >/dev/null
echo "$out/portwarden_${version}_${arch}.deb"
