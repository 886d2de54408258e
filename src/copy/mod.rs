//! The native COPY/ADD engine: what BuildKit's file operation and its
//! `fsutil/copy` do for a Dockerfile's COPY and ADD, between two mounted
//! directories.
//!
//! The solver mounts the step's filesystem (the parent layers and a fresh
//! upper directory) at `dest_root` and gives the source: the build context,
//! or another stage's or image's root filesystem. [`copy`] then writes the
//! step's changes, which the solver commits as the layer, and reports the
//! source paths it read (for the cache key) and the URLs it fetched.
//!
//! Every path is resolved *inside* its root, as `chroot` would (see
//! `root.rs`, the only file here that makes system calls on paths): a
//! symlink in the context, in a stage or in the destination can never lead
//! out of it.
//!
//! # The rules (BuildKit's)
//! - A source is cleaned against `/`; wildcards (Go's `filepath.Match`)
//!   expand in name order; a pattern matching nothing names nothing, but
//!   the directory it is matched in must exist; a path that does not exist
//!   is an error. A source that is a symlink is followed (in the root);
//!   symlinks inside a copied directory are copied as symlinks.
//! - A directory source copies its contents. A non-directory goes inside the
//!   destination when that ends in `/` or is a directory, else to it. The
//!   destination path is resolved in the root (symlinks followed); missing
//!   directories are made 0755, owned by `--chown`'s owner when given.
//!   Existing files are replaced; directories merge (taking the source
//!   directory's metadata); a file never replaces a directory.
//! - Owners: `--chown`, else 0:0 for the build context, else the source's
//!   (`--from`). Modes, access and modification times and extended
//!   attributes are kept; `--chmod` (octal, or symbolic as BSD `chmod`)
//!   applies to every copied entry. Hard links within one source stay hard
//!   links. `--exclude` patterns match below each source; `--parents` keeps
//!   the source's directories (from `/./` when present).
//! - Heredocs are files of mode 0644, 0:0, made now. ADD extracts local tar
//!   archives (plain, gzip, bzip2, xz, zstd, told by content) into the
//!   destination; ADD of a URL writes a 0600 file named after the URL,
//!   dated by `Last-Modified`, checked against `--checksum`.
//!
//! # Where strata differs
//! - Several sources (after wildcards) need a destination that ends in `/`
//!   or is a directory, as Docker documents; BuildKit copies each over the
//!   previous (moby/buildkit#4550).
//! - A `--chown` user or group name missing from the database is an error;
//!   BuildKit uses 0.
//! - A directory made only to hold something below it (`--parents`,
//!   `--exclude` or `.dockerignore` with `!`) gets the source directory's
//!   times after its children are written; BuildKit leaves the time of
//!   the copy.
//! - Extended attributes of symlinks, fifos and device nodes are not copied
//!   (BuildKit tries, and ignores failures).
//! - In archives, fifos and device nodes are made (BuildKit's newest
//!   extractor refuses them; older ones made them); PAX xattrs are not
//!   applied (as BuildKit's newest); access times are the modification time.
//! - ADD of a git repository is not supported; `--checksum` takes sha256,
//!   sha384 and sha512; `--parents` with nothing after the pivot copies the
//!   whole directory; a heredoc name must be a plain file name.
//! - Names that are not UTF-8 are matched by patterns and the filter
//!   lossily.

mod archive;
mod direct;
mod error;
mod fetch;
mod mode;
mod owner;
mod reuse;
mod root;
mod selected;
mod source;
mod spec;
mod tree;
mod writers;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub use direct::prepare_new_dir;
pub use error::CopyError;
pub use fetch::Fetched;
pub use owner::{resolve as resolve_owner, Owner};
pub use reuse::{Reuse, SourceLayers};
pub use selected::{Expected, Stamp};
pub use spec::{AddSpec, CopySource, CopySpec};

use crate::pattern::{rooted_components, PatternSet};
use mode::ModeSpec;
use root::{Escape, Meta, Root};
use source::Found;
use tree::{mkdir_all, shown, Copier, Policy, Tally};

