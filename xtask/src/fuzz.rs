//! `cargo xtask test`'s fuzz tier: builds every cargo-fuzz target of `fuzz/`
//! with the installed nightly and runs each for a bounded time.
//!
//! The whole tier (build included) aims at [`BUDGET`]: each target gets
//! what is left after the build, shared equally, between [`MIN_RUN`] and
//! [`MAX_RUN`]. A target fails on a crash (non-zero exit or a new crash
//! artifact). New corpus entries go to `target/fuzz/corpus/<target>` (the
//! committed seeds in `fuzz/corpus/<target>` are only read), crash
//! artifacts to `target/fuzz/artifacts/<target>/`, libFuzzer's output to
//! `target/fuzz/logs/<target>.log`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::sh;

/// The tier's wall-time aim, build included.
const BUDGET: Duration = Duration::from_secs(290);
/// Each target runs at least this long, even after a slow (cold) build.
const MIN_RUN: Duration = Duration::from_secs(10);
/// ... and at most this long.
const MAX_RUN: Duration = Duration::from_secs(25);
/// A target that has not exited this long after its time is killed (hung).
const GRACE: Duration = Duration::from_secs(60);
const TRIPLE: &str = "x86_64-unknown-linux-gnu";

/// What one target did.
#[derive(Debug)]
struct Run {
    target: String,
    executions: Option<u64>,
    crashed: Option<String>,
    elapsed: Duration,
}

pub fn tier() -> Result<()> {
    let root = sh::workspace_root();
    let start = Instant::now();
    let targets = targets(&root.join("fuzz/fuzz_targets"))?;
    build(&root)?;
    let built = start.elapsed();
    let per_target = per_target_time(built, targets.len());
    eprintln!(
        "fuzz: built {} targets in {:.1}s; {}s each",
        targets.len(),
        built.as_secs_f64(),
        per_target.as_secs()
    );
    let runs =
        targets.iter().map(|t| run_target(&root, t, per_target)).collect::<Result<Vec<_>>>()?;
    eprintln!("\n==> fuzz summary (build {:.1}s)", built.as_secs_f64());
    for run in &runs {
        let execs = run.executions.map_or_else(|| "?".to_owned(), |n| n.to_string());
        let verdict = run.crashed.as_deref().unwrap_or("ok");
        let secs = run.elapsed.as_secs_f64();
        eprintln!("  fuzz {:<14} {execs:>10} executions in {secs:>5.1}s  {verdict}", run.target);
    }
    eprintln!("fuzz: {:.1}s in all", start.elapsed().as_secs_f64());
    let crashed: Vec<&str> =
        runs.iter().filter(|r| r.crashed.is_some()).map(|r| r.target.as_str()).collect();
    if !crashed.is_empty() {
        bail!("fuzz targets crashed: {} (see target/fuzz/artifacts/)", crashed.join(", "));
    }
    Ok(())
}

/// The targets: one `fuzz/fuzz_targets/<name>.rs` each, sorted.
fn targets(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs")
            && let Some(stem) = path.file_stem()
        {
            names.push(stem.to_string_lossy().into_owned());
        }
    }
    names.sort();
    if names.is_empty() {
        bail!("no fuzz targets in {}", dir.display());
    }
    Ok(names)
}

/// `cargo fuzz build` on the installed nightly, into `target/fuzz`. No
/// sanitizer: the targets are safe Rust, and what they hunt are panics,
/// including overflows (`-a`: debug assertions) - so more executions.
fn build(root: &Path) -> Result<()> {
    let mut cmd = Command::new("rustup");
    cmd.args(["run", "nightly", "cargo", "fuzz", "build", "--fuzz-dir", "fuzz"])
        .args(["--sanitizer", "none", "--debug-assertions", "--target-dir"])
        .arg(root.join("target/fuzz"))
        .current_dir(root);
    // The outer (stable) cargo's settings must not reach the nightly build.
    for var in ["CARGO", "RUSTUP_TOOLCHAIN", "RUSTC", "RUSTFLAGS", "CARGO_TARGET_DIR"] {
        cmd.env_remove(var);
    }
    sh::run(&mut cmd).context("building the fuzz targets (`cargo xtask setup` installs cargo-fuzz)")
}

