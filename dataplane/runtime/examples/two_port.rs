//! Spike: switch two interfaces as access ports of VLAN 1 for N seconds.
//! `two_port IF_A IF_B SECONDS`
use std::time::Duration;
use vswitch_dataplane::fdb::FdbConfig;
use vswitch_dataplane::port::{DriverChoice, PortSpec};
use vswitch_dataplane::switch::{Switch, SwitchConfig};
use vswitch_dataplane::{PortConfig, PortId, VlanId, VlanMode};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    vswitch_dataplane::port::xsk::route_library_logs();
    let cfg = SwitchConfig::new(vec![1], FdbConfig::default());
    let ports = vec![
        (
            PortSpec {
                id: PortId::new(0).unwrap(),
                iface: args[1].clone(),
                driver: DriverChoice::AfXdp,
                replace_foreign_xdp: false,
            },
            0,
        ),
        (
            PortSpec {
                id: PortId::new(1).unwrap(),
                iface: args[2].clone(),
                driver: DriverChoice::AfXdp,
                replace_foreign_xdp: false,
            },
            0,
        ),
    ];
    let (mut sw, st) = Switch::start(&cfg, ports).expect("start");
    println!("{st:?}");
    for s in &st {
        let mut c = PortConfig::new(VlanMode::Access(VlanId::new(1).unwrap()));
        c.max_frame_len = s.max_frame_len;
        sw.engine_mut()
            .add_port(s.id, c, s.worker)
            .expect("add port");
    }
    std::thread::sleep(Duration::from_secs(args[3].parse().unwrap()));
    let t = sw.totals();
    for p in 0..2 {
        println!("port {p}: {:?}", t.ports[p]);
    }
    println!("fdb: {:?}", sw.fdb().entries(sw.now_secs()));
    println!("drops: {:?}", t.drops);
    println!("reports: {:?}", sw.port_reports());
    sw.stop();
}
