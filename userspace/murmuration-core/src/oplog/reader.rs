//! Incremental reading of the operation log, with rotation.
//!
//! The reader remembers its offset. Once the log passes [`ROTATE_BYTES`] it
//! renames it to `ops.log.1` (new plugin calls create a fresh `ops.log`),
//! drains the renamed file, and drains it once more on the next poll (a
//! plugin that opened the file just before the rename may still append to
//! it) before deleting it.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::path::PathBuf;

use super::{OpRecord, path};

/// Size at which the reader rotates the log.
pub const ROTATE_BYTES: u64 = 1 << 20;

#[derive(Debug)]
pub struct OpLogReader {
    path: PathBuf,
    offset: u64,
    /// A rotated file still to drain once more: its path and our offset in it.
    rotated: Option<(PathBuf, u64)>,
    rotate_at: u64,
}

impl OpLogReader {
    pub fn new(data_dir: &std::path::Path) -> Self {
        Self { path: path(data_dir), offset: 0, rotated: None, rotate_at: ROTATE_BYTES }
    }

    /// Rotates at `bytes` instead of [`ROTATE_BYTES`] (tests).
    pub fn with_rotate_at(mut self, bytes: u64) -> Self {
        self.rotate_at = bytes;
        self
    }

    /// Returns every complete record appended since the last call.
    pub fn poll(&mut self) -> io::Result<Vec<OpRecord>> {
        let mut out = Vec::new();
        if let Some((old, off)) = self.rotated.take() {
            read_from(&old, off, &mut out)?;
            let _ = fs::remove_file(&old);
        }
        let len = match fs::metadata(&self.path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.offset = 0;
                return Ok(out);
            }
            Err(e) => return Err(e),
        };
        if len < self.offset {
            // Replaced or truncated by someone else: start over.
            self.offset = 0;
        }
        self.offset = read_from(&self.path, self.offset, &mut out)?;
        if self.offset >= self.rotate_at {
            let old = self.path.with_extension("log.1");
            fs::rename(&self.path, &old)?;
            let off = read_from(&old, self.offset, &mut out)?;
            self.rotated = Some((old, off));
            self.offset = 0;
        }
        Ok(out)
    }
}

/// Reads complete lines from `offset`; returns the offset after the last one.
fn read_from(path: &std::path::Path, offset: u64, out: &mut Vec<OpRecord>) -> io::Result<u64> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(offset),
        Err(e) => return Err(e),
    };
    f.seek(SeekFrom::Start(offset))?;
    let mut r = BufReader::new(f);
    let mut pos = offset;
    let mut line = String::new();
    loop {
        line.clear();
        let n = r.read_line(&mut line)?;
        if n == 0 || !line.ends_with('\n') {
            return Ok(pos);
        }
        pos += n as u64;
        out.extend(OpRecord::parse(line.trim_end()));
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Duration;

    use super::super::append;
    use super::*;

    fn rec(verb: &str) -> OpRecord {
        OpRecord::now(verb, 0, Duration::from_micros(5))
    }

    #[test]
    fn reads_incrementally_and_waits_for_complete_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut r = OpLogReader::new(dir.path());
        assert!(r.poll().expect("poll").is_empty());
        append(dir.path(), &rec("ADD"));
        append(dir.path(), &rec("DEL"));
        let got: Vec<String> = r.poll().expect("poll").into_iter().map(|r| r.verb).collect();
        assert_eq!(got, ["ADD", "DEL"]);
        let mut f = fs::OpenOptions::new().append(true).open(path(dir.path())).expect("open");
        f.write_all(b"1 5 CHECK 0").expect("partial");
        assert!(r.poll().expect("poll").is_empty());
        f.write_all(b" 9\n").expect("rest");
        assert_eq!(r.poll().expect("poll")[0].verb, "CHECK");
    }

    #[test]
    fn rotates_without_losing_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut r = OpLogReader::new(dir.path()).with_rotate_at(64);
        let mut seen = 0;
        for i in 0..50 {
            append(dir.path(), &rec(if i % 2 == 0 { "ADD" } else { "DEL" }));
            seen += r.poll().expect("poll").len();
        }
        seen += r.poll().expect("poll").len();
        assert_eq!(seen, 50);
        assert!(fs::metadata(path(dir.path())).map_or(0, |m| m.len()) < 128);
    }
}
