//! The node's PTP sync state as a small JSON file: murmurationd replaces it
//! on every poll of ptp4l (temp file + rename), the plugin reads it for
//! `requirePtpLock`. Only a fresh file that says `LOCKED` counts as locked:
//! no file, an unreadable one or one older than the allowed age means the
//! state is unknown, and unknown is not locked. The rules are [`judge`],
//! pure and table-tested.

use std::io;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The defaults live with the config keys that override them.
pub use crate::cni::config::ptplock::{DEFAULT_MAX_AGE, DEFAULT_STATE_FILE};
/// The one state that lets an ADD through.
pub const LOCKED: &str = "LOCKED";

/// The file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    /// `LOCKED`, `HOLDOVER` or `FREERUN` (the daemon's derived sync state).
    pub sync_state: String,
    /// When the daemon wrote it (Unix time, milliseconds).
    pub updated_unix_ms: u64,
}

/// Why the state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a PTP state file")]
    Decode {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Replaces the file at `path` atomically (its directory is created).
pub fn write(path: &Path, state: &StateFile) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let bytes = serde_json::to_vec(state).map_err(io::Error::other)?;
    crate::state::atomic_write(path, &bytes)
}

/// The file's content; `Ok(None)` when there is no file.
pub fn read(path: &Path) -> Result<Option<StateFile>, ReadError> {
    let shown = || path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ReadError::Io { path: shown(), source }),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| ReadError::Decode { path: shown(), source })
}

/// What the file says about the node, judged at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Fresh and `LOCKED`.
    Locked { age: Duration },
    /// Fresh, but another state.
    NotLocked { state: String, age: Duration },
    /// Older than allowed (or dated in the future beyond it): unknown.
    Stale { state: String, age: Duration, future: bool },
    /// No file: unknown.
    Missing,
    /// Unreadable or undecodable: unknown.
    Unreadable(String),
}

impl Verdict {
    pub fn is_locked(&self) -> bool {
        matches!(self, Self::Locked { .. })
    }

    /// One sentence naming the state, the file and its age.
    pub fn describe(&self, path: &Path, max_age: Duration) -> String {
        let p = path.display();
        match self {
            Self::Locked { age } => format!("PTP state LOCKED ({p}, written {} ago)", secs(*age)),
            Self::NotLocked { state, age } => {
                format!("PTP state {state}, not LOCKED ({p}, written {} ago)", secs(*age))
            }
            Self::Stale { state, age, future } => format!(
                "PTP state unknown: {p} is stale (dated {} {}, more than {} allowed; \
                 it last said {state}); is murmurationd polling ptp4l?",
                secs(*age),
                if *future { "in the future" } else { "ago" },
                secs(max_age)
            ),
            Self::Missing => format!(
                "PTP state unknown: {p} does not exist; murmurationd writes it while [ptp] is enabled"
            ),
            Self::Unreadable(why) => format!("PTP state unknown: {why}"),
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// The freshness rules: a file is fresh when its timestamp is within
/// `max_age` of `now_unix_ms`, on either side (a clock stepped back by a
/// little does not make a fresh file stale; one far in the future is not
/// trusted).
pub fn judge(
    read: Result<Option<StateFile>, ReadError>,
    now_unix_ms: u64,
    max_age: Duration,
) -> Verdict {
    let file = match read {
        Ok(Some(f)) => f,
        Ok(None) => return Verdict::Missing,
        Err(e) => return Verdict::Unreadable(crate::cni::error::chain(&e)),
    };
    let future = file.updated_unix_ms > now_unix_ms;
    let age = Duration::from_millis(now_unix_ms.abs_diff(file.updated_unix_ms));
    if age > max_age {
        return Verdict::Stale { state: file.sync_state, age, future };
    }
    if file.sync_state == LOCKED {
        Verdict::Locked { age }
    } else {
        Verdict::NotLocked { state: file.sync_state, age }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Duration = Duration::from_secs(10);
    const NOW: u64 = 1_000_000_000;

    fn at(state: &str, updated: u64) -> Result<Option<StateFile>, ReadError> {
        Ok(Some(StateFile { sync_state: state.to_owned(), updated_unix_ms: updated }))
    }

    #[test]
    fn only_a_fresh_locked_file_is_locked() {
        let cases = [
            (at("LOCKED", NOW), true),
            (at("LOCKED", NOW - 10_000), true),
            (at("LOCKED", NOW - 10_001), false),
            (at("LOCKED", NOW + 10_000), true),
            (at("LOCKED", NOW + 10_001), false),
            (at("HOLDOVER", NOW), false),
            (at("FREERUN", NOW), false),
            (at("locked", NOW), false),
            (Ok(None), false),
        ];
        for (i, (file, want)) in cases.into_iter().enumerate() {
            assert_eq!(judge(file, NOW, MAX).is_locked(), want, "case {i}");
        }
    }

    #[test]
    fn verdicts_carry_state_and_age() {
        assert_eq!(
            judge(at("FREERUN", NOW - 1500), NOW, MAX),
            Verdict::NotLocked { state: "FREERUN".into(), age: Duration::from_millis(1500) }
        );
        assert_eq!(
            judge(at("LOCKED", NOW - 60_000), NOW, MAX),
            Verdict::Stale { state: "LOCKED".into(), age: Duration::from_secs(60), future: false }
        );
        assert!(matches!(
            judge(at("LOCKED", NOW + 60_000), NOW, MAX),
            Verdict::Stale { future: true, .. }
        ));
        assert_eq!(judge(Ok(None), NOW, MAX), Verdict::Missing);
    }

    #[test]
    fn messages_name_state_file_and_age() {
        let p = Path::new("/run/x/ptp-state.json");
        let stale = judge(at("LOCKED", NOW - 42_000), NOW, MAX).describe(p, MAX);
        assert!(
            stale.contains("unknown")
                && stale.contains("42.0 s")
                && stale.contains("/run/x/ptp-state.json"),
            "{stale}"
        );
        let free = judge(at("FREERUN", NOW - 300), NOW, MAX).describe(p, MAX);
        assert!(
            free.contains("FREERUN") && free.contains("0.3 s") && free.contains("/run/x"),
            "{free}"
        );
        assert!(Verdict::Missing.describe(p, MAX).contains("does not exist"));
    }

    #[test]
    fn write_then_read_round_trips_and_garbage_is_unknown() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/ptp-state.json");
        assert!(read(&path).expect("no file is fine").is_none());
        let s = StateFile { sync_state: "HOLDOVER".into(), updated_unix_ms: 7 };
        write(&path, &s).expect("write");
        assert_eq!(read(&path).expect("read"), Some(s));
        std::fs::write(&path, b"{\"state\":1}").expect("garbage");
        let v = judge(read(&path), NOW, MAX);
        assert!(
            matches!(v, Verdict::Unreadable(ref m) if m.contains("not a PTP state file")),
            "{v:?}"
        );
    }
}
