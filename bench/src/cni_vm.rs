//! `cni-vm`: ADD and DEL latency on real igbvf VFs, run inside the VM tier's
//! guest (`cargo xtask vm-bench` boots it; see `xtask/src/vm/bench.rs`).
//!
//! murmuration `sriov` mode (kernel VF driver) against Debian's Go
//! `host-device` moving the same kind of VF netdev, in one run, with the same
//! harness as `cni` (fork + exec, config on stdin, timed from before `spawn`
//! to after `wait`) and the same spawn floor. Each case gets its own VF of
//! the emulated 82576 PF, so one case cannot leave state that another pays
//! for, and the cases run in round-robin.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::cni::GO_PLUGINS;
use crate::cni::{CaseResult, Ipam, invoke, ipam_json, report};
use crate::stats::summarize;
use crate::topo::Netns;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Timed iterations per case (default 100, 10 with --quick).
    #[arg(long)]
    iterations: Option<usize>,
    /// The murmuration plugin binary (default: next to this binary).
    #[arg(long)]
    plugin: Option<PathBuf>,
    /// MAC of the SR-IOV PF whose VFs are used (the VM tier's PF under test).
    #[arg(long, default_value = "52:54:00:4d:00:01")]
    pf_mac: String,
}

/// One measured configuration, bound to its own VF.
#[derive(Debug)]
struct VmCase {
    name: &'static str,
    plugin: PathBuf,
    ipam: Ipam,
    config: String,
}

pub fn netdev_by_mac(mac: &str) -> anyhow::Result<String> {
    for entry in fs::read_dir("/sys/class/net")?.flatten() {
        let addr = fs::read_to_string(entry.path().join("address")).unwrap_or_default();
        if addr.trim() == mac {
            return Ok(entry.file_name().to_string_lossy().into_owned());
        }
    }
    bail!("no netdev with MAC {mac}: cni-vm runs in the VM tier's guest (cargo xtask vm-bench)")
}

fn netdev_of(pci: &Path) -> Option<String> {
    let first = fs::read_dir(pci.join("net")).ok()?.flatten().next()?;
    Some(first.file_name().to_string_lossy().into_owned())
}

