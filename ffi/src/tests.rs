//! Rust-side checks of the C ABI: the number and name tables, panic
//! containment, and a differential test of `vsw_process` against the
//! dataplane's own in-memory switch. The C suite (tests/test_ffi.c) covers
//! the API through the real header.

use std::ffi::CStr;
use std::ptr;

use vswitch_engine::fdb::FdbConfig;
use vswitch_engine::mem::MemSwitch;
use vswitch_engine::{Disposition, DropReason, Event, PortConfig, PortId, VlanId, VlanMode};

use crate::engine::{
    drop_code, drop_from_code, drop_name, event_code, event_from_code, event_name,
};
use crate::*;

#[test]
fn drop_and_event_numbers_and_names_match_the_engine() {
    for (i, r) in DropReason::ALL.iter().enumerate() {
        assert_eq!(
            drop_code(*r),
            i as i32,
            "{r:?}: codes follow the engine's order"
        );
        assert_eq!(drop_from_code(i as i32), Some(*r));
        assert_eq!(drop_name(*r).to_str().unwrap(), r.name());
        // SAFETY: a non-null result is a static C string.
        let c = unsafe { CStr::from_ptr(vsw_drop_reason_name(i as i32)) };
        assert_eq!(c.to_str().unwrap(), r.name());
    }
    for (i, e) in Event::ALL.iter().enumerate() {
        assert_eq!(
            event_code(*e),
            i as i32,
            "{e:?}: codes follow the engine's order"
        );
        assert_eq!(event_from_code(i as i32), Some(*e));
        assert_eq!(event_name(*e).to_str().unwrap(), e.name());
    }
    for bad in [-1, VSW_DROP_COUNT, i32::MAX, i32::MIN] {
        assert!(vsw_drop_reason_name(bad).is_null());
    }
    for bad in [-1, VSW_EVENT_COUNT, i32::MAX] {
        assert!(vsw_event_name(bad).is_null());
    }
}

