//! The installer's errors and the exit code an operator sees for each.

use std::io;
use std::path::PathBuf;

/// Everything that stops an install. Each variant names the path involved;
/// the I/O cause is its `source`.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("cannot read {path} (is this the murmuration image?)")]
    ReadSource { path: PathBuf, source: io::Error },
    #[error("{path} is not a valid conflist: {reason}")]
    BadConflist { path: PathBuf, reason: String },
    #[error("{path} is not a file name")]
    NoFileName { path: PathBuf },
    #[error("{path} is not a directory (is the host path mounted?)")]
    NoDirectory { path: PathBuf },
    #[error(
        "{path} is a symbolic link; not following it. Remove it, or pass --force to replace the link itself"
    )]
    Symlink { path: PathBuf },
    #[error("{path} exists and is not a regular file; remove it first")]
    NotRegular { path: PathBuf },
    #[error("cannot inspect {path}")]
    Inspect { path: PathBuf, source: io::Error },
    #[error("cannot write {path} (disk full or read-only mount?)")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot rename {from} to {to}")]
    Rename { from: PathBuf, to: PathBuf, source: io::Error },
    #[error("cannot sync directory {path}")]
    SyncDirectory { path: PathBuf, source: io::Error },
}

/// Exit codes (also listed in `--help`). 2 is clap's code for a bad command line.
pub mod exit {
    pub const OK: u8 = 0;
    /// The image's own files are missing or invalid.
    pub const SOURCE: u8 = 3;
    /// The host directory is not there: the hostPath mount is missing.
    pub const NO_DIRECTORY: u8 = 4;
    /// Something other than a regular file is at the target.
    pub const IN_THE_WAY: u8 = 5;
    /// Reading, writing, renaming or syncing on the host failed.
    pub const IO: u8 = 6;
}

impl InstallError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::ReadSource { .. } | Self::BadConflist { .. } | Self::NoFileName { .. } => {
                exit::SOURCE
            }
            Self::NoDirectory { .. } => exit::NO_DIRECTORY,
            Self::Symlink { .. } | Self::NotRegular { .. } => exit::IN_THE_WAY,
            Self::Inspect { .. }
            | Self::Write { .. }
            | Self::Rename { .. }
            | Self::SyncDirectory { .. } => exit::IO,
        }
    }
}
