//! A child process the test started, with its output in a log file: stopped
//! by PID (SIGTERM, then SIGKILL if it lingers) and reaped, also on drop.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::{sys, wait_for};

/// iproute2 by absolute path: the VM guest's busybox ash prefers its own applets.
pub const IP: &str = "/usr/sbin/ip";

/// How long a process has to exit after SIGTERM (a daemon stops its children first).
const GRACE: Duration = Duration::from_secs(20);

#[derive(Debug)]
pub struct Process {
    child: Child,
    what: String,
    log: PathBuf,
}

impl Process {
    /// Starts `program` with stdout and stderr to `log`.
    pub fn spawn(what: &str, program: &str, args: &[&str], log: &Path) -> Self {
        let out = std::fs::File::create(log)
            .unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
        let err = out.try_clone().expect("dup the log file");
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what} ({program}): {e}"));
        Self { child, what: what.to_owned(), log: log.to_owned() }
    }

    /// `ip netns exec <ns> <program> <args>`: ip execs the program in place,
    /// so the child's PID is the program's.
    pub fn spawn_in(ns: &str, what: &str, program: &str, args: &[&str], log: &Path) -> Self {
        let mut all = vec!["netns", "exec", ns, program];
        all.extend_from_slice(args);
        Self::spawn(what, IP, &all, log)
    }

    /// Waits until the process is in the network namespace at `ns`:
    /// `ip netns exec` enters it a moment after the spawn, and until then
    /// `/proc/<pid>/ns/net` is the caller's namespace.
    pub fn wait_until_in(&self, ns: &Path) {
        let id = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
        let want = id(ns).unwrap_or_else(|| panic!("no namespace at {}", ns.display()));
        let own = PathBuf::from(format!("/proc/{}/ns/net", self.pid()));
        let what = format!("{} to enter {}", self.what, ns.display());
        wait_for(&what, Duration::from_secs(10), || (id(&own)? == want).then_some(()));
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process is still running (not exited, or not reaped yet).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Panics with the log if the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!("{} exited ({status}):\n{}", self.what, self.log());
        }
    }

    /// SIGHUP by PID (the process must be running).
    pub fn hangup(&mut self) {
        self.assert_running();
        let pid = self.pid();
        sys::signal(pid, libc::SIGHUP)
            .unwrap_or_else(|e| panic!("SIGHUP to {} ({pid}): {e}", self.what));
    }

    /// SIGTERM by PID; waits (up to 20 s) for the exit and returns its status.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.pid();
        sys::signal(pid, libc::SIGTERM)
            .unwrap_or_else(|e| panic!("SIGTERM to {} ({pid}): {e}", self.what));
        let what = format!("{} ({pid}) to exit", self.what);
        wait_for(&what, GRACE, || self.child.try_wait().expect("try_wait"))
    }

    /// Stops the process if it still runs: SIGTERM by PID, SIGKILL if it has
    /// not exited after a grace period, then reaps it. Never panics.
    pub fn stop(&mut self) {
        if !self.alive() {
            return;
        }
        let _ = sys::signal(self.pid(), libc::SIGTERM);
        let deadline = Instant::now() + GRACE;
        while self.alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}
