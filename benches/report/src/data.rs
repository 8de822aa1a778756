//! Reading the raw rows and reducing repeats to medians with their spread.
//!
//! Raw files (all TSV with a header line; `-` or an empty field is "no
//! value"): `meta.tsv` (key, value), `udp.tsv`, `rate.tsv`, `idle.tsv`,
//! `promisc.tsv`, `fails.tsv` (from `benches/e2e/compare.sh`),
//! `tcp-mtuN.runs.tsv` (from `benches/e2e/run.sh tcp`) and `cdf/PEER-RUN.txt`
//! (the latency sink's percentiles, `PCT US` a line).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

/// Median and min-max of a set of repeats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    pub med: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Stat {
    /// None for an empty set (a peer that never ran).
    pub fn of(values: &[f64]) -> Option<Stat> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let med = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Stat {
            med,
            min: v[0],
            max: v[n - 1],
            n,
        })
    }

    pub fn scale(self, k: f64) -> Stat {
        Stat {
            med: self.med * k,
            min: self.min * k,
            max: self.max * k,
            n: self.n,
        }
    }

    pub fn json(s: Option<Stat>) -> Value {
        match s {
            Some(s) => json!({"median": s.med, "min": s.min, "max": s.max, "runs": s.n}),
            None => Value::Null,
        }
    }
}

/// A TSV file: a header and rows, fields looked up by column name.
#[derive(Default)]
pub struct Tsv {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Tsv {
    pub fn parse(text: &str) -> Tsv {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header = lines
            .next()
            .map(|h| h.split('\t').map(str::to_owned).collect())
            .unwrap_or_default();
        let rows = lines
            .map(|l| l.split('\t').map(str::to_owned).collect())
            .collect();
        Tsv { header, rows }
    }

    fn read(path: &Path) -> Tsv {
        std::fs::read_to_string(path)
            .map(|t| Tsv::parse(&t))
            .unwrap_or_default()
    }

    fn col(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// The rows as maps from column name to field.
    pub fn records(&self) -> Vec<Rec<'_>> {
        self.rows
            .iter()
            .map(|r| Rec { tsv: self, row: r })
            .collect()
    }
}

/// One row of a [`Tsv`].
#[derive(Clone, Copy)]
pub struct Rec<'a> {
    tsv: &'a Tsv,
    row: &'a [String],
}

impl Rec<'_> {
    pub fn s(&self, name: &str) -> &str {
        self.tsv
            .col(name)
            .and_then(|i| self.row.get(i))
            .map_or("", |s| s.as_str())
    }
    pub fn f(&self, name: &str) -> Option<f64> {
        match self.s(name) {
            "" | "-" => None,
            v => v.parse().ok().filter(|x: &f64| x.is_finite()),
        }
    }
    pub fn ok(&self) -> bool {
        self.s("status") == "ok"
    }
}

/// What a path is called in tables: vswitchd's drivers are `vswitchd:DRIVER`.
pub fn label(peer: &str) -> String {
    if is_vswitchd(peer) {
        format!("vswitchd:{peer}")
    } else {
        peer.to_owned()
    }
}

/// vswitchd paths are named by their driver in the harness.
pub fn is_vswitchd(peer: &str) -> bool {
    matches!(peer, "afxdp" | "packet" | "auto")
}

/// Peers that busy-poll: they spend a core whatever the load (OVS's
/// system ports are polled by its main thread, which sleeps in poll()).
pub fn busy_polls(peer: &str) -> bool {
    matches!(peer, "ovs-afxdp" | "testpmd")
}

pub struct UdpPoint {
    pub peer: String,
    pub size: u32,
    pub runs: usize,
    pub offered_mpps: Option<Stat>,
    pub delivered_mpps: Option<Stat>,
    pub gbps: Option<Stat>,
    pub loss_pct: Option<Stat>,
    pub cpu_ns: Option<Stat>,
}

