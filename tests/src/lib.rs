//! Test support for wavegate's end-to-end tests: start the real binaries on port 0, read the
//! address they announce, wait until their gRPC health service says `SERVING`, and kill them
//! when the test is done.
//!
//! A scenario then reads as what it checks:
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! let dir = tempfile::tempdir()?;
//! let agent = wavegate_tests::Proc::spawn(
//!     "wavegate-agent",
//!     "listen = \"127.0.0.1:0\"\nexchange_id = 1\n",
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
mod proc;
pub mod signal_server;
pub mod small_disk;
pub mod tls;
pub mod worked_example;

pub use proc::{Proc, ProcBuilder};

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a process may take to become healthy before the test fails.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A TCP port on 127.0.0.1 that was free a moment ago (bound, then released): for an address
/// nothing should listen on, or a client that does not announce its own. A server under test
/// binds port 0 and announces its address instead (see [`Proc`]).
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
