//! Invoke the plugin binary exactly as a container runtime does: `CNI_*` variables
//! in the environment, the network configuration on stdin, the result on stdout.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::sh;

/// Where the reference plugins (host-local IPAM) live on Debian.
pub const CNI_PATH: &str = "/usr/lib/cni";
const CNI_VERSION: &str = "1.1.0";
const IFNAME: &str = "net1";
/// Bound on one plugin call; a hung plugin is killed (by PID) and the demo fails.
const CALL_LIMIT: Duration = Duration::from_secs(60);

/// A pod as the runtime describes it to the plugin.
#[derive(Debug)]
pub struct Pod {
    pub name: String,
    pub netns: String,
    pub container_id: String,
    pub vlan: u16,
}

impl Pod {
    pub fn new(name: &str, netns: &str, pid: u32, vlan: u16) -> Self {
        Pod {
            name: name.to_owned(),
            netns: netns.to_owned(),
            container_id: format!("demo-{name}-{pid}"),
            vlan,
        }
    }

    /// The interface the plugin creates in the pod.
    pub fn ifname(&self) -> &'static str {
        IFNAME
    }

    /// The environment of ADD, CHECK and DEL (CNI_ARGS shaped the way Multus sends it).
    pub fn env(&self, command: &str) -> Vec<(&'static str, String)> {
        let args = format!(
            "IgnoreUnknown=true;K8S_POD_NAMESPACE=demo;K8S_POD_NAME={};\
             IgnoreUnknown=1;K8S_POD_NAMESPACE=demo",
            self.name
        );
        vec![
            ("CNI_COMMAND", command.to_owned()),
            ("CNI_CONTAINERID", self.container_id.clone()),
            ("CNI_NETNS", format!("/var/run/netns/{}", self.netns)),
            ("CNI_IFNAME", IFNAME.to_owned()),
            ("CNI_ARGS", args),
            ("CNI_PATH", CNI_PATH.to_owned()),
        ]
    }
}

/// The plugin binary, run inside the node namespace via `ip netns exec`.
#[derive(Debug)]
pub struct Plugin {
    binary: PathBuf,
    node_ns: String,
    /// Where each call's stdin and stdout are written as JSON.
    calls_dir: PathBuf,
    calls: u32,
    /// How many calls of each command succeeded, in first-call order.
    counts: Vec<(String, u32)>,
}

impl Plugin {
    pub fn new(binary: &Path, node_ns: &str, calls_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(calls_dir)
            .with_context(|| format!("creating {}", calls_dir.display()))?;
        Ok(Plugin {
            binary: binary.to_path_buf(),
            node_ns: node_ns.to_owned(),
            calls_dir: calls_dir.to_path_buf(),
            calls: 0,
            counts: Vec::new(),
        })
    }

    /// The successful calls so far, e.g. `VERSION, STATUS x2, ADD x3`.
    pub fn summary(&self) -> String {
        let each = self.counts.iter().map(|(command, n)| match n {
            1 => command.clone(),
            n => format!("{command} x{n}"),
        });
        format!("{}, every one exit 0", each.collect::<Vec<_>>().join(", "))
    }

