//! Generates the contract's messages (not its services, which need tonic and live in
//! `wavegate-common`) from `proto/wavegate/v1/*.proto` with a protoc from the crate registry,
//! so a fresh machine needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC from the environment.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files =
        ["types.proto", "agent.proto", "api.proto"].map(|f| root.join("wavegate/v1").join(f));
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    prost_build::Config::new().compile_protos(&files, &[root])?;
    Ok(())
}
