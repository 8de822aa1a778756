//! The markdown report and the goals of the benchmark (README.md's
//! "Benchmark" section), judged from the medians and spreads of one run.

use std::fmt::Write;

use crate::data::{busy_polls, is_vswitchd, label, Report, Stat};

/// "MED (MIN–MAX)" with `prec` decimals, "–" without data.
pub fn fmt(s: Option<Stat>, prec: usize) -> String {
    match s {
        Some(s) if s.n > 1 => format!("{:.p$} ({:.p$}–{:.p$})", s.med, s.min, s.max, p = prec),
        Some(s) => format!("{:.p$}", s.med, p = prec),
        None => "–".into(),
    }
}

fn med(s: Option<Stat>, prec: usize) -> String {
    s.map_or_else(|| "–".into(), |s| format!("{:.p$}", s.med, p = prec))
}

/// One goal: met (Some(true)), missed (Some(false)) or not measured (None).
pub struct Goal {
    pub name: String,
    pub met: Option<bool>,
    pub detail: String,
}

/// At least the other's median, or within the two runs' spread (the
/// min–max ranges overlap).
fn at_least(a: Stat, b: Stat) -> bool {
    a.med >= b.med || a.max >= b.min
}

/// The best of `peers` by `key` (largest median, or smallest with `low`).
fn best<'a>(
    peers: impl Iterator<Item = &'a String>,
    key: impl Fn(&str) -> Option<Stat>,
    low: bool,
) -> Option<(String, Stat)> {
    peers
        .filter_map(|p| Some((p.clone(), key(p)?)))
        .max_by(|a, b| {
            let o = a.1.med.total_cmp(&b.1.med);
            if low {
                o.reverse()
            } else {
                o
            }
        })
}

fn switches(r: &Report) -> impl Iterator<Item = &String> {
    r.peers.iter().filter(|p| *p != "bare")
}

