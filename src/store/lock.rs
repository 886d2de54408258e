//! Process-level locks on the store (flock): they keep concurrent strata
//! processes from corrupting it. flock locks die with their process, so a
//! killed build never leaves a stale lock behind.

use std::fs::{File, OpenOptions};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use super::StoreError;

/// A held lock; released when dropped.
pub struct Lock {
    _held: Flock<File>,
}

fn open(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new().create(true).truncate(false).write(true).open(path).map_err(|source| StoreError::io("open lock", path, source))
}

fn lock_error(path: &Path, errno: nix::errno::Errno) -> StoreError {
    StoreError::io("lock", path, std::io::Error::from(errno))
}

impl Lock {
    /// Waits for an exclusive lock.
    pub fn exclusive(path: &Path) -> Result<Lock, StoreError> {
        let held = Flock::lock(open(path)?, FlockArg::LockExclusive).map_err(|(_, e)| lock_error(path, e))?;
        Ok(Lock { _held: held })
    }

    /// Waits for a shared lock.
    pub fn shared(path: &Path) -> Result<Lock, StoreError> {
        let held = Flock::lock(open(path)?, FlockArg::LockShared).map_err(|(_, e)| lock_error(path, e))?;
        Ok(Lock { _held: held })
    }

    /// Takes an exclusive lock only if nobody holds the lock now.
    pub fn try_exclusive(path: &Path) -> Result<Option<Lock>, StoreError> {
        match Flock::lock(open(path)?, FlockArg::LockExclusiveNonblock) {
            Ok(held) => Ok(Some(Lock { _held: held })),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(lock_error(path, e)),
        }
    }
}
