//! Pause points for tests that race two plugin invocations on purpose. They
//! do anything only in builds with the `testing` feature (test builds: the
//! privileged tests and the VM tier); otherwise [`pause`] is empty.
//!
//! With `MURMURATION_TEST_PAUSE_AT=<point>` and `MURMURATION_TEST_PAUSE_DIR=<dir>`
//! in its environment, an invocation reaching [`pause`]`(<point>)` creates
//! `<dir>/<point>.paused` and waits until `<dir>/<point>.resume` exists (at
//! most [`LIMIT`], so a test that dies never leaves a plugin hanging). The test
//! runs the competing invocation in that window.

use std::time::Duration;

/// The longest a paused invocation waits for its test.
pub const LIMIT: Duration = Duration::from_secs(60);

/// Where take-over has read another attachment's record and is about to change it.
pub const SRIOV_TAKEOVER: &str = "sriov-takeover";

/// Where DEL has torn an attachment down and is about to remove its record.
pub const RELEASE_BEFORE_REMOVE: &str = "release-before-remove";

#[cfg(feature = "testing")]
pub fn pause(point: &str) {
    use std::path::PathBuf;
    use std::time::Instant;

    if std::env::var("MURMURATION_TEST_PAUSE_AT").ok().as_deref() != Some(point) {
        return;
    }
    let Some(dir) = std::env::var_os("MURMURATION_TEST_PAUSE_DIR").map(PathBuf::from) else {
        return;
    };
    if let Err(e) = std::fs::write(dir.join(format!("{point}.paused")), b"") {
        tracing::warn!(point, error = %e, "test pause point unusable");
        return;
    }
    let resume = dir.join(format!("{point}.resume"));
    let deadline = Instant::now() + LIMIT;
    while !resume.exists() {
        if Instant::now() >= deadline {
            tracing::warn!(point, "test pause point not resumed in time; going on");
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(not(feature = "testing"))]
#[inline]
pub fn pause(_point: &str) {}
