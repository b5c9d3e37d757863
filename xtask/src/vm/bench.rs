//! `cargo xtask vm-bench`: the `cni-vm` benchmark on real igbvf VFs, or with
//! `--datapath` the `datapath-vm` benchmark (wire igb NIC <-> pod through the
//! fast path, a bridge, a VF and the bare PF; `datapath-vm.{json,md}`, SVGs).
//!
//! Builds the plugin and `murmuration-bench` for musl, boots the VM tier's
//! guest (same cached kernel and initramfs as `cargo xtask vm`) with a share
//! whose `run.sh` runs `murmuration-bench cni-vm`, and copies what it wrote
//! (`cni-vm.json`, `cni-vm.md`, `cni-vm-add-p50.svg`) to `--out`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::qemu::{self, Ending};
use super::share::{MUSL, cargo_artifacts};
use super::{assets, cannot_run, ensure_image, target_dir};

#[derive(Debug, clap::Args)]
pub struct VmBenchArgs {
    /// A short run (10 timed iterations per case instead of 100).
    #[arg(long)]
    pub quick: bool,
    /// Timed iterations per case, or RTT samples per path with --datapath
    /// (overrides the default of --quick or not).
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Run `datapath-vm` (packet RTT and rates) instead of `cni-vm`.
    #[arg(long)]
    pub datapath: bool,
    /// Where the results are copied.
    #[arg(long, default_value = "target/bench-results")]
    pub out: PathBuf,
    /// Hard limit for the guest run, in seconds (QEMU is killed after it).
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
}

pub fn run(args: &VmBenchArgs) -> Result<()> {
    if let Some(reason) = cannot_run() {
        bail!("vm-bench cannot run: {reason}");
    }
    let assets = assets::resolve(&target_dir().join("vm-cache"))?;
    ensure_image(&assets)?;
    let share = prepare_share(args)?;
    let log = share.path().join("console.log");
    let limit = Duration::from_secs(args.timeout);
    let boot = qemu::boot(&assets.vmlinuz(), &assets.initramfs(), share.path(), &log, limit)?;
    let console = fs::read_to_string(&log).context("reading the console log")?;
    let clean = console.replace('\r', "");
    eprintln!("---- guest console ----\n{clean}\n---- end of guest console ----");
    if boot.ending != Ending::Guest(0) {
        let kept = share.keep();
        bail!("the guest run failed ({:?}); share kept at {}", boot.ending, kept.display());
    }
    fs::create_dir_all(&args.out)?;
    let copied = copy_results(&share.path().join("results"), &args.out, bench_name(args.datapath))?;
    eprintln!(
        "vm-bench: QEMU {:.1}s; copied {} to {}",
        boot.wall.as_secs_f64(),
        copied.join(", "),
        args.out.display()
    );
    Ok(())
}

/// A share with the musl plugin and bench binaries and the guest's `run.sh`.
fn prepare_share(args: &VmBenchArgs) -> Result<tempfile::TempDir> {
    let built = cargo_artifacts(&[
        "build",
        "--release",
        "--package",
        "murmuration-cni",
        "--package",
        "murmuration-bench",
    ])?;
    let find = |name: &str| {
        built
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.clone())
            .with_context(|| format!("cargo reported no {MUSL} `{name}` binary"))
    };
    let parent = target_dir().join("vm-run");
    fs::create_dir_all(&parent)?;
    let dir = tempfile::Builder::new().prefix("bench-").tempdir_in(&parent)?;
    for sub in ["bin", "results"] {
        fs::create_dir_all(dir.path().join(sub))?;
    }
    fs::copy(find("murmuration")?, dir.path().join("bin/murmuration"))?;
    fs::copy(find("murmuration-bench")?, dir.path().join("bin/murmuration-bench"))?;
    fs::write(dir.path().join("run.sh"), run_script(args.quick, args.iterations, args.datapath))?;
    Ok(dir)
}

fn bench_name(datapath: bool) -> &'static str {
    if datapath { "datapath-vm" } else { "cni-vm" }
}

fn run_script(quick: bool, iterations: Option<usize>, datapath: bool) -> String {
    let quick = if quick { " --quick" } else { "" };
    let flag = if datapath { "--samples" } else { "--iterations" };
    let n = iterations.map(|n| format!(" {flag} {n}")).unwrap_or_default();
    let name = bench_name(datapath);
    // The binaries are copied to the guest's tmpfs first: executed from 9p,
    // every page fault of the plugin would be a round trip to the host.
    format!(
        "#!/bin/sh\n\
         cd /mnt/share || exit 91\n\
         mkdir -p /tmp/bench && cp bin/murmuration bin/murmuration-bench /tmp/bench/ || exit 92\n\
         export PATH=/usr/sbin:/usr/bin:/sbin:/bin\n\
         echo \"VMBENCH: {name}\"\n\
         /tmp/bench/murmuration-bench{quick} --out /mnt/share/results {name} \
         --plugin /tmp/bench/murmuration{n}\n"
    )
}

fn copy_results(from: &Path, to: &Path, name: &str) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        fs::copy(entry.path(), to.join(&name)).with_context(|| format!("copying {name}"))?;
        names.push(name);
    }
    if !names.iter().any(|n| *n == format!("{name}.json")) {
        bail!("the guest wrote no {name}.json (see the console above)");
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::run_script;

    #[test]
    fn run_script_passes_quick_and_iterations() {
        let s = run_script(true, Some(3), false);
        assert!(s.contains("murmuration-bench --quick --out /mnt/share/results cni-vm"), "{s}");
        assert!(s.contains("--plugin /tmp/bench/murmuration --iterations 3"), "{s}");
        assert!(!run_script(false, None, false).contains("--quick"));
        let d = run_script(true, Some(50), true);
        assert!(
            d.contains("murmuration-bench --quick --out /mnt/share/results datapath-vm"),
            "{d}"
        );
        assert!(d.contains("--plugin /tmp/bench/murmuration --samples 50"), "{d}");
    }
}
