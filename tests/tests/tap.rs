//! Tap ports for VMs (`create = "tap"`): vswitchd makes a persistent tap
//! with virtio-net headers and switches it through a packet socket, while
//! the VM (QEMU, `-netdev tap,ifname=NAME,script=no,downscript=no,
//! vhost=on`) holds the tap's own fd. Here the test plays the VM: it opens
//! the tap as QEMU does (`IFF_TAP | IFF_NO_PI | IFF_VNET_HDR`,
//! `TUNSETVNETHDRSZ`, `TUNSETOFFLOAD` with the offloads a virtio-net
//! guest negotiates) and speaks TCP to a namespace host with the kernel's
//! default offloads, by hand: a TSO super-frame it writes must reach the
//! host's socket byte-exact, and the host's bulk write must reach the
//! tap fd as a super-frame with its virtio-net header.
//!
//! The "guest" uses the 12-byte virtio-net 1.0 header (with
//! `num_buffers`), as QEMU does for a modern virtio-net device and as
//! vswitchd creates the tap with (dataplane/runtime/src/port/tap.rs,
//! `TAP_VNET_HDR_LEN`); the switch's own side is a packet socket with
//! the 10-byte header, independent of the tap's setting.
//!
//! Run as root, one at a time; the lab (prefix `vtp`) removes every
//! namespace, veth and tap it made (all named `vtp*`), failed or not.

#![allow(unsafe_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vswitch_tests::daemon::{write_config, Daemon};
use vswitch_tests::lab::{Host, Lab};
use vswitch_tests::transfer::Stream;
use vswitch_tests::{bin, netns, serial, sh, wait_until};

const PREFIX: &str = "vtp";
const VNET_HDR_LEN: usize = 12;
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
const VIRTIO_NET_HDR_GSO_TCPV4: u8 = 1;
const GUEST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xee, 0x01];
const GUEST_IP: [u8; 4] = [198, 18, 1, 1];
const GUEST_PORT: u16 = 40001;
const SERVER_PORT: u16 = 5001;
/// The guest's TSO segment size (an MSS of 1460 less TCP timestamps, as a
/// Linux guest sends).
const GSO_SIZE: u16 = 1448;
/// Payload of the guest's super-frame: 14 segments.
const GUEST_BYTES: usize = 20_000;
/// What the host writes back: more than one segment, so its TSO makes a
/// super-frame.
const HOST_BYTES: usize = 60_000;

fn tap_name(n: u8) -> String {
    format!("{PREFIX}vm{n}")
}

/// A `[[port]]` table of a created tap.
fn tap_port(name: &str, iface: &str, extra: &str) -> String {
    format!("\n[[port]]\nname = \"{name}\"\niface = \"{iface}\"\nvlan = 10\ncreate = \"tap\"\n{extra}\n")
}

fn host_port(h: &Host) -> String {
    format!(
        "\n[[port]]\nname = \"h{}\"\niface = \"{}\"\nvlan = 10\n",
        h.n, h.port_if
    )
}

fn config(ports: &[String]) -> String {
    format!(
        "[switch]\ncontrol_socket = \"@SOCKET@\"\nworkers = [1]\n\n[fdb]\naging_secs = 300\n{}",
        ports.concat()
    )
}

fn sysfs(iface: &str, leaf: &str) -> Option<String> {
    std::fs::read_to_string(format!("/sys/class/net/{iface}/{leaf}"))
        .ok()
        .map(|s| s.trim().to_string())
}

fn port_of(d: &Daemon, name: &str) -> Value {
    d.call("port.show", json!({"name": name}))
        .unwrap_or_else(|e| panic!("port.show {name}: {e:?}\n{}", d.log_tail(30)))
}

/// The VM's end of a tap: the fd QEMU would hold.
struct GuestTap {
    fd: OwnedFd,
}