/// Shares what is left of the budget after `built` between `count` targets.
fn per_target_time(built: Duration, count: usize) -> Duration {
    let left = BUDGET.saturating_sub(built);
    let share = left / u32::try_from(count.max(1)).unwrap_or(u32::MAX);
    share.clamp(MIN_RUN, MAX_RUN)
}

fn run_target(root: &Path, target: &str, time: Duration) -> Result<Run> {
    let work = root.join("target/fuzz");
    let corpus = work.join("corpus").join(target);
    let artifacts = work.join("artifacts").join(target);
    let logs = work.join("logs");
    for dir in [&corpus, &artifacts, &logs] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let before = count_files(&artifacts);
    let binary = work.join(TRIPLE).join("release").join(target);
    let mut cmd = Command::new(&binary);
    // New inputs go to the first directory: the scratch one, not the seeds.
    cmd.arg(&corpus).arg(root.join("fuzz/corpus").join(target));
    cmd.arg(format!("-max_total_time={}", time.as_secs()))
        .arg("-print_final_stats=1")
        .arg("-timeout=10")
        .arg("-rss_limit_mb=2048")
        .arg(prefixed("-artifact_prefix=", &artifacts.join("")));
    let dict = root.join("fuzz/dict").join(format!("{target}.dict"));
    if dict.exists() {
        cmd.arg(prefixed("-dict=", &dict));
    }
    eprintln!("\n==> fuzz {target} ({}s)", time.as_secs());
    eprintln!("$ {}", sh::display(&cmd));
    let start = Instant::now();
    let output = sh::run_with_input(&mut cmd, &[], time + GRACE)?;
    let elapsed = start.elapsed();
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    let log_path = logs.join(format!("{target}.log"));
    std::fs::write(&log_path, &log).with_context(|| format!("writing {}", log_path.display()))?;
    let new_artifacts = count_files(&artifacts).saturating_sub(before);
    let crashed = match (output.status.success(), new_artifacts) {
        (true, 0) => None,
        (ok, n) => {
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            eprintln!("{}", tail.join("\n"));
            Some(format!(
                "CRASHED ({}, {n} new artifacts)",
                if ok { "exit 0" } else { "exit != 0" }
            ))
        }
    };
    let executions = executions(&log);
    let execs = executions.map_or_else(|| "?".to_owned(), |n| n.to_string());
    eprintln!("fuzz {target}: {execs} executions in {:.1}s", elapsed.as_secs_f64());
    Ok(Run { target: target.to_owned(), executions, crashed, elapsed })
}

fn prefixed(flag: &str, path: &Path) -> String {
    format!("{flag}{}", path.display())
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| entries.count())
}

/// libFuzzer's count of executed inputs: `stat::number_of_executed_units`
/// (with `-print_final_stats=1`), else the last `#N` status line.
fn executions(log: &str) -> Option<u64> {
    let stat = log
        .lines()
        .find_map(|line| line.strip_prefix("stat::number_of_executed_units:")?.trim().parse().ok());
    stat.or_else(|| {
        log.lines().rev().find_map(|line| {
            let rest = line.strip_prefix('#')?;
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executions_prefer_the_final_stats() {
        let log = "#2\tINITED cov: 5\n#1234\tDONE   cov: 9 exec/s: 61\n\
                   stat::number_of_executed_units: 1240\nstat::average_exec_per_sec:     61\n";
        assert_eq!(executions(log), Some(1240));
    }

    #[test]
    fn executions_fall_back_to_the_last_status_line() {
        let log = "INFO: Seed: 1\n#2\tINITED cov: 5\n#1234\tDONE   cov: 9\nDone 1234 runs\n";
        assert_eq!(executions(log), Some(1234));
        assert_eq!(executions("==1== ERROR: libFuzzer: deadly signal\n"), None);
    }

    #[test]
    fn the_budget_is_shared_within_bounds() {
        assert_eq!(per_target_time(Duration::from_secs(90), 8), Duration::from_secs(25));
        assert_eq!(per_target_time(Duration::from_secs(130), 8), Duration::from_secs(20));
        assert_eq!(per_target_time(Duration::from_secs(280), 8), MIN_RUN);
        assert_eq!(per_target_time(Duration::from_secs(400), 8), MIN_RUN);
    }
}
