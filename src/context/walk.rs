//! The context walk: every path of the build context that `.dockerignore`
//! lets through, with its metadata, in a fixed order.
//!
//! - Order: depth first, the entries of each directory sorted by name bytes
//!   (fsutil's and the layer writer's order); paths are relative,
//!   `/`-separated, the root itself is the entry `""`.
//! - Metadata only: `lstat` (through `fstatat` on the directory's
//!   descriptor, opened beneath the root without following symlinks); a
//!   symlink is an entry carrying its target. No file is opened here.
//! - Parallel: directories are listed on several threads, then stitched
//!   together in order.
//! - Ignoring follows fsutil's walker: matching reuses the parent
//!   directory's per-pattern results, an excluded directory is skipped whole
//!   when no exception could match inside it and walked otherwise, and an
//!   excluded directory that holds a kept path is still listed before it
//!   (BuildKit creates it to hold that path). Permission errors inside
//!   excluded directories are ignored, as fsutil does.
//! - The Dockerfile and the ignore file get no special treatment: like any
//!   path they are in the context unless a pattern excludes them (BuildKit
//!   sends the Dockerfile separately, so ignoring it is harmless).

use std::ffi::{CStr, OsString};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use rustix::fd::OwnedFd;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir, Stat, CWD};
use rustix::io::Errno;

use super::beneath;
use super::ignore::IgnoreFile;
use super::ContextError;

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (never followed by the walk).
    Symlink,
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
}

/// One path of the context and its `lstat` metadata.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Relative to the context root, `/`-separated; `""` is the root.
    pub path: String,
    /// The file type, from `st_mode`.
    pub kind: EntryKind,
    /// `st_mode`, file type bits included.
    pub mode: u32,
    /// Owner's user id (`st_uid`).
    pub uid: u32,
    /// Owner's group id (`st_gid`).
    pub gid: u32,
    /// `st_size`, in bytes.
    pub size: u64,
    /// `st_mtime`, in nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// `st_ctime`, in nanoseconds since the epoch.
    pub ctime_ns: i64,
    /// `st_ino`.
    pub ino: u64,
    /// `st_dev`: with `ino`, tells hard links apart.
    pub dev: u64,
    /// Device number, for character and block devices.
    pub rdev: u64,
    /// `st_nlink`: hard links to the inode.
    pub nlink: u64,
    /// The symlink's target, as stored (never resolved here).
    pub link_target: Option<PathBuf>,
    /// One past the index of this entry's last descendant.
    pub(crate) end: usize,
}

impl Entry {
    /// Permission and special bits (`mode & 0o7777`).
    pub fn permissions(&self) -> u32 {
        self.mode & 0o7777
    }

    /// The last path component (`""` for the root).
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or_default()
    }

    #[allow(clippy::unnecessary_cast)] // `Stat` field types differ across targets.
    fn new(path: String, st: &Stat, link_target: Option<PathBuf>) -> Entry {
        let kind = match FileType::from_raw_mode(st.st_mode as _) {
            FileType::Directory => EntryKind::Dir,
            FileType::Symlink => EntryKind::Symlink,
            FileType::Fifo => EntryKind::Fifo,
            FileType::Socket => EntryKind::Socket,
            FileType::CharacterDevice => EntryKind::CharDevice,
            FileType::BlockDevice => EntryKind::BlockDevice,
            _ => EntryKind::File,
        };
        Entry {
            path,
            kind,
            mode: st.st_mode as u32,
            uid: st.st_uid as u32,
            gid: st.st_gid as u32,
            size: st.st_size as u64,
            mtime_ns: (st.st_mtime as i64).saturating_mul(1_000_000_000).saturating_add(st.st_mtime_nsec as i64),
            ctime_ns: (st.st_ctime as i64).saturating_mul(1_000_000_000).saturating_add(st.st_ctime_nsec as i64),
            ino: st.st_ino as u64,
            dev: st.st_dev as u64,
            rdev: st.st_rdev as u64,
            nlink: st.st_nlink as u64,
            link_target,
            end: 0,
        }
    }
}

