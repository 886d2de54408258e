//! COPY sources named in the source root: the shared resolver
//! ([`crate::pattern::name_sources`], the same code the build context's
//! selection runs) over the root's openat2 handles. Bases are resolved with
//! symlinks followed inside the root; wildcard walks never follow a
//! symlink. Paths the build context's filter (`.dockerignore`) excludes do
//! not exist here.

use std::path::{Path, PathBuf};

use super::error::CopyError;
use super::root::{Dir, Escape, Root};
use super::tree::shown;
use super::SourceFilter;
use crate::pattern::{name_sources, PatternSet, SourceTree};

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
    let named = name_sources(&DiskTree { root, filter }, written, parents)?;
    Ok(named.into_iter().map(|n| Found { rel: n.path, include: n.include }).collect())
}

/// A root filesystem read through its handles, as a tree sources are
/// named in; the filter's paths do not exist.
struct DiskTree<'a> {
    root: &'a Root,
    filter: Option<&'a dyn SourceFilter>,
}

impl SourceTree for DiskTree<'_> {
    type Path = PathBuf;
    type Base = (Dir, PathBuf);
    type Error = CopyError;

    fn path(&self, components: &[String]) -> PathBuf {
        components.iter().collect()
    }

    fn base(&self, literal: &PathBuf, _source: &str) -> Result<Option<(Dir, PathBuf)>, CopyError> {
        let base = self.root.resolve(literal, true, Escape::Clamp).map_err(|e| CopyError::io("resolve", &shown(literal), e))?;
        let meta = self.root.try_lstat(&base).map_err(|e| CopyError::io("stat", &shown(&base), e))?;
        let not_found = || CopyError::NotFound { path: shown(literal).display().to_string() };
        let Some(meta) = meta.filter(|_| visible(self.filter, &base)) else { return Err(not_found()) };
        if !meta.is_dir() {
            return Ok(None);
        }
        let dir = self.root.dir(&base).map_err(|e| CopyError::io("open", &shown(&base), e))?;
        Ok(Some((dir, base)))
    }

    fn walk(&self, (dir, rel): &(Dir, PathBuf), depth: usize, visit: &mut dyn FnMut(&str, &PathBuf) -> bool) -> Result<(), CopyError> {
        walk(dir, rel, "", depth, self.filter, visit)
    }
}

/// Go's `filepath.Walk` for BuildKit's match callback, pruned to the
/// pattern's depth (`*`, `?` never match `/`).
fn walk(
    dir: &Dir,
    dir_rel: &Path,
    below: &str,
    depth: usize,
    filter: Option<&dyn SourceFilter>,
    visit: &mut dyn FnMut(&str, &PathBuf) -> bool,
) -> Result<(), CopyError> {
    let names = dir.entries().map_err(|e| CopyError::io("read the directory", &shown(dir_rel), e))?;
    for name in names {
        let child_rel = dir_rel.join(&name);
        let lossy = name.to_string_lossy();
        let child_below = if below.is_empty() { lossy.into_owned() } else { format!("{below}/{lossy}") };
        let Some(meta) = dir.lstat(&name).map_err(|e| CopyError::io("stat", &shown(&child_rel), e))? else { continue };
        let hidden = filter.is_some_and(|f| f.excluded(&child_rel.to_string_lossy()));
        if !hidden && visit(&child_below, &child_rel) {
            continue;
        }
        let descend =
            meta.is_dir() && child_below.split('/').count() < depth && (!hidden || filter.is_some_and(|f| f.descend_excluded(&child_rel.to_string_lossy())));
        if descend {
            let sub = dir.open_dir(&name).map_err(|e| CopyError::io("open", &shown(&child_rel), e))?;
            walk(&sub, &child_rel, &child_below, depth, filter, visit)?;
        }
    }
    Ok(())
}
