//! A lab of namespace hosts: host `n` lives in namespace `<prefix>h<n>`
//! with `eth0` (MAC 02:00:00:00:<tag>:<n>, IP 198.18.0.<n>/16), wired by
//! a veth pair to `<prefix>s<n>` in the root namespace, which the switch
//! uses. Dropping the lab removes every namespace, veth and XDP program
//! it made, also when the test panicked.
//!
//! Hosts keep the kernel's defaults, as containers and VMs do: tx
//! checksum offload and TSO on, MTU 1500. Their TCP and UDP therefore
//! reach the switch as super-frames and with partial checksums, and the
//! switch must carry them; the tests do not hide that by
//! turning offloads off.

use crate::{must, sh};

/// One host.
#[derive(Debug, Clone)]
pub struct Host {
    /// Its number.
    pub n: u8,
    /// Namespace name.
    pub ns: String,
    /// Switch-side interface in the root namespace.
    pub port_if: String,
    /// IPv4 address (no prefix length).
    pub ip: String,
    /// MAC of its eth0.
    pub mac: [u8; 6],
}

/// A set of hosts that share a prefix.
#[derive(Debug)]
pub struct Lab {
    prefix: String,
    /// Hosts created so far.
    pub hosts: Vec<Host>,
    tag: u8,
}

impl Lab {
    /// A new, empty lab. `prefix` (at most 8 characters, unique per test)
    /// starts every name; leftovers of an earlier crashed run with the
    /// same prefix are removed first.
    pub fn new(prefix: &str) -> Lab {
        assert!(
            prefix.len() <= 8,
            "prefix {prefix:?} too long for interface names"
        );
        crate::require_root();
        let lab = Lab {
            prefix: prefix.to_string(),
            hosts: Vec::new(),
            tag: prefix
                .bytes()
                .fold(0u8, |a, b| a.wrapping_mul(31).wrapping_add(b)),
        };
        lab.cleanup();
        lab
    }

    /// The lab's prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Adds host `n` (1..=250).
    pub fn host(&mut self, n: u8) -> Host {
        let ns = format!("{}h{n}", self.prefix);
        let port_if = format!("{}s{n}", self.prefix);
        let mac = [0x02, 0, 0, 0, self.tag, n];
        let ip = format!("198.18.0.{n}");
        must("ip", &["netns", "add", &ns]);
        let h = Host {
            n,
            ns,
            port_if,
            ip,
            mac,
        };
        wire(&h);
        self.hosts.push(h.clone());
        h
    }

    /// Deletes host `h`'s veth pair and makes it again with the same
    /// names, MAC and address (its namespace stays): an interface that
    /// disappears and comes back, as when a VM's tap is recreated.
    pub fn rewire(&self, h: &Host) -> Result<(), String> {
        let run = |args: &[&str]| {
            let (ok, out, err) = sh("ip", args);
            if ok {
                Ok(())
            } else {
                Err(format!("ip {}: {err}{out}", args.join(" ")))
            }
        };
        // Gone already is fine: deleting either end removes both.
        let _ = sh("ip", &["link", "del", &h.port_if]);
        let mac = h
            .mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        run(&[
            "link", "add", &h.port_if, "type", "veth", "peer", "name", "eth0", "netns", &h.ns,
        ])?;
        run(&["-n", &h.ns, "link", "set", "eth0", "address", &mac])?;
        run(&[
            "-n",
            &h.ns,
            "addr",
            "add",
            &format!("{}/16", h.ip),
            "dev",
            "eth0",
        ])?;
        run(&["-n", &h.ns, "link", "set", "eth0", "up"])?;
        let _ = sh(
            "sysctl",
            &[
                "-qw",
                &format!("net.ipv6.conf.{}.disable_ipv6=1", h.port_if),
            ],
        );
        run(&["link", "set", &h.port_if, "up"])
    }

