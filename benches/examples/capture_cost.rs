//! Instructions per batch of the pipeline with and without a capture, for
//! callgrind (criterion's own code would swamp the counts):
//!
//! ```sh
//! cargo build --release -p vswitch-benches --example capture_cost
//! valgrind --tool=callgrind target/release/examples/capture_cost MODE BATCHES
//! ```
//!
//! MODE: `none`, `input_all`, `output_all`, `input_none`, `output_none`
//! (as the `capture` group of benches/benches/pipeline.rs): unicast among
//! 1000 learned hosts on access ports, 64-byte frames. The difference of
//! two runs with different BATCHES, divided by the difference of
//! BATCHES, is the cost of a batch without the set-up. A capture is
//! drained after every batch (what the daemon's reader does on its own
//! thread); callgrind's inclusive cost of `Capture::drain` separates it.

use std::hint::black_box;
// CAPTURE-BEGIN
use std::sync::Arc;
use vswitch_engine::capture::{Capture, CaptureFilter, Point};
// CAPTURE-END

use vswitch_benches::{frame64, host, Rig, Rng};
use vswitch_engine::limits::BATCH_SIZE;
use vswitch_engine::{PortConfig, PortId, VlanId, VlanMode};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("none", String::as_str);
    let batches: usize = args.get(2).and_then(|b| b.parse().ok()).unwrap_or(10_000);
    let p = |n| PortId::new(n).unwrap();
    let v10 = VlanId::new(10).unwrap();
    let ports = (0..4)
        .map(|i| (p(i), PortConfig::new(VlanMode::Access(v10))))
        .collect();
    let mut rig = Rig::new(4096, ports);
    let (macs, senders) = (1000u64, 250u64);
    for i in 0..macs {
        let port = if i < senders { 0 } else { 1 + i as usize % 3 };
        rig.learn(v10, host(i), p(port));
    }
    let mut rng = Rng::new(7);
    let pairs: Vec<[u8; 12]> = (0..1 << 16)
        .map(|_| {
            let mut pair = [0u8; 12];
            pair[..6].copy_from_slice(&host(rng.range(0, senders)).octets());
            pair[6..].copy_from_slice(&host(rng.range(senders, macs)).octets());
            // dst first, then src
            pair.rotate_left(6);
            pair
        })
        .collect();
    let template: Vec<Vec<u8>> = (0..BATCH_SIZE)
        .map(|_| frame64(host(0), host(0), None))
        .collect();
    rig.load(&template);
    // CAPTURE-BEGIN
    let never = CaptureFilter {
        mac: Some(vswitch_engine::Mac::new([2, 0xff, 0, 0, 0, 1])),
        ..CaptureFilter::default()
    };
    let case = match mode {
        "none" => None,
        "input_all" => Some((Point::Input, CaptureFilter::default())),
        "output_all" => Some((Point::Output, CaptureFilter::default())),
        "input_none" => Some((Point::Input, never)),
        "output_none" => Some((Point::Output, never)),
        other => panic!("unknown mode {other}"),
    };
    let cap = case.map(|(point, filter)| {
        let c = Arc::new(Capture::new(1, point, filter, 128));
        rig.engine_mut().add_capture(Arc::clone(&c)).unwrap();
        c
    });
    // CAPTURE-END
    let mut cursor = 0;
    let mut outputs = 0;
    for _ in 0..batches {
        for i in 0..BATCH_SIZE {
            rig.frame_mut(i)[..12].copy_from_slice(&pairs[cursor]);
            cursor = (cursor + 1) % pairs.len();
        }
        outputs += black_box(rig.run(p(0)));
        // CAPTURE-BEGIN
        if let Some(c) = &cap {
            c.drain(usize::MAX, |r| {
                black_box(r.bytes().len());
            });
        }
        // CAPTURE-END
    }
    // CAPTURE-BEGIN
    if let Some(c) = &cap {
        assert_eq!(c.lost(), 0);
    }
    // CAPTURE-END
    println!("{mode}: {batches} batches, {outputs} outputs");
}