    /// The file a call's stdin went to (`NN-add-pod1.stdin.json`).
    pub fn stdin_file(&self, label: &str) -> Option<PathBuf> {
        let suffix = format!("-{}.stdin.json", label.replace(' ', "-").to_lowercase());
        let entries = std::fs::read_dir(&self.calls_dir).ok()?;
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(&suffix))
            .collect();
        found.sort();
        found.into_iter().next()
    }

    fn count(&mut self, label: &str) {
        let command = label.split(' ').next().unwrap_or(label).to_owned();
        match self.counts.iter_mut().find(|(c, _)| *c == command) {
            Some((_, n)) => *n += 1,
            None => self.counts.push((command, 1)),
        }
    }

    pub fn version(&mut self) -> Result<Value> {
        let env = [("CNI_COMMAND", "VERSION".to_owned())];
        self.call("VERSION", &env, &serde_json::json!({ "cniVersion": CNI_VERSION }))
    }

    pub fn status(&mut self, config: &Value) -> Result<Value> {
        let env = [("CNI_COMMAND", "STATUS".to_owned()), ("CNI_PATH", CNI_PATH.to_owned())];
        self.call("STATUS", &env, config)
    }

    /// GC of a network with no valid attachment left: the runtime's sweep
    /// after its pods are gone (drops what DEL keeps for it: lock files).
    pub fn gc(&mut self, config: &Value) -> Result<Value> {
        let env = [("CNI_COMMAND", "GC".to_owned()), ("CNI_PATH", CNI_PATH.to_owned())];
        let mut config = config.clone();
        if let Some(object) = config.as_object_mut() {
            object.insert("cni.dev/valid-attachments".to_owned(), Value::Array(Vec::new()));
        }
        self.call("GC", &env, &config)
    }

    /// ADD, CHECK or DEL for `pod`; `prev_result` is injected as `prevResult`.
    pub fn pod_call(
        &mut self,
        command: &str,
        pod: &Pod,
        config: &Value,
        prev_result: Option<&Value>,
    ) -> Result<Value> {
        let mut config = config.clone();
        if let (Some(prev), Some(object)) = (prev_result, config.as_object_mut()) {
            object.insert("prevResult".to_owned(), prev.clone());
        }
        let label = format!("{command} {}", pod.name);
        self.call(&label, &pod.env(command), &config)
    }

    /// Run one call; fail unless it exits 0. Its stdin and stdout are written
    /// to the calls directory, and printed under `--verbose`. Returns stdout
    /// as JSON (`Null` when stdout is empty, as for CHECK, DEL and STATUS).
    fn call(&mut self, label: &str, env: &[(&str, String)], config: &Value) -> Result<Value> {
        self.calls += 1;
        let stdin = serde_json::to_vec_pretty(config)?;
        let base = format!("{:02}-{}", self.calls, label.replace(' ', "-")).to_lowercase();
        let stdin_file = self.calls_dir.join(format!("{base}.stdin.json"));
        std::fs::write(&stdin_file, &stdin)
            .with_context(|| format!("writing {}", stdin_file.display()))?;
        let mut cmd = self.command(env);
        if super::verbose() {
            println!("\n==> {label}");
            println!("$ {} < {}", sh::display(&cmd), stdin_file.display());
        }
        let output = sh::run_with_input(&mut cmd, &stdin, CALL_LIMIT)
            .with_context(|| format!("{label}: running the plugin"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        std::fs::write(self.calls_dir.join(format!("{base}.stdout.json")), stdout.as_bytes())?;
        let parsed = parse_reply(&stdout);
        if super::verbose() {
            print_reply(&parsed, &stdout, &stderr)?;
            let code = output.status.code().map_or("killed".into(), |c| c.to_string());
            println!("exit status: {code}");
        }
        if !output.status.success() {
            bail!("{label} failed ({}): {} {}", output.status, stdout.trim(), stderr.trim());
        }
        self.count(label);
        parsed.with_context(|| format!("{label}: stdout is not JSON"))
    }

    fn command(&self, env: &[(&str, String)]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.node_ns]).arg(&self.binary);
        // Like a runtime: our own environment, minus any CNI_* of ours, plus the call's.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("CNI_") {
                cmd.env_remove(key);
            }
        }
        for (key, value) in env {
            cmd.env(key, value);
        }
        cmd
    }
}

/// stdout as JSON (`Null` when empty).
fn parse_reply(stdout: &str) -> Result<Value> {
    if stdout.trim().is_empty() {
        Ok(Value::Null)
    } else {
        serde_json::from_str::<Value>(stdout).map_err(anyhow::Error::from)
    }
}

/// Print stdout (pretty JSON when it parses) and stderr.
fn print_reply(parsed: &Result<Value>, stdout: &str, stderr: &str) -> Result<()> {
    match parsed {
        Ok(Value::Null) => println!("stdout: (empty)"),
        Ok(value) => println!("stdout:\n{}", serde_json::to_string_pretty(value)?),
        Err(_) => println!("stdout (not JSON):\n{stdout}"),
    }
    if !stderr.trim().is_empty() {
        println!("stderr:\n{}", stderr.trim_end());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Plugin;

    #[test]
    fn the_summary_counts_calls_per_command_in_first_call_order() {
        let mut plugin = Plugin {
            binary: "/bin/true".into(),
            node_ns: "n".into(),
            calls_dir: "/nonexistent".into(),
            calls: 0,
            counts: Vec::new(),
        };
        for label in ["VERSION", "STATUS", "STATUS", "ADD pod1", "ADD pod2", "DEL pod1"] {
            plugin.count(label);
        }
        assert_eq!(plugin.summary(), "VERSION, STATUS x2, ADD x2, DEL, every one exit 0");
    }
}
