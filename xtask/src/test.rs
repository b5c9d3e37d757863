//! `cargo xtask test`: setup, lints, unprivileged tests, privileged netns tests.
//!
//! Privileged tests are `#[ignore = "privileged: ..."]` tests that need root and
//! network namespaces; they run as `cargo test --workspace -- --ignored`. Without
//! root that tier is SKIPPED, and a skip fails the run unless `--allow-skip`.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};

use crate::{setup, sh};

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Which tiers to run: `unit` (fmt, clippy, unprivileged tests), `netns`
    /// (privileged tests in private network namespaces) or `all`.
    #[arg(long, value_enum, default_value_t = Tier::All)]
    tier: Tier,
    /// Exit 0 even if the privileged tier is skipped for lack of root.
    #[arg(long)]
    allow_skip: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Tier {
    Unit,
    Netns,
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
        if args.tier != Tier::Netns {
            steps.extend(unit_tier());
        }
        if args.tier != Tier::Unit {
            steps.push(netns_tier());
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
        timed("unit", || cargo(&["test", "--workspace", "--no-fail-fast"])),
    ]
}

fn netns_tier() -> Step {
    if !sh::is_root() {
        let reason = "not running as root: privileged tests need root and network namespaces";
        eprintln!("\n{}\n!!! netns tier SKIPPED: {reason}\n{}\n", "!".repeat(78), "!".repeat(78));
        return Step {
            name: "netns",
            outcome: Outcome::Skipped(reason.to_owned()),
            duration: Duration::ZERO,
        };
    }
    timed("netns", || cargo(&["test", "--workspace", "--no-fail-fast", "--", "--ignored"]))
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
            bail!("the privileged tier was SKIPPED; run as root, or pass --allow-skip")
        }
        (true, true) => {
            eprintln!("\nPASSED WITH SKIPS: the privileged tier did NOT run (--allow-skip)")
        }
        (false, _) => eprintln!("\nall selected tiers passed"),
    }
    Ok(())
}
