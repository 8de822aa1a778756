//! Tap interfaces vswitchd makes for VMs (`create = "tap"` in a port's
//! settings): a persistent tap that takes virtio-net headers, which QEMU
//! opens with `-netdev tap,ifname=NAME,script=no,downscript=no,vhost=on`.
//!
//! A tap queue is attached to one file descriptor at a time (without
//! `IFF_MULTI_QUEUE` a second `TUNSETIFF` gets `EBUSY`), and that fd
//! belongs to the VM. So vswitchd keeps none: [`ensure`] creates the tap
//! persistent (`TUNSETPERSIST`), closes its fd and brings the interface
//! up; the port then switches it like any interface, through a packet
//! socket with virtio-net headers ([`super::packet`]). The guest's
//! offloads reach that socket as gso metadata: what the guest writes
//! (with `TUNSETOFFLOAD` telling the tap what it may take) becomes a
//! super-frame the packet socket reads whole, and a super-frame the
//! switch sends to the tap reaches the guest's fd whole when the guest
//! negotiated TSO (the kernel segments it otherwise).
//!
//! The tap outlives the daemon (a running VM keeps its NIC across a
//! restart): an existing tap of that name is reused, never recreated.
//! [`remove`] deletes it (over rtnetlink: `TUNSETIFF` would fail while
//! a VM holds it).
//!
//! Kernel references: `include/uapi/linux/if_tun.h` (`TUNSETIFF`,
//! `IFF_*`, `TUNSET*`), `Documentation/networking/tuntap.rst`.
#![allow(unsafe_code)]

use std::fs::OpenOptions;
use std::io;
use std::os::fd::AsRawFd;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST,
};
use netlink_packet_route::link::{LinkFlags, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// The virtio-net header size the tap is created with: 12 bytes, the
/// virtio-net 1.0 header (with `num_buffers`) that QEMU uses for a modern
/// device. Whoever opens the tap sets its own (`TUNSETVNETHDRSZ`), so
/// this is only the default a VM finds; the switch's side of the tap is
/// a packet socket with its own 10-byte header
/// ([`super::packet_socket::VNET_HDR_LEN`]), independent of it.
pub const TAP_VNET_HDR_LEN: libc::c_int = 12;

/// `IFF_TAP` as in the tap's `/sys/class/net/NAME/tun_flags`.
const IFF_TAP: u32 = libc::IFF_TAP as u32;

/// Why a tap could not be made, checked or removed.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    /// An interface of that name exists and is not a tap.
    #[error("interface {0} exists and is not a tap (a create = \"tap\" port makes its own; pick another iface or remove it)")]
    NotATap(String),
    /// A step failed; the message names it.
    #[error("tap {iface}: {what}: {source}")]
    Io {
        /// The interface.
        iface: String,
        /// The step (`open /dev/net/tun`, `TUNSETIFF`, ...).
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// What [`ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    /// The tap was made now: a start or `port.add` that fails later
    /// removes it again.
    Created,
    /// A tap of that name was there (left by an earlier run, a VM may be
    /// on it): it is used as it is.
    Reused,
}

/// Whether `iface` is a tap: `Some(true)` a tap, `Some(false)` another
/// kind of interface, `None` no interface of that name.
pub fn is_tap(iface: &str) -> Option<bool> {
    if !std::path::Path::new(&format!("/sys/class/net/{iface}")).exists() {
        return None;
    }
    // Only tun/tap devices have `tun_flags` (drivers/net/tun.c).
    let flags = super::sysfs(iface, "tun_flags")
        .ok()
        .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok());
    Some(flags.is_some_and(|f| f & IFF_TAP != 0))
}

/// The uid that owns tap `iface` (`/sys/class/net/NAME/owner`), `None`
/// when it has no owner (root only, and CAP_NET_ADMIN holders, may open
/// it) or cannot be read.
pub fn owner(iface: &str) -> Option<u32> {
    super::sysfs(iface, "owner")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|v| u32::try_from(v).ok())
}