pub fn goals(r: &Report) -> Vec<Goal> {
    let mut out = Vec::new();
    let vs = || switches(r).filter(|p| is_vswitchd(p));
    let others = || switches(r).filter(|p| !is_vswitchd(p));

    // 1. Throughput at every frame size and every fixed rate.
    let mut met = None;
    let mut detail = Vec::new();
    for size in r.sizes() {
        let key = |p: &str| r.udp_at(p, size).and_then(|u| u.delivered_mpps);
        if let (Some((v, a)), Some((o, b))) = (best(vs(), key, false), best(others(), key, false)) {
            let ok = at_least(a, b);
            met = Some(met.unwrap_or(true) && ok);
            detail.push(format!(
                "{size} B: {} {:.3} vs {} {:.3} Mpps{}",
                label(&v),
                a.med,
                o,
                b.med,
                if ok { "" } else { " (short)" }
            ));
        }
    }
    let pcts: Vec<u32> = {
        let mut p: Vec<u32> = r.rate.iter().map(|x| x.pct).collect();
        p.sort_unstable();
        p.dedup();
        p
    };
    for &pct in &pcts {
        let key = |p: &str| {
            r.rate
                .iter()
                .find(|x| x.peer == p && x.pct == pct)
                .and_then(|x| x.delivered_ratio)
        };
        if let (Some((v, a)), Some((o, b))) = (best(vs(), key, false), best(others(), key, false)) {
            let ok = at_least(a, b);
            met = Some(met.unwrap_or(true) && ok);
            detail.push(format!(
                "{pct} % rate: {} delivers {:.2} % vs {} {:.2} %{}",
                label(&v),
                100.0 * a.med,
                o,
                100.0 * b.med,
                if ok { "" } else { " (short)" }
            ));
        }
    }
    out.push(Goal {
        name: "UDP: vswitchd's median at least the best peer's (within the run's spread) at every frame size and fixed rate".into(),
        met,
        detail: detail.join("; "),
    });

    // 2. CPU per packet at fixed rates: at most half of busy-polling OVS.
    let mut met = None;
    let mut detail = Vec::new();
    for &pct in &pcts {
        let key = |p: &str| {
            r.rate
                .iter()
                .find(|x| x.peer == p && x.pct == pct)
                .and_then(|x| x.cpu_ns)
        };
        let ovs = key("ovs-afxdp");
        if let (Some((v, a)), Some(b)) = (best(vs(), key, true), ovs) {
            let ok = a.med <= b.med / 2.0;
            met = Some(met.unwrap_or(true) && ok);
            detail.push(format!(
                "{pct} %: {} {:.0} ns vs ovs-afxdp {:.0} ns per packet ({:.2}×)",
                label(&v),
                a.med,
                b.med,
                a.med / b.med
            ));
        }
    }
    out.push(Goal {
        name: "Fixed rates: vswitchd's CPU time per packet at most half of busy-polling OVS's"
            .into(),
        met,
        detail: detail.join("; "),
    });

    // 3. Idle CPU.
    let idle: Vec<(String, Stat)> = r
        .idle
        .iter()
        .filter(|(p, _)| is_vswitchd(p))
        .filter_map(|(p, s)| Some((p.clone(), (*s)?)))
        .collect();
    out.push(Goal {
        name: "Idle: vswitchd under 1 % of a core".into(),
        met: (!idle.is_empty()).then(|| idle.iter().all(|(_, s)| s.med < 1.0)),
        detail: idle
            .iter()
            .map(|(p, s)| format!("{} {:.2} %", label(p), s.med))
            .collect::<Vec<_>>()
            .join("; "),
    });

    // 4. p99 latency at the lowest fixed rate.
    let lat: Vec<(String, Stat)> = pcts
        .first()
        .map(|&pct| {
            r.rate
                .iter()
                .filter(|x| x.pct == pct && is_vswitchd(&x.peer))
                .filter_map(|x| Some((x.peer.clone(), x.p99?)))
                .collect()
        })
        .unwrap_or_default();
    out.push(Goal {
        name: format!(
            "Latency: vswitchd's p99 at {} % load under 50 µs",
            pcts.first().copied().unwrap_or(10)
        ),
        met: (!lat.is_empty()).then(|| lat.iter().all(|(_, s)| s.med < 50.0)),
        detail: lat
            .iter()
            .map(|(p, s)| format!("{} {:.1} µs", label(p), s.med))
            .collect::<Vec<_>>()
            .join("; "),
    });

    // 5. TCP: at least every peer, every case.
    let mut met = None;
    let mut detail = Vec::new();
    let mut cases: Vec<(u32, u32, String)> = r
        .tcp
        .iter()
        .map(|t| (t.mtu, t.streams, t.offloads.clone()))
        .collect();
    cases.dedup();
    for (mtu, streams, off) in cases {
        let key = |p: &str| {
            r.tcp
                .iter()
                .find(|t| t.mtu == mtu && t.streams == streams && t.offloads == off && t.peer == p)
                .and_then(|t| t.gbps)
        };
        if let (Some((v, a)), Some((o, b))) = (best(vs(), key, false), best(others(), key, false)) {
            let ok = at_least(a, b);
            met = Some(met.unwrap_or(true) && ok);
            detail.push(format!(
                "MTU {mtu} {streams}× {off}: {} {:.2} vs {} {:.2} Gbit/s{}",
                label(&v),
                a.med,
                o,
                b.med,
                if ok { "" } else { " (short)" }
            ));
        }
    }
    out.push(Goal {
        name: "TCP: vswitchd at least every peer (within the run's spread)".into(),
        met,
        detail: detail.join("; "),
    });
    out
}

fn table(md: &mut String, header: &[String], rows: &[Vec<String>]) {
    let _ = writeln!(md, "| {} |", header.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(header.len()));
    for row in rows {
        let _ = writeln!(md, "| {} |", row.join(" | "));
    }
    md.push('\n');
}

