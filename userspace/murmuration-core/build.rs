//! Builds the eBPF object (`ebpf/murmuration-ebpf`) and copies it into
//! `OUT_DIR` for `include_bytes!`.
//!
//! Why a build script and not xtask: every cargo entry point (`cargo test`,
//! clippy, `cargo xtask build`'s static build, benches) then gets an object
//! that matches the sources, with cargo's own change tracking, and nothing
//! can link a stale object. The toolchain pieces it needs (nightly rust-src,
//! bpf-linker) are installed by `cargo xtask setup`.
//!
//! `MURMURATION_EBPF_DIR=<dir>` (holding `murmuration` and `wire-tagger`)
//! uses prebuilt objects instead and skips the nested build.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const OBJECTS: [&str; 2] = ["murmuration", "wire-tagger"];

fn main() -> Result<()> {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").context("OUT_DIR")?);
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").context("manifest dir")?);
    let ebpf_dir = manifest.join("../../ebpf/murmuration-ebpf");
    println!("cargo:rerun-if-env-changed=MURMURATION_EBPF_DIR");
    let obj_dir = match env::var_os("MURMURATION_EBPF_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => build_ebpf(&ebpf_dir)?,
    };
    for name in OBJECTS {
        let src = obj_dir.join(name);
        std::fs::copy(&src, out_dir.join(name))
            .with_context(|| format!("copying {}", src.display()))?;
    }
    Ok(())
}

fn build_ebpf(ebpf_dir: &Path) -> Result<PathBuf> {
    for entry in ["src", "Cargo.toml", "Cargo.lock", ".cargo/config.toml", "rust-toolchain.toml"] {
        println!("cargo:rerun-if-changed={}", ebpf_dir.join(entry).display());
    }
    println!("cargo:rerun-if-changed={}", ebpf_dir.join("../murmuration-common/src").display());
    // `rustup run nightly`, not the crate's rust-toolchain.toml alone: the
    // outer (stable) cargo exports RUSTUP_TOOLCHAIN, which would override it.
    // The variables the outer cargo set for its own rustc are stripped too.
    let mut cmd = Command::new("rustup");
    cmd.args(["run", "nightly", "cargo", "build", "--release", "--locked"]).current_dir(ebpf_dir);
    for var in [
        "RUSTUP_TOOLCHAIN",
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().context("cannot run `rustup run nightly cargo build`")?;
    if !status.success() {
        bail!(
            "building the eBPF programs failed ({status}); `cargo xtask setup` installs \
             nightly rust-src and bpf-linker"
        );
    }
    Ok(ebpf_dir.join("target/bpfel-unknown-none/release"))
}
