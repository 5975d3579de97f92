#!/usr/bin/env bash
# Sets up portwarden on a Debian 12 machine, as root: system packages from Debian's archive, then the
# npm dependencies from package-lock.json (which also builds dist/). Safe to run again.
#   scripts/setup.sh          what the daemon needs
#   scripts/setup.sh --test   plus the attackers and tools the tests and benchmarks drive (nmap, hping3,
#                             tcpdump, dnsmasq, python3-scapy for the seeds' baseline, chromium, promtool,
#                             fail2ban for the side-by-side test, which runs its own fail2ban-server in a namespace;
#                             their services are neither started nor enabled on this host)
#   scripts/setup.sh --check  says what is missing and installs nothing (exit 1 when something is)
# Each step prints one line saying what it does; the tools' own output goes to a log file, shown only
# when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=daemon check=0
for arg in "$@"; do
  case "$arg" in
    --test) mode=test ;;
    --check) check=1 ;;
    *) echo "setup: unknown option $arg (use --test, --check)" >&2; exit 2 ;;
  esac
done

log=$(mktemp -t portwarden-setup.XXXXXX.log)
step() { echo "setup: $*"; }
# Runs a command with its output in the log; on failure, shows the log's end and stops.
quietly() {
  if ! "$@" >>"$log" 2>&1; then
    echo "setup: failed: $*; the last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
}

# g++/make/python3 and the -dev libraries build portwarden's own N-API addons (native/): libpcap for
# the mirror-port capture source, libnetfilter-queue for inline mode.
packages=(nftables iproute2 iptables ipset ca-certificates g++ make python3 libpcap-dev libnetfilter-queue-dev)
if [[ "$mode" == test ]]; then
  # chromium drives the dashboard test (playwright-core), prometheus brings promtool for the metrics test.
  packages+=(nmap hping3 tcpdump dnsmasq-base curl dnsutils python3-scapy util-linux chromium prometheus sqlite3 zsh man-db poppler-utils fail2ban)
  # The other scanners for attribution captures; a DHCP client for the link-sweep test; nats-server for the fleet tests; CrowdSec's LAPI and its
  # nftables bouncer for the decision-stream tests; the MaxMind DB writer makes the geo test databases.
  packages+=(masscan zmap arping isc-dhcp-client nats-server crowdsec crowdsec-firewall-bouncer libmaxmind-db-writer-perl)
fi

what="for the daemon"
[[ "$mode" == test ]] && what="for the daemon, the tests and the benchmarks"
step "checking the ${#packages[@]} Debian packages $what"
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  step "all ${#packages[@]} Debian packages are installed"
elif ((check)); then
  step "missing Debian packages: ${missing[*]}"
else
  export DEBIAN_FRONTEND=noninteractive
  # What is installed here are tools, not services for this host: apt must not start theirs (fail2ban would put
  # its table into the host's own firewall, prometheus would listen, nftables.service would flush the ruleset).
  # policy-rc.d is Debian's switch for that; one the host already has is left as it is.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  # crowdsec's postinst registers with CrowdSec's Central API over the internet unless this file already has
  # content; the tests run their own local API only, so say so before it is installed.
  if [[ " ${missing[*]} " == *" crowdsec "* && ! -s /etc/crowdsec/online_api_credentials.yaml ]]; then
    mkdir -p /etc/crowdsec
    echo '# no Central API: portwarden runs its own CrowdSec local API in test namespaces' >/etc/crowdsec/online_api_credentials.yaml
  fi
  step "installing ${#missing[@]} Debian packages: ${missing[*]} (apt-get; their services are not started)"
  quietly apt-get update -qq
  quietly apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
  if [[ "$mode" == test ]] && command -v systemctl >/dev/null; then
    systemctl disable fail2ban prometheus nats-server crowdsec crowdsec-firewall-bouncer >/dev/null 2>&1 || true
  fi
fi

if ! command -v node >/dev/null || (( $(node -p 'process.versions.node.split(".")[0]') < 20 )); then
  echo "setup: portwarden needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))." >&2
  exit 1
fi
step "Node.js $(node --version) is new enough (20 or newer)"

if ((check)); then
  if [[ -d node_modules && -d dist/src ]]; then step "npm dependencies installed and dist/ built"; else step "npm dependencies or dist/ missing (run without --check)"; missing+=(npm); fi
  rm -f "$log"
  ((${#missing[@]} == 0)) || exit 1
  exit 0
fi

step "installing npm dependencies, building the native addons and dist/ (npm ci; takes a few minutes)"
quietly npm ci --no-audit --no-fund --loglevel=error </dev/null
rm -f "$log"
step "done: run \`npx portwarden start\` (or see README.md for the systemd unit)"
