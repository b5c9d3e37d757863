//! A runtime executes the plugin while the installer replaces it: every read
//! and every exec must see one complete version, never a partial file.
//!
//! The installer runs as separate processes (as on a node): the test process
//! never holds a write descriptor that a forked exec could inherit.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Large enough that writing one version takes many write calls.
const PADDING: usize = 4 << 20;
/// Replacements the reader must observe before the test ends.
const CHANGES_WANTED: u32 = 20;
const LIMIT: Duration = Duration::from_secs(120);

/// A shell script that prints `word`, padded with a comment line.
fn version(word: &str) -> Vec<u8> {
    let mut script = format!("#!/bin/sh\necho {word}\nexit 0\n#").into_bytes();
    script.resize(script.len() + PADDING, b'x');
    script.push(b'\n');
    script
}

#[test]
fn readers_and_execs_never_see_a_partial_plugin() -> TestResult {
    let dir = tempfile::tempdir()?;
    let host = dir.path().join("host");
    fs::create_dir(&host)?;
    let sources = [dir.path().join("a"), dir.path().join("b")];
    let versions = [version("A"), version("B")];
    for (source, image) in sources.iter().zip(&versions) {
        fs::create_dir(source)?;
        fs::write(source.join("murmuration"), image)?;
    }
    install(&sources[0], &host)?;
    let target = host.join("murmuration");
    let done = AtomicBool::new(false);
    let changes = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let seen = observe(&target, &versions, &done);
            done.store(true, Ordering::SeqCst);
            seen
        });
        let writer = replace_until(&sources, &host, &done);
        done.store(true, Ordering::SeqCst);
        let seen = reader.join().map_err(|_| "reader panicked")??;
        writer.map(|installs| (installs, seen))
    })?;
    eprintln!("{} installs, {} version changes observed", changes.0, changes.1);
    assert!(changes.1 >= CHANGES_WANTED, "only {} changes observed", changes.1);
    let leftovers: Vec<_> = fs::read_dir(&host)?.flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers, ["murmuration"], "temporary files left behind");
    Ok(())
}

fn install(source: &Path, host: &Path) -> Result<(), String> {
    let out = Command::new(env!("CARGO_BIN_EXE_murmuration-install"))
        .arg("--source")
        .arg(source.join("murmuration"))
        .arg("--bin-dir")
        .arg(host)
        .output()
        .map_err(|err| err.to_string())?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!("install failed: {}", String::from_utf8_lossy(&out.stderr))),
    }
}

/// Alternates the two versions until the reader is done (it has seen enough
/// changes, or failed) or the limit passes; returns the number of installs.
fn replace_until(
    sources: &[std::path::PathBuf; 2],
    host: &Path,
    done: &AtomicBool,
) -> Result<u32, String> {
    let deadline = Instant::now() + LIMIT;
    let mut installs = 0;
    while !done.load(Ordering::SeqCst) {
        if Instant::now() > deadline {
            return Err(format!("reader not done after {installs} installs within {LIMIT:?}"));
        }
        install(&sources[(installs as usize + 1) % 2], host)?;
        installs += 1;
    }
    Ok(installs)
}

/// Reads and executes the target until it has seen `CHANGES_WANTED` version
/// changes (or the writer stopped); fails on the first partial read or failed exec.
fn observe(target: &Path, versions: &[Vec<u8>; 2], done: &AtomicBool) -> Result<u32, String> {
    let (mut changes, mut last) = (0, None);
    while changes < CHANGES_WANTED && !done.load(Ordering::SeqCst) {
        let bytes = fs::read(target).map_err(|err| format!("read: {err}"))?;
        let Some(read) = versions.iter().position(|v| *v == bytes) else {
            return Err(format!("read a partial plugin: {} bytes", bytes.len()));
        };
        let ran = exec(target)?;
        for seen in [read, ran] {
            changes += u32::from(last.is_some_and(|l| l != seen));
            last = Some(seen);
        }
    }
    Ok(changes)
}

fn exec(target: &Path) -> Result<usize, String> {
    let out = Command::new(target).output().map_err(|err| format!("exec: {err}"))?;
    match (out.status.success(), out.stdout.as_slice()) {
        (true, b"A\n") => Ok(0),
        (true, b"B\n") => Ok(1),
        _ => Err(format!("exec saw a partial plugin: {:?} {:?}", out.status, out.stdout)),
    }
}
