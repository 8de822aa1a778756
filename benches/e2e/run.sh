#!/usr/bin/env bash
# End-to-end benchmark, run by hand as root (never in CI):
#
#   benches/e2e/run.sh [udp] [RUNS] [SECONDS]   64-byte UDP (defaults: 5 runs of 5 s)
#   benches/e2e/run.sh tcp [RUNS] [SECONDS]     iperf3 TCP (defaults: 3 runs of 5 s)
#   benches/e2e/run.sh latency [RUNS] [SECONDS] one-way latency and CPU at
#                                               paced rates (defaults: 3 runs of 3 s)
#
# Environment knobs (all optional):
#   PATHS="bare bridge packet afxdp"  paths to compare, in this order; a
#                   vswitchd path is named by its driver (packet, afxdp, auto).
#                   Default: tcp "bare bridge packet afxdp", udp "bare bridge auto afxdp"
#   STREAMS="1 4"   tcp: iperf3 parallel streams per case (-P)
#   OFFLOADS="default off"   tcp: endpoint offload settings per case
#   OFFLOADS_OFF_ARGS="tx off"   what "off" means (ethtool -K eth0 ARGS in
#                   both hosts); see below
#   RESULTS=FILE    summary TSV (default target/e2e-bench/MODE-DATE.tsv; the
#                   per-run rows go next to it as FILE with .runs.tsv)
#   VSBENCH_PREFIX=vsbench   name prefix of every namespace/link it makes
#   POLLING=busy|adaptive   udp/tcp: `[switch] polling` of every vswitchd
#                   (default: vswitchd's own, adaptive)
#   RATES="10000 30000 100000 300000"   latency: offered datagrams/s
#   SETTINGS="busy adaptive:0 adaptive:20 adaptive:50 adaptive:100 bridge"
#                   latency: vswitchd polling (adaptive:MAX_SLEEP_US), set
#                   live with `vswitchctl switch set`, and the bridge
#   DRIVER=afxdp    latency: vswitchd's port driver
#   MTU=9000        tcp: the MTU of every endpoint and switch-side veth
#                   (default 1500); vswitchd's ports get `mtu = MTU` too.
#                   Default PATHS at a jumbo MTU: "bare bridge packet"
#                   (afxdp runs multi-buffer there; name it in PATHS)
#
# Two host namespaces, snd and rcv (198.18.0.1 and .2, MTU 1500 or $MTU), take
# turns on the same switch-side veths, in the same run:
#   bare            - a plain veth pair snd <-> rcv (what the endpoints can do)
#   bridge          - a Linux bridge
#   ovs-afxdp, ovs-tso, ovs-maxsleep, testpmd - Open vSwitch and
#                     dpdk-testpmd as benches/e2e/peers.sh runs them
#   vswitchd:DRIVER - vswitchd, one worker on CPU 1, `driver = "DRIVER"` on
#                     both ports (README.md, [[port]] keys)
# The sender and receiver run on CPU 0. The receiver's MAC is a static FDB
# entry on both switches. A vswitchd that refuses its config (say, a driver
# it does not know) or does not come up is reported and its path skipped;
# the other paths still run (a vswitchd without the `driver` key runs the
# afxdp path without it: AF_XDP is then its only driver). Every namespace, veth, bridge and daemon it
# made is removed on exit, Ctrl-C and failure included.
#
# udp: trafgen offers 60-byte frames (64 on the wire) from CPU 0 to an
# address nobody owns; per path: offered and delivered Mpps (median and
# min-max), the delivery ratio, and vswitchd's CPU time per delivered
# packet (user + system of the daemon, softirq work it does in sendto()
# included: on a kernel without IRQ time accounting the veth transmit and
# the receiver's stack run inside its sendto(); a busy poller's figure
# is ~1e9/rate) and the worker's own busy time per packet.
#
# latency: tests/src/bin/latency.rs (built in release) sends 24-byte UDP
# datagrams (66-byte frames) from snd to rcv at each of RATES, paced and
# each stamped with its send time (CLOCK_REALTIME); the sink reads the
# kernel's receive timestamp (SO_TIMESTAMPNS: sink and sender share CPU 0,
# so the sink's own scheduling must not count). Per setting and rate:
# p50/p99/p99.9 one-way latency (µs, medians over runs, p99 min-max) and
# vswitchd's CPU per delivered datagram (ns, all threads, from the
# scheduler's clock over the sending window) and as a share of a core.
#
# tcp: iperf3 (--json, -t SECONDS, under a hard `timeout`, so a case whose
# TCP never connects or stalls is reported FAILED, never hangs) with 1 and
# 4 streams, endpoints' default offloads and offloads off. Per path and
# case: Gbit/s received (end.sum_received.bits_per_second), retransmits
# (end.sum_sent.retransmits), vswitchd's CPU time (user + system, all
# threads) per GB received, and, as context, CPU 0's and CPU 1's busy and
# softirq shares (/proc/stat): the bridge forwards in softirq on the
# sender's CPU 0, vswitchd on CPU 1.
# "Offloads off" is `ethtool -K eth0 tx off` in both hosts: without tx
# checksum offload the kernel drops TSO as well (its dependency); GSO stays
# on, so the sender's stack still batches and segments in software just
# before the veth, and every frame either switch sees is at most MTU-sized
# with its checksum complete. Only these "off" cases touch the hosts'
# offloads (they measure the per-frame path); the "default" cases, the
# tests and the demo keep what veth gives them. The effective features
# are printed per case.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
. benches/e2e/lib.sh
. benches/e2e/peers.sh

