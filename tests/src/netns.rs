//! Running code inside a named network namespace: a thread enters it with
//! setns(2) and runs a closure; sockets it opens stay in that namespace
//! after the thread ends, so they can be used from anywhere.

#![allow(unsafe_code)]

use std::os::fd::AsRawFd;

/// Runs `f` on a thread inside namespace `ns` (from `ip netns add`).
pub fn run_in<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    try_run_in(ns, f).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `f` on a thread inside namespace `ns`, or says why it could not
/// enter it (the namespace is gone).
pub fn try_run_in<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).map_err(|e| format!("open {path}: {e}"))?;
        // SAFETY: valid namespace fd; affects only this thread.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            return Err(format!("setns {path}: {}", std::io::Error::last_os_error()));
        }
        Ok(f())
    })
    .join()
    .map_err(|_| "namespace thread panicked".to_string())?
}
