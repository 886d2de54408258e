//! Small filesystems for tests of a full disk and of archives that expand
//! beyond it: an ext4 image in a sparse file, loop-mounted (as root; ext4
//! is what a real store lives on, and how redb meets ENOSPC depends on the
//! filesystem), unmounted and removed when dropped. `mkfs.ext4` comes from
//! e2fsprogs (`bash tests/deps.sh`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::TestRoot;

pub struct SmallDisk {
    dir: TempDir,
    pub mount: PathBuf,
}

impl SmallDisk {
    /// A fresh ext4 filesystem of `megabytes`, mounted.
    pub fn ext4(megabytes: u64) -> SmallDisk {
        let dir = tempfile::Builder::new().prefix("strata-disk-").tempdir().expect("create a directory for the disk image");
        let image = dir.path().join("disk.img");
        std::fs::File::create(&image).and_then(|f| f.set_len(megabytes << 20)).expect("create the disk image");
        run(Command::new("mkfs.ext4").args(["-q", "-F", "-m", "0"]).arg(&image), "mkfs.ext4 (e2fsprogs: bash tests/deps.sh)");
        let mount = dir.path().join("mnt");
        fs_err::create_dir(&mount).expect("create the mount point");
        run(Command::new("mount").args(["-o", "loop"]).arg(&image).arg(&mount), "mount -o loop (needs root and loop devices)");
        SmallDisk { dir, mount }
    }

    /// A store on this filesystem (scratch space stays off it).
    pub fn store(&self) -> TestRoot {
        TestRoot::with_root(self.mount.join("root"))
    }

    /// Bytes free for unprivileged writers.
    pub fn free(&self) -> u64 {
        free_space(&self.mount)
    }

    /// Writes zeros to a file outside the store until the filesystem is
    /// full, to the last block; returns the file.
    pub fn fill(&self) -> PathBuf {
        let path = self.mount.join("filler");
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).expect("create the filler");
        for chunk in [1 << 20, 4096, 1] {
            let zeros = vec![0u8; chunk];
            loop {
                match file.write_all(&zeros) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(28) => break,
                    Err(e) => panic!("fill {}: {e}", path.display()),
                }
            }
        }
        let _ = file.sync_all();
        assert_eq!(self.free(), 0, "the filesystem is full");
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazily: a failed test may leave a process with a file open there.
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

/// `f_bavail * f_frsize` of the filesystem holding `path`.
pub fn free_space(path: &Path) -> u64 {
    let output = Command::new("stat").args(["-f", "-c", "%a %S"]).arg(path).output().expect("run stat -f");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().expect("stat -f prints numbers"));
    fields.next().unwrap_or(0) * fields.next().unwrap_or(0)
}

fn run(command: &mut Command, what: &str) {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(output.status.success(), "{what} failed: {}", String::from_utf8_lossy(&output.stderr));
}
