//! Copying one source tree into the destination, as BuildKit's
//! `fsutil/copy` copier does with `cp -a` semantics: regular files,
//! directories, symlinks (copied as symlinks, never followed), fifos,
//! sockets and device nodes; modes, owners, access and modification times
//! and extended attributes; hard links between files of the same source
//! kept as hard links.
//!
//! Directories are walked through open directory handles ([`Dir`]), one
//! name at a time, so nothing below the source or destination root is ever
//! resolved as a path. A directory that is not copied itself (excluded, or
//! not matched by `--parents`' pattern) is still walked when something
//! below it may be, and created only when that something is: the stack of
//! [`Frame`]s holds such directories until then.

use std::collections::{BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};

use super::error::CopyError;
use super::mode::ModeSpec;
use super::owner::Owner;
use super::reuse::{Reuse, SourceLayers};
use super::root::{Dir, Kind, Meta, Root};
use super::selected::Expected;
use super::writers::{NewFile, Writers, BATCH};
use super::SourceFilter;
use crate::digest::Digest;
use crate::pattern::PatternSet;

/// What applies to every entry of a copy.
pub(super) struct Policy<'a> {
    /// `Some` to give every entry this owner (`--chown`, or 0:0 for the
    /// build context); `None` keeps the source's.
    pub owner: Option<Owner>,
    pub mode: Option<&'a ModeSpec>,
    pub exclude: &'a PatternSet,
    /// `--parents`: only paths matching this (and their directories).
    pub include: Option<&'a PatternSet>,
    pub filter: Option<&'a dyn SourceFilter>,
    /// ADD's local archives expand to at most this many bytes (and never
    /// beyond the free space of the destination's filesystem).
    pub max_archive_size: Option<u64>,
    /// What the step's cache key selected (copies from the context).
    pub expected: Option<&'a Expected>,
    /// An earlier snapshot of the step whose unchanged files are linked.
    pub reuse: Option<&'a Reuse>,
    /// The layers of a `--from` source, whose files are linked when kept
    /// as they are (no `--chown` or `--chmod` change).
    pub layers: Option<&'a SourceLayers>,
}

impl Policy<'_> {
    fn owner_of(&self, meta: &Meta) -> Owner {
        self.owner.unwrap_or(Owner { uid: meta.uid, gid: meta.gid })
    }

    fn mode_of(&self, meta: &Meta) -> u32 {
        self.mode.map_or(meta.mode, |m| m.apply(meta.mode, meta.is_dir()))
    }

    /// Whether the filter (`.dockerignore`) hides `rel`, and if so whether
    /// something below it may show again.
    fn hidden(&self, rel: &str, is_dir: bool) -> Visibility {
        match self.filter {
            Some(filter) if filter.excluded(rel) => {
                if is_dir && filter.descend_excluded(rel) {
                    Visibility::HiddenDescend
                } else {
                    Visibility::Hidden
                }
            }
            _ => Visibility::Shown,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visibility {
    Shown,
    Hidden,
    HiddenDescend,
}

/// What a copy did, summed over its sources.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub files: u64,
    pub bytes: u64,
    pub sources: BTreeSet<String>,
    /// Regular files written from a source of known content: destination
    /// path (relative to the destination root) and content digest.
    pub contents: Vec<(PathBuf, Digest)>,
}

/// A directory being walked: its source handle and, once it exists, its
/// destination handle.
struct Frame<'w> {
    src: Dir,
    meta: Meta,
    src_rel: PathBuf,
    /// Path relative to the copied source (what patterns see).
    comps: String,
    /// Name in the parent destination directory.
    name: OsString,
    dst_rel: PathBuf,
    dst: Option<Dir>,
    /// Whether the directory itself is copied (its metadata applied).
    included: bool,
    /// Whether this copy made it (else it merged into an existing one).
    created: bool,
    /// Files for the writer threads, not yet handed over.
    batch: Vec<NewFile<'w>>,
    /// The writer lane its batches go to, once it has one.
    lane: Option<usize>,
}

/// Copies one source (a tree or a single entry) into the destination.
/// `'w`: what the policy borrows, which the writer threads borrow too.
pub(super) struct Copier<'a, 'w> {
    pub policy: &'a Policy<'w>,
    pub src: &'a Root,
    pub dest: &'a Root,
    pub tally: &'a mut Tally,
    /// First destination path of each multiply linked source file.
    links: HashMap<(u64, u64), PathBuf>,
    frames: Vec<Frame<'w>>,
    /// Threads that write regular files; `None`: the walk writes them.
    writers: Option<&'a Writers<'w>>,
    /// The lane the next directory with files takes.
    next_lane: usize,
    /// Directories whose metadata is set when the walk has settled.
    dir_meta: Vec<DirMeta>,
}

