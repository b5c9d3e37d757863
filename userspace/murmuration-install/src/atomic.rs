//! Replace one file in a directory so that a concurrent reader or `exec` sees
//! either the old file or the new one, never a partial one: write a temporary
//! file in the same directory (`O_EXCL`), fsync it, rename it over the target,
//! fsync the directory. A symbolic link at the target is never followed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::InstallError;

/// What to do with a regular file already at the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfPresent {
    /// Replace it unless it is already byte-identical (with the same mode).
    Replace,
    /// Leave it as it is, whatever it holds.
    Keep,
}

/// One file to put in place.
#[derive(Debug)]
pub struct Target<'a> {
    pub dir: &'a Path,
    pub name: &'a str,
    pub contents: &'a [u8],
    /// Permission bits of the installed file (e.g. 0o755).
    pub mode: u32,
    pub if_present: IfPresent,
    /// Replace a symbolic link at the target (the link itself, never what it
    /// points to) instead of refusing.
    pub replace_symlink: bool,
}

/// What [`install`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// There was no file: it was written.
    Installed,
    /// A different file (or a link) was replaced.
    Replaced,
    /// The file was already byte-identical with the same mode: not rewritten.
    Unchanged,
    /// A file was there and [`IfPresent::Keep`] was asked for.
    Kept,
}

/// What is at the target path now (looked at without following links).
#[derive(Debug, PartialEq, Eq)]
enum Existing {
    Absent,
    Symlink,
    Regular,
    Other,
}

/// Put `target.contents` at `target.dir/target.name` atomically.
pub fn install(target: &Target<'_>) -> Result<Outcome, InstallError> {
    let path = target.dir.join(target.name);
    if !target.dir.is_dir() {
        return Err(InstallError::NoDirectory { path: target.dir.to_path_buf() });
    }
    remove_stale_temps(target);
    let existing = existing(&path)?;
    match existing {
        Existing::Other => return Err(InstallError::NotRegular { path }),
        Existing::Symlink if !target.replace_symlink => {
            return Err(InstallError::Symlink { path });
        }
        Existing::Regular if target.if_present == IfPresent::Keep => return Ok(Outcome::Kept),
        Existing::Regular if identical(&path, target.contents, target.mode)? => {
            return Ok(Outcome::Unchanged);
        }
        _ => {}
    }
    let temp = write_temp(target)?;
    if let Err(source) = fs::rename(&temp, &path) {
        let _ = fs::remove_file(&temp);
        return Err(InstallError::Rename { from: temp, to: path, source });
    }
    sync_dir(target.dir)?;
    Ok(if existing == Existing::Absent { Outcome::Installed } else { Outcome::Replaced })
}

fn existing(path: &Path) -> Result<Existing, InstallError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Ok(Existing::Symlink),
        Ok(meta) if meta.file_type().is_file() => Ok(Existing::Regular),
        Ok(_) => Ok(Existing::Other),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(Existing::Absent),
        Err(source) => Err(InstallError::Inspect { path: path.to_path_buf(), source }),
    }
}

/// Whether the regular file at `path` has exactly `contents` and `mode`.
/// Opened with `O_NOFOLLOW`: a link swapped in since [`existing`] fails the
/// open instead of being read through.
fn identical(path: &Path, contents: &[u8], mode: u32) -> Result<bool, InstallError> {
    let inspect = |source| InstallError::Inspect { path: path.to_path_buf(), source };
    let mut file =
        OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path).map_err(inspect)?;
    let meta = file.metadata().map_err(inspect)?;
    let same_shape = meta.is_file()
        && meta.len() == contents.len() as u64
        && meta.permissions().mode() & 0o7777 == mode;
    if !same_shape {
        return Ok(false);
    }
    let mut current = Vec::with_capacity(contents.len());
    file.read_to_end(&mut current).map_err(inspect)?;
    Ok(current == contents)
}

/// Distinguishes temporary files of one process (several targets in a row).
static SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// The name prefix of this target's temporary files.
fn temp_prefix(target: &Target<'_>) -> String {
    format!(".{}.install-", target.name)
}

