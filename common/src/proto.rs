//! Generated gRPC code for `wavegate.v1` and small conversions around it.

#[allow(missing_docs, clippy::all, clippy::pedantic)]
mod generated {
    tonic::include_proto!("wavegate.v1");
}

/// Messages (from `wavegate-core`) and services of `proto/wavegate/v1` (package `wavegate.v1`).
pub mod v1 {
    pub use super::generated::*;
    pub use wavegate_core::pb::*;
}

/// Encoded `FileDescriptorSet` of the contract, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("wavegate_descriptor");

/// Version of the coordinator↔agent protocol this build speaks (`Start.protocol_version`).
pub const PROTOCOL_VERSION: u32 = 1;

/// Name of the standard gRPC health service, advertised by every wavegate server's reflection.
pub const HEALTH_SERVICE: &str = "grpc.health.v1.Health";

/// Name of the gRPC reflection service (v1), advertised by its own reflection.
pub const REFLECTION_SERVICE: &str = "grpc.reflection.v1.ServerReflection";

/// Longest `CancelWaveRequest.reason` the coordinator accepts, in characters (the CLI checks it
/// before calling).
pub const MAX_CANCEL_REASON_CHARS: usize = 512;

/// Reason of a `Waves.Cancel` call that gives none.
pub const DEFAULT_CANCEL_REASON: &str = "cancelled by an operator";

/// The reason a `Waves.Cancel` call records: trimmed, [`DEFAULT_CANCEL_REASON`] when empty. The
/// error says what is wrong with it: more than [`MAX_CANCEL_REASON_CHARS`] characters, or a
/// control character (it goes into logs and events verbatim).
pub fn cancel_reason(raw: &str) -> Result<String, String> {
    let r = raw.trim();
    if r.chars().count() > MAX_CANCEL_REASON_CHARS {
        return Err(format!("at most {MAX_CANCEL_REASON_CHARS} characters"));
    }
    if r.chars().any(char::is_control) {
        return Err("must not contain control characters (e.g. newlines)".into());
    }
    Ok(if r.is_empty() {
        DEFAULT_CANCEL_REASON.to_owned()
    } else {
        r.to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_reasons_are_trimmed_defaulted_and_bounded() {
        assert_eq!(cancel_reason("  drill \t").unwrap(), "drill");
        assert_eq!(cancel_reason(" ").unwrap(), DEFAULT_CANCEL_REASON);
        let long = "x".repeat(MAX_CANCEL_REASON_CHARS);
        assert_eq!(cancel_reason(&long).unwrap(), long);
        assert!(
            cancel_reason(&format!("{long}y"))
                .unwrap_err()
                .contains("512")
        );
        assert!(cancel_reason("a\nb").is_err());
    }
}
