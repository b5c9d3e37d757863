//! containerd 1.6 and `ctr run --cni`: ctr (not the daemon) runs the CNI
//! calls, through go-cni, from the fixed paths `/etc/cni/net.d` (the first
//! conflist) and `/usr/lib/cni` (Debian's bin dir; CNI_PATH is
//! `/opt/cni/bin:/usr/lib/cni`) with libcni's cache in `/var/lib/cni`; ctr
//! 1.6 has no flag for any of them. The daemon and ctr therefore share one
//! private mount namespace where those paths are bind mounts of the rig's
//! directories and `/run` (ctr's fifos, the shim's sockets and runc's state)
//! is a tmpfs.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{Rig, Spawned, assert_container_saw, container_script, require, version_of};
use crate::common::audit::poll;
use crate::common::output_with_stdin;

/// containerd with its root, state and sockets in the rig, and the CRI
/// plugin disabled; killed by PID (with what it left running) on drop.
struct Containerd<'a> {
    rig: &'a Rig,
    daemon: Spawned,
}

impl<'a> Containerd<'a> {
    fn start(rig: &'a Rig) -> Self {
        assert!(
            Path::new("/etc/cni/net.d").is_dir(),
            "/etc/cni/net.d missing (the podman package ships it): the private mount needs it"
        );
        let config = rig.dir("containerd.toml");
        let text = format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n",
            root = rig.dir("containerd-root").display(),
            state = rig.dir("containerd-state").display(),
            sock = Self::socket(rig).display(),
        );
        std::fs::write(&config, text).expect("containerd config");
        let setup = format!(
            "mount -t tmpfs tmpfs /run\nmount --bind {conf} /etc/cni/net.d\n\
             mount --bind {bin} /usr/lib/cni\nmount -t tmpfs tmpfs /var/lib\n\
             mkdir /var/lib/cni\nmount --bind {cache} /var/lib/cni",
            conf = rig.dir("conf").display(),
            bin = rig.dir("bin").display(),
            cache = rig.dir("cache").display(),
        );
        let config = config.display().to_string();
        let cmd = rig.private(&setup, &["containerd", "--config", &config]);
        let mut daemon = Spawned::start(cmd, &rig.dir("containerd.log"));
        daemon.settle(Duration::from_secs(10));
        let ready = poll(Duration::from_secs(20), || Self::socket(rig).exists());
        let log = || std::fs::read_to_string(rig.dir("containerd.log")).unwrap_or_default();
        assert!(ready, "containerd never listened\n{}", log());
        Self { rig, daemon }
    }

    fn socket(rig: &Rig) -> std::path::PathBuf {
        rig.dir("containerd.sock")
    }

    /// `ctr` in the daemon's network and mount namespaces; its output.
    fn ctr(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", &self.daemon.pid().to_string(), "-m", "-n", "ctr", "--address"])
            .arg(Self::socket(self.rig))
            .args(args);
        let out = output_with_stdin(&mut cmd, b"");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "ctr {args:?} failed:\n{text}");
        text
    }
}

#[test]
#[ignore = "privileged: needs root, network namespaces and containerd (run by cargo xtask test)"]
fn containerd_runs_a_container_on_the_fast_path_and_its_del_leaves_nothing() {
    for (bin, package) in [("containerd", "containerd"), ("ctr", "containerd"), ("runc", "runc")] {
        require(bin, package);
    }
    let rig = Rig::new();
    let version = version_of(Command::new("containerd").arg("--version"));
    let d = Containerd::start(&rig);
    let rootfs = rig.dir("rootfs").display().to_string();
    let script = container_script();
    let out =
        d.ctr(&["run", "--rm", "--cni", "--rootfs", &rootfs, "rt-1", "/bin/sh", "-c", &script]);
    rig.wait_for_dels(1);
    rig.print_summary(&version);

    let adds = rig.calls_of("ADD");
    assert_eq!(adds.len(), 1, "one ADD:\n{}", rig.describe());
    let add = &adds[0];
    assert_container_saw(&out, add);
    assert_eq!(add.conf["cniVersion"], "1.0.0", "the conflist's version");
    assert_eq!(add.var("CNI_CONTAINERID"), "default-rt-1", "<namespace>-<id>");
    let netns = add.var("CNI_NETNS");
    assert!(
        netns.starts_with("/proc/") && netns.ends_with("/ns/net"),
        "ADD names the task's namespace by /proc/<pid>/ns/net: {netns}"
    );
    let del = &rig.calls_of("DEL")[0];
    assert_eq!(del.var("CNI_NETNS"), "", "ctr's DEL comes after the task exited, without a netns");
    assert!(del.has_prev_result(), "libcni's cached result is the DEL's prevResult");
    assert!(rig.calls_of("CHECK").is_empty(), "ctr sends no CHECK");
    drop(d);
    rig.assert_left_nothing();
}
