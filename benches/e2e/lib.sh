# shellcheck shell=bash
# Shared by benches/e2e/run.sh (sourced, not run): the lab (namespaces,
# veths, the Linux bridge, vswitchd per driver), its cleanup, and the
# statistics both modes print. Callers set RUNS, SECS and PATHS first and
# run under `set -euo pipefail` from the repository root.

# Every namespace, link and file this harness makes carries this prefix, so
# cleanup removes only its own and two harnesses with different prefixes
# can share a box (one at a time is still what gives honest figures).
P=${VSBENCH_PREFIX:-vsbench}

SND_MAC=02:00:00:00:be:01
RCV_MAC=02:00:00:00:be:02
SND_IP=198.18.0.1
RCV_IP=198.18.0.2
# shellcheck disable=SC2034  # used by run.sh
HZ=$(getconf CLK_TCK)

DIR=
DPID=    # the running vswitchd
SKIPPED=" "   # vswitchd paths refused once, skipped for the rest of the run

# Namespaces: snd/rcv hang off the switch-side veths ${P}s/${P}r (the bridge
# and every vswitchd driver take turns on them); bsnd/brcv are a bare pair.
NAMESPACES=(snd rcv bsnd brcv)

cleanup() {
    local -   # errexit off in here only: remove whatever exists, keep going
    set +e
    # OVS or testpmd (benches/e2e/peers.sh), where one is up.
    declare -F peers_cleanup >/dev/null && peers_cleanup
    if [ -n "$DPID" ]; then kill -TERM "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null; DPID=; fi
    # A namespace outlives `ip netns del` while a process still runs in it:
    # end the ones we started there (iperf3, trafgen) by id first.
    local ns pid
    for ns in "${NAMESPACES[@]}"; do
        for pid in $(ip netns pids "$P$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null; done
    done
    for ns in "${NAMESPACES[@]}"; do ip netns del "$P$ns" 2>/dev/null; done
    for l in "${P}s" "${P}r" "${P}br"; do ip link del "$l" 2>/dev/null; done
    [ -n "$DIR" ] && rm -rf "$DIR"
    DIR=
}

# Root check, missing tools, traps, a fresh lab and release binaries.
lab_init() {
    [ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
    local missing=() t
    for t in "$@"; do command -v "$t" >/dev/null || missing+=("$t"); done
    if [ ${#missing[@]} -gt 0 ]; then
        # scripts/lib.sh installs whatever of PACKAGES dpkg lacks.
        # shellcheck disable=SC2034  # read by install_packages
        PACKAGES=(iproute2 ethtool iperf3 jq netsniff-ng)
        install_packages
    fi
    trap cleanup EXIT
    trap 'echo "interrupted" >&2; exit 130' INT TERM
    cleanup 2>/dev/null
    DIR=$(mktemp -d "/tmp/$P.XXXXXX")
    cargo build --release -q -p vswitch-control --bins
    make_hosts
}

make_hosts() {
    local ns
    for ns in "${NAMESPACES[@]}"; do ip netns add "$P$ns"; done
    ip link add "${P}s" type veth peer name eth0 netns "${P}snd"
    ip link add "${P}r" type veth peer name eth0 netns "${P}rcv"
    ip link add eth0 netns "${P}bsnd" type veth peer name eth0 netns "${P}brcv"
    for ns in snd bsnd; do
        ip -n "$P$ns" link set eth0 address $SND_MAC
        ip -n "$P$ns" addr add $SND_IP/24 dev eth0
    done
    for ns in rcv brcv; do
        ip -n "$P$ns" link set eth0 address $RCV_MAC
        ip -n "$P$ns" addr add $RCV_IP/24 dev eth0
    done
    for ns in "${NAMESPACES[@]}"; do
        ip -n "$P$ns" link set eth0 mtu "${MTU:-1500}" up
        ip -n "$P$ns" link set lo up
    done
    ip link set "${P}s" mtu "${MTU:-1500}" up
    ip link set "${P}r" mtu "${MTU:-1500}" up
}

# Host namespaces of a path: "SND RCV".
hosts_of() { if [ "$1" = bare ]; then echo "${P}bsnd ${P}brcv"; else echo "${P}snd ${P}rcv"; fi; }

# What a path is called in tables: bare, bridge, a peer of
# benches/e2e/peers.sh by its name, vswitchd:DRIVER.
label() { case $1 in bare|bridge|ovs-*|testpmd) echo "$1" ;; *) echo "vswitchd:$1" ;; esac; }

is_skipped() { [[ $SKIPPED == *" $1 "* ]]; }

# The receiver's MAC is a static FDB entry on both switches: every frame is
# known unicast from the first one (64-byte UDP never gets a reply to learn).
# (`replace`: the bridge may have learned it already from the host's own
# IPv6 neighbour traffic, and `add` then fails.) A chain of &&, because
# callers test the result, which turns errexit off in here.
start_bridge() {
    ip link add "${P}br" type bridge &&
        ip link set "${P}s" master "${P}br" &&
        ip link set "${P}r" master "${P}br" &&
        ip link set "${P}br" up &&
        bridge fdb replace $RCV_MAC dev "${P}r" master static
}
stop_bridge() { ip link del "${P}br"; }

write_config() {   # DRIVER|"" -> $DIR/vswitchd.toml
    local drv_line=
    [ -n "$1" ] && drv_line="driver = \"$1\""
    local poll_line=
    [ -n "${POLLING:-}" ] && poll_line="polling = \"$POLLING\""
    # A jumbo MTU is also the ports' configured `mtu` (what an admin
    # writes); at 1500 the key stays out, so older binaries still run.
    [ "${MTU:-1500}" = 1500 ] || drv_line+=$'\n'"mtu = $MTU"
    cat > "$DIR/vswitchd.toml" <<EOF
[switch]
control_socket = "$DIR/vswitchd.sock"
workers = [1]
$poll_line
[[fdb.static]]
mac = "$RCV_MAC"
vlan = 1
port = "rcv"
[[port]]
name = "snd"
iface = "${P}s"
vlan = 1
$drv_line
[[port]]
name = "rcv"
iface = "${P}r"
vlan = 1
$drv_line
EOF
}

ctl() { target/release/vswitchctl --socket "$DIR/vswitchd.sock" "$@"; }

# start_vswitch DRIVER: 0 with DPID set once the control socket answers;
# 1 (path marked skipped, reason printed) when vswitchd refuses the config
# or dies. vswitchd refuses unknown keys (README.md), so a binary without a
# `driver` key refuses every driver; one without the afxdp choice spelled
# out still runs AF_XDP, so afxdp falls back to the config without the key.
start_vswitch() {
    local drv=$1 out
    write_config "$drv"
    if ! out=$(target/release/vswitchd --config "$DIR/vswitchd.toml" --check 2>&1); then
        if [ "$drv" = afxdp ] && [[ $out == *"unknown field \`driver\`"* ]]; then
            [ -n "${NOTED:-}" ] || echo "  note: this vswitchd has no \`driver\` key; afxdp runs without it (AF_XDP is its only driver)"
            NOTED=1
            write_config ""
        else
            echo "  SKIP $(label "$drv"): vswitchd refuses the config: $out" >&2
            SKIPPED+="$drv "
            return 1
        fi
    fi
    target/release/vswitchd --config "$DIR/vswitchd.toml" 2> "$DIR/vswitchd.log" &
    DPID=$!
    for _ in $(seq 100); do
        ctl status >/dev/null 2>&1 && return 0
        kill -0 "$DPID" 2>/dev/null || break
        sleep 0.1
    done
    echo "  SKIP $(label "$drv"): vswitchd did not come up; its log ends:" >&2
    tail -5 "$DIR/vswitchd.log" | sed 's/\x1b\[[0-9;]*m//g; s/^/    /' >&2
    kill -TERM "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null || true
    DPID=
    SKIPPED+="$drv "
    return 1
}

# What each port really got, as status reports it: the driver and offloads
# where this vswitchd names them, the XDP attach and bind modes.
vswitch_ports() {
    ctl --json status 2>/dev/null | jq -r '[.ports[]? | "\(.name):"
        + (if .driver then " \(.driver)" else "" end)
        + (if .xdp then " xdp \(.xdp)/\(.mode // "?")" else "" end)
        + (if .offloads then " offloads \(.offloads | tostring)" else "" end)] | join(", ")' 2>/dev/null || true
}

stop_vswitch() {
    kill -TERM "$DPID"
    wait "$DPID" || true
    DPID=
}

# Brings a path up: 0 when it is ready, 1 when it is skipped.
path_up() {
    case $1 in
        bare) ;;
        bridge) start_bridge || { echo "  SKIP bridge: could not set it up" >&2; stop_bridge 2>/dev/null; return 1; } ;;
        ovs-*|testpmd)
           is_skipped "$1" && return 1
           start_peer "$1" 2> "$DIR/peer.err" && return 0
           echo "  SKIP $1: $(tr '\n' ' ' < "$DIR/peer.err")" >&2
           # PEER_FAILS: where benches/e2e/compare.sh collects the reasons.
           tsv "$MODE" "$1" "$(tr '\n\t' '  ' < "$DIR/peer.err")" >> "${PEER_FAILS:-/dev/null}"
           SKIPPED+="$1 "
           return 1 ;;
        *) is_skipped "$1" && return 1
           start_vswitch "$1" || return 1
           echo "  $(label "$1") ports: $(vswitch_ports)" ;;
    esac
}
path_down() {
    case $1 in
        bare) ;;
        bridge) stop_bridge ;;
        ovs-*|testpmd) stop_peer ;;
        *) stop_vswitch ;;
    esac
}

