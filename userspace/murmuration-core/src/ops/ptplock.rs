//! `requirePtpLock`: ADD is refused and CHECK fails, both with code 11
//! (try again later), while the node's PTP state file does not say a fresh
//! LOCKED. The attachment itself is never touched by this check.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::cni::config::PtpLockConf;
use crate::cni::error::{CniError, ErrorCode};
use crate::ptp::lockstate;

/// `Ok` when the network does not require a lock or the node is LOCKED.
pub(super) fn require(lock: Option<&PtpLockConf>, verb: &str) -> Result<(), CniError> {
    let Some(lock) = lock else { return Ok(()) };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let verdict = lockstate::judge(lockstate::read(&lock.state_file), now, lock.max_age);
    if verdict.is_locked() {
        return Ok(());
    }
    Err(CniError::new(
        ErrorCode::TryAgainLater,
        format!(
            "requirePtpLock: {verb} needs a LOCKED node; {}",
            verdict.describe(&lock.state_file, lock.max_age)
        ),
    ))
}