fn meta<'a>(r: &'a Report, key: &str) -> &'a str {
    r.meta
        .iter()
        .find(|(k, _)| k == key)
        .map_or("?", |(_, v)| v.as_str())
}

/// The headline table: one row per path, the figures a reader compares.
pub fn summary(r: &Report) -> String {
    let mut md = String::new();
    let sizes = r.sizes();
    let (small, large) = (sizes.first().copied(), sizes.last().copied());
    let pcts: Vec<u32> = {
        let mut p: Vec<u32> = r.rate.iter().map(|x| x.pct).collect();
        p.sort_unstable();
        p.dedup();
        p
    };
    let mut header = vec!["path".to_owned()];
    if let Some(s) = small {
        header.push(format!("{s} B Mpps"));
    }
    if let Some(s) = large {
        header.push(format!("{s} B Gbit/s"));
    }
    for p in &pcts {
        header.push(format!("CPU ns/pkt @{p} %"));
    }
    if let Some(p) = pcts.first() {
        header.push(format!("p99 µs @{p} %"));
    }
    header.push("idle % core".into());
    let first_tcp = r
        .tcp
        .first()
        .map(|t| (t.mtu, t.streams, t.offloads.clone()));
    if let Some((m, s, o)) = &first_tcp {
        header.push(format!("TCP Gbit/s ({s}×, MTU {m}, offloads {o})"));
    }
    let mut rows = Vec::new();
    for p in &r.peers {
        let mut row = vec![label(p)];
        if let Some(s) = small {
            row.push(fmt(r.udp_at(p, s).and_then(|u| u.delivered_mpps), 3));
        }
        if let Some(s) = large {
            row.push(fmt(r.udp_at(p, s).and_then(|u| u.gbps), 2));
        }
        let rate = |pct: u32| r.rate.iter().find(|x| &x.peer == p && x.pct == pct);
        for &pct in &pcts {
            row.push(med(rate(pct).and_then(|x| x.cpu_ns), 0));
        }
        if let Some(&pct) = pcts.first() {
            row.push(fmt(rate(pct).and_then(|x| x.p99), 1));
        }
        row.push(med(
            r.idle.iter().find(|(q, _)| q == p).and_then(|x| x.1),
            2,
        ));
        if let Some((m, s, o)) = &first_tcp {
            let t = r
                .tcp
                .iter()
                .find(|t| &t.peer == p && t.mtu == *m && t.streams == *s && &t.offloads == o);
            row.push(match t {
                Some(t) if t.gbps.is_some() => fmt(t.gbps, 2),
                Some(t) => format!("FAILED: {}", t.error.as_deref().unwrap_or("?")),
                None => "–".into(),
            });
        }
        if r.fails.contains_key(p) && row[1..].iter().all(|c| c == "–" || c.starts_with("FAILED"))
        {
            row[0] = format!("{} (failed to start)", row[0]);
        }
        rows.push(row);
    }
    table(&mut md, &header, &rows);
    md
}

const START: &str = "<!-- bench-summary:start -->";
const END: &str = "<!-- bench-summary:end -->";

/// `text` with what stands between the summary markers replaced by `table`.
pub fn splice(text: &str, table: &str) -> Option<String> {
    let a = text.find(START)? + START.len();
    let b = a + text[a..].find(END)?;
    Some(format!(
        "{}\n\n{}\n{}",
        &text[..a],
        table.trim_end(),
        &text[b..]
    ))
}