MODE=udp
case ${1:-} in
    udp|tcp|latency) MODE=$1; shift ;;
    ''|[0-9]*) ;;
    *) echo "usage: $0 [udp|tcp|latency] [RUNS] [SECONDS]" >&2; exit 2 ;;
esac
MTU=${MTU:-1500}
if [ "$MODE" = latency ]; then
    RUNS=${1:-3}; SECS=${2:-3}
    PATHS=
elif [ "$MODE" = tcp ]; then
    RUNS=${1:-3}; SECS=${2:-5}
    if [ "$MTU" -gt 3822 ]; then PATHS=${PATHS:-bare bridge packet}; fi
    PATHS=${PATHS:-bare bridge packet afxdp}
else
    RUNS=${1:-5}; SECS=${2:-5}
    PATHS=${PATHS:-bare bridge auto afxdp}
    [ "$MTU" = 1500 ] || { echo "MTU applies to tcp mode only" >&2; exit 2; }
fi
STREAMS=${STREAMS:-1 4}
OFFLOADS=${OFFLOADS:-default off}
OFFLOADS_ON_ARGS="tx on tso on gso on"   # veth's defaults
OFFLOADS_OFF_ARGS=${OFFLOADS_OFF_ARGS:-tx off}

# ---------------------------------------------------------------- udp ---

udp_frame() {
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
}

counter() { ip netns exec "$1" cat "/sys/class/net/eth0/statistics/$2"; }

# udp_run PATH RUN -> a row in $RUNS_TSV
udp_run() {
    local path=$1 run=$2 snd rcv tx0 rx0 tx1 rx1 c0=0 c1=0 cpu=- busy=-
    read -r snd rcv <<< "$(hosts_of "$path")"
    tx0=$(counter "$snd" tx_packets); rx0=$(counter "$rcv" rx_packets)
    [ -n "$DPID" ] && c0=$(cpu_ticks "$DPID")
    # Not --foreground: trafgen forks its generator, which must get the
    # signal too (with --foreground only the direct child does, and the
    # generator runs on forever).
    timeout -s INT "$SECS" ip netns exec "$snd" taskset -c 0 trafgen --dev eth0 --conf "$DIR/frame.cfg" --cpus 1 --no-sock-mem >/dev/null 2>&1 || true
    sleep 0.3   # let the last frames drain
    tx1=$(counter "$snd" tx_packets); rx1=$(counter "$rcv" rx_packets)
    if [ -n "$DPID" ]; then
        c1=$(cpu_ticks "$DPID")
        cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v n="$((rx1 - rx0))" 'BEGIN { printf "%.0f", (b - a) / hz * 1e9 / (n > 0 ? n : 1) }')
        # The worker's own view: time in loop iterations that did work, per
        # received frame (spinning on empty rings not included).
        busy=$(ctl --json stats show | jq -r '[.. | objects | .ns_per_packet? | numbers] | first // "-" | if type == "number" then floor else . end')
    fi
    awk -v OFS='\t' -v p="$path" -v i="$run" -v t=$((tx1 - tx0)) -v r=$((rx1 - rx0)) -v s="$SECS" -v c="$cpu" -v b="$busy" \
        'BEGIN { print "udp", p, i, "ok", sprintf("%.4f", t / s / 1e6), sprintf("%.4f", r / s / 1e6), c, b }' >> "$RUNS_TSV"
}

