//! Test support for wavegate's end-to-end tests: start the real binaries on free loopback ports,
//! wait until their gRPC health service says `SERVING`, and kill them when the test is done.
//!
//! A scenario then reads as what it checks:
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! let dir = tempfile::tempdir()?;
//! let port = wavegate_tests::free_port();
//! let agent = wavegate_tests::Proc::spawn(
//!     "wavegate-agent",
//!     &format!("listen = \"127.0.0.1:{port}\"\nexchange_id = 1\n"),
//!     dir.path(),
//! )
//! .await?;
//! println!("agent at {}", agent.endpoint());
//! # Ok(()) }
//! ```

pub mod db;
pub mod fake_exchange;
pub mod otlp;
pub mod pg_small_disk;
pub mod signal_server;
pub mod small_disk;
pub mod tls;
pub mod worked_example;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// How long a process may take to become healthy before the test fails.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A free TCP port on 127.0.0.1 (bound, then released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

/// The workspace's target directory for this test build (`target/debug`).
pub fn target_dir() -> PathBuf {
    // The test binary lives in target/<profile>/deps/.
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("test binary is in target/<profile>/deps")
}

/// Path of a workspace binary (`wavegate`, `wavegate-agent`, `wavegate-coordinator`).
///
/// `cargo test --workspace` builds them; a missing one fails with the command that builds it.
pub fn binary(name: &str) -> PathBuf {
    let p = target_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace --bins` (cargo test --workspace builds it)",
        p.display()
    );
    p
}

/// A running wavegate process, killed when dropped.
pub struct Proc {
    bin: String,
    args: Vec<String>,
    config: PathBuf,
    addr: SocketAddr,
    log: PathBuf,
    child: Option<Child>,
}

impl Proc {
    /// Writes `config_toml` to `dir/<bin>-<port>.toml` and starts `bin --config <file>`.
    ///
    /// The gRPC address is read from the config's `listen = "127.0.0.1:<port>"` line. Waits for
    /// the process's gRPC health service to report `SERVING`.
    pub async fn spawn(bin: &str, config_toml: &str, dir: &Path) -> anyhow::Result<Self> {
        Self::spawn_with_args(bin, config_toml, dir, &[]).await
    }

    /// Like [`Proc::spawn`], with extra command-line arguments after `--config <file>`.
    pub async fn spawn_with_args(
        bin: &str,
        config_toml: &str,
        dir: &Path,
        args: &[&str],
    ) -> anyhow::Result<Self> {
        let addr = listen_addr(config_toml).context("config has no listen = \"ip:port\" line")?;
        let config = dir.join(format!("{bin}-{}.toml", addr.port()));
        std::fs::write(&config, config_toml)?;
        let mut p = Proc {
            bin: bin.to_owned(),
            args: args.iter().map(|s| s.to_string()).collect(),
            log: dir.join(format!("{bin}-{}.log", addr.port())),
            config,
            addr,
            child: None,
        };
        p.start().await?;
        Ok(p)
    }

    async fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(binary(&self.bin))
            .arg("--config")
            .arg(&self.config)
            .args(&self.args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.bin))?;
        self.child = Some(child);
        if let Err(e) = self.wait_healthy().await {
            bail!(
                "{} did not become healthy: {e:#}\n--- log ---\n{}",
                self.bin,
                self.log_text()
            );
        }
        Ok(())
    }

    async fn wait_healthy(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("exited with {status}");
            }
            if let Ok(ch) = tonic::transport::Endpoint::from_shared(self.endpoint())?
                .connect()
                .await
                && let Ok(r) = HealthClient::new(ch)
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                && r.get_ref().status == ServingStatus::Serving as i32
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("timed out after {START_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The gRPC address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Everything the process printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }

    /// Sends `signal` (a `kill -s` name: `STOP`, `CONT`, …) to the running process.
    pub async fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let pid = self
            .child
            .as_ref()
            .and_then(Child::id)
            .context("process is not running")?;
        let status = Command::new("kill")
            .args(["-s", signal, &pid.to_string()])
            .status()
            .await?;
        anyhow::ensure!(status.success(), "kill -s {signal} {pid} failed");
        Ok(())
    }

    /// Asks the process to stop (SIGTERM) and waits for it.
    pub async fn terminate(&mut self) -> anyhow::Result<()> {
        if let Some(mut c) = self.child.take() {
            if let Some(pid) = c.id() {
                let _ = Command::new("kill").arg(pid.to_string()).status().await;
            }
            tokio::time::timeout(Duration::from_secs(30), c.wait())
                .await
                .context("process did not stop within 30 s of SIGTERM")??;
        }
        Ok(())
    }

    /// Starts the process again with the same config (after [`Proc::kill`]).
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill().await;
        self.start().await
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.start_kill();
        }
    }
}

/// Reads `listen = "ip:port"` from a TOML text.
fn listen_addr(toml: &str) -> Option<SocketAddr> {
    toml.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "listen").then(|| v.trim().trim_matches('"').parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_listen_line() {
        assert_eq!(
            listen_addr("a = 1\nlisten = \"127.0.0.1:7101\"\n"),
            Some("127.0.0.1:7101".parse().unwrap())
        );
        assert_eq!(listen_addr("nolisten = 1"), None);
    }
}
