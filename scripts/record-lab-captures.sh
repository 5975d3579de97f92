#!/usr/bin/env bash
# record-lab-captures.sh — record the lab captures in test/fixtures/lab/ from real tools.
#
# Usage (as root, on Linux with iproute2, nmap, hping3, tcpdump, curl, dig, dnsmasq, jq, /usr/bin/python3;
# ethtool optional: with it, offloads are off so packets carry real checksums and MTU sizes):
#   sudo scripts/record-lab-captures.sh                      # record every scenario
#   sudo PWREC_SCENARIOS="nmap_sS nmap_sU" scripts/record-lab-captures.sh   # only these
#
# Environment:
#   PWREC_SCENARIOS    space-separated subset of the scenarios below (default: all)
#   PWREC_OUT          output folder (default: <repo>/test/fixtures/lab)
#   PWREC_SNAPLEN      tcpdump snap length (default 160: headers and DNS names fit, captures stay small)
#   PWREC_ABORT_AFTER  scenario name after which the script fails on purpose (to test the cleanup)
#
# What it does: for each scenario, builds a throw-away lab of four network namespaces named
# pwrec-<pid>-{sw,atk,tgt,cli} (and deletes it afterwards, so captures are independent):
# a bridge in "sw" joins the attacker (10.66.0.10, fd00:66::10), the target (10.66.0.2, fd00:66::2)
# and the benign client (10.66.0.20, fd00:66::20); "sw" also holds 10.66.0.1, the target's default
# gateway, with forwarding off, so replies to spoofed sources appear on the wire and then die there.
# No interface, route, firewall rule or sysctl of the initial namespace is touched; every packet stays
# inside these namespaces. The target runs an HTTP server on 80, TCP listeners on 22 and 443 and
# dnsmasq on 53 (authoritative for lab.test and corp.test), and has ICMP rate limits off (per namespace)
# so UDP and IP-protocol scans get their unreachables at once. The decoy addresses 10.66.0.201-203
# are permanent neighbour entries on the target (a MAC nobody owns), so its replies cause no ARP noise.
#
# For each scenario tcpdump records on the target's interface (-U, stopped with SIGINT), the script
# checks the capture holds the expected probes (minimum counts per tcpdump filter), then moves
# NAME.pcap and NAME.expected.json into the output folder (format: test/fixtures/README.md) and
# finally prints a table: capture, packets, bytes, expected incidents. A failure or Ctrl-C stops
# everything started here and deletes the namespaces (trap on EXIT/INT/TERM); scenarios finished
# before the failure stay recorded, a half-recorded one is discarded. Floods are bounded (6,000
# packets each) and every tool runs under `timeout`.
#
# Scenarios (capture name -> expected incidents; A = attacker, T = target):
#   nmap_sS nmap_sT nmap_sF nmap_sN nmap_sX nmap_sA nmap_sW nmap_sM
#                            nmap -Pn -n -T4 -<type> -p 1-1000 T          -> scan <class> A -> T
#                            (sS syn, sT connect, sF fin, sN null, sX xmas, sA ack, sW ack, sM maimon)
#   nmap_sU                  nmap -sU --top-ports 200 --max-retries 1     -> scan udp A -> T
#   nmap_sS_ipv6             nmap -6 -sS -p 1-1000 fd00:66::2             -> scan syn fd00:66::10 -> fd00:66::2
#   nmap_sO                  nmap -sO -p 0-255 --max-retries 0            -> scan ip-proto A -> T
#   nmap_decoy               nmap -sS -p 1-300 -D 10.66.0.201,.202,.203,ME -> decoy-scan syn, 4 sources -> T
#   hping3_syn_flood_spoofed hping3 -S -p 80 --rand-source -i u200 -c 6000 -> flood syn -> T
#                            (the capture also holds the target's SYN-ACKs to the spoofed sources)
#   hping3_udp_flood         hping3 --udp -p 53 -i u200 -c 6000           -> flood udp A -> T
#   benign_lab               client: 200 curl http://T/ (sequential and bursts of 10), 200 dig @T
#                            of varied names, 5 curl to T:443 (handshake completes) -> no incident
#   flood_with_nmap_scanner  hping3 -S -p 80 --rand-source -i u200 -c 10000 T while nmap -sS -T4 -p 1-1000 T
#                            -> flood syn -> T and scan syn A -> T (nmap): the real scanner is not a flood member
#   masscan_sS               masscan T -p 1-1000 --rate 2000        -> scan syn A -> T (masscan)
#   zmap_sweep               zmap -p 80 10.66.0.0/24, every frame to T's MAC (T sees the sweep) -> sweep syn A (zmap)
#   hping3_scan              hping3 -S --scan 1-300 T               -> scan syn A -> T (hping3)
#   reflection_synack        hping3 -S -a T --rand-dest 10.66.1.x -p 80: the client namespace answers for all of
#                            10.66.1.0/24 (a local route) with SYN-ACKs to T -> flood reflection -> T, no source
#   reflection_dns           the same with DNS queries (hping3 --udp -p 53 -E query) to dnsmasq on 10.66.1.0/24
#                            -> flood reflection -> T (udp/53)
#   reflection_icmp          the same with UDP to a closed port: ICMP port unreachables to T quoting datagrams
#                            T never sent -> flood reflection -> T
#   idle_scan                nmap -sI C:80 -p 1-100 T, where the client C is a zombie (a raw-socket stand-in
#                            answering every TCP packet with a RST from one incrementing IP ID counter)
#                            -> scan syn -> T naming zombie C (evidence.zombie; no source.ip), nobody banned
#   nmap_sn_arp              nmap -sn -n 10.66.0.0/24 (host discovery on the link: ARP who-has) -> sweep arp A
#   nmap_sn_nd               nmap -6 -sn -n fd00:66::/120 (neighbour solicitations) -> sweep nd fd00:66::10
#   nmap_sn_ip               nmap -sn -n --send-ip -PE -PS22,443 -PA80 -PU53 of 64 absent hosts, recorded on the
#                            switch (a mirror port: the target's own interface sees none of it) -> one sweep per
#                            ping method (icmp echo, syn 22, syn 443, ack 80, udp 53) from A, no per-host scan
#   link_benign              arping of one host, a gratuitous ARP, an RFC 5227 address probe (sender 0.0.0.0,
#                            as DHCP clients send), ping, and the target refreshing its ARP cache of 40
#                            neighbours it already knows (unicast, as every Linux host and router does) -> none
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${PWREC_OUT:-$ROOT/test/fixtures/lab}
SNAPLEN=${PWREC_SNAPLEN:-160}
PY=/usr/bin/python3
ALL_SCENARIOS=(nmap_sS nmap_sT nmap_sF nmap_sN nmap_sX nmap_sA nmap_sW nmap_sM nmap_sU nmap_sS_ipv6
  nmap_sO nmap_decoy hping3_syn_flood_spoofed hping3_udp_flood benign_lab nmap_sn_arp nmap_sn_nd link_benign nmap_sn_ip
  flood_with_nmap_scanner masscan_sS zmap_sweep hping3_scan reflection_synack reflection_dns reflection_icmp idle_scan)
