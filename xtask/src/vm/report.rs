//! Reads the guest's verdict from its console: every test binary must have
//! started, ended with status 0 and run at least one test between them.

use std::path::Path;
use std::time::Duration;

use super::qemu::Ending;

/// What passed: tests counted over all binaries.
#[derive(Debug, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
}

pub fn judge(console: &str, names: &[String], ending: Ending) -> Result<Summary, String> {
    let mut passed = 0;
    let mut problems = Vec::new();
    for name in names {
        match binary_verdict(console, name) {
            Ok(n) => passed += n,
            Err(why) => problems.push(format!("{name}: {why}")),
        }
    }
    match ending {
        Ending::Guest(0) => {}
        Ending::Guest(rc) => problems.push(format!("guest exited with status {rc}")),
        Ending::Qemu(code) => {
            problems.push(format!("QEMU exited without a guest status ({code:?})"))
        }
        Ending::TimedOut => problems.push("hard timeout: QEMU was killed".to_owned()),
        Ending::Stalled => problems.push("a guest CPU stalled: QEMU was killed".to_owned()),
    }
    if problems.is_empty() && passed == 0 {
        problems.push("no VM test ran".to_owned());
    }
    if problems.is_empty() { Ok(Summary { passed }) } else { Err(problems.join("; ")) }
}

/// The binaries that have not reported their end on `console`.
pub fn unfinished(console: &str, names: &[String]) -> Vec<String> {
    names.iter().filter(|n| !console.contains(&format!("VMTEST_END {n} rc="))).cloned().collect()
}

/// The number of tests a binary passed, from its section of the console.
fn binary_verdict(console: &str, name: &str) -> Result<usize, String> {
    let begin = format!("VMTEST_BEGIN {name}");
    let end = format!("VMTEST_END {name} rc=");
    let section = console
        .split_once(&begin)
        .ok_or("never started")?
        .1
        .split_once(&end)
        .ok_or("did not finish")?;
    let rc = section.1.split_whitespace().next().unwrap_or_default();
    if rc != "0" {
        return Err(format!("exited with status {rc}"));
    }
    let passed = section
        .0
        .lines()
        .filter_map(|l| l.trim().strip_prefix("test result: ok. "))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<usize>().ok())
        .sum();
    Ok(passed)
}

/// Prints the guest's output (between the init markers) and the verdict.
pub fn print(
    console: &str,
    share: &Path,
    verdict: &Result<Summary, String>,
    wall: Duration,
    total: Duration,
) {
    let clean = console.replace('\r', "");
    let guest = clean.split_once("VMTEST: running").map_or(clean.as_str(), |(_, rest)| rest);
    eprintln!("---- guest console ----\n{guest}\n---- end of guest console ----");
    if let Ok(entries) = std::fs::read_dir(share.join("reports")) {
        for entry in entries.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            eprintln!("---- report {} ----\n{text}", entry.file_name().to_string_lossy());
        }
    }
    match verdict {
        Ok(s) => eprintln!(
            "vm: {} tests passed in the guest; QEMU {:.1}s, tier {:.1}s",
            s.passed,
            wall.as_secs_f64(),
            total.as_secs_f64()
        ),
        Err(why) => eprintln!("vm: FAILED: {why}; QEMU {:.1}s", wall.as_secs_f64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["a".into(), "b".into()]
    }

    const OK: &str = "VMTEST_BEGIN a\ntest result: ok. 2 passed; 0 failed\nVMTEST_END a rc=0\n\
                      VMTEST_BEGIN b\ntest result: ok. 1 passed; 0 failed\nVMTEST_END b rc=0\n";

    #[test]
    fn all_binaries_must_report_and_pass() {
        assert_eq!(judge(OK, &names(), Ending::Guest(0)), Ok(Summary { passed: 3 }));
        let missing = OK.replace("VMTEST_END b rc=0", "");
        assert!(judge(&missing, &names(), Ending::Guest(0)).is_err());
        let failed = OK.replace("VMTEST_END b rc=0", "VMTEST_END b rc=101");
        assert!(judge(&failed, &names(), Ending::Guest(1)).is_err());
        assert!(judge(OK, &names(), Ending::TimedOut).is_err());
        assert!(judge(OK, &names(), Ending::Qemu(Some(0))).is_err());
    }

    #[test]
    fn a_rerun_after_a_stall_completes_the_verdict() {
        let first =
            "VMTEST_BEGIN a\ntest result: ok. 2 passed\nVMTEST_END a rc=0\nVMTEST_BEGIN b\n";
        assert_eq!(unfinished(first, &names()), vec!["b".to_owned()]);
        assert!(judge(first, &names(), Ending::Stalled).is_err());
        let both = format!("{first}VMTEST_BEGIN b\ntest result: ok. 1 passed\nVMTEST_END b rc=0\n");
        assert_eq!(judge(&both, &names(), Ending::Guest(0)), Ok(Summary { passed: 3 }));
    }

    #[test]
    fn zero_tests_is_a_failure_not_a_pass() {
        let none = "VMTEST_BEGIN a\ntest result: ok. 0 passed\nVMTEST_END a rc=0\n";
        assert!(judge(none, &["a".into()], Ending::Guest(0)).is_err());
    }
}