#[test]
fn every_error_code_has_a_message() {
    let mut seen = std::collections::HashSet::new();
    for code in [
        VSW_OK, VSW_EINVAL, VSW_ENOENT, VSW_EEXIST, VSW_ENOSPC, VSW_EAGAIN, VSW_EPANIC,
    ] {
        // SAFETY: vsw_strerror never returns NULL and its strings are static.
        let s = unsafe { CStr::from_ptr(vsw_strerror(code)) };
        assert!(
            seen.insert(s.to_str().unwrap().to_owned()),
            "{code}: unique"
        );
    }
    // SAFETY: as above.
    let unknown = unsafe { CStr::from_ptr(vsw_strerror(12345)) };
    assert_eq!(unknown.to_str().unwrap(), "unknown error code");
    // SAFETY: as above.
    let v = unsafe { CStr::from_ptr(vsw_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    assert_eq!(vsw_abi_version(), VSW_ABI_VERSION);
}

fn new_engine() -> *mut vsw_engine {
    let mut e = ptr::null_mut();
    // SAFETY: `e` is a valid out-pointer.
    assert_eq!(unsafe { vsw_engine_new(4096, 300, &mut e) }, VSW_OK);
    assert!(!e.is_null());
    e
}

#[test]
fn a_panic_is_caught_and_poisons_the_engine() {
    let e = new_engine();
    // SAFETY: `e` is live and used by this thread only.
    let code = unsafe { with_engine(e, |_| panic!("deliberate test panic")) };
    assert_eq!(code, VSW_EPANIC);
    // SAFETY: as above.
    unsafe {
        assert_eq!(vsw_set_aging(e, 10), VSW_EPANIC, "poisoned");
        let mut n = 0;
        assert_eq!(
            vsw_fdb_entries(e, 0, ptr::null_mut(), 0, &mut n),
            VSW_EPANIC
        );
        vsw_engine_free(e);
    }
    assert_eq!(guard(7, || panic!("deliberate test panic")), 7);
}

#[test]
fn port_set_refuses_to_strand_a_static_entry_as_the_daemon_does() {
    let e = new_engine();
    let mut cfg = std::mem::MaybeUninit::<vsw_port_config>::zeroed();
    let mac = [2u8, 0, 0, 0, 0, 9];
    // SAFETY: live engine used by this thread only; `cfg` and `mac` are
    // valid for the calls; the config holds no string.
    unsafe {
        assert_eq!(
            vsw_port_config_init(cfg.as_mut_ptr(), VSW_MODE_ACCESS, 10),
            VSW_OK
        );
        assert_eq!(vsw_port_add(e, 1, cfg.as_ptr()), VSW_OK);
        assert_eq!(vsw_fdb_add(e, mac.as_ptr(), 10, 1), VSW_OK);
        assert_eq!(
            vsw_port_config_init(cfg.as_mut_ptr(), VSW_MODE_ACCESS, 20),
            VSW_OK
        );
        assert_eq!(vsw_port_set(e, 1, cfg.as_ptr()), VSW_EINVAL);
        let mut entry = std::mem::MaybeUninit::<vsw_fdb_entry>::zeroed();
        assert_eq!(
            vsw_fdb_get(e, mac.as_ptr(), 10, 0, entry.as_mut_ptr()),
            VSW_OK
        );
        assert_eq!(entry.assume_init().port, 1, "the entry and the port stay");
        // Once the entry is gone the change goes through.
        assert_eq!(vsw_fdb_del(e, mac.as_ptr(), 10, 0), VSW_OK);
        assert_eq!(vsw_port_set(e, 1, cfg.as_ptr()), VSW_OK);
        vsw_engine_free(e);
    }
}

// ----- differential test: vsw_process == MemSwitch, byte for byte -----

const BCAST: u64 = 0xffff_ffff_ffff;
const MCAST: u64 = 0x0100_5e00_0001;

/// An optional 802.1Q tag: (PCP, VID).
type Tag = Option<(u8, u16)>;

fn frame(dst: u64, src: u64, tag: Tag, payload: usize) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst.to_be_bytes()[2..]);
    f.extend_from_slice(&src.to_be_bytes()[2..]);
    if let Some((pcp, vid)) = tag {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&((u16::from(pcp) << 13) | vid).to_be_bytes());
    }
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend((0..payload).map(|i| i as u8));
    f
}

/// The scenario lab, with port 3's frames capped at 1518 bytes so large
/// frames take the one-at-a-time path.
fn lab_c() -> Vec<(u8, vsw_port_config, Option<&'static CStr>)> {
    let cfg = |mode, vlan| {
        let mut c = std::mem::MaybeUninit::<vsw_port_config>::uninit();
        // SAFETY: `c` is writable; init fills every field on success.
        let rc = unsafe { vsw_port_config_init(c.as_mut_ptr(), mode, vlan) };
        assert_eq!(rc, VSW_OK);
        // SAFETY: initialized by the successful call above.
        unsafe { c.assume_init() }
    };
    let mut p3 = cfg(VSW_MODE_TRUNK, 0);
    p3.max_frame_len = 1518;
    vec![
        (0, cfg(VSW_MODE_ACCESS, 10), None),
        (1, cfg(VSW_MODE_ACCESS, 10), None),
        (2, cfg(VSW_MODE_ACCESS, 20), None),
        (3, p3, Some(c"10,20,30")),
        (4, cfg(VSW_MODE_TRUNK, 20), Some(c"10,20")),
        (5, cfg(VSW_MODE_GUEST, 0), None),
    ]
}

fn lab_rust() -> Vec<(PortId, PortConfig)> {
    let v = |n| VlanId::new(n).unwrap();
    let trunk = |allowed: &str, native| {
        PortConfig::new(VlanMode::Trunk {
            allowed: allowed.parse().unwrap(),
            native,
        })
    };
    let mut p3 = trunk("10,20,30", None);
    p3.max_frame_len = 1518;
    [
        PortConfig::new(VlanMode::Access(v(10))),
        PortConfig::new(VlanMode::Access(v(10))),
        PortConfig::new(VlanMode::Access(v(20))),
        p3,
        trunk("10,20", Some(v(20))),
        PortConfig::new(VlanMode::Guest { native: None }),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, c)| (PortId::new(i).unwrap(), c))
    .collect()
}