read -r -a SCENARIOS <<<"${PWREC_SCENARIOS:-${ALL_SCENARIOS[*]}}"

GW=10.66.0.1 TGT=10.66.0.2 ATK=10.66.0.10 CLI=10.66.0.20 SUBNET=10.66.0.0/24
TGT6=fd00:66::2 ATK6=fd00:66::10 CLI6=fd00:66::20
DECOYS=(10.66.0.201 10.66.0.202 10.66.0.203)
REFLECTORS=10.66.1 # a /24 the client namespace answers for (a local route), for the reflection scenarios

die() { echo "record-lab-captures: $*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || die "must run as root (network namespaces, raw sockets)"
for tool in ip nmap hping3 masscan zmap nft tcpdump curl dig dnsmasq jq ss timeout arping "$PY"; do
  command -v "$tool" >/dev/null || die "missing tool: $tool"
done
for s in "${SCENARIOS[@]}"; do
  [[ " ${ALL_SCENARIOS[*]} " == *" $s "* ]] || die "unknown scenario: $s"
done

TAG=pwrec-$$                       # unique per run; interface names stay within 15 characters
NS_SW=$TAG-sw NS_ATK=$TAG-atk NS_TGT=$TAG-tgt NS_CLI=$TAG-cli
ALL_NS=("$NS_SW" "$NS_ATK" "$NS_TGT" "$NS_CLI")
WORK=$(mktemp -d "/tmp/$TAG.XXXXXX")
PIDS=()                            # background processes started by this script
TCPDUMP_PID=
BOUNDED_PID=                       # the `timeout` running the current tool, if any

# Stop everything started in the lab and delete its namespaces; idempotent, safe with a half-built lab.
teardown_lab() {
  local pid ns pids
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
  for ns in "${ALL_NS[@]}"; do
    [[ -e /run/netns/$ns ]] || continue
    # Anything still running inside our own namespaces was started by this script.
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    if [[ -n $pids ]]; then
      kill $pids 2>/dev/null || true
      sleep 0.5
      kill -KILL $pids 2>/dev/null || true
    fi
    ip netns del "$ns" || echo "record-lab-captures: could not delete namespace $ns" >&2
  done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM ERR
  set +e
  if [[ -n $BOUNDED_PID ]]; then kill "$BOUNDED_PID" 2>/dev/null; wait "$BOUNDED_PID" 2>/dev/null; fi
  if [[ -n $TCPDUMP_PID ]]; then kill -INT "$TCPDUMP_PID" 2>/dev/null; wait "$TCPDUMP_PID" 2>/dev/null; fi
  teardown_lab
  rm -rf "$WORK"
  if [[ $rc -ne 0 ]]; then echo "record-lab-captures: FAILED (exit $rc); lab removed" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'echo "record-lab-captures: command failed (line $LINENO): $BASH_COMMAND" >&2' ERR

# Foreground only: a backgrounded shell function is a subshell, and $! would not be the tool's pid;
# background processes are started with `ip netns exec` directly (it execs, so $! is the tool).
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# ---------------------------------------------------------------- lab
setup_lab() {
  local ns
  for ns in "${ALL_NS[@]}"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # No router on the lab link: no periodic router solicitations in the captures.
    in_ns "$ns" sysctl -qw net.ipv6.conf.default.router_solicitations=0 net.ipv6.conf.all.router_solicitations=0
  done
  # The switch: a bridge, IPv4 only (no IPv6 chatter of its own), never forwards at layer 3.
  in_ns "$NS_SW" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.disable_ipv6=1 \
    net.ipv6.conf.default.disable_ipv6=1
  ip -n "$NS_SW" link add "$TAG-b" type bridge stp_state 0
  ip -n "$NS_SW" addr add "$GW/24" dev "$TAG-b"
  ip -n "$NS_SW" link set "$TAG-b" up
  local pair suffix addr addr6
  for pair in "a|$NS_ATK|$ATK|$ATK6" "t|$NS_TGT|$TGT|$TGT6" "c|$NS_CLI|$CLI|$CLI6"; do
    IFS='|' read -r suffix ns addr addr6 <<<"$pair"
    # Create the pair inside the switch namespace with its peer directly in the end namespace:
    # no interface ever exists in the initial namespace.
    ip -n "$NS_SW" link add "$TAG-$suffix" type veth peer name eth0 netns "$ns"
    ip -n "$NS_SW" link set "$TAG-$suffix" master "$TAG-b" up
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" addr add "$addr6/64" dev eth0 nodad
    if command -v ethtool >/dev/null; then
      # Real checksums and MTU-sized packets on the wire (no TSO/GSO super-packets in the capture).
      in_ns "$ns" ethtool -K eth0 tx off tso off gso off gro off >/dev/null 2>&1 || true
    fi
    ip -n "$ns" link set eth0 up
  done
  ip -n "$NS_TGT" route add default via "$GW"
  # Per-namespace ICMP limits (the per-destination ones, and the "global" token bucket of
  # 1000/s, burst 50, which is per namespace too: only namespaced sysctls exist inside a namespace).
  in_ns "$NS_TGT" sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
  in_ns "$NS_TGT" sysctl -qw net.ipv4.icmp_msgs_per_sec=100000 net.ipv4.icmp_msgs_burst=10000
  local i
  for i in "${!DECOYS[@]}"; do
    ip -n "$NS_TGT" neigh replace "${DECOYS[$i]}" lladdr "02:66:00:00:02:0$((i + 1))" dev eth0 nud permanent
  done
}

wait_listen() { # ns, t|u, port
  local i
  for i in $(seq 50); do
    [[ -n $(in_ns "$1" ss -Hln"$2" "sport = :$3") ]] && return 0
    sleep 0.1
  done
  die "nothing listens on $2 port $3 in $1"
}

start_services() {
  mkdir -p "$WORK/www"
  printf '<!doctype html><title>lab</title><p>portwarden lab web server</p>\n' >"$WORK/www/index.html"
  printf 'about the lab\n' >"$WORK/www/about.html"
  printf 'body { color: #222 }\n' >"$WORK/www/style.css"
  cat >"$WORK/listen.py" <<'EOF'
import socket, socketserver, sys, threading
class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            self.request.settimeout(2)
            if self.server.server_address[1] == 22:
                self.request.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
            self.request.recv(4096)
        except OSError:
            pass
class Server(socketserver.ThreadingTCPServer):
    address_family = socket.AF_INET6
    allow_reuse_address = True
    daemon_threads = True
    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()
for port in map(int, sys.argv[1:]):
    threading.Thread(target=Server(("::", port), Handler).serve_forever, daemon=True).start()
threading.Event().wait()
EOF
  ip netns exec "$NS_TGT" "$PY" -m http.server 80 --bind :: --directory "$WORK/www" >"$WORK/http.log" 2>&1 &
  PIDS+=($!)
  ip netns exec "$NS_TGT" "$PY" "$WORK/listen.py" 22 443 >"$WORK/listen.log" 2>&1 &
  PIDS+=($!)
  ip netns exec "$NS_TGT" dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --no-poll --bind-interfaces \
    --listen-address="$TGT" --listen-address="$TGT6" --pid-file="$WORK/dnsmasq.pid" --user=nobody \
    --local=/lab.test/ --local=/corp.test/ --address=/lab.test/"$TGT" --address=/lab.test/"$TGT6" \
    --address=/corp.test/10.66.0.3 --mx-host=lab.test,mail.lab.test,10 --log-facility="$WORK/dnsmasq.log" \
    >"$WORK/dnsmasq.out" 2>&1 &
  PIDS+=($!)
  wait_listen "$NS_TGT" t 80
  wait_listen "$NS_TGT" t 22
  wait_listen "$NS_TGT" t 443
  wait_listen "$NS_TGT" u 53
}

# ---------------------------------------------------------------- capture
start_capture() {
  local name=$1 i ns=$NS_TGT dev=eth0
  # A mirror port for what the target's interface cannot see (traffic to other hosts).
  if [[ $name == nmap_sn_ip ]]; then ns=$NS_SW dev=$TAG-b; fi
  ip netns exec "$ns" tcpdump -i "$dev" -U -n -s "$SNAPLEN" -Z root -w "$WORK/$name.pcap" \
    2>"$WORK/$name.tcpdump.log" &
  TCPDUMP_PID=$!
  for i in $(seq 100); do
    grep -q 'listening on' "$WORK/$name.tcpdump.log" && break
    kill -0 "$TCPDUMP_PID" 2>/dev/null || die "tcpdump died: $(cat "$WORK/$name.tcpdump.log")"
    sleep 0.1
  done
  grep -q 'listening on' "$WORK/$name.tcpdump.log" || die "tcpdump did not start"
  sleep 0.5
}

stop_capture() {
  local st=0
  sleep 1.5 # trailing replies and retransmissions
  kill -INT "$TCPDUMP_PID"
  wait "$TCPDUMP_PID" || st=$?
  TCPDUMP_PID=
  [[ $st -eq 0 ]] || die "tcpdump exited with $st: $(cat "$WORK/$1.tcpdump.log")"
}

# Run a command with a time limit. In the background plus `wait`, because bash runs a trap only
# after the foreground command ends, while `wait` returns at once on a signal (Ctrl-C, TERM).
bounded() { # seconds, command...
  local secs=$1 pid st=0
  shift
  timeout -k 5 "$secs" "$@" &
  pid=$!
  BOUNDED_PID=$pid
  wait "$pid" || st=$?
  BOUNDED_PID=
  return "$st"
}

count() { tcpdump -nr "$1" "$2" 2>/dev/null | wc -l; }

need() { # capture, minimum, filter, what
  local n
  n=$(count "$1" "$3")
  [[ $n -ge $2 ]] || die "$(basename "$1"): expected at least $2 $4, found $n (filter: $3)"
  echo "    ok: $n $4"
}

# ---------------------------------------------------------------- expected files
version() {
  case $1 in
    nmap) nmap --version | awk 'NR==1{print $3}' ;;
    hping3) hping3 --version 2>&1 | awk 'NR==1{print $3}' ;;
    curl) curl --version | awk 'NR==1{print $2}' ;;
    dig) dig -v 2>&1 | awk '{print $2}' ;;
    dnsmasq) dnsmasq --version | awk 'NR==1{print $3}' ;;
    tcpdump) tcpdump --version 2>&1 | awk 'NR==1{print $3}' ;;
    arping) { arping --help 2>&1 || true; } | awk '/^ARPing/{sub(",", "", $2); print $2; exit}' ;;
  esac
}

