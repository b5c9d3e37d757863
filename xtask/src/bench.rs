//! `cargo xtask bench`: run the benchmarks and regenerate the results that
//! `docs/benchmarks.md` shows (`docs/bench/*.md`, `*.json`, `*.svg`).

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use crate::{build, setup, sh};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Short runs (a few minutes in all) instead of the full ones.
    #[arg(long)]
    quick: bool,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    setup::run()?;
    let plugin = build::run()?;
    let bench = plugin.with_file_name("murmuration-bench");
    let out = Path::new("docs/bench");
    std::fs::create_dir_all(out)?;
    for sub in ["cni", "datapath", "daemon", "devplugin", "timing"] {
        let mut cmd = Command::new(&bench);
        if args.quick {
            cmd.arg("--quick");
        }
        cmd.arg("--out").arg(out).arg(sub);
        sh::run(&mut cmd)?;
    }
    eprintln!("results in {}; docs/benchmarks.md links to them", out.display());
    Ok(())
}
