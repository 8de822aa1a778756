//! The soak's accounting: per flow sent, received, lost (and whether a
//! loss fell in a UMEM rebuild window of a worker the flow crosses),
//! duplicated, lost in the final window; loss by churned port.

use std::collections::{BTreeMap, HashMap};

use super::churn::Rebuild;
use super::frames::Flow;
use super::traffic::{Endpoint, RxReport, TxReport};

/// One flow's figures.
#[derive(Debug, Default)]
pub struct FlowFigures {
    /// Frames sent.
    pub sent: u64,
    /// Distinct frames received.
    pub received: u64,
    /// Frames lost.
    pub lost: u64,
    /// Of those, sent inside a rebuild window of a worker it crosses.
    pub lost_in_rebuild: u64,
    /// Frames received twice or more.
    pub dups: u64,
    /// Frames received that were never sent.
    pub phantom: u64,
    /// Frames lost among those sent in the final window.
    pub window_lost: u64,
    /// Frames in the final window.
    pub window_sent: u64,
    /// Frames the sender could not send.
    pub unsent: u64,
}

/// Everything about the traffic, per flow id.
pub fn figures(
    flows: &[Flow],
    tx: &[TxReport],
    rx: &[RxReport],
    workers: &HashMap<usize, usize>,
    rebuilds: &[Rebuild],
    window: &[(u64, u64)],
) -> Vec<FlowFigures> {
    let no_times = Vec::new();
    flows
        .iter()
        .map(|f| {
            let times = tx[f.src].times.get(&f.id).unwrap_or(&no_times);
            let got = &rx[f.dst].flows[&f.id];
            let mut fig = FlowFigures {
                sent: times.len() as u64,
                received: got.received,
                dups: got.dups,
                phantom: got.beyond(times.len() as u64),
                unsent: tx[f.src].unsent.get(&f.id).copied().unwrap_or(0),
                ..FlowFigures::default()
            };
            let crosses: Vec<usize> = [f.src, f.dst]
                .iter()
                .filter_map(|e| workers.get(e).copied())
                .collect();
            for (seq, &t) in times.iter().enumerate() {
                let seq = seq as u64;
                if got.has(seq) {
                    continue;
                }
                fig.lost += 1;
                if rebuilds
                    .iter()
                    .any(|r| crosses.contains(&r.worker) && (r.from_ms..=r.to_ms).contains(&t))
                {
                    fig.lost_in_rebuild += 1;
                }
            }
            let (ws, we) = window[usize::from(f.id)];
            fig.window_sent = we - ws;
            fig.window_lost = (ws..we).filter(|&s| !got.has(s)).count() as u64;
            fig
        })
        .collect()
}

/// Prints the per-flow table and the loss by churned port.
pub fn print(
    flows: &[Flow],
    eps: &[Endpoint],
    figs: &[FlowFigures],
    touched: &BTreeMap<String, u64>,
) {
    println!(
        "{:<10} {:<6} {:>9} {:>9} {:>7} {:>10} {:>5} {:>8} {:>11} {:>7}",
        "flow",
        "kind",
        "sent",
        "received",
        "lost",
        "in-rebuild",
        "dups",
        "phantom",
        "window-lost",
        "unsent"
    );
    for (f, g) in flows.iter().zip(figs) {
        println!(
            "{:<10} {:<6} {:>9} {:>9} {:>7} {:>10} {:>5} {:>8} {:>5}/{:<5} {:>7}",
            format!("{}>{}", eps[f.src].port, eps[f.dst].port),
            if f.stable { "stable" } else { "churn" },
            g.sent,
            g.received,
            g.lost,
            g.lost_in_rebuild,
            g.dups,
            g.phantom,
            g.window_lost,
            g.window_sent,
            g.unsent
        );
    }
    println!("loss by churned port (frames lost to and from it, of sent; actions on it):");
    for e in eps.iter().filter(|e| e.churn) {
        let (mut lost, mut sent) = (0, 0);
        for (f, g) in flows.iter().zip(figs) {
            if eps[f.src].port == e.port || eps[f.dst].port == e.port {
                lost += g.lost;
                sent += g.sent;
            }
        }
        println!(
            "  {:<4} {lost:>7} of {sent:>8} ({:.2} %), {} actions",
            e.port,
            100.0 * lost as f64 / sent.max(1) as f64,
            touched.get(&e.port).copied().unwrap_or(0)
        );
    }
}
