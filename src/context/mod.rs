//! The build context: which files it holds, and what their content is.
//!
//! A build reads its context in three steps, each its own module:
//!
//! 1. [`ignore`]: the `.dockerignore` file, with BuildKit's exact pattern
//!    semantics (moby/patternmatcher), chosen as BuildKit chooses it
//!    (`<Dockerfile>.dockerignore` beside the Dockerfile wins).
//! 2. [`walk`]: one metadata-only pass over the context (`lstat`, never
//!    following a symlink), in a fixed order, leaving out ignored paths.
//! 3. [`hash`]: content digests, only for the files a COPY names, in
//!    parallel, remembered across builds by a [`StatCache`] keyed by file
//!    metadata, so a rebuild reads only files whose metadata changed.
//!
//! [`Context::select_copy`] resolves a COPY's sources once (wildcards,
//! `--parents`, `--exclude`, symlinks kept inside the context) with the
//! resolver of [`crate::pattern`]; [`Context::digest_of`] turns the
//! selection into the digest a COPY's cache key uses: paths, kinds, modes,
//! owners, link targets and content digests; never timestamps (recipe in
//! [`hash`]); [`Context::copied_entries`] lists what the copy must write.
//!
//! The walk is cheap (no file is opened), so it runs for every build; the
//! expensive part, reading files, is bounded by what COPY names and by the
//! stat cache.

mod beneath;
pub mod hash;
pub mod ignore;
mod select;
pub mod walk;

use std::path::{Path, PathBuf};

pub use hash::{FileDigests, HashOptions, HashStats, MemoryStatCache, NoStatCache, StatCache, StatKey};
pub use ignore::{IgnoreError, IgnoreFile};
pub use select::{CopySources, Selected, Selection};
pub use walk::{Entry, EntryKind};

use crate::digest::Digest;

/// Context failures; each keeps the path or name it concerns.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// A filesystem call on the context failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The host path concerned.
        path: PathBuf,
        #[source]
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The `.dockerignore` (or `<Dockerfile>.dockerignore`) cannot be read or parsed.
    #[error("invalid ignore file {}", file.display())]
    Ignore {
        /// The ignore file's host path.
        file: PathBuf,
        #[source]
        /// What is wrong with it.
        source: IgnoreError,
    },
    /// A context path's name is not valid UTF-8 (BuildKit sends names as strings).
    #[error("{}: file name is not UTF-8", path.display())]
    NotUtf8 {
        /// The host path.
        path: PathBuf,
    },
    /// A COPY source names nothing in the context.
    #[error("{name:?}: not found in the build context")]
    NotFound {
        /// The source as written, context-relative.
        name: String,
    },
    /// Resolving a source followed more than 255 symlinks (a loop).
    #[error("{name:?}: too many levels of symbolic links")]
    TooManyLinks {
        /// The source being resolved.
        name: String,
    },
    /// A COPY source or `--exclude` pattern does not parse.
    #[error("invalid pattern")]
    BadPattern {
        #[source]
        /// Why the pattern was refused.
        source: crate::pattern::PatternError,
    },
}

impl From<crate::pattern::PatternError> for ContextError {
    fn from(source: crate::pattern::PatternError) -> ContextError {
        ContextError::BadPattern { source }
    }
}

/// An opened build context: its ignore file and its walked entries.
#[derive(Debug)]
pub struct Context {
    root: PathBuf,
    ignore: IgnoreFile,
    entries: Vec<Entry>,
}

/// Selected files with their content digests.
pub type FileContents<'a> = Vec<(&'a Entry, Digest)>;

/// A selection's digest and what computing it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectionDigest {
    /// Over the selected files' paths, metadata and content, in walk order.
    pub digest: Digest,
    /// Files read and stat cache hits while computing it.
    pub stats: HashStats,
}

impl Context {
    /// Loads the ignore file for `dockerfile` and walks the context at `dir`.
    pub fn open(dir: &Path, dockerfile: &Path) -> Result<Context, ContextError> {
        let ignore = IgnoreFile::load(dir, dockerfile).map_err(|error| match error {
            IgnoreError::InFile { path, source } => ContextError::Ignore { file: path, source: *source },
            IgnoreError::Read { ref path, .. } => ContextError::Ignore { file: path.clone(), source: error },
            source => ContextError::Ignore { file: dir.join(".dockerignore"), source },
        })?;
        Context::with_ignore(dir, ignore)
    }