udp_main() {
    lab_init trafgen ethtool jq
    udp_frame
    RUNS_TSV=$(results_file udp); SUMMARY=$RUNS_TSV; RUNS_TSV=${SUMMARY%.tsv}.runs.tsv
    printf 'mode\tpath\trun\tstatus\toffered_mpps\tdelivered_mpps\tcpu_ns_per_pkt\tworker_busy_ns_per_pkt\n' > "$RUNS_TSV"
    echo "$RUNS runs of ${SECS}s each, 60-byte frames (64 on the wire), trafgen on CPU 0, switch on CPU 1; paths: $PATHS"
    local i p line
    for i in $(seq "$RUNS"); do
        line="run $i:"
        for p in $PATHS; do
            path_up "$p" || continue
            udp_run "$p" "$i"
            path_down "$p"
            line+="  $(label "$p") $(tail -1 "$RUNS_TSV" | cut -f5,6 | tr '\t' '/') Mpps"
        done
        echo "$line"
    done

    echo
    printf 'mode\tpath\truns_ok\toffered_mpps_med\toffered_min\toffered_max\tdelivered_mpps_med\tdelivered_min\tdelivered_max\tdelivered_ratio_med\tcpu_ns_per_pkt_med\tworker_busy_ns_per_pkt_med\n' > "$SUMMARY"
    printf "%-16s %-24s %-24s %-9s %-14s %s\n" PATH "OFFERED Mpps med(min-max)" "DELIVERED Mpps med(min-max)" "DELIV/OFF" "CPU ns/pkt" "WORKER BUSY ns/pkt"
    local o d r c b n
    for p in $PATHS; do
        col() { awk -F'\t' -v p="$p" -v k="$1" '$2 == p && $4 == "ok" && $k != "-" { print $k }' "$RUNS_TSV"; }
        n=$(col 5 | wc -l)
        if [ "$n" -eq 0 ]; then
            printf "%-16s %s\n" "$(label "$p")" "skipped (see above)"
            tsv udp "$p" 0 - - - - - - - - - >> "$SUMMARY"
            continue
        fi
        o=$(col 5 | medrange); d=$(col 6 | medrange)
        r=$(awk -F'\t' -v p="$p" '$2 == p && $4 == "ok" { print ($5 > 0) ? $6 / $5 : 0 }' "$RUNS_TSV" | medrange)
        c=$(col 7 | medrange); b=$(col 8 | medrange)
        printf "%-16s %-24s %-24s %-9s %-14s %s\n" "$(label "$p")" "$(fmt_mr %.3f "$o")" "$(fmt_mr %.3f "$d")" \
            "$(awk -v r="${r%% *}" 'BEGIN { printf "%.1f%%", 100 * r }')" "${c%% *}" "${b%% *}"
        # shellcheck disable=SC2086  # $o and $d are three numbers each
        tsv udp "$p" "$n" $o $d "${r%% *}" "${c%% *}" "${b%% *}" >> "$SUMMARY"
    done
    echo
    echo "delivered Mpps, same-run medians:"
    ratios 6 1
    echo "results: $SUMMARY (summary), $RUNS_TSV (every run)"
}

