//! Running code inside a named network namespace: a thread enters it with
//! setns(2) and runs a closure; sockets it opens stay in that namespace
//! after the thread ends, so they can be used from anywhere.

#![allow(unsafe_code)]

use std::os::fd::AsRawFd;

/// Runs `f` on a thread inside namespace `ns` (from `ip netns add`).
pub fn run_in<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        // SAFETY: valid namespace fd; affects only this thread.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("namespace thread panicked")
}
