//! Raw Ethernet frames in and out of a namespace interface (AF_PACKET).
//!
//! On this kernel a raw receiver never sees the outer 802.1Q tag in the
//! frame data, whatever rx-vlan offload says (seen on kernel 6.18): it comes in
//! PACKET_AUXDATA (tp_vlan_tci, tp_vlan_tpid, TP_STATUS_VLAN_VALID) and is
//! put back here, so tests compare frames as they were on the wire.

#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

const ETH_P_ALL: u16 = 0x0003;
const PACKET_AUXDATA: libc::c_int = 8;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;
const PACKET_OUTGOING: u8 = 4;

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct TpacketAuxdata {
    tp_status: u32,
    tp_len: u32,
    tp_snaplen: u32,
    tp_mac: u16,
    tp_net: u16,
    tp_vlan_tci: u16,
    tp_vlan_tpid: u16,
}

/// An AF_PACKET socket bound to one interface in one namespace.
#[derive(Debug)]
pub struct RawSock {
    fd: OwnedFd,
}

impl RawSock {
    /// Opens a socket on `iface` inside namespace `ns`; panics on failure.
    pub fn open(ns: &str, iface: &str) -> RawSock {
        RawSock::try_open(ns, iface).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Opens a socket on `iface` inside namespace `ns`, or says why not
    /// (for interfaces that come and go, as in the soak).
    pub fn try_open(ns: &str, iface: &str) -> Result<RawSock, String> {
        let iface = iface.to_string();
        let fd = crate::netns::try_run_in(ns, move || {
            let err = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
            // SAFETY: plain socket syscall.
            let fd = unsafe {
                libc::socket(libc::AF_PACKET, libc::SOCK_RAW, (ETH_P_ALL.to_be()) as i32)
            };
            if fd < 0 {
                return Err(err("socket"));
            }
            // SAFETY: fd is a fresh, owned descriptor.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let name = std::ffi::CString::new(iface.clone()).map_err(|e| e.to_string())?;
            // SAFETY: valid C string.
            let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
            if ifindex == 0 {
                return Err(format!("no interface {iface}"));
            }
            // SAFETY: zeroed sockaddr_ll filled below, with its size.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_protocol = ETH_P_ALL.to_be();
            sll.sll_ifindex = ifindex as i32;
            // SAFETY: bind with a valid sockaddr_ll.
            let rc = unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    &sll as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                )
            };
            if rc != 0 {
                return Err(err("bind"));
            }
            let one: libc::c_int = 1;
            // SAFETY: int option with its size.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_PACKET,
                    PACKET_AUXDATA,
                    &one as *const _ as *const libc::c_void,
                    4,
                )
            };
            // Tests count every frame the switch sent: a receiving thread
            // starved by a busy machine must not lose them in a default
            // (~200 KiB) socket buffer.
            let rcvbuf: libc::c_int = 16 << 20;
            // SAFETY: int option with its size.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUFFORCE,
                    &rcvbuf as *const _ as *const libc::c_void,
                    4,
                )
            };
            Ok(fd)
        })??;
        Ok(RawSock { fd })
    }

    /// Sends one frame as is; panics on failure.
    pub fn send(&self, frame: &[u8]) {
        if let Err(e) = self.try_send(frame) {
            panic!("send: {e}");
        }
    }

    /// Sends one frame as is, or says why not (the interface went away).
    pub fn try_send(&self, frame: &[u8]) -> std::io::Result<()> {
        // SAFETY: sending from a live slice on our socket.
        let n = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                frame.as_ptr() as *const libc::c_void,
                frame.len(),
                0,
            )
        };
        if n == frame.len() as isize {
            Ok(())
        } else if n < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Err(std::io::Error::other(format!(
                "sent {n} of {} bytes",
                frame.len()
            )))
        }
    }

    /// Receives the next incoming frame (tag restored) within `timeout`.
    pub fn recv(&self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
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
            // SAFETY: one pollfd.
            if unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as i32) } <= 0 {
                continue;
            }
            if let Some(f) = self.read_one() {
                return Some(f);
            }
        }
    }

    /// Receives frames until one satisfies `pred` (others are skipped).
    pub fn recv_matching(
        &self,
        timeout: Duration,
        pred: impl Fn(&[u8]) -> bool,
    ) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let f = self.recv(left)?;
            if pred(&f) {
                return Some(f);
            }
        }
    }

    /// Every incoming frame satisfying `pred` within `window`.
    pub fn collect(&self, window: Duration, pred: impl Fn(&[u8]) -> bool) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + window;
        let mut out = Vec::new();
        while let Some(f) = self.recv(deadline.saturating_duration_since(Instant::now())) {
            if pred(&f) {
                out.push(f);
            }
        }
        out
    }

    /// Drops whatever is queued.
    pub fn drain(&self) {
        while self.recv(Duration::from_millis(20)).is_some() {}
    }

    fn read_one(&self) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 65536];
        // u64 elements: control messages must be 8-byte aligned.
        let mut ctrl = [0u64; 32];
        // SAFETY: zeroed sockaddr_ll for the source address.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        // SAFETY: zeroed msghdr, filled with pointers to live locals.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = &mut from as *mut _ as *mut libc::c_void;
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctrl.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = std::mem::size_of_val(&ctrl);
        // SAFETY: recvmsg into the buffers described by msg.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
        if n <= 0 {
            return None;
        }
        if from.sll_pkttype == PACKET_OUTGOING {
            return None;
        }
        buf.truncate(n as usize);
        // SAFETY: walking the control messages the kernel wrote into ctrl.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_PACKET && (*c).cmsg_type == PACKET_AUXDATA {
                    let aux: TpacketAuxdata =
                        std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const TpacketAuxdata);
                    if aux.tp_status & TP_STATUS_VLAN_VALID != 0 && buf.len() >= 12 {
                        let tpid = if aux.tp_status & TP_STATUS_VLAN_TPID_VALID != 0 {
                            aux.tp_vlan_tpid
                        } else {
                            0x8100
                        };
                        let mut tag = tpid.to_be_bytes().to_vec();
                        tag.extend_from_slice(&aux.tp_vlan_tci.to_be_bytes());
                        buf.splice(12..12, tag);
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        Some(buf)
    }
}

