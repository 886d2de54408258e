//! Leases: what a running build holds, so a prune in another process
//! leaves it alone.
//!
//! A process that uses layers writes them, one diff_id per line, to its own
//! file `leases/<pid>-<nanos>`, on which it holds an exclusive flock for its
//! whole life. A reader takes a live lease's lines as held; a lease whose
//! flock it can take belongs to a dead process and is removed.
//!
//! Ordering is what makes this safe: a build appends to its lease while it
//! holds the `meta` lock (the same critical section in which it finds the
//! cache record, or just before it commits a new layer), and a prune reads
//! the leases, deletes records and removes files all under that lock. So a
//! layer is either leased before the prune looks, or its record is already
//! gone when the build looks for it (a miss: the step runs again).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::fcntl::{Flock, FlockArg};

use super::StoreError;
use crate::digest::Digest;

/// This process's lease, created on first use.
#[derive(Default)]
pub struct Lease {
    held: Mutex<Option<Held>>,
}

struct Held {
    file: Flock<File>,
    path: PathBuf,
    layers: BTreeSet<Digest>,
}

impl Lease {
    /// Adds `diff_id` to this process's lease (once). Call it with the
    /// `meta` lock held (see the module docs).
    pub fn hold(&self, dir: &Path, diff_id: &Digest) -> Result<(), StoreError> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.as_ref().is_some_and(|h| h.layers.contains(diff_id)) {
            return Ok(());
        }
        if held.is_none() {
            let (file, path) = create(dir)?;
            *held = Some(Held { file, path, layers: BTreeSet::new() });
        }
        let Some(held) = held.as_mut() else { return Ok(()) };
        writeln!(&*held.file, "{}", diff_id.hex()).map_err(|e| StoreError::io("write lease", dir, e))?;
        held.layers.insert(*diff_id);
        Ok(())
    }
}

impl Lease {
    /// Ends the lease (once this process no longer needs what it held).
    pub fn release(&self) {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(held) = held {
            // Unlinked while still locked, then unlocked by the drop.
            let _ = fs_err::remove_file(&held.path);
        }
    }
}

impl Drop for Lease {
    /// A process that ends normally leaves no lease file behind (a killed
    /// one's is removed by the next reader).
    fn drop(&mut self) {
        self.release();
    }
}

/// A new lease file, locked; its name is unique to this process and moment.
fn create(dir: &Path) -> Result<(Flock<File>, PathBuf), StoreError> {
    fs_err::create_dir_all(dir).map_err(|e| StoreError::io("create", dir, e))?;
    let (file, path) = super::blobs::temp_file(dir, "lease")?;
    let locked = Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| StoreError::io("lock", &path, e.into()))?;
    Ok((locked, path))
}

/// Every layer a live lease holds (this process's own included: flock
/// treats each open file separately). Leases of dead processes are removed.
pub fn held_layers(dir: &Path) -> Result<BTreeSet<Digest>, StoreError> {
    let mut layers = BTreeSet::new();
    let entries = match fs_err::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(layers),
        Err(e) => return Err(StoreError::io("list", dir, e)),
    };
    for entry in entries {
        let path = entry.map_err(|e| StoreError::io("list", dir, e))?.path();
        if let Some(lines) = read_live(&path)? {
            layers.extend(lines.lines().filter_map(|line| Digest::from_hex(line.trim()).ok()));
        }
    }
    Ok(layers)
}

/// A lease's text if its process is alive; removes it otherwise.
fn read_live(path: &Path) -> Result<Option<String>, StoreError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io("open lease", path, e)),
    };
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_dead) => {
            let _ = fs_err::remove_file(path);
            Ok(None)
        }
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => fs_err::read_to_string(path).map(Some).map_err(|e| StoreError::io("read lease", path, e)),
        Err((_, e)) => Err(StoreError::io("lock", path, e.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_lease_is_read_and_a_dead_one_removed() {
        let dir = tempfile::tempdir().unwrap();
        let lease = Lease::default();
        let layer = Digest::of(b"layer");
        lease.hold(dir.path(), &layer).unwrap();
        lease.hold(dir.path(), &layer).unwrap();
        // Held by another open file description: looks live.
        assert_eq!(held_layers(dir.path()).unwrap(), BTreeSet::from([layer]));
        lease.release();
        assert!(held_layers(dir.path()).unwrap().is_empty(), "released");
        lease.hold(dir.path(), &layer).unwrap();
        drop(lease);
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 0, "dropped, the lease is gone");

        // A lease whose process died: its file stays, unlocked, until read.
        fs_err::write(dir.path().join("lease-dead"), format!("{}\n", layer.hex())).unwrap();
        assert!(held_layers(dir.path()).unwrap().is_empty());
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 0, "the dead lease is gone");
    }
}
