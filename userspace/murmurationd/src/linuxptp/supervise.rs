//! One supervised program: write its config, start it in a process group
//! of its own, restart it with backoff when it exits, stop it (SIGTERM,
//! then SIGKILL after a deadline, by PID) when the daemon shuts down.

use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use super::phc2sys::Update;
use super::render::{Program, Rendered};
use crate::Shared;
use crate::metrics::linuxptp::LinuxPtpMetrics;

/// What to run, where, and how patiently.
#[derive(Debug, Clone)]
pub struct Spec {
    pub instance: String,
    pub rendered: Rendered,
    pub netns: Option<PathBuf>,
    pub backoff: Backoff,
    pub stop_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot write {path}")]
    Config {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open network namespace {path}")]
    Netns {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start {binary}")]
    Spawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How a run ended.
enum Ended {
    Exited(ExitStatus),
    Stopped,
}

/// Runs `spec` until `cancel` fires.
pub async fn run(shared: Arc<Shared>, mut spec: Spec, cancel: CancellationToken) {
    let program = spec.rendered.program.as_str();
    let labels = LinuxPtpMetrics::labels(&spec.instance, program);
    let m = &shared.metrics.linuxptp;
    m.up.get_or_create(&labels).set(0);
    m.restarts.get_or_create(&labels).inc_by(0);
    loop {
        let started = Instant::now();
        let code = match start(&shared, &spec) {
            Ok(child) => {
                let pid = child.id().unwrap_or(0);
                tracing::info!(instance = %spec.instance, program, pid, "linuxptp started");
                m.up.get_or_create(&labels).set(1);
                let ended = watch(child, &cancel, spec.stop_timeout).await;
                m.up.get_or_create(&labels).set(0);
                match ended {
                    Ended::Stopped => return,
                    Ended::Exited(status) => {
                        tracing::warn!(instance = %spec.instance, program, pid, %status, "linuxptp exited");
                        exit_code(status)
                    }
                }
            }
            Err(e) => {
                tracing::error!(instance = %spec.instance, program, error = %crate::chain(&e), "linuxptp");
                shared.metrics.task_error("linuxptp");
                -1
            }
        };
        m.last_exit_code.get_or_create(&labels).set(code);
        let delay = spec.backoff.after_exit(started.elapsed());
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        m.restarts.get_or_create(&labels).inc();
    }
}

/// The shell's convention: the exit code, or 128 + the signal that killed it.
fn exit_code(status: ExitStatus) -> i64 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => i64::from(c),
        (None, Some(sig)) => 128 + i64::from(sig),
        (None, None) => -1,
    }
}

fn start(shared: &Arc<Shared>, spec: &Spec) -> Result<Child, StartError> {
    let r = &spec.rendered;
    if let Some(dir) = r.config_path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| StartError::Config { path: dir.to_owned(), source })?;
    }
    murmuration_core::state::atomic_write(&r.config_path, r.config.as_bytes())
        .map_err(|source| StartError::Config { path: r.config_path.clone(), source })?;
    let netns = spec
        .netns
        .as_ref()
        .map(|p| {
            std::fs::File::open(p)
                .map(std::os::fd::OwnedFd::from)
                .map_err(|source| StartError::Netns { path: p.clone(), source })
        })
        .transpose()?;
    let mut cmd = Command::new(&r.binary);
    cmd.args(&r.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    super::sys::prepare_child(&mut cmd, netns);
    let mut child =
        cmd.spawn().map_err(|source| StartError::Spawn { binary: r.binary.clone(), source })?;
    let (inst, prog) = (spec.instance.clone(), r.program.as_str());
    // phc2sys's updates of the system clock feed os-clock-sync-state.
    let view = (r.program == Program::Phc2sys).then(|| shared.clone());
    if let Some(out) = child.stdout.take() {
        tokio::spawn(forward(out, inst.clone(), prog, false, view));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(forward(err, inst, prog, true, None));
    }
    Ok(child)
}

/// The program's output, one event per line: stdout (linuxptp's notices
/// and summaries) at debug, stderr (its errors) at warn. With `view`,
/// phc2sys's updates of the system clock are recorded there.
async fn forward(
    pipe: impl AsyncRead + Unpin,
    instance: String,
    program: &'static str,
    err: bool,
    view: Option<Arc<Shared>>,
) {
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(s) = &view
            && let Some(u) = Update::parse(&line).filter(Update::is_realtime)
        {
            s.set_phc2sys(&instance, u);
        }
        if err {
            tracing::warn!(target: "murmurationd::linuxptp::output", instance = %instance, program, "{line}");
        } else {
            tracing::debug!(target: "murmurationd::linuxptp::output", instance = %instance, program, "{line}");
        }
    }
}

async fn watch(mut child: Child, cancel: &CancellationToken, stop_timeout: Duration) -> Ended {
    tokio::select! {
        r = child.wait() => match r {
            Ok(status) => Ended::Exited(status),
            Err(e) => {
                tracing::warn!(error = %e, "waiting for a linuxptp program");
                stop(child, stop_timeout).await;
                Ended::Stopped
            }
        },
        () = cancel.cancelled() => {
            stop(child, stop_timeout).await;
            Ended::Stopped
        }
    }
}

/// SIGTERM by PID, then SIGKILL once `timeout` passes; reaped either way.
async fn stop(mut child: Child, timeout: Duration) {
    let Some(pid) = child.id() else { return };
    let Ok(raw) = i32::try_from(pid) else { return };
    let _ = kill(Pid::from_raw(raw), Signal::SIGTERM);
    if let Ok(Ok(status)) = tokio::time::timeout(timeout, child.wait()).await {
        tracing::info!(pid, %status, "linuxptp stopped");
        return;
    }
    tracing::warn!(pid, ?timeout, "linuxptp ignored SIGTERM; killing it");
    let _ = child.kill().await;
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    /// phc2sys's output, as its supervisor reads it, updates the instance's
    /// view of the system clock with the last update of CLOCK_REALTIME.
    #[tokio::test]
    async fn phc2sys_output_records_the_system_clocks_updates() {
        let cfg = Config::parse("", Path::new("t.toml")).expect("valid");
        let shared = Arc::new(Shared::new(cfg));
        let out: &[u8] = b"phc2sys[10.0]: selecting CLOCK_REALTIME for synchronization\n\
            phc2sys[11.0]: CLOCK_REALTIME eth1 offset 4211 s0 freq +0 delay 500\n\
            phc2sys[12.0]: CLOCK_REALTIME eth1 offset -17 s2 freq -3012 delay 498\n\
            phc2sys[12.0]: eth2 eth1 offset 900 s0 freq +0 delay 700\n";
        forward(out, "ran0".to_owned(), "phc2sys", false, Some(shared.clone())).await;
        let u = shared.phc2sys("ran0", Duration::from_secs(60)).expect("an update");
        assert_eq!((u.offset_ns, u.servo), (-17, super::super::phc2sys::Servo::Locked));
        assert_eq!(u.source, "eth1");
    }
}
