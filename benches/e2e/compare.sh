#!/usr/bin/env bash
# One section of the side-by-side benchmark that scripts/bench runs (as
# root; never in CI). Each section writes raw rows (TSV) into $RAW, which
# benches/report turns into benches/results/:
#
#   benches/e2e/compare.sh udp      flat-out UDP at every frame size of SIZES
#   benches/e2e/compare.sh rate     idle CPU, then paced UDP at RATE_PCTS % of
#                                   the generator's maximum: CPU per packet,
#                                   latency percentiles, loss, reordering
#   benches/e2e/compare.sh tcp      iperf3 through every peer (run.sh tcp)
#   benches/e2e/compare.sh promisc  8 ports, one stream: flooding vs learning
#
# Environment (scripts/bench sets it): RAW (the output directory), RUNS,
# UDP_SECS, RATE_SECS, TCP_SECS, IDLE_SECS, PROMISC_SECS, SIZES, RATE_PCTS,
# MTUS, PEERS (vswitchd paths by driver name, `bridge`, and the peers of
# benches/e2e/peers.sh), PROMISC_RATE, VSBENCH_PREFIX.
#
# The topology is lib.sh's: hosts snd and rcv (198.18.0.1/.2) on CPU 0, the
# switch-side veths ${P}s and ${P}r taken in turn by each peer, the switch
# on CPU 1; `bare` is the veth pair without a switch (the generator's
# reference). A peer that cannot start is a row with its reason
# ($RAW/fails.tsv), never left out.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
. benches/e2e/lib.sh
. benches/e2e/peers.sh

MODE=${1:?usage: $0 udp|rate|tcp|promisc}
: "${RAW:?RAW must name the raw results directory}"
RUNS=${RUNS:-3}
SIZES=${SIZES:-64 128 256 512 1024 1518}
RATE_PCTS=${RATE_PCTS:-10 50}
MTUS=${MTUS:-1500 9000}
PEERS=${PEERS:-bridge afxdp packet ovs-afxdp ovs-tso ovs-maxsleep testpmd}
export PEER_FAILS=$RAW/fails.tsv
mkdir -p "$RAW"

# Frames of SIZE bytes on the wire (FCS included): UDP/IPv4 to an address
# nobody owns, so no ICMP comes back.
frame_cfg() {
    local size=$1 ip=$(($1 - 4 - 14)) udp=$(($1 - 4 - 34))
    cat > "$DIR/frame-$size.cfg" <<EOF
{
  0x02,0x00,0x00,0x00,0xbe,0x02,  0x02,0x00,0x00,0x00,0xbe,0x01,  0x08,0x00,
  0x45,0x00,c16($ip), 0x00,0x00,0x40,0x00, 0x40,0x11, csumip(14, 33),
  198,18,1,1,  198,18,1,99,
  0x04,0xd2, 0x16,0x2e, c16($udp), 0x00,0x00,
  fill(0x41, $((udp - 8))),
}
EOF
}

counter() { ip netns exec "$1" cat "/sys/class/net/eth0/statistics/$2"; }

# -------------------------------------------------------------- udp ---

udp_point() {   # PEER SIZE RUN -> a row of udp.tsv
    local p=$1 size=$2 run=$3 snd rcv tx0 rx0 tx1 rx1 c0=0 c1=0 cpu=-
    read -r snd rcv <<< "$(hosts_of "$p")"
    tx0=$(counter "$snd" tx_packets); rx0=$(counter "$rcv" rx_packets)
    [ -n "$DPID" ] && c0=$(cpu_ns "$DPID")
    timeout -s INT "$UDP_SECS" ip netns exec "$snd" taskset -c 0 trafgen --dev eth0 --conf "$DIR/frame-$size.cfg" \
        --cpus 1 --no-sock-mem >/dev/null 2>&1 || true
    sleep 0.3
    tx1=$(counter "$snd" tx_packets); rx1=$(counter "$rcv" rx_packets)
    if [ -n "$DPID" ]; then
        c1=$(cpu_ns "$DPID")
        cpu=$(awk -v a="$c0" -v b="$c1" -v n="$((rx1 - rx0))" 'BEGIN { printf "%.0f", (b - a) / (n > 0 ? n : 1) }')
    fi
    tsv "$p" "$size" "$run" ok $(((tx1 - tx0) / UDP_SECS)) $(((rx1 - rx0) / UDP_SECS)) "$cpu" - >> "$RAW/udp.tsv"
    printf '  %-16s %5s B  offered %8d/s  delivered %8d/s  %s ns/pkt\n' "$(label "$p")" "$size" \
        $(((tx1 - tx0) / UDP_SECS)) $(((rx1 - rx0) / UDP_SECS)) "$cpu"
}

