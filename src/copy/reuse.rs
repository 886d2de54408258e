//! Files a copy need not write again: the previous snapshot of the same
//! step, with the content digest of each regular file it wrote.
//!
//! When a COPY from the context runs again because a few of its files
//! changed, the unchanged ones are already in the previous snapshot, byte
//! for byte. A file whose content digest (what the step's key hashed) and
//! whole metadata — type, size, owner, mode, modification time, extended
//! attributes — match the file the copy would write becomes a hard link to
//! it, not a second copy. Snapshots are immutable (overlayfs copies a lower
//! file up before a write; the native snapshotter copies the layers), so
//! the shared inode never changes.
//!
//! A layer's tar treats files with several links to one inode *inside the
//! layer* as hard links, so one previous inode is linked at most once per
//! copy: anything else would make the layer depend on what was reused.
//! The walk and the threads writing files (`writers.rs`) both link, so the
//! inodes linked are one set behind a lock.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::owner::Owner;
use super::root::{self, Dir, Kind, Meta, Root};
use crate::digest::Digest;

/// A previous snapshot of the step and the content of its regular files.
#[derive(Debug)]
pub struct Reuse {
    root: Root,
    /// Path relative to the snapshot root → content digest.
    files: HashMap<PathBuf, Digest>,
    /// Inodes this copy linked.
    linked: Linked,
}

impl Reuse {
    /// `snapshot` (a directory of the store, trusted) and what its files hold.
    pub fn open(snapshot: &Path, files: HashMap<PathBuf, Digest>) -> std::io::Result<Reuse> {
        Ok(Reuse { root: Root::open(snapshot)?, files, linked: Linked::default() })
    }
}

/// What a file about to be written must be, to be linked instead.
pub(super) struct Wanted<'a> {
    pub content: Digest,
    pub source: &'a Meta,
    pub owner: Owner,
    pub mode: u32,
    /// The source's extended attributes, as they would be copied.
    pub xattrs: &'a [(std::ffi::OsString, Vec<u8>)],
}

impl Reuse {
    /// Links `dst_rel` (`dst_name` in `dst`) to the previous snapshot's
    /// file at the same path when it is exactly what would be written;
    /// says whether it did.
    pub(super) fn link(&self, dst_rel: &Path, dst: &Dir, dst_name: &OsStr, wanted: &Wanted) -> bool {
        if self.files.get(dst_rel) != Some(&wanted.content) {
            return false;
        }
        let (parent, name) = (dst_rel.parent().unwrap_or(Path::new("")), dst_rel.file_name().unwrap_or_default());
        let Ok(dir) = self.root.dir(parent) else { return false };
        let Ok(Some(found)) = dir.lstat(name) else { return false };
        if !same_file(&found, wanted) {
            return false;
        }
        let Ok(file) = dir.open_file(name) else { return false };
        same_xattrs(&file, &found, wanted) && self.linked.link(&found, &dir, name, dst, dst_name)
    }
}

fn same_file(found: &Meta, wanted: &Wanted) -> bool {
    found.kind == Kind::File
        && found.size == wanted.source.size
        && found.uid == wanted.owner.uid
        && found.gid == wanted.owner.gid
        && found.mode == wanted.mode & 0o7777
        && found.mtime == wanted.source.mtime
}

/// The opened file is the one checked (not replaced since), and carries
/// the attributes a copy would give it.
fn same_xattrs(file: &File, found: &Meta, wanted: &Wanted) -> bool {
    let Ok(opened) = root::fd_meta(file) else { return false };
    if (opened.dev, opened.ino) != (found.dev, found.ino) {
        return false;
    }
    let Ok(mut have) = root::copied_xattrs(file) else { return false };
    have.sort();
    let mut want = wanted.xattrs.to_vec();
    want.sort();
    have == want
}

/// The layers (snapshots) under a `COPY --from` source, when it is an
/// overlay of them: a file the source shows is one of their inodes, which
/// a copy into the upper directory links instead of copying.
#[derive(Debug)]
pub struct SourceLayers {
    /// Topmost first, as overlayfs looks them up.
    layers: Vec<Root>,
    /// Inodes this copy linked.
    linked: Linked,
}

impl SourceLayers {
    /// `paths`: the source's snapshot directories, bottom first.
    pub fn open(paths: &[PathBuf]) -> std::io::Result<SourceLayers> {
        let layers = paths.iter().rev().map(|p| Root::open(p)).collect::<Result<_, _>>()?;
        Ok(SourceLayers { layers, linked: Linked::default() })
    }

    /// Links `dst_name` in `dst` to the layer file the source shows at
    /// `src_rel` as `meta` — the topmost layer holding the name, and only
    /// when it is that very inode (so whiteouts and opaque directories need
    /// no interpretation here) with no overlay attribute of its own.
    pub(super) fn link(&self, src_rel: &Path, meta: &Meta, dst: &Dir, dst_name: &OsStr) -> bool {
        let (parent, name) = (src_rel.parent().unwrap_or(Path::new("")), src_rel.file_name().unwrap_or_default());
        for layer in &self.layers {
            let Ok(dir) = layer.dir(parent) else { continue };
            let Ok(Some(found)) = dir.lstat(name) else { continue };
            let same = found.kind == Kind::File && found.ino == meta.ino && found.size == meta.size && found.mtime == meta.mtime;
            return same && !has_overlay_xattr(&dir, name) && self.linked.link(&found, &dir, name, dst, dst_name);
        }
        false
    }
}

fn has_overlay_xattr(dir: &Dir, name: &OsStr) -> bool {
    let Ok(file) = dir.open_file(name) else { return true };
    match root::read_xattrs(&file) {
        Ok(all) => all.iter().any(|(k, _)| crate::layer::is_overlay_xattr(k.as_encoded_bytes())),
        Err(_) => true,
    }
}

/// The inodes one copy has linked, each at most once.
#[derive(Debug, Default)]
struct Linked(Mutex<HashSet<(u64, u64)>>);

impl Linked {
    /// Links `name` in `dir` (the inode `found`) as `dst_name` in `dst`,
    /// unless this copy linked that inode already; says whether it did.
    fn link(&self, found: &Meta, dir: &Dir, name: &OsStr, dst: &Dir, dst_name: &OsStr) -> bool {
        let inode = (found.dev, found.ino);
        // Claimed before the link: two threads never both link one inode.
        if !self.lock().insert(inode) {
            return false;
        }
        if dst.hard_link(dir, name, dst_name).is_err() {
            self.lock().remove(&inode);
            return false;
        }
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<(u64, u64)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
