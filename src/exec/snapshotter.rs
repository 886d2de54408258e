//! The choice between the two ways of making a step's root filesystem:
//! an overlay mount of the snapshots (fast, the default) or a copy of them
//! whose changes are diffed afterwards (for filesystems or kernels where
//! overlayfs cannot be mounted). Both leave the changes in the same form.

use std::io;
use std::path::{Path, PathBuf};

use super::native::{Copied, RootfsCopy};
use super::overlay::{Mounted, RootfsMount};

/// How root filesystems are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Snapshotter {
    /// An overlayfs mount over the layer snapshots; the upper directory holds the changes.
    #[default]
    Overlay,
    /// A copy of the snapshots, diffed against the original after the step (no overlayfs needed).
    Native,
}

/// A root filesystem made by either snapshotter.
#[derive(Debug)]
pub enum Rootfs {
    /// Made by [`Snapshotter::Overlay`].
    Overlay(Mounted),
    /// Made by [`Snapshotter::Native`].
    Copy(Copied),
}

impl Snapshotter {
    /// Overlay when an overlay can be mounted on directories in `scratch`
    /// (a fresh, empty directory on the store's filesystem, removed after),
    /// else native.
    pub fn detect(scratch: &Path) -> Snapshotter {
        let lower = scratch.join("lower");
        let probe = fs_err::create_dir_all(&lower).and_then(|()| {
            let layers = [lower.clone()];
            RootfsMount { layers: &layers, scratch, read_only: false }.mount()?.finish()
        });
        let _ = fs_err::remove_dir_all(scratch);
        if probe.is_ok() {
            Snapshotter::Overlay
        } else {
            Snapshotter::Native
        }
    }

    /// `layers` (bottom first) as a root filesystem under `scratch`; unless
    /// `read_only`, [`Rootfs::finish`] returns the changes made to it.
    pub fn mount(self, layers: &[PathBuf], scratch: &Path, read_only: bool) -> io::Result<Rootfs> {
        match self {
            Snapshotter::Overlay => RootfsMount { layers, scratch, read_only }.mount().map(Rootfs::Overlay),
            Snapshotter::Native => RootfsCopy { layers, scratch, read_only }.prepare().map(Rootfs::Copy),
        }
    }

    /// `overlay` or `native`, as shown to users and accepted by `--snapshotter`.
    pub fn name(self) -> &'static str {
        match self {
            Snapshotter::Overlay => "overlay",
            Snapshotter::Native => "native",
        }
    }
}

impl Rootfs {
    /// The container's root.
    pub fn root(&self) -> &Path {
        match self {
            Rootfs::Overlay(mounted) => mounted.root(),
            Rootfs::Copy(copied) => copied.root(),
        }
    }

    /// Ends the root filesystem; returns the directory of changes (overlay
    /// form) unless it was read-only.
    pub fn finish(self) -> io::Result<Option<PathBuf>> {
        match self {
            Rootfs::Overlay(mounted) => mounted.finish(),
            Rootfs::Copy(copied) => copied.finish(),
        }
    }
}
