//! Who owns the XDP program on an interface, so that a switch removes
//! only programs that are its own or a dead switch's, never someone
//! else's.
//!
//! The kernel cannot tell: libxdp's default AF_XDP program looks the same
//! whether this switch, Open vSwitch or a test tool loaded it. So every
//! AF_XDP port writes down what it attached — interface name, ifindex,
//! network namespace, program id, and the owning process (pid and start
//! time, so a reused pid is not mistaken for the owner) — in one file per
//! interface under [`RECORD_DIR`]. The directory is fixed, not derived
//! from the control socket's path: two daemons with different sockets
//! must still see each other's records.
//!
//! Before a port opens on an interface ([`claim`]; [`check`] asks the
//! same without changing anything), what is attached there decides
//! ([`decide`]):
//!
//! | attached | record | AF_XDP port | packet port |
//! |---|---|---|---|
//! | nothing | — | opens | opens |
//! | program P | names P, owner running (not us) | refused | refused |
//! | program P | names P, owner dead (or us) | P and the record removed, opens | same |
//! | program P | none, or names another program | refused, P left alone | opens, P left alone |
//!
//! A refusal changes nothing. The packet driver attaches no XDP and runs
//! behind whatever program is there; it only clears a dead switch's
//! leftover (which would otherwise swallow its traffic) and stays off an
//! interface a running switch uses.
//!
//! An AF_XDP port holds an [`Ownership`] for as long as its sockets live:
//! dropping it (after the sockets, whose last one makes libxdp detach its
//! program) removes the program if it is still attached and the record if
//! it is still ours. A killed switch leaves both; the next claim finds
//! the owner dead and removes them.
//!
//! One lock file in [`RECORD_DIR`] serializes claim, socket creation and
//! recording between processes, so two switches starting at once cannot
//! both find an interface free.
//!
//! Limits: owners are checked through `/proc` of the caller's pid
//! namespace and records live in its mount namespace's `/run`, so
//! switches sharing interfaces must share both (as daemons on one host
//! do).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::xsk::{self, AttachedProgram};

/// Where ownership records live: one file per interface
/// (`if<ifindex>.net<netns inode>`) and the lock file `.lock`.
pub const RECORD_DIR: &str = "/run/vswitch/xdp";

/// A process, told apart from a later one with the same pid by its start
/// time (`/proc/PID/stat` field 22, clock ticks since boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Process {
    /// Its pid.
    pub pid: u32,
    /// Its start time.
    pub start: u64,
}

/// What `/proc/PID/stat` says that matters here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// The state letter (R, S, D, Z, ...).
    pub state: char,
    /// Field 22: start time in clock ticks since boot.
    pub start: u64,
}

/// Parses the text of `/proc/PID/stat`. The command name (field 2) is in
/// parentheses and may itself hold spaces and parentheses, so fields are
/// counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): field 22 is index 19.
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some(ProcStat { state, start })
}

impl Process {
    /// This process.
    pub fn current() -> io::Result<Process> {
        let text = fs::read_to_string("/proc/self/stat")?;
        let stat =
            parse_stat(&text).ok_or_else(|| io::Error::other("unreadable /proc/self/stat"))?;
        Ok(Process {
            pid: std::process::id(),
            start: stat.start,
        })
    }

    /// Whether this process still runs: its pid exists, started when
    /// recorded (else the pid was reused) and is no zombie (a zombie's
    /// sockets are closed already).
    pub fn is_running(&self) -> bool {
        match fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            Ok(text) => parse_stat(&text)
                .is_some_and(|s| s.start == self.start && !matches!(s.state, 'Z' | 'X')),
            Err(_) => false,
        }
    }

    /// Its command name, for messages ("?" if gone).
    fn name(&self) -> String {
        fs::read_to_string(format!("/proc/{}/comm", self.pid))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into())
    }
}

/// An interface, as the kernel knows it in this network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Its name.
    pub name: String,
    /// Its index (names are reused, indexes are not while it exists).
    pub ifindex: u32,
    /// Inode of the network namespace (indexes are per namespace).
    pub netns: u64,
}

impl Interface {
    /// Looks `name` up in the calling thread's network namespace.
    pub fn lookup(name: &str) -> io::Result<Interface> {
        Ok(Interface {
            name: name.to_string(),
            ifindex: xsk::ifindex(name)?,
            netns: fs::metadata("/proc/thread-self/ns/net")?.ino(),
        })
    }
}

