#!/usr/bin/env bash
# End-to-end benchmark, run by hand as root (never in CI):
#
#   benches/e2e/run.sh [RUNS] [SECONDS]        (defaults: 5 runs of 5 s)
#
# Offers 64-byte frames (60 bytes + FCS) with trafgen pinned to CPU 0 from
# namespace "gen" towards a sink namespace, through, in the same run:
#   bare    - a plain veth pair gen <-> sink (what the generator can offer)
#   bridge  - a Linux bridge joining two veth pairs
#   vswitch - vswitchd (one worker on CPU 1) joining the same two pairs
# and reports, per path, offered and delivered Mpps (median and min-max of
# the runs), the delivery ratio, and vswitchd's CPU time per delivered
# packet (user + system of the daemon, softirq work it does in sendto()
# included: on a kernel without IRQ time accounting the veth transmit and
# the receiver's stack run inside its sendto(); a busy poller's figure
# is ~1e9/rate) and
# the worker's own busy time per packet. The sink MAC is a static FDB entry on
# both switches, so every frame is known unicast.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh

RUNS=${1:-5}
SECS=${2:-5}
P=vsbench
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
command -v trafgen >/dev/null || { PACKAGES+=(netsniff-ng); install_packages; }

DIR=$(mktemp -d /tmp/vswitch-bench.XXXXXX)
DPID=
cleanup() {
    [ -n "$DPID" ] && kill -TERM "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
    for ns in gen sink bgen bsink; do ip netns del $P$ns 2>/dev/null || true; done
    for l in ${P}g ${P}s ${P}br; do ip link del $l 2>/dev/null || true; done
    rm -rf "$DIR"
}
trap cleanup EXIT
cleanup 2>/dev/null || true
DIR=$(mktemp -d /tmp/vswitch-bench.XXXXXX)

cargo build --release -q -p vswitch-control --bins

GEN_MAC=02:00:00:00:be:01
SINK_MAC=02:00:00:00:be:02
# Two hosts wired to switch-side veths ${P}g / ${P}s, and a bare pair.
ip netns add ${P}gen; ip netns add ${P}sink; ip netns add ${P}bgen; ip netns add ${P}bsink
ip link add ${P}g type veth peer name eth0 netns ${P}gen
ip link add ${P}s type veth peer name eth0 netns ${P}sink
ip link add eth0 netns ${P}bgen type veth peer name eth0 netns ${P}bsink
for ns in gen bgen; do ip -n $P$ns link set eth0 address $GEN_MAC; done
for ns in sink bsink; do ip -n $P$ns link set eth0 address $SINK_MAC; done
for ns in gen sink bgen bsink; do ip -n $P$ns link set eth0 up; ip -n $P$ns link set lo up; done
ip link set ${P}g up; ip link set ${P}s up

# 60-byte UDP/IPv4 to an address nobody owns (no ICMP replies come back).
cat > "$DIR/frame.cfg" <<EOF
{
  0x02,0x00,0x00,0x00,0xbe,0x02,  0x02,0x00,0x00,0x00,0xbe,0x01,  0x08,0x00,
  0x45,0x00,0x00,0x2e, 0x00,0x00,0x40,0x00, 0x40,0x11, csumip(14, 33),
  198,18,1,1,  198,18,1,99,
  0x04,0xd2, 0x16,0x2e, 0x00,0x1a, 0x00,0x00,
  fill(0x41, 18),
}
EOF

counter() { ip netns exec "$1" cat "/sys/class/net/eth0/statistics/$2"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

# run NAME GEN_NS SINK_NS [DAEMON_PID] -> appends "offered delivered cpu_ns_per_pkt" to $DIR/NAME
run() {
    local name=$1 gen=$2 sink=$3 pid=${4:-}
    local tx0 rx0 c0 tx1 rx1 c1
    tx0=$(counter "$gen" tx_packets); rx0=$(counter "$sink" rx_packets)
    [ -n "$pid" ] && c0=$(cpu_ticks "$pid")
    timeout -s INT "$SECS" ip netns exec "$gen" taskset -c 0 trafgen --dev eth0 --conf "$DIR/frame.cfg" --cpus 1 --no-sock-mem >/dev/null 2>&1 || true
    sleep 0.3   # let the last frames drain
    tx1=$(counter "$gen" tx_packets); rx1=$(counter "$sink" rx_packets)
    local cpu=0
    if [ -n "$pid" ]; then
        c1=$(cpu_ticks "$pid")
        cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v n="$((rx1 - rx0))" 'BEGIN { printf "%.0f", (b - a) / hz * 1e9 / (n > 0 ? n : 1) }')
    fi
    awk -v t=$((tx1 - tx0)) -v r=$((rx1 - rx0)) -v s="$SECS" -v c="$cpu" \
        'BEGIN { printf "%.4f %.4f %s\n", t / s / 1e6, r / s / 1e6, c }' >> "$DIR/$name"
}

