//! Smoke test of the benchmark program: a tiny run of each subcommand must
//! finish and write well-formed results. It asserts shape, never timing.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bench() -> &'static str {
    env!("CARGO_BIN_EXE_murmuration-bench")
}

/// The plugin binary that `cargo test --workspace` built next to this one.
fn plugin() -> PathBuf {
    let p = Path::new(bench()).with_file_name("murmuration");
    assert!(p.is_file(), "{} missing: build the workspace first", p.display());
    p
}

fn run(out: &Path, args: &[&str]) {
    let status = Command::new(bench())
        .arg("--quick")
        .arg("--out")
        .arg(out)
        .args(args)
        .status()
        .expect("benchmark runs");
    assert!(status.success(), "murmuration-bench {args:?} failed");
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("result file")).expect("valid JSON")
}

fn assert_svg(path: &Path) {
    let text = std::fs::read_to_string(path).expect("plot file");
    assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"), "{}", path.display());
}

fn assert_root() {
    assert!(is_root(), "the benchmark smoke test needs root (network namespaces)");
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn cni_quick_run_writes_results() {
    assert_root();
    let out = tempfile::tempdir().expect("tempdir");
    let plugin = plugin();
    run(out.path(), &["cni", "--iterations", "3", "--plugin", plugin.to_str().expect("utf-8")]);
    let doc = json(&out.path().join("cni.json"));
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() >= 9, "every plugin/IPAM pair is measured");
    for c in cases {
        assert_eq!(c["add"]["n"], 3, "{c}");
        assert!(c["add"]["p50_us"].as_f64().expect("number") > 0.0);
    }
    assert!(std::fs::read_to_string(out.path().join("cni.md")).expect("md").contains("| case |"));
    assert_svg(&out.path().join("cni-add-p50.svg"));
}

/// `--path` limits the run to the named paths (the demo measures three).
#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn datapath_path_selects_only_the_named_paths() {
    assert_root();
    let out = tempfile::tempdir().expect("tempdir");
    let plugin = plugin();
    let plugin = plugin.to_str().expect("utf-8");
    let args = ["--samples", "100", "--seconds", "0.1", "--plugin", plugin];
    let select = ["--path", "bridge", "--path", "fast"];
    run(out.path(), &[&["datapath"][..], &args, &select].concat());
    let doc = json(&out.path().join("datapath.json"));
    let names: Vec<&str> =
        doc["paths"].as_array().expect("paths").iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["bridge", "murmuration fast path"]);
    let md = std::fs::read_to_string(out.path().join("datapath.md")).expect("md");
    assert!(md.contains("| fast path p50 RTT / bridge p50 |"), "ratios without the floor:\n{md}");
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn datapath_quick_run_writes_results_and_compare_reads_them() {
    assert_root();
    let out = tempfile::tempdir().expect("tempdir");
    let plugin = plugin();
    let plugin = plugin.to_str().expect("utf-8");
    run(out.path(), &["datapath", "--samples", "200", "--seconds", "0.1", "--plugin", plugin]);
    let doc = json(&out.path().join("datapath.json"));
    let paths = doc["paths"].as_array().expect("paths");
    let names: Vec<&str> = paths.iter().filter_map(|p| p["name"].as_str()).collect();
    for want in ["veth", "bridge", "iptables"] {
        assert!(names.iter().any(|n| n.starts_with(want)), "{want} missing from {names:?}");
    }
    for p in paths {
        assert_eq!(p["rtt"]["n"], 200, "{p}");
        assert!(p["pps_64"].as_f64().expect("number") > 0.0, "{p}");
    }
    assert_generator_choice(&doc["generator"]);
    assert!(
        std::fs::read_to_string(out.path().join("datapath.md"))
            .expect("md")
            .contains("Packet generator: ")
    );
    assert_svg(&out.path().join("datapath-rtt-cdf.svg"));
    assert_svg(&out.path().join("datapath-pps-64.svg"));
    assert_svg(&out.path().join("datapath-generators.svg"));
    let file = out.path().join("datapath.json");
    let same =
        Command::new(bench()).arg("compare").arg(&file).arg(&file).output().expect("compare");
    assert!(same.status.success(), "a run compared with itself has no regression");
    assert!(String::from_utf8_lossy(&same.stdout).contains("rtt_p50_us"));
}