/// A copied directory's metadata, set after everything in it is written.
struct DirMeta {
    rel: PathBuf,
    owner: Owner,
    mode: u32,
    atime: (i64, i64),
    mtime: (i64, i64),
}

/// `path` as the build shows it: rooted at `/`.
pub(super) fn shown(rel: &Path) -> PathBuf {
    Path::new("/").join(rel)
}

/// A source path for the report (`.` for the root itself).
pub(super) fn rel_string(rel: &Path) -> String {
    if rel.as_os_str().is_empty() {
        ".".to_owned()
    } else {
        rel.to_string_lossy().into_owned()
    }
}

fn split(rel: &Path) -> (&Path, &OsStr) {
    (rel.parent().unwrap_or(Path::new("")), rel.file_name().unwrap_or_default())
}

impl<'a, 'w> Copier<'a, 'w> {
    pub fn new(policy: &'a Policy<'w>, src: &'a Root, dest: &'a Root, tally: &'a mut Tally, writers: Option<&'a Writers<'w>>) -> Copier<'a, 'w> {
        Copier { policy, src, dest, tally, links: HashMap::new(), frames: Vec::new(), writers, next_lane: 0, dir_meta: Vec::new() }
    }

    /// Copies the directory `src_rel` (resolved, in the source root) into
    /// the existing directory `dst_rel` (resolved, in the destination): its
    /// contents, not itself.
    pub fn copy_dir_contents(&mut self, src_rel: &Path, meta: Meta, dst_rel: &Path) -> Result<(), CopyError> {
        let src = self.src.dir(src_rel).map_err(|e| CopyError::io("open", &shown(src_rel), e))?;
        let dst = match self.dest.try_lstat(dst_rel).map_err(|e| CopyError::io("stat", &shown(dst_rel), e))? {
            Some(m) if m.is_dir() => self.dest.dir(dst_rel).map_err(|e| CopyError::io("open", &shown(dst_rel), e))?,
            _ => return Err(CopyError::NotADirectory { path: shown(dst_rel) }),
        };
        self.tally.sources.insert(rel_string(src_rel));
        self.frames.push(Frame {
            src,
            meta,
            src_rel: src_rel.to_path_buf(),
            comps: String::new(),
            name: OsString::new(),
            dst_rel: dst_rel.to_path_buf(),
            dst: Some(dst),
            included: true,
            created: false,
            batch: Vec::new(),
            lane: None,
        });
        let result = self.copy_children();
        self.frames.pop();
        // Settled even after a failure: no file is written after the return.
        let settled = self.settle();
        result.and(settled)
    }

    /// Copies the non-directory `src_rel` to `dst_rel` (replacing what is
    /// there, unless it is a directory).
    pub fn copy_leaf(&mut self, src_rel: &Path, meta: Meta, dst_rel: &Path) -> Result<(), CopyError> {
        let (src_parent, src_name) = split(src_rel);
        let (dst_parent, dst_name) = split(dst_rel);
        let src = self.src.dir(src_parent).map_err(|e| CopyError::io("open", &shown(src_parent), e))?;
        let dst = self.dest.dir(dst_parent).map_err(|e| CopyError::io("open", &shown(dst_parent), e))?;
        let result = self.leaf(&src, src_name, src_rel, &meta, &dst, dst_name, dst_rel);
        let settled = self.settle();
        result.and(settled)
    }

