//! A step's root filesystem: the parent's snapshots as read-only lower
//! layers and a fresh upper directory, overlay-mounted. Dropping the mount
//! unmounts it; the upper directory then holds exactly the step's changes
//! in overlayfs's form (whiteouts, opaque directories), ready to commit.

use std::io;
use std::path::{Path, PathBuf};

use super::sys::{mount_overlay, unmount_or_detach, OverlayDirs};

/// What to mount: lower layers (bottom first, as an image lists them) and
/// a scratch directory that will hold `upper/`, `work/` and `merged/`.
pub struct RootfsMount<'a> {
    /// Lower layer directories, bottom first.
    pub layers: &'a [PathBuf],
    /// Directory for `upper/`, `work/` and `merged/`, on the same filesystem as the store.
    pub scratch: &'a Path,
    /// Mount read-only, without an upper directory.
    pub read_only: bool,
}

/// A mounted root filesystem; unmounted when dropped.
#[derive(Debug)]
pub struct Mounted {
    merged: PathBuf,
    upper: Option<PathBuf>,
    mounted: bool,
}

impl RootfsMount<'_> {
    /// Mounts the overlay at `scratch/merged`; writable unless `read_only`.
    pub fn mount(&self) -> io::Result<Mounted> {
        let merged = self.scratch.join("merged");
        fs_err::create_dir_all(&merged)?;
        // overlayfs needs at least one lower layer: scratch gets an empty one.
        let empty = self.scratch.join("empty");
        let mut lowers: Vec<&Path> = self.layers.iter().rev().map(PathBuf::as_path).collect();
        if lowers.is_empty() || (self.read_only && lowers.len() == 1) {
            fs_err::create_dir_all(&empty)?;
            lowers.push(&empty);
        }
        let (upper, work) = (self.scratch.join("upper"), self.scratch.join("work"));
        let user_xattr = crate::layer::in_user_namespace();
        let dirs = if self.read_only {
            OverlayDirs { lowers: &lowers, upper: None, user_xattr }
        } else {
            fs_err::create_dir_all(&upper)?;
            fs_err::create_dir_all(&work)?;
            OverlayDirs { lowers: &lowers, upper: Some((&upper, &work)), user_xattr }
        };
        mount_overlay(&dirs, &merged)?;
        Ok(Mounted { merged, upper: (!self.read_only).then_some(upper), mounted: true })
    }
}

impl Mounted {
    /// A root mounted at `merged` by other means (fuse-overlayfs), with
    /// its upper directory when writable; unmounted when dropped.
    pub(super) fn new(merged: PathBuf, upper: Option<PathBuf>) -> Mounted {
        Mounted { merged, upper, mounted: true }
    }

    /// The merged view: the container's root.
    pub fn root(&self) -> &Path {
        &self.merged
    }

    /// Unmounts and returns the upper directory (the step's changes).
    pub fn finish(mut self) -> io::Result<Option<PathBuf>> {
        self.unmount()?;
        Ok(self.upper.take())
    }

    fn unmount(&mut self) -> io::Result<()> {
        if self.mounted {
            unmount_or_detach(&self.merged)?;
            self.mounted = false;
        }
        Ok(())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = self.unmount();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_holds_only_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (bottom, top) = (dir.path().join("l1"), dir.path().join("l2"));
        fs_err::create_dir_all(bottom.join("etc")).unwrap();
        fs_err::write(bottom.join("etc/a"), "a").unwrap();
        fs_err::create_dir_all(&top).unwrap();
        fs_err::write(top.join("b"), "b").unwrap();
        let scratch = dir.path().join("step");
        let layers = [bottom, top];
        let mounted = RootfsMount { layers: &layers, scratch: &scratch, read_only: false }.mount().unwrap();
        assert_eq!(fs_err::read_to_string(mounted.root().join("etc/a")).unwrap(), "a");
        fs_err::write(mounted.root().join("c"), "c").unwrap();
        fs_err::remove_file(mounted.root().join("b")).unwrap();
        let upper = mounted.finish().unwrap().unwrap();
        let mut names: Vec<_> = fs_err::read_dir(&upper).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, ["b", "c"]);
        use std::os::unix::fs::FileTypeExt;
        assert!(fs_err::symlink_metadata(upper.join("b")).unwrap().file_type().is_char_device());
    }

    #[test]
    fn many_layers_mount() {
        let dir = tempfile::tempdir().unwrap();
        let layers: Vec<PathBuf> = (0..200)
            .map(|i| {
                let layer = dir.path().join(format!("layer-with-a-long-name-to-fill-the-option-page-{i:04}"));
                fs_err::create_dir_all(&layer).unwrap();
                fs_err::write(layer.join(format!("f{i}")), "x").unwrap();
                layer
            })
            .collect();
        let scratch = dir.path().join("step");
        let mounted = RootfsMount { layers: &layers, scratch: &scratch, read_only: true }.mount().unwrap();
        assert!(mounted.root().join("f0").exists() && mounted.root().join("f199").exists());
    }
}
