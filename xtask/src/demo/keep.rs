//! `cargo xtask demo --keep`: leave the namespaces, attachments, daemon and
//! ptp4l running, write a teardown script, and print how to look around.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

use super::Demo;
use super::daemon::LISTEN;
use super::topology::UPLINK;
use crate::sh;

/// Disarms every cleanup of `demo`, writes `teardown.sh` and prints the hints.
pub fn leave_running(mut demo: Demo) -> Result<()> {
    let pids: Vec<u32> = demo.processes.drain(..).map(super::daemon::Proc::forget).collect();
    let script = teardown_script(&demo, &pids)?;
    let script_path = demo.out.join("teardown.sh");
    std::fs::write(&script_path, script)
        .with_context(|| format!("writing {}", script_path.display()))?;
    let target = demo.attached.get(1).and_then(|(_, result)| super::fastpath::ipv4(result));
    print_hints(&demo, &target.unwrap_or_default(), &script_path);
    demo.attached.clear();
    demo.topology.forget();
    demo.bpffs.forget();
    demo.scratch.disable_cleanup(true);
    Ok(())
}

/// DEL of every pod with its ADD configuration, the processes killed by PID,
/// the namespaces deleted, the bpffs unmounted, the scratch directory removed.
fn teardown_script(demo: &Demo, pids: &[u32]) -> Result<String> {
    let mut script =
        String::from("#!/bin/sh\n# Tears down what `cargo xtask demo --keep` left running.\n");
    for pid in pids {
        writeln!(script, "kill {pid} 2>/dev/null")?;
    }
    for (index, _) in &demo.attached {
        let pod = &demo.pods[*index];
        let stdin = demo
            .plugin
            .stdin_file(&format!("ADD {}", pod.name))
            .with_context(|| format!("no ADD call recorded for {}", pod.name))?;
        let env = pod.env("DEL").into_iter().map(|(k, v)| format!("{k}={}", sh::quote(&v)));
        writeln!(
            script,
            "ip netns exec {} env {} {} < {}",
            demo.topology.node,
            env.collect::<Vec<_>>().join(" "),
            sh::quote(&demo.binary.display().to_string()),
            sh::quote(&stdin.display().to_string())
        )?;
    }
    for netns in demo.topology.all_names() {
        writeln!(script, "ip netns del {netns}")?;
    }
    writeln!(script, "umount -l {}", sh::quote(&demo.bpffs.dir().display().to_string()))?;
    writeln!(script, "rm -rf {}", sh::quote(&demo.scratch.path().display().to_string()))?;
    writeln!(script, "echo 'demo torn down'")?;
    Ok(script)
}

fn print_hints(demo: &Demo, pod2: &str, script: &Path) {
    let node = &demo.topology.node;
    let pod = &demo.pods[0].netns;
    let pins = demo.bpffs.pin_root().join(UPLINK);
    let hints = [
        ("ip netns list".to_owned(), "the demo's namespaces are mmdemo-*"),
        (format!("ip -n {pod} -br addr"), "pod1's net1"),
        (format!("ip -n {node} -br link"), "uplink0, ptp0 and the host veths"),
        (format!("ip netns exec {pod} ping -c3 {pod2}"), "pod1 -> pod2 over the fast path"),
        (format!("ip netns exec {node} curl -s http://{LISTEN}/metrics"), "the daemon"),
        (format!("ip netns exec {node} curl -s http://{LISTEN}/status"), "inventory, PTP"),
        (format!("ip netns exec {node} bpftool net show dev {UPLINK}"), "the tc programs"),
        (format!("ls {}", pins.display()), "the pinned maps and programs"),
        (
            format!(
                "cargo run --release -p murmuration-cni --example fastpath_stats -- {}",
                pins.display()
            ),
            "counters",
        ),
    ];
    println!("\nleft running (--keep). Look around:");
    for (command, what) in hints {
        println!("  {command:<64} # {what}");
    }
    println!("tear it all down with:\n  sh {}", script.display());
}
