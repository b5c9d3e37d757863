//! `murmuration`: the CNI plugin. All logic lives in `murmuration-core`.

fn main() -> std::process::ExitCode {
    murmuration_core::plugin::run(
        &murmuration_core::plugin::environment(std::env::vars_os()),
        &mut std::io::stdin(),
        &mut std::io::stdout(),
    )
}
