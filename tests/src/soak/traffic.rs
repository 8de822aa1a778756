//! The soak's traffic: per endpoint one sender thread (all flows from that
//! host, each paced at its own rate) and one receiver thread (every frame
//! that reaches the host, checked). Endpoints whose interface the churn
//! makes again reopen their sockets when its generation changes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::frames::{build, check, Flow, Verdict};
use crate::lab::Host;
use crate::raw::RawSock;

/// A host of the soak and the switch port it hangs off.
#[derive(Debug)]
pub struct Endpoint {
    /// The namespace host.
    pub host: Host,
    /// Its switch port's name.
    pub port: String,
    /// Whether the churn touches its port and interface.
    pub churn: bool,
    /// Bumped each time its veth pair is made again (sockets reopen).
    pub generation: AtomicU64,
}

/// Flags and clock shared by the traffic threads.
#[derive(Debug)]
pub struct Control {
    /// Senders stop.
    pub tx_stop: AtomicBool,
    /// Receivers stop.
    pub rx_stop: AtomicBool,
    /// Senders hold (for idle measurements).
    pub paused: AtomicBool,
    /// Time zero of send timestamps.
    pub epoch: Instant,
    /// Per flow: frames sent so far (= the next sequence number).
    pub sent: Vec<AtomicU64>,
}

impl Control {
    /// Milliseconds since the epoch.
    pub fn ms(&self) -> u32 {
        self.epoch.elapsed().as_millis() as u32
    }
}

/// What one sender did.
#[derive(Debug, Default)]
pub struct TxReport {
    /// Per flow id: send time (ms since the epoch) of each sequence number.
    pub times: HashMap<u16, Vec<u32>>,
    /// Per flow id: frames the host could not send (no interface, no
    /// carrier); they never left it, so they are not losses.
    pub unsent: HashMap<u16, u64>,
}

/// Frames received on one flow.
#[derive(Debug, Default)]
pub struct FlowRx {
    seen: Vec<u64>,
    /// Distinct sequence numbers received.
    pub received: u64,
    /// Sequence numbers received more than once.
    pub dups: u64,
}

impl FlowRx {
    fn mark(&mut self, seq: u64) {
        let (w, b) = ((seq / 64) as usize, seq % 64);
        if self.seen.len() <= w {
            self.seen.resize(w + 1, 0);
        }
        if self.seen[w] & (1 << b) != 0 {
            self.dups += 1;
        } else {
            self.seen[w] |= 1 << b;
            self.received += 1;
        }
    }

    /// Distinct sequence numbers received at or beyond `sent`: frames
    /// that were never sent.
    pub fn beyond(&self, sent: u64) -> u64 {
        (sent..self.seen.len() as u64 * 64)
            .filter(|&s| self.has(s))
            .count() as u64
    }

    /// Whether `seq` arrived.
    pub fn has(&self, seq: u64) -> bool {
        self.seen
            .get((seq / 64) as usize)
            .is_some_and(|w| w & (1 << (seq % 64)) != 0)
    }
}

/// What one receiver saw.
#[derive(Debug, Default)]
pub struct RxReport {
    /// Per flow id ending here.
    pub flows: HashMap<u16, FlowRx>,
    /// Frames addressed here that were not frames sent.
    pub garbled: u64,
    /// The first few of them, described.
    pub samples: Vec<String>,
}

fn open(ep: &Endpoint) -> Option<RawSock> {
    RawSock::try_open(&ep.host.ns, "eth0").ok()
}

