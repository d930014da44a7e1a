//! A small filesystem for disk-full tests: a tmpfs of a few megabytes, filled with a ballast
//! file until the kernel answers `ENOSPC`, then freed again.

use std::path::{Path, PathBuf};

/// A small tmpfs mounted for one test, so the disk can really fill up; unmounted (lazily,
/// processes may still hold files) when dropped.
pub struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `size` (`mount -o size=`) at `path`; `None` when this process may not
    /// mount (not root, no `CAP_SYS_ADMIN`).
    pub fn mount(path: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(path).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self {
            path: path.to_owned(),
        })
    }

    /// Writes a ballast file until the disk is full (ENOSPC).
    pub fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.path.join("ballast")).unwrap();
        let chunk = vec![0u8; 16 * 1024];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
        // Whatever is left of a partial block too.
        while f.write(&[0u8; 512]).is_ok_and(|n| n > 0) {}
    }

    /// Frees the space [`SmallDisk::fill`] took.
    pub fn free(&self) {
        std::fs::remove_file(self.path.join("ballast")).unwrap();
    }

    /// [`SmallDisk::free`] when filled, nothing otherwise (for clean-ups).
    pub fn free_if_filled(&self) {
        let _ = std::fs::remove_file(self.path.join("ballast"));
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}
