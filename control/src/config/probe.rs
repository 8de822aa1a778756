//! The host probe: what a checked configuration asks of this machine
//! (worker CPUs, the control group, the ports' interfaces). Separate from
//! [`super::check`] because it makes system calls and its answers depend
//! on where it runs.

use super::check::{at, ValidConfig};
use super::locate::Seg;
use super::ConfigError;
use crate::model::port::check_mtu_carried;

/// What the host told the probe.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostFacts {
    /// Id of `switch.control_group`, when one is set.
    pub control_gid: Option<u32>,
}

/// Checks that the worker CPUs are ones vswitchd may run on and that the
/// control group exists.
pub fn probe(c: &ValidConfig, src: Option<&str>) -> Result<HostFacts, ConfigError> {
    // The CPUs of this thread's affinity mask (what `taskset` leaves),
    // by id: under `taskset -c 1` that is CPU 1 alone, not "one CPU".
    let mut allowed: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    allowed.sort_unstable();
    if let Some(&cpu) = c.workers.iter().find(|w| !allowed.contains(w)) {
        return Err(at(
            src,
            &[Seg::Key("switch"), Seg::Key("workers")],
            "switch.workers".into(),
            format!(
                "CPU {cpu} does not exist or is outside vswitchd's CPU affinity (CPUs {})",
                cpu_list(&allowed)
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
    for (i, p) in c.ports.iter().enumerate() {
        if let Some(o) = &p.settings.owner {
            owner_uid(o).map_err(|m| {
                at(
                    src,
                    &[Seg::Key("port"), Seg::Index(i), Seg::Key("owner")],
                    format!("port {:?}.owner", p.settings.name),
                    m,
                )
            })?;
        }
    }
    Ok(HostFacts { control_gid })
}

/// The uid of a tap's `owner`: a uid as it is, a name looked up.
pub fn owner_uid(o: &crate::model::port::Owner) -> Result<u32, String> {
    use crate::model::port::Owner;
    match o {
        Owner::Uid(u) => Ok(*u),
        Owner::Name(n) => user_id(n).ok_or_else(|| format!("user {n:?} does not exist")),
    }
}

/// The numeric id of a user, if it exists.
pub fn user_id(name: &str) -> Option<u32> {
    let cname = std::ffi::CString::new(name).ok()?;
    // SAFETY: libc::passwd is plain old data; getpwnam_r fills it.
    #[allow(unsafe_code)]
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16384];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers are to live locals of the declared sizes.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::getpwnam_r(
            cname.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some(pwd.pw_uid)
}

/// CPU ids as ranges, e.g. `0-3,6`; `none` for none.
fn cpu_list(ids: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i;
        while j + 1 < ids.len() && ids[j + 1] == ids[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            ids[i].to_string()
        } else {
            format!("{}-{}", ids[i], ids[j])
        });
        i = j + 1;
    }
    if out.is_empty() {
        "none".into()
    } else {
        out.join(",")
    }
}

/// Whether a port's interface must exist before the port opens it: not
/// for a port that makes its own (`create = "tap"`), so neither `--check`
/// nor the start refuses it for an interface that is not there yet.
fn needs_existing_iface(port: &crate::model::port::PortSettings) -> bool {
    port.create.is_none()
}

/// Checks that every port's interface exists (ports that create their
/// interface aside, see [`needs_existing_iface`]), and that the driver it
/// gets carries its MTU (its `mtu`, else the interface's).
pub fn probe_interfaces(c: &ValidConfig, src: Option<&str>) -> Result<(), ConfigError> {
    for (i, p) in c.ports.iter().enumerate() {
        let s = &p.settings;
        if !iface_exists(&s.iface) {
            if needs_existing_iface(s) {
                return Err(at(
                    src,
                    &[Seg::Key("port"), Seg::Index(i), Seg::Key("iface")],
                    format!("port {:?}.iface", s.name),
                    format!("interface {} does not exist", s.iface),
                ));
            }
            continue;
        }
        let driver = s.driver.choice().resolve(&s.iface);
        let (mtu, key) = match s.mtu {
            Some(m) => (m.get(), "mtu"),
            None => (crate::link::LinkInfo::probe(&s.iface).mtu, "iface"),
        };
        if let Err(m) = check_mtu_carried(driver, driver.frame_capacity(), mtu) {
            let m = match s.mtu {
                Some(_) => m,
                None => format!("the MTU of {} is {mtu}: {m}", s.iface),
            };
            return Err(at(
                src,
                &[Seg::Key("port"), Seg::Index(i), Seg::Key(key)],
                format!("port {:?}.{key}", s.name),
                m,
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