/// Tiny deterministic generator (no test dependency needed).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// What each port transmits for one batch, in frame order.
type Tx = Vec<Vec<Vec<u8>>>;

/// Runs `batch` through the C API with buffers of `headroom` bytes
/// (varied per frame) and `n_spares` spares.
fn via_c(
    e: *mut vsw_engine,
    ingress: u8,
    batch: &[(Vec<u8>, usize)],
    n_spares: usize,
) -> (Vec<vsw_frame>, Tx) {
    let mut bufs: Vec<Vec<u8>> = batch
        .iter()
        .map(|(f, headroom)| {
            let mut b = vec![0xee; headroom + f.len() + 8];
            b[*headroom..headroom + f.len()].copy_from_slice(f);
            b
        })
        .collect();
    let mut frames: Vec<vsw_frame> = bufs
        .iter_mut()
        .zip(batch)
        .map(|(b, (f, headroom))| vsw_frame {
            buf: b.as_mut_ptr(),
            capacity: b.len(),
            offset: *headroom,
            len: f.len(),
            drop_reason: 99,
            copy_spare: 99,
            ports: !0,
            copy_ports: !0,
            unsent_ports: !0,
        })
        .collect();
    let mut spare_bufs = vec![vec![0u8; 4096]; n_spares];
    let mut spares: Vec<vsw_spare> = spare_bufs
        .iter_mut()
        .map(|b| vsw_spare {
            buf: b.as_mut_ptr(),
            capacity: b.len(),
            offset: 64,
            len: 0,
        })
        .collect();
    let mut used = 0;
    // SAFETY: every pointer is to live, distinct memory of the stated size.
    let rc = unsafe {
        vsw_process(
            e,
            ingress,
            0,
            frames.as_mut_ptr(),
            frames.len(),
            spares.as_mut_ptr(),
            spares.len(),
            &mut used,
        )
    };
    assert_eq!(rc, VSW_OK);
    let mut tx: Tx = vec![Vec::new(); 6];
    for f in &frames {
        assert_eq!(f.ports & f.copy_ports, 0, "a port gets one encoding");
        let main = &bufs_data(f);
        for (p, out) in tx.iter_mut().enumerate() {
            if f.ports & (1 << p) != 0 {
                out.push(main.clone());
            }
            if f.copy_ports & (1 << p) != 0 {
                let s = &spares[f.copy_spare as usize];
                assert!((f.copy_spare as usize) < used);
                // SAFETY: the spare buffer is live and holds the copy.
                let copy = unsafe { std::slice::from_raw_parts(s.buf.add(s.offset), s.len) };
                out.push(copy.to_vec());
            }
        }
    }
    drop(spare_bufs);
    (frames, tx)
}

fn bufs_data(f: &vsw_frame) -> Vec<u8> {
    // SAFETY: `f.buf` is live (the caller still holds the buffers) and the
    // library keeps the window inside the buffer.
    unsafe { std::slice::from_raw_parts(f.buf.add(f.offset), f.len) }.to_vec()
}

