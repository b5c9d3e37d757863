//! Running the real plugin binary (musl build, shared over 9p) as a runtime would.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::wait_for;

/// A pause point of the plugin (the core's `test_hooks`, armed in the VM
/// tier's `testing` build) for one call: the call stops there until
/// [`Pause::resume`], so a test can run a competing call in that window.
#[derive(Debug)]
pub struct Pause {
    point: &'static str,
    dir: PathBuf,
}

impl Pause {
    pub fn new(point: &'static str) -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("mm-pause-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        Self { point, dir }
    }

    fn env(&self) -> [(&'static str, String); 2] {
        [
            ("MURMURATION_TEST_PAUSE_AT", self.point.to_owned()),
            ("MURMURATION_TEST_PAUSE_DIR", self.dir.display().to_string()),
        ]
    }

    /// Waits until the call has stopped at the point.
    pub fn wait_paused(&self) {
        let paused = self.dir.join(format!("{}.paused", self.point));
        wait_for(&format!("the plugin to stop at {}", self.point), Duration::from_secs(30), || {
            paused.exists().then_some(())
        });
    }

    /// Lets the call go on.
    pub fn resume(&self) {
        let resume = self.dir.join(format!("{}.resume", self.point));
        std::fs::write(&resume, b"").unwrap_or_else(|e| panic!("{}: {e}", resume.display()));
    }

    /// A guard that resumes the call when dropped (e.g. by a failing assertion).
    pub fn resumed_on_exit(&self) -> impl Drop + '_ {
        Resume(self)
    }

    fn resume_quietly(&self) {
        let _ = std::fs::write(self.dir.join(format!("{}.resume", self.point)), b"");
    }
}

struct Resume<'a>(&'a Pause);

impl Drop for Resume<'_> {
    fn drop(&mut self) {
        self.0.resume_quietly();
    }
}

impl Drop for Pause {
    fn drop(&mut self) {
        // Never leave a plugin waiting on a test that failed.
        self.resume_quietly();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The plugin's answer to one call.
#[derive(Debug)]
pub struct Reply {
    pub ok: bool,
    pub stdout: Value,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Reply {
    /// The result, asserting success.
    pub fn result(self) -> Value {
        assert!(self.ok, "plugin failed: {} (stderr: {})", self.stdout, self.stderr);
        self.stdout
    }

    /// The error object, asserting failure.
    pub fn error(self) -> Value {
        assert!(!self.ok, "plugin unexpectedly succeeded: {}", self.stdout);
        self.stdout
    }
}

/// One network's plugin setup: a private data directory and the binary.
#[derive(Debug)]
pub struct Cni {
    pub plugin: PathBuf,
    pub cni_path: String,
    pub data_dir: PathBuf,
    pub net: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl Cni {
    pub fn new(tag: &str) -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let net = format!("vm-{tag}-{n}");
        let data_dir =
            std::env::temp_dir().join(format!("murmuration-{net}-{}", std::process::id()));
        Self {
            plugin: std::env::var_os("MURMURATION_PLUGIN")
                .map(PathBuf::from)
                .expect("MURMURATION_PLUGIN (set by the guest runner)"),
            cni_path: std::env::var("MURMURATION_CNI_PATH")
                .unwrap_or_else(|_| "/usr/lib/cni".into()),
            data_dir,
            net,
        }
    }

    /// A base config of `mode` with this network's name and data directory.
    pub fn conf(&self, mode: &str) -> Value {
        json!({
            "cniVersion": "1.1.0", "name": self.net, "type": "murmuration",
            "mode": mode, "dataDir": self.data_dir,
        })
    }

    /// Runs `command` with `conf` on stdin.
    pub fn call(
        &self,
        command: &str,
        netns: Option<&Path>,
        cid: &str,
        ifname: &str,
        conf: &Value,
    ) -> Reply {
        self.call_env(command, netns, cid, ifname, "", conf)
    }

    pub fn call_env(
        &self,
        command: &str,
        netns: Option<&Path>,
        cid: &str,
        ifname: &str,
        args: &str,
        conf: &Value,
    ) -> Reply {
        self.invoke(command, netns, cid, ifname, args, &[], conf)
    }

    /// Runs `command` armed to stop at `pause`'s point until it is resumed.
    pub fn call_paused(
        &self,
        command: &str,
        netns: Option<&Path>,
        cid: &str,
        ifname: &str,
        conf: &Value,
        pause: &Pause,
    ) -> Reply {
        self.invoke(command, netns, cid, ifname, "", &pause.env(), conf)
    }

    #[allow(clippy::too_many_arguments)] // the CNI environment, spelled out
    fn invoke(
        &self,
        command: &str,
        netns: Option<&Path>,
        cid: &str,
        ifname: &str,
        args: &str,
        extra: &[(&str, String)],
        conf: &Value,
    ) -> Reply {
        let mut cmd = Command::new(&self.plugin);
        cmd.env_clear()
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", cid)
            .env("CNI_IFNAME", ifname)
            .env("CNI_NETNS", netns.map(|p| p.display().to_string()).unwrap_or_default())
            .env("CNI_PATH", &self.cni_path)
            .env("CNI_ARGS", args)
            .envs(extra.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let start = Instant::now();
        let mut child = cmd.spawn().expect("starting the plugin");
        let input = serde_json::to_vec(conf).expect("config JSON");
        child.stdin.take().expect("stdin").write_all(&input).expect("writing stdin");
        let out = child.wait_with_output().expect("waiting for the plugin");
        let elapsed = start.elapsed();
        let text = String::from_utf8_lossy(&out.stdout);
        let stdout = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("plugin printed non-JSON ({e}): {text}"))
        };
        Reply {
            ok: out.status.success(),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed,
        }
    }

    /// The record of attachment `cid`/`ifname`, if one is on disk.
    pub fn record(&self, cid: &str, ifname: &str) -> Option<Value> {
        let path = self.data_dir.join("attachments").join(format!("{cid}@{ifname}.json"));
        let text = std::fs::read_to_string(path).ok()?;
        Some(serde_json::from_str(&text).expect("record JSON"))
    }

    /// The attachment records left in the data directory.
    pub fn records(&self) -> Vec<String> {
        let dir = self.data_dir.join("attachments");
        let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
        entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()
    }
}

impl Drop for Cni {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}
