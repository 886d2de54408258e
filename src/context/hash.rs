//! Content digests of context files, and the digest of a selection of
//! context paths (what a COPY's cache key takes from the context).
//!
//! # File digests
//!
//! A file's digest is the sha256 of its bytes, streamed through a fixed
//! 128 KiB buffer per worker (a file is never held in memory). Files are
//! hashed on `threads` workers that take the next file from a shared
//! counter. Each file is opened beneath the context root with `openat2`
//! (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`; on kernels without it, one
//! `O_NOFOLLOW` component at a time), so a path swapped for a symlink after
//! the walk can never make strata read outside the context.
//!
//! A [`StatCache`] remembers digests by [`StatKey`] (path, size, mtime,
//! ctime, inode, mode): a file whose metadata is unchanged is not read
//! again. A digest is not remembered when the file's mtime or ctime lies
//! within [`HashOptions::racy_window`] of the start of hashing (it could
//! still change within the same timestamp tick, the "racy clean" problem git
//! solves the same way), or when `fstat` after reading disagrees with the
//! walk.
//!
//! # Selection digest
//!
//! The digest of a [`super::Selection`] is sha256 over this byte string
//! (`u64` values big-endian; `field(x)` is `u64(len(x)) ‖ x`):
//!
//! ```text
//! field("strata.context.selection.v1")
//! u64(number of roots)
//! for each root, in selection order (sources in order, wildcard matches in walk order):
//!     field(root name)              path as COPY names it, context-relative, "" = root
//!     u64(number of entries)
//!     for the root's target entry, then each descendant in walk order:
//!         field(path below the root)  "" for the root entry itself
//!         u8(kind)                    f file, d dir, l symlink, p fifo, s socket, c char dev, b block dev
//!         u32(mode & 0o7777)
//!         u32(uid) ‖ u32(gid)
//!         field(symlink target bytes)  empty unless a symlink
//!         u64(rdev)                    0 unless a device
//!         field(content digest)        the 32 sha256 bytes for a file, empty otherwise
//! ```
//!
//! No timestamps, inode numbers or sizes of directories take part: touching
//! a file or checking the context out again leaves the digest unchanged.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};
use sha2::{Digest as _, Sha256};

use super::beneath;
use super::walk::{io_error, Entry, EntryKind};
use super::ContextError;
use crate::digest::Digest;

/// What a stat cache entry is keyed by: a file is unchanged as long as all
/// of these are.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatKey {
    /// Relative to the context root.
    pub path: String,
    /// `st_size`, in bytes.
    pub size: u64,
    /// `st_mtime`, in nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// `st_ctime`, in nanoseconds since the epoch (moves on any change, chmod included).
    pub ctime_ns: i64,
    /// `st_ino`.
    pub ino: u64,
    /// `st_mode`, file type bits included.
    pub mode: u32,
}

impl StatKey {
    /// The key for a walked entry's current metadata.
    pub fn of(entry: &Entry) -> StatKey {
        StatKey { path: entry.path.clone(), size: entry.size, mtime_ns: entry.mtime_ns, ctime_ns: entry.ctime_ns, ino: entry.ino, mode: entry.mode }
    }
}

/// Digests remembered across builds, by file metadata.
pub trait StatCache: Sync {
    /// The digest recorded for exactly this key, if any.
    fn get(&self, key: &StatKey) -> Option<Digest>;
    /// Records a digest (implementations may batch writes).
    fn put(&self, key: StatKey, digest: Digest);
}

/// No cache: every file is read.
pub struct NoStatCache;

impl StatCache for NoStatCache {
    fn get(&self, _key: &StatKey) -> Option<Digest> {
        None
    }

    fn put(&self, _key: StatKey, _digest: Digest) {}
}

/// An in-memory cache, for one process (tests, repeated hashing).
#[derive(Default)]
pub struct MemoryStatCache {
    map: Mutex<HashMap<StatKey, Digest>>,
}

impl StatCache for MemoryStatCache {
    fn get(&self, key: &StatKey) -> Option<Digest> {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).get(key).copied()
    }

    fn put(&self, key: StatKey, digest: Digest) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).insert(key, digest);
    }
}

/// How files are hashed.
#[derive(Debug, Clone)]
pub struct HashOptions {
    /// Worker threads (at least 1).
    pub threads: usize,
    /// Files changed this close to the start of hashing are not cached.
    pub racy_window: Duration,
}

impl Default for HashOptions {
    fn default() -> HashOptions {
        HashOptions { threads: std::thread::available_parallelism().map_or(1, |n| n.get()), racy_window: Duration::from_secs(2) }
    }
}

/// What hashing did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HashStats {
    /// Files asked for.
    pub files: usize,
    /// Files answered by the stat cache.
    pub cache_hits: usize,
    /// Files opened and read.
    pub files_read: usize,
    /// Bytes read from files.
    pub bytes_read: u64,
}

/// Digests of files, in the order they were asked for.
#[derive(Debug, Clone)]
pub struct FileDigests {
    /// One digest per file asked for, same order.
    pub digests: Vec<Digest>,
    /// What computing them took.
    pub stats: HashStats,
}

const BUFFER: usize = 128 * 1024;