#[test]
#[ignore = "privileged: needs root, network namespaces and bpffs (run by cargo xtask test)"]
fn daemon_quick_run_writes_results() {
    assert_root();
    let out = tempfile::tempdir().expect("tempdir");
    let plugin = plugin();
    let daemon = plugin.with_file_name("murmurationd");
    assert!(daemon.is_file(), "{} missing: build the workspace first", daemon.display());
    let (plugin, daemon) = (plugin.to_str().expect("utf-8"), daemon.to_str().expect("utf-8"));
    let args = ["--attachments", "4", "--scrapes", "3", "--plugin", plugin, "--daemon", daemon];
    run(out.path(), &[&["daemon"][..], &args].concat());
    let doc = json(&out.path().join("daemon.json"));
    let samples = doc["samples"].as_array().expect("samples");
    assert_eq!(samples.len(), 2, "idle and loaded: {doc}");
    assert_eq!(samples[0]["attachments"], 0);
    assert_eq!(samples[1]["attachments"], 4);
    let series = |i: usize| samples[i]["series"].as_u64().expect("series");
    assert!(series(1) > series(0), "the attachments' fast-path series are exported: {doc}");
    for s in samples {
        assert_eq!(s["scrape"]["n"], 3, "{s}");
        assert!(s["peak_rss_mb"].as_f64().expect("number") > 0.0, "{s}");
    }
    assert!(std::fs::read_to_string(out.path().join("daemon.md")).expect("md").contains("| 4 |"));
    let burst = &doc["burst"];
    let answered =
        burst["served"].as_u64().expect("served") + burst["refused"].as_u64().expect("n");
    assert_eq!(answered, 200, "every burst client accounted for: {burst}");
    assert!(burst["served"].as_u64().is_some_and(|n| n >= 1), "{burst}");
    assert_svg(&out.path().join("daemon-scrape-p50.svg"));
}

#[test]
#[ignore = "privileged: needs root, network namespaces and Debian's linuxptp (run by cargo xtask test)"]
fn timing_quick_run_writes_results() {
    assert_root();
    let out = tempfile::tempdir().expect("tempdir");
    let daemon = plugin().with_file_name("murmurationd");
    assert!(daemon.is_file(), "{} missing: build the workspace first", daemon.display());
    let daemon = daemon.to_str().expect("utf-8");
    let args = ["--subscriptions", "5", "--gets", "20", "--daemon", daemon];
    run(out.path(), &[&["timing"][..], &args].concat());
    let doc = json(&out.path().join("timing.json"));
    let r = &doc["results"];
    assert_eq!(r["subscriptions"], 5, "{doc}");
    for s in ["current_state", "api_health", "healthz"] {
        assert_eq!(r[s]["n"], 20, "{s}: {doc}");
    }
    assert_eq!(r["deliveries"], 10, "HOLDOVER and FREERUN at each subscriber: {doc}");
    assert_eq!(r["change_to_consumer"]["n"], 10, "{doc}");
    assert!(r["rss_after_mb"].as_f64().expect("number") > 0.0, "{doc}");
    assert!(doc["ratios"]["current_state_over_api_health_p99"].as_f64().is_some(), "{doc}");
    let md = std::fs::read_to_string(out.path().join("timing.md")).expect("md");
    assert!(md.contains("| lock-state CurrentState | 20 |"), "{md}");
}

/// Both generators measured, one of them used.
fn assert_generator_choice(c: &serde_json::Value) {
    let used = c["used"].as_str().expect("used");
    assert!(["sendmmsg", "io_uring"].contains(&used), "{c}");
    let rates = c["rates"].as_array().expect("rates");
    let names: Vec<&str> = rates.iter().filter_map(|r| r["generator"].as_str()).collect();
    assert_eq!(names, ["sendmmsg", "io_uring"], "{c}");
    for r in rates {
        for size in ["pps_64", "pps_1500"] {
            assert!(r[size]["sent"].as_f64().expect("number") > 0.0, "{r}");
            assert!(r[size]["received"].as_f64().expect("number") > 0.0, "{r}");
        }
    }
    assert!(c["io_uring_over_sendmmsg_64"]["sent"].as_f64().expect("ratio") > 0.0, "{c}");
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn datapath_generators_only_writes_the_comparison() {
    assert_root();
    let out = tempfile::tempdir().expect("tempdir");
    run(out.path(), &["datapath", "--generators-only", "--seconds", "0.1"]);
    let doc = json(&out.path().join("datapath-generators.json"));
    assert_generator_choice(&doc["generator"]);
    let md = std::fs::read_to_string(out.path().join("datapath-generators.md")).expect("md");
    assert!(md.contains("| io_uring / sendmmsg |"), "{md}");
    assert_svg(&out.path().join("datapath-generators.svg"));
    assert!(!out.path().join("datapath.json").exists(), "no paths were measured");
}

#[test]
#[ignore = "privileged: needs root and network namespaces (run by cargo xtask test)"]
fn devplugin_quick_run_writes_results() {
    assert_root();
    let out = tempfile::tempdir().expect("tempdir");
    let daemon = Path::new(bench()).with_file_name("murmurationd");
    assert!(daemon.is_file(), "{} missing: build the workspace first", daemon.display());
    let args = ["--calls", "20", "--flips", "4", "--daemon", daemon.to_str().expect("utf-8")];
    run(out.path(), &[&["devplugin"][..], &args].concat());
    let doc = json(&out.path().join("devplugin.json"));
    let r = &doc["results"];
    for (call, n) in [("allocate", 20), ("options", 20), ("list_and_watch_reaction", 4)] {
        assert_eq!(r[call]["n"], n, "{call}: {doc}");
        assert!(r[call]["p99_us"].as_f64().expect("number") > 0.0, "{call}: {doc}");
    }
    assert!(doc["allocate_over_options"]["p99"].as_f64().expect("ratio") > 0.0, "{doc}");
    let md = std::fs::read_to_string(out.path().join("devplugin.md")).expect("md");
    assert!(md.contains("| GetDevicePluginOptions (baseline) |"), "{md}");
}