    /// Walks the context at `dir` with the given ignore patterns.
    pub fn with_ignore(dir: &Path, ignore: IgnoreFile) -> Result<Context, ContextError> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let entries = walk::walk(dir, &ignore, threads)?;
        Ok(Context { root: dir.to_path_buf(), ignore, entries })
    }

    /// The context directory on the host.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The ignore patterns the walk applied.
    pub fn ignore(&self) -> &IgnoreFile {
        &self.ignore
    }

    /// Every path of the context in walk order; the first is the root (`""`).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry at a context-relative path (`""` is the root).
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.index_of(path).map(|i| &self.entries[i])
    }

    /// The digest of a selection, with default [`HashOptions`].
    pub fn digest_of(&self, selection: &Selection, cache: &dyn StatCache) -> Result<Digest, ContextError> {
        Ok(self.digest_with(selection, cache, &HashOptions::default())?.digest)
    }

    /// The digest of a selection (recipe in [`hash`]), hashing the files it
    /// holds that `cache` does not know.
    pub fn digest_with(&self, selection: &Selection, cache: &dyn StatCache, options: &HashOptions) -> Result<SelectionDigest, ContextError> {
        Ok(self.digest_with_files(selection, cache, options)?.0)
    }

    /// [`Context::digest_with`], plus each selected file's path and content
    /// digest (what `--explain` compares between builds).
    pub fn digest_with_files(
        &self,
        selection: &Selection,
        cache: &dyn StatCache,
        options: &HashOptions,
    ) -> Result<(SelectionDigest, FileContents<'_>), ContextError> {
        let mut wanted = vec![false; self.entries.len()];
        self.each_kept(selection, |i, _, entry| wanted[i] = entry.kind == EntryKind::File);
        let indices: Vec<usize> = (0..wanted.len()).filter(|&i| wanted[i]).collect();
        let files: Vec<&Entry> = indices.iter().map(|&i| &self.entries[i]).collect();
        let hashed = hash::hash_files(&self.root, &files, cache, options)?;
        let mut content: Vec<Option<Digest>> = vec![None; self.entries.len()];
        for (&i, digest) in indices.iter().zip(&hashed.digests) {
            content[i] = Some(*digest);
        }
        let mut encoder = hash::SelectionEncoder::new(selection.roots.len());
        for root in &selection.roots {
            let mut kept = 0;
            self.each_kept_below(selection, root, |_, _, _| kept += 1);
            encoder.root(&root.name, kept);
            self.each_kept_below(selection, root, |i, below, entry| encoder.entry(below, entry, content[i].as_ref()));
        }
        let per_file = files.into_iter().zip(hashed.digests.iter().copied()).collect();
        Ok((SelectionDigest { digest: encoder.finish(), stats: hashed.stats }, per_file))
    }

    /// Content digests of every regular file of the context, in walk order.
    pub fn hash_all(&self, cache: &dyn StatCache, options: &HashOptions) -> Result<FileDigests, ContextError> {
        let files: Vec<&Entry> = self.entries.iter().filter(|e| e.kind == EntryKind::File).collect();
        hash::hash_files(&self.root, &files, cache, options)
    }

    /// Every non-directory entry a copy of `selection` writes, once each
    /// (by context path), with what it is: what the copy is checked against.
    pub fn copied_entries(&self, selection: &Selection) -> Vec<&Entry> {
        let mut seen = vec![false; self.entries.len()];
        let mut out = Vec::new();
        self.each_kept(selection, |i, _, entry| {
            if entry.kind != EntryKind::Dir && !std::mem::replace(&mut seen[i], true) {
                out.push(i);
            }
        });
        out.sort_unstable();
        out.into_iter().map(|i| &self.entries[i]).collect()
    }

    /// Calls `f` with the index, path below its root and entry of every
    /// entry of every root that the copy writes.
    fn each_kept(&self, selection: &Selection, mut f: impl FnMut(usize, &str, &Entry)) {
        for root in &selection.roots {
            self.each_kept_below(selection, root, &mut f);
        }
    }

    /// [`Context::each_kept`] for one root. Directories are always given:
    /// their metadata may reach the copy when something below them does.
    fn each_kept_below(&self, selection: &Selection, root: &Selected, mut f: impl FnMut(usize, &str, &Entry)) {
        let target = &self.entries[root.target];
        let skip = if target.path.is_empty() { 0 } else { target.path.len() + 1 };
        for (i, entry) in self.subtree(root.target) {
            let below = if i == root.target { "" } else { &entry.path[skip..] };
            if entry.kind == EntryKind::Dir || selection.keeps(root, below) {
                f(i, below, entry);
            }
        }
    }

    /// An entry and its descendants, with their indices.
    fn subtree(&self, index: usize) -> impl Iterator<Item = (usize, &Entry)> {
        let end = self.entries[index].end;
        self.entries[index..end].iter().enumerate().map(move |(k, e)| (index + k, e))
    }
}