/// Which paths of the build context the build may see (`.dockerignore`).
/// Paths are relative to the context root, `/`-separated, without a
/// leading `./` or `/`.
pub trait SourceFilter: Sync {
    /// Whether `rel_path` is left out of the context.
    fn excluded(&self, rel_path: &str) -> bool;

    /// For an excluded directory: whether a path below it may be included
    /// again (a later `!pattern`), so it must still be walked. The default
    /// says no: an excluded directory hides all it holds.
    fn descend_excluded(&self, _rel_dir: &str) -> bool {
        false
    }
}

/// One COPY or ADD to carry out.
pub struct CopyRequest<'a> {
    /// The copy as planned, values final.
    pub op: &'a CopySpec,
    /// Where the sources are read: the context directory, or the root
    /// filesystem of the stage or image named by `op.from`.
    pub source: &'a Path,
    /// The context's `.dockerignore` (only for `SourceRoot::Context`).
    pub filter: Option<&'a dyn SourceFilter>,
    /// The step's mounted root filesystem.
    pub dest_root: &'a Path,
    /// Where `/etc/passwd` and `/etc/group` are read for `--chown` names:
    /// the destination's root filesystem.
    pub user_db_root: &'a Path,
    /// ADD's local archives expand to at most this many bytes (the free
    /// space of the destination's filesystem bounds them anyway).
    pub max_archive_size: Option<u64>,
    /// For a copy from the context: what the step's cache key selected;
    /// the copy writes exactly that or fails (see `selected.rs`).
    pub expected: Option<&'a Expected>,
    /// For a copy from the context: an earlier snapshot of the same step,
    /// whose files that would be written unchanged are linked instead.
    pub reuse: Option<&'a Reuse>,
    /// For a copy from a stage or image: its layers, when the source root
    /// is an overlay of them and the destination is on their filesystem.
    pub layers: Option<&'a SourceLayers>,
}

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Entries written that are not directories (files, links, nodes).
    pub files: u64,
    /// Bytes of regular-file content written.
    pub bytes: u64,
    /// Every path of the source root that was read (files, symlinks, nodes
    /// and directories whose metadata was copied), relative to that root,
    /// sorted and without duplicates: what the step's cache key depends on.
    pub sources: Vec<String>,
    /// The URLs ADD fetched, with the digest of what was received.
    pub fetched: Vec<Fetched>,
    /// Regular files written from the context whose content the key
    /// hashed: path relative to the destination root, content digest.
    pub contents: Vec<(PathBuf, crate::digest::Digest)>,
}

/// One thing to copy, after wildcards are expanded.
enum Item<'a> {
    Tree(Found),
    Url(&'a str),
    Inline { name: &'a str, content: &'a str },
}

/// Carries out `req`: copies its sources into `req.dest_root`.
/// WORKDIR: makes `path` (absolute, resolved inside `root` as `chroot`
/// would) and its missing parents, mode 0755, owned by `owner` (root when
/// `None`).
pub fn make_dir_all(root: &Path, path: &str, owner: Option<Owner>) -> Result<(), CopyError> {
    let dir = Root::open(root).map_err(|e| CopyError::io("open", root, e))?;
    let rel = dir.resolve(Path::new(path), true, Escape::Clamp).map_err(|e| CopyError::io("resolve", Path::new(path), e))?;
    mkdir_all(&dir, &rel, owner)
}

/// Where `path` leads inside `root` (symlinks followed as `chroot` would,
/// `..` clamped at the root): a clean relative path with no symlink in it,
/// so `root.join(result)` can be used as a host path (`RUN --mount=type=bind`).
pub fn resolve_in_root(root: &Path, path: &str) -> Result<PathBuf, CopyError> {
    let dir = Root::open(root).map_err(|e| CopyError::io("open", root, e))?;
    dir.resolve(Path::new(path), true, Escape::Clamp).map_err(|e| CopyError::io("resolve", Path::new(path), e))
}