start_bridge() {
    ip link add ${P}br type bridge
    ip link set ${P}g master ${P}br; ip link set ${P}s master ${P}br
    ip link set ${P}br up
    bridge fdb add $SINK_MAC dev ${P}s master static
}
stop_bridge() { ip link del ${P}br; }

start_vswitch() {
    cat > "$DIR/vswitchd.toml" <<EOF
[switch]
control_socket = "$DIR/vswitchd.sock"
workers = [1]
[[fdb.static]]
mac = "$SINK_MAC"
vlan = 1
port = "sink"
[[port]]
name = "gen"
iface = "${P}g"
vlan = 1
[[port]]
name = "sink"
iface = "${P}s"
vlan = 1
EOF
    target/release/vswitchd --config "$DIR/vswitchd.toml" 2> "$DIR/vswitchd.log" &
    DPID=$!
    for _ in $(seq 100); do target/release/vswitchctl --socket "$DIR/vswitchd.sock" status >/dev/null 2>&1 && break; sleep 0.1; done
}
stop_vswitch() {
    # The worker's own view: time in loop iterations that did work, per
    # received frame (spinning on empty rings not included).
    target/release/vswitchctl --socket "$DIR/vswitchd.sock" --json stats show \
        | awk -F': ' '/"ns_per_packet"/ { gsub(/[, ]/, "", $2); printf "%.0f\n", $2 }' >> "$DIR/busy"
    kill -TERM "$DPID"; wait "$DPID" || true; DPID=
}

echo "$RUNS runs of ${SECS}s each, 60-byte frames (64 on the wire), trafgen on CPU 0, switch on CPU 1"
for i in $(seq "$RUNS"); do
    run bare ${P}bgen ${P}bsink
    start_bridge;  run bridge ${P}gen ${P}sink;            stop_bridge
    start_vswitch; run vswitch ${P}gen ${P}sink "$DPID";   stop_vswitch
    echo "run $i: bare $(tail -1 "$DIR/bare")  bridge $(tail -1 "$DIR/bridge")  vswitch $(tail -1 "$DIR/vswitch")"
done

# median and min-max of column $2 of file $1
stat() { sort -n -k"$2" "$1" | awk -v k="$2" '{ v[NR] = $k } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f (%.3f-%.3f)", m, v[1], v[NR] }'; }
med() { sort -n -k"$2" "$1" | awk -v k="$2" '{ v[NR] = $k } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m }'; }

echo
printf "%-8s %-26s %-26s %s\n" PATH "OFFERED Mpps med (min-max)" "DELIVERED Mpps med (min-max)" "DELIVERED/OFFERED"
for p in bare bridge vswitch; do
    ratio=$(awk '{ print ($1 > 0) ? $2 / $1 : 0 }' "$DIR/$p" | sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f%%", 100 * m }')
    printf "%-8s %-26s %-26s %s\n" "$p" "$(stat "$DIR/$p" 1)" "$(stat "$DIR/$p" 2)" "$ratio"
done
echo
echo "vswitchd CPU per delivered packet (process user+sys): $(stat "$DIR/vswitch" 3) ns"
echo "vswitchd worker busy time per packet (stats.show):    $(stat "$DIR/busy" 1) ns"
awk -v v="$(med "$DIR/vswitch" 2)" -v b="$(med "$DIR/bridge" 2)" -v o="$(med "$DIR/bare" 2)" \
    'BEGIN { printf "vswitch/bridge delivered: %.2fx   bridge/bare: %.0f%%   vswitch/bare: %.0f%%\n", v / b, 100 * b / o, 100 * v / o }'
