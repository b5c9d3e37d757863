//! Which spec version to speak to a delegated plugin, cached per binary.
//!
//! The delegate's VERSION answer is kept under `dataDir` keyed by the binary's
//! path, size and mtime, so only the first call after an install or upgrade
//! pays for the extra exec.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cni::error::{CniError, ErrorCode};
use crate::cni::version::CniVersion;
use crate::state::atomic_write;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Entry {
    size: u64,
    mtime_ns: i128,
    versions: Vec<String>,
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

fn fingerprint(bin: &Path) -> Option<(u64, i128)> {
    let md = fs::metadata(bin).ok()?;
    Some((md.size(), i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec())))
}

fn cache_file(cache_dir: &Path, bin: &Path) -> PathBuf {
    let digest = Sha256::digest(bin.as_os_str().as_encoded_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    cache_dir.join(format!("{hex}.json"))
}

fn cached(file: &Path, fp: (u64, i128)) -> Option<Vec<String>> {
    let e: Entry = serde_json::from_slice(&fs::read(file).ok()?).ok()?;
    (e.size == fp.0 && e.mtime_ns == fp.1).then_some(e.versions)
}

/// The newest version that both we (at most `ours`) and the delegate support.
pub fn pick(ours: CniVersion, theirs: &[String]) -> Option<CniVersion> {
    CniVersion::ALL
        .into_iter()
        .filter(|v| *v <= ours && theirs.iter().any(|t| t == v.as_str()))
        .max()
}

pub fn negotiate(
    bin: &Path,
    ours: CniVersion,
    cache_dir: &Path,
    query: impl FnOnce(&Path) -> Result<Vec<String>, CniError>,
) -> Result<CniVersion, CniError> {
    let fp = fingerprint(bin);
    let file = cache_file(cache_dir, bin);
    let theirs = match fp.and_then(|fp| cached(&file, fp)) {
        Some(v) => v,
        None => {
            let versions = query(bin)?;
            if let Some((size, mtime_ns)) = fp {
                let entry = Entry { size, mtime_ns, versions: versions.clone() };
                let bytes = serde_json::to_vec(&entry).unwrap_or_default();
                // A cache that cannot be written only costs a VERSION exec next time.
                if let Err(e) =
                    create_private_dir(cache_dir).and_then(|()| atomic_write(&file, &bytes))
                {
                    tracing::debug!(error = %e, "cannot cache IPAM versions");
                }
            }
            versions
        }
    };
    pick(ours, &theirs).ok_or_else(|| {
        CniError::new(
            ErrorCode::IncompatibleVersion,
            format!("IPAM plugin {} shares no CNI version with cniVersion {ours}", bin.display()),
        )
        .with_details(format!("it supports {theirs:?}"))
    })
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn picks_newest_common_version() {
        let debian = strings(&["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"]);
        assert_eq!(pick(CniVersion::V1_1_0, &debian), Some(CniVersion::V1_0_0));
        assert_eq!(pick(CniVersion::V0_4_0, &debian), Some(CniVersion::V0_4_0));
        assert_eq!(pick(CniVersion::V1_1_0, &strings(&["0.1.0"])), None);
    }

    #[test]
    fn caches_by_binary_fingerprint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("plugin");
        fs::write(&bin, b"v1").expect("write");
        let calls = Cell::new(0);
        let query = |_: &Path| {
            calls.set(calls.get() + 1);
            Ok(strings(&["1.0.0"]))
        };
        let cache = dir.path().join("cache");
        for _ in 0..3 {
            assert_eq!(
                negotiate(&bin, CniVersion::V1_1_0, &cache, query).expect("ok"),
                CniVersion::V1_0_0
            );
        }
        assert_eq!(calls.get(), 1);
        fs::write(&bin, b"v2 is longer").expect("upgrade");
        negotiate(&bin, CniVersion::V1_1_0, &cache, query).expect("ok");
        assert_eq!(calls.get(), 2, "an upgraded binary is asked again");
    }
}