/// Carries out one COPY or ADD into `req.dest_root`: resolves sources, applies
/// `--chown`/`--chmod`/`--exclude`, extracts or downloads for ADD, and reports
/// what was written.
pub fn copy(req: &CopyRequest) -> Result<CopyReport, CopyError> {
    let op = req.op;
    let instruction = if op.add.is_some() { "ADD" } else { "COPY" };
    let chown = op.chown.as_deref().map(|spec| owner::resolve(spec, req.user_db_root)).transpose()?;
    let mode = match op.chmod.as_deref() {
        Some(text) => Some(ModeSpec::parse(text).map_err(|_| CopyError::BadChmod { value: text.to_owned() })?),
        None => None,
    };
    let exclude = PatternSet::new(&op.exclude).map_err(CopyError::BadPattern)?;
    let checksum = checksum(op)?;
    let dest = Root::open(req.dest_root).map_err(|e| CopyError::io("open the destination root", req.dest_root, e))?;
    let context = op.from_context;
    let filter = if context { req.filter } else { None };
    let needs_source = op.sources.iter().any(|s| matches!(s, CopySource::Path { .. }));
    let src = if needs_source { Some(Root::open(req.source).map_err(|e| CopyError::io("open the source root", req.source, e))?) } else { None };

    // BuildKit adds the path and URL sources first, then the heredocs.
    let mut items = Vec::new();
    for source in &op.sources {
        match (source, &src) {
            (CopySource::Path { path }, Some(src)) => {
                items.extend(source::expand(src, path, op.parents, filter)?.into_iter().map(Item::Tree));
            }
            (CopySource::Url { url }, _) => items.push(Item::Url(url)),
            _ => {}
        }
    }
    for source in &op.sources {
        if let CopySource::Inline { name, content } = source {
            items.push(Item::Inline { name, content });
        }
    }
    if items.len() > 1 && !op.dest.ends_with('/') && !is_dir(&dest, &op.dest)? {
        return Err(CopyError::DestNotDirectory { instruction, dest: op.dest.clone() });
    }

    let unpack = op.add.as_ref().is_some_and(|a| a.unpack);
    let mut job = Job { dest: &dest, dest_path: &op.dest, chown, mode: mode.as_ref(), tally: Tally::default(), fetched: Vec::new() };
    for item in items {
        match item {
            Item::Tree(found) => {
                let policy = Policy {
                    // The context arrives owned by 0:0 (BuildKit's client resets it).
                    owner: chown.or(if context { Some(Owner { uid: 0, gid: 0 }) } else { None }),
                    mode: mode.as_ref(),
                    exclude: &exclude,
                    include: found.include.as_ref(),
                    filter,
                    max_archive_size: req.max_archive_size,
                    expected: if context { req.expected } else { None },
                    reuse: if context { req.reuse } else { None },
                    layers: if context { None } else { req.layers },
                };
                // Tree items come from path sources, which opened the source root.
                let Some(src) = src.as_ref() else { continue };
                copy_tree(src, &dest, &found, &op.dest, &policy, chown, unpack, &mut job.tally)?;
            }
            Item::Inline { name, content } => job.inline(name, content)?,
            Item::Url(url) => job.url(url, checksum.as_ref())?,
        }
    }
    let Job { tally, fetched, .. } = job;
    if let Some(path) = req.expected.filter(|_| context).and_then(|e| e.missing(&tally.sources)) {
        return Err(CopyError::SelectionChanged { path });
    }
    Ok(CopyReport { files: tally.files, bytes: tally.bytes, sources: tally.sources.into_iter().collect(), fetched, contents: tally.contents })
}

/// What the heredoc and URL sources of one copy share.
struct Job<'a> {
    dest: &'a Root,
    dest_path: &'a str,
    chown: Option<Owner>,
    mode: Option<&'a ModeSpec>,
    tally: Tally,
    fetched: Vec<Fetched>,
}

