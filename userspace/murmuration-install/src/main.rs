use std::error::Error;
use std::process::ExitCode;

use clap::Parser;
use murmuration_install::{Cli, exit, run};

fn main() -> ExitCode {
    match run(&Cli::parse()) {
        Ok(lines) => {
            lines.iter().for_each(|line| println!("murmuration-install: {line}"));
            ExitCode::from(exit::OK)
        }
        Err(err) => {
            let mut message = err.to_string();
            let mut cause = err.source();
            while let Some(inner) = cause {
                message.push_str(&format!(": {inner}"));
                cause = inner.source();
            }
            eprintln!("murmuration-install: error: {message}");
            ExitCode::from(err.exit_code())
        }
    }
}