/// One ownership record: program `prog_id` on `iface` was attached by
/// `owner`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The interface.
    pub iface: Interface,
    /// The program attached.
    pub prog_id: u32,
    /// Who attached it.
    pub owner: Process,
}

impl Record {
    /// The record's text: `key=value` lines.
    pub fn to_text(&self) -> String {
        format!(
            "# vswitch XDP ownership record (dataplane/runtime/src/port/xdp_owner.rs)\n\
             iface={}\nifindex={}\nnetns={}\nprog_id={}\npid={}\nstart_time={}\n",
            self.iface.name,
            self.iface.ifindex,
            self.iface.netns,
            self.prog_id,
            self.owner.pid,
            self.owner.start
        )
    }

    /// Parses [`Record::to_text`]'s format. Blank lines, `#` comments and
    /// unknown keys are skipped; every known key is required.
    pub fn parse(text: &str) -> Result<Record, String> {
        let (mut iface, mut ifindex, mut netns, mut prog, mut pid, mut start) =
            (None, None, None, None, None, None);
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| format!("line {line:?} is not key=value"))?;
            let num = |what: &str| -> Result<u64, String> {
                value
                    .parse()
                    .map_err(|_| format!("{what}={value:?} is not a number"))
            };
            match key {
                "iface" => iface = Some(value.to_string()),
                "ifindex" => ifindex = Some(num(key)?),
                "netns" => netns = Some(num(key)?),
                "prog_id" => prog = Some(num(key)?),
                "pid" => pid = Some(num(key)?),
                "start_time" => start = Some(num(key)?),
                _ => {}
            }
        }
        let need = |v: Option<u64>, key: &str| v.ok_or_else(|| format!("no {key}"));
        let small = |v: u64, key: &str| u32::try_from(v).map_err(|_| format!("{key} too large"));
        Ok(Record {
            iface: Interface {
                name: iface.ok_or("no iface")?,
                ifindex: small(need(ifindex, "ifindex")?, "ifindex")?,
                netns: need(netns, "netns")?,
            },
            prog_id: small(need(prog, "prog_id")?, "prog_id")?,
            owner: Process {
                pid: small(need(pid, "pid")?, "pid")?,
                start: need(start, "start_time")?,
            },
        })
    }
}

/// What to do about the XDP programs on an interface before opening a
/// port on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing attached.
    Free,
    /// A recorded program whose owner is dead, or is this process (which
    /// opens no second port on one interface, so the program is a
    /// leftover): remove it.
    Leftover {
        /// The program.
        prog: AttachedProgram,
        /// Who attached it.
        owner: Process,
    },
    /// A recorded program whose owner runs: another switch's. Refuse.
    InUse {
        /// The program.
        prog: AttachedProgram,
        /// Its owner.
        owner: Process,
    },
    /// A program no record names: someone else's (Open vSwitch, a tool,
    /// the operator). Never removed.
    Foreign {
        /// The program.
        prog: AttachedProgram,
    },
}

/// Decides what the programs `attached` to an interface are, given its
/// record (if any), this process `me` and a liveness test. A record
/// counts only for the program it names: one for another program id
/// (replaced since) vouches for nothing.
pub fn decide(
    attached: &[AttachedProgram],
    record: Option<&Record>,
    me: Process,
    running: impl Fn(&Process) -> bool,
) -> Verdict {
    let recorded = record.and_then(|r| {
        attached
            .iter()
            .find(|p| p.id == r.prog_id)
            .map(|&p| (p, r.owner))
    });
    if let Some((prog, owner)) = recorded {
        if owner != me && running(&owner) {
            return Verdict::InUse { prog, owner };
        }
    }
    if let Some(&prog) = attached
        .iter()
        .find(|p| recorded.is_none_or(|(r, _)| r.id != p.id))
    {
        return Verdict::Foreign { prog };
    }
    match recorded {
        Some((prog, owner)) => Verdict::Leftover { prog, owner },
        None => Verdict::Free,
    }
}

/// Whether `record` is garbage: the program it names is no longer in
/// `attached` (its interface's programs; none if the interface is gone)
/// and nobody running can still want it (its owner is dead, or is this
/// process, which records under the lock and so is never half way). A
/// dead owner's record of a program still attached is no garbage: it is
/// what lets a restart remove that program.
pub fn is_garbage(
    record: &Record,
    attached: &[AttachedProgram],
    me: Process,
    running: impl Fn(&Process) -> bool,
) -> bool {
    !attached.iter().any(|p| p.id == record.prog_id)
        && (record.owner == me || !running(&record.owner))
}