/// Removes temporary files an installer killed before its rename left behind
/// (regular files only; best effort: what cannot be removed stays).
fn remove_stale_temps(target: &Target<'_>) {
    let prefix = temp_prefix(target);
    let Ok(entries) = fs::read_dir(target.dir) else { return };
    for entry in entries.flatten() {
        let ours = entry.file_name().to_str().is_some_and(|n| n.starts_with(&prefix));
        if ours && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// A new file next to the target, complete and on disk, with the final mode.
fn write_temp(target: &Target<'_>) -> Result<PathBuf, InstallError> {
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let name = format!("{}{}-{sequence}", temp_prefix(target), std::process::id());
    let temp = target.dir.join(name);
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(target.mode)
        .open(&temp)
        .and_then(|file| fill(file, target));
    match written {
        Ok(()) => Ok(temp),
        Err(source) => {
            let _ = fs::remove_file(&temp);
            Err(InstallError::Write { path: temp, source })
        }
    }
}

fn fill(mut file: File, target: &Target<'_>) -> io::Result<()> {
    // The umask may have cleared bits of `mode` at creation.
    file.set_permissions(fs::Permissions::from_mode(target.mode))?;
    file.write_all(target.contents)?;
    file.sync_all()
}

/// Makes the rename durable: the directory entry reaches the disk too.
fn sync_dir(dir: &Path) -> Result<(), InstallError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| InstallError::SyncDirectory { path: dir.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target<'a>(dir: &'a Path, contents: &'a [u8]) -> Target<'a> {
        Target {
            dir,
            name: "plugin",
            contents,
            mode: 0o755,
            if_present: IfPresent::Replace,
            replace_symlink: false,
        }
    }

    fn temp_files(dir: &Path) -> Vec<String> {
        let names = fs::read_dir(dir).into_iter().flatten().flatten();
        names
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "plugin")
            .collect()
    }

    #[test]
    fn installs_replaces_and_skips_an_identical_file() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        assert_eq!(install(&target(dir.path(), b"one"))?, Outcome::Installed);
        assert_eq!(install(&target(dir.path(), b"one"))?, Outcome::Unchanged);
        assert_eq!(install(&target(dir.path(), b"two"))?, Outcome::Replaced);
        let path = dir.path().join("plugin");
        assert_eq!(fs::read(&path)?, b"two");
        assert_eq!(fs::metadata(&path)?.permissions().mode() & 0o7777, 0o755);
        assert!(temp_files(dir.path()).is_empty(), "left behind: {:?}", temp_files(dir.path()));
        Ok(())
    }

    #[test]
    fn same_bytes_with_another_mode_are_rewritten() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("plugin");
        fs::write(&path, b"one")?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
        assert_eq!(install(&target(dir.path(), b"one"))?, Outcome::Replaced);
        assert_eq!(fs::metadata(&path)?.permissions().mode() & 0o7777, 0o755);
        Ok(())
    }

    #[test]
    fn a_symlinked_target_is_refused_and_its_destination_untouched()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let elsewhere = dir.path().join("elsewhere");
        fs::write(&elsewhere, b"keep me")?;
        let link = dir.path().join("plugin");
        std::os::unix::fs::symlink(&elsewhere, &link)?;
        let err = install(&target(dir.path(), b"new"));
        assert!(matches!(err, Err(InstallError::Symlink { .. })), "{err:?}");
        assert!(fs::symlink_metadata(&link)?.file_type().is_symlink());
        let forced = Target { replace_symlink: true, ..target(dir.path(), b"new") };
        assert_eq!(install(&forced)?, Outcome::Replaced);
        assert!(fs::symlink_metadata(&link)?.file_type().is_file());
        assert_eq!(fs::read(&link)?, b"new");
        assert_eq!(fs::read(&elsewhere)?, b"keep me");
        Ok(())
    }

    #[test]
    fn temporary_files_of_a_killed_install_are_removed() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        fs::write(dir.path().join(".plugin.install-4242-0"), b"half")?;
        fs::write(dir.path().join(".other.install-4242-0"), b"not ours")?;
        assert_eq!(install(&target(dir.path(), b"new"))?, Outcome::Installed);
        assert_eq!(temp_files(dir.path()), [".other.install-4242-0"]);
        Ok(())
    }

    #[test]
    fn keep_leaves_an_existing_file_alone() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let keep = Target { if_present: IfPresent::Keep, ..target(dir.path(), b"new") };
        assert_eq!(install(&keep)?, Outcome::Installed);
        let other = Target { contents: b"other", ..keep };
        assert_eq!(install(&other)?, Outcome::Kept);
        assert_eq!(fs::read(dir.path().join("plugin"))?, b"new");
        Ok(())
    }

    #[test]
    fn a_missing_directory_or_a_directory_at_the_target_is_an_error()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let missing = dir.path().join("absent");
        let err = install(&target(&missing, b"x"));
        assert!(matches!(err, Err(InstallError::NoDirectory { .. })), "{err:?}");
        fs::create_dir(dir.path().join("plugin"))?;
        let err = install(&target(dir.path(), b"x"));
        assert!(matches!(err, Err(InstallError::NotRegular { .. })), "{err:?}");
        assert!(dir.path().join("plugin").is_dir());
        Ok(())
    }
}
