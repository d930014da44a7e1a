//! Generated gRPC code for `wavegate.v1` and small conversions around it.

#[allow(missing_docs, clippy::all, clippy::pedantic)]
mod generated {
    tonic::include_proto!("wavegate.v1");
}

/// Messages and services of `proto/wavegate/v1` (package `wavegate.v1`).
pub mod v1 {
    pub use super::generated::*;
}

/// Encoded `FileDescriptorSet` of the contract, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("wavegate_descriptor");

/// Version of the coordinator↔agent protocol this build speaks (`Start.protocol_version`).
pub const PROTOCOL_VERSION: u32 = 1;

/// Name of the standard gRPC health service, advertised by every wavegate server's reflection.
pub const HEALTH_SERVICE: &str = "grpc.health.v1.Health";

/// Name of the gRPC reflection service (v1), advertised by its own reflection.
pub const REFLECTION_SERVICE: &str = "grpc.reflection.v1.ServerReflection";
