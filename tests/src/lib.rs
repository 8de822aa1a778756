//! Harness for end-to-end tests: namespace hosts on veth pairs, raw
//! frame I/O inside namespaces, byte-exact TCP and UDP transfers between
//! them, and a vswitchd process to test against.
//!
//! Everything a test creates carries its prefix and is removed when the
//! [`Lab`] drops, panics included. Tests run one at a time ([`serial`]):
//! two daemons pinned to one CPU would make each other's figures lie.

#![deny(missing_docs)]

pub mod daemon;
pub mod lab;
pub mod netns;
pub mod raw;
pub mod soak;
pub mod transfer;

use std::sync::{Mutex, MutexGuard};

static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the one-test-at-a-time lock (poison-tolerant: a failed test must
/// not fail the ones after it).
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs a command, returning (success, stdout, stderr).
pub fn sh(cmd: &str, args: &[&str]) -> (bool, String, String) {
    match std::process::Command::new(cmd).args(args).output() {
        Ok(o) => (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ),
        Err(e) => (false, String::new(), format!("cannot run {cmd}: {e}")),
    }
}

/// Runs a command and panics with its output if it fails.
pub fn must(cmd: &str, args: &[&str]) -> String {
    let (ok, out, err) = sh(cmd, args);
    assert!(ok, "{cmd} {}: {err}{out}", args.join(" "));
    out
}

/// Fails the test unless it runs as root (the tests create namespaces and
/// attach XDP programs; CI runs them as root).
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    #[allow(unsafe_code)]
    let uid = unsafe { libc::geteuid() };
    assert_eq!(
        uid, 0,
        "end-to-end tests must run as root (they create namespaces and attach XDP)"
    );
}

/// Path of a workspace binary built next to the running test (or next to
/// the running binary, for the soak).
pub fn bin(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>; a binary
    // (target/<profile>/soak) already sits beside the others.
    let dir = exe.parent().expect("target dir");
    let dir = if dir.ends_with("deps") {
        dir.parent().expect("target dir")
    } else {
        dir
    };
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} not built: run `cargo build --workspace --bins` first (scripts/test does)",
        p.display()
    );
    p
}

/// Polls `f` every 50 ms until it returns true or `secs` pass.
pub fn wait_until(secs: f64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs);
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