scan() { jq -cn --arg c "$1" --arg s "$2" --arg d "$3" '[{kind:"scan",class:$c,source:$s,destination:$d}]'; }

write_expected() { # name, tools, what, incidents-json
  local prov
  prov="recorded by scripts/record-lab-captures.sh on $(date -u +%Y-%m-%d) with $2, tcpdump $(version tcpdump) \
(snaplen $SNAPLEN, on the target's interface), Linux $(uname -r); lab addresses: network namespaces on one \
bridge, attacker $ATK / $ATK6, target $TGT / $TGT6, benign client $CLI / $CLI6, target's gateway $GW; \
target services: HTTP on 80, TCP listeners on 22 and 443, dnsmasq DNS on 53. Traffic: $3"
  jq -n --arg p "$prov" --argjson i "$4" '{provenance:$p, profile:"normal", incidents:$i}' >"$WORK/$1.expected.json"
}

# ---------------------------------------------------------------- scenarios
declare -A NMAP_CLASS=([sS]=syn [sT]=connect [sF]=fin [sN]=null [sX]=xmas [sA]=ack [sW]=ack [sM]=maimon)
# TCP flags (low six bits) nmap puts on the probes of each type.
declare -A NMAP_FLAGS=([sS]=0x02 [sT]=0x02 [sF]=0x01 [sN]=0x00 [sX]=0x29 [sA]=0x10 [sW]=0x10 [sM]=0x11)