# Same-run ratios of medians of column COL of $RUNS_TSV over the rows that
# match the awk condition WHERE: every vswitchd path against the bridge and
# bare, and the packet/auto drivers against afxdp.
ratios() {   # COL WHERE
    local base p m v
    med_of() {
        awk -F'\t' -v p="$1" -v k="$2" "\$2 == p && \$4 != \"failed\" && \$6 != \"failed\" && ($3) { print \$k }" "$RUNS_TSV" \
            | medrange | cut -d' ' -f1
    }
    for base in bridge bare afxdp; do
        m=$(med_of "$base" "$1" "$2"); [ -n "$m" ] || continue
        for p in $PATHS; do
            case $p in bare|bridge|"$base") continue ;; esac
            [ "$base" = afxdp ] && [ "$p" != auto ] && [ "$p" != packet ] && continue
            v=$(med_of "$p" "$1" "$2"); [ -n "$v" ] || continue
            awk -v a="$v" -v b="$m" -v pa="$(label "$p")" -v pb="$(label "$base")" \
                'BEGIN { printf "  %s / %s: %.2fx\n", pa, pb, (b > 0) ? a / b : 0 }'
        done
    done
}

# ---------------------------------------------------------------- tcp ---

set_offloads() {   # default|off SND RCV
    local args=$OFFLOADS_ON_ARGS ns
    [ "$1" = off ] && args=$OFFLOADS_OFF_ARGS
    for ns in "$2" "$3"; do
        # shellcheck disable=SC2086  # ethtool takes the words separately
        ip netns exec "$ns" ethtool -K eth0 $args >/dev/null 2>&1 || true
    done
}
features() {   # NS -> "csum:on tso:off gso:on", what the kernel really set
    # (attaching XDP to the switch side strips TSO/GSO from the host's veth).
    ip netns exec "$1" ethtool -k eth0 | awk -F': ' '{ sub(/^[ \t]+/, "", $1); split($2, v, " ") }
        $1 == "tx-checksum-ip-generic" { c = v[1] } $1 == "tx-tcp-segmentation" { t = v[1] }
        $1 == "generic-segmentation-offload" { g = v[1] }
        END { printf "csum:%s tso:%s gso:%s", c, t, g }'
}

# tcp_run PATH STREAMS OFFLOADS RUN -> a row in $RUNS_TSV, a line on stdout
tcp_run() {
    local path=$1 n=$2 off=$3 run=$4 snd rcv spid rc=0 c0=0 c1=0 s0 s1 err='' res cpu=- cpugb=-
    read -r snd rcv <<< "$(hosts_of "$path")"
    local out=$DIR/client.json
    # --foreground keeps iperf3 in our process group, so Ctrl-C reaches it
    # at once (timeout otherwise gives it a group of its own, and the trap
    # would wait for the hard limit); the limits still apply.
    timeout --foreground -k 2 $((SECS + 20)) taskset -c 0 ip netns exec "$rcv" iperf3 -s -1 -J > "$DIR/server.json" 2>&1 &
    spid=$!
    for _ in $(seq 30); do
        ip netns exec "$rcv" ss -Hltn 'sport = :5201' | grep -q . && break
        sleep 0.1
    done
    [ -n "$DPID" ] && c0=$(cpu_ticks "$DPID")
    s0=$(cpu_snapshot)
    timeout --foreground -k 2 $((SECS + 10)) taskset -c 0 ip netns exec "$snd" \
        iperf3 -c $RCV_IP -t "$SECS" -P "$n" -J --connect-timeout 3000 > "$out" 2>&1 || rc=$?
    s1=$(cpu_snapshot)
    [ -n "$DPID" ] && c1=$(cpu_ticks "$DPID")
    kill -TERM "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true

    res=$(jq -r '[.end.sum_received.bits_per_second, .end.sum_sent.retransmits, .end.sum_received.bytes] | map(. // "") | @tsv' "$out" 2>/dev/null || true)
    err=$(jq -r '.error // empty' "$out" 2>/dev/null || true)
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        err="no result within $((SECS + 10)) s (iperf3 killed)${err:+: $err}"
    elif [ -z "$err" ] && [ -z "${res%%$'\t'*}" ]; then
        err="iperf3 exit $rc, no result: $(head -c 200 "$out" | tr '\n\t' '  ')"
    fi
    local bps retr bytes
    IFS=$'\t' read -r bps retr bytes <<< "$res"
    if [ -n "$err" ] || [ -z "$bps" ] || [ "${bytes:-0}" = 0 ]; then
        err=${err:-no bytes received}
        # shellcheck disable=SC2046  # cpu_share gives four numbers
        tsv tcp "$path" "$n" "$off" "$run" failed - - - - - $(cpu_share "$s0" "$s1") "${err//$'\t'/ }" >> "$RUNS_TSV"
        printf "  %-16s %s streams, offloads %-7s FAILED: %s\n" "$(label "$path")" "$n" "$off" "$err"
        return
    fi
    if [ -n "$DPID" ]; then
        cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN { printf "%.3f", (b - a) / hz }')
        cpugb=$(awk -v c="$cpu" -v by="$bytes" 'BEGIN { printf "%.3f", c / (by / 1e9) }')
    fi
    local gbps; gbps=$(awk -v b="$bps" 'BEGIN { printf "%.3f", b / 1e9 }')
    # shellcheck disable=SC2046  # cpu_share gives four numbers
    tsv tcp "$path" "$n" "$off" "$run" ok "$gbps" "$retr" "$bytes" "$cpu" "$cpugb" $(cpu_share "$s0" "$s1") - >> "$RUNS_TSV"
    printf "  %-16s %s streams, offloads %-7s %7.2f Gbit/s  %6s retransmits%s\n" "$(label "$path")" "$n" "$off" "$gbps" "$retr" \
        "${DPID:+  $cpugb s vswitchd CPU/GB}"
}

