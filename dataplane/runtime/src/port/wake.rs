//! How an idle worker sleeps and how another thread wakes it: `poll(2)`
//! on the worker's sockets and an eventfd, through rustix. The one unsafe
//! step (borrowing the sockets' raw descriptors for the call) lives here,
//! so the worker module needs none.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags, Timespec};

use super::OpenPort;

/// An eventfd a worker sleeps on besides its sockets.
#[derive(Debug)]
pub struct Wake {
    fd: OwnedFd,
}

impl Wake {
    /// A new, unsignalled eventfd (non-blocking, close-on-exec).
    pub fn new() -> io::Result<Wake> {
        let fd = eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC)?;
        Ok(Wake { fd })
    }

    /// Wakes the sleeper (or makes its next sleep return at once).
    pub fn wake(&self) {
        // Fails only when the counter would overflow: it is signalled then.
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }

    /// Clears the signal.
    pub fn drain(&self) {
        let mut v = [0u8; 8];
        // EAGAIN when not signalled: nothing to clear.
        let _ = rustix::io::read(&self.fd, &mut v);
    }

    /// Waits `timeout` or until the eventfd is signalled, whichever comes
    /// first; frames arriving on sockets meanwhile wait (they gather into
    /// a batch). The thread's timer slack decides how late it may end.
    pub fn nap(&self, timeout: Duration) {
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        let t = Timespec::try_from(timeout).unwrap_or(Timespec {
            tv_sec: 0,
            tv_nsec: 1_000_000,
        });
        // EINTR or an error: the loop runs on.
        let _ = poll(&mut fds, Some(&t));
    }

    /// Sleeps until a socket of `ports` has something to receive, the
    /// eventfd is signalled, or `timeout` passes.
    pub fn sleep(&self, ports: &[OpenPort], timeout: Duration) {
        let raw: Vec<RawFd> = ports.iter().flat_map(OpenPort::poll_fds).collect();
        let mut fds: Vec<PollFd<'_>> = raw
            .iter()
            .map(|&fd| {
                // SAFETY: each descriptor belongs to a socket of `ports`,
                // which this call borrows, so it stays open while the
                // `PollFd`s (dropped before return) use it.
                let fd = unsafe { BorrowedFd::borrow_raw(fd) };
                PollFd::from_borrowed_fd(fd, PollFlags::IN)
            })
            .collect();
        fds.push(PollFd::new(&self.fd, PollFlags::IN));
        let t = Timespec::try_from(timeout).unwrap_or(Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        });
        // EINTR or an error: the loop runs on and sleeps again if idle.
        let _ = poll(&mut fds, Some(&t));
    }
}