udp_main() {
    UDP_SECS=${UDP_SECS:-3}
    lab_init trafgen ethtool jq
    local s p i
    for s in $SIZES; do frame_cfg "$s"; done
    [ -f "$RAW/udp.tsv" ] || printf 'peer\tsize\trun\tstatus\toffered_pps\tdelivered_pps\tcpu_ns_per_pkt\terror\n' > "$RAW/udp.tsv"
    echo "udp: $RUNS runs of ${UDP_SECS}s per size; sizes: $SIZES; peers: bare $PEERS"
    for i in $(seq "$RUNS"); do
        echo "run $i"
        for p in bare $PEERS; do
            if ! path_up "$p"; then
                for s in $SIZES; do tsv "$p" "$s" "$i" failed - - - "could not start (see fails)" >> "$RAW/udp.tsv"; done
                continue
            fi
            for s in $SIZES; do udp_point "$p" "$s" "$i"; done
            path_down "$p"
        done
    done
}

# ------------------------------------------------------------- rate ---

# The generator's maximum: the median offered rate of 64-byte frames on the
# bare pair in udp.tsv (this run's), else GEN_MAX_PPS.
gen_max() {
    local m=
    [ -f "$RAW/udp.tsv" ] && m=$(awk -F'\t' '$1 == "bare" && $2 == 64 && $4 == "ok" { print $5 }' "$RAW/udp.tsv" | medrange | cut -d' ' -f1)
    echo "${m:-${GEN_MAX_PPS:-500000}}" | awk '{ printf "%d", $1 }'
}

rate_point() {   # PEER PCT RATE RUN -> a row of rate.tsv
    local p=$1 pct=$2 rate=$3 run=$4 spid c0=0 c1=0 sent got cpu=- cpct=- cdf='' snd rcv
    read -r snd rcv <<< "$(hosts_of "$p")"
    [ "$pct" = "$LAT_PCT" ] && cdf=$RAW/cdf/$p-$run.txt
    env ${cdf:+"LATENCY_CDF=$cdf"} ip netns exec "$rcv" taskset -c 0 target/release/latency sink 7000 $((RATE_SECS + 5)) > "$DIR/sink.out" &
    spid=$!
    sleep 0.3
    [ -n "$DPID" ] && c0=$(cpu_ns "$DPID")
    # Under a hard limit: a sender whose frames go nowhere (no ARP reply)
    # blocks once its socket buffer fills.
    timeout -k 1 $((RATE_SECS + 5)) ip netns exec "$snd" taskset -c 0 target/release/latency send "$RCV_IP:7000" "$rate" "$RATE_SECS" \
        > "$DIR/send.out" || true
    [ -n "$DPID" ] && c1=$(cpu_ns "$DPID")
    wait "$spid" || true
    [ -n "$cdf" ] && [ ! -s "$cdf" ] && rm -f "$cdf"
    sent=$(awk '{ print $2 }' "$DIR/send.out")
    local p50 p99 p999 pmax lost reord
    read -r got p50 p99 p999 pmax lost reord <<< "$(awk '{ print $2, $6, $8, $10, $12, $14, $16 }' "$DIR/sink.out")"
    if [ -n "$DPID" ] && [ "${got:-0}" -gt 0 ]; then
        cpu=$(awk -v a="$c0" -v b="$c1" -v n="$got" 'BEGIN { printf "%.0f", (b - a) / n }')
        cpct=$(awk -v a="$c0" -v b="$c1" -v s="$RATE_SECS" 'BEGIN { printf "%.2f", 100 * (b - a) / 1e9 / s }')
    fi
    tsv "$p" "$pct" "$rate" "$run" ok "${sent:-}" "${got:-}" "${lost:-}" "${reord:-}" "${p50:-}" "${p99:-}" "${p999:-}" "${pmax:-}" "$cpu" "$cpct" >> "$RAW/rate.tsv"
    printf '  %-16s %3s%% %7s/s  received %8s lost %6s reordered %4s  p50 %6s p99 %7s p99.9 %7s us  %6s ns/pkt %6s%% core\n' \
        "$(label "$p")" "$pct" "$rate" "${got:-}" "${lost:-}" "${reord:-}" "${p50:-}" "${p99:-}" "${p999:-}" "$cpu" "$cpct"
}

idle_point() {   # PEER RUN -> a row of idle.tsv
    local c0 c1
    [ -n "$DPID" ] || { tsv "$1" "$2" - >> "$RAW/idle.tsv"; return; }
    sleep 1
    c0=$(cpu_ns "$DPID"); sleep "$IDLE_SECS"; c1=$(cpu_ns "$DPID")
    tsv "$1" "$2" "$(awk -v a="$c0" -v b="$c1" -v s="$IDLE_SECS" 'BEGIN { printf "%.3f", 100 * (b - a) / 1e9 / s }')" >> "$RAW/idle.tsv"
    echo "  $(label "$1") idle: $(tail -1 "$RAW/idle.tsv" | cut -f3) % of a core"
}

