//! vswitch's own XDP program for multi-buffer AF_XDP ports
//! (bpf/xsk_frags.c, compiled by build.rs and embedded here): the same
//! redirect-by-queue as libxdp's default program, but frags-aware
//! (`SEC("xdp.frags")`), which libxdp's is not. The kernel hands such a
//! program frames that span several buffers, and native XDP on veth
//! accepts it with a peer MTU above 3506 (with libxdp's it refuses:
//! ERANGE).
//!
//! Loaded and attached with libbpf directly, not through libxdp's
//! multi-program dispatcher: a port owns its interface's XDP hook anyway
//! ([`super::xdp_owner`]), and the dispatcher's own program would have to
//! be frags-aware too. Sockets then join its XSKMAP
//! ([`super::xsk::OwnProgram`]).

#![allow(unsafe_code)]

use std::io;
use std::os::fd::RawFd;
use std::ptr::NonNull;

use libxdp_sys as sys;

use super::xsk::{self, AttachedProgram, XdpAttach, XdpMode};

/// The compiled program (an ELF object for the BPF target).
static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/xsk_frags.o"));

/// `XDP_FLAGS_*` from linux/if_link.h.
const XDP_FLAGS_UPDATE_IF_NOEXIST: u32 = 1 << 0;
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

fn neg_errno(rc: i32) -> io::Error {
    io::Error::from_raw_os_error(-rc)
}

/// The program, loaded and attached to one interface. Dropping it
/// detaches it (only if it is still the program attached there) and
/// unloads what nothing else holds.
#[derive(Debug)]
pub struct FragsProgram {
    obj: NonNull<sys::bpf_object>,
    xskmap_fd: RawFd,
    ifindex: u32,
    attached: AttachedProgram,
    attach: XdpAttach,
}

impl FragsProgram {
    /// Loads the program and attaches it to `ifindex` in `attach` mode;
    /// fails (attaching nothing) if a program is already attached there
    /// or the kernel or driver refuses (native XDP on a driver without
    /// multi-buffer support, an MTU it cannot take).
    pub fn attach(ifindex: u32, attach: XdpAttach) -> io::Result<FragsProgram> {
        // SAFETY: OBJECT is a static byte buffer; libbpf copies what it
        // keeps. NULL opts are allowed.
        let raw = unsafe {
            sys::bpf_object__open_mem(OBJECT.as_ptr().cast(), OBJECT.len(), std::ptr::null())
        };
        let obj = NonNull::new(raw).ok_or_else(io::Error::last_os_error)?;
        let mut prog = FragsProgram {
            obj,
            xskmap_fd: -1,
            ifindex,
            attached: AttachedProgram {
                id: 0,
                mode: XdpMode::Native,
            },
            attach,
        };
        // SAFETY: obj is a live, opened object.
        let rc = unsafe { sys::bpf_object__load(prog.obj.as_ptr()) };
        if rc != 0 {
            return Err(neg_errno(rc));
        }
        // SAFETY: live object; a NUL-terminated name.
        let p = unsafe {
            sys::bpf_object__find_program_by_name(prog.obj.as_ptr(), c"vswitch_xsk".as_ptr())
        };
        if p.is_null() {
            return Err(io::Error::other("vswitch_xsk not in the XDP object"));
        }
        // SAFETY: p is a program of the live, loaded object.
        let prog_fd = unsafe { sys::bpf_program__fd(p) };
        // SAFETY: live object; a NUL-terminated name.
        let map_fd = unsafe {
            sys::bpf_object__find_map_fd_by_name(prog.obj.as_ptr(), c"xsks_map".as_ptr())
        };
        if prog_fd < 0 || map_fd < 0 {
            return Err(io::Error::other("the XDP object did not load whole"));
        }
        prog.xskmap_fd = map_fd;
        let (flags, mode) = match attach {
            XdpAttach::Native => (XDP_FLAGS_DRV_MODE, XdpMode::Native),
            XdpAttach::Generic => (XDP_FLAGS_SKB_MODE, XdpMode::Generic),
        };
        // SAFETY: a valid program fd; NULL opts are allowed.
        let rc = unsafe {
            sys::bpf_xdp_attach(
                ifindex as i32,
                prog_fd,
                flags | XDP_FLAGS_UPDATE_IF_NOEXIST,
                std::ptr::null(),
            )
        };
        if rc != 0 {
            return Err(neg_errno(rc));
        }
        let id = xsk::attached_programs(ifindex)?
            .into_iter()
            .find(|a| a.mode == mode)
            .map(|a| a.id)
            .ok_or_else(|| io::Error::other("the XDP program is not attached after attaching"))?;
        prog.attached = AttachedProgram { id, mode };
        Ok(prog)
    }

    /// Where it runs.
    pub fn mode(&self) -> XdpAttach {
        self.attach
    }

    /// What sockets need to join it.
    pub fn own_program(&self) -> xsk::OwnProgram {
        xsk::OwnProgram {
            attach: self.attach,
            xskmap_fd: self.xskmap_fd,
        }
    }
}

impl Drop for FragsProgram {
    fn drop(&mut self) {
        if self.attached.id != 0 {
            // Compare-and-detach: a program someone attached since is not
            // ours to remove.
            if let Err(e) = xsk::detach_program(self.ifindex, &self.attached) {
                tracing::warn!(
                    ifindex = self.ifindex,
                    prog_id = self.attached.id,
                    "cannot detach our XDP program: {e}"
                );
            }
        }
        // SAFETY: the object was opened by `attach` and is closed once;
        // nothing borrows its fds past this point (sockets joined the map
        // by value, and the kernel holds its own references).
        unsafe { sys::bpf_object__close(self.obj.as_ptr()) };
    }
}