/// Recreates `n` VFs under the PF with `mac` (brought up first, so the VFs get
/// PF-assigned MACs) and returns their PCI addresses once each has a netdev.
pub fn fresh_vfs(mac: &str, n: usize) -> anyhow::Result<Vec<String>> {
    let pf = netdev_by_mac(mac)?;
    crate::topo::ip(&["link", "set", &pf, "up"])?;
    let dev = fs::canonicalize(Path::new("/sys/class/net").join(&pf).join("device"))?;
    let numvfs = dev.join("sriov_numvfs");
    fs::write(&numvfs, "0").with_context(|| format!("{}: 0", numvfs.display()))?;
    fs::write(&numvfs, n.to_string()).with_context(|| format!("{}: {n}", numvfs.display()))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut vfs = Vec::new();
    for i in 0..n {
        let vf = fs::canonicalize(dev.join(format!("virtfn{i}")))?;
        while netdev_of(&vf).is_none() {
            if Instant::now() > deadline {
                bail!("VF {i} ({}) got no netdev within 30 s", vf.display());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        vfs.push(vf.file_name().context("VF PCI address")?.to_string_lossy().into_owned());
    }
    Ok(vfs)
}

fn cases(plugin: &Path, dir: &Path, vfs: &[String]) -> Vec<VmCase> {
    let conf = |kind: &str, extra: &str, ipam: Ipam| {
        let inproc = if ipam == Ipam::StaticInProcess { r#","ipamInProcess":true"# } else { "" };
        format!(
            r#"{{"cniVersion":"1.0.0","name":"bench-{kind}","type":"{kind}"{extra}{inproc},"ipam":{}}}"#,
            ipam_json(ipam, dir)
        )
    };
    let mm = |vf: &str| {
        format!(r#","mode":"sriov","deviceID":"{vf}","dataDir":"{}""#, dir.join("state").display())
    };
    let mm_case = |name, vf: &str, ipam| VmCase {
        name,
        plugin: plugin.to_owned(),
        ipam,
        config: conf("murmuration", &mm(vf), ipam),
    };
    vec![
        mm_case("murmuration sriov + static (in-process)", &vfs[0], Ipam::StaticInProcess),
        mm_case("murmuration sriov + static", &vfs[1], Ipam::Static),
        VmCase {
            name: "host-device (pciBusID) + static",
            plugin: Path::new(GO_PLUGINS).join("host-device"),
            ipam: Ipam::Static,
            config: conf("host-device", &format!(r#","pciBusID":"{}""#, vfs[2]), Ipam::Static),
        },
    ]
}

/// Times every case in round-robin (one ADD + DEL of each per round), so load
/// from elsewhere on a shared machine falls on all cases alike and the ratios
/// stay meaningful even when absolute times drift.
fn measure(
    cases: &[VmCase],
    pod: &str,
    warmup: usize,
    n: usize,
) -> anyhow::Result<Vec<CaseResult>> {
    let mut samples: Vec<(Vec<Duration>, Vec<Duration>)> = vec![Default::default(); cases.len()];
    for i in 0..warmup + n {
        if i >= warmup && (i - warmup).is_multiple_of(10) {
            eprintln!("bench cni-vm: round {}/{n}", i - warmup + 1);
        }
        let cid = format!("bench-vm-{i}");
        for (case, (adds, dels)) in cases.iter().zip(&mut samples) {
            let add =
                invoke(&case.plugin, "ADD", &case.config, pod, &cid).with_context(|| case.name)?;
            let del =
                invoke(&case.plugin, "DEL", &case.config, pod, &cid).with_context(|| case.name)?;
            if i >= warmup {
                adds.push(add);
                dels.push(del);
            }
        }
    }
    Ok(cases.iter().zip(samples).map(|(case, (adds, dels))| summary(case, &adds, &dels)).collect())
}

fn summary(case: &VmCase, adds: &[Duration], dels: &[Duration]) -> CaseResult {
    let pairs: Vec<Duration> = adds.iter().zip(dels).map(|(a, d)| *a + *d).collect();
    CaseResult {
        name: case.name.to_owned(),
        ipam: case.ipam,
        add: summarize(adds),
        del: summarize(dels),
        add_del_p50_us: summarize(&pairs).p50_us,
    }
}

pub fn run(args: &Args, quick: bool, out: &Path) -> anyhow::Result<()> {
    let n = args.iterations.unwrap_or(if quick { 10 } else { 100 });
    let warmup = if quick { 2 } else { 5 };
    let plugin = crate::plugin_path(args.plugin.as_deref())?;
    let vfs = fresh_vfs(&args.pf_mac, 3)?;
    eprintln!("bench cni-vm: VFs {}", vfs.join(", "));
    let dir = std::env::temp_dir().join(format!("mmb-vm-{}", std::process::id()));
    fs::create_dir_all(&dir)?;
    let floor: anyhow::Result<Vec<Duration>> =
        (0..n).map(|_| invoke(Path::new("/bin/true"), "ADD", "", "", "floor")).collect();
    let floor = summarize(&floor?);
    let pod = Netns::create("vm-pod")?;
    let cases = cases(&plugin, &dir, &vfs);
    let names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    eprintln!("bench cni-vm: {} ({warmup} warm-up + {n} rounds)", names.join(", "));
    let results = measure(&cases, &pod.path(), warmup, n);
    let _ = fs::remove_dir_all(&dir);
    let results = results?;
    report("cni-vm", &results, floor, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `compare` reads: `cases[].name`, `.add.p50_us`, `.del.p99_us`.
    #[test]
    fn results_have_the_cni_json_shape() {
        let dir = tempfile::tempdir().expect("tempdir");
        let vfs = ["0000:01:10.0".to_owned(), "0000:01:10.2".into(), "0000:01:10.4".into()];
        let cases = cases(Path::new("/x/murmuration"), dir.path(), &vfs);
        assert!(cases[0].config.contains(r#""deviceID":"0000:01:10.0""#), "{}", cases[0].config);
        assert!(cases[0].config.contains(r#""ipamInProcess":true"#));
        assert!(cases[2].config.contains(r#""pciBusID":"0000:01:10.4""#), "{}", cases[2].config);
        let ms = |n: u64| vec![Duration::from_millis(n); 3];
        let results: Vec<CaseResult> = cases.iter().map(|c| summary(c, &ms(2), &ms(3))).collect();
        report("cni-vm", &results, summarize(&ms(1)), dir.path()).expect("report");
        let json: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.path().join("cni-vm.json")).expect("json"))
                .expect("valid JSON");
        assert_eq!(json["benchmark"], "cni-vm");
        let first = &json["cases"][0];
        assert_eq!(first["name"], "murmuration sriov + static (in-process)");
        assert_eq!(first["add"]["p50_us"], 2000.0);
        assert_eq!(first["del"]["p99_us"], 3000.0);
        let md = fs::read_to_string(dir.path().join("cni-vm.md")).expect("md");
        assert!(md.contains("host-device (pciBusID) + static / murmuration sriov"), "{md}");
        assert!(dir.path().join("cni-vm-add-p50.svg").is_file());
    }
}