/// What bounds the figures on the lab's boxes (README.md, "Benchmarks").
const NOTES: &str = "## What limits these figures\n\n\
- Two CPUs: the generator (or iperf3's both ends) on CPU 0, the switch on CPU 1. Every AF_XDP switch on veth \
  runs in copy mode, and the copy into the receiving socket runs on the sender's CPU, so flat-out figures are \
  bounded by what CPU 0 can offer (compare `bare`): read them together with offered rate and CPU per packet.\n\
- On this kernel (no IRQ time accounting) the veth transmit and the receiver's stack run inside the switch's \
  `sendto()`/`sendmmsg()` and are charged to the switch process: CPU per packet includes the receiver's work.\n\
- The Linux bridge forwards in softirq on the sender's CPU: it has no process to charge, hence no CPU figure.\n\
- Busy-polling peers (OVS PMD threads on AF_XDP ports, testpmd) spend a core whatever the load; their CPU \
  per packet at a fixed rate is the core divided by the rate.\n\
- With the endpoints' default offloads, frames reach an AF_XDP port with partial checksums; a switch that \
  forwards them unchanged (OVS AF_XDP ports, testpmd) delivers TCP segments the receiver drops, so those cases \
  fail. The paced-UDP sender sends UDP without a checksum (SO_NO_CHECK; endpoints keep their default offloads) so that every peer can be measured.\n\
- The box is shared: other builds and tests ran beside this benchmark, so figures move between runs; the \
  min–max spread shows how much.\n\n";

