//! The choice between the two ways of making a step's root filesystem:
//! an overlay mount of the snapshots (fast, the default) or a copy of them
//! whose changes are diffed afterwards (for filesystems or kernels where
//! overlayfs cannot be mounted). Both leave the changes in the same form.

use std::io;
use std::path::{Path, PathBuf};

use super::fuse::FuseMounted;
use super::native::{Copied, RootfsCopy};
use super::overlay::Mounted;

/// How root filesystems are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Snapshotter {
    /// An overlayfs mount over the layer snapshots; the upper directory holds the changes.
    #[default]
    Overlay,
    /// A copy of the snapshots, diffed against the original after the step (no overlayfs needed).
    Native,
    /// A `fuse-overlayfs` mount (user-space overlay, for user namespaces
    /// whose kernel cannot mount overlayfs); its upper directory is
    /// rewritten into the kernel overlay's form.
    FuseOverlay,
}

/// A root filesystem made by either snapshotter.
#[derive(Debug)]
pub enum Rootfs {
    /// Made by [`Snapshotter::Overlay`].
    Overlay(Mounted),
    /// Made by [`Snapshotter::Native`].
    Copy(Copied),
    /// Made by [`Snapshotter::FuseOverlay`].
    Fuse(FuseMounted),
}

impl Snapshotter {
    /// The first that works on directories in `scratch` (a fresh, empty
    /// directory on the store's filesystem, removed after), in rootless
    /// BuildKit's order: the kernel's overlay (with `userxattr` in a user
    /// namespace), fuse-overlayfs when installed, else native.
    pub fn detect(scratch: &Path) -> Snapshotter {
        let lower = scratch.join("lower");
        let works = |snapshotter: Snapshotter| {
            let probe = fs_err::create_dir_all(&lower)
                .and_then(|()| snapshotter.mount(std::slice::from_ref(&lower), &scratch.join(snapshotter.name()), false)?.finish());
            probe.is_ok()
        };
        let chosen = if works(Snapshotter::Overlay) {
            Snapshotter::Overlay
        } else if super::fuse::program().is_some() && works(Snapshotter::FuseOverlay) {
            Snapshotter::FuseOverlay
        } else {
            Snapshotter::Native
        };
        let _ = fs_err::remove_dir_all(scratch);
        chosen
    }

    /// `layers` (bottom first) as a root filesystem under `scratch`; unless
    /// `read_only`, [`Rootfs::finish`] returns the changes made to it.
    pub fn mount(self, layers: &[PathBuf], scratch: &Path, read_only: bool) -> io::Result<Rootfs> {
        match self {
            Snapshotter::Overlay => super::overlay::RootfsMount { layers, scratch, read_only }.mount().map(Rootfs::Overlay),
            Snapshotter::Native => RootfsCopy { layers, scratch, read_only }.prepare().map(Rootfs::Copy),
            Snapshotter::FuseOverlay => super::fuse::mount(layers, scratch, read_only).map(Rootfs::Fuse),
        }
    }

    /// `overlay`, `native` or `fuse-overlayfs`, as shown to users and accepted by `--snapshotter`.
    pub fn name(self) -> &'static str {
        match self {
            Snapshotter::Overlay => "overlay",
            Snapshotter::Native => "native",
            Snapshotter::FuseOverlay => "fuse-overlayfs",
        }
    }
}

impl Rootfs {
    /// The container's root.
    pub fn root(&self) -> &Path {
        match self {
            Rootfs::Overlay(mounted) => mounted.root(),
            Rootfs::Copy(copied) => copied.root(),
            Rootfs::Fuse(mounted) => mounted.root(),
        }
    }

    /// Ends the root filesystem; returns the directory of changes (overlay
    /// form) unless it was read-only.
    pub fn finish(self) -> io::Result<Option<PathBuf>> {
        match self {
            Rootfs::Overlay(mounted) => mounted.finish(),
            Rootfs::Copy(copied) => copied.finish(),
            Rootfs::Fuse(mounted) => mounted.finish(),
        }
    }
}
