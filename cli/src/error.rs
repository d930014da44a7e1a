//! CLI errors and exit codes: 1 rejected or failed, 2 usage or input, 3 coordinator unreachable.

/// Why a command did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input: a file, a scenario or an argument. The message names where and why.
    #[error("{0}")]
    Input(String),
    /// The coordinator could not be reached.
    #[error("coordinator unreachable at {endpoint}: {reason}")]
    Unreachable {
        /// Endpoint tried.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
    /// The coordinator answered a call with an error.
    #[error("{call}: {code}: {message}")]
    Refused {
        /// The call, e.g. `Waves.Get`.
        call: &'static str,
        /// gRPC code, in words.
        code: String,
        /// The coordinator's message.
        message: String,
    },
    /// The operation ran but did not succeed (rejected signals, failed wave, …).
    #[error("{0}")]
    Failed(String),
    /// The cluster of demo, dev, replay or bench could not start or stop.
    #[error("cluster: {0}")]
    Cluster(String),
    /// Local I/O (terminal, standard streams).
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Input(_) => 2,
            CliError::Unreachable { .. } => 3,
            CliError::Refused { .. } | CliError::Failed(_) | CliError::Cluster(_) => 1,
            CliError::Io(_) => 1,
        }
    }

    /// Maps a gRPC status of `call`: `UNAVAILABLE` is unreachable (3), anything else refused (1).
    pub fn from_status(call: &'static str, endpoint: &str, status: &tonic::Status) -> Self {
        if status.code() == tonic::Code::Unavailable {
            return CliError::Unreachable {
                endpoint: endpoint.to_owned(),
                reason: status.message().to_owned(),
            };
        }
        CliError::Refused {
            call,
            code: format!("{:?}", status.code()),
            message: status.message().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_contract() {
        assert_eq!(CliError::Input("x".into()).exit_code(), 2);
        assert_eq!(CliError::Failed("x".into()).exit_code(), 1);
        let gone = CliError::from_status(
            "Waves.Get",
            "http://h:1",
            &tonic::Status::unavailable("down"),
        );
        assert_eq!(gone.exit_code(), 3);
        assert!(gone.to_string().contains("http://h:1"));
        let nf = CliError::from_status("Waves.Get", "e", &tonic::Status::not_found("no wave X"));
        assert_eq!(nf.exit_code(), 1);
        assert_eq!(nf.to_string(), "Waves.Get: NotFound: no wave X");
    }
}
