//! The raw mount syscalls strata needs, behind safe functions. Everything
//! here goes through rustix's and nix's safe wrappers: no `unsafe`.
//!
//! Overlay mounts use the new mount API (`fsopen`/`fsconfig`/`fsmount`/
//! `move_mount`) with one `lowerdir+` call per layer, so the number of
//! layers is not limited by the one-page option string of `mount(2)`
//! (which stops Docker and BuildKit at about 128 layers).

use std::io;
use std::path::Path;

use rustix::mount::{
    fsconfig_create, fsconfig_set_string, fsmount, fsopen, move_mount, unmount, FsMountFlags, FsOpenFlags,
    MountAttrFlags, MoveMountFlags, UnmountFlags,
};

/// The directories of an overlay mount.
pub struct OverlayDirs<'a> {
    /// Lower layers, topmost first.
    pub lowers: &'a [&'a Path],
    /// Upper and work dir (same filesystem); `None` mounts read-only.
    pub upper: Option<(&'a Path, &'a Path)>,
}

/// Mounts an overlay filesystem of `dirs` at `target`.
pub fn mount_overlay(dirs: &OverlayDirs<'_>, target: &Path) -> io::Result<()> {
    let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    for lower in dirs.lowers {
        fsconfig_set_string(&fs, "lowerdir+", *lower)?;
    }
    if let Some((upper, work)) = dirs.upper {
        fsconfig_set_string(&fs, "upperdir", upper)?;
        fsconfig_set_string(&fs, "workdir", work)?;
    }
    fsconfig_create(&fs)?;
    let attrs = if dirs.upper.is_none() { MountAttrFlags::MOUNT_ATTR_RDONLY } else { MountAttrFlags::empty() };
    let mount = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)?;
    move_mount(&mount, "", rustix::fs::CWD, target, MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH)?;
    Ok(())
}

/// Unmounts `target`; when it is busy, detaches it (it goes away once the
/// last user does).
pub fn unmount_or_detach(target: &Path) -> io::Result<()> {
    match unmount(target, UnmountFlags::empty()) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::BUSY) => Ok(unmount(target, UnmountFlags::DETACH)?),
        Err(e) => Err(e.into()),
    }
}
