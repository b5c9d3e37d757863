//! `compare old.json new.json`: per-metric ratios between two runs of the same
//! benchmark on one machine, with regressions beyond a noise threshold flagged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;

#[derive(Debug, clap::Args)]
pub struct Args {
    old: PathBuf,
    new: PathBuf,
    /// Relative change treated as noise (0.10 = 10 %).
    #[arg(long, default_value_t = 0.10)]
    threshold: f64,
}

/// Whether a larger value is better (rates) or worse (latencies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Better {
    Higher,
    Lower,
}

fn metrics(doc: &Value) -> BTreeMap<String, (f64, Better)> {
    let mut out = BTreeMap::new();
    let mut put = |k: String, v: &Value, b: Better| {
        if let Some(x) = v.as_f64() {
            out.insert(k, (x, b));
        }
    };
    for c in doc["cases"].as_array().into_iter().flatten() {
        let name = c["name"].as_str().unwrap_or("?");
        for verb in ["add", "del"] {
            for p in ["p50_us", "p99_us"] {
                put(format!("cni/{name}/{verb}_{p}"), &c[verb][p], Better::Lower);
            }
        }
    }
    for p in doc["paths"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or("?");
        for q in ["p50_us", "p99_us"] {
            put(format!("datapath/{name}/rtt_{q}"), &p["rtt"][q], Better::Lower);
        }
        put(format!("datapath/{name}/pps_64"), &p["pps_64"], Better::Higher);
        put(format!("datapath/{name}/pps_1500"), &p["pps_1500"], Better::Higher);
    }
    out
}

fn load(p: &Path) -> anyhow::Result<Value> {
    let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", p.display()))
}

/// Returns the metrics that regressed beyond `threshold`, and prints all.
fn compare(old: &Value, new: &Value, threshold: f64) -> Vec<String> {
    let (old, new) = (metrics(old), metrics(new));
    let mut regressions = Vec::new();
    println!("| metric | old | new | new/old | verdict |\n|---|---|---|---|---|");
    for (key, (o, better)) in &old {
        let Some((n, _)) = new.get(key) else { continue };
        let ratio = n / o;
        let worse = match better {
            Better::Lower => ratio > 1.0 + threshold,
            Better::Higher => ratio < 1.0 - threshold,
        };
        let better_now = match better {
            Better::Lower => ratio < 1.0 - threshold,
            Better::Higher => ratio > 1.0 + threshold,
        };
        let verdict = if worse {
            "REGRESSION"
        } else if better_now {
            "improved"
        } else {
            "noise"
        };
        println!("| {key} | {o:.1} | {n:.1} | {ratio:.3} | {verdict} |");
        if worse {
            regressions.push(key.clone());
        }
    }
    regressions
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let regressions = compare(&load(&args.old)?, &load(&args.new)?, args.threshold);
    if regressions.is_empty() {
        println!("\nno regression beyond {:.0} %", args.threshold * 100.0);
        return Ok(());
    }
    anyhow::bail!(
        "{} metric(s) regressed beyond {:.0} %: {}",
        regressions.len(),
        args.threshold * 100.0,
        regressions.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn flags_slower_latency_and_lower_rate_only() {
        let old = json!({"paths": [{"name": "p", "rtt": {"p50_us": 10.0, "p99_us": 20.0},
                                    "pps_64": 1000.0, "pps_1500": 500.0}]});
        let new = json!({"paths": [{"name": "p", "rtt": {"p50_us": 12.0, "p99_us": 20.5},
                                    "pps_64": 850.0, "pps_1500": 600.0}]});
        let r = compare(&old, &new, 0.10);
        assert_eq!(r, ["datapath/p/pps_64", "datapath/p/rtt_p50_us"]);
    }

    #[test]
    fn reads_cni_cases() {
        let doc = json!({"cases": [{"name": "x", "add": {"p50_us": 1.0, "p99_us": 2.0},
                                    "del": {"p50_us": 3.0, "p99_us": 4.0}}]});
        assert_eq!(metrics(&doc).len(), 4);
    }
}
