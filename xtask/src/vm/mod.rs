//! `cargo xtask vm`: the QEMU test tier (SR-IOV, 802.1Q, PHC).
//!
//! 1. resolve the guest kernel/userland versions and build (or reuse) the
//!    cached kernel + initramfs under `target/vm-cache/<key>/`;
//! 2. build the plugin and the `murmuration-vm-tests` test binaries for
//!    `x86_64-unknown-linux-musl` (static, so they run in the bare guest);
//! 3. boot one guest that runs every test binary with the real plugin, and
//!    read each binary's verdict back from the console.
//!
//! The tier fails when any binary fails, does not report, or when no test ran
//! at all; it is SKIPPED (loudly) only when QEMU is not installed. A guest
//! whose kernel reports a CPU with a dead timer (a TCG fault seen on idle
//! hosts, [`qemu::STALL`]) is killed at once and booted one more time for
//! the binaries that had not finished; a second stall fails the tier.

mod assets;
pub mod bench;
mod initramfs;
mod qemu;
mod report;
pub(crate) mod share;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::sh;

#[derive(Debug, Args)]
pub struct VmArgs {
    /// Run only tests whose name contains this string.
    pub filter: Option<String>,
    /// Hard limit for the guest run, in seconds (QEMU is killed after it).
    #[arg(long, default_value_t = 1500)]
    pub timeout: u64,
    /// Exit 0 if QEMU cannot run here (the tier is then SKIPPED).
    #[arg(long)]
    pub allow_skip: bool,
}

#[derive(Debug)]
pub enum Outcome {
    Passed,
    Skipped(String),
}

pub fn run(args: &VmArgs) -> Result<()> {
    match tier(args.filter.as_deref(), Duration::from_secs(args.timeout))? {
        Outcome::Passed => Ok(()),
        Outcome::Skipped(why) if args.allow_skip => {
            eprintln!("vm: SKIPPED ({why}), allowed by --allow-skip");
            Ok(())
        }
        Outcome::Skipped(why) => bail!("the VM tier was SKIPPED: {why}"),
    }
}

/// Runs the whole tier; `Err` is a failure.
pub fn tier(filter: Option<&str>, limit: Duration) -> Result<Outcome> {
    if let Some(reason) = cannot_run() {
        sh::banner(&format!("VM tier SKIPPED: {reason}"));
        return Ok(Outcome::Skipped(reason));
    }
    let start = Instant::now();
    let cache = target_dir().join("vm-cache");
    let assets = assets::resolve(&cache)?;
    ensure_image(&assets)?;
    let built = share::build_binaries()?;
    let names = built.test_names();
    let (share, console, boot) = guest_run(&assets, &built, filter, limit)?;
    if boot.ending != qemu::Ending::Stalled {
        return finish(&console, &names, boot, share, start);
    }
    let rest = report::unfinished(&console, &names);
    sh::banner(&format!(
        "a guest CPU stopped taking timer interrupts ({:?}, an emulator fault);\n\
         !!! booting once more for the binaries that did not finish: {rest:?}",
        qemu::STALL
    ));
    let _ = share.keep().map(|p| eprintln!("vm: stalled run's share kept at {}", p.display()));
    let (again, more, second) = guest_run(&assets, &built.only(&rest), filter, limit)?;
    let both = qemu::Boot { ending: second.ending, wall: boot.wall + second.wall };
    finish(&(console + &more), &names, both, again, start)
}

/// Boots one guest over a fresh share with `built`'s binaries.
fn guest_run(
    assets: &assets::Assets,
    built: &share::Built,
    filter: Option<&str>,
    limit: Duration,
) -> Result<(share::Share, String, qemu::Boot)> {
    let share = share::prepare(&target_dir().join("vm-run"), built, filter)?;
    let log = share.path().join("console.log");
    let boot = qemu::boot(&assets.vmlinuz(), &assets.initramfs(), share.path(), &log, limit)?;
    let console = std::fs::read_to_string(&log).context("reading the console log")?;
    Ok((share, console, boot))
}

/// Judges every binary over the console(s) and prints the verdict.
fn finish(
    console: &str,
    names: &[String],
    boot: qemu::Boot,
    share: share::Share,
    start: Instant,
) -> Result<Outcome> {
    let verdict = report::judge(console, names, boot.ending);
    report::print(console, share.path(), &verdict, boot.wall, start.elapsed());
    if let Err(why) = verdict {
        bail!("{why} (console log kept at {})", share.keep()?.display());
    }
    Ok(Outcome::Passed)
}

/// Why QEMU cannot run here, if it cannot.
fn cannot_run() -> Option<String> {
    let found = std::process::Command::new(qemu::QEMU)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (!found).then(|| format!("{} is not installed (run `cargo xtask setup` as root)", qemu::QEMU))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| sh::workspace_root().join("target"))
}

fn ensure_image(assets: &assets::Assets) -> Result<()> {
    if assets.is_built() {
        eprintln!("vm: guest image cached at {}", assets.dir.display());
        return Ok(());
    }
    eprintln!(
        "vm: building the guest image ({}) in {}",
        assets.kernel_package,
        assets.dir.display()
    );
    std::fs::create_dir_all(&assets.dir)?;
    let scratch = tempfile::Builder::new().prefix("murmuration-kernel").tempdir()?;
    assets::extract_kernel(assets, scratch.path())?;
    let boot = scratch.path().join("boot").join(format!("vmlinuz-{}", assets.kernel_release));
    std::fs::copy(&boot, assets.vmlinuz()).context("copying vmlinuz")?;
    let init = sh::workspace_root().join("vm-tests/guest/init");
    initramfs::build(scratch.path(), &assets.kernel_release, &init, &assets.initramfs())?;
    assets.mark_built()
}