# Nanoseconds a process's threads have run (/proc/PID/task/*/schedstat,
# the scheduler's clock: ticks charge a thread that wakes on a timer for
# ticks it barely ran in, which overstates a napping worker). "%.0f", not
# "%d": mawk's %d stops at 2^31 (2.1 s).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }'; }

# user + system ticks of a process, all its threads (/proc/PID/stat 14, 15).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# "busy softirq total" jiffies of CPUs 0 and 1 (/proc/stat: user nice
# system idle iowait irq softirq steal ...; busy = total - idle - iowait).
cpu_snapshot() {
    awk '$1 == "cpu0" || $1 == "cpu1" { t = 0; for (i = 2; i <= NF; i++) t += $i; printf "%d %d %d ", t - $5 - $6, $8, t }' /proc/stat
}
# cpu_share BEFORE AFTER -> "CPU0_BUSY% CPU0_SOFTIRQ% CPU1_BUSY% CPU1_SOFTIRQ%"
cpu_share() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        for (c = 0; c < 2; c++) {
            t = y[3 * c + 3] - x[3 * c + 3]; if (t <= 0) t = 1
            printf "%.0f %.0f%s", 100 * (y[3 * c + 1] - x[3 * c + 1]) / t, 100 * (y[3 * c + 2] - x[3 * c + 2]) / t, c ? "" : " "
        }
    }'
}

# Median and min-max of numbers on stdin, one per line: "MED MIN MAX"
# (nothing when there are none).
medrange() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%s %s %s\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1], v[NR] }'
}
# fmt_mr FORMAT "MED MIN MAX" -> "MED (MIN-MAX)", or "-" when empty
fmt_mr() {
    [ -n "$2" ] || { echo "-"; return; }
    local med min max
    read -r med min max <<< "$2"
    # shellcheck disable=SC2059  # the caller's number format, three times
    printf "$1 ($1-$1)" "$med" "$min" "$max"
}

# Where the machine-readable results go (target/ is git-ignored).
results_file() {
    local f=${RESULTS:-target/e2e-bench/$1-$(date +%Y%m%d-%H%M%S).tsv}
    mkdir -p "$(dirname "$f")"
    echo "$f"
}

# One TSV row of the arguments, "-" for an empty one.
tsv() {
    local out='' f
    for f in "$@"; do out+="${f:--}"$'\t'; done
    printf '%s\n' "${out%$'\t'}"
}
