//! gRPC server reflection in both protocol versions: `grpc.reflection.v1` and the older
//! `v1alpha` that grpcurl before 1.9 and many clients still ask for. Both advertise the same
//! services from the same descriptors.

use tonic_reflection::server::{Builder, Error, v1, v1alpha};

use crate::proto::{FILE_DESCRIPTOR_SET, HEALTH_SERVICE, REFLECTION_SERVICE};

/// Name of the v1alpha reflection service.
pub const REFLECTION_V1ALPHA_SERVICE: &str = "grpc.reflection.v1alpha.ServerReflection";

fn builder<'b>(services: &[&str], extra_sets: &[&'b [u8]]) -> Builder<'b> {
    let mut b = Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET);
    for set in extra_sets {
        b = b.register_encoded_file_descriptor_set(set);
    }
    for name in services.iter().copied().chain([
        HEALTH_SERVICE,
        REFLECTION_SERVICE,
        REFLECTION_V1ALPHA_SERVICE,
    ]) {
        b = b.with_service_name(name);
    }
    b
}

/// The v1 and v1alpha reflection services for `services` (plus health and reflection itself);
/// `extra_sets` are encoded descriptor sets besides wavegate's own (e.g. tonic-health's).
#[allow(clippy::type_complexity)] // two opaque server types; an alias cannot name them
pub fn services(
    services: &[&str],
    extra_sets: &[&[u8]],
) -> Result<
    (
        v1::ServerReflectionServer<impl v1::ServerReflection>,
        v1alpha::ServerReflectionServer<impl v1alpha::ServerReflection>,
    ),
    Error,
> {
    Ok((
        builder(services, extra_sets).build_v1()?,
        builder(services, extra_sets).build_v1alpha()?,
    ))
}