/// An EtherType no host stack speaks (IEEE local experimental), so test
/// frames never trigger replies and are easy to pick out.
pub const TEST_ETHERTYPE: u16 = 0x88b5;

/// A frame `dst`, `src`, optional 802.1Q tag (pcp, vid), [`TEST_ETHERTYPE`]
/// and `payload`, padded to 60 bytes.
pub fn frame(dst: [u8; 6], src: [u8; 6], tag: Option<(u8, u16)>, payload: &[u8]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&src);
    if let Some((pcp, vid)) = tag {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&((u16::from(pcp) << 13) | vid).to_be_bytes());
    }
    f.extend_from_slice(&TEST_ETHERTYPE.to_be_bytes());
    f.extend_from_slice(payload);
    while f.len() < 60 {
        f.push(0);
    }
    f
}

/// Whether `f` is a test frame (tagged or not) carrying `payload` first.
pub fn is_test(f: &[u8], payload: &[u8]) -> bool {
    let body = match (f.get(12..14), f.get(16..18)) {
        (Some([0x81, 0x00]), Some(t)) if t == TEST_ETHERTYPE.to_be_bytes() => &f[18..],
        (Some(t), _) if t == TEST_ETHERTYPE.to_be_bytes() => &f[14..],
        _ => return false,
    };
    body.starts_with(payload)
}

/// The (PCP, VID) of an 802.1Q-tagged frame.
pub fn tag_of(f: &[u8]) -> Option<(u8, u16)> {
    if f.get(12..14) != Some(&[0x81, 0x00]) {
        return None;
    }
    let tci = u16::from_be_bytes([f[14], f[15]]);
    Some(((tci >> 13) as u8, tci & 0x0fff))
}

/// Sends `count` test frames from `sock`, numbered 0.. in their first 8
/// payload bytes after `label`, at about `rate` frames a second.
pub fn send_sequence(
    sock: &RawSock,
    dst: [u8; 6],
    src: [u8; 6],
    label: &[u8],
    count: u64,
    rate: u64,
) {
    let start = Instant::now();
    for i in 0..count {
        // Pace by schedule, not by sleeping per frame: sleeps are coarse.
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let mut payload = label.to_vec();
        payload.extend_from_slice(&i.to_be_bytes());
        sock.send(&frame(dst, src, None, &payload));
    }
}

/// The sequence number of a frame sent by [`send_sequence`] with `label`.
pub fn sequence_of(f: &[u8], label: &[u8]) -> Option<u64> {
    if !is_test(f, label) {
        return None;
    }
    let at = if f.get(12..14) == Some(&[0x81, 0x00]) {
        18
    } else {
        14
    } + label.len();
    Some(u64::from_be_bytes(f.get(at..at + 8)?.try_into().ok()?))
}

/// FNV-1a, 64 bits: the checksum of [`checked_frame`] payloads.
fn fnv64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Frame length of sequence number `seq` in [`checked_frame`]: varies
/// between 64 and 1499 bytes so that a frame written over another of a
/// different length cannot pass the checksum.
pub fn checked_len(seq: u64) -> usize {
    64 + (seq.wrapping_mul(2_654_435_761) % 1436) as usize
}

/// A test frame numbered `seq` after a two-byte `label`, filled with bytes
/// that depend on the label and the number, and closed by a checksum over
/// all of it: [`check_frame`] tells a garbled frame from a good one.
pub fn checked_frame(dst: [u8; 6], src: [u8; 6], label: [u8; 2], seq: u64) -> Vec<u8> {
    let total = checked_len(seq);
    let mut f = dst.to_vec();
    f.extend_from_slice(&src);
    f.extend_from_slice(&TEST_ETHERTYPE.to_be_bytes());
    f.extend_from_slice(&label);
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&(total as u16).to_be_bytes());
    let mut x = seq ^ u64::from(u16::from_be_bytes(label)) << 48;
    while f.len() < total - 8 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        f.push((x >> 56) as u8);
    }
    let sum = fnv64(&f[14..]);
    f.extend_from_slice(&sum.to_be_bytes());
    f
}

/// What a received frame is, as far as [`checked_frame`] goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// Not a test frame (other traffic).
    Other,
    /// A good frame: its label and sequence number.
    Good([u8; 2], u64),
    /// A test frame whose length, label or checksum is wrong.
    Garbled,
}

/// Classifies a received frame (see [`checked_frame`]).
pub fn check_frame(f: &[u8]) -> Checked {
    if f.get(12..14) != Some(&TEST_ETHERTYPE.to_be_bytes()[..]) {
        return Checked::Other;
    }
    if f.len() < 14 + 2 + 8 + 2 + 8 {
        return Checked::Garbled;
    }
    let label = [f[14], f[15]];
    let seq = u64::from_be_bytes(f[16..24].try_into().expect("8 bytes"));
    let len = u16::from_be_bytes([f[24], f[25]]) as usize;
    if len != f.len() || len != checked_len(seq) {
        return Checked::Garbled;
    }
    let sum = u64::from_be_bytes(f[len - 8..].try_into().expect("8 bytes"));
    if fnv64(&f[14..len - 8]) != sum {
        return Checked::Garbled;
    }
    Checked::Good(label, seq)
}