    /// Walks the children of the top frame.
    fn copy_children(&mut self) -> Result<(), CopyError> {
        let top = self.frames.len() - 1;
        let (src_rel, comps) = (self.frames[top].src_rel.clone(), self.frames[top].comps.clone());
        let names = self.frames[top].src.entries().map_err(|e| CopyError::io("read the directory", &shown(&src_rel), e))?;
        for name in names {
            let child_rel = src_rel.join(&name);
            let Some(meta) = self.frames[top].src.lstat(&name).map_err(|e| CopyError::io("stat", &shown(&child_rel), e))? else {
                continue; // Removed while walking.
            };
            let lossy = name.to_string_lossy();
            let child_comps = if comps.is_empty() { lossy.into_owned() } else { format!("{comps}/{lossy}") };
            let visibility = self.policy.hidden(&rel_string(&child_rel), meta.is_dir());
            let matched = self.policy.include.is_none_or(|p| p.is_match(&child_comps));
            let excluded = self.policy.exclude.is_match(&child_comps);
            let included = visibility == Visibility::Shown && matched && !excluded;
            if included && !meta.is_dir() {
                self.ensure_frames()?;
                let dst_rel = self.frames[top].dst_rel.join(&name);
                if let Some(file) = self.deferred(&name, &child_rel, &meta, &dst_rel, !self.frames[top].created)? {
                    self.frames[top].batch.push(file);
                    if self.frames[top].batch.len() >= BATCH {
                        self.flush(top)?;
                    }
                    continue;
                }
                let frame = &self.frames[top];
                // Own handles: the leaf copy needs `self` too.
                let (src, dst) = (dup_dir(&frame.src, &frame.src_rel)?, dup_dir(open(frame)?, &frame.dst_rel)?);
                self.leaf(&src, &name, &child_rel, &meta, &dst, &name, &dst_rel)?;
                continue;
            }
            if !meta.is_dir() {
                continue;
            }
            let descend = included
                || (visibility != Visibility::Hidden
                    && (!excluded || self.policy.exclude.has_exclusions())
                    && (matched || self.policy.include.is_some_and(|p| p.may_match_below(&child_comps))));
            if !descend {
                continue;
            }
            let src = self.frames[top].src.open_dir(&name).map_err(|e| CopyError::io("open", &shown(&child_rel), e))?;
            let dst_rel = self.frames[top].dst_rel.join(&name);
            let frame = Frame {
                src,
                meta,
                src_rel: child_rel,
                comps: child_comps,
                name: name.clone(),
                dst_rel,
                dst: None,
                included,
                created: false,
                batch: Vec::new(),
                lane: None,
            };
            self.frames.push(frame);
            let result = self.walk_frame();
            self.frames.pop();
            result?;
        }
        self.flush(top)
    }

