//! `RUN --mount`s: what each kind of [`MountOp`] becomes in the step's
//! container (binds, tmpfs, environment) and what must outlive the process
//! (mounted sources, locks, agent forwards). One file per kind; the match in
//! [`Solver::realise_mount`] is the one place a kind is registered, so a new
//! mount type is its file, one line there, and its parse in `syntax`.

mod bind;
mod cache;
mod secret;
mod ssh;
mod tmpfs;

use std::path::{Path, PathBuf};

pub use secret::{SecretSpecError, Secrets};
pub use ssh::{SshAgents, SshSpecError};

use super::state::StageInputs;
use super::{SolveError, Solver};
use crate::exec::{Bind, Rootfs, SocketForward, Tmpfs};
use crate::plan::{MountOp, MountOwner};
use crate::store::Lock;

/// What the mounts of one RUN add to its container, gathered in order.
pub(super) struct MountSet<'a> {
    /// The step's private directory (files made for the container).
    pub scratch: &'a Path,
    /// Built stages, for `from=STAGE` sources.
    pub results: &'a StageInputs,
    /// The container's environment (`KEY=VALUE`), which mounts may extend.
    pub env: Vec<String>,
    pub binds: Vec<Bind>,
    pub tmpfs: Vec<Tmpfs>,
    pub guards: RunGuards,
}

impl Solver<'_> {
    /// Adds `mount` to `set`: the one registration point of mount kinds.
    pub(super) fn realise_mount(&self, mount: &MountOp, set: &mut MountSet<'_>) -> Result<(), SolveError> {
        match mount {
            MountOp::Bind(bind) => bind::realise(self, bind, set),
            MountOp::Cache(cache) => cache::realise(self, cache, set),
            MountOp::Tmpfs(tmpfs) => tmpfs::realise(tmpfs, set),
            MountOp::Secret(secret) => secret::realise(self, secret, set),
            MountOp::Ssh(ssh) => ssh::realise(self, ssh, set),
        }
    }
}

/// What must outlive a RUN's process: bind-mounted stage and image
/// filesystems, the locks of cache mounts, ssh agent forwards.
#[derive(Default)]
pub(super) struct RunGuards {
    pub mounts: Vec<Rootfs>,
    pub locks: Vec<Lock>,
    pub agents: Vec<SocketForward>,
    /// Throwaway `sharing=private` caches, removed with the guards.
    pub temp_dirs: Vec<PathBuf>,
}

impl Drop for RunGuards {
    fn drop(&mut self) {
        self.mounts.clear();
        for dir in &self.temp_dirs {
            let _ = fs_err::remove_dir_all(dir);
        }
    }
}

/// Gives what a mount made (cache directory, secret file, agent socket)
/// the mount's `uid`/`gid` (default root) and octal `mode` (else `default_mode`).
fn set_owner_and_mode(path: &Path, owner: &MountOwner, default_mode: u32) -> Result<(), SolveError> {
    let number = |text: Option<&String>, radix: u32| text.and_then(|t| u32::from_str_radix(t, radix).ok());
    let (uid, gid) = (number(owner.uid.as_ref(), 10).unwrap_or(0), number(owner.gid.as_ref(), 10).unwrap_or(0));
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|e| SolveError::io("chown", path, e))?;
    let mode = number(owner.mode.as_ref(), 8).unwrap_or(default_mode);
    fs_err::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).map_err(|e| SolveError::io("chmod", path, e))
}