rate_main() {
    RATE_SECS=${RATE_SECS:-3}; IDLE_SECS=${IDLE_SECS:-3}
    LAT_PCT=${RATE_PCTS%% *}
    lab_init jq
    mkdir -p "$RAW/cdf"
    local max p i pct
    max=$(gen_max)
    [ -f "$RAW/rate.tsv" ] || printf 'peer\tpct\trate\trun\tstatus\tsent\treceived\tlost\treordered\tp50_us\tp99_us\tp999_us\tmax_us\tcpu_ns_per_pkt\tcpu_pct\n' > "$RAW/rate.tsv"
    [ -f "$RAW/idle.tsv" ] || printf 'peer\trun\tcpu_pct\n' > "$RAW/idle.tsv"
    echo "rate: generator maximum $max/s (64-byte frames, bare pair); rates: $RATE_PCTS %; $RUNS runs of ${RATE_SECS}s; latency CDF at $LAT_PCT %"
    for i in $(seq "$RUNS"); do
        echo "run $i"
        for p in bare $PEERS; do
            if ! path_up "$p"; then
                for pct in $RATE_PCTS; do tsv "$p" "$pct" $((max * pct / 100)) "$i" failed >> "$RAW/rate.tsv"; done
                continue
            fi
            idle_point "$p" "$i"
            # Endpoints keep their default offloads; the latency sender
            # sends UDP without a checksum (tests/src/bin/latency.rs), so
            # AF_XDP peers that forward a partial checksum as it is can be
            # measured too (the TCP section shows that failure).
            ip netns exec "$(hosts_of "$p" | cut -d' ' -f1)" ping -c 1 -W 1 "$RCV_IP" >/dev/null 2>&1 || true
            for pct in $RATE_PCTS; do rate_point "$p" "$pct" $((max * pct / 100)) "$i"; done
            path_down "$p"
        done
    done
}

# -------------------------------------------------------------- tcp ---

tcp_main() {
    local m out
    [ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
    for m in $MTUS; do
        out=$RAW/tcp-mtu$m.tsv
        rm -f "$out" "${out%.tsv}.runs.tsv"
        # run.sh tcp with this run's peers (vswitchd by driver name).
        PATHS="bare $PEERS" MTU=$m RESULTS=$out MODE=tcp benches/e2e/run.sh tcp "$RUNS" "${TCP_SECS:-4}"
    done
}

# ---------------------------------------------------------- promisc ---

# Eight hosts h1..h8 (198.18.1.N, MAC 02:00:00:00:bf:0N, every one
# promiscuous, as nested hypervisors are) on switch-side veths ${P}p1..8;
# h1 streams PROMISC_RATE datagrams/s to h2. Per switch configuration:
# datagrams h2 got, copies h3..h8 got (frames nobody asked them for), the
# switch process's CPU and both CPUs' busy time (the bridge forwards in
# softirq, where no process is charged).
PORTS=8
pm_cleanup() {
    local -
    set +e
    local i pid
    for i in $(seq $PORTS); do
        for pid in $(ip netns pids "${P}h$i" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null; done
    done
    for i in $(seq $PORTS); do ip netns del "${P}h$i" 2>/dev/null; ip link del "${P}p$i" 2>/dev/null; done
    return 0
}

pm_hosts() {
    local i
    for i in $(seq $PORTS); do
        ip netns add "${P}h$i"
        ip link add "${P}p$i" type veth peer name eth0 netns "${P}h$i"
        ip -n "${P}h$i" link set eth0 address "02:00:00:00:bf:0$i"
        ip -n "${P}h$i" addr add "198.18.1.$i/24" dev eth0
        ip -n "${P}h$i" link set eth0 promisc on up
        ip -n "${P}h$i" link set lo up
        ip link set "${P}p$i" up
    done
}

pm_vswitch_config() {   # learn|flood -> $DIR/pm.toml
    local i
    {
        printf '[switch]\ncontrol_socket = "%s"\nworkers = [1]\n' "$DIR/vswitchd.sock"
        for i in $(seq $PORTS); do
            printf '[[port]]\nname = "h%d"\niface = "%s"\nvlan = 10\ndriver = "%s"\n' "$i" "${P}p$i" "$PROMISC_DRIVER"
            [ "$1" = flood ] && printf 'promiscuous = true\n'
        done
    } > "$DIR/pm.toml"
}

pm_up() {   # SWITCH CONFIG: 0 when up
    local i
    case $1 in
        vswitchd)
            pm_vswitch_config "$2"
            target/release/vswitchd --config "$DIR/pm.toml" 2> "$DIR/vswitchd.log" &
            DPID=$!
            for _ in $(seq 100); do ctl status >/dev/null 2>&1 && return 0; kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
            echo "vswitchd did not come up: $(tail -2 "$DIR/vswitchd.log" | tr '\n' ' ')" >&2
            return 1 ;;
        bridge)
            ip link add "${P}pbr" type bridge || return 1
            # A hub: ageing 0 forgets every address at once, so every
            # frame floods (how a lab makes a bridge behave like promiscuous
            # ports).
            [ "$2" = flood ] && ip link set "${P}pbr" type bridge ageing_time 0
            for i in $(seq $PORTS); do ip link set "${P}p$i" master "${P}pbr" || return 1; done
            ip link set "${P}pbr" up ;;
    esac
}
pm_down() {
    case $1 in
        vswitchd) stop_vswitch ;;
        bridge) ip link del "${P}pbr" 2>/dev/null || true ;;
    esac
}

