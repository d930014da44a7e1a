//! A PostgreSQL database on a small filesystem, for disk-full tests against the machine's
//! shared PostgreSQL server: a tmpfs ([`SmallDisk`]) owned by `postgres`, a tablespace on it
//! (`CREATE TABLESPACE … LOCATION`, docs: postgresql.org/docs/15/manage-ag-tablespaces.html)
//! and a fresh database whose default tablespace it is, so its tables, indexes and temporary
//! tables live there (its WAL stays on the server's own disk). Everything is dropped when the
//! guard is dropped, also when the test panics.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::small_disk::SmallDisk;

/// The database, its tablespace and the tmpfs under it.
pub struct PgSmallDisk {
    admin: String,
    name: String,
    /// The database's URL.
    pub url: String,
    disk: Option<SmallDisk>,
    dir: PathBuf,
}

/// Why the database could not be set up (the test is skipped with it).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Skip(String);

impl PgSmallDisk {
    /// Mounts a tmpfs of `size` at a fresh directory under `/tmp` (the server's user must
    /// reach it: a root-only temporary directory would not do), hands it to `postgres` and
    /// creates a tablespace and a database on it. `admin` is a superuser URL of the server;
    /// the server must run on this machine.
    pub fn create(admin: &str, size: &str) -> Result<Self, Skip> {
        let tag = format!(
            "wg_disk_{}_{}",
            std::process::id(),
            chrono::Utc::now().timestamp_micros()
        );
        let dir = PathBuf::from("/tmp").join(&tag);
        let disk = SmallDisk::mount(&dir, size)
            .ok_or_else(|| Skip("mounting a tmpfs needs root (CAP_SYS_ADMIN)".into()))?;
        let mut me = Self {
            admin: admin.to_owned(),
            name: tag.clone(),
            url: String::new(),
            disk: Some(disk),
            dir: dir.clone(),
        };
        let space = dir.join("pg");
        std::fs::create_dir_all(&space).map_err(|e| Skip(format!("{}: {e}", space.display())))?;
        let owned = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !owned {
            return Err(Skip("no `postgres` user to own the tablespace".into()));
        }
        psql(
            admin,
            &format!("CREATE TABLESPACE {tag} LOCATION '{}'", space.display()),
        )
        .map_err(|e| {
            Skip(format!(
                "the server cannot use the tmpfs (not on this machine?): {e}"
            ))
        })?;
        psql(admin, &format!("CREATE DATABASE {tag} TABLESPACE {tag}")).map_err(Skip)?;
        let base = admin
            .rsplit_once('/')
            .map_or(admin, |(base, _)| base)
            .to_owned();
        me.url = format!("{base}/{tag}");
        Ok(me)
    }

    /// The small disk.
    pub fn disk(&self) -> &SmallDisk {
        // Set in `create`, taken only in `drop`.
        self.disk.as_ref().expect("the disk is mounted")
    }

    /// Where the tmpfs is mounted.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for PgSmallDisk {
    fn drop(&mut self) {
        // Space first, so the drops below can write what they must.
        if let Some(disk) = &self.disk {
            disk.free_if_filled();
        }
        let _ = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
        let _ = psql(
            &self.admin,
            &format!("DROP TABLESPACE IF EXISTS {}", self.name),
        );
        drop(self.disk.take());
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn psql(url: &str, sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
