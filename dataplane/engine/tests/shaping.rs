//! Traffic shaping through the whole pipeline (the in-memory switch, a
//! clock driven by hand): ingress and egress drops counted as `shaped`,
//! flood copies charged per shaped port, state kept across unrelated
//! port changes, nothing touched without shaping.

use std::cell::Cell;

use vswitch_engine::mem::MemSwitch;
use vswitch_engine::shaping::{PortShaping, ShapingParams};
use vswitch_engine::stats::PortTotals;
use vswitch_engine::{Disposition, DropReason, FdbConfig, PortConfig, PortId, VlanId, VlanMode};

thread_local! {
    static NOW: Cell<u64> = const { Cell::new(0) };
}

fn now() -> u64 {
    NOW.with(Cell::get)
}

fn set_now(ns: u64) {
    NOW.with(|c| c.set(ns));
}

fn p(i: usize) -> PortId {
    PortId::new(i).unwrap()
}

fn access() -> PortConfig {
    PortConfig::new(VlanMode::Access(VlanId::new(10).unwrap()))
}

/// 8 Mbit/s (one byte per microsecond) with a 10 000-byte burst.
fn limits() -> ShapingParams {
    ShapingParams::new(8_000_000, None, Some(10_000)).unwrap()
}

/// A 1000-byte broadcast frame from 02:..:src.
fn frame(src: u8) -> Vec<u8> {
    let mut f = vec![0u8; 1000];
    f[..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, src]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f
}

fn switch(ports: Vec<PortConfig>) -> MemSwitch {
    let mut sw = MemSwitch::new(
        FdbConfig::default(),
        ports.into_iter().enumerate().map(|(i, c)| (p(i), c)),
    )
    .unwrap();
    sw.set_clock(now);
    set_now(1_000_000_000);
    sw
}

fn totals(sw: &MemSwitch, port: PortId) -> PortTotals {
    sw.stats().port(port).totals()
}

#[test]
fn ingress_over_the_limit_dies_before_learning() {
    let mut shaped = access();
    shaped.shaping = PortShaping::new(Some(limits()), None);
    let mut sw = switch(vec![shaped, access()]);
    let f = frame(1);
    let burst: Vec<&[u8]> = (0..40).map(|_| f.as_slice()).collect();
    let d = sw.receive(p(0), &burst);
    // 10 000 bytes of burst plus the frame that takes the bucket into debt.
    let passed = d
        .iter()
        .filter(|d| matches!(d, Disposition::Flood(_)))
        .count();
    assert_eq!(passed, 11, "{d:?}");
    assert!(d[11..]
        .iter()
        .all(|d| *d == Disposition::Drop(DropReason::Shaped)));
    assert_eq!(sw.stats().drops(DropReason::Shaped), 29);
    assert_eq!(totals(&sw, p(0)).rx_dropped, 29);
    assert_eq!(sw.take_tx(p(1)).len(), 11);
    // 5 ms later, 5000 bytes more have been earned.
    set_now(1_005_000_000);
    let d = sw.receive(p(0), &burst[..10]);
    let passed = d
        .iter()
        .filter(|d| matches!(d, Disposition::Flood(_)))
        .count();
    assert!((4..=6).contains(&passed), "{d:?}");
}

#[test]
fn egress_shapes_each_shaped_output_port_of_a_flood() {
    let mut shaped = access();
    shaped.shaping = PortShaping::new(None, Some(limits()));
    let mut sw = switch(vec![access(), shaped, access()]);
    let f = frame(1);
    let burst: Vec<&[u8]> = (0..40).map(|_| f.as_slice()).collect();
    let d = sw.receive(p(0), &burst);
    assert!(
        d.iter().all(|d| matches!(d, Disposition::Flood(_))),
        "{d:?}"
    );
    assert_eq!(
        sw.take_tx(p(2)).len(),
        40,
        "the unshaped port gets everything"
    );
    assert_eq!(sw.take_tx(p(1)).len(), 11);
    assert_eq!(totals(&sw, p(1)).tx_dropped, 29);
    assert_eq!(totals(&sw, p(1)).tx_packets, 11);
    assert_eq!(sw.stats().drops(DropReason::Shaped), 29);
}

#[test]
fn buckets_survive_a_change_of_other_settings_and_reset_with_new_limits() {
    let mut shaped = access();
    shaped.shaping = PortShaping::new(None, Some(limits()));
    let mut sw = switch(vec![access(), shaped.clone()]);
    let f = frame(1);
    let burst: Vec<&[u8]> = (0..40).map(|_| f.as_slice()).collect();
    sw.receive(p(0), &burst);
    assert_eq!(sw.take_tx(p(1)).len(), 11);
    // Another setting changes: the bucket stays empty.
    let mut changed = shaped.clone();
    changed.learning = false;
    changed.shaping = PortShaping::new(None, Some(limits()));
    sw.engine().set_port(p(1), changed, 0).unwrap();
    sw.receive(p(0), &burst);
    assert_eq!(sw.take_tx(p(1)).len(), 0);
    // New limits: new, full bucket.
    let mut bigger = shaped;
    bigger.shaping = PortShaping::new(
        None,
        Some(ShapingParams::new(8_000_000, None, Some(20_000)).unwrap()),
    );
    sw.engine().set_port(p(1), bigger, 0).unwrap();
    sw.receive(p(0), &burst);
    assert_eq!(sw.take_tx(p(1)).len(), 21);
    // Shaping off: everything passes.
    sw.engine().set_port(p(1), access(), 0).unwrap();
    sw.receive(p(0), &burst);
    assert_eq!(sw.take_tx(p(1)).len(), 40);
}

#[test]
fn without_shaping_nothing_is_dropped_and_the_clock_is_not_read() {
    fn no_clock() -> u64 {
        panic!("the clock was read without shaping");
    }
    let mut sw =
        MemSwitch::new(FdbConfig::default(), [(p(0), access()), (p(1), access())]).unwrap();
    sw.set_clock(no_clock);
    let f = frame(1);
    let burst: Vec<&[u8]> = (0..64).map(|_| f.as_slice()).collect();
    sw.receive(p(0), &burst);
    assert_eq!(sw.take_tx(p(1)).len(), 64);
    assert_eq!(sw.stats().drops(DropReason::Shaped), 0);
}