/// Which driver is about to open the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// AF_XDP: needs the XDP hook to itself.
    AfXdp,
    /// A packet socket: attaches nothing, runs behind any program.
    Packet,
}

/// Why an interface was refused, or ownership could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    /// Another running switch owns the interface's program.
    #[error(
        "interface {iface}: its XDP program (id {prog_id}, {mode} mode) belongs to process \
         {pid} ({name}), which is running; refusing to take the interface from it (stop that \
         switch or remove the port there first)"
    )]
    InUse {
        /// The interface.
        iface: String,
        /// The program.
        prog_id: u32,
        /// Its mode.
        mode: xsk::XdpMode,
        /// The owner's pid.
        pid: u32,
        /// The owner's command name.
        name: String,
    },
    /// A program nobody recorded is attached.
    #[error(
        "interface {iface} has an XDP program attached that no vswitchd recorded (id {prog_id}, \
         name {name:?}, {mode} mode): something else uses the interface (Open vSwitch, \
         xdp-loader, a program of your own), so it is left alone; if it is a leftover, remove \
         it with `ip link set dev {iface} {keyword} off` and try again (or, as root, replace it \
         with `vswitchctl port add ... --force`)"
    )]
    Foreign {
        /// The interface.
        iface: String,
        /// The program.
        prog_id: u32,
        /// Its name.
        name: String,
        /// Its mode.
        mode: xsk::XdpMode,
        /// The `ip link` keyword for its mode.
        keyword: &'static str,
    },
    /// The check itself failed (netlink, `/run`, `/proc`).
    #[error("interface {iface}: {what}: {source}")]
    Io {
        /// The interface.
        iface: String,
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
}

fn io_err(iface: &str, what: impl Into<String>) -> impl FnOnce(io::Error) -> OwnerError + '_ {
    let what = what.into();
    move |source| OwnerError::Io {
        iface: iface.to_string(),
        what,
        source,
    }
}

/// The record directory and its lock.
#[derive(Debug, Clone)]
pub struct Records {
    dir: PathBuf,
}

/// The held record lock (released on drop).
#[derive(Debug)]
pub struct RecordLock {
    _file: File,
}

impl Default for Records {
    fn default() -> Self {
        Records::at(RECORD_DIR)
    }
}

impl Records {
    /// Records kept in `dir` (tests use their own).
    pub fn at(dir: impl AsRef<Path>) -> Records {
        Records {
            dir: dir.as_ref().to_path_buf(),
        }
    }

    fn path(&self, iface: &Interface) -> PathBuf {
        self.dir
            .join(format!("if{}.net{}", iface.ifindex, iface.netns))
    }

