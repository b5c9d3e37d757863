//! `requirePtpLock`, `ptpStateFile` and `ptpStateMaxAgeSeconds`: an ADD on
//! such a network waits (code 11) until the node's PTP sync state, read
//! from the file murmurationd writes ([`crate::ptp::lockstate`]), is a
//! fresh LOCKED.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::timeout;
use crate::cni::error::CniError;

/// Where murmurationd writes the node's PTP sync state by default.
pub const DEFAULT_STATE_FILE: &str = "/run/murmuration/ptp-state.json";
/// How old a LOCKED state may be before it no longer counts, by default.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(10);

/// The keys as they appear in the config.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawPtpLock {
    #[serde(default)]
    require_ptp_lock: bool,
    ptp_state_file: Option<PathBuf>,
    ptp_state_max_age_seconds: Option<f64>,
}

/// Set when the network requires a PTP lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PtpLockConf {
    /// `ptpStateFile`: the daemon's state file.
    pub state_file: PathBuf,
    /// `ptpStateMaxAgeSeconds`: an older file means "unknown".
    pub max_age: Duration,
}

/// The other keys are validated whether or not `requirePtpLock` is set.
pub(super) fn parse_ptp_lock(raw: &RawPtpLock) -> Result<Option<PtpLockConf>, CniError> {
    let max_age = raw
        .ptp_state_max_age_seconds
        .map(|s| timeout("ptpStateMaxAgeSeconds", s))
        .transpose()?
        .unwrap_or(DEFAULT_MAX_AGE);
    let state_file = raw.ptp_state_file.clone().unwrap_or_else(|| DEFAULT_STATE_FILE.into());
    Ok(raw.require_ptp_lock.then_some(PtpLockConf { state_file, max_age }))
}