    /// A regular file the writer threads can make (all but a file with
    /// several links, which the walk copies itself: later paths link to
    /// the first). Counted as copied now.
    fn deferred(&mut self, name: &OsStr, src_rel: &Path, meta: &Meta, dst_rel: &Path, replace: bool) -> Result<Option<NewFile<'w>>, CopyError> {
        if self.writers.is_none() || meta.kind != Kind::File || meta.nlink > 1 {
            return Ok(None);
        }
        if let Some(expected) = self.policy.expected {
            expected.check(&rel_string(src_rel), meta)?;
        }
        let file = self.new_file(name, name, src_rel, dst_rel, meta, replace);
        self.count(src_rel, dst_rel, file.content);
        Ok(Some(file))
    }

    /// The regular file `name` of the source, as this copy writes it.
    fn new_file(&self, name: &OsStr, dst_name: &OsStr, src_rel: &Path, dst_rel: &Path, meta: &Meta, replace: bool) -> NewFile<'w> {
        let (owner, mode) = (self.policy.owner_of(meta), self.policy.mode_of(meta));
        let unchanged = owner == Owner { uid: meta.uid, gid: meta.gid } && mode == meta.mode;
        NewFile {
            name: name.to_os_string(),
            dst_name: dst_name.to_os_string(),
            src_rel: src_rel.to_path_buf(),
            dst_rel: dst_rel.to_path_buf(),
            meta: *meta,
            owner,
            mode,
            replace,
            expected: self.policy.expected,
            content: self.policy.expected.and_then(|e| e.content(&rel_string(src_rel))),
            reuse: self.policy.reuse,
            layers: self.policy.layers.filter(|_| unchanged),
        }
    }

    /// Hands the files batched for frame `index` to its writer lane.
    fn flush(&mut self, index: usize) -> Result<(), CopyError> {
        let Some(writers) = self.writers else { return Ok(()) };
        let frame = &mut self.frames[index];
        if frame.batch.is_empty() {
            return Ok(());
        }
        let lane = *frame.lane.get_or_insert_with(|| {
            self.next_lane = self.next_lane.wrapping_add(1);
            self.next_lane
        });
        let (src, dst) = (dup_dir(&frame.src, &frame.src_rel)?, dup_dir(open(frame)?, &frame.dst_rel)?);
        writers.submit(lane, src, dst, std::mem::take(&mut frame.batch))
    }

    /// Copies the top frame's directory: made now when it is copied itself,
    /// else only once something below it is.
    fn walk_frame(&mut self) -> Result<(), CopyError> {
        let top = self.frames.len() - 1;
        if self.frames[top].included {
            self.ensure_frames()?;
        }
        self.copy_children()?;
        let frame = &self.frames[top];
        let Some(dst) = &frame.dst else { return Ok(()) };
        // BuildKit applies a copied directory's metadata after its
        // children. A directory made only for something below it had it
        // applied when made; its times are set again here, or the
        // children's creation would leave them at "now".
        if frame.included || frame.created {
            if frame.included {
                copy_xattrs_dir(&frame.src, dst);
            }
            let owner = self.policy.owner_of(&frame.meta);
            let mode = self.policy.mode_of(&frame.meta);
            // Set once the files in flight are written (see `writers.rs`).
            let times = DirMeta { rel: frame.dst_rel.clone(), owner, mode, atime: frame.meta.atime, mtime: frame.meta.mtime };
            self.dir_meta.push(times);
        }
        Ok(())
    }

    /// Waits for the files in flight, then gives the directories walked
    /// their metadata, children before parents.
    fn settle(&mut self) -> Result<(), CopyError> {
        if let Some(writers) = self.writers {
            self.tally.bytes += writers.wait()?;
        }
        for dir in self.dir_meta.drain(..) {
            let at = shown(&dir.rel);
            let handle = self.dest.dir(&dir.rel).map_err(|e| CopyError::io("open", &at, e))?;
            handle.set_own_meta(dir.owner.uid, dir.owner.gid, dir.mode, dir.atime, dir.mtime).map_err(|e| CopyError::io("set the metadata of", &at, e))?;
        }
        Ok(())
    }

    /// Makes the destination directory of every frame that has none yet
    /// (BuildKit's delayed parent directories).
    fn ensure_frames(&mut self) -> Result<(), CopyError> {
        for index in 0..self.frames.len() {
            if self.frames[index].dst.is_some() {
                continue;
            }
            let (parents, rest) = self.frames.split_at_mut(index);
            let frame = &mut rest[0];
            // The first frame is always open; each later one was opened above.
            let Some(parent) = parents.last().and_then(|p| p.dst.as_ref()) else {
                return Err(CopyError::NotADirectory { path: shown(&frame.dst_rel) });
            };
            let shown_dst = shown(&frame.dst_rel);
            match parent.lstat(&frame.name).map_err(|e| CopyError::io("stat", &shown_dst, e))? {
                None => {
                    parent.mkdir(&frame.name, 0o700).map_err(|e| CopyError::io("create the directory", &shown_dst, e))?;
                    frame.created = true;
                }
                Some(m) if m.is_dir() => {}
                Some(_) => return Err(CopyError::NotADirectory { path: shown_dst }),
            }
            let dst = parent.open_dir(&frame.name).map_err(|e| CopyError::io("open", &shown_dst, e))?;
            // An existing directory takes the source's mode (BuildKit's
            // overwriteTargetMetadata); a new one all its metadata.
            let mode = self.policy.mode_of(&frame.meta);
            if frame.created {
                let owner = self.policy.owner_of(&frame.meta);
                dst.set_own_meta(owner.uid, owner.gid, mode, frame.meta.atime, frame.meta.mtime)
                    .map_err(|e| CopyError::io("set the metadata of", &shown_dst, e))?;
                copy_xattrs_dir(&frame.src, &dst);
            } else {
                let meta = dst.meta().map_err(|e| CopyError::io("stat", &shown_dst, e))?;
                dst.set_own_meta(meta.uid, meta.gid, mode, meta.atime, meta.mtime).map_err(|e| CopyError::io("set the mode of", &shown_dst, e))?;
            }
            self.tally.sources.insert(rel_string(&frame.src_rel));
            frame.dst = Some(dst);
        }
        Ok(())
    }

    /// Copies one non-directory entry.
    #[allow(clippy::too_many_arguments)]
    fn leaf(&mut self, src: &Dir, name: &OsStr, src_rel: &Path, meta: &Meta, dst: &Dir, dst_name: &OsStr, dst_rel: &Path) -> Result<(), CopyError> {
        let at = shown(dst_rel);
        let io_err = |action: &'static str| {
            let at = at.clone();
            move |e: io::Error| CopyError::io(action, &at, e)
        };
        if meta.is_dir() {
            return Err(CopyError::NotADirectory { path: at });
        }
        if let Some(expected) = self.policy.expected {
            expected.check(&rel_string(src_rel), meta)?;
        }
        match dst.lstat(dst_name).map_err(io_err("stat"))? {
            Some(existing) if existing.is_dir() => return Err(CopyError::DirectoryInTheWay { path: at }),
            Some(_) => dst.remove(dst_name, false).map_err(io_err("replace"))?,
            None => {}
        }
        let owner = self.policy.owner_of(meta);
        let mode = self.policy.mode_of(meta);
        match meta.kind {
            Kind::File => {
                if meta.nlink > 1 {
                    if let Some(first) = self.links.get(&(meta.dev, meta.ino)) {
                        let (first_parent, first_name) = split(first);
                        let first_dir = self.dest.dir(first_parent).map_err(io_err("open the hard link target of"))?;
                        dst.hard_link(&first_dir, first_name, dst_name).map_err(io_err("create the hard link"))?;
                        self.count(src_rel, dst_rel, None);
                        return Ok(());
                    }
                    self.links.insert((meta.dev, meta.ino), dst_rel.to_path_buf());
                }
                let file = self.new_file(name, dst_name, src_rel, dst_rel, meta, false);
                self.tally.bytes += file.write(src, dst)?;
                self.count(src_rel, dst_rel, file.content);
                return Ok(());
            }
            Kind::Symlink => {
                let target = src.read_link(name).map_err(|e| CopyError::io("read the symlink", &shown(src_rel), e))?;
                dst.symlink(&target, dst_name).map_err(io_err("create the symlink"))?;
                dst.set_owner(dst_name, owner.uid, owner.gid).map_err(io_err("chown"))?;
                dst.set_times(dst_name, meta.atime, meta.mtime).map_err(io_err("set the times of"))?;
            }
            kind => {
                dst.mknod(dst_name, kind, 0o600, meta.rdev).map_err(io_err("create the node"))?;
                dst.set_owner(dst_name, owner.uid, owner.gid).map_err(io_err("chown"))?;
                dst.set_mode(dst_name, mode).map_err(io_err("chmod"))?;
                dst.set_times(dst_name, meta.atime, meta.mtime).map_err(io_err("set the times of"))?;
            }
        }
        self.count(src_rel, dst_rel, None);
        Ok(())
    }

    /// Counts a copied entry: the source path read, and for a regular file
    /// from a source of known content, that content at the destination.
    fn count(&mut self, src_rel: &Path, dst_rel: &Path, content: Option<Digest>) {
        if let Some(content) = content {
            self.tally.contents.push((dst_rel.to_path_buf(), content));
        }
        self.tally.files += 1;
        self.tally.sources.insert(rel_string(src_rel));
    }
}