impl GuestTap {
    /// Attaches to tap `iface` as QEMU does, with the offloads a
    /// virtio-net guest negotiates (checksum, TSO for IPv4 and IPv6).
    fn open(iface: &str) -> GuestTap {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            .expect("open /dev/net/tun");
        let fd = OwnedFd::from(f);
        // SAFETY: ifreq is plain old data; all zeroes is valid.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, &s) in req.ifr_name.iter_mut().zip(iface.as_bytes()) {
            *d = s as libc::c_char;
        }
        req.ifr_ifru.ifru_flags =
            (libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as libc::c_short;
        let io = |what: &str, rc: libc::c_int| {
            assert!(
                rc >= 0,
                "{what} on {iface}: {}",
                std::io::Error::last_os_error()
            )
        };
        // SAFETY: a live fd and a live ifreq the kernel reads and writes.
        io("TUNSETIFF", unsafe {
            libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req)
        });
        let hdr = VNET_HDR_LEN as libc::c_int;
        // SAFETY: reads one int from a live local.
        io("TUNSETVNETHDRSZ", unsafe {
            libc::ioctl(fd.as_raw_fd(), libc::TUNSETVNETHDRSZ, &hdr)
        });
        let offloads = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6;
        // SAFETY: TUNSETOFFLOAD takes its flags as the argument itself.
        io("TUNSETOFFLOAD", unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                libc::TUNSETOFFLOAD,
                offloads as libc::c_ulong,
            )
        });
        GuestTap { fd }
    }

    /// Writes one frame with its virtio-net header.
    fn send(&self, vnet: &[u8; VNET_HDR_LEN], frame: &[u8]) {
        let mut buf = vnet.to_vec();
        buf.extend_from_slice(frame);
        // SAFETY: writes from a live buffer of the given length.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
        assert_eq!(
            n,
            buf.len() as isize,
            "write to the tap: {}",
            std::io::Error::last_os_error()
        );
    }

    /// Reads frames (header, frame) until `pred` accepts one or `secs` pass.
    fn recv_until(
        &self,
        secs: f64,
        mut pred: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Option<(Vec<u8>, Vec<u8>)> {
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        let mut buf = vec![0u8; 70_000];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one live pollfd.
            let rc = unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as i32) };
            if rc <= 0 {
                continue;
            }
            // SAFETY: reads into a live buffer of the given length.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < VNET_HDR_LEN as isize {
                continue;
            }
            let (h, f) = buf[..n as usize].split_at(VNET_HDR_LEN);
            if pred(h, f) {
                return Some((h.to_vec(), f.to_vec()));
            }
        }
    }
}

/// Attaches to tap `iface` as user `uid` (in a forked child that drops
/// root after opening /dev/net/tun, as a VM run as that user): 0, or the
/// errno of `TUNSETIFF` (over 100: a step before it failed).
fn attach_as(uid: u32, iface: &str) -> i32 {
    let path = c"/dev/net/tun";
    // SAFETY: ifreq is plain old data; all zeroes is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, &s) in req.ifr_name.iter_mut().zip(iface.as_bytes()) {
        *d = s as libc::c_char;
    }
    req.ifr_ifru.ifru_flags =
        (libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as libc::c_short;
    // SAFETY: the child calls only async-signal-safe functions on
    // memory prepared before the fork, and ends with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: see above; the child never returns.
        unsafe {
            // Opened as root: /dev/net/tun may be 0600 (it is on the CI
            // machines); the owner check is the kernel's at TUNSETIFF.
            let fd = libc::open(path.as_ptr(), libc::O_RDWR);
            if fd < 0 {
                libc::_exit(103);
            }
            if libc::setgroups(0, std::ptr::null()) != 0 {
                libc::_exit(101);
            }
            if libc::setgid(uid) != 0 || libc::setuid(uid) != 0 {
                libc::_exit(102);
            }
            if libc::ioctl(fd, libc::TUNSETIFF, &mut req) < 0 {
                libc::_exit(*libc::__errno_location() & 0x7f);
            }
            libc::_exit(0);
        }
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status), "child status {status}");
    libc::WEXITSTATUS(status)
}

