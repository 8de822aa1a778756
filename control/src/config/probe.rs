//! The host probe: what a checked configuration asks of this machine
//! (worker CPUs, the control group, the ports' interfaces). Separate from
//! [`super::check`] because it makes system calls and its answers depend
//! on where it runs.

use super::check::{at, ValidConfig};
use super::locate::Seg;
use super::ConfigError;

/// What the host told the probe.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostFacts {
    /// Id of `switch.control_group`, when one is set.
    pub control_gid: Option<u32>,
}

/// Checks that the worker CPUs and the control group exist.
pub fn probe(c: &ValidConfig, src: Option<&str>) -> Result<HostFacts, ConfigError> {
    let cpus = core_affinity::get_core_ids().map(|c| c.len()).unwrap_or(1);
    if let Some(&cpu) = c.workers.iter().find(|&&w| w >= cpus) {
        return Err(at(
            src,
            &[Seg::Key("switch"), Seg::Key("workers")],
            "switch.workers".into(),
            format!(
                "CPU {cpu} does not exist (this machine has CPUs 0-{})",
                cpus - 1
            ),
        ));
    }
    let control_gid = match &c.switch.control_group {
        None => None,
        Some(g) => Some(group_id(g).ok_or_else(|| {
            at(
                src,
                &[Seg::Key("switch"), Seg::Key("control_group")],
                "switch.control_group".into(),
                format!("group {g:?} does not exist"),
            )
        })?),
    };
    Ok(HostFacts { control_gid })
}

/// Checks that every port's interface exists.
pub fn probe_interfaces(c: &ValidConfig, src: Option<&str>) -> Result<(), ConfigError> {
    for (i, p) in c.ports.iter().enumerate() {
        if !iface_exists(&p.settings.iface) {
            return Err(at(
                src,
                &[Seg::Key("port"), Seg::Index(i), Seg::Key("iface")],
                format!("port {:?}.iface", p.settings.name),
                format!("interface {} does not exist", p.settings.iface),
            ));
        }
    }
    Ok(())
}

fn iface_exists(name: &str) -> bool {
    let Ok(cname) = std::ffi::CString::new(name) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated string that outlives the call.
    #[allow(unsafe_code)]
    let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    index != 0
}

/// The numeric id of a group, if it exists.
pub fn group_id(name: &str) -> Option<u32> {
    let cname = std::ffi::CString::new(name).ok()?;
    let mut grp: libc::group = unsafe_zeroed_group();
    let mut buf = vec![0 as libc::c_char; 16384];
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: all pointers are to live locals of the declared sizes.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::getgrnam_r(
            cname.as_ptr(),
            &mut grp,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some(grp.gr_gid)
}

#[allow(unsafe_code)]
fn unsafe_zeroed_group() -> libc::group {
    // SAFETY: libc::group is plain old data; getgrnam_r fills it.
    unsafe { std::mem::zeroed() }
}
