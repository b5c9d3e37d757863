//! The demo's PTP pair: a ptp4l grandmaster in the wire namespace and a
//! free-running ptp4l client in the node namespace, over their own veth pair
//! with software timestamps (the host has no PTP hardware clock), and the
//! node daemon's view of it. A free-running client never adjusts the clock,
//! so its port stays UNCALIBRATED; the daemon counts that as tracking.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use super::daemon::{self, Proc};
use super::topology::{PTP_NODE, PTP_WIRE, Topology};

#[derive(Debug)]
pub struct Pair {
    pub processes: Vec<Proc>,
    /// The client's management socket, which the daemon polls.
    pub client_socket: PathBuf,
}

fn config(scratch: &Path, name: &str, role: &str) -> Result<PathBuf> {
    let path = scratch.join(format!("{name}.cfg"));
    let socket = scratch.join(format!("{name}.sock"));
    let text = format!(
        "[global]\n{role}\nuds_address {}\nlogAnnounceInterval -2\nlogSyncInterval -3\n\
         announceReceiptTimeout 3\n",
        socket.display()
    );
    std::fs::write(&path, text)?;
    Ok(path)
}

fn ptp4l(netns: &str, ifname: &str, config: &Path, log: &Path) -> Result<Proc> {
    let config = config.display().to_string();
    let argv = ["ptp4l", "-S", "-m", "-i", ifname, "-f", &config];
    Proc::spawn("ptp4l", netns, &argv, log)
}

impl Pair {
    pub fn start(topology: &Topology, scratch: &Path, out: &Path) -> Result<Self> {
        let gm = config(scratch, "ptp-gm", "priority1 10\nmasterOnly 1\nclockClass 6")?;
        let client = config(scratch, "ptp-client", "slaveOnly 1\nfree_running 1")?;
        let processes = vec![
            ptp4l(&topology.wire, PTP_WIRE, &gm, &out.join("ptp4l-gm.log"))?,
            ptp4l(&topology.node, PTP_NODE, &client, &out.join("ptp4l-client.log"))?,
        ];
        Ok(Pair { processes, client_socket: scratch.join("ptp-client.sock") })
    }
}

/// Waits (at most 30 s) until the daemon reports LOCKED with a measured path
/// delay, then prints its PTP state.
pub fn show(node: &str) -> Result<()> {
    let ptp =
        daemon::wait_for("PTP LOCKED in the daemon's /status", Duration::from_secs(30), || {
            let status: Value = serde_json::from_str(&daemon::get(node, "/status").ok()?).ok()?;
            let ptp = &status["ptp"];
            let measured = ptp["mean_path_delay_ns"].as_f64().is_some_and(|d| d > 0.0);
            (ptp["sync_state"] == "LOCKED" && measured).then(|| ptp.clone())
        })?;
    println!("\nPTP ({PTP_NODE}, software timestamps; GET /status of murmurationd):");
    println!("  {}", summary(&ptp));
    Ok(())
}

/// One line: sync state, port state, offset, path delay, grandmaster class.
fn summary(ptp: &Value) -> String {
    let ns = |key: &str| ptp[key].as_f64().map_or("n/a".to_owned(), |v| format!("{v:.0} ns"));
    format!(
        "sync {}, port {} ({}), offset {}, mean path delay {}, grandmaster class {}",
        ptp["sync_state"].as_str().unwrap_or("?"),
        ptp["ports"][0]["state"].as_str().unwrap_or("?"),
        "free-running client",
        ns("offset_ns"),
        ns("mean_path_delay_ns"),
        ptp["clock_class"]
    )
}

#[cfg(test)]
mod tests {
    use super::summary;
    use serde_json::json;

    #[test]
    fn the_summary_names_state_offset_and_delay() {
        let ptp = json!({"sync_state": "LOCKED", "ports": [{"state": "UNCALIBRATED"}],
                         "offset_ns": -812.4, "mean_path_delay_ns": 15230.0, "clock_class": 248});
        assert_eq!(
            summary(&ptp),
            "sync LOCKED, port UNCALIBRATED (free-running client), offset -812 ns, \
             mean path delay 15230 ns, grandmaster class 248"
        );
    }
}
