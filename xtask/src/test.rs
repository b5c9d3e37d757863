//! `cargo xtask test`: setup, lints, unprivileged tests, privileged netns tests,
//! the QEMU VM tier, bounded fuzzing (see [`crate::fuzz`]), the node image
//! (see [`crate::image`]).
//!
//! Privileged tests are `#[ignore = "privileged: ..."]` tests that need root and
//! network namespaces; they run as `cargo test --workspace -- --ignored`. Without
//! root that tier is SKIPPED; without QEMU the VM tier is SKIPPED (see
//! [`crate::vm`]). A skip fails the run unless `--allow-skip`.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};

use crate::{demo, deploy, fuzz, image, layers, setup, sh, vm};

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Which tiers to run: `unit` (fmt, clippy, unprivileged tests, deploy/ checks, import circles), `netns`
    /// (privileged tests in private network namespaces), `vm` (the QEMU tier),
    /// `fuzz` (every fuzz target for a bounded time), `image` (build the node
    /// image and run its installer with podman; root) or `all`.
    #[arg(long, value_enum, default_value_t = Tier::All)]
    tier: Tier,
    /// Exit 0 even if a tier is skipped (no root for netns, no QEMU for vm).
    #[arg(long)]
    allow_skip: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Tier {
    Unit,
    Netns,
    Vm,
    Fuzz,
    Image,
    All,
}

#[derive(Debug)]
enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

#[derive(Debug)]
struct Step {
    name: &'static str,
    outcome: Outcome,
    duration: Duration,
}

pub fn run(args: &TestArgs) -> Result<()> {
    let mut steps = vec![timed("setup", setup::run)];
    if matches!(steps[0].outcome, Outcome::Passed) {
        let wants = |tier: Tier| args.tier == tier || args.tier == Tier::All;
        if wants(Tier::Unit) {
            steps.extend(unit_tier());
        }
        if wants(Tier::Netns) {
            steps.push(netns_tier());
            if sh::is_root() {
                steps.push(timed("demo", demo::smoke));
            }
        }
        if wants(Tier::Vm) {
            steps.push(vm_tier());
        }
        if wants(Tier::Fuzz) {
            steps.push(timed("fuzz", fuzz::tier));
        }
        if wants(Tier::Image) {
            steps.push(as_root("image", image::tier));
        }
    }
    print_summary(&steps);
    verdict(&steps, args.allow_skip)
}

fn unit_tier() -> Vec<Step> {
    vec![
        timed("fmt", || cargo(&["fmt", "--all", "--check"])),
        timed("clippy", || {
            cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])
        }),
        // The VM tests only exist for the guest's musl target.
        timed("clippy-vm", || {
            let musl = ["--target", "x86_64-unknown-linux-musl", "--tests"];
            cargo(
                &[&["clippy", "-p", "murmuration-vm-tests"][..], &musl, &["--", "-D", "warnings"]]
                    .concat(),
            )
        }),
        // Licences, banned crates and sources only: the advisory database
        // needs a network this CI does not have.
        timed("deny", || cargo(&["deny", "check", "licenses", "bans", "sources"])),
        timed("unit", || cargo(&["test", "--workspace", "--no-fail-fast"])),
        timed("deploy", deploy::check),
        timed("layers", layers::check),
    ]
}

fn netns_tier() -> Step {
    as_root("netns", || cargo(&["test", "--workspace", "--no-fail-fast", "--", "--ignored"]))
}

/// A tier that needs root (network namespaces, podman), SKIPPED without it.
fn as_root(name: &'static str, step: impl FnOnce() -> Result<()>) -> Step {
    if !sh::is_root() {
        let reason = format!("not running as root: the {name} tier needs root");
        sh::banner(&format!("{name} tier SKIPPED: {reason}"));
        return Step { name, outcome: Outcome::Skipped(reason), duration: Duration::ZERO };
    }
    timed(name, step)
}

/// The guest's hard limit: far above the tier's usual 5-10 minutes on an idle
/// machine (a loaded 2-core machine under TCG has needed more than 15).
const VM_LIMIT: Duration = Duration::from_secs(1500);

fn vm_tier() -> Step {
    eprintln!("\n==> vm");
    let start = Instant::now();
    let outcome = match vm::tier(None, VM_LIMIT) {
        Ok(vm::Outcome::Passed) => Outcome::Passed,
        Ok(vm::Outcome::Skipped(why)) => Outcome::Skipped(why),
        Err(err) => {
            eprintln!("==> vm FAILED: {err:#}");
            Outcome::Failed(format!("{err:#}"))
        }
    };
    Step { name: "vm", outcome, duration: start.elapsed() }
}

fn cargo(args: &[&str]) -> Result<()> {
    sh::run(sh::cargo().args(args))
}

fn timed(name: &'static str, step: impl FnOnce() -> Result<()>) -> Step {
    eprintln!("\n==> {name}");
    let start = Instant::now();
    let outcome = match step() {
        Ok(()) => Outcome::Passed,
        Err(err) => {
            eprintln!("==> {name} FAILED: {err:#}");
            Outcome::Failed(format!("{err:#}"))
        }
    };
    Step { name, outcome, duration: start.elapsed() }
}

fn print_summary(steps: &[Step]) {
    eprintln!("\n==> summary");
    for step in steps {
        let (label, detail) = match &step.outcome {
            Outcome::Passed => ("passed", ""),
            Outcome::Failed(why) => ("FAILED", why.as_str()),
            Outcome::Skipped(why) => ("SKIPPED", why.as_str()),
        };
        let secs = step.duration.as_secs_f64();
        eprintln!("  {:<8} {label:<8} {secs:>7.1}s  {detail}", step.name);
    }
}

fn verdict(steps: &[Step], allow_skip: bool) -> Result<()> {
    let failed: Vec<_> = steps
        .iter()
        .filter(|step| matches!(step.outcome, Outcome::Failed(_)))
        .map(|step| step.name)
        .collect();
    if !failed.is_empty() {
        bail!("failed: {}", failed.join(", "));
    }
    let skipped = steps.iter().any(|step| matches!(step.outcome, Outcome::Skipped(_)));
    match (skipped, allow_skip) {
        (true, false) => {
            bail!("a tier was SKIPPED (see the summary); fix that, or pass --allow-skip")
        }
        (true, true) => {
            eprintln!("\nPASSED WITH SKIPS: a tier did NOT run (--allow-skip)")
        }
        (false, _) => eprintln!("\nall selected tiers passed"),
    }
    Ok(())
}
