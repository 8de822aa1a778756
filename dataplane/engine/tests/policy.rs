//! Port policies through the whole pipeline: forged transmits, MAC
//! changes, `max_macs` with both limit policies, and fair eviction under a
//! source storm (dataplane/engine/src/policy.rs, src/fdb/evict.rs).

use vswitch_engine::fdb::FdbConfig;
use vswitch_engine::mem::MemSwitch;
use vswitch_engine::{
    Disposition, DropReason, Event, LimitPolicy, Mac, PortConfig, PortId, PortSet, VlanId, VlanMode,
};

fn p(n: usize) -> PortId {
    PortId::new(n).unwrap()
}

fn frame(dst: u64, src: u64) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst.to_be_bytes()[2..]);
    f.extend_from_slice(&src.to_be_bytes()[2..]);
    f.extend_from_slice(&[0x08, 0x00]);
    f.resize(60, 0);
    f
}

const VM: u64 = 0x0200_0000_0001;
const OTHER: u64 = 0x0200_0000_0002;
const HOST: u64 = 0x0200_0000_0003;
const BCAST: u64 = 0xffff_ffff_ffff;

fn switch(tweak: impl FnOnce(&mut PortConfig), capacity: usize) -> MemSwitch {
    let access = || PortConfig::new(VlanMode::Access(VlanId::new(10).unwrap()));
    let mut vm = access();
    vm.policy.mac = Some(Mac::from_u64(VM));
    tweak(&mut vm);
    let cfg = FdbConfig {
        capacity,
        ..FdbConfig::default()
    };
    MemSwitch::new(cfg, [(p(0), vm), (p(1), access()), (p(2), access())]).unwrap()
}

#[test]
fn forged_sources_are_dropped_and_not_learned() {
    let mut sw = switch(|c| c.policy.forged_transmits = false, 1024);
    let got = sw.receive(p(0), &[&frame(BCAST, VM), &frame(BCAST, OTHER)]);
    assert!(matches!(got[0], Disposition::Flood(_)));
    assert_eq!(got[1], Disposition::Drop(DropReason::ForgedSource));
    assert_eq!(sw.stats().drops(DropReason::ForgedSource), 1);
    let now = sw.now();
    let vlan = VlanId::new(10).unwrap();
    assert!(sw.fdb().get(vlan, Mac::from_u64(OTHER), now).is_none());
    assert!(sw.fdb().get(vlan, Mac::from_u64(VM), now).is_some());
}

#[test]
fn mac_changes_rejected_keeps_other_unicast_away() {
    let mut sw = switch(|c| c.policy.mac_changes = false, 1024);
    // The VM sends as another MAC (forged transmits accepted): learned.
    sw.receive(p(0), &[&frame(BCAST, OTHER)]);
    sw.clear_tx();
    // Unicast for that MAC is not delivered to the VM's port.
    let got = sw.receive(p(1), &[&frame(OTHER, HOST)]);
    assert_eq!(got[0], Disposition::Drop(DropReason::MacChange));
    // Unknown unicast for another MAC floods everywhere but the VM.
    let got = sw.receive(p(1), &[&frame(0x0200_0000_00ff, HOST)]);
    assert_eq!(got[0], Disposition::Flood(PortSet::one(p(2))));
    assert_eq!(sw.stats().drops(DropReason::MacChange), 2);
    let tx_dropped = sw.stats().port(p(0)).totals().tx_dropped;
    assert_eq!(tx_dropped, 1, "the flood's copy, per port");
    // Its own MAC and broadcasts still come.
    let got = sw.receive(p(1), &[&frame(VM, HOST), &frame(BCAST, HOST)]);
    assert!(matches!(got[0], Disposition::Flood(s) if s.contains(p(0))));
    assert!(matches!(got[1], Disposition::Flood(s) if s.contains(p(0))));
}

#[test]
fn a_limited_port_drops_or_forwards_new_sources() {
    for policy in [LimitPolicy::Drop, LimitPolicy::Allow] {
        let mut sw = switch(
            |c| {
                c.policy.max_macs = Some(2);
                c.policy.limit_policy = policy;
            },
            1024,
        );
        let got = sw.receive(
            p(0),
            &[
                &frame(BCAST, VM),
                &frame(BCAST, OTHER),
                &frame(BCAST, HOST),
                &frame(BCAST, VM),
            ],
        );
        assert!(matches!(got[0], Disposition::Flood(_)));
        assert!(matches!(got[1], Disposition::Flood(_)));
        assert!(
            matches!(got[3], Disposition::Flood(_)),
            "known sources pass"
        );
        match policy {
            LimitPolicy::Drop => {
                assert_eq!(got[2], Disposition::Drop(DropReason::MacLimit))
            }
            LimitPolicy::Allow => assert!(matches!(got[2], Disposition::Flood(_))),
        }
        assert_eq!(sw.stats().event(Event::FdbLimit), 1, "{policy:?}");
        assert_eq!(sw.fdb().port_macs(p(0)), 2);
    }
}

#[test]
fn a_source_storm_on_one_port_leaves_other_hosts_learned() {
    let mut sw = switch(|_| {}, 256);
    let host1 = frame(BCAST, HOST);
    let host2 = frame(BCAST, 0x0200_0000_0004);
    sw.receive(p(1), &[&host1]);
    sw.receive(p(2), &[&host2]);
    for chunk in 0..400u64 {
        let frames: Vec<Vec<u8>> = (0..64)
            .map(|i| frame(BCAST, 0x0600_0000_0000 | (chunk * 64 + i)))
            .collect();
        let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        sw.receive(p(0), &refs);
        if chunk % 50 == 0 {
            sw.fdb().sweep(sw.now());
        }
    }
    assert!(sw.stats().event(Event::FdbEvicted) > 1000);
    sw.clear_tx();
    let got = sw.receive(p(1), &[&frame(0x0200_0000_0004, HOST)]);
    assert_eq!(got[0], Disposition::Forward(p(2)), "no flood to the storm");
    let got = sw.receive(p(2), &[&frame(HOST, 0x0200_0000_0004)]);
    assert_eq!(got[0], Disposition::Forward(p(1)));
}