/// Makes `iface` a persistent tap owned by `owner` (any uid may then open
/// it; `None`: root only) and brings it up, or reuses the tap of that
/// name if there is one (it is not changed: a VM may hold it). Refuses
/// an interface of that name that is not a tap.
pub fn ensure(iface: &str, owner: Option<u32>) -> Result<Ensured, TapError> {
    match is_tap(iface) {
        Some(true) => {
            let now = self::owner(iface);
            if owner.is_some() && now != owner {
                tracing::warn!(
                    iface,
                    owner = ?owner,
                    now = ?now,
                    "reusing an existing tap whose owner differs from the configured one; it is left as it is"
                );
            }
            set_up(iface)?;
            tracing::info!(iface, "existing tap reused");
            Ok(Ensured::Reused)
        }
        Some(false) => Err(TapError::NotATap(iface.to_string())),
        None => {
            create(iface, owner)?;
            if let Err(e) = set_up(iface) {
                let _ = remove(iface);
                return Err(e);
            }
            tracing::info!(iface, owner = ?owner, "tap created");
            Ok(Ensured::Created)
        }
    }
}

/// `struct ifreq` with `name` and `flags` (`TUNSETIFF`'s argument).
fn ifreq(iface: &str, flags: libc::c_int) -> Result<libc::ifreq, TapError> {
    let bytes = iface.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(TapError::Io {
            iface: iface.to_string(),
            what: "interface name",
            source: io::Error::from_raw_os_error(libc::EINVAL),
        });
    }
    // SAFETY: ifreq is plain old data (a name array and a union of
    // integers and plain structs); all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, &s) in req.ifr_name.iter_mut().zip(bytes) {
        *d = s as libc::c_char;
    }
    // The flags are a `short` in the union (include/uapi/linux/if.h).
    req.ifr_ifru.ifru_flags = flags as libc::c_short;
    Ok(req)
}

fn create(iface: &str, owner: Option<u32>) -> Result<(), TapError> {
    let fail = |what: &'static str| {
        move |source: io::Error| TapError::Io {
            iface: iface.to_string(),
            what,
            source,
        }
    };
    let tun = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .map_err(fail("open /dev/net/tun"))?;
    let fd = tun.as_raw_fd();
    let mut req = ifreq(iface, libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR)?;
    // SAFETY: fd is open (tun lives to the end of this function) and req
    // is a live, initialised ifreq the kernel reads and writes back.
    if unsafe { libc::ioctl(fd, libc::TUNSETIFF, &mut req) } < 0 {
        return Err(fail("TUNSETIFF")(io::Error::last_os_error()));
    }
    // From here the device exists (until this fd closes, unless made
    // persistent): undo by simply closing it on error.
    let hdr: libc::c_int = TAP_VNET_HDR_LEN;
    // SAFETY: TUNSETVNETHDRSZ reads one int through the pointer, which
    // points at a live local.
    if unsafe { libc::ioctl(fd, libc::TUNSETVNETHDRSZ, &hdr) } < 0 {
        return Err(fail("TUNSETVNETHDRSZ")(io::Error::last_os_error()));
    }
    if let Some(uid) = owner {
        // SAFETY: TUNSETOWNER takes the uid as the argument itself, not
        // through a pointer (drivers/net/tun.c, __tun_chr_ioctl).
        if unsafe { libc::ioctl(fd, libc::TUNSETOWNER, uid as libc::c_ulong) } < 0 {
            return Err(fail("TUNSETOWNER")(io::Error::last_os_error()));
        }
    }
    // SAFETY: TUNSETPERSIST takes its flag as the argument itself.
    if unsafe { libc::ioctl(fd, libc::TUNSETPERSIST, 1 as libc::c_ulong) } < 0 {
        return Err(fail("TUNSETPERSIST")(io::Error::last_os_error()));
    }
    // Closing the fd now leaves the persistent tap free for the VM.
    drop(tun);
    Ok(())
}