/// The one's-complement sum of `data` added to `sum` (RFC 1071).
fn sum16(mut sum: u32, data: &[u8]) -> u32 {
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// A TCP/IPv4 frame from the guest to `dst`. `partial`: the checksum
/// field holds the pseudo-header sum (what a NEEDS_CSUM sender leaves);
/// otherwise the full checksum.
#[allow(clippy::too_many_arguments)]
fn tcp_frame(
    dst_mac: [u8; 6],
    dst_ip: [u8; 4],
    seq: u32,
    ack: u32,
    flags: u8,
    options: &[u8],
    payload: &[u8],
    partial: bool,
) -> Vec<u8> {
    let tcp_len = 20 + options.len() + payload.len();
    let mut f = Vec::with_capacity(34 + tcp_len);
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&GUEST_MAC);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let total = (20 + tcp_len) as u16;
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[4..6].copy_from_slice(&(seq as u16).to_be_bytes());
    ip[6] = 0x40; // DF
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&GUEST_IP);
    ip[16..20].copy_from_slice(&dst_ip);
    let c = !fold(sum16(0, &ip));
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let mut tcp = vec![0u8; 20];
    tcp[0..2].copy_from_slice(&GUEST_PORT.to_be_bytes());
    tcp[2..4].copy_from_slice(&SERVER_PORT.to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&ack.to_be_bytes());
    tcp[12] = (((20 + options.len()) / 4) as u8) << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&65535u16.to_be_bytes());
    tcp.extend_from_slice(options);
    tcp.extend_from_slice(payload);
    let mut pseudo = [0u8; 12];
    pseudo[0..4].copy_from_slice(&GUEST_IP);
    pseudo[4..8].copy_from_slice(&dst_ip);
    pseudo[9] = 6;
    pseudo[10..12].copy_from_slice(&(tcp_len as u16).to_be_bytes());
    let ph = sum16(0, &pseudo);
    let c = if partial {
        fold(ph)
    } else {
        !fold(sum16(ph, &tcp))
    };
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&tcp);
    f
}

/// (flags, seq, ack, payload length, window) of a TCP/IPv4 frame from the
/// server to the guest, or None.
fn from_server(f: &[u8]) -> Option<(u8, u32, u32, usize, u16)> {
    if f.len() < 54 || f[12..14] != [0x08, 0x00] || f[23] != 6 || f[30..34] != GUEST_IP {
        return None;
    }
    let ihl = usize::from(f[14] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
    let t = &f[14 + ihl..];
    let sport = u16::from_be_bytes([t[0], t[1]]);
    let dport = u16::from_be_bytes([t[2], t[3]]);
    if sport != SERVER_PORT || dport != GUEST_PORT {
        return None;
    }
    let seq = u32::from_be_bytes([t[4], t[5], t[6], t[7]]);
    let ack = u32::from_be_bytes([t[8], t[9], t[10], t[11]]);
    let doff = usize::from(t[12] >> 4) * 4;
    let window = u16::from_be_bytes([t[14], t[15]]);
    Some((t[13], seq, ack, total - ihl - doff, window))
}

/// `nstat`'s absolute value of `counter` in namespace `ns`.
fn nstat(ns: &str, counter: &str) -> u64 {
    let (_, out, _) = sh("ip", &["netns", "exec", ns, "nstat", "-az", counter]);
    out.lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(counter)).then(|| w.next()?.parse().ok())?
        })
        .unwrap_or(0)
}

