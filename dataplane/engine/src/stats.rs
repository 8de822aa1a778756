//! Counters: every way a frame can die ([`DropReason`]), every engine event
//! worth counting ([`Event`]), and per-port traffic.
//!
//! Each worker owns one [`WorkerStats`] (cache-line padded, written only by
//! that worker with plain loads and stores on relaxed atomics, so the packet
//! path never issues a locked instruction); readers sum all workers. A
//! batch first accumulates into a [`BatchCounters`] on the stack and
//! publishes once at its end.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::limits::MAX_PORTS;
use crate::vocab::{DropReason, Event, PortId, PortSet};

/// Traffic counters of one port as seen by one worker.
#[derive(Debug, Default)]
pub struct PortCounters {
    /// Frames received.
    pub rx_packets: AtomicU64,
    /// Bytes received.
    pub rx_bytes: AtomicU64,
    /// Frames transmitted (one per copy sent to this port).
    pub tx_packets: AtomicU64,
    /// Bytes transmitted.
    pub tx_bytes: AtomicU64,
    /// Received frames dropped.
    pub rx_dropped: AtomicU64,
    /// Frames meant for this port but dropped at output.
    pub tx_dropped: AtomicU64,
}

/// Plain totals of [`PortCounters`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PortTotals {
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames transmitted.
    pub tx_packets: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Received frames dropped.
    pub rx_dropped: u64,
    /// Frames dropped at output.
    pub tx_dropped: u64,
}

impl PortTotals {
    /// Field-wise sum.
    pub fn add(&mut self, o: &PortTotals) {
        self.rx_packets += o.rx_packets;
        self.rx_bytes += o.rx_bytes;
        self.tx_packets += o.tx_packets;
        self.tx_bytes += o.tx_bytes;
        self.rx_dropped += o.rx_dropped;
        self.tx_dropped += o.tx_dropped;
    }

    /// Field-wise difference, saturating at zero.
    pub fn saturating_sub(&self, o: &PortTotals) -> PortTotals {
        PortTotals {
            rx_packets: self.rx_packets.saturating_sub(o.rx_packets),
            rx_bytes: self.rx_bytes.saturating_sub(o.rx_bytes),
            tx_packets: self.tx_packets.saturating_sub(o.tx_packets),
            tx_bytes: self.tx_bytes.saturating_sub(o.tx_bytes),
            rx_dropped: self.rx_dropped.saturating_sub(o.rx_dropped),
            tx_dropped: self.tx_dropped.saturating_sub(o.tx_dropped),
        }
    }
}

/// Adds `n` to a counter that only the calling thread writes: a relaxed
/// load and store, no read-modify-write, so no `lock` prefix on x86.
#[inline]
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

impl PortCounters {
    /// Reads a consistent-enough copy (each field atomically).
    pub fn totals(&self) -> PortTotals {
        PortTotals {
            rx_packets: self.rx_packets.load(Ordering::Relaxed),
            rx_bytes: self.rx_bytes.load(Ordering::Relaxed),
            tx_packets: self.tx_packets.load(Ordering::Relaxed),
            tx_bytes: self.tx_bytes.load(Ordering::Relaxed),
            rx_dropped: self.rx_dropped.load(Ordering::Relaxed),
            tx_dropped: self.tx_dropped.load(Ordering::Relaxed),
        }
    }
}

/// All counters of one worker. Only the owning worker writes; anyone reads.
#[derive(Debug)]
pub struct WorkerStats {
    ports: [PortCounters; MAX_PORTS],
    drops: [AtomicU64; DropReason::COUNT],
    events: [AtomicU64; Event::COUNT],
}

