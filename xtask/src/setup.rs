//! `cargo xtask setup`: install what the tests and the demo need, idempotently.
//!
//! Each list below is checked first and only what is missing gets installed, so
//! running setup again on a ready machine changes nothing and needs no network.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::sh;

/// Debian packages (installed with apt-get, needs root).
const APT_PACKAGES: &[&str] = &[
    // Reference CNI plugins in /usr/lib/cni (host-local IPAM, peers for tests).
    "containernetworking-plugins",
    "iproute2",
    "tcpdump",
    "iptables",
    "iputils-ping",
    // The privileged tests watch which programs the plugin executes.
    "strace",
    // The VM tier's guest userland (copied into its initramfs; see xtask/src/vm/).
    "busybox-static",
    "ethtool",
    "linuxptp",
    "bpftool",
    // murmurationd's host tier: a real Prometheus scrapes it (ptp4l: linuxptp above).
    "prometheus",
    // Real runtimes drive the plugin (cni-plugin/tests/privileged/runtimes):
    // containerd's ctr, podman's CNI backend, libcni through a Go driver;
    // podman also builds and runs the node image (`cargo xtask image`).
    "containerd",
    "runc",
    "podman",
    "golang-go",
    "golang-github-appc-cni-dev",
    // The deploy step: Debian's Python makes the validator's venv (xtask/src/deploy.rs).
    "python3-venv",
    // murmurationd's build: protoc for the kubelet device plugin API (proto/).
    "protobuf-compiler",
];

/// Packages from bookworm-backports: QEMU 10 has the `igb` NIC (7.2 has not).
const BACKPORTS_PACKAGES: &[&str] = &["qemu-system-x86"];

/// The deb822 source for bookworm-backports (same mirror and keyring as Debian's own).
const BACKPORTS_SOURCE: &str = "/etc/apt/sources.list.d/bookworm-backports.sources";
const BACKPORTS_DEB822: &str = "Types: deb\nURIs: http://deb.debian.org/debian\n\
    Suites: bookworm-backports\nComponents: main\n\
    Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n";

/// A rustup component or target for one toolchain.
#[derive(Debug)]
struct RustupItem {
    toolchain: &'static str,
    name: &'static str,
}

/// Rustup components, e.g. `RustupItem { toolchain: "nightly", name: "rust-src" }`.
const RUSTUP_COMPONENTS: &[RustupItem] = &[
    // The eBPF crate builds `core` itself (-Z build-std) on the installed nightly.
    RustupItem { toolchain: "nightly", name: "rust-src" },
];

/// Rustup targets, e.g. `RustupItem { toolchain: "1.95.0", name: "x86_64-unknown-linux-musl" }`.
const RUSTUP_TARGETS: &[RustupItem] = &[
    // Static test binaries and plugin for the VM tier's bare guest.
    RustupItem { toolchain: "stable", name: "x86_64-unknown-linux-musl" },
];

/// A tool installed with `cargo install <krate> --version <version> --locked`.
#[derive(Debug)]
struct CargoTool {
    krate: &'static str,
    version: &'static str,
}

/// Cargo-installed tools, e.g. `CargoTool { krate: "bpf-linker", version: "0.10.4" }`.
const CARGO_TOOLS: &[CargoTool] = &[
    // Links the eBPF programs. 0.10.4 loads rustc's own LLVM at run time;
    // 0.13 needs a system libLLVM (see shared ENVIRONMENT.md).
    CargoTool { krate: "bpf-linker", version: "0.10.4" },
    // Licence, ban and source checks of the dependency graph (deny.toml);
    // run without the advisory database, which is not reachable here.
    CargoTool { krate: "cargo-deny", version: "0.20.2" },
    // The fuzz tier (`fuzz/`); it builds libFuzzer from its own sources and
    // needs no llvm-tools (those serve only `cargo fuzz coverage`).
    CargoTool { krate: "cargo-fuzz", version: "0.13.2" },
];

pub fn run() -> Result<()> {
    apt_packages().context("setup: Debian packages")?;
    rustup_items("component", RUSTUP_COMPONENTS).context("setup: rustup components")?;
    rustup_items("target", RUSTUP_TARGETS).context("setup: rustup targets")?;
    cargo_tools().context("setup: cargo-installed tools")?;
    crate::deploy::venv().context("setup: deploy validator venv")?;
    eprintln!("setup: done");
    Ok(())
}

fn apt_packages() -> Result<()> {
    let new_source = ensure_backports_source()?;
    let missing: Vec<&str> =
        APT_PACKAGES.iter().copied().filter(|p| !dpkg_installed(p).unwrap_or(false)).collect();
    let missing_bpo: Vec<&str> = BACKPORTS_PACKAGES
        .iter()
        .copied()
        .filter(|p| !backport_installed(p).unwrap_or(false))
        .collect();
    let update = new_source || !backports_indexed()?;
    if missing.is_empty() && missing_bpo.is_empty() && !update {
        let all = [APT_PACKAGES, BACKPORTS_PACKAGES].concat();
        eprintln!("setup: Debian packages present: {}", all.join(" "));
        return Ok(());
    }
    if !sh::is_root() {
        bail!(
            "missing Debian packages: {}; run `cargo xtask setup` as root to install them",
            [missing.as_slice(), missing_bpo.as_slice()].concat().join(" ")
        );
    }
    sh::run(Command::new("apt-get").args(["update", "-q"]))?;
    apt_install(&[], &missing)?;
    apt_install(&["-t", "bookworm-backports"], &missing_bpo)
}

