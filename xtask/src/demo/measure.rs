//! The demo's measurement: the benchmark program's `datapath` run, short and
//! restricted to a Linux bridge (the baseline) and two fast paths, measured
//! in the same run in the benchmark's own namespaces. Its JSON, Markdown and
//! plots land in the output directory; the demo prints a small table of them.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The `datapath --path` selection, baseline first.
const PATHS: [&str; 3] = ["bridge", "fast", "pod-to-pod"];

/// Runs the benchmark into `out` and prints its table.
pub fn run(plugin: &Path, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)?;
    let bench = plugin.with_file_name("murmuration-bench");
    let log = out.join("bench.log");
    let log_file = File::create(&log)?;
    let mut cmd = Command::new(&bench);
    cmd.arg("--quick").arg("--out").arg(out).args(["datapath", "--plugin"]).arg(plugin);
    for path in PATHS {
        cmd.args(["--path", path]);
    }
    cmd.stdin(Stdio::null()).stdout(log_file.try_clone()?).stderr(log_file);
    if super::verbose() {
        eprintln!("$ {} > {}", crate::sh::display(&cmd), log.display());
    }
    let status = cmd.status().with_context(|| format!("starting {}", bench.display()))?;
    if !status.success() {
        bail!("the benchmark failed ({status}); see {}", log.display());
    }
    let json = std::fs::read(out.join("datapath.json")).context("reading datapath.json")?;
    let report: Value = serde_json::from_slice(&json)?;
    print!("{}", table(&report)?);
    Ok(())
}

/// The paths' RTT and 64-byte rates, and the fast path's ratios to the bridge.
fn table(report: &Value) -> Result<String> {
    let paths = report["paths"].as_array().context("no paths in datapath.json")?;
    if let Some(failure) = report["failures"].as_array().and_then(|f| f.first()) {
        bail!("a benchmark path failed: {failure}");
    }
    let mut text = String::from(
        "\nUDP through each path (benchmark, same run; baseline: Linux bridge):\n  \
         path                                RTT p50    RTT p99    64 B pps\n",
    );
    for path in paths {
        text += &format!(
            "  {:<34} {:>6.1} µs {:>7.1} µs {:>10.0}\n",
            path["name"].as_str().unwrap_or("?"),
            path["rtt"]["p50_us"].as_f64().unwrap_or(f64::NAN),
            path["rtt"]["p99_us"].as_f64().unwrap_or(f64::NAN),
            path["pps_64"].as_f64().unwrap_or(f64::NAN),
        );
    }
    let find = |prefix: &str| paths.iter().find(|p| p["name"].as_str() == Some(prefix));
    if let (Some(bridge), Some(fast)) = (find("bridge"), find("murmuration fast path")) {
        let ratio =
            |a: &Value, b: &Value| a.as_f64().unwrap_or(f64::NAN) / b.as_f64().unwrap_or(f64::NAN);
        text += &format!(
            "  fast path / bridge: RTT p50 {:.2}x, p99 {:.2}x, 64 B pps {:.2}x\n",
            ratio(&fast["rtt"]["p50_us"], &bridge["rtt"]["p50_us"]),
            ratio(&fast["rtt"]["p99_us"], &bridge["rtt"]["p99_us"]),
            ratio(&fast["pps_64"], &bridge["pps_64"]),
        );
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::table;
    use serde_json::json;

    fn path(name: &str, p50: f64, p99: f64, pps: f64) -> serde_json::Value {
        json!({"name": name, "rtt": {"p50_us": p50, "p99_us": p99}, "pps_64": pps})
    }

    #[test]
    fn the_table_has_a_row_per_path_and_the_ratios_to_the_bridge() {
        let report = json!({"failures": [], "paths": [
            path("bridge", 20.0, 40.0, 100000.0),
            path("murmuration fast path", 10.0, 30.0, 150000.0),
        ]});
        let text = table(&report).expect("table");
        assert!(
            text.contains("  bridge                               20.0 µs    40.0 µs     100000\n"),
            "{text}"
        );
        assert!(text.contains("RTT p50 0.50x, p99 0.75x, 64 B pps 1.50x"), "{text}");
    }

    #[test]
    fn a_failed_path_fails_the_table() {
        let report = json!({"failures": ["bridge: no"], "paths": []});
        assert!(table(&report).is_err());
    }
}
