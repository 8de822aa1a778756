# shellcheck shell=bash
# The peers vswitchd is compared with (sourced after benches/e2e/lib.sh):
# Open vSwitch and dpdk-testpmd, each a private instance on the lab's
# switch-side veths ${P}s and ${P}r, pinned to the switch CPU (1), started
# and stopped here and removed by peers_cleanup (lib.sh's cleanup calls it,
# so a failed or interrupted run leaves nothing behind).
#
#   ovs-afxdp     OVS 3.x userspace datapath (datapath_type=netdev), both
#                 ports type=afxdp, the NORMAL action, one PMD thread
#   ovs-tso       the same OVS with plain system ports (netdev-linux) and
#                 other_config:userspace-tso-enable=true: its bulk-TCP setup
#   ovs-maxsleep  ovs-afxdp with other_config:pmd-maxsleep=$OVS_MAXSLEEP_US
#                 (its idle-cheap polling; OVS 3.1 has the key)
#   testpmd       dpdk-testpmd, two net_af_xdp vdevs, io forwarding, one
#                 forwarding lcore; --no-huge (no hugepages to reserve)
#
# Each sets DPID to its forwarding process, so the CPU accounting of
# lib.sh and run.sh (cpu_ticks, cpu_ns) measures it like vswitchd. Nothing
# of the host's is touched: OVS runs from its own database, sockets, logs
# and pid files in $DIR/ovs (OVS_RUNDIR, OVS_DBDIR, OVS_LOGDIR), testpmd
# under its own --file-prefix (removed afterwards).

OVS_MAXSLEEP_US=${OVS_MAXSLEEP_US:-50}
OVSDB_PID=
PEER=        # the peer that is up: ovs-*, testpmd or empty

is_peer() { case $1 in ovs-afxdp|ovs-tso|ovs-maxsleep|testpmd) return 0 ;; *) return 1 ;; esac; }

ovs_env() {
    export OVS_RUNDIR=$DIR/ovs OVS_DBDIR=$DIR/ovs OVS_LOGDIR=$DIR/ovs OVS_SYSCONFDIR=$DIR/ovs
}
vsctl() { ovs-vsctl --db="unix:$DIR/ovs/db.sock" --timeout=20 "$@"; }
ovs_appctl() { ovs-appctl -t "$DIR/ovs/ovs-vswitchd.ctl" "$@"; }

# start_ovs afxdp|tso|maxsleep: 0 with DPID set, 1 with the reason on stderr.
start_ovs() {
    local kind=$1 type=afxdp i
    rm -rf "$DIR/ovs"; mkdir -p "$DIR/ovs"
    ovs_env
    ovsdb-tool create "$DIR/ovs/conf.db" /usr/share/openvswitch/vswitch.ovsschema || return 1
    taskset -c 1 ovsdb-server "$DIR/ovs/conf.db" --remote="punix:$DIR/ovs/db.sock" \
        --pidfile="$DIR/ovs/ovsdb-server.pid" --unixctl="$DIR/ovs/ovsdb-server.ctl" \
        --log-file="$DIR/ovs/ovsdb-server.log" 2>/dev/null &
    OVSDB_PID=$!
    for i in $(seq 50); do [ -S "$DIR/ovs/db.sock" ] && break; sleep 0.1; done
    vsctl --no-wait init || return 1
    vsctl --no-wait set Open_vSwitch . other_config:pmd-cpu-mask=0x2 other_config:dpdk-init=false || return 1
    case $kind in
        tso) type=; vsctl --no-wait set Open_vSwitch . other_config:userspace-tso-enable=true ;;
        maxsleep) vsctl --no-wait set Open_vSwitch . other_config:pmd-maxsleep="$OVS_MAXSLEEP_US" ;;
    esac
    # Every thread (main, handlers, revalidators, the PMD) on CPU 1.
    taskset -c 1 ovs-vswitchd "unix:$DIR/ovs/db.sock" --pidfile="$DIR/ovs/ovs-vswitchd.pid" \
        --unixctl="$DIR/ovs/ovs-vswitchd.ctl" --log-file="$DIR/ovs/ovs-vswitchd.log" 2>/dev/null &
    DPID=$!
    for i in $(seq 50); do [ -S "$DIR/ovs/ovs-vswitchd.ctl" ] && break; sleep 0.1; done
    vsctl add-br "${P}ovs" -- set bridge "${P}ovs" datapath_type=netdev || return 1
    for i in "${P}s" "${P}r"; do
        if [ -n "$type" ]; then
            vsctl add-port "${P}ovs" "$i" -- set interface "$i" type="$type" || return 1
        else
            vsctl add-port "${P}ovs" "$i" || return 1
        fi
    done
    # An interface OVS could not open has an error in the database.
    local err
    err=$(vsctl --bare --columns=name,error find interface 'error!=[]' 2>/dev/null | tr '\n' ' ' | sed 's/  */ /g')
    [ -z "${err// /}" ] || { echo "OVS refused a port: $err" >&2; return 1; }
    kill -0 "$DPID" 2>/dev/null || { echo "ovs-vswitchd exited" >&2; return 1; }
    # The receiver's MAC as a static entry, as for the other switches
    # (fdb/add is OVS 3.0+; NORMAL learns it from the first reply anyway).
    ovs_appctl fdb/add "${P}ovs" "${P}r" 0 "$RCV_MAC" >/dev/null 2>&1 || true
    sleep 0.5
}