tcp_main() {
    lab_init iperf3 ethtool jq
    RUNS_TSV=$(results_file "tcp$([ "$MTU" = 1500 ] || echo "-mtu$MTU")"); SUMMARY=$RUNS_TSV; RUNS_TSV=${SUMMARY%.tsv}.runs.tsv
    printf 'mode\tpath\tstreams\toffloads\trun\tstatus\tgbps\tretransmits\tbytes\tvswitchd_cpu_s\tvswitchd_cpu_s_per_gb\tcpu0_busy_pct\tcpu0_softirq_pct\tcpu1_busy_pct\tcpu1_softirq_pct\terror\n' > "$RUNS_TSV"
    echo "$RUNS runs of ${SECS}s per case; iperf3 both ends on CPU 0, switch on CPU 1, MTU $MTU"
    echo "paths: $PATHS; streams: $STREAMS; offloads: $OFFLOADS (off = ethtool -K eth0 $OFFLOADS_OFF_ARGS)"
    local i p n off snd rcv
    declare -A FEAT=()
    for i in $(seq "$RUNS"); do
        echo "run $i:"
        for p in $PATHS; do
            path_up "$p" || continue
            read -r snd rcv <<< "$(hosts_of "$p")"
            for off in $OFFLOADS; do
                set_offloads "$off" "$snd" "$rcv"
                FEAT[$p,$off]=$(features "$snd")
                for n in $STREAMS; do tcp_run "$p" "$n" "$off" "$i"; done
            done
            path_down "$p"
        done
    done

    printf 'mode\tpath\tstreams\toffloads\truns_ok\truns\tgbps_med\tgbps_min\tgbps_max\tretransmits_med\tretransmits_min\tretransmits_max\tvswitchd_cpu_s_per_gb_med\tcpu0_busy_pct_med\tcpu0_softirq_pct_med\tcpu1_busy_pct_med\tcpu1_softirq_pct_med\tsender_features\tfirst_error\n' > "$SUMMARY"
    local g r c ok all e c0b c0s c1b c1s
    for n in $STREAMS; do
        for off in $OFFLOADS; do
            echo
            echo "== TCP, $n stream(s), offloads $off =="
            printf "%-16s %-7s %-22s %-20s %-8s %-9s %-9s %s\n" PATH "RUNS OK" "Gbit/s med (min-max)" "RETRANS med (min-max)" "CPU s/GB" "CPU0 b/si" "CPU1 b/si" "SENDER'S FEATURES"
            for p in $PATHS; do
                col() { awk -F'\t' -v p="$p" -v n="$n" -v o="$off" -v k="$1" -v s="${2:-ok}" \
                    '$2 == p && $3 == n && $4 == o && $6 == s && $k != "-" { print $k }' "$RUNS_TSV"; }
                all=$(awk -F'\t' -v p="$p" -v n="$n" -v o="$off" '$2 == p && $3 == n && $4 == o' "$RUNS_TSV" | wc -l)
                if [ "$all" -eq 0 ]; then
                    printf "%-16s %s\n" "$(label "$p")" "skipped (see above)"
                    tsv tcp "$p" "$n" "$off" 0 0 - - - - - - - - - - - - skipped >> "$SUMMARY"
                    continue
                fi
                ok=$(col 7 | wc -l)
                e=$(col 16 failed | head -1)
                g=$(col 7 | medrange); r=$(col 8 | medrange); c=$(col 11 | medrange)
                c0b=$(col 12 | medrange); c0s=$(col 13 | medrange); c1b=$(col 14 | medrange); c1s=$(col 15 | medrange)
                if [ "$ok" -eq 0 ]; then
                    printf "%-16s %-7s FAILED: %s  [%s]\n" "$(label "$p")" "0/$all" "$e" "${FEAT[$p,$off]}"
                else
                    printf "%-16s %-7s %-22s %-20s %-8s %-9s %-9s %s%s\n" "$(label "$p")" "$ok/$all" \
                        "$(fmt_mr %.2f "$g")" "$(fmt_mr %.0f "$r")" "${c%% *}" "${c0b%% *}/${c0s%% *}" "${c1b%% *}/${c1s%% *}" \
                        "${FEAT[$p,$off]}" "${e:+  (failed runs: $e)}"
                fi
                g=${g:-- - -}; r=${r:-- - -}
                # shellcheck disable=SC2086  # $g and $r are three numbers each
                tsv tcp "$p" "$n" "$off" "$ok" "$all" $g $r "${c%% *}" "${c0b%% *}" "${c0s%% *}" "${c1b%% *}" "${c1s%% *}" "${FEAT[$p,$off]}" "$e" >> "$SUMMARY"
            done
            ratios 7 "\$3 == \"$n\" && \$4 == \"$off\""
        done
    done
    echo
    echo "results: $SUMMARY (summary), $RUNS_TSV (every run)"
}