benign_traffic() {
  local names=(www mail intranet wiki git ci build db01 db02 files nas printer vpn ldap auth api cdn
    static jira chat) paths=(/ / / / /index.html /about.html /style.css /)
  local round i k burst
  for round in $(seq 0 9); do
    for i in $(seq 0 9); do
      in_ns "$NS_CLI" curl -s -o /dev/null -m 5 "http://$TGT${paths[$(((round + i) % ${#paths[@]}))]}"
    done
    burst=()
    for i in $(seq 0 9); do
      ip netns exec "$NS_CLI" curl -s -o /dev/null -m 5 "http://$TGT/" &
      burst+=($!)
    done
    wait "${burst[@]}"
    for i in $(seq 0 19); do
      k=$((round * 20 + i))
      local name=${names[$((k % ${#names[@]}))]}.lab.test type=A
      ((k % 3 == 1)) && name=host$k.lab.test
      ((k % 7 == 3)) && name=${names[$((k % ${#names[@]}))]}.corp.test
      ((k % 5 == 4)) && type=AAAA
      ((k % 11 == 6)) && name=lab.test type=MX
      in_ns "$NS_CLI" dig +tries=1 +time=2 @"$TGT" "$name" "$type" >/dev/null
    done
    if ((round % 2 == 0)); then
      # Port 443: the listener completes the handshake, then closes (curl reports an error).
      in_ns "$NS_CLI" curl -s -o /dev/null -m 3 "http://$TGT:443/" || true
    fi
  done
}

mac_of() { ip -n "$1" -br link show eth0 | awk '{print $3}'; }

# The client namespace answers for all of $REFLECTORS.0/24 (a local route: any address of it is its own),
# like a crowd of real servers; the attacker reaches them through it. ICMP limits off, so every
# reflected datagram gets its unreachable.
setup_reflectors() {
  ip -n "$NS_CLI" route add local "$REFLECTORS.0/24" dev lo
  ip -n "$NS_ATK" route add "$REFLECTORS.0/24" via "$CLI"
  in_ns "$NS_CLI" sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv4.icmp_msgs_per_sec=100000 net.ipv4.icmp_msgs_burst=10000
}

# A DNS query (id 0x1234, A? www.lab.test) as hping3's payload file.
dns_query_file() {
  printf '\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x03lab\x04test\x00\x00\x01\x00\x01' >"$WORK/query.bin"
}

# A zombie for nmap -sI: Linux randomises IP IDs per destination, so a raw-socket stand-in answers every
# TCP packet to the client's address with a RST from one global, incrementing IP ID counter (what old
# stacks and printers do), and the client's own kernel RSTs are dropped (nft, in its namespace only).
start_zombie() {
  cat >"$WORK/zombie.py" <<'PYEOF'
import socket, struct, sys
me = socket.inet_aton(sys.argv[1])
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
tx.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, 0x5a)
ipid = 4242
while True:
    pkt = rx.recv(2048)
    ihl = (pkt[0] & 15) * 4
    src, dst = pkt[12:16], pkt[16:20]
    if dst != me or len(pkt) < ihl + 20: continue
    sport, dport, seq, ack, off, flags = struct.unpack('!HHIIBB', pkt[ihl:ihl + 14])
    if flags & 0x04: continue
    if flags & 0x10: rseq, rack, rflags = ack, 0, 0x04
    else: rseq, rack, rflags = 0, (seq + 1 + (len(pkt) - ihl - (off >> 4) * 4)) & 0xffffffff, 0x14
    tcp = struct.pack('!HHIIBBHHH', dport, sport, rseq, rack, 0x50, rflags, 0, 0, 0)
    tcp = tcp[:16] + struct.pack('!H', csum(me + src + struct.pack('!BBH', 0, 6, 20) + tcp)) + tcp[18:]
    ipid = (ipid + 1) & 0xffff
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 40, ipid, 0, 64, 6, 0, me, src)
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    tx.sendto(ip + tcp, (socket.inet_ntoa(src), 0))
PYEOF
  in_ns "$NS_CLI" nft -f - <<EOF
table ip pwrec_zombie {
  chain out { type filter hook output priority 0; meta mark != 0x5a tcp flags & rst == rst drop; }
}
EOF
  ip netns exec "$NS_CLI" "$PY" "$WORK/zombie.py" "$CLI" >"$WORK/zombie.log" 2>&1 &
  PIDS+=($!)
  sleep 0.5
}

# Ordinary link-layer chatter that is no sweep (scenario link_benign).
link_benign_traffic() {
  local i
  for i in $(seq 100 139); do ip -n "$NS_CLI" addr add "10.66.0.$i/24" dev eth0; done
  # The target keeps its neighbours fresh by unicast; it learns the 40 addresses first (broadcast, as
  # anyone resolving a new neighbour does), then talks to them every second for 12 s.
  in_ns "$NS_TGT" sysctl -qw net.ipv4.neigh.eth0.base_reachable_time_ms=1000 net.ipv4.neigh.eth0.delay_first_probe_time=1
  local talk='import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for r in range(int(sys.argv[1])):
    for i in range(100, 140): s.sendto(b"x", ("10.66.0.%d" % i, 9))
    time.sleep(1)'
  # The client answers every datagram (an echo service), so none of the target's first contacts fails.
  # One socket per address, so each answer comes from the address that was asked.
  ip netns exec "$NS_CLI" /usr/bin/python3 -c 'import selectors, socket
sel = selectors.DefaultSelector()
for i in range(100, 140):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.66.0.%d" % i, 9)); sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        d, a = key.fileobj.recvfrom(64); key.fileobj.sendto(d, a)' &
  local echo=$!
  sleep 0.5
  in_ns "$NS_TGT" /usr/bin/python3 -c "$talk" 1
  sleep 2
  in_ns "$NS_CLI" arping -q -c 5 -W 0.2 -i eth0 "$TGT" || true
  in_ns "$NS_ATK" arping -q -U -c 3 -W 0.2 -i eth0 "$ATK" || true
  in_ns "$NS_ATK" arping -q -0 -c 3 -W 0.2 -i eth0 10.66.0.77 || true
  in_ns "$NS_CLI" hping3 -q --icmp -c 5 -i u200000 "$TGT" >/dev/null 2>&1
  in_ns "$NS_TGT" /usr/bin/python3 -c "$talk" 12
  kill "$echo"
}

run_scenario() {
  local name=$1 f="$WORK/$1.pcap" st=0 t inc tools what i
  echo "== $name"
  start_capture "$name"
  case $name in
    nmap_s[STFNXAWM])
      t=${name#nmap_}
      what="nmap -Pn -n -T4 -$t -p 1-1000 $TGT from the attacker"
      bounded 300 ip netns exec "$NS_ATK" nmap -Pn -n -T4 "-$t" -p 1-1000 "$TGT" -oN "$WORK/$name.nmap" >/dev/null
      stop_capture "$name"
      need "$f" 1000 "src host $ATK and tcp[13] & 0x3f == ${NMAP_FLAGS[$t]}" "probes with flags ${NMAP_FLAGS[$t]} from the attacker"
      need "$f" 900 "src host $TGT and tcp[13] & 0x04 != 0" "RSTs from the target"
      tools="nmap $(version nmap)"
      inc=$(scan "${NMAP_CLASS[$t]}" "$ATK" "$TGT")
      ;;
    nmap_sU)
      what="nmap -Pn -n -T4 -sU --top-ports 200 --max-retries 1 $TGT from the attacker"
      bounded 300 ip netns exec "$NS_ATK" nmap -Pn -n -T4 -sU --top-ports 200 --max-retries 1 "$TGT" \
        -oN "$WORK/$name.nmap" >/dev/null
      stop_capture "$name"
      need "$f" 200 "src host $ATK and udp" "UDP probes from the attacker"
      need "$f" 150 "src host $TGT and icmp[0] == 3 and icmp[1] == 3" "ICMP port unreachables from the target"
      tools="nmap $(version nmap)"
      inc=$(scan udp "$ATK" "$TGT")
      ;;
    nmap_sS_ipv6)
      what="nmap -6 -Pn -n -T4 -sS -p 1-1000 $TGT6 from the attacker"
      bounded 300 ip netns exec "$NS_ATK" nmap -6 -Pn -n -T4 -sS -p 1-1000 "$TGT6" -oN "$WORK/$name.nmap" >/dev/null
      stop_capture "$name"
      need "$f" 1000 "ip6 and src host $ATK6 and ip6[6] == 6 and ip6[53] & 0x3f == 0x02" "IPv6 SYNs from the attacker"
      need "$f" 900 "ip6 and src host $TGT6 and ip6[6] == 6 and ip6[53] & 0x04 != 0" "IPv6 RSTs from the target"
      tools="nmap $(version nmap)"
      inc=$(scan syn "$ATK6" "$TGT6")
      ;;
    nmap_sO)
      what="nmap -Pn -n -T4 -sO -p 0-255 --max-retries 0 $TGT from the attacker (IP protocol scan)"
      bounded 300 ip netns exec "$NS_ATK" nmap -Pn -n -T4 -sO -p 0-255 --max-retries 0 "$TGT" \
        -oN "$WORK/$name.nmap" >/dev/null
      stop_capture "$name"
      need "$f" 250 "src host $ATK and dst host $TGT and ip" "IP probes from the attacker"
      need "$f" 200 "src host $TGT and icmp[0] == 3 and icmp[1] == 2" "ICMP protocol unreachables from the target"
      tools="nmap $(version nmap)"
      inc=$(scan ip-proto "$ATK" "$TGT")
      ;;
    nmap_decoy)
      local d
      what="nmap -Pn -n -T4 -sS -p 1-300 -D ${DECOYS[0]},${DECOYS[1]},${DECOYS[2]},ME $TGT from the attacker \
(decoys spoofed; the target has permanent neighbour entries for them, so its replies go to a MAC nobody owns)"
      bounded 300 ip netns exec "$NS_ATK" nmap -Pn -n -T4 -sS -p 1-300 \
        -D "${DECOYS[0]},${DECOYS[1]},${DECOYS[2]},ME" "$TGT" -oN "$WORK/$name.nmap" >/dev/null
      stop_capture "$name"
      for d in "${DECOYS[@]}" "$ATK"; do
        need "$f" 300 "src host $d and dst host $TGT and tcp[13] & 0x3f == 0x02" "SYNs from $d"
      done
      tools="nmap $(version nmap)"
      inc=$(jq -cn --arg d "$TGT" --arg a "$ATK" --arg d1 "${DECOYS[0]}" --arg d2 "${DECOYS[1]}" --arg d3 "${DECOYS[2]}" \
        '[{kind:"decoy-scan",class:"syn",sources:[$d1,$d2,$d3,$a],destination:$d}]')
      ;;
    hping3_syn_flood_spoofed)
      what="hping3 -S -p 80 --rand-source -i u200 -c 6000 $TGT from the attacker (random spoofed sources; \
the target answers through its gateway, which drops)"
      bounded 120 ip netns exec "$NS_ATK" hping3 -q -S -p 80 --rand-source -i u200 -c 6000 "$TGT" \
        >"$WORK/$name.hping3" 2>&1 || st=$?
      [[ $st -le 1 ]] || die "hping3 exited with $st: $(tail -3 "$WORK/$name.hping3")" # 1 = no replies
      stop_capture "$name"
      need "$f" 5900 "dst host $TGT and dst port 80 and tcp[13] & 0x3f == 0x02" "SYNs to the target's port 80"
      tools="hping3 $(version hping3)"
      inc=$(jq -cn --arg d "$TGT" '[{kind:"flood",class:"syn",destination:$d}]')
      ;;
    hping3_udp_flood)
      what="hping3 --udp -p 53 -i u200 -c 6000 $TGT from the attacker"
      bounded 120 ip netns exec "$NS_ATK" hping3 -q --udp -p 53 -i u200 -c 6000 "$TGT" \
        >"$WORK/$name.hping3" 2>&1 || st=$?
      [[ $st -le 1 ]] || die "hping3 exited with $st: $(tail -3 "$WORK/$name.hping3")"
      stop_capture "$name"
      need "$f" 5900 "src host $ATK and dst host $TGT and udp dst port 53" "UDP datagrams to the target's port 53"
      tools="hping3 $(version hping3)"
      inc=$(jq -cn --arg s "$ATK" --arg d "$TGT" '[{kind:"flood",class:"udp",source:$s,destination:$d}]')
      ;;
    nmap_sn_arp)
      what="nmap -sn -n $SUBNET from the attacker (privileged host discovery on the link: ARP who-has for every address)"
      bounded 120 ip netns exec "$NS_ATK" nmap -sn -n "$SUBNET" -oN "$WORK/$name.nmap" >/dev/null
      stop_capture "$name"
      need "$f" 250 "arp and arp[6:2] == 1 and arp[14:4] == 0x0a42000a" "ARP requests from the attacker"
      tools="nmap $(version nmap)"
      inc=$(jq -cn --arg s "$ATK" '[{kind:"sweep",class:"arp",source:$s}]')
      ;;
    nmap_sn_nd)
      what="nmap -6 -sn -n fd00:66::/120 from the attacker (host discovery on the link: neighbour solicitations)"
      bounded 120 ip netns exec "$NS_ATK" nmap -6 -sn -n fd00:66::/120 -oN "$WORK/$name.nmap" >/dev/null
      stop_capture "$name"
      need "$f" 250 "src host $ATK6 and icmp6 and ip6[40] == 135" "neighbour solicitations from the attacker"
      tools="nmap $(version nmap)"
      inc=$(jq -cn --arg s "$ATK6" '[{kind:"sweep",class:"nd",source:$s}]')
      ;;
    nmap_sn_ip)
      what="nmap -sn -n --send-ip -PE -PS22,443 -PA80 -PU53 10.66.0.100-163 from the attacker (host discovery by IP \
pings; the attacker has permanent neighbour entries with unused MACs for those 64 absent hosts, so the pings go on \
the wire), recorded on the switch's bridge (a mirror port)"
      for i in $(seq 100 163); do
        ip -n "$NS_ATK" neigh replace "10.66.0.$i" lladdr "02:66:00:00:01:$(printf %02x "$i")" dev eth0 nud permanent
      done
      bounded 120 ip netns exec "$NS_ATK" nmap -sn -n --send-ip -PE -PS22,443 -PA80 -PU53 10.66.0.100-163 \
        -oN "$WORK/$name.nmap" >/dev/null
      stop_capture "$name"
      need "$f" 60 "src host $ATK and icmp[0] == 8" "echo requests from the attacker"
      need "$f" 60 "src host $ATK and tcp dst port 443 and tcp[13] & 0x3f == 0x02" "SYNs to 443 from the attacker"
      need "$f" 60 "src host $ATK and tcp dst port 80 and tcp[13] & 0x3f == 0x10" "ACKs to 80 from the attacker"
      tools="nmap $(version nmap)"
      inc=$(jq -cn --arg s "$ATK" '[{kind:"sweep",class:"icmp",source:$s},{kind:"sweep",class:"syn",source:$s},
        {kind:"sweep",class:"syn",source:$s},{kind:"sweep",class:"ack",source:$s},{kind:"sweep",class:"udp",source:$s}]')
      ;;
    link_benign)
      what="arping -c 5 of the target from the client, arping -U -c 3 (gratuitous ARP) and arping -0 -c 3 of a free \
address (RFC 5227 probe from 0.0.0.0, as a DHCP client checks its lease) from the attacker, hping3 --icmp -c 5 of \
the target from the client; the target, which first learns 40 addresses of the client, then sends a UDP datagram to \
each of them every second for 12 s with a 1 s reachable time, so its ARP cache refreshes by unicast the whole time"
      bounded 60 bash -c "set -euo pipefail; $(declare -f in_ns link_benign_traffic); NS_CLI=$NS_CLI NS_ATK=$NS_ATK NS_TGT=$NS_TGT TGT=$TGT ATK=$ATK link_benign_traffic"
      stop_capture "$name"
      need "$f" 5 "arp and arp[6:2] == 1 and arp[14:4] == 0x0a420014" "ARP requests from the client"
      need "$f" 40 "arp and src host $TGT and not ether broadcast" "unicast ARP refreshes from the target"
      tools="arping $(version arping), hping3 $(version hping3)"
      inc='[]'
      ;;
    benign_lab)
      what="from the benign client: 200 curl -s http://$TGT/ (and a few other paths; 100 sequential, 100 in \
bursts of 10 in parallel), 200 dig @$TGT lookups of varied names under lab.test and corp.test (A, AAAA, MX), \
5 curl http://$TGT:443/ to a listener that completes the handshake and closes"
      bounded 300 bash -c "set -euo pipefail; $(declare -f in_ns benign_traffic); NS_CLI=$NS_CLI TGT=$TGT benign_traffic"
      stop_capture "$name"
      need "$f" 200 "src host $CLI and dst port 80 and tcp[13] & 0x3f == 0x02" "HTTP connections from the client"
      need "$f" 200 "src host $CLI and udp dst port 53" "DNS queries from the client"
      need "$f" 200 "src host $TGT and udp src port 53" "DNS answers from the target"
      need "$f" 5 "src host $TGT and tcp src port 443 and tcp[13] & 0x12 == 0x12" "SYN-ACKs from port 443"
      tools="curl $(version curl), dig $(version dig), dnsmasq $(version dnsmasq)"
      inc='[]'
      ;;
    flood_with_nmap_scanner)
      local flood_pid
      what="hping3 -S -p 80 --rand-source -i u200 -c 10000 $TGT (random spoofed sources) and, while it runs, \
nmap -Pn -n -T4 -sS -p 1-1000 $TGT from the attacker's own address"
      ip netns exec "$NS_ATK" timeout -k 5 120 hping3 -q -S -p 80 --rand-source -i u200 -c 10000 "$TGT" \
        >"$WORK/$name.hping3" 2>&1 &
      flood_pid=$!
      PIDS+=("$flood_pid")
      sleep 0.5
      bounded 300 ip netns exec "$NS_ATK" nmap -Pn -n -T4 -sS -p 1-1000 "$TGT" -oN "$WORK/$name.nmap" >/dev/null
      wait "$flood_pid" || st=$?
      [[ $st -le 1 ]] || die "hping3 exited with $st: $(tail -3 "$WORK/$name.hping3")"
      stop_capture "$name"
      need "$f" 9900 "dst host $TGT and dst port 80 and tcp[13] & 0x3f == 0x02" "SYNs to the target's port 80"
      need "$f" 1000 "src host $ATK and tcp[13] & 0x3f == 0x02" "SYN probes from the scanner"
      tools="hping3 $(version hping3), nmap $(version nmap)"
      inc=$(jq -cn --arg s "$ATK" --arg d "$TGT" '[{kind:"flood",class:"syn",destination:$d},
        {kind:"scan",class:"syn",source:$s,destination:$d,tool:"nmap"}]')
      ;;
    masscan_sS)
      what="masscan $TGT -p 1-1000 --rate 2000 from the attacker (--router-mac: the target's MAC)"
      bounded 120 ip netns exec "$NS_ATK" masscan "$TGT" -p 1-1000 --rate 2000 --wait 2 -e eth0 \
        --router-mac "$(mac_of "$NS_TGT")" --adapter-ip "$ATK" >"$WORK/$name.masscan" 2>&1
      stop_capture "$name"
      need "$f" 1000 "src host $ATK and tcp[13] & 0x3f == 0x02" "SYN probes from masscan"
      tools="masscan $({ masscan --version 2>&1 || true; } | awk '/version/{print $3; exit}')"
      inc=$(jq -cn --arg s "$ATK" --arg d "$TGT" '[{kind:"scan",class:"syn",source:$s,destination:$d,tool:"masscan"}]')
      ;;
    zmap_sweep)
      what="zmap -p 80 10.66.0.0/24 -B 1M from the attacker with the target's MAC as gateway, so the target's \
interface sees every probe (the target answers its own; the other addresses stay silent)"
      bounded 120 ip netns exec "$NS_ATK" zmap -q -p 80 10.66.0.0/24 -B 1M -i eth0 -S "$ATK" \
        -G "$(mac_of "$NS_TGT")" -b /dev/null -c 2 -o /dev/null >"$WORK/$name.zmap" 2>&1
      stop_capture "$name"
      need "$f" 250 "src host $ATK and tcp[13] & 0x3f == 0x02 and dst port 80" "SYNs to port 80 of the /24"
      tools="zmap $(zmap --version | awk '{print $2}')"
      inc=$(jq -cn --arg s "$ATK" '[{kind:"sweep",class:"syn",source:$s,tool:"zmap"}]')
      ;;
    hping3_scan)
      what="hping3 -S --scan 1-300 $TGT from the attacker"
      bounded 120 ip netns exec "$NS_ATK" hping3 -S --scan 1-300 "$TGT" >"$WORK/$name.hping3" 2>&1 || st=$?
      stop_capture "$name"
      need "$f" 300 "src host $ATK and tcp[13] & 0x3f == 0x02" "SYN probes from hping3"
      tools="hping3 $(version hping3)"
      inc=$(jq -cn --arg s "$ATK" --arg d "$TGT" '[{kind:"scan",class:"syn",source:$s,destination:$d,tool:"hping3"}]')
      ;;
    reflection_synack | reflection_dns | reflection_icmp)
      setup_reflectors
      local args
      case $name in
        reflection_synack) args=(-S -p 80) ;;
        reflection_dns) dns_query_file; args=(--udp -p 53 -E "$WORK/query.bin" -d 30) ;;
        reflection_icmp) args=(--udp -p 33434) ;;
      esac
      what="hping3 ${args[*]} -a $TGT --rand-dest $REFLECTORS.x -i u400 -c 3000 from the attacker: requests \
spoofed from the target to 254 servers (the client namespace answers for $REFLECTORS.0/24; dnsmasq there for DNS), \
whose answers go to the target, which never asked"
      if [[ $name == reflection_dns ]]; then
        ip netns exec "$NS_CLI" dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --no-poll \
          --pid-file="$WORK/dnsmasq-r.pid" --user=nobody --address=/lab.test/"$TGT" >"$WORK/dnsmasq-r.out" 2>&1 &
        PIDS+=($!)
        wait_listen "$NS_CLI" u 53
      fi
      if [[ $name == reflection_synack ]]; then
        ip netns exec "$NS_CLI" "$PY" "$WORK/listen.py" 80 >"$WORK/listen-r.log" 2>&1 &
        PIDS+=($!)
        wait_listen "$NS_CLI" t 80
      fi
      bounded 120 ip netns exec "$NS_ATK" hping3 -q "${args[@]}" -a "$TGT" --rand-dest "$REFLECTORS.x" -I eth0 \
        -i u400 -c 3000 >"$WORK/$name.hping3" 2>&1 || st=$?
      [[ $st -le 1 ]] || die "hping3 exited with $st: $(tail -3 "$WORK/$name.hping3")"
      stop_capture "$name"
      case $name in
        reflection_synack) need "$f" 2500 "dst host $TGT and tcp[13] & 0x12 == 0x12" "SYN-ACKs to the target" ;;
        reflection_dns) need "$f" 2500 "dst host $TGT and udp src port 53" "DNS answers to the target" ;;
        reflection_icmp) need "$f" 2500 "dst host $TGT and icmp[0] == 3" "ICMP unreachables to the target" ;;
      esac
      tools="hping3 $(version hping3)"
      inc=$(jq -cn --arg d "$TGT" '[{kind:"flood",class:"reflection",destination:$d}]')
      ;;
    idle_scan)
      start_zombie
      what="nmap -Pn -n -sI $CLI:80 -p 1-100 $TGT from the attacker; the client $CLI is the zombie (a raw-socket \
stand-in answering every TCP packet with a RST from one incrementing IP ID counter; its kernel's RSTs dropped)"
      bounded 300 ip netns exec "$NS_ATK" nmap -Pn -n -sI "$CLI:80" -p 1-100 "$TGT" -oN "$WORK/$name.nmap" >/dev/null
      stop_capture "$name"
      need "$f" 100 "src host $CLI and dst host $TGT and tcp[13] & 0x3f == 0x02" "SYNs spoofed from the zombie"
      need "$f" 2 "src host $CLI and dst host $TGT and tcp[13] & 0x04 != 0" "zombie RSTs to the target's SYN-ACKs"
      tools="nmap $(version nmap)"
      inc=$(jq -cn --arg z "$CLI" --arg d "$TGT" '[{kind:"scan",class:"syn",destination:$d,zombie:$z,tool:"nmap"}]')
      ;;
  esac
  write_expected "$name" "$tools" "$what" "$inc"
  mkdir -p "$OUT"
  mv -f "$f" "$OUT/$name.pcap"
  mv -f "$WORK/$name.expected.json" "$OUT/$name.expected.json"
  chmod 644 "$OUT/$name.pcap" "$OUT/$name.expected.json"
}

