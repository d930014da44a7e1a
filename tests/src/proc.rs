//! The one process harness of the tests: a wavegate binary (or any program) started with an
//! optional config file, extra arguments and environment, its stdout and stderr in a log file.
//!
//! A server binding port 0 is found by its `<bin> listening on ADDR` line (and `<bin> metrics
//! on http://ADDR/metrics`), then waited for until its gRPC health service says `SERVING`,
//! over TLS when asked. A restart binds the address of the first start again. The process is
//! killed on drop, and a failing test prints the tail of its log.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};
use tonic::transport::{ClientTlsConfig, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::{START_TIMEOUT, binary};

/// How often the announcement and health are polled while a process starts.
const POLL: Duration = Duration::from_millis(10);

/// Lines of a process's log a failing test prints.
const LOG_TAIL_LINES: usize = 80;

/// What [`ProcBuilder::spawn`] waits for before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ready {
    /// The `listening on` line, then gRPC health `SERVING`.
    Serving,
    /// Nothing: the process is started (a client such as `wavegate bridge`).
    Started,
}

/// How to start a process; see [`Proc::builder`].
pub struct ProcBuilder {
    bin: String,
    program: Option<PathBuf>,
    dir: PathBuf,
    config: Option<String>,
    args: Vec<OsString>,
    env: Vec<(String, Option<String>)>,
    tls: Option<ClientTlsConfig>,
    ready: Ready,
}

impl ProcBuilder {
    /// Runs `program` instead of the workspace binary `bin` (e.g. `env!("CARGO_BIN_EXE_…")`).
    pub fn program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = Some(program.into());
        self
    }

    /// Writes `toml` to a file in the directory and passes `--config <file>` first.
    pub fn config(mut self, toml: &str) -> Self {
        self.config = Some(toml.to_owned());
        self
    }

    /// Appends command-line arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable (`RUST_LOG` is `info` unless set here or in the test's).
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_owned(), Some(value.into())));
        self
    }

    /// Removes an environment variable the test process may have.
    pub fn env_remove(mut self, key: &str) -> Self {
        self.env.push((key.to_owned(), None));
        self
    }

    /// Probes health over TLS with these client settings; [`Proc::endpoint`] is `https://`.
    pub fn tls(mut self, tls: ClientTlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Returns as soon as the process is started: no address to read, no health to wait for.
    pub fn no_wait(mut self) -> Self {
        self.ready = Ready::Started;
        self
    }

    /// Starts the process and waits until it is ready (see [`Proc`]).
    pub async fn spawn(self) -> anyhow::Result<Proc> {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let stem = match self.config.as_deref().and_then(listen_port) {
            // A fixed port names the files as before: the benches find a process by its config.
            Some(port) if port != 0 => format!("{}-{port}", self.bin),
            _ => format!("{}-{}-{n}", self.bin, std::process::id()),
        };
        let config = match &self.config {
            Some(toml) => {
                let path = self.dir.join(format!("{stem}.toml"));
                std::fs::write(&path, toml)
                    .with_context(|| format!("writing {}", path.display()))?;
                Some(path)
            }
            None => None,
        };
        let mut p = Proc {
            log: self.dir.join(format!("{stem}.log")),
            program: self.program.unwrap_or_else(|| binary(&self.bin)),
            bin: self.bin,
            config,
            args: self.args,
            env: self.env,
            tls: self.tls,
            ready: self.ready,
            addr: None,
            run_from: 0,
            child: None,
        };
        p.start().await?;
        Ok(p)
    }
}

/// A running process, killed when dropped.
pub struct Proc {
    bin: String,
    program: PathBuf,
    config: Option<PathBuf>,
    args: Vec<OsString>,
    env: Vec<(String, Option<String>)>,
    tls: Option<ClientTlsConfig>,
    ready: Ready,
    addr: Option<SocketAddr>,
    /// Where this run's output starts in the log.
    run_from: u64,
    log: PathBuf,
    child: Option<Child>,
}

impl Proc {
    /// A builder for the workspace binary `bin`, its config and log files in `dir`.
    pub fn builder(bin: &str, dir: &Path) -> ProcBuilder {
        ProcBuilder {
            bin: bin.to_owned(),
            program: None,
            dir: dir.to_owned(),
            config: None,
            args: Vec::new(),
            env: Vec::new(),
            tls: None,
            ready: Ready::Serving,
        }
    }

    /// Starts `bin --config <config_toml written to dir>` and waits until it serves.
    pub async fn spawn(bin: &str, config_toml: &str, dir: &Path) -> anyhow::Result<Self> {
        Self::builder(bin, dir).config(config_toml).spawn().await
    }

    /// Like [`Proc::spawn`], with extra command-line arguments after `--config <file>`.
    pub async fn spawn_with_args(
        bin: &str,
        config_toml: &str,
        dir: &Path,
        args: &[&str],
    ) -> anyhow::Result<Self> {
        Self::builder(bin, dir)
            .config(config_toml)
            .args(args)
            .spawn()
            .await
    }

