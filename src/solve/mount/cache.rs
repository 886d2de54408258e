//! `RUN --mount=type=cache`: a directory kept in the store across builds,
//! one per `id`, never part of a layer.

use std::path::{Path, PathBuf};

use super::{set_owner_and_mode, MountSet};
use crate::digest::Digest;
use crate::exec::Bind;
use crate::plan::{CacheMount, Sharing};
use crate::solve::{SolveError, Solver};
use crate::store::Lock;

pub(super) fn realise(solver: &Solver<'_>, mount: &CacheMount, set: &mut MountSet<'_>) -> Result<(), SolveError> {
    let dir = directory(solver, mount, set)?;
    set.binds.push(Bind { source: dir, target: mount.target.clone(), read_only: mount.readonly });
    Ok(())
}

/// The cache's directory, created with `mode`/`uid`/`gid` (0755, root).
/// `sharing=locked` waits for other users of the cache; `sharing=private`
/// takes a fresh, throwaway directory when the cache is in use; `shared`
/// (the default) lets concurrent steps share it.
fn directory(solver: &Solver<'_>, mount: &CacheMount, set: &mut MountSet<'_>) -> Result<PathBuf, SolveError> {
    let base = solver.store.cache_mounts_dir();
    let name = Digest::of(mount.id.as_bytes()).hex();
    let dir = base.join(&name);
    // Held while the step runs, before the directory is looked at, so
    // `strata cache prune` never removes a cache in use.
    fs_err::create_dir_all(&base).map_err(|e| SolveError::io("create", &base, e))?;
    set.guards.locks.push(Lock::shared(&base.join(format!("{name}.use")))?);
    if !dir.exists() {
        create(solver, mount, &base, &dir)?;
    }
    let lock = base.join(format!("{name}.lock"));
    match mount.sharing {
        Sharing::Shared => Ok(dir),
        Sharing::Locked => {
            set.guards.locks.push(Lock::exclusive(&lock)?);
            Ok(dir)
        }
        Sharing::Private => match Lock::try_exclusive(&lock)? {
            Some(held) => {
                set.guards.locks.push(held);
                Ok(dir)
            }
            None => {
                let private = solver.store.temp_dir("cache-private")?;
                set.guards.temp_dirs.push(private.clone());
                make_dir(&private, mount)?;
                Ok(private)
            }
        },
    }
}

/// Made in the store's tmp/ (same filesystem) and renamed into place whole;
/// if another build made it meanwhile, theirs stays.
fn create(solver: &Solver<'_>, mount: &CacheMount, base: &Path, dir: &Path) -> Result<(), SolveError> {
    let fresh = solver.store.temp_dir("cache")?;
    make_dir(&fresh, mount)?;
    fs_err::create_dir_all(base).map_err(|e| SolveError::io("create", base, e))?;
    if let Err(e) = fs_err::rename(&fresh, dir) {
        let _ = fs_err::remove_dir_all(&fresh);
        if !dir.exists() {
            return Err(SolveError::io("create", dir, e));
        }
    }
    Ok(())
}

/// A new cache directory with the mount's `mode` (octal), `uid` and `gid`.
fn make_dir(dir: &Path, mount: &CacheMount) -> Result<(), SolveError> {
    fs_err::create_dir_all(dir).map_err(|e| SolveError::io("create", dir, e))?;
    set_owner_and_mode(dir, &mount.owner, 0o755)
}
