//! `stats.show` in the Prometheus text exposition format. Metric names are
//! stable: `vswitch_port_rx_packets_total{port="vm1"}` and so on.

use std::fmt::Write;

use super::results::{KernelCounters, PortCounters, PortStats, Stats, WorkerLoad};

pub(super) fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub(super) fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Reads one sample's value from a typed result.
type Read<T, V> = fn(&T) -> V;
/// A metric family: (name or name part, help, value).
type Family<'a, T, V> = (&'a str, &'a str, Read<T, V>);

/// Renders `stats.show`'s result as Prometheus text.
pub fn render(stats: &Stats) -> String {
    let mut out = String::new();
    let port_families: [Family<PortCounters, u64>; 6] = [
        ("rx_packets", "Frames received on a port.", |c| c.rx_packets),
        ("rx_bytes", "Bytes received on a port.", |c| c.rx_bytes),
        (
            "rx_dropped",
            "Received frames dropped (see vswitch_drops_total for why).",
            |c| c.rx_dropped,
        ),
        ("tx_packets", "Frames transmitted on a port.", |c| {
            c.tx_packets
        }),
        ("tx_bytes", "Bytes transmitted on a port.", |c| c.tx_bytes),
        ("tx_dropped", "Frames for a port dropped at output.", |c| {
            c.tx_dropped
        }),
    ];
    for (key, help, value) in port_families {
        let name = format!("vswitch_port_{key}_total");
        family(&mut out, &name, "counter", help);
        for (port, p) in &stats.ports {
            let _ = writeln!(
                out,
                "{name}{{port=\"{}\"}} {}",
                escape(port),
                value(&p.counters)
            );
        }
    }
    let kernel_families: [(&str, Read<KernelCounters, u64>); 6] = [
        ("rx_dropped", |k| k.rx_dropped),
        ("rx_ring_full", |k| k.rx_ring_full),
        ("rx_fill_ring_empty_descs", |k| k.rx_fill_ring_empty_descs),
        ("rx_invalid_descs", |k| k.rx_invalid_descs),
        ("tx_invalid_descs", |k| k.tx_invalid_descs),
        ("tx_ring_empty_descs", |k| k.tx_ring_empty_descs),
    ];
    for (key, value) in kernel_families {
        let name = format!("vswitch_port_kernel_{key}_total");
        family(
            &mut out,
            &name,
            "counter",
            "Kernel AF_XDP ring counter (XDP_STATISTICS), summed over the port's sockets.",
        );
        for (port, p) in &stats.ports {
            let _ = writeln!(
                out,
                "{name}{{port=\"{}\"}} {}",
                escape(port),
                p.kernel.as_ref().map_or(0, value)
            );
        }
    }
    family(
        &mut out,
        "vswitch_port_link_up",
        "gauge",
        "1 when a port's interface is up, 0 when it is down or absent.",
    );
    for (port, p) in &stats.ports {
        let _ = writeln!(
            out,
            "vswitch_port_link_up{{port=\"{}\"}} {}",
            escape(port),
            u8::from(p.link == "up")
        );
    }
    family(
        &mut out,
        "vswitch_port_mtu",
        "gauge",
        "A port's interface MTU now.",
    );
    for (port, p) in &stats.ports {
        let _ = writeln!(
            out,
            "vswitch_port_mtu{{port=\"{}\"}} {}",
            escape(port),
            p.mtu
        );
    }
    family(
        &mut out,
        "vswitch_drops_total",
        "counter",
        "Frames (or output copies) dropped, by reason.",
    );
    for (reason, n) in &stats.drops {
        let _ = writeln!(
            out,
            "vswitch_drops_total{{reason=\"{}\"}} {n}",
            escape(reason)
        );
    }
    family(
        &mut out,
        "vswitch_events_total",
        "counter",
        "Engine events (unicast, flood, learning, hand-off), by kind.",
    );
    for (event, n) in &stats.events {
        let _ = writeln!(
            out,
            "vswitch_events_total{{event=\"{}\"}} {n}",
            escape(event)
        );
    }
    super::prometheus_mirror::render(&mut out, &stats.mirrors);
    let worker_families: [Family<WorkerLoad, String>; 6] = [
        (
            "vswitch_worker_busy_seconds_total",
            "Time a worker spent in loop iterations that did work.",
            |w| (w.busy_ns as f64 / 1e9).to_string(),
        ),
        (
            "vswitch_worker_seconds_total",
            "Time since a worker started (busy, polling or asleep).",
            |w| (w.total_ns as f64 / 1e9).to_string(),
        ),
        (
            "vswitch_worker_rx_packets_total",
            "Frames a worker received.",
            |w| w.packets.to_string(),
        ),
        (
            "vswitch_worker_rx_batches_total",
            "Socket receive calls of a worker that returned frames.",
            |w| w.batches.to_string(),
        ),
        (
            "vswitch_worker_asleep_seconds_total",
            "Time a worker spent napping or asleep in poll(2).",
            |w| (w.asleep_ns as f64 / 1e9).to_string(),
        ),
        (
            "vswitch_worker_wakeups_total",
            "Naps and sleeps a worker ended.",
            |w| w.wakeups.to_string(),
        ),
    ];
    for (name, help, value) in worker_families {
        family(&mut out, name, "counter", help);
        for w in &stats.workers {
            let _ = writeln!(
                out,
                "{name}{{worker=\"{}\",cpu=\"{}\"}} {}",
                w.index,
                w.cpu,
                value(w)
            );
        }
    }
    family(
        &mut out,
        "vswitch_fdb_entries",
        "gauge",
        "MAC table entries.",
    );
    let _ = writeln!(out, "vswitch_fdb_entries {}", stats.fdb.entries);
    family(
        &mut out,
        "vswitch_fdb_capacity",
        "gauge",
        "MAC table capacity.",
    );
    let _ = writeln!(out, "vswitch_fdb_capacity {}", stats.fdb.capacity);
    family(
        &mut out,
        "vswitch_fdb_mac_flaps_total",
        "counter",
        "MAC flapping episodes seen by the move guard.",
    );
    let _ = writeln!(out, "vswitch_fdb_mac_flaps_total {}", stats.fdb.mac_flaps);
    let policy_families: [(&str, &str, Read<PortStats, u64>); 2] = [
        (
            "vswitch_port_macs",
            "Dynamic MAC entries counted for a port (what max_macs is checked against).",
            |p| p.macs as u64,
        ),
        (
            "vswitch_port_learning_held",
            "1 while the MAC move guard holds a port's learning down.",
            |p| p.learning_held as u64,
        ),
    ];
    for (name, help, value) in policy_families {
        family(&mut out, name, "gauge", help);
        for (port, p) in &stats.ports {
            let _ = writeln!(out, "{name}{{port=\"{}\"}} {}", escape(port), value(p));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_families_and_labels() {
        let s: Stats = serde_json::from_value(json!({
            "uptime_secs": 2.0,
            "ports": {"vm\"1": {"rx_packets": 5, "rx_bytes": 0, "rx_dropped": 0,
                "tx_packets": 0, "tx_bytes": 9, "tx_dropped": 0,
                "kernel": {"rx_dropped": 0, "rx_invalid_descs": 0, "tx_invalid_descs": 0,
                    "rx_ring_full": 2, "rx_fill_ring_empty_descs": 0, "tx_ring_empty_descs": 0},
                "link": "down", "mtu": 1400}},
            "drops": {"runt": 3},
            "events": {"flood": 4},
            "workers": [{"index": 0, "cpu": 1, "busy_ns": 1_500_000_000u64,
                "total_ns": 3_000_000_000u64, "packets": 7, "busy_pct": 50.0, "ns_per_packet": 1.0}],
            "fdb": {"entries": 1, "capacity": 64},
        }))
        .unwrap();
        let t = render(&s);
        assert!(t.contains("# TYPE vswitch_port_rx_packets_total counter"));
        assert!(t.contains("vswitch_port_rx_packets_total{port=\"vm\\\"1\"} 5"));
        assert!(t.contains("vswitch_port_kernel_rx_ring_full_total{port=\"vm\\\"1\"} 2"));
        assert!(t.contains("vswitch_drops_total{reason=\"runt\"} 3"));
        assert!(t.contains("vswitch_port_link_up{port=\"vm\\\"1\"} 0"));
        assert!(t.contains("vswitch_port_mtu{port=\"vm\\\"1\"} 1400"));
        assert!(t.contains("vswitch_events_total{event=\"flood\"} 4"));
        assert!(t.contains("vswitch_worker_busy_seconds_total{worker=\"0\",cpu=\"1\"} 1.5"));
        assert!(t.contains("vswitch_fdb_entries 1"));
        assert!(t.contains("vswitch_fdb_mac_flaps_total 0"));
        assert!(t.contains("vswitch_port_macs{port=\"vm\\\"1\"} 0"));
        for line in t.lines().filter(|l| !l.starts_with('#')) {
            assert_eq!(line.split(' ').count(), 2, "sample line {line:?}");
        }
    }
}
