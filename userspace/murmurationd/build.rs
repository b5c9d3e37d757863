//! Generates the kubelet device plugin API (client and server) from
//! `proto/deviceplugin_v1beta1.proto` with Debian's `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/deviceplugin_v1beta1.proto";
    println!("cargo:rerun-if-changed={proto}");
    tonic_prost_build::configure().compile_protos(&[proto], &["proto"])?;
    Ok(())
}