pm_point() {   # SWITCH CONFIG RUN -> a row of promisc.tsv
    local sw=$1 cf=$2 run=$3 i rx0=() rx1=() c0=0 c1=0 s0 s1 cpu=- spid
    ip netns exec "${P}h1" ping -c 2 -i 0.2 -W 1 198.18.1.2 >/dev/null 2>&1 || true
    ip netns exec "${P}h2" taskset -c 0 target/release/latency sink 7000 $((PROMISC_SECS + 5)) > "$DIR/sink.out" &
    spid=$!
    sleep 0.3
    for i in $(seq $PORTS); do rx0[i]=$(counter "${P}h$i" rx_packets); done
    [ -n "$DPID" ] && c0=$(cpu_ns "$DPID")
    s0=$(cpu_snapshot)
    timeout -k 1 $((PROMISC_SECS + 5)) ip netns exec "${P}h1" taskset -c 0 target/release/latency send 198.18.1.2:7000 "$PROMISC_RATE" "$PROMISC_SECS" > "$DIR/send.out" || true
    sleep 0.2
    s1=$(cpu_snapshot)
    [ -n "$DPID" ] && c1=$(cpu_ns "$DPID")
    for i in $(seq $PORTS); do rx1[i]=$(counter "${P}h$i" rx_packets); done
    wait "$spid" || true
    local sent dest others=0
    sent=$(awk '{ print $2 }' "$DIR/send.out")
    dest=$((rx1[2] - rx0[2]))
    for i in $(seq 3 $PORTS); do others=$((others + rx1[i] - rx0[i])); done
    [ -n "$DPID" ] && cpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.0f", b - a }')
    local busy
    busy=$(awk -v a="$s0" -v b="$s1" -v hz="$HZ" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.0f", ((y[1] - x[1]) + (y[4] - x[4])) / hz * 1e9 }')
    tsv "$sw" "$cf" "$run" ok "${sent:-0}" "$dest" "$others" "$cpu" "$busy" - >> "$RAW/promisc.tsv"
    printf '  %-9s %-6s sent %7s  to h2 %7s  copies to h3..h8 %8s  switch CPU %s ns  both CPUs busy %s ns\n' \
        "$sw" "$cf" "${sent:-0}" "$dest" "$others" "$cpu" "$busy"
}

promisc_main() {
    PROMISC_SECS=${PROMISC_SECS:-3}; PROMISC_RATE=${PROMISC_RATE:-50000}; PROMISC_DRIVER=${PROMISC_DRIVER:-afxdp}
    lab_init jq
    trap 'pm_cleanup; cleanup' EXIT
    pm_cleanup
    pm_hosts
    [ -f "$RAW/promisc.tsv" ] || printf 'switch\tconfig\trun\tstatus\tsent\tdelivered_dest\tcopies_others\tswitch_cpu_ns\tsystem_busy_ns\terror\n' > "$RAW/promisc.tsv"
    echo "promisc: 8 ports in one VLAN, h1 -> h2 at $PROMISC_RATE/s for ${PROMISC_SECS}s, $RUNS runs; vswitchd driver $PROMISC_DRIVER"
    local i sw cf
    for i in $(seq "$RUNS"); do
        for sw in vswitchd bridge; do
            for cf in flood learn; do
                if ! pm_up "$sw" "$cf" 2> "$DIR/pm.err"; then
                    tsv "$sw" "$cf" "$i" failed - - - - - "$(tr '\n\t' '  ' < "$DIR/pm.err")" >> "$RAW/promisc.tsv"
                    pm_down "$sw"; continue
                fi
                pm_point "$sw" "$cf" "$i"
                pm_down "$sw"
            done
        done
    done
}

"${MODE}_main"