# ---------------------------------------------------------------- main
echo "lab: namespaces ${ALL_NS[*]} (rebuilt for every scenario); output $OUT"
for s in "${SCENARIOS[@]}"; do
  # A fresh lab per scenario: no half-open connections, SYN-ACK retransmissions or neighbour
  # entries carry over, so each capture is independent of the others and of their order.
  setup_lab
  start_services
  sleep 2.5 # let link-up chatter (IPv6 MLD reports) pass before the capture starts
  run_scenario "$s"
  if [[ ${PWREC_ABORT_AFTER:-} == "$s" ]]; then # test of the cleanup: fail with the lab still up
    echo "record-lab-captures: PWREC_ABORT_AFTER=$s, failing on purpose" >&2
    false
  fi
  teardown_lab
done
echo
printf '%-28s %8s %10s  %s\n' capture packets bytes 'expected incidents'
for s in "${SCENARIOS[@]}"; do
  printf '%-28s %8s %10s  %s\n' "$s.pcap" "$(count "$OUT/$s.pcap" '')" "$(stat -c %s "$OUT/$s.pcap")" \
    "$(jq -r '[.incidents[] | "\(.kind) \(.class) \(.source // (.sources // [] | join(",")))->\(.destination // "")"]
      | if length == 0 then "none" else join("; ") end' "$OUT/$s.expected.json")"
done