impl Default for WorkerStats {
    fn default() -> Self {
        WorkerStats {
            ports: core::array::from_fn(|_| PortCounters::default()),
            drops: core::array::from_fn(|_| AtomicU64::new(0)),
            events: core::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl WorkerStats {
    /// Counters of one port.
    pub fn port(&self, port: PortId) -> &PortCounters {
        &self.ports[port.index()]
    }

    /// Frames dropped for `reason`.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize].load(Ordering::Relaxed)
    }

    /// Occurrences of `event`.
    pub fn event(&self, event: Event) -> u64 {
        self.events[event as usize].load(Ordering::Relaxed)
    }

    /// Adds a batch's counts. Call only from the owning worker.
    pub fn publish(&self, batch: &BatchCounters) {
        for port in batch.touched.iter() {
            let (src, dst) = (&batch.ports[port.index()], &self.ports[port.index()]);
            bump(&dst.rx_packets, src.rx_packets);
            bump(&dst.rx_bytes, src.rx_bytes);
            bump(&dst.tx_packets, src.tx_packets);
            bump(&dst.tx_bytes, src.tx_bytes);
            bump(&dst.rx_dropped, src.rx_dropped);
            bump(&dst.tx_dropped, src.tx_dropped);
        }
        if batch.any_drop {
            for (dst, &n) in self.drops.iter().zip(&batch.drops) {
                if n != 0 {
                    bump(dst, n);
                }
            }
        }
        for (dst, &n) in self.events.iter().zip(&batch.events) {
            if n != 0 {
                bump(dst, n);
            }
        }
    }
}

/// Counts of one batch, kept on the stack and published once.
#[derive(Debug, Clone)]
pub struct BatchCounters {
    ports: [PortTotals; MAX_PORTS],
    touched: PortSet,
    drops: [u64; DropReason::COUNT],
    any_drop: bool,
    events: [u64; Event::COUNT],
}

impl Default for BatchCounters {
    fn default() -> Self {
        BatchCounters {
            ports: [PortTotals::default(); MAX_PORTS],
            touched: PortSet::EMPTY,
            drops: [0; DropReason::COUNT],
            any_drop: false,
            events: [0; Event::COUNT],
        }
    }
}

impl BatchCounters {
    /// Forgets everything (keeps the memory).
    #[inline]
    pub fn clear(&mut self) {
        for port in self.touched.iter() {
            self.ports[port.index()] = PortTotals::default();
        }
        self.touched = PortSet::EMPTY;
        if self.any_drop {
            self.drops = [0; DropReason::COUNT];
            self.any_drop = false;
        }
        self.events = [0; Event::COUNT];
    }

    #[inline]
    fn port_mut(&mut self, port: PortId) -> &mut PortTotals {
        self.touched.insert(port);
        &mut self.ports[port.index()]
    }

    /// A frame of `bytes` was received on `port`.
    #[inline]
    pub fn rx(&mut self, port: PortId, bytes: usize) {
        let p = self.port_mut(port);
        p.rx_packets += 1;
        p.rx_bytes += bytes as u64;
    }

    /// `packets` frames totalling `bytes` were received on `port`.
    #[inline]
    pub fn rx_many(&mut self, port: PortId, packets: u64, bytes: u64) {
        let p = self.port_mut(port);
        p.rx_packets += packets;
        p.rx_bytes += bytes;
    }

    /// A frame of `bytes` is sent to every port of `ports`.
    #[inline]
    pub fn tx_set(&mut self, ports: PortSet, bytes: usize) {
        for port in ports.iter() {
            self.tx(port, bytes);
        }
    }

    /// A frame of `bytes` is sent to `port`.
    #[inline]
    pub fn tx(&mut self, port: PortId, bytes: usize) {
        let p = self.port_mut(port);
        p.tx_packets += 1;
        p.tx_bytes += bytes as u64;
    }

    /// A received frame died on `port` for `reason`.
    #[inline]
    pub fn rx_drop(&mut self, port: PortId, reason: DropReason) {
        self.port_mut(port).rx_dropped += 1;
        self.drop(reason, 1);
    }

    /// `n` copies meant for `port` died at output for `reason`.
    #[inline]
    pub fn tx_drop(&mut self, port: PortId, reason: DropReason) {
        self.port_mut(port).tx_dropped += 1;
        self.drop(reason, 1);
    }

    /// Counts a drop without charging a port.
    #[inline]
    pub fn drop(&mut self, reason: DropReason, n: u64) {
        self.drops[reason as usize] += n;
        self.any_drop = true;
    }

    /// Counts `n` occurrences of `event`.
    #[inline]
    pub fn event(&mut self, event: Event, n: u64) {
        // Adding 0 is cheaper than testing for it.
        self.events[event as usize] += n;
    }

    /// This batch's counts for `port`.
    pub fn port(&self, port: PortId) -> PortTotals {
        self.ports[port.index()]
    }

    /// This batch's drops for `reason`.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    /// This batch's count of `event`.
    pub fn events(&self, event: Event) -> u64 {
        self.events[event as usize]
    }
}

/// Sums of many workers' counters: what `stats.show` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsTotals {
    /// Per port, indexed by [`PortId::index`].
    pub ports: [PortTotals; MAX_PORTS],
    /// Per drop reason, indexed by `DropReason as usize`.
    pub drops: [u64; DropReason::COUNT],
    /// Per event, indexed by `Event as usize`.
    pub events: [u64; Event::COUNT],
}

impl Default for StatsTotals {
    fn default() -> Self {
        StatsTotals {
            ports: [PortTotals::default(); MAX_PORTS],
            drops: [0; DropReason::COUNT],
            events: [0; Event::COUNT],
        }
    }
}

impl StatsTotals {
    /// Sums the given workers' counters.
    pub fn sum<'a>(workers: impl IntoIterator<Item = &'a WorkerStats>) -> StatsTotals {
        let mut t = StatsTotals::default();
        for w in workers {
            for (dst, src) in t.ports.iter_mut().zip(&w.ports) {
                dst.add(&src.totals());
            }
            for (i, d) in t.drops.iter_mut().enumerate() {
                *d += w.drops[i].load(Ordering::Relaxed);
            }
            for (i, e) in t.events.iter_mut().enumerate() {
                *e += w.events[i].load(Ordering::Relaxed);
            }
        }
        t
    }