pub struct RatePoint {
    pub peer: String,
    pub pct: u32,
    pub rate: f64,
    pub runs: usize,
    pub delivered_ratio: Option<Stat>,
    pub lost: Option<Stat>,
    pub reordered: Option<Stat>,
    pub p50: Option<Stat>,
    pub p99: Option<Stat>,
    pub p999: Option<Stat>,
    pub cpu_ns: Option<Stat>,
    pub cpu_pct: Option<Stat>,
}

pub struct TcpPoint {
    pub mtu: u32,
    pub streams: u32,
    pub offloads: String,
    pub peer: String,
    pub runs: usize,
    pub runs_ok: usize,
    pub gbps: Option<Stat>,
    pub retrans: Option<Stat>,
    pub cpu_s_per_gb: Option<Stat>,
    pub error: Option<String>,
}

pub struct PromiscPoint {
    pub switch: String,
    pub config: String,
    pub sent: Option<Stat>,
    pub dest: Option<Stat>,
    pub copies: Option<Stat>,
    pub switch_cpu_ns_per_sent: Option<Stat>,
    pub system_busy_ns_per_sent: Option<Stat>,
    pub error: Option<String>,
}

#[derive(Default)]
pub struct Report {
    pub meta: Vec<(String, String)>,
    /// Every path in the order the run named them (bare first).
    pub peers: Vec<String>,
    pub fails: BTreeMap<String, String>,
    pub udp: Vec<UdpPoint>,
    pub rate: Vec<RatePoint>,
    pub idle: Vec<(String, Option<Stat>)>,
    pub tcp: Vec<TcpPoint>,
    pub promisc: Vec<PromiscPoint>,
    /// Per peer: (percentile, µs), each the median over the runs.
    pub cdf: Vec<(String, Vec<(f64, f64)>)>,
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !s.is_empty() && !v.iter().any(|x| x == s) {
        v.push(s.to_owned());
    }
}

fn stat_of<'a>(rows: &[Rec<'a>], f: impl Fn(&Rec<'a>) -> Option<f64>) -> Option<Stat> {
    Stat::of(&rows.iter().filter_map(f).collect::<Vec<_>>())
}

impl Report {
    pub fn load(raw: &Path) -> anyhow::Result<Report> {
        let meta = Tsv::read(&raw.join("meta.tsv"));
        let mut r = Report {
            meta: meta
                .rows
                .iter()
                .filter(|row| row.len() >= 2)
                .map(|row| (row[0].clone(), row[1..].join("\t")))
                .collect(),
            ..Report::default()
        };
        if let Some((_, peers)) = r.meta.iter().find(|(k, _)| k == "peers") {
            let peers = peers.clone();
            push_unique(&mut r.peers, "bare");
            for p in peers.split_whitespace() {
                push_unique(&mut r.peers, p);
            }
        }
        // fails.tsv has no header line (rows are appended by every section).
        let fails = std::fs::read_to_string(raw.join("fails.tsv")).unwrap_or_default();
        for f in Tsv::parse(&format!("mode\tpeer\treason\n{fails}")).rows {
            if let [_, peer, reason, ..] = f.as_slice() {
                r.fails
                    .entry(peer.clone())
                    .or_insert_with(|| reason.clone());
            }
        }
        r.load_udp(&Tsv::read(&raw.join("udp.tsv")));
        r.load_rate(&Tsv::read(&raw.join("rate.tsv")));
        r.load_idle(&Tsv::read(&raw.join("idle.tsv")));
        let mut mtus: Vec<u32> = std::fs::read_dir(raw)
            .map(|d| {
                d.filter_map(|e| {
                    let name = e.ok()?.file_name().into_string().ok()?;
                    name.strip_prefix("tcp-mtu")?
                        .strip_suffix(".runs.tsv")?
                        .parse()
                        .ok()
                })
                .collect()
            })
            .unwrap_or_default();
        mtus.sort_unstable();
        for mtu in mtus {
            r.load_tcp(mtu, &Tsv::read(&raw.join(format!("tcp-mtu{mtu}.runs.tsv"))));
        }
        r.load_promisc(&Tsv::read(&raw.join("promisc.tsv")));
        r.load_cdf(&raw.join("cdf"));
        Ok(r)
    }

