//! The reserve: `<root>/reserve`, a file of preallocated blocks that only a
//! prune or a garbage collection gives back.
//!
//! Freeing space needs space: deleting cache records is a redb commit, and
//! redb writes new pages before it frees the old ones, so on a full disk
//! the one command that would free space failed with ENOSPC. Removing the
//! blobs before the records instead would leave records pointing at
//! missing files when killed midway. So the store keeps blocks aside while
//! there is room, and a prune that finds the filesystem nearly full
//! releases them first: its commit then has room, and the files it removes
//! afterwards make room for the reserve again. Killed anywhere, the store
//! is as consistent as any prune leaves it; the reserve is made again by
//! the next command that finds room for it.

use std::path::{Path, PathBuf};

use super::StoreError;

/// The reserve is 2% of the filesystem, within these bounds.
const MIN_RESERVE: u64 = 4 << 20;
const MAX_RESERVE: u64 = 64 << 20;

/// The store's reserve file.
#[derive(Debug, Clone)]
pub struct Reserve {
    path: PathBuf,
    tmp: PathBuf,
}

impl Reserve {
    pub(super) fn new(root: &Path, tmp: PathBuf) -> Reserve {
        Reserve { path: root.join("reserve"), tmp }
    }

    /// How big the reserve of the filesystem holding `dir` is.
    fn size(dir: &Path) -> Result<u64, StoreError> {
        let stats = rustix::fs::statvfs(dir).map_err(|e| StoreError::io("measure the filesystem of", dir, e.into()))?;
        Ok((stats.f_blocks.saturating_mul(stats.f_frsize) / 50).clamp(MIN_RESERVE, MAX_RESERVE))
    }

    /// Makes the reserve when it is missing and the filesystem has room for
    /// it twice over (so it never takes the last free space itself). Written
    /// beside and renamed into place, so it is whole or absent.
    pub fn ensure(&self) -> Result<(), StoreError> {
        if self.path.exists() {
            return Ok(());
        }
        let size = Reserve::size(&self.tmp)?;
        if free_space(&self.tmp)? < size.saturating_mul(2) {
            return Ok(());
        }
        let (file, tmp) = match super::blobs::temp_file(&self.tmp, "reserve") {
            Err(StoreError::Io { source, .. }) if no_room(&source) => return Ok(()),
            other => other?,
        };
        // Real blocks (not a sparse file): only they can be given back.
        let allocated = match rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, size) {
            Ok(()) => fs_err::rename(&tmp, &self.path).map_err(|e| StoreError::io("rename", &self.path, e)),
            // Filled meanwhile, or a filesystem without fallocate: a store
            // without a reserve works as before.
            Err(e) if no_room(&e.into()) => Ok(()),
            Err(e) => Err(StoreError::io("allocate", &tmp, e.into())),
        };
        let _ = fs_err::remove_file(&tmp);
        allocated
    }

    /// Gives the reserve back when the filesystem has less free space than
    /// the reserve holds; returns whether it did.
    pub fn release_if_short(&self) -> Result<bool, StoreError> {
        let dir = self.path.parent().unwrap_or(Path::new("/"));
        if free_space(dir)? >= Reserve::size(dir)? {
            return Ok(false);
        }
        match fs_err::remove_file(&self.path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io("release", &self.path, e)),
        }
    }
}

/// ENOSPC, EDQUOT or EOPNOTSUPP: reasons to go without a reserve.
fn no_room(error: &std::io::Error) -> bool {
    use rustix::io::Errno;
    error.raw_os_error().is_some_and(|raw| [Errno::NOSPC, Errno::DQUOT, Errno::OPNOTSUPP].contains(&Errno::from_raw_os_error(raw)))
}

/// Bytes an unprivileged writer may still use on the filesystem of `dir`
/// (root may use a few percent more on ext4; no strata write counts on it).
pub fn free_space(dir: &Path) -> Result<u64, StoreError> {
    let stats = rustix::fs::statvfs(dir).map_err(|e| StoreError::io("measure the free space of", dir, e.into()))?;
    Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
}
