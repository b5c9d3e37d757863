//! `murmurationd` in the guest: the musl build the runner shares as
//! `MURMURATION_DAEMON`, started with the test's own config sections, and
//! read back through its HTTP endpoints.

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

pub use murmuration_testkit::http::http_get;

use crate::process::Process;
use crate::wait_for;

/// The value of one exposition line `series value`.
pub fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// The running daemon, killed by PID if the test panics before it is stopped.
#[derive(Debug)]
pub struct Daemon {
    process: Process,
    /// The HTTP listener, `127.0.0.1:<free port>`.
    pub addr: String,
}

impl Daemon {
    /// Writes `dir/murmurationd.toml` (debug logging, HTTP on a free loopback
    /// port, then `sections`), starts the daemon with its log in
    /// `dir/murmurationd.log` and waits for `/healthz`.
    pub fn start(dir: &Path, sections: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        drop(listener);
        let config = dir.join("murmurationd.toml");
        let text = format!("[log]\nlevel = \"debug\"\n[http]\nlisten = \"{addr}\"\n{sections}");
        std::fs::write(&config, text).expect("write the daemon config");
        let exe = std::env::var("MURMURATION_DAEMON").expect("MURMURATION_DAEMON (guest runner)");
        let config = config.display().to_string();
        let log = dir.join("murmurationd.log");
        let mut process = Process::spawn("murmurationd", &exe, &["--config", &config], &log);
        wait_for("the daemon's /healthz", Duration::from_secs(20), || {
            process.assert_running();
            http_get(&addr, "/healthz").ok().filter(|r| r.0 == 200)
        });
        Self { process, addr }
    }

    pub fn log(&self) -> String {
        self.process.log()
    }

    /// GET `path`, asserting 200; returns the body.
    pub fn get(&self, path: &str) -> String {
        let (status, body) =
            http_get(&self.addr, path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// `/status` parsed.
    pub fn status(&self) -> serde_json::Value {
        let body = self.get("/status");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("/status is not JSON ({e}): {body}"))
    }

    /// Polls `/status`'s `ptp` object every 100 ms until `done` holds and
    /// returns it; after `limit`, panics with the last one and `context()`
    /// (a log worth reading).
    pub fn poll_ptp(
        &self,
        what: &str,
        limit: Duration,
        context: impl Fn() -> String,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + limit;
        loop {
            let ptp = self.status()["ptp"].clone();
            if done(&ptp) {
                return ptp;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for {what}: {ptp}\n{}",
                context()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGHUP by PID: the daemon re-reads its config's `[sriov]` section.
    pub fn hangup(&mut self) {
        self.process.hangup();
    }

    /// SIGTERM by PID; asserts the daemon exits cleanly and its listener is gone.
    pub fn stop(&mut self) {
        let status = self.process.terminate();
        assert!(status.success(), "daemon exit {status}: {}", self.log());
        assert!(http_get(&self.addr, "/healthz").is_err(), "the listener is gone");
    }
}