/// Walks the context at `root` on up to `threads` threads, leaving out what
/// `ignore` excludes.
///
/// Listing a directory (getdents, one `fstatat` per name, matching) is the
/// unit of work: workers take directories from a shared stack and push the
/// subdirectories they find; the listings are then stitched together in
/// depth-first order, so the result does not depend on scheduling. The walk
/// is syscall-bound, so threads pay off even for small contexts.
pub(crate) fn walk(root: &Path, ignore: &IgnoreFile, threads: usize) -> Result<Vec<Entry>, ContextError> {
    let root_fd = rustix::fs::openat(CWD, root, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).map_err(|e| io_error("open", root, e))?;
    let st = rustix::fs::fstat(&root_fd).map_err(|e| io_error("stat", root, e))?;
    let shared = Shared {
        root,
        root_fd: &root_fd,
        ignore,
        next_id: AtomicUsize::new(1),
        queue: Mutex::new(Queue {
            jobs: vec![Job { id: 0, rel: String::new(), excluded: false, state: None }],
            outstanding: 1,
            listings: Vec::new(),
            error: None,
        }),
        wake: Condvar::new(),
    };
    let threads = threads.max(1);
    if threads == 1 {
        shared.work();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| shared.work());
            }
        });
    }
    let queue = shared.queue.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(error) = queue.error {
        return Err(error);
    }
    let mut listings: Vec<Option<Vec<Child>>> = Vec::new();
    listings.resize_with(shared.next_id.load(Ordering::Relaxed), || None);
    for (id, children) in queue.listings {
        listings[id] = Some(children);
    }
    let mut entries = vec![Entry::new(String::new(), &st, None)];
    assemble(&mut listings, 0, &mut entries, &mut Vec::new());
    link_subtrees(&mut entries);
    Ok(entries)
}

/// A directory to list.
struct Job {
    id: usize,
    rel: String,
    /// The directory is excluded (walked only for exceptions inside it).
    excluded: bool,
    /// Its per-pattern match results, for its children (`None` at the root).
    state: Option<Vec<bool>>,
}

/// One name of a listed directory.
struct Child {
    entry: Entry,
    excluded: bool,
    /// The job listing it, for a directory that is walked.
    sub: Option<usize>,
}

struct Queue {
    jobs: Vec<Job>,
    /// Jobs queued or being worked on.
    outstanding: usize,
    listings: Vec<(usize, Vec<Child>)>,
    error: Option<ContextError>,
}

