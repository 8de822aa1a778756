//! `stats.show` in the Prometheus text exposition format. Metric names are
//! stable: `vswitch_port_rx_packets_total{port="vm1"}` and so on.

use serde_json::Value;
use std::fmt::Write;

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Renders the JSON of `stats.show` as Prometheus text.
pub fn render(stats: &Value) -> String {
    let mut out = String::new();
    let ports = stats["ports"].as_object().cloned().unwrap_or_default();
    for (key, help) in [
        ("rx_packets", "Frames received on a port."),
        ("rx_bytes", "Bytes received on a port."),
        (
            "rx_dropped",
            "Received frames dropped (see vswitch_drops_total for why).",
        ),
        ("tx_packets", "Frames transmitted on a port."),
        ("tx_bytes", "Bytes transmitted on a port."),
        ("tx_dropped", "Frames for a port dropped at output."),
    ] {
        let name = format!("vswitch_port_{key}_total");
        family(&mut out, &name, "counter", help);
        for (port, v) in &ports {
            let _ = writeln!(
                out,
                "{name}{{port=\"{}\"}} {}",
                escape(port),
                v[key].as_u64().unwrap_or(0)
            );
        }
    }
    for key in [
        "rx_dropped",
        "rx_ring_full",
        "rx_fill_ring_empty_descs",
        "rx_invalid_descs",
        "tx_invalid_descs",
        "tx_ring_empty_descs",
    ] {
        let name = format!("vswitch_port_kernel_{key}_total");
        family(
            &mut out,
            &name,
            "counter",
            "Kernel AF_XDP ring counter (XDP_STATISTICS), summed over the port's sockets.",
        );
        for (port, v) in &ports {
            let _ = writeln!(
                out,
                "{name}{{port=\"{}\"}} {}",
                escape(port),
                v["kernel"][key].as_u64().unwrap_or(0)
            );
        }
    }
    family(
        &mut out,
        "vswitch_drops_total",
        "counter",
        "Frames (or output copies) dropped, by reason.",
    );
    if let Some(drops) = stats["drops"].as_object() {
        for (reason, n) in drops {
            let _ = writeln!(
                out,
                "vswitch_drops_total{{reason=\"{}\"}} {}",
                escape(reason),
                n.as_u64().unwrap_or(0)
            );
        }
    }
    family(
        &mut out,
        "vswitch_events_total",
        "counter",
        "Engine events (unicast, flood, learning, hand-off), by kind.",
    );
    if let Some(events) = stats["events"].as_object() {
        for (event, n) in events {
            let _ = writeln!(
                out,
                "vswitch_events_total{{event=\"{}\"}} {}",
                escape(event),
                n.as_u64().unwrap_or(0)
            );
        }
    }
    let workers = stats["workers"].as_array().cloned().unwrap_or_default();
    family(
        &mut out,
        "vswitch_worker_busy_seconds_total",
        "counter",
        "Time a worker spent in loop iterations that did work.",
    );
    for w in &workers {
        let _ = writeln!(
            out,
            "vswitch_worker_busy_seconds_total{{worker=\"{}\",cpu=\"{}\"}} {}",
            w["index"],
            w["cpu"],
            w["busy_ns"].as_u64().unwrap_or(0) as f64 / 1e9
        );
    }
    family(
        &mut out,
        "vswitch_worker_seconds_total",
        "counter",
        "Time since a worker started (busy, polling or asleep).",
    );
    for w in &workers {
        let _ = writeln!(
            out,
            "vswitch_worker_seconds_total{{worker=\"{}\",cpu=\"{}\"}} {}",
            w["index"],
            w["cpu"],
            w["total_ns"].as_u64().unwrap_or(0) as f64 / 1e9
        );
    }
    family(
        &mut out,
        "vswitch_worker_rx_packets_total",
        "counter",
        "Frames a worker received.",
    );
    for w in &workers {
        let _ = writeln!(
            out,
            "vswitch_worker_rx_packets_total{{worker=\"{}\",cpu=\"{}\"}} {}",
            w["index"],
            w["cpu"],
            w["packets"].as_u64().unwrap_or(0)
        );
    }
    family(
        &mut out,
        "vswitch_fdb_entries",
        "gauge",
        "MAC table entries.",
    );
    let _ = writeln!(
        out,
        "vswitch_fdb_entries {}",
        stats["fdb"]["entries"].as_u64().unwrap_or(0)
    );
    family(
        &mut out,
        "vswitch_fdb_capacity",
        "gauge",
        "MAC table capacity.",
    );
    let _ = writeln!(
        out,
        "vswitch_fdb_capacity {}",
        stats["fdb"]["capacity"].as_u64().unwrap_or(0)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_families_and_labels() {
        let s = json!({
            "ports": {"vm\"1": {"rx_packets": 5, "tx_bytes": 9, "kernel": {"rx_ring_full": 2}}},
            "drops": {"runt": 3},
            "events": {"flood": 4},
            "workers": [{"index": 0, "cpu": 1, "busy_ns": 1_500_000_000u64, "total_ns": 3_000_000_000u64, "packets": 7}],
            "fdb": {"entries": 1, "capacity": 64},
        });
        let t = render(&s);
        assert!(t.contains("# TYPE vswitch_port_rx_packets_total counter"));
        assert!(t.contains("vswitch_port_rx_packets_total{port=\"vm\\\"1\"} 5"));
        assert!(t.contains("vswitch_port_kernel_rx_ring_full_total{port=\"vm\\\"1\"} 2"));
        assert!(t.contains("vswitch_drops_total{reason=\"runt\"} 3"));
        assert!(t.contains("vswitch_events_total{event=\"flood\"} 4"));
        assert!(t.contains("vswitch_worker_busy_seconds_total{worker=\"0\",cpu=\"1\"} 1.5"));
        assert!(t.contains("vswitch_fdb_entries 1"));
        for line in t.lines().filter(|l| !l.starts_with('#')) {
            assert_eq!(line.split(' ').count(), 2, "sample line {line:?}");
        }
    }
}
