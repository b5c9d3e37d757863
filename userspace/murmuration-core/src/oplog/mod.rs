//! The CNI operation log: one short line per plugin invocation, appended to
//! `dataDir/ops.log`, read by the node daemon for its operation metrics.
//!
//! The plugin pays one `open(O_APPEND)` + one `write` + `close` per
//! invocation (a few microseconds; a line is far below `PIPE_BUF`, so
//! concurrent appends never interleave). Failing to append is logged and
//! otherwise ignored: metrics must never fail an ADD.
//!
//! Line format (version 1, space separated, newline terminated):
//! `1 <unix_ms> <VERB> <code> <duration_ns>`, where `code` is 0 on success and
//! the CNI error code otherwise.

mod reader;

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use reader::{OpLogReader, ROTATE_BYTES};

/// The file name under `dataDir`.
pub const FILE: &str = "ops.log";
const VERSION: &str = "1";

/// One plugin invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpRecord {
    pub unix_ms: u64,
    /// `ADD`, `DEL`, `CHECK`, `STATUS` or `GC`.
    pub verb: String,
    /// 0 on success, else the CNI error code.
    pub code: u32,
    pub duration: Duration,
}

impl OpRecord {
    pub fn now(verb: &str, code: u32, duration: Duration) -> Self {
        let unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        Self {
            unix_ms: u64::try_from(unix_ms).unwrap_or(u64::MAX),
            verb: verb.to_owned(),
            code,
            duration,
        }
    }

    pub fn to_line(&self) -> String {
        format!(
            "{VERSION} {} {} {} {}\n",
            self.unix_ms,
            self.verb,
            self.code,
            self.duration.as_nanos()
        )
    }

    /// Parses one line (without its newline); `None` for anything malformed
    /// or of another version, which readers skip.
    pub fn parse(line: &str) -> Option<Self> {
        let mut f = line.split(' ');
        if f.next()? != VERSION {
            return None;
        }
        let unix_ms = f.next()?.parse().ok()?;
        let verb = f.next()?;
        if verb.is_empty() || !verb.bytes().all(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let code = f.next()?.parse().ok()?;
        let nanos: u64 = f.next()?.parse().ok()?;
        if f.next().is_some() {
            return None;
        }
        Some(Self { unix_ms, verb: verb.to_owned(), code, duration: Duration::from_nanos(nanos) })
    }
}

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// Appends `rec` to `dataDir/ops.log`. A missing `dataDir` is not created
/// (nothing was attached there yet), and every failure is only logged.
pub fn append(data_dir: &Path, rec: &OpRecord) {
    let p = path(data_dir);
    let written = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&p)
        .and_then(|mut f| f.write_all(rec.to_line().as_bytes()));
    if let Err(e) = written
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::debug!(path = %p.display(), error = %e, "cannot append the operation record");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let rec = OpRecord {
            unix_ms: 1_700_000_000_123,
            verb: "ADD".into(),
            code: 0,
            duration: Duration::from_micros(1500),
        };
        let line = rec.to_line();
        assert_eq!(line, "1 1700000000123 ADD 0 1500000\n");
        assert_eq!(OpRecord::parse(line.trim_end()), Some(rec));
    }

    #[test]
    fn malformed_lines_are_skipped() {
        for bad in ["", "2 1 ADD 0 1", "1 x ADD 0 1", "1 1 add 0 1", "1 1 ADD 0", "1 1 ADD 0 1 9"] {
            assert_eq!(OpRecord::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn append_needs_an_existing_data_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope");
        append(&missing, &OpRecord::now("DEL", 0, Duration::ZERO));
        assert!(!missing.exists());
        append(dir.path(), &OpRecord::now("DEL", 3, Duration::from_nanos(7)));
        let text = std::fs::read_to_string(path(dir.path())).expect("log");
        assert!(text.ends_with(" DEL 3 7\n"), "{text}");
    }
}
