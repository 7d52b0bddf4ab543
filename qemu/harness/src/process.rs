//! Child processes (QEMU, gdb) that never outlive the scenario that started them.
//!
//! A [`ChildGuard`] kills and reaps its process when it is dropped, so leaving a scenario
//! early — a failed step, a `?`, or a panic that unwinds — cannot leave a QEMU running.
//!
//! The workspace builds with `panic = "abort"`, and an abort runs no destructors. For that
//! case every live child is also listed in [`LIVE`], and the hook set up by
//! [`install_panic_hook`] kills them before the process aborts.

use std::io;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus};
use std::sync::{Mutex, PoisonError};

/// The process ids of children that have not been reaped yet.
static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Sets this process's core-dump size limit to 0, so no child it starts (QEMU, gdb) writes a
/// core file into the working directory when it crashes; the crash still shows in the child's
/// exit status, which the harness reports.
pub fn forbid_core_dumps() {
    let none = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: setrlimit reads the struct we pass and changes only this process's limits.
    let r = unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) };
    if r != 0 {
        eprintln!("harness: cannot disable core dumps: {}", io::Error::last_os_error());
    }
}

/// A running child process that is killed when the guard is dropped.
pub struct ChildGuard {
    child: Child,
    /// The exit status, once the child has been reaped.
    status: Option<ExitStatus>,
}

impl ChildGuard {
    /// Spawns `command`.
    pub fn spawn(command: &mut Command) -> io::Result<ChildGuard> {
        let child = command.spawn()?;
        LIVE.lock().unwrap_or_else(PoisonError::into_inner).push(child.id());
        Ok(ChildGuard { child, status: None })
    }

    /// Takes the child's stdin, if it was piped and not taken yet.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// Takes the child's stdout, if it was piped and not taken yet.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// Takes the child's stderr, if it was piped and not taken yet.
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.child.stderr.take()
    }

    /// Waits for the child to exit (blocking) and returns its status; once reaped, the status
    /// is remembered, so this can be called again.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let status = self.child.wait()?;
        self.status = Some(status);
        let id = self.child.id();
        LIVE.lock().unwrap_or_else(PoisonError::into_inner).retain(|&live| live != id);
        Ok(status)
    }

    /// Kills the child (if it is still running) and reaps it.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            // Fails only if the child has exited already, which is what we want anyway.
            let _ = self.child.kill();
            let _ = self.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Makes a panic kill every live child before the harness aborts (see the module docs).
pub fn install_panic_hook() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        // `try_lock`: the panicking thread might hold the lock, and waiting would hang.
        if let Ok(live) = LIVE.try_lock() {
            for id in live.iter() {
                // std can only signal a process through its `Child`, which the panicking
                // thread may be using, so this asks the `kill` utility. Best effort.
                let _ = Command::new("kill").args(["-KILL", &id.to_string()]).status();
            }
        }
    }));
}
