//! The demo's daemon step: start `murmurationd` in the node namespace on the
//! plugin's state directory, scrape its endpoint, print selected metrics.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const LISTEN: &str = "127.0.0.1:9465";
const SHOWN: &[&str] = &[
    "murmurationd_build_info",
    "murmuration_attachments{",
    "murmuration_attachment_rx_packets_total",
    "murmuration_attachment_tx_packets_total",
    "murmuration_cni_operations_total",
    "murmuration_cni_operation_duration_seconds_count",
    "murmurationd_inventory_refreshes_total",
];

/// Killed by PID when dropped (`ip netns exec` execs the daemon in place).
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// GET over bash's /dev/tcp inside the namespace (no curl needed).
fn get(netns: &str, path: &str) -> Result<String> {
    let (host, port) = LISTEN.split_once(':').context("listen address")?;
    let script = format!(
        "exec 3<>/dev/tcp/{host}/{port} && printf 'GET {path} HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3"
    );
    let out = Command::new("ip").args(["netns", "exec", netns, "bash", "-c", &script]).output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || !text.starts_with("HTTP/1.") {
        bail!("GET {path} failed");
    }
    Ok(text)
}

pub fn show_metrics(binary: &Path, netns: &str, data_dir: &Path) -> Result<()> {
    println!("\n--- murmurationd in {netns}, reading {}", data_dir.display());
    let data_dir = data_dir.display().to_string();
    let args = ["netns", "exec", netns, &binary.display().to_string(), "--listen", LISTEN];
    let child = Command::new("ip")
        .args(args)
        .args(["--data-dir", &data_dir, "--log-level", "warn"])
        .stdin(Stdio::null())
        .spawn()
        .context("starting murmurationd")?;
    let _daemon = Daemon(child);
    let start = Instant::now();
    let metrics = loop {
        // Wait for the first inventory read and the operation log poll.
        std::thread::sleep(Duration::from_millis(700));
        match get(netns, "/metrics") {
            Ok(m) if m.contains("murmuration_cni_operations_total") => break m,
            _ if start.elapsed() > Duration::from_secs(15) => bail!("murmurationd did not answer"),
            _ => {}
        }
    };
    println!("$ GET http://{LISTEN}/metrics (selected)");
    for line in metrics.lines().filter(|l| SHOWN.iter().any(|s| l.starts_with(s))) {
        println!("{line}");
    }
    Ok(())
}