fn apt_install(suite: &[&str], packages: &[&str]) -> Result<()> {
    if packages.is_empty() {
        return Ok(());
    }
    sh::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(suite)
            .args(packages),
    )
}

/// Writes the backports source if it is missing; `true` when written now.
fn ensure_backports_source() -> Result<bool> {
    let path = std::path::Path::new(BACKPORTS_SOURCE);
    if path.exists() {
        return Ok(false);
    }
    if !sh::is_root() {
        bail!("{BACKPORTS_SOURCE} is missing; run `cargo xtask setup` as root to add it");
    }
    eprintln!("setup: adding {BACKPORTS_SOURCE}");
    std::fs::write(path, BACKPORTS_DEB822).context("writing the backports source")?;
    Ok(true)
}

/// Whether apt's lists know bookworm-backports (the VM tier resolves its kernel there).
fn backports_indexed() -> Result<bool> {
    let policy = sh::capture(Command::new("apt-cache").arg("policy"))?;
    Ok(policy.contains("bookworm-backports"))
}

/// Installed from backports (a bookworm version of the same package is not enough).
fn backport_installed(package: &str) -> Result<bool> {
    let version = sh::capture(Command::new("dpkg-query").args(["-W", "-f=${Version}", package]));
    Ok(dpkg_installed(package)? && version.is_ok_and(|v| v.contains("~bpo")))
}

fn dpkg_installed(package: &str) -> Result<bool> {
    let output = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .context("cannot run dpkg-query (setup supports Debian-based systems only)")?;
    // "install ok installed", "hold ok installed"; an unknown package exits non-zero.
    let status = String::from_utf8_lossy(&output.stdout);
    Ok(output.status.success() && status.split_whitespace().last() == Some("installed"))
}

fn rustup_items(kind: &str, items: &[RustupItem]) -> Result<()> {
    for item in items {
        let installed = sh::capture(Command::new("rustup").args([
            kind,
            "list",
            "--installed",
            "--toolchain",
            item.toolchain,
        ]))
        .with_context(|| format!("is toolchain `{}` installed?", item.toolchain))?;
        if rustup_listed(&installed, item.name, &host_triple()?) {
            eprintln!("setup: rustup {kind} {} ({}) present", item.name, item.toolchain);
            continue;
        }
        sh::run(Command::new("rustup").args([
            kind,
            "add",
            "--toolchain",
            item.toolchain,
            item.name,
        ]))?;
    }
    Ok(())
}

/// Components are listed either bare (`rust-src`) or with the host triple
/// (`clippy-x86_64-unknown-linux-gnu`); targets are listed as triples.
fn rustup_listed(installed: &str, name: &str, host: &str) -> bool {
    let with_host = format!("{name}-{host}");
    installed.lines().map(str::trim).any(|line| line == name || line == with_host)
}

fn host_triple() -> Result<String> {
    let info = sh::capture(Command::new("rustc").arg("-vV"))?;
    info.lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .context("`rustc -vV` printed no host triple")
}

fn cargo_tools() -> Result<()> {
    if CARGO_TOOLS.is_empty() {
        return Ok(());
    }
    let installed = sh::capture(sh::cargo().args(["install", "--list"]))?;
    for tool in CARGO_TOOLS {
        let header = format!("{} v{}:", tool.krate, tool.version);
        if installed.lines().any(|line| line.starts_with(&header)) {
            eprintln!("setup: {} {} present", tool.krate, tool.version);
            continue;
        }
        sh::run(sh::cargo().args(["install", tool.krate, "--version", tool.version, "--locked"]))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::rustup_listed;

    const HOST: &str = "x86_64-unknown-linux-gnu";

    #[test]
    fn rustup_listing_matches_bare_and_host_suffixed_names() {
        let listed =
            "cargo-x86_64-unknown-linux-gnu\nrust-src\nllvm-tools-x86_64-unknown-linux-gnu\n";
        assert!(rustup_listed(listed, "rust-src", HOST));
        assert!(rustup_listed(listed, "llvm-tools", HOST));
        assert!(!rustup_listed(listed, "rust", HOST));
        assert!(!rustup_listed(listed, "llvm", HOST));
        assert!(!rustup_listed(listed, "clippy", HOST));
    }

    #[test]
    fn rustup_listing_matches_targets() {
        let listed = "x86_64-unknown-linux-gnu\nx86_64-unknown-linux-musl\n";
        assert!(rustup_listed(listed, "x86_64-unknown-linux-musl", HOST));
        assert!(!rustup_listed(listed, "bpfel-unknown-none", HOST));
    }
}
