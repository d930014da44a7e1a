//! A child process: address from its "listening on" line, ready on `SERVING`, SIGKILL on drop.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::error::CliError;

/// Failure guard for start-up (a loaded machine may take a while).
const START_GUARD: Duration = Duration::from_secs(60);
/// How long a child may take to stop after SIGTERM before it is killed.
const STOP_GUARD: Duration = Duration::from_secs(30);
/// Bytes of a child's log quoted in a start-up error.
const LOG_TAIL: usize = 2000;

/// A running child; killed (SIGKILL) if dropped without [`ChildProc::terminate`].
pub(super) struct ChildProc {
    /// What it is, for messages: e.g. `binance agent`.
    what: String,
    child: Child,
    addr: SocketAddr,
}

/// The path of `name` next to the running executable, or an error with the build command.
pub(super) fn sibling_binary(name: &str) -> Result<PathBuf, CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Cluster(format!("cannot locate the wavegate executable: {e}")))?;
    let dir = exe
        .parent()
        .ok_or_else(|| CliError::Cluster(format!("{} has no parent directory", exe.display())))?;
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        Ok(path)
    } else {
        Err(CliError::Cluster(format!(
            "--processes and bench need {name} next to wavegate, but {} does not exist; \
             build all binaries with `cargo build --release --bins` (or `cargo build --bins` for debug)",
            path.display()
        )))
    }
}

/// The last [`LOG_TAIL`] bytes of `log` (whole lines), for an error message.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut start = text.len().saturating_sub(LOG_TAIL);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let tail = &text[start..];
    let tail = if start > 0 {
        tail.split_once('\n').map_or(tail, |(_, rest)| rest)
    } else {
        tail
    };
    if tail.trim().is_empty() {
        "(it printed nothing)".into()
    } else {
        format!("its log {}:\n{}", log.display(), tail.trim_end())
    }
}

impl ChildProc {
    /// Starts `bin --config config` logging to `log`, without `WAVEGATE_*` (it overrides the file).
    pub(super) async fn start(
        bin: &Path,
        what: &str,
        config: &Path,
        log: &Path,
    ) -> Result<Self, CliError> {
        let fail = |reason: String| CliError::Cluster(format!("{what}: {reason}"));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| fail(format!("log file {}: {e}", log.display())))?;
        let stderr = log_file
            .try_clone()
            .map_err(|e| fail(format!("log file {}: {e}", log.display())))?;
        let mut cmd = Command::new(bin);
        cmd.arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true);
        #[cfg(target_os = "linux")]
        // SAFETY: between fork and exec, one async-signal-safe prctl call. The kernel then
        // SIGTERMs the child if this process dies, so no agent keeps holding its ports.
        unsafe {
            cmd.pre_exec(|| {
                rustix::process::set_parent_process_death_signal(Some(
                    rustix::process::Signal::TERM,
                ))
                .map_err(std::io::Error::from)
            });
        }
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("WAVEGATE_") {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| fail(format!("cannot start {}: {e}", bin.display())))?;
        let Some(stdout) = child.stdout.take() else {
            // Invariant: stdout was set to piped above.
            return Err(fail("no stdout pipe".into()));
        };
        let ready = tokio::time::timeout(START_GUARD, async {
            let addr = read_listen_addr(stdout, log_file).await?;
            wait_serving(addr).await;
            Ok::<_, String>(addr)
        })
        .await;
        let addr = match ready {
            Ok(Ok(addr)) => addr,
            Ok(Err(reason)) => {
                // The child closed stdout: it is exiting; let it finish so its log is complete.
                let status = tokio::time::timeout(STOP_GUARD, child.wait()).await;
                let status = match status {
                    Ok(Ok(s)) => s.to_string(),
                    _ => "no exit status".into(),
                };
                return Err(fail(format!("{reason} ({status}); {}", log_tail(log))));
            }
            Err(_) => {
                let _ = child.kill().await;
                return Err(fail(format!(
                    "not ready within {START_GUARD:?}; {}",
                    log_tail(log)
                )));
            }
        };
        Ok(Self {
            what: what.to_owned(),
            child,
            addr,
        })
    }

    /// The child's gRPC address.
    pub(super) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// SIGTERM (the child flushes and closes its database), then waits; killed at [`STOP_GUARD`].
    pub(super) async fn terminate(mut self) {
        let pid = self
            .child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(rustix::process::Pid::from_raw);
        let Some(pid) = pid else {
            return;
        };
        if let Err(e) = rustix::process::kill_process(pid, rustix::process::Signal::TERM) {
            tracing::warn!(child = %self.what, error = %e, "SIGTERM failed");
        }
        match tokio::time::timeout(STOP_GUARD, self.child.wait()).await {
            Ok(Ok(status)) if !status.success() => {
                eprintln!("warning: {} exited with {status}", self.what);
            }
            Ok(_) => {}
            Err(_) => {
                eprintln!(
                    "warning: {} did not stop within {STOP_GUARD:?} of SIGTERM; killed",
                    self.what
                );
                let _ = self.child.kill().await;
            }
        }
    }
}

/// Reads up to the "listening on ADDR" line, then copies the rest to `log` (keeps the pipe open).
async fn read_listen_addr(stdout: ChildStdout, log: std::fs::File) -> Result<SocketAddr, String> {
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = match lines.next_line().await {
            Ok(Some(l)) => l,
            Ok(None) => return Err("exited before listening".into()),
            Err(e) => return Err(format!("reading its output: {e}")),
        };
        let Some((_, addr)) = line.split_once(" listening on ") else {
            continue;
        };
        let addr: SocketAddr = addr
            .trim()
            .parse()
            .map_err(|e| format!("unexpected line {line:?}: {e}"))?;
        let mut rest = lines.into_inner();
        let mut log = tokio::fs::File::from_std(log);
        tokio::spawn(async move {
            // Best effort: the log is for people, losing its tail must not stop the child.
            let _ = tokio::io::copy(&mut rest, &mut log).await;
        });
        return Ok(addr);
    }
}

/// Polls the standard gRPC health service at `addr` until it reports `SERVING`.
async fn wait_serving(addr: SocketAddr) {
    let endpoint = format!("http://{addr}");
    loop {
        if let Ok(ep) = tonic::transport::Endpoint::from_shared(endpoint.clone())
            && let Ok(ch) = ep.connect().await
            && let Ok(r) = HealthClient::new(ch)
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
            && r.get_ref().status == ServingStatus::Serving as i32
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
