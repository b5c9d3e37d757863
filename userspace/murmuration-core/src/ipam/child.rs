//! Running a delegated plugin with a deadline.
//!
//! The config goes in on a writer thread and stdout comes back on a reader
//! thread, so neither a plugin that does not read stdin nor one that never
//! closes stdout can block the caller; the caller waits on a channel and
//! then on the child (`waitpid` without blocking, short backoff) until the
//! deadline. On expiry the child is killed by its PID (SIGKILL) and reaped.
//! A grandchild that inherited stdout can keep the reader thread alive; it
//! is left behind, the caller is not.

use std::io::{self, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const FIRST_BACKOFF: Duration = Duration::from_micros(100);
const MAX_BACKOFF: Duration = Duration::from_millis(10);

#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("cannot start")]
    Spawn(#[source] io::Error),
    #[error("I/O with the plugin")]
    Io(#[source] io::Error),
    #[error("no answer within {timeout:?}; killed pid {pid}")]
    TimedOut { pid: u32, timeout: Duration },
}

#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
}

/// Runs `cmd` with `stdin` as its input; stderr is inherited.
pub fn run(mut cmd: Command, stdin: &[u8], timeout: Duration) -> Result<Finished, ChildError> {
    let deadline = Instant::now() + timeout;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(ChildError::Spawn)?;
    let writer = child.stdin.take().map(|mut pipe| {
        let bytes = stdin.to_vec();
        std::thread::spawn(move || pipe.write_all(&bytes))
    });
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = child.stdout.take() {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = tx.send(pipe.read_to_end(&mut out).map(|_| out));
        });
    }
    let stdout = match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(read) => read,
        Err(_) => return Err(kill(child, timeout)),
    };
    let status = wait_until(child, deadline, timeout)?;
    let stdout = stdout.map_err(ChildError::Io)?;
    writer_result(writer)?;
    Ok(Finished { status, stdout })
}

/// The writer's outcome once it is done: a plugin may answer without
/// reading stdin (Go plugins do for VERSION) and exit first, so a broken
/// pipe is not an error; its exit status and stdout decide.
fn writer_result(writer: Option<JoinHandle<io::Result<()>>>) -> Result<(), ChildError> {
    let Some(w) = writer.filter(JoinHandle::is_finished) else { return Ok(()) };
    match w.join() {
        Ok(Err(e)) if e.kind() != io::ErrorKind::BrokenPipe => Err(ChildError::Io(e)),
        _ => Ok(()),
    }
}

fn wait_until(
    mut child: Child,
    deadline: Instant,
    timeout: Duration,
) -> Result<ExitStatus, ChildError> {
    let mut backoff = FIRST_BACKOFF;
    loop {
        if let Some(status) = child.try_wait().map_err(ChildError::Io)? {
            return Ok(status);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(kill(child, timeout));
        }
        std::thread::sleep(backoff.min(left));
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Kills the child by PID and reaps it (it is ours and not yet reaped, so
/// the PID cannot have been reused).
fn kill(mut child: Child, timeout: Duration) -> ChildError {
    let pid = child.id();
    if let Err(e) = child.kill() {
        tracing::warn!(pid, error = %e, "cannot kill the IPAM plugin");
    }
    let _ = child.wait();
    ChildError::TimedOut { pid, timeout }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("/bin/sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn answers_are_read_and_input_is_written() {
        let out = run(sh("cat"), b"hello", Duration::from_secs(30)).expect("runs");
        assert!(out.status.success());
        assert_eq!(out.stdout, b"hello");
    }

    #[test]
    fn a_plugin_that_ignores_a_large_input_is_fine() {
        let big = vec![b'x'; 1 << 20];
        let out = run(sh("echo done"), &big, Duration::from_secs(30)).expect("runs");
        assert_eq!(out.stdout, b"done\n");
    }

    #[test]
    fn a_hung_plugin_is_killed_and_reaped() {
        let err = run(sh("exec sleep 1000"), b"", Duration::from_millis(200)).expect_err("hangs");
        let ChildError::TimedOut { pid, .. } = err else { panic!("{err:?}") };
        // Reaped: the PID no longer names a process (not even a zombie).
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "pid {pid} is left");
    }

    #[test]
    fn a_plugin_that_closes_stdout_but_keeps_running_is_killed() {
        let err = run(sh("exec >&-; exec sleep 1000"), b"", Duration::from_millis(200));
        assert!(matches!(err, Err(ChildError::TimedOut { .. })), "{err:?}");
    }
}