stop_ovs() {
    local -
    set +e
    if [ -n "$DPID" ]; then
        ovs_appctl exit >/dev/null 2>&1 &
        local w=$!
        for _ in $(seq 50); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
        kill -TERM "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null; wait "$w" 2>/dev/null
        DPID=
    fi
    if [ -n "$OVSDB_PID" ]; then kill -TERM "$OVSDB_PID" 2>/dev/null; wait "$OVSDB_PID" 2>/dev/null; OVSDB_PID=; fi
    # AF_XDP ports: a program left on a veth would black-hole the next peer.
    ip link set dev "${P}s" xdp off 2>/dev/null
    ip link set dev "${P}r" xdp off 2>/dev/null
    ip link del "${P}ovs" 2>/dev/null
    ip link del ovs-netdev 2>/dev/null
    rm -rf "$DIR/ovs"
}

start_testpmd() {
    ulimit -l unlimited 2>/dev/null || true
    dpdk-testpmd --lcores '0@1,1@1' --no-huge -m 256 --file-prefix "${P}tp" --no-pci \
        --vdev "net_af_xdp0,iface=${P}s,start_queue=0,queue_count=1" \
        --vdev "net_af_xdp1,iface=${P}r,start_queue=0,queue_count=1" \
        -- --forward-mode=io --nb-cores=1 --total-num-mbufs=16384 --auto-start --stats-period 3600 \
        < /dev/null > "$DIR/testpmd.log" 2>&1 &
    DPID=$!
    for _ in $(seq 100); do
        grep -q 'forwards packets on' "$DIR/testpmd.log" 2>/dev/null && { sleep 0.3; return 0; }
        kill -0 "$DPID" 2>/dev/null || break
        sleep 0.1
    done
    echo "dpdk-testpmd did not start forwarding: $(grep -v '^ ' "$DIR/testpmd.log" | grep -i -E 'error|fail|cannot' | head -3 | tr '\n' ' ')" >&2
    return 1
}

stop_testpmd() {
    local -
    set +e
    if [ -n "$DPID" ]; then
        kill -INT "$DPID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null
        DPID=
    fi
    ip link set dev "${P}s" xdp off 2>/dev/null
    ip link set dev "${P}r" xdp off 2>/dev/null
    rm -rf "/var/run/dpdk/${P}tp"
}

# start_peer NAME / stop_peer: 0 when up; 1 with the reason on stderr (the
# half-started peer already removed).
start_peer() {
    local r=0
    PEER=$1
    case $1 in
        ovs-afxdp) start_ovs afxdp || r=1 ;;
        ovs-tso) start_ovs tso || r=1 ;;
        ovs-maxsleep) start_ovs maxsleep || r=1 ;;
        testpmd) start_testpmd || r=1 ;;
    esac
    if [ $r -ne 0 ]; then
        [ -f "$DIR/ovs/ovs-vswitchd.log" ] && grep -E '\|(ERR|EMER|WARN)\|' "$DIR/ovs/ovs-vswitchd.log" | tail -3 | sed 's/^/    /' >&2
        stop_peer
    fi
    return $r
}
stop_peer() {
    case $PEER in
        ovs-*) stop_ovs ;;
        testpmd) stop_testpmd ;;
    esac
    PEER=
}

peers_cleanup() { [ -n "$PEER" ] && stop_peer; PEER=; }