pub fn markdown(r: &Report) -> String {
    let mut md = String::new();
    md.push_str("# vswitchd against its peers\n\n");
    md.push_str("Generated by `scripts/bench` (benches/report) from the raw rows in `raw/`; never edited by hand. ");
    md.push_str(
        "Every figure is the median over the run's repeats, with min–max in parentheses.\n\n",
    );
    md.push_str("## Setup\n\n");
    let rows: Vec<Vec<String>> = r
        .meta
        .iter()
        .filter(|(k, _)| k != "peers")
        .map(|(k, v)| vec![k.clone(), v.replace('|', "\\|")])
        .collect();
    table(&mut md, &["what".into(), "value".into()], &rows);

    md.push_str("## Summary\n\n");
    md.push_str(&summary(r));
    let _ = writeln!(
        md,
        "CPU is the switch process's (all threads, the scheduler's clock) per delivered packet; the Linux bridge \
         forwards in softirq on the sender's CPU, where no process is charged, so it has none. Busy-polling peers \
         ({}) spend a core whatever the load.\n",
        r.peers
            .iter()
            .filter(|p| busy_polls(p))
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );

    md.push_str("## Goals\n\n");
    let rows: Vec<Vec<String>> = goals(r)
        .into_iter()
        .map(|g| {
            vec![
                g.name,
                match g.met {
                    Some(true) => "met".into(),
                    Some(false) => "**not met**".into(),
                    None => "not measured".into(),
                },
                g.detail,
            ]
        })
        .collect();
    table(
        &mut md,
        &["goal".into(), "result".into(), "figures".into()],
        &rows,
    );

    let sizes = r.sizes();
    if !sizes.is_empty() {
        md.push_str(&format!(
            "## UDP flat out\n\ntrafgen on CPU 0 offers frames of each size (bytes on the wire, FCS included) as fast as it can; \
             {}.\n\n",
            meta(r, "udp")
        ));
        let header: Vec<String> = std::iter::once("path".to_owned())
            .chain(sizes.iter().map(|s| format!("{s} B")))
            .collect();
        type Metric = (
            &'static str,
            fn(&crate::data::UdpPoint) -> Option<Stat>,
            usize,
        );
        let metrics: [Metric; 5] = [
            ("Delivered Mpps", |u| u.delivered_mpps, 3),
            ("Offered Mpps", |u| u.offered_mpps, 3),
            ("Delivered Gbit/s", |u| u.gbps, 2),
            ("Loss %", |u| u.loss_pct, 1),
            ("Switch CPU ns per delivered packet", |u| u.cpu_ns, 0),
        ];
        for (name, f, prec) in metrics {
            let _ = writeln!(md, "### {name}\n");
            let rows: Vec<Vec<String>> = r
                .peers
                .iter()
                .map(|p| {
                    std::iter::once(label(p))
                        .chain(sizes.iter().map(|&s| match r.udp_at(p, s) {
                            Some(u) if u.delivered_mpps.is_none() => "FAILED".into(),
                            Some(u) => fmt(f(u), prec),
                            None => "–".into(),
                        }))
                        .collect()
                })
                .collect();
            table(&mut md, &header, &rows);
        }
    }

    if !r.rate.is_empty() {
        let _ = writeln!(
            md,
            "## Fixed rates and latency\n\n`latency send` paces 24-byte UDP datagrams (66-byte frames) at a share of the \
             generator's maximum ({}); the sink takes the kernel's receive time and checks sequence numbers \
             (lost, reordered). Each path first sits idle for the idle figure.\n",
            meta(r, "rate")
        );
        let header: Vec<String> = [
            "path",
            "load",
            "offered/s",
            "delivered %",
            "lost",
            "reordered",
            "p50 µs",
            "p99 µs",
            "p99.9 µs",
            "CPU ns/pkt",
            "CPU % core",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let mut rows = Vec::new();
        for p in &r.peers {
            for x in r.rate.iter().filter(|x| &x.peer == p) {
                let failed = x.p50.is_none();
                rows.push(vec![
                    label(p),
                    format!("{} %", x.pct),
                    format!("{:.0}", x.rate),
                    if failed {
                        "FAILED".into()
                    } else {
                        fmt(x.delivered_ratio.map(|s| s.scale(100.0)), 2)
                    },
                    fmt(x.lost, 0),
                    fmt(x.reordered, 0),
                    fmt(x.p50, 1),
                    fmt(x.p99, 1),
                    fmt(x.p999, 1),
                    fmt(x.cpu_ns, 0),
                    fmt(x.cpu_pct, 1),
                ]);
            }
        }
        table(&mut md, &header, &rows);
        md.push_str("### Idle\n\n");
        let rows: Vec<Vec<String>> = r
            .idle
            .iter()
            .map(|(p, s)| vec![label(p), fmt(*s, 2)])
            .collect();
        table(
            &mut md,
            &["path".into(), "CPU % of a core, no traffic".into()],
            &rows,
        );
    }

    if !r.tcp.is_empty() {
        let _ = writeln!(
            md,
            "## TCP\n\niperf3 (both ends on CPU 0), `benches/e2e/run.sh tcp` per MTU; {}. \
             Offloads off = `ethtool -K eth0 tx off` in both hosts.\n",
            meta(r, "tcp")
        );
        let mut cases: Vec<(u32, u32, String)> = r
            .tcp
            .iter()
            .map(|t| (t.mtu, t.streams, t.offloads.clone()))
            .collect();
        cases.dedup();
        let header: Vec<String> = std::iter::once("path".to_owned())
            .chain(cases.iter().map(|(m, s, o)| format!("MTU {m}, {s}×, {o}")))
            .collect();
        let cell =
            |p: &str, c: &(u32, u32, String), f: &dyn Fn(&crate::data::TcpPoint) -> String| {
                r.tcp
                    .iter()
                    .find(|t| t.peer == p && t.mtu == c.0 && t.streams == c.1 && t.offloads == c.2)
                    .map_or_else(|| "–".into(), f)
            };
        for (name, f) in [
            (
                "Gbit/s",
                &(|t: &crate::data::TcpPoint| match (t.gbps, &t.error) {
                    (Some(g), Some(e)) => format!(
                        "{} ({}/{} runs; failed: {e})",
                        fmt(Some(g), 2),
                        t.runs_ok,
                        t.runs
                    ),
                    (Some(g), None) => fmt(Some(g), 2),
                    (None, e) => format!("FAILED: {}", e.as_deref().unwrap_or("?")),
                }) as &dyn Fn(&crate::data::TcpPoint) -> String,
            ),
            ("Retransmits", &|t: &crate::data::TcpPoint| {
                fmt(t.retrans, 0)
            }),
            ("Switch CPU s per GB", &|t: &crate::data::TcpPoint| {
                fmt(t.cpu_s_per_gb, 2)
            }),
        ] {
            let _ = writeln!(md, "### {name}\n");
            let rows: Vec<Vec<String>> = r
                .peers
                .iter()
                .map(|p| {
                    std::iter::once(label(p))
                        .chain(cases.iter().map(|c| cell(p, c, f).replace('|', "/")))
                        .collect()
                })
                .collect();
            table(&mut md, &header, &rows);
        }
    }

    if !r.promisc.is_empty() {
        let _ = writeln!(
            md,
            "## The promiscuous lab\n\n8 ports in one VLAN, every host promiscuous; h1 streams to h2 ({}). \
             `flood`: vswitchd with every port `promiscuous = true`, the bridge as a hub (ageing 0); \
             `learn`: both as they come. Copies are frames h3..h8 received that were meant for h2.\n",
            meta(r, "promisc")
        );
        let header: Vec<String> = [
            "switch",
            "config",
            "sent",
            "to h2",
            "copies to others",
            "switch CPU ns per sent",
            "both CPUs busy ns per sent",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let rows: Vec<Vec<String>> = r
            .promisc
            .iter()
            .map(|p| {
                if p.sent.is_none() {
                    let mut row = vec![p.switch.clone(), p.config.clone()];
                    row.push(format!("FAILED: {}", p.error.as_deref().unwrap_or("?")));
                    row.extend(std::iter::repeat_n("–".to_owned(), 4));
                    return row;
                }
                vec![
                    p.switch.clone(),
                    p.config.clone(),
                    fmt(p.sent, 0),
                    fmt(p.dest, 0),
                    fmt(p.copies, 0),
                    fmt(p.switch_cpu_ns_per_sent, 0),
                    fmt(p.system_busy_ns_per_sent, 0),
                ]
            })
            .collect();
        table(&mut md, &header, &rows);
        for sw in ["vswitchd", "bridge"] {
            let get = |c: &str| r.promisc.iter().find(|p| p.switch == sw && p.config == c);
            let (Some(f), Some(l)) = (get("flood"), get("learn")) else {
                continue;
            };
            let (Some(fc), Some(lc), Some(sent)) = (f.copies, l.copies, f.sent) else {
                continue;
            };
            let extra = fc.med - lc.med;
            if extra <= 0.0 {
                continue;
            }
            // The switch's own CPU where it has a process; the bridge's
            // work is softirq, seen only in both CPUs' busy time (which
            // other work on a shared box blurs).
            let (cost, whose) = match (f.switch_cpu_ns_per_sent, l.switch_cpu_ns_per_sent) {
                (Some(a), Some(b)) => (a.med - b.med, "the switch's CPU"),
                _ => match (f.system_busy_ns_per_sent, l.system_busy_ns_per_sent) {
                    (Some(a), Some(b)) => (a.med - b.med, "both CPUs' busy time"),
                    _ => continue,
                },
            };
            if cost <= 0.0 {
                let _ = writeln!(
                    md,
                    "- {sw}: flooding delivers {:.0} copies per run that learning does not ({:.1} per sent packet); \
                     {whose} shows no measurable growth (other work on the shared box fills both CPUs).",
                    extra,
                    extra / sent.med
                );
                continue;
            }
            let _ = writeln!(
                md,
                "- {sw}: flooding delivers {:.0} copies per run that learning does not ({:.1} per sent packet); \
                 {whose} grows by {:.0} ns per sent packet, {:.0} ns per copy.",
                extra,
                extra / sent.med,
                cost,
                cost * sent.med / extra
            );
        }
        md.push('\n');
    }

    if !r.fails.is_empty() {
        md.push_str("## Peers that failed to start\n\n");
        let rows: Vec<Vec<String>> = r
            .fails
            .iter()
            .map(|(p, why)| vec![label(p), why.replace('|', "/")])
            .collect();
        table(&mut md, &["path".into(), "reason".into()], &rows);
    }

    md.push_str(NOTES);
    md.push_str("## Plots\n\n");
    for (f, what) in [
        ("throughput.svg", "delivered Mpps by frame size"),
        ("cpu_per_packet.svg", "switch CPU per packet at fixed rates"),
        ("tcp.svg", "TCP Gbit/s"),
        ("latency_cdf.svg", "latency CDF"),
    ] {
        let _ = writeln!(md, "![{what}]({f})\n");
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Tsv;

    fn sample() -> Report {
        let mut r = Report::default();
        let udp = "peer\tsize\trun\tstatus\toffered_pps\tdelivered_pps\tcpu_ns_per_pkt\terror\n\
                   bridge\t64\t1\tok\t500000\t200000\t-\t-\n\
                   bridge\t64\t2\tok\t500000\t300000\t-\t-\n\
                   bridge\t64\t3\tok\t500000\t250000\t-\t-\n\
                   afxdp\t64\t1\tok\t500000\t400000\t2000\t-\n\
                   afxdp\t64\t2\tok\t500000\t420000\t2100\t-\n\
                   afxdp\t64\t3\tok\t500000\t410000\t1900\t-\n\
                   testpmd\t64\t1\tfailed\t-\t-\t-\tcould not start\n";
        r.load_udp(&Tsv::parse(udp));
        r.fails.insert("testpmd".into(), "no af_xdp".into());
        r
    }

    #[test]
    fn summary_has_the_medians_and_failures() {
        let r = sample();
        let u = r.udp_at("afxdp", 64).unwrap().delivered_mpps.unwrap();
        assert!(
            (u.med - 0.41).abs() < 1e-9
                && (u.min - 0.4).abs() < 1e-9
                && (u.max - 0.42).abs() < 1e-9
        );
        assert_eq!(u.n, 3);
        let md = summary(&r);
        assert!(
            md.contains("| vswitchd:afxdp | 0.410 (0.400–0.420) | 0.21 (0.20–0.22) |"),
            "{md}"
        );
        assert!(md.contains("| bridge | 0.250 (0.200–0.300) |"), "{md}");
        assert!(md.contains("testpmd (failed to start)"), "{md}");
        // 64-byte frames: 0.41 Mpps * 64 * 8 bits = 0.21 Gbit/s.
        let g = goals(&r);
        assert_eq!(g[0].met, Some(true));
        assert!(
            g[0].detail.contains("vswitchd:afxdp 0.410 vs bridge 0.250"),
            "{}",
            g[0].detail
        );
    }

    #[test]
    fn splice_replaces_between_markers() {
        let t = "a\n<!-- bench-summary:start -->\nold\n<!-- bench-summary:end -->\nb\n";
        let s = splice(t, "| x |\n").unwrap();
        assert_eq!(
            s,
            "a\n<!-- bench-summary:start -->\n\n| x |\n<!-- bench-summary:end -->\nb\n"
        );
        assert_eq!(splice(&s, "| x |\n").unwrap(), s);
        assert!(splice("none", "x").is_none());
    }

    #[test]
    fn tcp_failures_carry_the_reason() {
        let mut r = Report {
            peers: vec!["bridge".into(), "ovs-afxdp".into()],
            ..Report::default()
        };
        let t = "mode\tpath\tstreams\toffloads\trun\tstatus\tgbps\tretransmits\tbytes\tvswitchd_cpu_s\tvswitchd_cpu_s_per_gb\terror\n\
                 tcp\tbridge\t1\tdefault\t1\tok\t15.0\t3\t100\t-\t-\t-\n\
                 tcp\tovs-afxdp\t1\tdefault\t1\tfailed\t-\t-\t-\t-\t-\tno result within 13 s\n";
        r.load_tcp(1500, &Tsv::parse(t));
        let md = summary(&r);
        assert!(md.contains("FAILED: no result within 13 s"), "{md}");
        assert!(
            md.contains("| bridge | – |") || md.contains("| bridge |"),
            "{md}"
        );
    }
}
