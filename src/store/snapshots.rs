//! Unpacked layers: `snapshots/<diff_id hex>/` holds one layer's files in the
//! form overlayfs reads as a lower directory. A snapshot is unpacked once,
//! into `tmp/`, and renamed into place when complete, so a present directory
//! is always a whole snapshot; layers shared by images share it. A
//! snapshot a COPY wrote has the content digest of its files recorded in
//! `snapshot-contents-v1/<hex>`, so the step's next run can link what is
//! unchanged.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::StoreError;
use crate::digest::Digest;

const CONTENTS_DIR: &str = "snapshot-contents-v1";
const CONTENTS_MAGIC: &[u8] = b"strata snapshot contents v1\n";

/// The snapshot area of a store.
#[derive(Debug, Clone)]
pub struct Snapshots {
    dir: PathBuf,
}

impl Snapshots {
    pub(super) fn new(dir: PathBuf) -> Snapshots {
        Snapshots { dir }
    }

    /// Where the snapshot of layer `diff_id` is (or would be).
    pub fn path(&self, diff_id: &Digest) -> PathBuf {
        self.dir.join(diff_id.hex())
    }

    /// The snapshot directories of layers, in the order given (for an
    /// overlay mount: bottom first).
    pub fn paths(&self, diff_ids: &[Digest]) -> Vec<PathBuf> {
        diff_ids.iter().map(|d| self.path(d)).collect()
    }

    /// Whether the snapshot is present (always whole, see the module doc).
    pub fn contains(&self, diff_id: &Digest) -> bool {
        self.path(diff_id).is_dir()
    }

    /// Moves a completely unpacked directory into place as `diff_id`'s
    /// snapshot. If another process got there first, ours is discarded.
    pub fn adopt(&self, unpacked: &Path, diff_id: &Digest) -> Result<PathBuf, StoreError> {
        let target = self.path(diff_id);
        if target.is_dir() {
            remove_tree(unpacked)?;
            return Ok(target);
        }
        match fs_err::rename(unpacked, &target) {
            Ok(()) => {
                super::blobs::sync_dir(&self.dir)?;
                Ok(target)
            }
            Err(_) if target.is_dir() => {
                remove_tree(unpacked)?;
                Ok(target)
            }
            Err(e) => Err(StoreError::io("rename snapshot", &target, e)),
        }
    }

    /// Every snapshot present.
    pub fn list(&self) -> Result<Vec<Digest>, StoreError> {
        let entries = fs_err::read_dir(&self.dir).map_err(|e| StoreError::io("list", &self.dir, e))?;
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io("list", &self.dir, e))?;
            if let Ok(id) = Digest::from_hex(&entry.file_name().to_string_lossy()) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Where the content list of a snapshot written by a COPY is:
    /// `snapshot-contents-v1/<diff_id hex>`, beside `snapshots/` (which
    /// holds only snapshots).
    fn contents_path(&self, diff_id: &Digest) -> PathBuf {
        self.dir.with_file_name(CONTENTS_DIR).join(diff_id.hex())
    }

    /// Records the content digest of regular files of `diff_id`'s snapshot
    /// (path relative to the snapshot). Written into `tmp` and renamed, so
    /// the list is whole or absent.
    pub fn record_contents(&self, diff_id: &Digest, files: &[(PathBuf, Digest)], tmp: &Path) -> Result<(), StoreError> {
        let mut data = Vec::with_capacity(CONTENTS_MAGIC.len() + files.len() * 64);
        data.extend_from_slice(CONTENTS_MAGIC);
        for (path, digest) in files {
            let bytes = path.as_os_str().as_bytes();
            let Ok(len) = u32::try_from(bytes.len()) else { continue };
            data.extend_from_slice(digest.as_bytes());
            data.extend_from_slice(&len.to_le_bytes());
            data.extend_from_slice(bytes);
        }
        let partial = tmp.join(super::blobs::unique_name("contents", 0));
        let target = self.contents_path(diff_id);
        if let Some(dir) = target.parent() {
            fs_err::create_dir_all(dir).map_err(|e| StoreError::io("create", dir, e))?;
        }
        fs_err::write(&partial, &data).map_err(|e| StoreError::io("write", &partial, e))?;
        fs_err::rename(&partial, &target).map_err(|e| StoreError::io("rename", &target, e))
    }

    /// The content list of `diff_id`'s snapshot (the last entry of a path
    /// wins), when one was recorded and the snapshot is present.
    pub fn contents(&self, diff_id: &Digest) -> Option<HashMap<PathBuf, Digest>> {
        if !self.contains(diff_id) {
            return None;
        }
        let data = fs_err::read(self.contents_path(diff_id)).ok()?;
        let mut rest = data.strip_prefix(CONTENTS_MAGIC)?;
        let mut files = HashMap::new();
        while !rest.is_empty() {
            let (digest, tail) = rest.split_first_chunk::<32>()?;
            let (len, tail) = tail.split_first_chunk::<4>()?;
            let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
            let (path, tail) = (tail.get(..len)?, tail.get(len..)?);
            files.insert(PathBuf::from(std::ffi::OsStr::from_bytes(path)), Digest::from_bytes(*digest));
            rest = tail;
        }
        Some(files)
    }

    /// Removes a snapshot: renamed into `tmp` first, so a crash midway
    /// never leaves a half-deleted snapshot under its real name.
    pub fn remove(&self, diff_id: &Digest, tmp: &Path) -> Result<(), StoreError> {
        let path = self.path(diff_id);
        let contents = self.contents_path(diff_id);
        if let Err(e) = fs_err::remove_file(&contents) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(StoreError::io("remove", &contents, e));
            }
        }
        if !path.exists() {
            return Ok(());
        }
        let doomed = tmp.join(super::blobs::unique_name("doomed", 0));
        fs_err::rename(&path, &doomed).map_err(|e| StoreError::io("remove snapshot", &path, e))?;
        remove_tree(&doomed)
    }
}

/// Removes a directory tree, making read-only directories writable first.
pub fn remove_tree(path: &Path) -> Result<(), StoreError> {
    match fs_err::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::io("remove", path, e)),
        _ => Ok(()),
    }
}

/// The bytes of a tree's regular files (what `du --apparent-size` counts
/// for them; directories and links are left out). Missing: 0.
pub fn tree_bytes(path: &Path) -> Result<u64, StoreError> {
    let mut total = 0;
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match fs_err::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StoreError::io("list", &dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io("list", &dir, e))?;
            let kind = entry.file_type().map_err(|e| StoreError::io("stat", &entry.path(), e))?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                total += entry.metadata().map_err(|e| StoreError::io("stat", &entry.path(), e))?.len();
            }
        }
    }
    Ok(total)
}