impl Job<'_> {
    /// A heredoc: a file of mode 0644, owner 0:0, made now (BuildKit's
    /// `Mkfile` in a scratch state, then copied).
    fn inline(&mut self, name: &str, content: &str) -> Result<(), CopyError> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(CopyError::BadInlineName { name: name.to_owned() });
        }
        let target = place(self.dest, self.dest_path, false, name.as_ref(), true, self.chown)?;
        let owner = self.chown.unwrap_or(Owner { uid: 0, gid: 0 });
        let mode = self.mode.map_or(0o644, |m| m.apply(0o644, false));
        write_file(self.dest, &target, owner, mode, now(), |out| out.write_all(content.as_bytes()).map_err(|e| CopyError::io("write", &shown(&target), e)))?;
        self.tally.files += 1;
        self.tally.bytes += content.len() as u64;
        Ok(())
    }

    /// An ADD URL: a file of mode 0600, owner 0:0, dated by
    /// `Last-Modified` (BuildKit's HTTP source), never extracted.
    fn url(&mut self, url: &str, checksum: Option<&fetch::Checksum>) -> Result<(), CopyError> {
        let name = fetch::file_name(url);
        let target = place(self.dest, self.dest_path, false, name.as_ref(), true, self.chown)?;
        let owner = self.chown.unwrap_or(Owner { uid: 0, gid: 0 });
        let mode = self.mode.map_or(0o600, |m| m.apply(0o600, false));
        let got = match write_file(self.dest, &target, owner, mode, now(), |out| fetch::fetch(url, checksum, out)) {
            Ok(got) => got,
            Err(e) => {
                remove_quietly(self.dest, &target);
                return Err(e);
            }
        };
        if let Some(modified) = got.modified {
            let (parent, name) = (target.parent().unwrap_or(Path::new("")), target.file_name().unwrap_or_default());
            let dir = self.dest.dir(parent).map_err(|e| CopyError::io("open", &shown(parent), e))?;
            dir.set_times(name, (modified, 0), (modified, 0)).map_err(|e| CopyError::io("set the times of", &shown(&target), e))?;
        }
        self.tally.files += 1;
        self.tally.bytes += got.size;
        self.fetched.push(got);
        Ok(())
    }
}

/// `--checksum` parsed, and allowed only for one URL (BuildKit's rules).
fn checksum(op: &CopySpec) -> Result<Option<fetch::Checksum>, CopyError> {
    let Some(value) = op.add.as_ref().and_then(|a| a.checksum.as_deref()) else { return Ok(None) };
    if op.sources.len() != 1 {
        return Err(CopyError::ChecksumNotAllowed { what: "multiple sources" });
    }
    if !matches!(op.sources[0], CopySource::Url { .. }) {
        return Err(CopyError::ChecksumNotAllowed { what: "non-HTTP(S) sources" });
    }
    fetch::Checksum::parse(value).map(Some)
}

/// Whether `path` (resolved in `root`) is an existing directory.
fn is_dir(root: &Root, path: &str) -> Result<bool, CopyError> {
    let rel = root.resolve(Path::new(path), true, Escape::Clamp).map_err(|e| CopyError::io("resolve", Path::new(path), e))?;
    Ok(root.try_lstat(&rel).map_err(|e| CopyError::io("stat", &shown(&rel), e))?.is_some_and(|m| m.is_dir()))
}

/// Copies one found source path.
#[allow(clippy::too_many_arguments)]
fn copy_tree(
    src: &Root,
    dest: &Root,
    found: &Found,
    dest_path: &str,
    policy: &Policy,
    chown: Option<Owner>,
    unpack: bool,
    tally: &mut Tally,
) -> Result<(), CopyError> {
    // BuildKit follows symlinks in the source path itself (FollowSymlinks).
    let resolved = src.resolve(&found.rel, true, Escape::Clamp).map_err(|e| CopyError::io("resolve", &shown(&found.rel), e))?;
    let not_found = || CopyError::NotFound { path: shown(&found.rel).display().to_string() };
    if !source::visible(policy.filter, &resolved) {
        return Err(not_found());
    }
    let meta: Meta = src.try_lstat(&resolved).map_err(|e| CopyError::io("stat", &shown(&resolved), e))?.ok_or_else(not_found)?;
    if unpack && meta.kind == root::Kind::File && archive::is_archive(src, &resolved)? {
        if let Some(expected) = policy.expected {
            expected.check(&tree::rel_string(&resolved), &meta)?;
        }
        let dest_rel = dest.resolve(Path::new(dest_path), true, Escape::Clamp).map_err(|e| CopyError::io("resolve", Path::new(dest_path), e))?;
        return archive::extract(src, &resolved, dest, &dest_rel, chown, policy.max_archive_size, tally);
    }
    let base = found.rel.file_name().unwrap_or_default();
    let target = place(dest, dest_path, meta.is_dir(), base, true, chown)?;
    if !meta.is_dir() {
        return Copier::new(policy, src, dest, tally, None).copy_leaf(&resolved, meta, &target);
    }
    let Some(threads) = writers::threads() else {
        return Copier::new(policy, src, dest, tally, None).copy_dir_contents(&resolved, meta, &target);
    };
    let shared = writers::Shared::default();
    std::thread::scope(|scope| {
        let writers = writers::Writers::start(scope, threads, &shared);
        Copier::new(policy, src, dest, tally, Some(&writers)).copy_dir_contents(&resolved, meta, &target)
    })
}

