//! The installer binary as an init container runs it: messages and exit codes.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const CONFLIST: &str = r#"{"cniVersion":"1.1.0","name":"edge","plugins":[{"type":"murmuration"}]}"#;

fn install(args: &[&str]) -> std::io::Result<Output> {
    Command::new(env!("CARGO_BIN_EXE_murmuration-install")).args(args).output()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap_or_default()
}

#[test]
fn installs_then_reports_unchanged_then_replaces() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (image, host) = (dir.path().join("image"), dir.path().join("host"));
    fs::create_dir_all(&image)?;
    fs::create_dir_all(&host)?;
    let source = image.join("murmuration");
    fs::write(&source, b"#!/bin/sh\necho one\n")?;
    let args = ["--source", s(&source), "--bin-dir", s(&host)];

    let first = install(&args)?;
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    assert!(text(&first.stdout).contains("murmuration: installed (19 bytes)"), "{first:?}");
    let target = host.join("murmuration");
    assert_eq!(fs::metadata(&target)?.permissions().mode() & 0o777, 0o755);
    let ran = Command::new(&target).output()?;
    assert_eq!(text(&ran.stdout), "one\n");

    let inode = std::os::unix::fs::MetadataExt::ino(&fs::metadata(&target)?);
    let again = install(&args)?;
    assert_eq!(again.status.code(), Some(0));
    assert!(text(&again.stdout).contains("unchanged (already byte-identical)"), "{again:?}");
    assert_eq!(std::os::unix::fs::MetadataExt::ino(&fs::metadata(&target)?), inode);

    fs::write(&source, b"#!/bin/sh\necho two\n")?;
    let replaced = install(&args)?;
    assert!(text(&replaced.stdout).contains("replaced"), "{replaced:?}");
    assert_eq!(fs::read(&target)?, b"#!/bin/sh\necho two\n");
    assert_eq!(fs::read_dir(&host)?.count(), 1, "a temporary file was left behind");
    Ok(())
}

#[test]
fn exit_codes_say_what_an_operator_must_fix() -> TestResult {
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("murmuration");
    fs::write(&source, b"x")?;
    let missing_source =
        install(&["--source", "/nonexistent/murmuration", "--bin-dir", s(dir.path())])?;
    assert_eq!(missing_source.status.code(), Some(3), "{missing_source:?}");
    assert!(text(&missing_source.stderr).contains("cannot read /nonexistent/murmuration"));

    let no_mount = install(&["--source", s(&source), "--bin-dir", "/nonexistent/cni/bin"])?;
    assert_eq!(no_mount.status.code(), Some(4), "{no_mount:?}");
    assert!(text(&no_mount.stderr).contains("is the host path mounted?"));

    let host = dir.path().join("host");
    fs::create_dir(&host)?;
    std::os::unix::fs::symlink("/etc/hostname", host.join("murmuration"))?;
    let link = install(&["--source", s(&source), "--bin-dir", s(&host)])?;
    assert_eq!(link.status.code(), Some(5), "{link:?}");
    assert!(text(&link.stderr).contains("symbolic link"));
    assert!(fs::symlink_metadata(host.join("murmuration"))?.file_type().is_symlink());

    let usage = install(&["--no-such-flag"])?;
    assert_eq!(usage.status.code(), Some(2));
    Ok(())
}

#[test]
fn a_conflist_is_written_only_when_absent_unless_forced() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (bin, conf) = (dir.path().join("bin"), dir.path().join("net.d"));
    fs::create_dir(&bin)?;
    fs::create_dir(&conf)?;
    let (plugin, conflist) = (dir.path().join("murmuration"), dir.path().join("10-edge.conflist"));
    fs::write(&plugin, b"x")?;
    fs::write(&conflist, CONFLIST)?;
    let args = ["--source", s(&plugin), "--bin-dir", s(&bin), "--conf-dir", s(&conf)];
    let with =
        |extra: &[&str]| install(&[&args[..], &["--conflist", s(&conflist)], extra].concat());

    let first = with(&[])?;
    assert_eq!(first.status.code(), Some(0), "{first:?}");
    let target = conf.join("10-edge.conflist");
    assert_eq!(fs::read_to_string(&target)?, CONFLIST);
    assert_eq!(fs::metadata(&target)?.permissions().mode() & 0o777, 0o644);

    fs::write(&target, "{\"edited\": true}")?;
    let kept = with(&[])?;
    assert!(text(&kept.stdout).contains("exists, kept"), "{kept:?}");
    assert_eq!(fs::read_to_string(&target)?, "{\"edited\": true}");
    let forced = with(&["--force"])?;
    assert!(text(&forced.stdout).contains("10-edge.conflist: replaced"), "{forced:?}");
    assert_eq!(fs::read_to_string(&target)?, CONFLIST);

    fs::write(&conflist, "{\"plugins\": []}")?;
    fs::remove_file(&target)?;
    let bad = with(&[])?;
    assert_eq!(bad.status.code(), Some(3), "{bad:?}");
    assert!(!target.exists(), "an invalid conflist reached the conf dir");
    Ok(())
}

#[test]
fn help_explains_multus_and_the_exit_codes() -> TestResult {
    let help = text(&install(&["--help"])?.stdout);
    assert!(help.contains("Multus"), "{help}");
    assert!(help.contains("Exit codes"), "{help}");
    Ok(())
}