/// Content digests of `files` (regular files of the context at `root`).
pub fn hash_files(root: &Path, files: &[&Entry], cache: &dyn StatCache, options: &HashOptions) -> Result<FileDigests, ContextError> {
    let started = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let racy_from = i64::try_from(started.saturating_sub(options.racy_window).as_nanos()).unwrap_or(i64::MAX);
    let mut digests: Vec<Option<Digest>> = Vec::with_capacity(files.len());
    let mut misses = Vec::new();
    for (i, entry) in files.iter().enumerate() {
        let hit = cache.get(&StatKey::of(entry));
        if hit.is_none() {
            misses.push(i);
        }
        digests.push(hit);
    }
    let mut stats = HashStats { files: files.len(), cache_hits: files.len() - misses.len(), ..HashStats::default() };
    if !misses.is_empty() {
        let root_fd = rustix::fs::open(root, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).map_err(|e| io_error("open", root, e))?;
        let read = read_all(root, &root_fd, files, &misses, options.threads)?;
        for (i, outcome) in misses.iter().zip(read) {
            let entry = files[*i];
            stats.files_read += 1;
            stats.bytes_read += outcome.bytes;
            let racy = entry.mtime_ns.max(entry.ctime_ns) >= racy_from;
            if outcome.unchanged && !racy {
                cache.put(StatKey::of(entry), outcome.digest);
            }
            digests[*i] = Some(outcome.digest);
        }
    }
    let digests = digests.into_iter().map(|d| d.unwrap_or_else(|| Digest::of(b""))).collect();
    Ok(FileDigests { digests, stats })
}

struct Outcome {
    digest: Digest,
    bytes: u64,
    /// `fstat` after reading agrees with the walk.
    unchanged: bool,
}

/// Reads the files `files[misses[..]]` on up to `threads` workers; results
/// in `misses` order.
fn read_all(root: &Path, root_fd: &OwnedFd, files: &[&Entry], misses: &[usize], threads: usize) -> Result<Vec<Outcome>, ContextError> {
    let workers = threads.clamp(1, misses.len());
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let work = || -> Result<Vec<(usize, Outcome)>, ContextError> {
        let mut buf = vec![0u8; BUFFER];
        let mut done = Vec::new();
        while !failed.load(Ordering::Relaxed) {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(&i) = misses.get(k) else { break };
            match hash_file(root, root_fd, files[i], &mut buf) {
                Ok(outcome) => done.push((k, outcome)),
                Err(e) => {
                    failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Ok(done)
    };
    let batches: Vec<_> = if workers == 1 {
        vec![work()]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers).map(|_| scope.spawn(work)).collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
        })
    };
    let mut slots: Vec<Option<Outcome>> = (0..misses.len()).map(|_| None).collect();
    for batch in batches {
        for (k, outcome) in batch? {
            slots[k] = Some(outcome);
        }
    }
    Ok(slots.into_iter().flatten().collect())
}

#[allow(clippy::unnecessary_cast)] // `Stat` field types differ across targets.
fn hash_file(root: &Path, root_fd: &OwnedFd, entry: &Entry, buf: &mut [u8]) -> Result<Outcome, ContextError> {
    let path = || root.join(&entry.path);
    let fd = beneath::open(root_fd, &entry.path, OFlags::RDONLY | OFlags::NOCTTY).map_err(|e| io_error("open", &path(), e))?;
    let _ = rustix::fs::fadvise(&fd, 0, None, rustix::fs::Advice::Sequential);
    let mut file = std::fs::File::from(fd);
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    loop {
        match file.read(buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                bytes += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(ContextError::Io { action: "read", path: path(), source }),
        }
    }
    let st = rustix::fs::fstat(&file).map_err(|e| io_error("stat", &path(), e))?;
    let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000).saturating_add(n);
    let unchanged = st.st_ino as u64 == entry.ino
        && st.st_dev as u64 == entry.dev
        && st.st_size as u64 == entry.size
        && bytes == entry.size
        && ns(st.st_mtime as i64, st.st_mtime_nsec as i64) == entry.mtime_ns
        && ns(st.st_ctime as i64, st.st_ctime_nsec as i64) == entry.ctime_ns;
    Ok(Outcome { digest: Digest::from_bytes(hasher.finalize().into()), bytes, unchanged })
}

/// Feeds the selection encoding (see the module docs) into a hasher.
pub(crate) struct SelectionEncoder {
    hasher: Sha256,
}

impl SelectionEncoder {
    pub fn new(roots: usize) -> SelectionEncoder {
        let mut encoder = SelectionEncoder { hasher: Sha256::new() };
        encoder.field(b"strata.context.selection.v1");
        encoder.u64(roots as u64);
        encoder
    }

    pub fn root(&mut self, name: &str, entries: usize) {
        self.field(name.as_bytes());
        self.u64(entries as u64);
    }

    pub fn entry(&mut self, path_below_root: &str, entry: &Entry, content: Option<&Digest>) {
        use std::os::unix::ffi::OsStrExt;
        self.field(path_below_root.as_bytes());
        self.hasher.update([kind_tag(entry.kind)]);
        self.hasher.update(entry.permissions().to_be_bytes());
        self.hasher.update(entry.uid.to_be_bytes());
        self.hasher.update(entry.gid.to_be_bytes());
        self.field(entry.link_target.as_deref().map_or(&[][..], |t| t.as_os_str().as_bytes()));
        let rdev = if matches!(entry.kind, EntryKind::CharDevice | EntryKind::BlockDevice) { entry.rdev } else { 0 };
        self.u64(rdev);
        self.field(content.map_or(&[][..], |d| &d.as_bytes()[..]));
    }

    pub fn finish(self) -> Digest {
        Digest::from_bytes(self.hasher.finalize().into())
    }

    fn field(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.hasher.update(bytes);
    }

    fn u64(&mut self, value: u64) {
        self.hasher.update(value.to_be_bytes());
    }
}

fn kind_tag(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::File => b'f',
        EntryKind::Dir => b'd',
        EntryKind::Symlink => b'l',
        EntryKind::Fifo => b'p',
        EntryKind::Socket => b's',
        EntryKind::CharDevice => b'c',
        EntryKind::BlockDevice => b'b',
    }
}
