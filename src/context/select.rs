//! COPY sources → context paths, as BuildKit resolves them.
//!
//! - A source is cleaned against the context root (`path.Clean("/" + src)`),
//!   so `../x` is `x` and `.` is the root: nothing names a path outside.
//! - A source with a wildcard (`*`, `?`, `[` in some component) is split at
//!   its first wildcard component; the part before is resolved (following
//!   symlinks), then every path below it is matched as a whole against the
//!   rest with Go's `filepath.Match`, a matching directory ending the
//!   descent (fsutil's `ResolveWildcards`). No match is no error (BuildKit
//!   sets `AllowEmptyWildcard` for COPY); a malformed pattern matches nothing.
//! - Each source (or match) is then resolved following every symlink,
//!   the last included, the way `continuity/fs.RootPath` does: an absolute
//!   target restarts at the context root, `..` stops at the root, 255 links
//!   at most. A symlink can therefore never lead outside the context; a
//!   target that is not in the (ignore-filtered) context is "not found".
//! - COPY's `--parents` cuts a source at `/./` (or takes all of it, from
//!   the root) into a directory to copy and an include pattern below it;
//!   `--exclude` patterns apply below every root. [`Selection::keeps`]
//!   answers, for each entry below a root, whether the copy writes it: the
//!   key covers exactly those entries, and the copy is checked against them.
//!
//! See: moby/buildkit `dockerfile2llb` (COPY's `CopyInfo`), tonistiigi/fsutil
//! `copy/copy.go` (`ResolveWildcards`, `rootPath`), containerd/continuity
//! `fs/path.go` (`RootPath`).

use std::os::unix::ffi::OsStrExt;

use super::walk::{walk_order, EntryKind};
use super::{Context, ContextError};
use crate::pattern::{name_sources, PatternSet, SourceTree};

/// Symlinks followed at most while resolving one path (continuity's limit).
const MAX_LINKS: usize = 255;

/// The context paths some COPY sources name.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// One per path source or wildcard match, in the order written.
    pub roots: Vec<Selected>,
    /// `--exclude`: what is left out below every root.
    pub exclude: PatternSet,
}

/// One source (or wildcard match) and the entry it resolves to.
#[derive(Debug, Clone)]
pub struct Selected {
    /// The path as COPY names it (context-relative, `""` = the root); its
    /// last component names the copy.
    pub name: String,
    /// Index into [`Context::entries`] of what it resolves to (symlinks
    /// followed); a directory brings its whole subtree.
    pub target: usize,
    /// `--parents`: only what this matches below the root (and the
    /// directories on the way) is copied.
    pub include: Option<PatternSet>,
}

/// A COPY's path sources and the flags that change what they select.
#[derive(Debug, Clone, Copy)]
pub struct CopySources<'a> {
    /// The COPY's path sources as written (expanded).
    pub sources: &'a [String],
    /// `--parents`: sources keep their path below the context root.
    pub parents: bool,
    /// `--exclude` patterns as written.
    pub exclude: &'a [String],
}

impl Selection {
    /// Whether the copy of `root` writes the entry at `below` (its path
    /// relative to the root; `""` is the root itself, always kept):
    /// `--parents`' pattern matches it and `--exclude` does not, each
    /// matching a path or one of its parent directories, as the copy does.
    pub fn keeps(&self, root: &Selected, below: &str) -> bool {
        below.is_empty() || (root.include.as_ref().is_none_or(|p| p.is_match(below)) && !self.exclude.is_match(below))
    }
}

impl Context {
    /// Resolves COPY sources against the context.
    pub fn select<S: AsRef<str>>(&self, sources: &[S]) -> Result<Selection, ContextError> {
        let sources: Vec<String> = sources.iter().map(|s| s.as_ref().to_owned()).collect();
        self.select_copy(&CopySources { sources: &sources, parents: false, exclude: &[] })
    }

    /// Resolves a COPY's sources with `--parents` and `--exclude`: the one
    /// resolution both the step's cache key and the copy use.
    pub fn select_copy(&self, copy: &CopySources) -> Result<Selection, ContextError> {
        let exclude = PatternSet::new(copy.exclude)?;
        let mut roots = Vec::new();
        for source in copy.sources {
            for named in name_sources(self, source, copy.parents)? {
                let target = self.resolve(&named.path, source)?;
                roots.push(Selected { name: named.path, target, include: named.include });
            }
        }
        Ok(Selection { roots, exclude })
    }

    /// The entry `rel` leads to, following every symlink inside the context.
    fn resolve(&self, rel: &str, source: &str) -> Result<usize, ContextError> {
        let not_found = || ContextError::NotFound { name: source.to_owned() };
        // Components still to walk, last first.
        let mut todo: Vec<String> = rel.rsplit('/').map(str::to_owned).collect();
        let mut current = String::new();
        let mut links = 0;
        while let Some(component) = todo.pop() {
            match component.as_str() {
                "" | "." => continue,
                ".." => {
                    current.truncate(current.rfind('/').unwrap_or(0));
                    continue;
                }
                _ => {}
            }
            let candidate = if current.is_empty() { component } else { format!("{current}/{component}") };
            let index = self.index_of(&candidate).ok_or_else(not_found)?;
            let entry = &self.entries[index];
            if entry.kind == EntryKind::Symlink {
                links += 1;
                if links > MAX_LINKS {
                    return Err(ContextError::TooManyLinks { name: source.to_owned() });
                }
                let target = entry.link_target.as_deref().map(|t| t.as_os_str().as_bytes()).unwrap_or_default();
                let target = std::str::from_utf8(target).map_err(|_| not_found())?;
                if target.starts_with('/') {
                    current.clear();
                }
                todo.extend(target.rsplit('/').map(str::to_owned));
                continue;
            }
            current = candidate;
        }
        self.index_of(&current).ok_or_else(not_found)
    }

    /// The index of the entry at `path`.
    pub(crate) fn index_of(&self, path: &str) -> Option<usize> {
        self.entries.binary_search_by(|e| walk_order(&e.path, path)).ok()
    }
}

/// The walked context as a tree COPY sources are named in.
impl SourceTree for Context {
    type Path = String;
    type Base = usize;
    type Error = ContextError;

    fn path(&self, components: &[String]) -> String {
        components.join("/")
    }

    fn base(&self, path: &String, source: &str) -> Result<Option<usize>, ContextError> {
        let index = self.resolve(path, source)?;
        Ok((self.entries[index].kind == EntryKind::Dir).then_some(index))
    }

    fn walk(&self, base: &usize, _depth: usize, visit: &mut dyn FnMut(&str, &String) -> bool) -> Result<(), ContextError> {
        let base_entry = &self.entries[*base];
        let skip = if base_entry.path.is_empty() { 0 } else { base_entry.path.len() + 1 };
        let mut i = base + 1;
        while i < base_entry.end {
            let entry = &self.entries[i];
            i = if visit(&entry.path[skip..], &entry.path) { entry.end } else { i + 1 };
        }
        Ok(())
    }
}