#[test]
fn batches_switch_exactly_like_the_engine() {
    let e = new_engine();
    for (id, cfg, trunk) in lab_c() {
        let mut cfg = cfg;
        cfg.trunk_vlans = trunk.map_or(ptr::null(), CStr::as_ptr);
        // SAFETY: live engine, valid config with a static string.
        assert_eq!(unsafe { vsw_port_add(e, id, &cfg) }, VSW_OK);
    }
    let mut sw = MemSwitch::new(FdbConfig::default(), lab_rust()).unwrap();
    // Known hosts, learned in both before any batch: (mac, port, tag).
    let hosts: [(u64, u8, Tag); 5] = [
        (0x0200_0000_0a00, 0, None),
        (0x0200_0000_0a01, 1, None),
        (0x0200_0000_1400, 2, None),
        (0x0200_0000_0a03, 3, Some((0, 10))),
        (0x0200_0000_1404, 4, None),
    ];
    for (mac, port, tag) in hosts {
        let f = frame(BCAST, mac, tag, 46);
        via_c(e, port, &[(f.clone(), 64)], 4);
        sw.receive(PortId::new(port as usize).unwrap(), &[&f]);
    }
    sw.clear_tx();
    let mut rng = Lcg(42);
    let mut src = 0x0200_0001_0000u64;
    for round in 0..200 {
        let ingress = [0u8, 3, 4, 5][rng.next(4) as usize];
        let n = 1 + rng.next(64) as usize;
        let batch: Vec<(Vec<u8>, usize)> = (0..n)
            .map(|_| {
                src += 1; // fresh sources: no frame depends on another's learning
                let dst = match rng.next(4) {
                    0 => BCAST,
                    1 => MCAST,
                    2 => hosts[rng.next(5) as usize].0,
                    _ => 0x0200_00ff_0000 + rng.next(100),
                };
                let tag = match rng.next(4) {
                    0 => None,
                    1 => Some((rng.next(8) as u8, 0)),
                    _ => Some((rng.next(8) as u8, [10, 20, 30, 40][rng.next(4) as usize])),
                };
                let payload = match rng.next(10) {
                    0 => 1500 + rng.next(40) as usize, // around port 3's limit
                    1 => rng.next(8) as usize,         // tiny, some runts
                    _ => 46 + rng.next(200) as usize,
                };
                let headroom = [0, 2, 4, 128][rng.next(4) as usize];
                let mut f = frame(dst, src, tag, payload);
                if rng.next(20) == 0 {
                    f.truncate(rng.next(18) as usize);
                }
                (f, headroom)
            })
            .collect();
        let (frames, tx) = via_c(e, ingress, &batch, 64);
        let refs: Vec<&[u8]> = batch.iter().map(|(f, _)| &f[..]).collect();
        let want = sw.receive(PortId::new(ingress as usize).unwrap(), &refs);
        for (i, (f, d)) in frames.iter().zip(&want).enumerate() {
            let sent = f.ports | f.copy_ports | f.unsent_ports;
            match *d {
                Disposition::Drop(r) => {
                    assert_eq!(f.drop_reason, drop_code(r), "round {round} frame {i}");
                    assert_eq!(sent, 0);
                }
                Disposition::Forward(p) => {
                    assert_eq!(f.drop_reason, VSW_FORWARDED, "round {round} frame {i}");
                    assert_eq!(sent, 1 << p.index());
                }
                Disposition::Flood(s) => {
                    assert_eq!(f.drop_reason, VSW_FORWARDED, "round {round} frame {i}");
                    assert_eq!(sent, s.0, "round {round} frame {i}");
                }
            }
        }
        for (p, got) in tx.iter().enumerate() {
            let want = sw.take_tx(PortId::new(p).unwrap());
            assert_eq!(got, &want, "round {round}: port {p} output");
        }
    }
    // The rounds took every path: copies, per-port size drops (frames
    // switched alone), and shifts for headroom.
    let count = |f: unsafe extern "C" fn(*mut vsw_engine, i32, *mut u64) -> i32, what| {
        let mut n = 0;
        // SAFETY: live engine, valid out-pointer.
        assert_eq!(unsafe { f(e, what, &mut n) }, VSW_OK);
        n
    };
    assert!(count(vsw_event_count, VSW_EVENT_EGRESS_COPIES) > 100);
    assert!(count(vsw_drop_count, VSW_DROP_TOO_LARGE) > 10);
    assert!(count(vsw_drop_count, VSW_DROP_RUNT) > 10);
    assert_eq!(count(vsw_drop_count, VSW_DROP_NO_SPARE_FRAME), 0);
    // SAFETY: live engine, freed once.
    unsafe { vsw_engine_free(e) };
}