/// Where a source named `base` goes for the destination `dest`, with the
/// directories on the way made (BuildKit's `Copy` and `prepareTargetDir`):
/// into `dest` when it ends in `/` or is a directory, else at `dest`; a
/// directory's contents (`contents`) go into `dest` itself.
fn place(root: &Root, dest: &str, src_is_dir: bool, base: &std::ffi::OsStr, contents: bool, chown: Option<Owner>) -> Result<PathBuf, CopyError> {
    let resolve = |path: &Path| root.resolve(path, true, Escape::Clamp).map_err(|e| CopyError::io("resolve", path, e));
    let parts = rooted_components(dest);
    let into_dir = dest.ends_with('/') || dest.ends_with("/.") || parts.is_empty();
    let ensure: PathBuf = if into_dir { parts.iter().collect() } else { parts[..parts.len() - 1].iter().collect() };
    mkdir_all(root, &resolve(&ensure)?, chown)?;
    let mut target = resolve(&parts.iter().collect::<PathBuf>())?;
    let existing = root.try_lstat(&target).map_err(|e| CopyError::io("stat", &shown(&target), e))?;
    let exists_dir = existing.is_some_and(|m| m.is_dir());
    if (!contents && src_is_dir && existing.is_some()) || (!src_is_dir && exists_dir) {
        target.push(base);
    }
    let make = if contents && src_is_dir && existing.is_none() { target.clone() } else { target.parent().map(Path::to_path_buf).unwrap_or_default() };
    mkdir_all(root, &make, chown)?;
    Ok(target)
}

/// Seconds and nanoseconds since the epoch, now.
fn now() -> (i64, i64) {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    (i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX), i64::from(elapsed.subsec_nanos()))
}

/// Writes a new file at `target` (replacing a non-directory there) with
/// `fill`, then sets its owner, mode and times.
fn write_file<T>(
    root: &Root,
    target: &Path,
    owner: Owner,
    mode: u32,
    time: (i64, i64),
    fill: impl FnOnce(&mut dyn std::io::Write) -> Result<T, CopyError>,
) -> Result<T, CopyError> {
    let (parent, name) = (target.parent().unwrap_or(Path::new("")), target.file_name().unwrap_or_default());
    let dir = root.dir(parent).map_err(|e| CopyError::io("open", &shown(parent), e))?;
    match dir.lstat(name).map_err(|e| CopyError::io("stat", &shown(target), e))? {
        Some(m) if m.is_dir() => return Err(CopyError::DirectoryInTheWay { path: shown(target) }),
        Some(_) => dir.remove(name, false).map_err(|e| CopyError::io("replace", &shown(target), e))?,
        None => {}
    }
    let mut file = dir.create_file(name, 0o600).map_err(|e| CopyError::io("create", &shown(target), e))?;
    let filled = fill(&mut file)?;
    root::set_fd_meta(&file, owner.uid, owner.gid, mode, time, time).map_err(|e| CopyError::io("set the metadata of", &shown(target), e))?;
    Ok(filled)
}

/// Removes a partly written file after a failed download.
fn remove_quietly(root: &Root, target: &Path) {
    let (parent, name) = (target.parent().unwrap_or(Path::new("")), target.file_name().unwrap_or_default());
    if let Ok(dir) = root.dir(parent) {
        // The download's own error is the one to report.
        let _ = dir.remove(name, false);
    }
}
