//! The demo's node daemon: `murmurationd` in the node namespace on the
//! plugin's state directory (PTP monitoring on), and the processes the demo
//! starts (the daemon, ptp4l), stopped by PID.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Where the daemon listens, inside the node namespace.
pub const LISTEN: &str = "127.0.0.1:9465";

/// The metrics shown by default (line prefixes of the exposition).
const SHOWN: &[&str] = &[
    "murmuration_attachments{",
    "murmuration_attachment_rx_packets_total",
    "murmuration_cni_operations_total{",
    "murmuration_ptp_sync_state{instance=\"ptp4l\",state=\"LOCKED\"}",
    "murmurationd_inventory_refreshes_total",
];

/// A process the demo started in a namespace (`ip netns exec` execs in place,
/// so the child's PID is the process's). Killed by PID when dropped.
#[derive(Debug)]
pub struct Proc {
    child: Option<Child>,
}

impl Proc {
    /// `program args` in `netns`, stdout and stderr to `log`.
    pub fn spawn(name: &'static str, netns: &str, argv: &[&str], log: &Path) -> Result<Self> {
        let log_file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new("ip")
            .args(["netns", "exec", netns])
            .args(argv)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Proc { child: Some(child) })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Kills it and reaps it; returns its PID.
    pub fn stop(mut self) -> u32 {
        let pid = self.pid();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        pid
    }

    /// Leaves it running when the value drops (`--keep`).
    pub fn forget(mut self) -> u32 {
        let pid = self.pid();
        self.child = None;
        pid
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What the daemon is started with.
#[derive(Debug)]
pub struct Setup<'a> {
    pub binary: &'a Path,
    pub netns: &'a str,
    pub data_dir: &'a Path,
    /// ptp4l's management socket (`uds_address`) of the node's client.
    pub ptp_socket: &'a Path,
    pub scratch: &'a Path,
    pub log: &'a Path,
}

/// The daemon's TOML configuration: PTP monitoring of a free-running ptp4l,
/// which never leaves UNCALIBRATED, so that state counts as tracking.
fn config(setup: &Setup<'_>) -> String {
    format!(
        "[log]\nlevel = \"warn\"\n[http]\nlisten = \"{LISTEN}\"\n\
         [state]\ndata_dir = \"{}\"\ncni_path = [\"{}\"]\n\
         [ptp]\nenabled = true\nptp4l_socket = \"{}\"\nclient_socket_dir = \"{}\"\n\
         poll_seconds = 0.2\noffset_threshold_ns = 1000000\n\
         locked_port_states = [\"UNCALIBRATED\"]\n",
        setup.data_dir.display(),
        super::plugin::CNI_PATH,
        setup.ptp_socket.display(),
        setup.scratch.display()
    )
}

/// Starts the daemon and waits until it serves its metrics.
pub fn start(setup: &Setup<'_>) -> Result<Proc> {
    let config_file = setup.log.with_file_name("murmurationd.toml");
    std::fs::write(&config_file, config(setup))?;
    let binary = setup.binary.display().to_string();
    let config_arg = config_file.display().to_string();
    let argv = [binary.as_str(), "--config", &config_arg];
    let daemon = Proc::spawn("murmurationd", setup.netns, &argv, setup.log)?;
    wait_for("murmurationd's metrics", Duration::from_secs(15), || {
        get(setup.netns, "/metrics").ok().filter(|m| m.contains("murmuration_cni_operations_total"))
    })?;
    Ok(daemon)
}

/// Polls `probe` until it returns something, for at most `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> Result<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe() {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("{what}: not there within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// GET over bash's /dev/tcp inside the namespace (no curl needed); the body.
pub fn get(netns: &str, path: &str) -> Result<String> {
    let (host, port) = LISTEN.split_once(':').context("listen address")?;
    let script = format!(
        "exec 3<>/dev/tcp/{host}/{port} && printf 'GET {path} HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3"
    );
    let out = Command::new("ip").args(["netns", "exec", netns, "bash", "-c", &script]).output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || !text.starts_with("HTTP/1.") {
        bail!("GET {path} failed");
    }
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Ok(body.to_owned())
}

/// Scrapes the daemon once, writes the exposition to `out`, prints selected lines.
pub fn show_metrics(netns: &str, out: &Path) -> Result<()> {
    let metrics = get(netns, "/metrics")?;
    std::fs::write(out.join("metrics.txt"), &metrics)?;
    println!("\nlive metrics (GET http://{LISTEN}/metrics in the node namespace, selected):");
    for line in selected(&metrics) {
        println!("  {line}");
    }
    Ok(())
}

/// The lines of [`SHOWN`] with a non-zero value.
fn selected(metrics: &str) -> impl Iterator<Item = &str> {
    metrics.lines().filter(|line| {
        let shown = SHOWN.iter().any(|prefix| line.starts_with(prefix));
        shown && line.rsplit(' ').next().is_some_and(|value| value != "0")
    })
}

#[cfg(test)]
mod tests {
    use super::selected;

    #[test]
    fn only_the_chosen_metrics_with_a_value_are_shown() {
        let exposition = "# HELP murmuration_attachments x\n\
            murmuration_attachments{mode=\"veth\"} 3\n\
            murmuration_attachments{mode=\"sriov\"} 0\n\
            murmurationd_build_info{version=\"0.1.0\"} 1\n\
            murmuration_ptp_sync_state{instance=\"ptp4l\",state=\"LOCKED\"} 1\n\
            murmuration_ptp_sync_state{instance=\"ptp4l\",state=\"FREERUN\"} 0\n";
        let shown: Vec<&str> = selected(exposition).collect();
        assert_eq!(
            shown,
            [
                "murmuration_attachments{mode=\"veth\"} 3",
                "murmuration_ptp_sync_state{instance=\"ptp4l\",state=\"LOCKED\"} 1"
            ]
        );
    }
}