    /// A veth pair in the root namespace, `<prefix><a>` and `<prefix><b>`,
    /// both up: a cable between two switch ports (of two vswitchd
    /// processes, say). Removed with the lab.
    pub fn link(&self, a: &str, b: &str) -> (String, String) {
        let (a, b) = (format!("{}{a}", self.prefix), format!("{}{b}", self.prefix));
        must(
            "ip",
            &["link", "add", &a, "type", "veth", "peer", "name", &b],
        );
        for end in [&a, &b] {
            let _ = sh(
                "sysctl",
                &["-qw", &format!("net.ipv6.conf.{end}.disable_ipv6=1")],
            );
            must("ip", &["link", "set", end, "up"]);
        }
        (a, b)
    }

    /// Pings `to` from `from` (`count` echoes, 1 s timeout each); true if
    /// every echo came back.
    pub fn ping(&self, from: &Host, to: &Host, count: u32) -> bool {
        let c = count.to_string();
        let (ok, out, _) = sh(
            "ip",
            &[
                "netns", "exec", &from.ns, "ping", "-c", &c, "-i", "0.2", "-W", "1", "-q", &to.ip,
            ],
        );
        ok && out.contains(&format!("{count} received"))
    }

    /// Whether any XDP program is attached to a switch-side interface.
    pub fn xdp_left(&self) -> Vec<String> {
        self.hosts
            .iter()
            .filter(|h| {
                let (_, out, _) = sh("ip", &["link", "show", "dev", &h.port_if]);
                out.contains(" xdp") || out.contains("prog/xdp")
            })
            .map(|h| h.port_if.clone())
            .collect()
    }

    fn cleanup(&self) {
        let (_, out, _) = sh("ip", &["netns", "list"]);
        for ns in out.lines().filter_map(|l| l.split_whitespace().next()) {
            if ns.starts_with(&self.prefix) {
                let _ = sh("ip", &["netns", "del", ns]);
            }
        }
        let (_, out, _) = sh("ip", &["-o", "link", "show"]);
        for l in out.lines() {
            let name = l
                .split(':')
                .nth(1)
                .map(|s| s.trim().split('@').next().unwrap_or(""))
                .unwrap_or("");
            if !name.is_empty() && name.starts_with(&self.prefix) {
                let _ = sh("ip", &["link", "set", "dev", name, "xdp", "off"]);
                let _ = sh("ip", &["link", "set", "dev", name, "xdpgeneric", "off"]);
                let _ = sh("ip", &["link", "del", name]);
            }
        }
    }
}

/// Creates `host`'s veth pair (host end `eth0` in its namespace, with its
/// MAC and address) and brings both ends up.
fn wire(host: &Host) {
    let Host { ns, port_if, .. } = host;
    must(
        "ip",
        &[
            "link", "add", port_if, "type", "veth", "peer", "name", "eth0", "netns", ns,
        ],
    );
    configure(host);
}

/// Gives `host`'s eth0 its MAC and address and brings both ends of its
/// pair up.
fn configure(host: &Host) {
    let Host {
        ns,
        port_if,
        ip,
        mac,
        ..
    } = host;
    let mac_s = mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    must("ip", &["-n", ns, "link", "set", "eth0", "address", &mac_s]);
    must(
        "ip",
        &["-n", ns, "addr", "add", &format!("{ip}/16"), "dev", "eth0"],
    );
    must("ip", &["-n", ns, "link", "set", "lo", "up"]);
    must("ip", &["-n", ns, "link", "set", "eth0", "up"]);
    must("ip", &["link", "set", port_if, "up"]);
    // No IPv6 chatter (router solicitations, DAD) in frame-exact tests.
    let _ = sh(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.disable_ipv6=1",
        ],
    );
    let _ = sh(
        "sysctl",
        &["-qw", &format!("net.ipv6.conf.{port_if}.disable_ipv6=1")],
    );
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.cleanup();
    }
}