    /// `self - baseline`, field-wise and saturating: how `stats.clear` is
    /// done without writing to counters that workers own.
    pub fn since(&self, baseline: &StatsTotals) -> StatsTotals {
        let mut t = self.clone();
        for (dst, b) in t.ports.iter_mut().zip(&baseline.ports) {
            *dst = dst.saturating_sub(b);
        }
        for (d, b) in t.drops.iter_mut().zip(&baseline.drops) {
            *d = d.saturating_sub(*b);
        }
        for (e, b) in t.events.iter_mut().zip(&baseline.events) {
            *e = e.saturating_sub(*b);
        }
        t
    }

    /// Drops for `reason`.
    pub fn drop_count(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    /// Count of `event`.
    pub fn event_count(&self, event: Event) -> u64 {
        self.events[event as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for r in DropReason::ALL {
            assert!(seen.insert(r.name()));
            assert_eq!(DropReason::from_name(r.name()), Some(*r));
        }
        for e in Event::ALL {
            assert!(seen.insert(e.name()));
            assert_eq!(Event::from_name(e.name()), Some(*e));
        }
    }

    #[test]
    fn batch_publish_and_baseline() {
        let w = WorkerStats::default();
        let mut b = BatchCounters::default();
        let p = PortId::new(3).unwrap();
        b.rx(p, 60);
        b.tx(p, 64);
        b.rx_drop(p, DropReason::Runt);
        b.event(Event::Flood, 2);
        w.publish(&b);
        w.publish(&b);
        let t = StatsTotals::sum([&w]);
        assert_eq!(t.ports[3].rx_bytes, 120);
        assert_eq!(t.ports[3].tx_packets, 2);
        assert_eq!(t.ports[3].rx_dropped, 2);
        assert_eq!(t.drop_count(DropReason::Runt), 2);
        assert_eq!(t.event_count(Event::Flood), 4);
        let base = t.clone();
        w.publish(&b);
        let since = StatsTotals::sum([&w]).since(&base);
        assert_eq!(since.ports[3].rx_packets, 1);
        assert_eq!(since.drop_count(DropReason::Runt), 1);
        b.clear();
        assert_eq!(b.drops(DropReason::Runt), 0);
        assert_eq!(b.events(Event::Flood), 0);
    }
}