/// The destination handle of a frame `ensure_frames` has opened.
fn open<'f>(frame: &'f Frame<'_>) -> Result<&'f Dir, CopyError> {
    frame.dst.as_ref().ok_or_else(|| CopyError::NotADirectory { path: shown(&frame.dst_rel) })
}

/// Another handle on an open directory (for the borrow checker: frames
/// stay in `self` while a leaf is copied).
fn dup_dir(dir: &Dir, rel: &Path) -> Result<Dir, CopyError> {
    dir.try_clone().map_err(|e| CopyError::io("open", &shown(rel), e))
}

/// Copies a directory's extended attributes; like BuildKit, attributes
/// the destination refuses are skipped.
fn copy_xattrs_dir(src: &Dir, dst: &Dir) {
    let Ok(attributes) = src.copied_xattrs() else { return };
    for (key, value) in &attributes {
        let _ = dst.set_xattr(key, value);
    }
}

/// Makes every missing directory of `rel` (resolved) in `root`, mode
/// 0755, owned by `owner` when given (BuildKit's `MkdirAll` with the
/// `--chown` chowner; without one they stay the builder's, root's).
pub(super) fn mkdir_all(root: &Root, rel: &Path, owner: Option<Owner>) -> Result<(), CopyError> {
    let mut current = PathBuf::new();
    for part in rel.iter() {
        let parent = current.clone();
        current.push(part);
        match root.try_lstat(&current).map_err(|e| CopyError::io("stat", &shown(&current), e))? {
            Some(meta) if meta.is_dir() => continue,
            Some(_) => return Err(CopyError::NotADirectory { path: shown(&current) }),
            None => {}
        }
        let dir = root.dir(&parent).map_err(|e| CopyError::io("open", &shown(&parent), e))?;
        match dir.mkdir(part, 0o755) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(CopyError::io("create the directory", &shown(&current), e)),
        }
        dir.set_mode(part, 0o755).map_err(|e| CopyError::io("chmod", &shown(&current), e))?;
        if let Some(owner) = owner {
            dir.set_owner(part, owner.uid, owner.gid).map_err(|e| CopyError::io("chown", &shown(&current), e))?;
        }
    }
    Ok(())
}