    async fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        // Announcements of an earlier run are in the log too: read only what this one prints.
        self.run_from = log.metadata()?.len();
        let mut cmd = Command::new(&self.program);
        if let Some(config) = &self.config {
            cmd.arg("--config").arg(config);
        }
        let mut args = self.args.clone();
        // A restart binds where the first start announced, so its peers still reach it.
        if let Some(addr) = self.addr {
            match args.iter().position(|a| a == "--listen") {
                Some(i) if i + 1 < args.len() => args[i + 1] = addr.to_string().into(),
                _ => {
                    args.insert(0, addr.to_string().into());
                    args.insert(0, "--listen".into());
                }
            }
        }
        cmd.args(&args).env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        );
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.program.display()))?;
        self.child = Some(child);
        if self.ready == Ready::Started {
            return Ok(());
        }
        if let Err(e) = self.wait_serving().await {
            bail!(
                "{} did not become healthy: {e:#}\n--- log ---\n{}",
                self.bin,
                self.log_text()
            );
        }
        Ok(())
    }

    /// Waits for this run's `listening on` line, then for health `SERVING`.
    async fn wait_serving(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let listening = format!("{} listening on ", self.bin);
        loop {
            self.check_running()?;
            let text = self.log_text();
            let new = text.get(self.run_from as usize..).unwrap_or_default();
            if let Some(addr) = announced(new, &listening) {
                self.addr = Some(addr);
                break;
            }
            if Instant::now() > deadline {
                bail!("no \"{listening}ADDR\" line after {START_TIMEOUT:?}");
            }
            tokio::time::sleep(POLL).await;
        }
        let mut endpoint = Endpoint::from_shared(self.endpoint())?;
        if let Some(tls) = &self.tls {
            endpoint = endpoint.tls_config(tls.clone())?;
        }
        loop {
            self.check_running()?;
            if let Ok(ch) = endpoint.connect().await
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
                bail!("not SERVING after {START_TIMEOUT:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait()?
        {
            bail!("exited with {status}");
        }
        Ok(())
    }

    /// `http://ADDR`, or `https://ADDR` when started with [`ProcBuilder::tls`].
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr())
    }

    /// The gRPC address it announced (panics for a process started with `no_wait`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
            .unwrap_or_else(|| panic!("{} announced no address", self.bin))
    }

    /// The `/metrics` address this run announced (printed just after the gRPC address).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        let prefix = format!("{} metrics on http://", self.bin);
        let text = self.log_text();
        text.get(self.run_from as usize..)?
            .lines()
            .find_map(|l| l.strip_prefix(&prefix)?.strip_suffix("/metrics"))
            .and_then(|a| a.parse().ok())
    }

    /// Everything the process printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log file's path.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The process id while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Kills the process at once (SIGKILL, as a crash would) and reaps it.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }

    /// Sends `signal` (a `kill -s` name: `STOP`, `CONT`, …) to the running process.
    pub async fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let pid = self.id().context("process is not running")?;
        let status = Command::new("kill")
            .args(["-s", signal, &pid.to_string()])
            .status()
            .await?;
        anyhow::ensure!(status.success(), "kill -s {signal} {pid} failed");
        Ok(())
    }

    /// Asks the process to stop (SIGTERM) and waits for it; its exit status.
    pub async fn terminate(&mut self) -> anyhow::Result<Option<std::process::ExitStatus>> {
        let Some(mut c) = self.child.take() else {
            return Ok(None);
        };
        if let Some(pid) = c.id() {
            let _ = Command::new("kill").arg(pid.to_string()).status().await;
        }
        let status = tokio::time::timeout(Duration::from_secs(30), c.wait())
            .await
            .context("process did not stop within 30 s of SIGTERM")??;
        Ok(Some(status))
    }

    /// Starts the process again with the same config and address (after [`Proc::kill`]).
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
        if std::thread::panicking() {
            let text = self.log_text();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
            eprintln!(
                "--- last {} lines of {} ({}) ---\n{}",
                tail.len(),
                self.bin,
                self.log.display(),
                tail.join("\n")
            );
        }
    }
}

/// The port of a config's `listen = "ip:port"` line.
fn listen_port(toml: &str) -> Option<u16> {
    toml.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        let addr: SocketAddr =
            (k.trim() == "listen").then(|| v.trim().trim_matches('"').parse().ok())??;
        Some(addr.port())
    })
}

/// The address on the first line of `text` starting with `prefix` (`<bin> listening on `).
fn announced(text: &str, prefix: &str) -> Option<SocketAddr> {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|a| a.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_announced_address() {
        let log = "2026 INFO agent listening addr=127.0.0.1:1\n\
                   wavegate-agent listening on 127.0.0.1:7101\n";
        assert_eq!(
            announced(log, "wavegate-agent listening on "),
            Some("127.0.0.1:7101".parse().unwrap())
        );
        assert_eq!(announced(log, "wavegate-coordinator listening on "), None);
    }

    #[test]
    fn reads_the_listen_port() {
        assert_eq!(
            listen_port("a = 1\nlisten = \"127.0.0.1:7101\"\n"),
            Some(7101)
        );
        assert_eq!(listen_port("listen = \"127.0.0.1:0\""), Some(0));
        assert_eq!(listen_port("nolisten = 1"), None);
    }
}
