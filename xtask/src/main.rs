//! `cargo xtask <command>`: the project's harness.
//!
//! Everything here shells out with `std::process::Command` (to `cargo`, `apt-get`,
//! `rustup`, `ip`) and prints each command before it runs it.

mod bench;
mod build;
mod demo;
mod deploy;
mod fuzz;
mod image;
mod layers;
mod setup;
mod sh;
mod test;
mod vm;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "murmuration developer tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Install what the tests and the demo need (Debian packages, Rust components, tools).
    /// Idempotent; installing Debian packages needs root.
    Setup,
    /// Build the release CNI plugin and print the path of the binary.
    Build,
    /// Run setup, lints, the unprivileged tests, the privileged (netns) tests and the VM tier.
    Test(test::TestArgs),
    /// Build the node image (plugin, daemon, installer; static, FROM scratch) offline with
    /// podman and write it to target/image/murmuration.tar (OCI archive).
    Image,
    /// Run the plugin end to end in throwaway network namespaces (needs root).
    Demo(demo::DemoArgs),
    /// Run the benchmarks and regenerate docs/bench/ (needs root).
    Bench(bench::BenchArgs),
    /// Report import circles between the modules of each crate (a unit-tier step).
    Layers {
        /// The tree to scan (default: this workspace).
        root: Option<std::path::PathBuf>,
    },
    /// Run the QEMU test tier (SR-IOV VFs, 802.1Q) in a guest with a real kernel.
    Vm(vm::VmArgs),
    /// Run the `cni-vm` benchmark (murmuration sriov vs. Go host-device on igbvf VFs) in the guest.
    VmBench(vm::bench::VmBenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Setup => setup::run(),
        Command::Build => build::run().map(|path| println!("{}", path.display())),
        Command::Test(args) => test::run(&args),
        Command::Image => image::run().map(|built| println!("{}", built.archive.display())),
        Command::Demo(args) => demo::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Layers { root } => layers::check_tree(root),
        Command::Vm(args) => setup::run().and_then(|()| vm::run(&args)),
        Command::VmBench(args) => setup::run().and_then(|()| vm::bench::run(&args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
