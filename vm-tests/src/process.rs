//! A child process the test started, with its output in a log file: stopped
//! by PID with SIGTERM, or killed on drop if the test panicked first.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::cmd::IP;
use crate::{sys, wait_for};

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

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
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
        sys::hangup(pid).unwrap_or_else(|e| panic!("SIGHUP to {} ({pid}): {e}", self.what));
    }

    /// SIGTERM by PID; waits (up to 10 s) for the exit and returns its status.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.pid();
        sys::terminate(pid).unwrap_or_else(|e| panic!("SIGTERM to {} ({pid}): {e}", self.what));
        let what = format!("{} ({pid}) to exit", self.what);
        wait_for(&what, Duration::from_secs(10), || self.child.try_wait().expect("try_wait"))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