#[test]
fn a_guest_super_frame_reaches_a_host_whole_and_one_comes_back_whole() {
    let _serial = serial();
    let mut lab = Lab::new(PREFIX);
    let h = lab.host(1);
    let tap = tap_name(1);
    let d = Daemon::start(
        "tap-gso",
        &config(&[host_port(&h), tap_port("vm1", &tap, "")]),
    );
    assert_eq!(
        sysfs(&tap, "tun_flags").as_deref(),
        Some("0x5802"),
        "a persistent tap (IFF_PERSIST | IFF_VNET_HDR | IFF_NO_PI | IFF_TAP), no fd attached\n{}",
        d.log_tail(20)
    );
    let guest = GuestTap::open(&tap);
    // Carrier comes with the guest's fd: the port goes up.
    assert!(
        wait_until(5.0, || port_of(&d, "vm1")["link"] == "up"),
        "the tap port did not come up once the guest attached: {}\n{}",
        port_of(&d, "vm1"),
        d.log_tail(20)
    );
    let host_mac = h.mac;
    let host_ip: [u8; 4] = [198, 18, 0, h.n];
    let guest_mac_s = GUEST_MAC.map(|b| format!("{b:02x}")).join(":");
    // The host knows the guest's MAC (no ARP responder in this guest).
    vswitch_tests::must(
        "ip",
        &[
            "-n",
            &h.ns,
            "neigh",
            "replace",
            "198.18.1.1",
            "lladdr",
            &guest_mac_s,
            "dev",
            "eth0",
        ],
    );
    let csum_errors_before = nstat(&h.ns, "TcpInCsumErrors");

    // The server: reads the guest's bytes, then writes HOST_BYTES back.
    let ip = h.ip.clone();
    let listener = netns::run_in(&h.ns, move || {
        TcpListener::bind(format!("{ip}:{SERVER_PORT}")).expect("listen")
    });
    listener.set_nonblocking(true).expect("nonblocking");
    let (got_tx, got_rx) = mpsc::channel::<Result<Vec<u8>, String>>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut s: TcpStream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => {
                    let _ = got_tx.send(Err(format!("no connection: {e}")));
                    return;
                }
            }
        };
        s.set_nonblocking(false).ok();
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let mut got = vec![0u8; GUEST_BYTES];
        let r = s
            .read_exact(&mut got)
            .map(|_| got)
            .map_err(|e| e.to_string());
        let _ = got_tx.send(r);
        let _ = s.write_all(&vec![0x5a; HOST_BYTES]);
        let _ = done_rx.recv_timeout(Duration::from_secs(15));
    });

    // The handshake, by hand.
    let no_offload = [0u8; VNET_HDR_LEN];
    let isn: u32 = 0x1000_0000;
    let mss = [2, 4, 0x05, 0xb4]; // MSS 1460
    guest.send(
        &no_offload,
        &tcp_frame(host_mac, host_ip, isn, 0, 0x02, &mss, &[], false),
    );
    let synack = guest.recv_until(5.0, |_, f| {
        from_server(f).is_some_and(|(fl, _, ack, _, _)| fl & 0x12 == 0x12 && ack == isn + 1)
    });
    let Some((_, synack)) = synack else {
        panic!(
            "no SYN-ACK reached the guest\n{}\n{}",
            serde_json::to_string(&d.call("stats.show", json!({})).unwrap_or_default())
                .unwrap_or_default(),
            d.log_tail(20)
        );
    };
    let (_, server_isn, _, _, window) = from_server(&synack).expect("checked");
    assert!(
        usize::from(window) >= GUEST_BYTES,
        "the server's window ({window}) is too small for one {GUEST_BYTES}-byte super-frame"
    );
    let ack = server_isn.wrapping_add(1);
    guest.send(
        &no_offload,
        &tcp_frame(host_mac, host_ip, isn + 1, ack, 0x10, &[], &[], false),
    );
    let before = port_of(&d, "vm1")["counters"].clone();

    // The super-frame: TSO with a partial checksum, as a virtio-net guest
    // with negotiated offloads writes it.
    let mut payload = vec![0u8; GUEST_BYTES];
    Stream::new(13).fill(&mut payload);
    let frame = tcp_frame(host_mac, host_ip, isn + 1, ack, 0x18, &[], &payload, true);
    let mut vnet = [0u8; VNET_HDR_LEN];
    vnet[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    vnet[1] = VIRTIO_NET_HDR_GSO_TCPV4;
    vnet[2..4].copy_from_slice(&54u16.to_le_bytes()); // hdr_len
    vnet[4..6].copy_from_slice(&GSO_SIZE.to_le_bytes());
    vnet[6..8].copy_from_slice(&34u16.to_le_bytes()); // csum_start
    vnet[8..10].copy_from_slice(&16u16.to_le_bytes()); // csum_offset
    guest.send(&vnet, &frame);

    let got = got_rx.recv_timeout(Duration::from_secs(20));
    let counters = port_of(&d, "vm1")["counters"].clone();
    let stats = d.call("stats.show", json!({})).unwrap_or_default();
    match got {
        Ok(Ok(bytes)) => assert!(
            bytes == payload,
            "the server read {} bytes, not the guest's",
            bytes.len()
        ),
        other => panic!(
            "the guest's super-frame did not reach the server: {other:?}\nstats: {stats}\n{}",
            d.log_tail(20)
        ),
    }
    let rx = |c: &Value, k: &str| c[k].as_u64().unwrap_or(0);
    assert!(
        rx(&counters, "rx_packets") - rx(&before, "rx_packets") <= 2,
        "the super-frame should enter the switch as one frame: {before} -> {counters}"
    );
    assert!(rx(&counters, "rx_bytes") - rx(&before, "rx_bytes") >= GUEST_BYTES as u64);
    assert_eq!(
        nstat(&h.ns, "TcpInCsumErrors"),
        csum_errors_before,
        "segments with bad checksums reached the host"
    );

    // The way back: the server's 60 KB write leaves its TSO as a
    // super-frame, which must reach the guest's fd whole.
    let back = guest.recv_until(10.0, |h, f| {
        from_server(f).is_some_and(|(_, _, _, len, _)| len > 0) && h[1] != 0
    });
    let _ = done_tx.send(());
    let _ = server.join();
    let Some((h_back, f_back)) = back else {
        panic!(
            "no super-frame from the server reached the guest's fd (stats: {})\n{}",
            d.call("stats.show", json!({})).unwrap_or_default(),
            d.log_tail(20)
        );
    };
    let gso_size = u16::from_le_bytes([h_back[4], h_back[5]]);
    let (_, _, _, len, _) = from_server(&f_back).expect("checked");
    assert_eq!(
        h_back[1] & 0x7f,
        VIRTIO_NET_HDR_GSO_TCPV4,
        "gso_type: {h_back:?}"
    );
    assert!(gso_size > 0, "gso_size 0: {h_back:?}");
    assert!(
        h_back[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0,
        "NEEDS_CSUM: {h_back:?}"
    );
    assert!(
        len > usize::from(gso_size),
        "a super-frame carries more than one segment: {len} bytes, gso_size {gso_size}"
    );
    drop(guest);
    d.stop();
    // A daemon stop keeps the tap: a VM keeps its NIC.
    assert!(
        sysfs(&tap, "ifindex").is_some(),
        "the tap went with the daemon"
    );
}

#[test]
fn a_tap_outlives_a_restart_and_goes_with_port_del() {
    let _serial = serial();
    let lab = Lab::new(PREFIX);
    let (t1, t2) = (tap_name(1), tap_name(2));
    let cfg = config(&[tap_port("vm1", &t1, "owner = \"nobody\"")]);
    let d = Daemon::start("tap-life", &cfg);
    let index = sysfs(&t1, "ifindex").expect("the tap exists");
    let nobody = sh("id", &["-u", "nobody"]).1.trim().to_string();
    assert_eq!(sysfs(&t1, "owner"), Some(nobody.clone()), "owner");
    // The owner may open it without root; another user may not.
    let uid: u32 = nobody.parse().expect("uid");
    assert_eq!(attach_as(uid, &t1), 0, "the owner opens the tap");
    assert_eq!(attach_as(1, &t1), libc::EPERM, "another user is refused");
    let p = port_of(&d, "vm1");
    assert_eq!(
        (&p["create"], &p["owner"], &p["driver_in_use"]),
        (&json!("tap"), &json!("nobody"), &json!("packet")),
        "{p}"
    );
    // A VM holds the tap across the restart.
    let guest = GuestTap::open(&t1);
    let status = d.stop();
    assert!(status.success(), "vswitchd exit: {status}");
    assert_eq!(
        sysfs(&t1, "ifindex"),
        Some(index.clone()),
        "the tap survives a stop"
    );
    let d = Daemon::start("tap-life", &cfg);
    assert_eq!(
        sysfs(&t1, "ifindex"),
        Some(index),
        "the restart reuses the tap\n{}",
        d.log_tail(20)
    );
    assert!(
        wait_until(5.0, || port_of(&d, "vm1")["link"] == "up"),
        "the reused tap, with its guest attached, is up: {}",
        port_of(&d, "vm1")
    );

    // create and owner are fixed once the port is added.
    for patch in [
        json!({"name": "vm1", "owner": "root"}),
        json!({"name": "vm1", "create": "tap", "owner": 0}),
    ] {
        let e = d.call("port.set", patch.clone()).unwrap_err();
        assert_eq!(e.0, -32602, "{patch}: {e:?}");
        assert!(e.1.contains("set only when a port is added"), "{e:?}");
    }
    let e = d
        .call("port.set", json!({"name": "vm1", "driver": "afxdp"}))
        .unwrap_err();
    assert!(e.1.contains("packet driver"), "{e:?}");
    assert_eq!(
        port_of(&d, "vm1")["driver"],
        "auto",
        "a refusal changes nothing"
    );

    // port.add makes a tap (owner by uid), port.del removes both, a VM
    // attached or not.
    let p = d
        .call(
            "port.add",
            json!({"name": "vm2", "iface": t2, "vlan": 10, "create": "tap", "owner": 65534}),
        )
        .unwrap_or_else(|e| panic!("port.add: {e:?}\n{}", d.log_tail(20)));
    assert_eq!(p["owner"], 65534);
    assert_eq!(sysfs(&t2, "owner").as_deref(), Some("65534"));
    assert_eq!(attach_as(65534, &t2), 0, "the owner opens the tap");
    d.call("port.del", json!({"name": "vm2"}))
        .expect("port.del");
    assert_eq!(sysfs(&t2, "ifindex"), None, "port.del removes the tap");
    d.call("port.del", json!({"name": "vm1"}))
        .expect("port.del");
    assert_eq!(
        sysfs(&t1, "ifindex"),
        None,
        "port.del removes the tap even with a guest on it"
    );
    drop(guest);
    // A port on an interface that is not a tap is refused, and nothing made.
    let (veth, _) = lab.link("x1", "x2");
    let e = d
        .call(
            "port.add",
            json!({"name": "vm3", "iface": veth, "vlan": 10, "create": "tap"}),
        )
        .unwrap_err();
    assert!(e.1.contains("is not a tap"), "{e:?}");
    assert!(sysfs(&veth, "ifindex").is_some(), "the veth is left alone");
    d.stop();
}

#[test]
fn check_accepts_a_tap_not_made_yet_and_a_failed_start_removes_the_taps_it_made() {
    let _serial = serial();
    let lab = Lab::new(PREFIX);
    let (t1, t2) = (tap_name(1), tap_name(2));
    let run = |name: &str, toml: &str, check: bool| {
        let (_dir, path, _) = write_config(name, toml);
        let mut args = vec!["--config", path.to_str().expect("utf-8")];
        if check {
            args.push("--check");
        }
        sh(bin("vswitchd").to_str().expect("utf-8"), &args)
    };
    let (ok, out, err) = run("tap-check", &config(&[tap_port("vm1", &t1, "")]), true);
    assert!(ok, "--check with a tap not made yet: {out}{err}");
    assert_eq!(sysfs(&t1, "ifindex"), None, "--check makes nothing");
    // An owner needs create, and a created tap takes no AF_XDP.
    let (ok, _, err) = run(
        "tap-check",
        &config(&[format!(
            "\n[[port]]\nname = \"a\"\niface = \"{t1}\"\nvlan = 10\nowner = \"nobody\"\n"
        )]),
        true,
    );
    assert!(!ok && err.contains("owner"), "{err}");
    let (ok, _, err) = run(
        "tap-check",
        &config(&[tap_port("vm1", &t1, "driver = \"afxdp\"")]),
        true,
    );
    assert!(!ok && err.contains("packet driver"), "{err}");
    let (ok, _, err) = run(
        "tap-check",
        &config(&[tap_port("vm1", &t1, "owner = \"no-such-user-x\"")]),
        true,
    );
    assert!(!ok && err.contains("does not exist"), "{err}");

    // A start that fails after making vm1's tap (vm2's interface is a
    // veth, not a tap) removes it again and leaves the veth alone.
    let (veth, _) = lab.link("y1", "y2");
    let (ok, _, err) = run(
        "tap-fail",
        &config(&[tap_port("vm1", &t1, ""), tap_port("vm2", &veth, "")]),
        false,
    );
    assert!(!ok && err.contains("is not a tap"), "{err}");
    assert_eq!(sysfs(&t1, "ifindex"), None, "the made tap is removed");
    assert!(sysfs(&veth, "ifindex").is_some());
    let _ = t2;
}