# ------------------------------------------------------------ latency ---

# lat_run SETTING RATE RUN -> a row in $RUNS_TSV
lat_run() {
    local setting=$1 rate=$2 run=$3 spid c0=0 c1=0 sent got cpu=- pct=-
    ip netns exec "${P}rcv" taskset -c 0 target/release/latency sink 7000 $((SECS + 5)) > "$DIR/sink.out" &
    spid=$!
    sleep 0.3
    [ -n "$DPID" ] && c0=$(cpu_ns "$DPID")
    ip netns exec "${P}snd" taskset -c 0 target/release/latency send "$RCV_IP:7000" "$rate" "$SECS" > "$DIR/send.out" || true
    [ -n "$DPID" ] && c1=$(cpu_ns "$DPID")
    wait "$spid" || true
    sent=$(awk '{ print $6 }' "$DIR/send.out")
    read -r got p50 p99 p999 pmax <<< "$(awk '{ print $2, $6, $8, $10, $12 }' "$DIR/sink.out")"
    if [ -n "$DPID" ] && [ "${got:-0}" -gt 0 ]; then
        cpu=$(awk -v a="$c0" -v b="$c1" -v n="$got" 'BEGIN { printf "%.0f", (b - a) / n }')
        pct=$(awk -v a="$c0" -v b="$c1" -v s="$SECS" 'BEGIN { printf "%.1f", 100 * (b - a) / 1e9 / s }')
    fi
    tsv latency "$setting" "$rate" "$run" "${sent:-}" "${got:-}" "${p50:-}" "${p99:-}" "${p999:-}" "${pmax:-}" "$cpu" "$pct" >> "$RUNS_TSV"
}

