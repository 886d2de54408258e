//! Opening a context path without ever leaving the context: `openat2` with
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS` from the root's descriptor, or, on
//! kernels without it (before 5.6, or a seccomp filter refusing it), one
//! `O_NOFOLLOW` component at a time. A path that a concurrent writer turned
//! into a symlink fails to open instead of leading elsewhere.

use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Opens `rel` (relative, `/`-separated, no `..`) below `root` with `flags`
/// plus `O_NOFOLLOW | O_CLOEXEC`; `""` opens the root itself again.
pub(crate) fn open(root: &OwnedFd, rel: &str, flags: OFlags) -> Result<OwnedFd, Errno> {
    let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let rel = if rel.is_empty() { "." } else { rel };
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        match rustix::fs::openat2(root, rel, flags, Mode::empty(), resolve) {
            Err(Errno::NOSYS | Errno::PERM) => NO_OPENAT2.store(true, Ordering::Relaxed),
            other => return other,
        }
    }
    let (dirs, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    let mut dir: Option<OwnedFd> = None;
    for component in dirs.split('/').filter(|c| !c.is_empty()) {
        let at = dir.as_ref().unwrap_or(root);
        let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        dir = Some(rustix::fs::openat(at, component, dir_flags, Mode::empty())?);
    }
    rustix::fs::openat(dir.as_ref().unwrap_or(root), name, flags, Mode::empty())
}
