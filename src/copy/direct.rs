//! A copy into a directory that does not exist yet can be written straight
//! into the step's upper directory instead of through the overlay mount.
//!
//! Everything such a copy writes is new: below a directory absent from
//! every layer there is nothing to copy up, hide or merge, so the upper
//! directory ends up exactly as a copy through the mount would leave it —
//! without overlayfs's cost on each created file, and on the filesystem
//! where a file can be hard-linked from an earlier snapshot (`reuse.rs`).
//! The directory itself (and its missing parents) is made through the
//! mount first, so overlayfs makes whatever its parents need (copy-up,
//! opaque marks over a deleted directory).

use std::path::Path;

use super::error::CopyError;
use super::root::{Escape, Root};
use super::spec::{CopySource, CopySpec};
use super::tree::{mkdir_all, shown};
use crate::pattern::rooted_components;

/// When every entry of `op` lands inside one directory that `merged` (the
/// mounted root) does not have: makes it there, and returns the same copy
/// aimed at it by its resolved path, with `--chown` as numbers (the user
/// database is in the merged root). `None`: the copy must run on `merged`.
pub fn prepare_new_dir(op: &CopySpec, source: &Path, merged: &Path) -> Result<Option<CopySpec>, CopyError> {
    if op.add.is_some() || !lands_in_one_dir(op, source) {
        return Ok(None);
    }
    let root = Root::open(merged).map_err(|e| CopyError::io("open the destination root", merged, e))?;
    let rel = root.resolve(Path::new(&op.dest), true, Escape::Clamp).map_err(|e| CopyError::io("resolve", Path::new(&op.dest), e))?;
    let Some(text) = rel.to_str().filter(|t| !t.is_empty()) else { return Ok(None) };
    if root.try_lstat(&rel).map_err(|e| CopyError::io("stat", &shown(&rel), e))?.is_some() {
        return Ok(None);
    }
    let owner = op.chown.as_deref().map(|spec| super::owner::resolve(spec, merged)).transpose()?;
    mkdir_all(&root, &rel, owner)?;
    Ok(Some(CopySpec { dest: format!("/{text}/"), chown: owner.map(|o| format!("{}:{}", o.uid, o.gid)), ..op.clone() }))
}

/// Whether the destination is a directory whatever the sources hold:
/// literal path sources (a wildcard matching nothing makes no directory),
/// and a destination ending in `/`, or one source that is a directory.
fn lands_in_one_dir(op: &CopySpec, source: &Path) -> bool {
    let literal = |path: &str| !path.contains(['*', '?', '[', '\\']);
    let paths: Vec<&str> = op
        .sources
        .iter()
        .map(|s| match s {
            CopySource::Path { path } if literal(path) => Some(path.as_str()),
            _ => None,
        })
        .collect::<Option<_>>()
        .unwrap_or_default();
    if paths.is_empty() || paths.len() != op.sources.len() || rooted_components(&op.dest).is_empty() {
        return false;
    }
    if op.dest.ends_with('/') || op.dest.ends_with("/.") {
        return true;
    }
    let [only] = paths.as_slice() else { return false };
    if op.parents {
        return false;
    }
    let Ok(src) = Root::open(source) else { return false };
    let resolved = src.resolve(Path::new(only), true, Escape::Clamp);
    resolved.ok().and_then(|rel| src.try_lstat(&rel).ok().flatten()).is_some_and(|m| m.is_dir())
}