/// Deletes tap `iface`, a VM attached to it or not. `Ok(false)`: there
/// was none. An interface of that name that is not a tap is refused, not
/// deleted.
pub fn remove(iface: &str) -> Result<bool, TapError> {
    match is_tap(iface) {
        None => return Ok(false),
        Some(false) => return Err(TapError::NotATap(iface.to_string())),
        Some(true) => {}
    }
    let index = ifindex(iface)?;
    let mut link = LinkMessage::default();
    link.header.index = index;
    match rtnl(iface, RouteNetlinkMessage::DelLink(link)) {
        Ok(()) => {
            tracing::info!(iface, "tap removed");
            Ok(true)
        }
        // Gone meanwhile: what was asked for.
        Err(TapError::Io { source, .. }) if source.raw_os_error() == Some(libc::ENODEV) => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Brings `iface` up (QEMU with `script=no` does not).
fn set_up(iface: &str) -> Result<(), TapError> {
    let mut link = LinkMessage::default();
    link.header.index = ifindex(iface)?;
    link.header.flags = LinkFlags::Up;
    link.header.change_mask = LinkFlags::Up;
    rtnl(iface, RouteNetlinkMessage::SetLink(link))
}

fn ifindex(iface: &str) -> Result<u32, TapError> {
    super::sysfs(iface, "ifindex")
        .and_then(|s| {
            s.parse()
                .map_err(|_| io::Error::other("unreadable ifindex"))
        })
        .map_err(|source| TapError::Io {
            iface: iface.to_string(),
            what: "read its ifindex",
            source,
        })
}

/// Sends one rtnetlink request and waits for its acknowledgement.
fn rtnl(iface: &str, payload: RouteNetlinkMessage) -> Result<(), TapError> {
    let what = match payload {
        RouteNetlinkMessage::DelLink(_) => "RTM_DELLINK",
        _ => "RTM_NEWLINK (up)",
    };
    let fail = |source: io::Error| TapError::Io {
        iface: iface.to_string(),
        what,
        source,
    };
    let mut socket = Socket::new(NETLINK_ROUTE).map_err(fail)?;
    socket.bind_auto().map_err(fail)?;
    let mut msg = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(payload));
    msg.header.flags = NLM_F_REQUEST | NLM_F_ACK;
    msg.header.sequence_number = 1;
    msg.finalize();
    let mut buf = vec![0; msg.buffer_len()];
    msg.serialize(&mut buf);
    socket
        .send_to(&buf, &SocketAddr::new(0, 0), 0)
        .map_err(fail)?;
    let mut rx = vec![0u8; 8192];
    loop {
        let n = socket.recv(&mut &mut rx[..], 0).map_err(fail)?;
        let mut off = 0;
        while off < n {
            let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rx[off..n])
                .map_err(|e| fail(io::Error::other(e.to_string())))?;
            let len = reply.header.length as usize;
            if reply.header.sequence_number == 1 {
                if let NetlinkPayload::Error(e) = reply.payload {
                    return match e.code {
                        None => Ok(()),
                        Some(code) => Err(fail(io::Error::from_raw_os_error(-code.get()))),
                    };
                }
            }
            if len == 0 {
                break;
            }
            off += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_kernel_refuses_are_refused_before_any_call() {
        for bad in ["", "a-name-far-too-long", "a\0b"] {
            assert!(ifreq(bad, 0).is_err(), "{bad:?}");
        }
        let req = ifreq("vmtap0", libc::IFF_TAP).unwrap();
        // SAFETY: reading the flags member ifreq() just wrote.
        let flags = unsafe { req.ifr_ifru.ifru_flags };
        assert_eq!(flags as libc::c_int, libc::IFF_TAP);
        assert_eq!(
            req.ifr_name[..6]
                .iter()
                .map(|&c| c as u8)
                .collect::<Vec<_>>(),
            b"vmtap0"
        );
    }

    #[test]
    fn a_missing_interface_is_no_tap() {
        assert_eq!(is_tap("vsw-no-such-if"), None);
        assert!(matches!(remove("vsw-no-such-if"), Ok(false)));
        // Loopback exists and is not a tap: never deleted.
        assert_eq!(is_tap("lo"), Some(false));
        assert!(matches!(remove("lo"), Err(TapError::NotATap(_))));
    }
}
