//! From a COPY source as written to the paths it names in the source root.
//!
//! As BuildKit's Dockerfile frontend and `fsutil/copy`: the source is
//! cleaned against `/` (so `../x` is `/x`); when a component holds a
//! wildcard, the part before it is resolved (symlinks followed, in the
//! root) and the rest is matched with Go's `filepath.Match` against the
//! paths below it, walked without following symlinks, in name order; a
//! matched directory is not walked further. A pattern that matches nothing
//! names nothing (BuildKit's `AllowEmptyWildcard`), but the directory it
//! is matched in must exist. `--parents` cuts the source at `/./` (or takes
//! all of it, from `/`) into a directory to copy and a pattern of what to
//! keep in it.
//!
//! Paths the build context's filter (`.dockerignore`) excludes do not
//! exist here.

use std::path::{Path, PathBuf};

use super::error::CopyError;
use super::root::{Dir, Escape, Root};
use super::tree::shown;
use super::SourceFilter;
use crate::pattern::{match_path, PatternSet, SourceSpec};

/// One path a source names.
#[derive(Debug, Clone)]
pub(super) struct Found {
    /// The path before symlinks are followed: its last component names
    /// the copy when it goes into a directory.
    pub rel: PathBuf,
    /// `--parents`: what to keep below `rel`.
    pub include: Option<PatternSet>,
}

/// Whether the filter lets `rel` be seen: neither it nor a directory
/// above it is excluded (a directory whose exclusion may be undone below
/// it hides only itself).
pub(super) fn visible(filter: Option<&dyn SourceFilter>, rel: &Path) -> bool {
    let Some(filter) = filter else { return true };
    let mut prefix = PathBuf::new();
    let depth = rel.iter().count();
    for (index, part) in rel.iter().enumerate() {
        prefix.push(part);
        let text = prefix.to_string_lossy();
        if filter.excluded(&text) && (index + 1 == depth || !filter.descend_excluded(&text)) {
            return false;
        }
    }
    true
}

/// The paths `written` names in `root`.
pub(super) fn expand(root: &Root, written: &str, parents: bool, filter: Option<&dyn SourceFilter>) -> Result<Vec<Found>, CopyError> {
    let spec = SourceSpec::parse(written, parents).map_err(CopyError::BadPattern)?;
    let literal: PathBuf = spec.literal.iter().collect();
    let Some(pattern) = &spec.wildcard else { return Ok(vec![Found { rel: literal, include: spec.include }]) };
    let base = root.resolve(&literal, true, Escape::Clamp).map_err(|e| CopyError::io("resolve", &shown(&literal), e))?;
    let meta = root.try_lstat(&base).map_err(|e| CopyError::io("stat", &shown(&base), e))?;
    let not_found = || CopyError::NotFound { path: shown(&literal).display().to_string() };
    let Some(meta) = meta.filter(|_| visible(filter, &base)) else { return Err(not_found()) };
    let mut matches = Vec::new();
    if meta.is_dir() {
        let dir = root.dir(&base).map_err(|e| CopyError::io("open", &shown(&base), e))?;
        walk(&dir, &base, "", pattern, spec.wildcard_depth(), filter, &mut matches)?;
    }
    Ok(matches.into_iter().map(|rel| Found { rel, include: spec.include.clone() }).collect())
}

/// Go's `filepath.Walk` with BuildKit's match callback, pruned to the
/// pattern's depth (`*`, `?` never match `/`).
fn walk(
    dir: &Dir,
    dir_rel: &Path,
    below: &str,
    pattern: &str,
    depth: usize,
    filter: Option<&dyn SourceFilter>,
    out: &mut Vec<PathBuf>,
) -> Result<(), CopyError> {
    let names = dir.entries().map_err(|e| CopyError::io("read the directory", &shown(dir_rel), e))?;
    for name in names {
        let child_rel = dir_rel.join(&name);
        let lossy = name.to_string_lossy();
        let child_below = if below.is_empty() { lossy.into_owned() } else { format!("{below}/{lossy}") };
        let Some(meta) = dir.lstat(&name).map_err(|e| CopyError::io("stat", &shown(&child_rel), e))? else { continue };
        let hidden = filter.is_some_and(|f| f.excluded(&child_rel.to_string_lossy()));
        if !hidden && match_path(pattern, &child_below).unwrap_or(false) {
            out.push(child_rel);
            continue;
        }
        let descend =
            meta.is_dir() && child_below.split('/').count() < depth && (!hidden || filter.is_some_and(|f| f.descend_excluded(&child_rel.to_string_lossy())));
        if descend {
            let sub = dir.open_dir(&name).map_err(|e| CopyError::io("open", &shown(&child_rel), e))?;
            walk(&sub, &child_rel, &child_below, pattern, depth, filter, out)?;
        }
    }
    Ok(())
}
