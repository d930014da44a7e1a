//! Generates the gRPC services from `proto/wavegate/v1/*.proto` with a protoc from the crate
//! registry, so a fresh machine needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC from the environment.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto");
    let files =
        ["types.proto", "agent.proto", "api.proto"].map(|f| root.join("wavegate/v1").join(f));
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    // Messages come from wavegate-core (which has no tonic); only the services are generated
    // here, referring to them.
    tonic_prost_build::configure()
        .extern_path(".wavegate.v1", "::wavegate_core::pb")
        .file_descriptor_set_path(
            std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("wavegate_descriptor.bin"),
        )
        .compile_protos(&files, &[root])?;
    Ok(())
}