/// Sends every flow from endpoint `me` until `ctl.tx_stop`.
pub fn spawn_sender(
    me: usize,
    eps: Arc<Vec<Endpoint>>,
    flows: Arc<Vec<Flow>>,
    ctl: Arc<Control>,
) -> JoinHandle<TxReport> {
    std::thread::spawn(move || {
        let ep = &eps[me];
        let mine: Vec<&Flow> = flows.iter().filter(|f| f.src == me).collect();
        let mut rep = TxReport::default();
        if mine.is_empty() {
            return rep;
        }
        let gaps: Vec<Duration> = mine
            .iter()
            .map(|f| Duration::from_secs_f64(1.0 / f.rate))
            .collect();
        let mut next = vec![Instant::now(); mine.len()];
        let mut gen = ep.generation.load(Ordering::Acquire);
        let mut sock = open(ep);
        while !ctl.tx_stop.load(Ordering::Relaxed) {
            if ctl.paused.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(10));
                next.fill(Instant::now());
                continue;
            }
            let g = ep.generation.load(Ordering::Acquire);
            if g != gen || sock.is_none() {
                gen = g;
                sock = open(ep);
            }
            let (i, due) = next
                .iter()
                .copied()
                .enumerate()
                .min_by_key(|&(_, t)| t)
                .expect("flows");
            let now = Instant::now();
            if due > now {
                std::thread::sleep((due - now).min(Duration::from_millis(20)));
                continue;
            }
            // Pace by schedule; after a stall, start again rather than
            // burst to catch up.
            next[i] = if now - due > Duration::from_millis(200) {
                now + gaps[i]
            } else {
                due + gaps[i]
            };
            let f = mine[i];
            let Some(s) = &sock else {
                *rep.unsent.entry(f.id).or_default() += 1;
                continue;
            };
            let seq = ctl.sent[usize::from(f.id)].load(Ordering::Relaxed);
            let frame = build(f, ep.host.mac, eps[f.dst].host.mac, seq);
            match s.try_send(&frame) {
                Ok(()) => {
                    rep.times.entry(f.id).or_default().push(ctl.ms());
                    ctl.sent[usize::from(f.id)].store(seq + 1, Ordering::Release);
                }
                Err(e) => {
                    *rep.unsent.entry(f.id).or_default() += 1;
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ENXIO | libc::ENODEV | libc::ENETDOWN)
                    ) {
                        sock = None;
                    }
                }
            }
        }
        rep
    })
}

/// Receives and checks every frame reaching endpoint `me` until
/// `ctl.rx_stop`.
pub fn spawn_receiver(
    me: usize,
    eps: Arc<Vec<Endpoint>>,
    flows: Arc<Vec<Flow>>,
    ctl: Arc<Control>,
) -> JoinHandle<RxReport> {
    std::thread::spawn(move || {
        let ep = &eps[me];
        let macs: Vec<[u8; 6]> = eps.iter().map(|e| e.host.mac).collect();
        let mut rep = RxReport::default();
        for f in flows.iter().filter(|f| f.dst == me) {
            rep.flows.insert(f.id, FlowRx::default());
        }
        let mut gen = ep.generation.load(Ordering::Acquire);
        let mut sock = open(ep);
        while !ctl.rx_stop.load(Ordering::Relaxed) {
            let g = ep.generation.load(Ordering::Acquire);
            if g != gen || sock.is_none() {
                gen = g;
                sock = open(ep);
            }
            let Some(s) = &sock else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            let Some(f) = s.recv(Duration::from_millis(100)) else {
                continue;
            };
            match check(&f, ep.host.mac, &flows, &macs) {
                Verdict::NotOurs => {}
                Verdict::Good { flow, seq } => match rep.flows.get_mut(&flow) {
                    // Sequence numbers beyond what was sent are found at
                    // the end (the sender counts a frame after send()
                    // returns, which can be after it arrived).
                    Some(rx) if seq < 1 << 32 => rx.mark(seq),
                    _ => {
                        rep.garbled += 1;
                        if rep.samples.len() < 5 {
                            rep.samples
                                .push(format!("flow {flow} seq {seq}: never sent to {}", ep.port));
                        }
                    }
                },
                Verdict::Garbled(why) => {
                    rep.garbled += 1;
                    if rep.samples.len() < 5 {
                        rep.samples.push(format!("at {}: {why}", ep.port));
                    }
                }
            }
        }
        rep
    })
}