    /// Takes the lock that serializes claims between processes, creating
    /// the directory if needed.
    pub fn lock(&self) -> io::Result<RecordLock> {
        fs::create_dir_all(&self.dir)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(".lock"))?;
        rustix::fs::flock(file.as_fd(), rustix::fs::FlockOperation::LockExclusive)?;
        Ok(RecordLock { _file: file })
    }

    /// The record of `iface`: `Ok(None)` if there is none, `Err` with
    /// why if it is unreadable.
    pub fn read(&self, iface: &Interface) -> Result<Option<Record>, String> {
        let path = self.path(iface);
        match fs::read_to_string(&path) {
            Ok(text) => Record::parse(&text)
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Writes `record` (replacing the interface's old one) atomically.
    pub fn write(&self, record: &Record) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let path = self.path(&record.iface);
        let tmp = self.dir.join(format!(
            ".if{}.net{}.{}.tmp",
            record.iface.ifindex,
            record.iface.netns,
            std::process::id()
        ));
        fs::write(&tmp, record.to_text())?;
        fs::rename(&tmp, &path).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
    }

    /// Removes the interface's record if it is exactly `record` (a newer
    /// owner's record stays). Returns whether it was removed.
    pub fn remove_if(&self, record: &Record) -> io::Result<bool> {
        match self.read(&record.iface) {
            Ok(Some(r)) if r == *record => {
                fs::remove_file(self.path(&record.iface))?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn remove(&self, iface: &Interface) {
        let _ = fs::remove_file(self.path(iface));
    }

    /// Removes the garbage records ([`is_garbage`]) of network namespace
    /// `netns` (another namespace's interfaces cannot be looked up from
    /// here): those of interfaces deleted, or whose program was removed,
    /// after their owner died. Call under the lock. Returns how many
    /// went.
    pub fn sweep(&self, netns: u64, me: Process) -> usize {
        let Ok(dir) = fs::read_dir(&self.dir) else {
            return 0;
        };
        let suffix = format!(".net{netns}");
        let mut removed = 0;
        for entry in dir.filter_map(Result::ok) {
            let file = entry.file_name();
            let file = file.to_string_lossy();
            if !file.starts_with("if") || !file.ends_with(&suffix) {
                continue;
            }
            let Ok(record) = fs::read_to_string(entry.path())
                .map_err(|e| e.to_string())
                .and_then(|t| Record::parse(&t))
            else {
                continue;
            };
            if record.iface.netns != netns {
                continue;
            }
            // An interface that is gone has no programs.
            let attached = xsk::attached_programs(record.iface.ifindex).unwrap_or_default();
            if is_garbage(&record, &attached, me, Process::is_running)
                && fs::remove_file(entry.path()).is_ok()
            {
                removed += 1;
            }
        }
        removed
    }
}

/// The interface and what its programs and record decide.
struct Found {
    iface: Interface,
    verdict: Verdict,
}

fn inspect(records: &Records, name: &str, me: Process) -> Result<Found, OwnerError> {
    let iface = Interface::lookup(name).map_err(io_err(name, "cannot look it up"))?;
    let attached = xsk::attached_programs(iface.ifindex)
        .map_err(io_err(name, "cannot query its XDP programs"))?;
    let record = if attached.is_empty() {
        None
    } else {
        records.read(&iface).unwrap_or_else(|e| {
            tracing::warn!(
                iface = name,
                "ignoring an unreadable XDP ownership record: {e}"
            );
            None
        })
    };
    let verdict = decide(&attached, record.as_ref(), me, Process::is_running);
    Ok(Found { iface, verdict })
}

/// The refusal for `verdict` by a port of kind `use_`, if any.
fn refusal(name: &str, verdict: Verdict, use_: Use) -> Option<OwnerError> {
    match verdict {
        Verdict::InUse { prog, owner } => Some(OwnerError::InUse {
            iface: name.to_string(),
            prog_id: prog.id,
            mode: prog.mode,
            pid: owner.pid,
            name: owner.name(),
        }),
        Verdict::Foreign { prog } if use_ == Use::AfXdp => Some(OwnerError::Foreign {
            iface: name.to_string(),
            prog_id: prog.id,
            name: xsk::program_name(prog.id).unwrap_or_else(|| "?".into()),
            mode: prog.mode,
            keyword: prog.mode.ip_link_keyword(),
        }),
        _ => None,
    }
}

/// Whether a port of kind `use_` may open on `iface`, changing nothing:
/// a daemon asks this for every port before it opens any, so a refused
/// start touches no interface at all.
pub fn check(iface: &str, use_: Use) -> Result<(), OwnerError> {
    let me = Process::current().map_err(io_err(iface, "cannot read /proc/self/stat"))?;
    let found = inspect(&Records::default(), iface, me)?;
    refusal(iface, found.verdict, use_).map_or(Ok(()), Err)
}

/// A claim on an interface, holding the record lock until it is recorded
/// or dropped.
#[derive(Debug)]
pub struct Claim {
    records: Records,
    iface: Interface,
    me: Process,
    _lock: Option<RecordLock>,
}

/// Claims `iface` for a port of kind `use_` in the default record
/// directory: refuses (changing nothing) if another running switch or a
/// foreign program holds it, removes a dead switch's leftover program.
/// An AF_XDP port opens its sockets while the claim is held, then turns
/// it into an [`Ownership`] with [`Claim::record`].
/// With `replace_foreign` (root's `port.add --force`), an AF_XDP port
/// removes a program nobody recorded instead of refusing.
pub fn claim(iface: &str, use_: Use, replace_foreign: bool) -> Result<Claim, OwnerError> {
    claim_in(Records::default(), iface, use_, replace_foreign)
}

/// [`claim`] with records in `records`.
pub fn claim_in(
    records: Records,
    name: &str,
    use_: Use,
    replace_foreign: bool,
) -> Result<Claim, OwnerError> {
    let me = Process::current().map_err(io_err(name, "cannot read /proc/self/stat"))?;
    let take_lock = || {
        records.lock().map_err(io_err(
            name,
            format!("cannot lock {}", records.dir.join(".lock").display()),
        ))
    };
    // A packet port with nothing attached needs no lock and no record:
    // the common case costs it one netlink query.
    let mut lock = match use_ {
        Use::AfXdp => Some(take_lock()?),
        Use::Packet => None,
    };
    let mut found = inspect(&records, name, me)?;
    if lock.is_none() && found.verdict != Verdict::Free {
        // Something is there: decide again under the lock.
        lock = Some(take_lock()?);
        found = inspect(&records, name, me)?;
    }
    if let (true, Use::AfXdp, Verdict::Foreign { prog }) = (replace_foreign, use_, found.verdict) {
        // Root asked for it (the lock is held: AF_XDP claims take it).
        xsk::detach_program(found.iface.ifindex, &prog).map_err(io_err(
            name,
            format!("cannot remove the XDP program {} (--force)", prog.id),
        ))?;
        tracing::warn!(
            iface = name,
            prog_id = prog.id,
            "removed an XDP program no vswitchd recorded, as root asked (port.add --force)"
        );
        found = inspect(&records, name, me)?;
    }
    if let Some(e) = refusal(name, found.verdict, use_) {
        return Err(e);
    }
    if let Verdict::Leftover { prog, owner } = found.verdict {
        let removed = xsk::detach_program(found.iface.ifindex, &prog).map_err(io_err(
            name,
            format!("cannot remove the stale XDP program {}", prog.id),
        ))?;
        records.remove(&found.iface);
        if removed {
            tracing::warn!(
                iface = name,
                prog_id = prog.id,
                pid = owner.pid,
                "removed a stale XDP program that a vswitchd which is no longer running left behind"
            );
        }
    }
    if lock.is_some() {
        // Records of interfaces deleted after their owner died would
        // otherwise stay until reboot (/run is a tmpfs).
        let swept = records.sweep(found.iface.netns, me);
        if swept > 0 {
            tracing::debug!(swept, "removed XDP ownership records nobody needs");
        }
    }
    Ok(Claim {
        records,
        iface: found.iface,
        me,
        _lock: lock,
    })
}

impl Claim {
    /// Records the program now attached to the interface as this
    /// process's (call once its AF_XDP sockets are open) and releases the
    /// lock. `None` if no program is attached (nothing to own).
    pub fn record(self) -> Result<Option<Ownership>, OwnerError> {
        let name = self.iface.name.clone();
        let attached = xsk::attached_programs(self.iface.ifindex)
            .map_err(io_err(&name, "cannot query its XDP programs"))?;
        let Some(prog) = attached
            .iter()
            .find(|p| p.mode != xsk::XdpMode::Offload)
            .copied()
        else {
            tracing::warn!(iface = %name, "no XDP program attached after opening AF_XDP sockets");
            return Ok(None);
        };
        let record = Record {
            iface: self.iface.clone(),
            prog_id: prog.id,
            owner: self.me,
        };
        self.records.write(&record).map_err(io_err(
            &name,
            format!(
                "cannot write its XDP ownership record in {}",
                self.records.dir.display()
            ),
        ))?;
        tracing::debug!(iface = %name, prog_id = prog.id, "XDP program recorded as ours");
        Ok(Some(Ownership {
            records: self.records.clone(),
            record,
            mode: prog.mode,
        }))
    }
}

/// This process's program on an interface and its record: dropping it
/// removes both (the program only if it is still the one recorded, the
/// record only if it is still ours).
#[derive(Debug)]
pub struct Ownership {
    records: Records,
    record: Record,
    mode: xsk::XdpMode,
}

impl Ownership {
    /// The program recorded.
    pub fn prog_id(&self) -> u32 {
        self.record.prog_id
    }
}

impl Drop for Ownership {
    fn drop(&mut self) {
        let iface = self.record.iface.name.as_str();
        let _lock = match self.records.lock() {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(iface, "cannot take the XDP record lock: {e}");
                None
            }
        };
        // libxdp detaches its program with the interface's last socket;
        // this covers the case where it could not.
        let prog = AttachedProgram {
            id: self.record.prog_id,
            mode: self.mode,
        };
        match xsk::detach_program(self.record.iface.ifindex, &prog) {
            Ok(true) => tracing::debug!(iface, prog_id = prog.id, "our XDP program removed"),
            Ok(false) => {}
            Err(e) => tracing::warn!(
                iface,
                prog_id = prog.id,
                "cannot remove our XDP program: {e}"
            ),
        }
        if let Err(e) = self.records.remove_if(&self.record) {
            tracing::warn!(iface, "cannot remove our XDP ownership record: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::xsk::XdpMode;

    const ME: Process = Process { pid: 100, start: 5 };
    const OTHER: Process = Process { pid: 200, start: 7 };

    fn prog(id: u32) -> AttachedProgram {
        AttachedProgram {
            id,
            mode: XdpMode::Native,
        }
    }

    fn record(prog_id: u32, owner: Process) -> Record {
        Record {
            iface: Interface {
                name: "vsw-a".into(),
                ifindex: 12,
                netns: 4026531840,
            },
            prog_id,
            owner,
        }
    }

    fn all_running(_: &Process) -> bool {
        true
    }

    fn none_running(_: &Process) -> bool {
        false
    }

    #[test]
    fn nothing_attached_is_free_whatever_the_record() {
        assert_eq!(decide(&[], None, ME, all_running), Verdict::Free);
        let r = record(9, OTHER);
        assert_eq!(decide(&[], Some(&r), ME, all_running), Verdict::Free);
    }

    #[test]
    fn a_running_owners_program_is_in_use() {
        let r = record(9, OTHER);
        assert_eq!(
            decide(&[prog(9)], Some(&r), ME, all_running),
            Verdict::InUse {
                prog: prog(9),
                owner: OTHER
            }
        );
    }

    #[test]
    fn a_dead_owners_program_is_a_leftover() {
        let r = record(9, OTHER);
        assert_eq!(
            decide(&[prog(9)], Some(&r), ME, none_running),
            Verdict::Leftover {
                prog: prog(9),
                owner: OTHER
            }
        );
    }

    #[test]
    fn our_own_recorded_program_is_a_leftover_even_though_we_run() {
        let r = record(9, ME);
        assert_eq!(
            decide(&[prog(9)], Some(&r), ME, all_running),
            Verdict::Leftover {
                prog: prog(9),
                owner: ME
            }
        );
    }

    #[test]
    fn an_unrecorded_program_is_foreign_even_when_no_switch_runs() {
        assert_eq!(
            decide(&[prog(9)], None, ME, none_running),
            Verdict::Foreign { prog: prog(9) }
        );
    }

    #[test]
    fn a_record_for_another_program_vouches_for_nothing() {
        // The recorded program was replaced (by OVS, say): whoever owned
        // the old one, the new one is not ours to remove.
        let r = record(9, OTHER);
        for running in [all_running, none_running] {
            assert_eq!(
                decide(&[prog(10)], Some(&r), ME, running),
                Verdict::Foreign { prog: prog(10) }
            );
        }
    }

    #[test]
    fn a_foreign_program_beside_a_leftover_blocks_its_removal() {
        let r = record(9, OTHER);
        let offloaded = AttachedProgram {
            id: 11,
            mode: XdpMode::Offload,
        };
        assert_eq!(
            decide(&[prog(9), offloaded], Some(&r), ME, none_running),
            Verdict::Foreign { prog: offloaded }
        );
        // ...but a running owner is still named first.
        assert!(matches!(
            decide(&[prog(9), offloaded], Some(&r), ME, all_running),
            Verdict::InUse { .. }
        ));
    }

    #[test]
    fn a_record_is_garbage_once_its_program_is_gone_and_nobody_wants_it() {
        let dead = record(9, OTHER);
        assert!(is_garbage(&dead, &[], ME, none_running));
        assert!(is_garbage(&dead, &[prog(10)], ME, none_running));
        // Still attached: the record is what lets a restart remove it.
        assert!(!is_garbage(&dead, &[prog(9)], ME, none_running));
        // A running owner's record is its own business.
        assert!(!is_garbage(&dead, &[], ME, all_running));
        // Ours, program gone: garbage; attached: a live port's.
        let ours = record(9, ME);
        assert!(is_garbage(&ours, &[], ME, all_running));
        assert!(!is_garbage(&ours, &[prog(9)], ME, all_running));
    }

    #[test]
    fn sweep_removes_dead_owners_records_of_deleted_interfaces_only() {
        let dir = std::env::temp_dir().join(format!("vswitch-xdp-sweep-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let records = Records::at(&dir);
        let me = Process::current().expect("/proc/self/stat");
        // pid 1 runs; a pid with the wrong start time does not.
        let init = fs::read_to_string("/proc/1/stat")
            .ok()
            .and_then(|t| parse_stat(&t))
            .map(|s| Process {
                pid: 1,
                start: s.start,
            })
            .expect("/proc/1/stat");
        let gone = |ifindex: u32, netns: u64, owner: Process| Record {
            iface: Interface {
                name: format!("gone{ifindex}"),
                // No interface has these indexes.
                ifindex,
                netns,
            },
            prog_id: 9,
            owner,
        };
        let dead_owner = Process {
            pid: 1,
            start: init.start + 1,
        };
        let dead = gone(999_001, 7, dead_owner);
        let running = gone(999_002, 7, init);
        let other_ns = gone(999_003, 8, dead_owner);
        for r in [&dead, &running, &other_ns] {
            records.write(r).expect("write");
        }
        fs::write(dir.join("if999004.net7"), "not a record").expect("write");
        assert_eq!(records.sweep(7, me), 1);
        assert_eq!(
            records.read(&dead.iface),
            Ok(None),
            "dead owner, interface gone"
        );
        assert_eq!(records.read(&running.iface), Ok(Some(running.clone())));
        assert_eq!(records.read(&other_ns.iface), Ok(Some(other_ns.clone())));
        assert!(
            dir.join("if999004.net7").exists(),
            "unreadable files are left"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn records_round_trip_and_bad_ones_are_refused() {
        let r = record(12902, OTHER);
        assert_eq!(Record::parse(&r.to_text()), Ok(r.clone()));
        // Unknown keys and comments are skipped.
        let extra = format!("{}future=1\n# note\n", r.to_text());
        assert_eq!(Record::parse(&extra), Ok(r.clone()));
        let without_pid: String = r
            .to_text()
            .lines()
            .filter(|l| !l.starts_with("pid="))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(Record::parse(&without_pid), Err("no pid".into()));
        assert!(Record::parse(&r.to_text().replace("prog_id=12902", "prog_id=x")).is_err());
        assert!(Record::parse(&r.to_text().replace("pid=200", "pid=99999999999")).is_err());
        assert!(Record::parse("garbage").is_err());
    }

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        // A command name with spaces and parentheses, as a process may
        // choose; fields 3.. follow the last ')'.
        let mut fields: Vec<String> = (3..=52).map(|i| i.to_string()).collect();
        fields[0] = "S".into();
        fields[19] = "123456".into();
        let text = format!("4242 (vsw (x) d) {}\n", fields.join(" "));
        assert_eq!(
            parse_stat(&text),
            Some(ProcStat {
                state: 'S',
                start: 123456
            })
        );
        assert_eq!(parse_stat("4242 (short) S 1 2"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[test]
    fn this_process_runs_and_a_changed_start_time_does_not() {
        let me = Process::current().expect("/proc/self/stat");
        assert!(me.is_running());
        let reused = Process {
            start: me.start + 1,
            ..me
        };
        assert!(!reused.is_running(), "a reused pid is not the owner");
        assert!(!Process {
            pid: u32::MAX,
            start: 0
        }
        .is_running());
    }

    #[test]
    fn a_record_is_removed_only_while_it_is_still_the_one_written() {
        let dir = std::env::temp_dir().join(format!("vswitch-xdp-owner-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let records = Records::at(&dir);
        let lock = records.lock().expect("lock");
        let ours = record(9, ME);
        assert_eq!(records.read(&ours.iface), Ok(None));
        records.write(&ours).expect("write");
        assert_eq!(records.read(&ours.iface), Ok(Some(ours.clone())));
        // A newer owner replaced it: ours is gone, theirs stays.
        let theirs = record(10, OTHER);
        records.write(&theirs).expect("write");
        assert!(!records.remove_if(&ours).expect("remove_if"));
        assert_eq!(records.read(&ours.iface), Ok(Some(theirs.clone())));
        assert!(records.remove_if(&theirs).expect("remove_if"));
        assert_eq!(records.read(&ours.iface), Ok(None));
        fs::write(dir.join("if12.net4026531840"), "pid=1\n").expect("write");
        assert!(
            records.read(&ours.iface).is_err(),
            "a broken record is reported"
        );
        drop(lock);
        let _ = fs::remove_dir_all(&dir);
    }
}
