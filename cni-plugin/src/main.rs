//! `murmuration`: the CNI plugin. All logic lives in `murmuration-core`.

fn main() -> std::process::ExitCode {
    murmuration_core::cni::plugin::run(
        &std::env::vars().collect(),
        &mut std::io::stdin(),
        &mut std::io::stdout(),
    )
}