struct Shared<'a> {
    root: &'a Path,
    root_fd: &'a OwnedFd,
    ignore: &'a IgnoreFile,
    next_id: AtomicUsize,
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Shared<'_> {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn work(&self) {
        let mut buf = Vec::with_capacity(32 * 1024);
        loop {
            let job = {
                let mut queue = self.lock();
                loop {
                    if queue.error.is_some() {
                        return;
                    }
                    if let Some(job) = queue.jobs.pop() {
                        break job;
                    }
                    if queue.outstanding == 0 {
                        return;
                    }
                    queue = self.wake.wait(queue).unwrap_or_else(|e| e.into_inner());
                }
            };
            let listed = self.list(&job, &mut buf);
            let mut queue = self.lock();
            match listed {
                Ok((children, subdirs)) => {
                    queue.outstanding += subdirs.len();
                    queue.jobs.extend(subdirs);
                    queue.listings.push((job.id, children));
                }
                Err(error) => {
                    queue.error.get_or_insert(error);
                }
            }
            queue.outstanding -= 1;
            drop(queue);
            self.wake.notify_all();
        }
    }

    /// Lists one directory: its children (sorted) and the subdirectories to walk.
    fn list(&self, job: &Job, buf: &mut Vec<u8>) -> Result<(Vec<Child>, Vec<Job>), ContextError> {
        let fd = match beneath::open(self.root_fd, &job.rel, OFlags::RDONLY | OFlags::DIRECTORY) {
            Ok(fd) => fd,
            // Removed since its parent was listed: not part of the context.
            Err(Errno::NOENT) => return Ok((Vec::new(), Vec::new())),
            // fsutil ignores permission errors below excluded directories.
            Err(Errno::ACCESS | Errno::PERM) if job.excluded => return Ok((Vec::new(), Vec::new())),
            Err(e) => return Err(io_error("open", &self.root.join(&job.rel), e)),
        };
        let names = self.names(&fd, &job.rel, buf)?;
        let mut children = Vec::with_capacity(names.len());
        let mut subdirs = Vec::new();
        for name in names {
            let path = if job.rel.is_empty() { name.clone() } else { format!("{}/{name}", job.rel) };
            let st = match rustix::fs::statat(&fd, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(io_error("stat", &self.root.join(&path), e)),
            };
            let file_type = FileType::from_raw_mode(st.st_mode as _);
            let mut state = Vec::new();
            let excluded = !self.ignore.is_empty()
                && self.ignore.matches_in_walk(&path, job.state.as_deref(), &mut state).map_err(|source| ContextError::Ignore {
                    file: self.ignore.source().map_or_else(|| PathBuf::from(".dockerignore"), Path::to_path_buf),
                    source,
                })?;
            let walk_into = file_type == FileType::Directory && (!excluded || !self.ignore.can_skip_dir(&path));
            let link_target = if file_type == FileType::Symlink && !excluded {
                let target = rustix::fs::readlinkat(&fd, name.as_str(), Vec::new()).map_err(|e| io_error("read link", &self.root.join(&path), e))?;
                Some(PathBuf::from(OsString::from_vec(target.into_bytes())))
            } else {
                None
            };
            let sub = walk_into.then(|| {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                let state = (!self.ignore.is_empty()).then_some(state);
                subdirs.push(Job { id, rel: path.clone(), excluded, state });
                id
            });
            if excluded && sub.is_none() {
                continue;
            }
            children.push(Child { entry: Entry::new(path, &st, link_target), excluded, sub });
        }
        Ok((children, subdirs))
    }

    /// The names in a directory, sorted by bytes.
    fn names(&self, fd: &OwnedFd, rel: &str, buf: &mut Vec<u8>) -> Result<Vec<String>, ContextError> {
        let mut names = Vec::new();
        let mut dir = RawDir::new(fd, buf.spare_capacity_mut());
        while let Some(entry) = dir.next() {
            let entry = entry.map_err(|e| io_error("list", &self.root.join(rel), e))?;
            let name: &CStr = entry.file_name();
            let bytes = name.to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            match std::str::from_utf8(bytes) {
                Ok(name) => names.push(name.to_owned()),
                Err(_) => {
                    let name = OsString::from_vec(bytes.to_vec());
                    return Err(ContextError::NotUtf8 { path: self.root.join(rel).join(name) });
                }
            }
        }
        names.sort_unstable();
        Ok(names)
    }
}

/// Appends the listing `id` in depth-first order. An excluded directory is
/// held in `pending` and listed only before the first kept path inside it.
fn assemble(listings: &mut [Option<Vec<Child>>], id: usize, out: &mut Vec<Entry>, pending: &mut Vec<Option<Entry>>) {
    let Some(children) = listings[id].take() else { return };
    for child in children {
        if child.excluded {
            pending.push(Some(child.entry));
            if let Some(sub) = child.sub {
                assemble(listings, sub, out, pending);
            }
            pending.pop();
            continue;
        }
        for slot in pending.iter_mut() {
            if let Some(entry) = slot.take() {
                out.push(entry);
            }
        }
        out.push(child.entry);
        if let Some(sub) = child.sub {
            assemble(listings, sub, out, pending);
        }
    }
}

pub(crate) fn io_error(action: &'static str, path: &Path, errno: Errno) -> ContextError {
    ContextError::Io { action, path: path.to_path_buf(), source: errno.into() }
}

/// Sets each entry's `end` (entries are in depth-first order).
fn link_subtrees(entries: &mut [Entry]) {
    let mut open: Vec<usize> = Vec::new();
    for i in 0..entries.len() {
        while let Some(&top) = open.last() {
            if is_ancestor(&entries[top].path, &entries[i].path) {
                break;
            }
            entries[top].end = i;
            open.pop();
        }
        open.push(i);
    }
    let len = entries.len();
    for top in open {
        entries[top].end = len;
    }
}

fn is_ancestor(dir: &str, path: &str) -> bool {
    dir.is_empty() || (path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/')
}

/// The walk's order: component by component, by bytes (a `/` sorts before
/// every byte a name can hold).
pub(crate) fn walk_order(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |c: u8| if c == b'/' { 0 } else { c };
    a.bytes().map(key).cmp(b.bytes().map(key))
}