latency_main() {
    RATES=${RATES:-10000 30000 100000 300000}
    SETTINGS=${SETTINGS:-busy adaptive:0 adaptive:20 adaptive:50 adaptive:100 bridge}
    DRIVER=${DRIVER:-afxdp}
    lab_init jq
    cargo build --release -q -p vswitch-tests --bin latency
    RUNS_TSV=$(results_file latency); SUMMARY=$RUNS_TSV; RUNS_TSV=${SUMMARY%.tsv}.runs.tsv
    printf 'mode\tsetting\trate\trun\tsent_rate\treceived\tp50_us\tp99_us\tp999_us\tmax_us\tcpu_ns_per_pkt\tcpu_pct\n' > "$RUNS_TSV"
    echo "$RUNS runs of ${SECS}s per setting and rate; sender and sink on CPU 0, vswitchd (driver $DRIVER) on CPU 1"
    echo "settings: $SETTINGS; rates: $RATES"
    local i s r
    for i in $(seq "$RUNS"); do
        for s in $SETTINGS; do
            if [ "$s" = bridge ]; then
                # The bridge takes the same veths: vswitchd (its XDP
                # programs) must be gone first.
                [ -n "$DPID" ] && stop_vswitch
                path_up bridge || continue
            else
                if [ -z "$DPID" ]; then path_up "$DRIVER" || continue; fi
                case $s in
                    busy) ctl switch set --polling busy >/dev/null ;;
                    adaptive:*) ctl switch set --polling adaptive --max-sleep-us "${s#adaptive:}" >/dev/null ;;
                    *) echo "unknown setting $s" >&2; exit 2 ;;
                esac
            fi
            ip netns exec "${P}snd" ping -c 1 -W 1 "$RCV_IP" >/dev/null 2>&1 || true
            for r in $RATES; do
                lat_run "$s" "$r" "$i"
                echo "  run $i $s $r/s: $(tail -1 "$RUNS_TSV" | cut -f5-12 | tr '\t' ' ')"
            done
            [ "$s" = bridge ] && path_down bridge
        done
        [ -n "$DPID" ] && stop_vswitch
    done
    echo
    printf 'mode\tsetting\trate\truns\tsent_rate_med\tp50_us_med\tp99_us_med\tp99_min\tp99_max\tp999_us_med\tcpu_ns_per_pkt_med\tcpu_min\tcpu_max\tcpu_pct_med\n' > "$SUMMARY"
    printf "%-13s %7s %9s %7s %-22s %8s %-22s %s\n" SETTING RATE SENT/S P50us "P99us med(min-max)" P99.9us "CPU ns/pkt med(min-max)" "CPU %"
    local n sr p50 p99 p999 c cp
    for s in $SETTINGS; do
        for r in $RATES; do
            col() { awk -F'\t' -v s="$s" -v r="$r" -v k="$1" '$2 == s && $3 == r && $k != "-" && $k != "" && $k != "nan" { print $k }' "$RUNS_TSV"; }
            n=$(col 7 | wc -l)
            [ "$n" -gt 0 ] || { printf "%-13s %7s %s\n" "$s" "$r" "no data"; continue; }
            sr=$(col 5 | medrange); p50=$(col 7 | medrange); p99=$(col 8 | medrange); p999=$(col 9 | medrange)
            c=$(col 11 | medrange); cp=$(col 12 | medrange)
            printf "%-13s %7s %9.0f %7.1f %-22s %8.1f %-22s %s\n" "$s" "$r" "${sr%% *}" "${p50%% *}" "$(fmt_mr %.1f "$p99")" \
                "${p999%% *}" "$(fmt_mr %.0f "$c")" "${cp%% *}"
            # shellcheck disable=SC2086  # $p99 and $c are three numbers each
            tsv latency "$s" "$r" "$n" "${sr%% *}" "${p50%% *}" $p99 "${p999%% *}" $c "${cp%% *}" >> "$SUMMARY"
        done
    done
    echo
    echo "results: $SUMMARY (summary), $RUNS_TSV (every run)"
}

"${MODE}_main"
