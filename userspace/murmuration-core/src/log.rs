//! Logging: tracing to stderr, or to `logFile`; never to stdout, which carries
//! only the CNI result.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::filter::LevelFilter;

/// Maps sriov-cni's level names (`panic`, `error`, `warning`, `info`, `debug`).
fn level(name: Option<&str>) -> LevelFilter {
    match name.map(str::to_ascii_lowercase).as_deref() {
        Some("debug" | "trace") => LevelFilter::DEBUG,
        Some("info") => LevelFilter::INFO,
        Some("error" | "panic" | "fatal") => LevelFilter::ERROR,
        Some("off" | "none") => LevelFilter::OFF,
        _ => LevelFilter::WARN,
    }
}

/// Installs the global subscriber once; later calls are no-ops.
pub fn init(level_name: Option<&str>, file: Option<&Path>) {
    let builder = tracing_subscriber::fmt()
        .with_max_level(level(level_name))
        .with_target(false)
        .with_ansi(false);
    // 0600, and never through a symlink planted at the log's name.
    let opened = file.and_then(|p| {
        use std::os::unix::fs::OpenOptionsExt;
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(p)
            .ok()
    });
    let _ = match opened {
        Some(f) => builder.with_writer(Mutex::new(f)).try_init(),
        None => builder.with_writer(std::io::stderr).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_names() {
        assert_eq!(level(Some("warning")), LevelFilter::WARN);
        assert_eq!(level(Some("Debug")), LevelFilter::DEBUG);
        assert_eq!(level(Some("panic")), LevelFilter::ERROR);
        assert_eq!(level(None), LevelFilter::WARN);
    }
}
