//! `murmuration-install`: put the murmuration CNI plugin (and optionally a
//! conflist) into the host's CNI directories, run by the DaemonSet's init
//! container. Every file is replaced atomically ([`atomic`]), so a runtime
//! that executes the plugin at the same moment runs either the old binary or
//! the new one, never a partial file.

pub mod atomic;
pub mod conflist;
pub mod error;

use std::fs;
use std::path::{Path, PathBuf};

use clap::Parser;

use crate::atomic::{IfPresent, Outcome, Target};
pub use crate::error::{InstallError, exit};

const AFTER_HELP: &str = "\
The plugin is written to a temporary file in BIN_DIR, synced, renamed over
the target and the directory synced: a runtime executing the plugin at the
same moment runs the old or the new binary, never a partial one. A target
that is already byte-identical is left alone (\"unchanged\"). A symbolic link
at a target is never followed: it is refused unless --force.

With Multus (or another meta-plugin) only the binary is needed: the network
attachment definitions carry the configuration, so leave out --conflist.

Exit codes:
  0  installed, replaced, unchanged or kept
  2  bad command line
  3  the image's source file is missing or the conflist is invalid
  4  BIN_DIR or CONF_DIR is not a directory (hostPath not mounted?)
  5  a symbolic link (without --force) or a non-file is at a target
  6  reading, writing, renaming or syncing on the host failed";

#[derive(Debug, Parser)]
#[command(
    name = "murmuration-install",
    version,
    about = "Install the murmuration CNI plugin into the host's CNI bin dir, atomically",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// The plugin binary to install (its file name is kept).
    #[arg(long, default_value = "/opt/murmuration/bin/murmuration")]
    pub source: PathBuf,
    /// The host's CNI bin dir, mounted into the container.
    #[arg(long, default_value = "/host/opt/cni/bin")]
    pub bin_dir: PathBuf,
    /// Also write this conflist (its file name is kept) into CONF_DIR, only if
    /// no file of that name is there (or with --force).
    #[arg(long)]
    pub conflist: Option<PathBuf>,
    /// The host's CNI conf dir, mounted into the container.
    #[arg(long, default_value = "/host/etc/cni/net.d")]
    pub conf_dir: PathBuf,
    /// Replace an existing conflist, and replace a symbolic link at a target
    /// (the link itself; what it points to is never written).
    #[arg(long)]
    pub force: bool,
}

/// Installs what `cli` asks for; returns one line per file for the operator.
pub fn run(cli: &Cli) -> Result<Vec<String>, InstallError> {
    let plugin = Source {
        path: &cli.source,
        mode: 0o755,
        if_present: IfPresent::Replace,
        is_conflist: false,
    };
    let mut report = vec![install_one(&plugin, &cli.bin_dir, cli.force)?];
    if let Some(path) = &cli.conflist {
        let if_present = if cli.force { IfPresent::Replace } else { IfPresent::Keep };
        let conflist = Source { path, mode: 0o644, if_present, is_conflist: true };
        report.push(install_one(&conflist, &cli.conf_dir, cli.force)?);
    }
    Ok(report)
}

/// A file of the image and how it is installed.
#[derive(Debug)]
struct Source<'a> {
    path: &'a Path,
    mode: u32,
    if_present: IfPresent,
    /// Checked with [`conflist::check`] before it is written.
    is_conflist: bool,
}

fn install_one(source: &Source<'_>, dir: &Path, force: bool) -> Result<String, InstallError> {
    let path = source.path;
    let name = path.file_name().and_then(|n| n.to_str());
    let name = name.ok_or_else(|| InstallError::NoFileName { path: path.to_path_buf() })?;
    let contents = fs::read(path)
        .map_err(|source| InstallError::ReadSource { path: path.to_path_buf(), source })?;
    if source.is_conflist {
        conflist::check(&contents)
            .map_err(|reason| InstallError::BadConflist { path: path.to_path_buf(), reason })?;
    }
    let target = Target {
        dir,
        name,
        contents: &contents,
        mode: source.mode,
        if_present: source.if_present,
        replace_symlink: force,
    };
    let outcome = atomic::install(&target)?;
    Ok(describe(&dir.join(name), outcome, contents.len()))
}

fn describe(path: &Path, outcome: Outcome, len: usize) -> String {
    let path = path.display();
    match outcome {
        Outcome::Installed => format!("{path}: installed ({len} bytes)"),
        Outcome::Replaced => format!("{path}: replaced ({len} bytes)"),
        Outcome::Unchanged => format!("{path}: unchanged (already byte-identical)"),
        Outcome::Kept => format!("{path}: exists, kept (--force replaces it)"),
    }
}