    pub fn load_udp(&mut self, t: &Tsv) {
        let recs = t.records();
        let mut keys: Vec<(String, u32)> = Vec::new();
        for rec in &recs {
            push_unique(&mut self.peers, rec.s("peer"));
            let k = (
                rec.s("peer").to_owned(),
                rec.f("size").unwrap_or(0.0) as u32,
            );
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        for (peer, size) in keys {
            let rows: Vec<Rec> = recs
                .iter()
                .copied()
                .filter(|r| r.s("peer") == peer && r.f("size") == Some(f64::from(size)))
                .collect();
            let ok: Vec<Rec> = rows.iter().copied().filter(Rec::ok).collect();
            let delivered = stat_of(&ok, |r| r.f("delivered_pps"));
            self.udp.push(UdpPoint {
                runs: rows.len(),
                offered_mpps: stat_of(&ok, |r| r.f("offered_pps")).map(|s| s.scale(1e-6)),
                delivered_mpps: delivered.map(|s| s.scale(1e-6)),
                gbps: delivered.map(|s| s.scale(f64::from(size) * 8.0 / 1e9)),
                loss_pct: stat_of(&ok, |r| {
                    let (o, d) = (r.f("offered_pps")?, r.f("delivered_pps")?);
                    (o > 0.0).then(|| 100.0 * (1.0 - d / o).max(0.0))
                }),
                cpu_ns: stat_of(&ok, |r| r.f("cpu_ns_per_pkt")),
                peer,
                size,
            });
        }
    }

    fn load_rate(&mut self, t: &Tsv) {
        let recs = t.records();
        let mut keys: Vec<(String, u32)> = Vec::new();
        for rec in &recs {
            let k = (rec.s("peer").to_owned(), rec.f("pct").unwrap_or(0.0) as u32);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        for (peer, pct) in keys {
            let rows: Vec<Rec> = recs
                .iter()
                .copied()
                .filter(|r| r.s("peer") == peer && r.f("pct") == Some(f64::from(pct)))
                .collect();
            let ok: Vec<Rec> = rows
                .iter()
                .copied()
                .filter(|r| r.ok() && r.f("received").is_some())
                .collect();
            self.rate.push(RatePoint {
                rate: rows.first().and_then(|r| r.f("rate")).unwrap_or(0.0),
                runs: rows.len(),
                delivered_ratio: stat_of(&ok, |r| Some(r.f("received")? / r.f("sent")?)),
                lost: stat_of(&ok, |r| r.f("lost")),
                reordered: stat_of(&ok, |r| r.f("reordered")),
                p50: stat_of(&ok, |r| r.f("p50_us")),
                p99: stat_of(&ok, |r| r.f("p99_us")),
                p999: stat_of(&ok, |r| r.f("p999_us")),
                cpu_ns: stat_of(&ok, |r| r.f("cpu_ns_per_pkt")),
                cpu_pct: stat_of(&ok, |r| r.f("cpu_pct")),
                peer,
                pct,
            });
        }
    }

    fn load_idle(&mut self, t: &Tsv) {
        let recs = t.records();
        let mut peers = Vec::new();
        for rec in &recs {
            push_unique(&mut peers, rec.s("peer"));
        }
        for p in peers {
            let rows: Vec<Rec> = recs.iter().copied().filter(|r| r.s("peer") == p).collect();
            self.idle.push((p, stat_of(&rows, |r| r.f("cpu_pct"))));
        }
    }

    pub fn load_tcp(&mut self, mtu: u32, t: &Tsv) {
        let recs = t.records();
        let mut cases: Vec<(u32, String)> = Vec::new();
        for rec in &recs {
            let k = (
                rec.f("streams").unwrap_or(0.0) as u32,
                rec.s("offloads").to_owned(),
            );
            if !cases.contains(&k) {
                cases.push(k);
            }
        }
        for (streams, offloads) in cases {
            for peer in &self.peers {
                let rows: Vec<Rec> = recs
                    .iter()
                    .copied()
                    .filter(|r| {
                        r.s("path") == peer
                            && r.f("streams") == Some(f64::from(streams))
                            && r.s("offloads") == offloads
                    })
                    .collect();
                let ok: Vec<Rec> = rows.iter().copied().filter(Rec::ok).collect();
                let error = rows
                    .iter()
                    .find(|r| !r.ok())
                    .map(|r| r.s("error").to_owned())
                    .or_else(|| {
                        rows.is_empty().then(|| {
                            self.fails
                                .get(peer)
                                .cloned()
                                .unwrap_or_else(|| "did not run".into())
                        })
                    });
                self.tcp.push(TcpPoint {
                    mtu,
                    streams,
                    offloads: offloads.clone(),
                    peer: peer.clone(),
                    runs: rows.len(),
                    runs_ok: ok.len(),
                    gbps: stat_of(&ok, |r| r.f("gbps")),
                    retrans: stat_of(&ok, |r| r.f("retransmits")),
                    cpu_s_per_gb: stat_of(&ok, |r| r.f("vswitchd_cpu_s_per_gb")),
                    error,
                });
            }
        }
    }

    fn load_promisc(&mut self, t: &Tsv) {
        let recs = t.records();
        let mut keys: Vec<(String, String)> = Vec::new();
        for rec in &recs {
            let k = (rec.s("switch").to_owned(), rec.s("config").to_owned());
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        for (switch, config) in keys {
            let rows: Vec<Rec> = recs
                .iter()
                .copied()
                .filter(|r| r.s("switch") == switch && r.s("config") == config)
                .collect();
            let ok: Vec<Rec> = rows.iter().copied().filter(Rec::ok).collect();
            let per_sent = |r: &Rec, k: &str| Some(r.f(k)? / r.f("sent").filter(|s| *s > 0.0)?);
            self.promisc.push(PromiscPoint {
                sent: stat_of(&ok, |r| r.f("sent")),
                dest: stat_of(&ok, |r| r.f("delivered_dest")),
                copies: stat_of(&ok, |r| r.f("copies_others")),
                switch_cpu_ns_per_sent: stat_of(&ok, |r| per_sent(r, "switch_cpu_ns")),
                system_busy_ns_per_sent: stat_of(&ok, |r| per_sent(r, "system_busy_ns")),
                error: rows
                    .iter()
                    .find(|r| !r.ok())
                    .map(|r| r.s("error").to_owned()),
                switch,
                config,
            });
        }
    }

    fn load_cdf(&mut self, dir: &Path) {
        let mut by_peer: BTreeMap<String, Vec<Vec<(f64, f64)>>> = BTreeMap::new();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some((peer, _run)) = name.strip_suffix(".txt").and_then(|n| n.rsplit_once('-'))
            else {
                continue;
            };
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let pts: Vec<(f64, f64)> = text
                .lines()
                .filter_map(|l| {
                    let (p, us) = l.split_once(' ')?;
                    Some((p.parse().ok()?, us.parse().ok()?))
                })
                .filter(|(_, us): &(f64, f64)| us.is_finite())
                .collect();
            if !pts.is_empty() {
                by_peer.entry(peer.to_owned()).or_default().push(pts);
            }
        }
        for peer in self.peers.clone() {
            let Some(runs) = by_peer.get(&peer) else {
                continue;
            };
            let mut pts: Vec<(f64, f64)> = runs[0]
                .iter()
                .filter_map(|&(p, _)| {
                    let v: Vec<f64> = runs
                        .iter()
                        .filter_map(|r| r.iter().find(|x| x.0 == p).map(|x| x.1))
                        .collect();
                    Some((p, Stat::of(&v)?.med))
                })
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            self.cdf.push((peer, pts));
        }
    }

    pub fn udp_at(&self, peer: &str, size: u32) -> Option<&UdpPoint> {
        self.udp.iter().find(|u| u.peer == peer && u.size == size)
    }

    pub fn sizes(&self) -> Vec<u32> {
        let mut s: Vec<u32> = self.udp.iter().map(|u| u.size).collect();
        s.sort_unstable();
        s.dedup();
        s
    }

    pub fn to_json(&self) -> Value {
        let meta: serde_json::Map<String, Value> = self
            .meta
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        json!({
            "meta": meta,
            "peers": self.peers.iter().map(|p| label(p)).collect::<Vec<_>>(),
            "peer_failures": self.fails.iter().map(|(p, r)| json!({"peer": label(p), "reason": r})).collect::<Vec<_>>(),
            "udp": self.udp.iter().map(|u| json!({
                "peer": label(&u.peer), "frame_bytes": u.size, "runs": u.runs,
                "offered_mpps": Stat::json(u.offered_mpps), "delivered_mpps": Stat::json(u.delivered_mpps),
                "delivered_gbps": Stat::json(u.gbps), "loss_pct": Stat::json(u.loss_pct),
                "cpu_ns_per_packet": Stat::json(u.cpu_ns),
            })).collect::<Vec<_>>(),
            "fixed_rate": self.rate.iter().map(|r| json!({
                "peer": label(&r.peer), "pct_of_generator_max": r.pct, "offered_pps": r.rate, "runs": r.runs,
                "delivered_ratio": Stat::json(r.delivered_ratio), "lost": Stat::json(r.lost),
                "reordered": Stat::json(r.reordered), "p50_us": Stat::json(r.p50), "p99_us": Stat::json(r.p99),
                "p999_us": Stat::json(r.p999), "cpu_ns_per_packet": Stat::json(r.cpu_ns),
                "cpu_pct_of_core": Stat::json(r.cpu_pct),
            })).collect::<Vec<_>>(),
            "idle_cpu_pct_of_core": self.idle.iter().map(|(p, s)| json!({"peer": label(p), "cpu_pct": Stat::json(*s)})).collect::<Vec<_>>(),
            "tcp": self.tcp.iter().map(|t| json!({
                "peer": label(&t.peer), "mtu": t.mtu, "streams": t.streams, "offloads": t.offloads,
                "runs": t.runs, "runs_ok": t.runs_ok, "gbps": Stat::json(t.gbps),
                "retransmits": Stat::json(t.retrans), "switch_cpu_s_per_gb": Stat::json(t.cpu_s_per_gb),
                "error": t.error,
            })).collect::<Vec<_>>(),
            "promiscuous_lab": self.promisc.iter().map(|p| json!({
                "switch": p.switch, "config": p.config, "sent": Stat::json(p.sent),
                "delivered_to_destination": Stat::json(p.dest), "copies_to_other_ports": Stat::json(p.copies),
                "switch_cpu_ns_per_sent": Stat::json(p.switch_cpu_ns_per_sent),
                "both_cpus_busy_ns_per_sent": Stat::json(p.system_busy_ns_per_sent), "error": p.error,
            })).collect::<Vec<_>>(),
            "goals": crate::render::goals(self).iter().map(|g| json!({"goal": g.name, "met": g.met, "detail": g.detail})).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread() {
        let s = Stat::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.med, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        let s = Stat::of(&[4.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!(s.med, 3.0);
        assert!(Stat::of(&[]).is_none());
        assert!(Stat::of(&[f64::NAN]).is_none());
    }
}
