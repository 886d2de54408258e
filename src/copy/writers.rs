//! The regular files of a directory copy are created and filled by a few
//! threads while the walk goes on.
//!
//! Making an inode is most of what a cold COPY costs (on ext4 shortly after
//! a mass delete, much more), and it is CPU time in the kernel that scales
//! with the cores. The walk stays single and in order: it makes every
//! directory, hard link, symlink and node itself and decides what each
//! file becomes; a file it neither links nor must copy itself goes into its
//! directory's [`Batch`], handed here whole. A file with several links is
//! copied by the walk, since a later path links to the first. A
//! directory's times are set once every file is written (see `tree.rs`),
//! as a file made after them would move them.
//!
//! Each directory's batches go to one thread (its *lane*), in order:
//! creating a file locks its directory, so threads writing into one
//! directory only wait on each other, while threads writing into different
//! ones run side by side. A batch holds two directory handles, never one
//! per file, so the handles open stay few whatever the tree.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Condvar, Mutex};
use std::thread::Scope;

use super::error::CopyError;
use super::owner::Owner;
use super::reuse::{Reuse, SourceLayers, Wanted};
use super::root::{self, Dir, Meta};
use super::selected::Expected;
use super::tree::{rel_string, shown};
use crate::digest::Digest;

/// Batches queued per thread: the walk may run this far ahead.
const QUEUED_PER_THREAD: usize = 4;
/// Files per batch: a larger directory is handed over in several.
pub(super) const BATCH: usize = 256;
/// More threads than this only contend on the filesystem's locks.
const MAX_THREADS: usize = 4;

/// One regular file to create in a destination directory from a file of
/// a source directory.
pub(super) struct NewFile<'a> {
    /// Its name in the source directory.
    pub name: OsString,
    /// Its name in the destination directory.
    pub dst_name: OsString,
    pub src_rel: PathBuf,
    pub dst_rel: PathBuf,
    /// The source as the walk saw it.
    pub meta: Meta,
    pub owner: Owner,
    pub mode: u32,
    /// Whether something may be at the name already (the directory was
    /// not made by this copy) and is replaced, unless it is a directory.
    pub replace: bool,
    /// What the step's key hashed: the file must be that when opened and
    /// still be that after the copy.
    pub expected: Option<&'a Expected>,
    /// The content digest the key hashed, where known.
    pub content: Option<Digest>,
    /// The step's previous snapshot, whose file is linked when it is
    /// exactly what would be written.
    pub reuse: Option<&'a Reuse>,
    /// The source's layers, whose file is linked when the copy keeps it
    /// as it is.
    pub layers: Option<&'a SourceLayers>,
}

/// Files of one source directory bound for one destination directory.
struct Batch<'a> {
    src: Dir,
    dst: Dir,
    files: Vec<NewFile<'a>>,
    /// Counts the batch done when it is dropped, written or not.
    _settled: Settled<'a>,
}

impl NewFile<'_> {
    /// Creates the file, copies the data and the metadata; returns the
    /// bytes written.
    pub fn write(&self, src: &Dir, dst: &Dir) -> Result<u64, CopyError> {
        let at = shown(&self.dst_rel);
        let mut input = src.open_file(&self.name).map_err(|e| CopyError::io("open", &shown(&self.src_rel), e))?;
        self.check(&input)?;
        let attributes = root::copied_xattrs(&input).ok();
        if self.replace {
            match dst.lstat(&self.dst_name).map_err(|e| CopyError::io("stat", &at, e))? {
                Some(existing) if existing.is_dir() => return Err(CopyError::DirectoryInTheWay { path: at }),
                Some(_) => dst.remove(&self.dst_name, false).map_err(|e| CopyError::io("replace", &at, e))?,
                None => {}
            }
        }
        if self.linked(attributes.as_deref(), dst) {
            return Ok(self.meta.size);
        }
        let mut output = dst.create_file(&self.dst_name, 0o600).map_err(|e| CopyError::io("create", &at, e))?;
        let written = io::copy(&mut input, &mut output).map_err(|e| CopyError::io("write", &at, e))?;
        // Rewritten in place while copied: not what the key hashed.
        self.check(&input)?;
        root::set_fd_meta(&output, self.owner.uid, self.owner.gid, self.mode, self.meta.atime, self.meta.mtime)
            .map_err(|e| CopyError::io("set the metadata of", &at, e))?;
        for (key, value) in attributes.iter().flatten() {
            // As BuildKit: an attribute the destination refuses is skipped.
            let _ = root::write_xattr(&output, key, value);
        }
        Ok(written)
    }

    /// Whether the file is made a link to the same file written before
    /// (see `reuse.rs`); `attributes`: the source's, as they would be copied.
    fn linked(&self, attributes: Option<&[(OsString, Vec<u8>)]>, dst: &Dir) -> bool {
        if let (Some(content), Some(reuse), Some(xattrs)) = (self.content, self.reuse, attributes) {
            let wanted = Wanted { content, source: &self.meta, owner: self.owner, mode: self.mode, xattrs };
            if reuse.link(&self.dst_rel, dst, &self.dst_name, &wanted) {
                return true;
            }
        }
        self.layers.is_some_and(|layers| layers.link(&self.src_rel, &self.meta, dst, &self.dst_name))
    }

    /// The open source is still what the step's key hashed (the name may
    /// have been replaced since the walk saw it).
    fn check(&self, input: &std::fs::File) -> Result<(), CopyError> {
        let Some(expected) = self.expected else { return Ok(()) };
        let now = root::fd_meta(input).map_err(|e| CopyError::io("stat", &shown(&self.src_rel), e))?;
        expected.check(&rel_string(&self.src_rel), &now)
    }
}

/// What the threads and the walk share: batches in flight, the first
/// error, the bytes written.
#[derive(Default)]
pub(super) struct Shared {
    in_flight: Mutex<usize>,
    settled: Condvar,
    failed: AtomicBool,
    error: Mutex<Option<CopyError>>,
    bytes: AtomicU64,
}

/// The walk's end of the threads: batches go in, [`Writers::wait`] says
/// when all are written.
pub(super) struct Writers<'a> {
    lanes: Vec<SyncSender<Batch<'a>>>,
    shared: &'a Shared,
}

/// How many threads write files: one per core, within bounds; `None` on a
/// single core, where the walk writes them itself.
pub(super) fn threads() -> Option<usize> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores > 1).then_some(cores.min(MAX_THREADS))
}

impl<'a> Writers<'a> {
    /// Starts `threads` writers in `scope`; they stop when the returned
    /// value is dropped.
    pub fn start<'scope>(scope: &'scope Scope<'scope, 'a>, threads: usize, shared: &'a Shared) -> Writers<'a> {
        let lanes = (0..threads)
            .map(|_| {
                let (lane, batches) = sync_channel::<Batch<'a>>(QUEUED_PER_THREAD);
                scope.spawn(move || work(batches, shared));
                lane
            })
            .collect();
        Writers { lanes, shared }
    }

    /// Queues `files` (from `src` into `dst`) on `lane`; an error is a
    /// failure of an earlier batch.
    pub fn submit(&self, lane: usize, src: Dir, dst: Dir, files: Vec<NewFile<'a>>) -> Result<(), CopyError> {
        self.check()?;
        *lock(&self.shared.in_flight) += 1;
        let batch = Batch { src, dst, files, _settled: Settled(self.shared) };
        if self.lanes[lane % self.lanes.len()].send(batch).is_err() {
            return Err(CopyError::io("write", &PathBuf::from("/"), io::Error::other("the file writers stopped")));
        }
        Ok(())
    }

    /// Waits until every queued batch is written; returns the bytes
    /// written since the last wait, or the first failure.
    pub fn wait(&self) -> Result<u64, CopyError> {
        let mut in_flight = lock(&self.shared.in_flight);
        while *in_flight > 0 {
            in_flight = self.shared.settled.wait(in_flight).unwrap_or_else(|p| p.into_inner());
        }
        drop(in_flight);
        self.check()?;
        Ok(self.shared.bytes.swap(0, Ordering::Relaxed))
    }

    fn check(&self) -> Result<(), CopyError> {
        match lock(&self.shared.error).take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A writer thread: writes batches until its lane closes. After a failure
/// the rest are dropped unwritten: the copy has failed.
fn work(batches: Receiver<Batch<'_>>, shared: &Shared) {
    for batch in batches {
        for file in &batch.files {
            if shared.failed.load(Ordering::Relaxed) {
                break;
            }
            match file.write(&batch.src, &batch.dst) {
                Ok(bytes) => {
                    shared.bytes.fetch_add(bytes, Ordering::Relaxed);
                }
                Err(error) => shared.fail(error),
            }
        }
    }
}

impl Shared {
    fn fail(&self, error: CopyError) {
        self.failed.store(true, Ordering::Relaxed);
        lock(&self.error).get_or_insert(error);
    }
}

/// Counts a batch done when dropped: written, or dropped unwritten by a
/// thread that panicked, so that the walk waiting for it fails instead of
/// waiting for ever (the panic itself reaches the caller when the threads
/// are joined).
struct Settled<'a>(&'a Shared);

impl Drop for Settled<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.fail(CopyError::io("write", &PathBuf::from("/"), io::Error::other("a file writer failed")));
        }
        let mut in_flight = lock(&self.0.in_flight);
        *in_flight -= 1;
        if *in_flight == 0 {
            self.0.settled.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs::{FileTimes, Permissions};

    use fs_err as fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::Path;
    use std::time::{Duration, UNIX_EPOCH};

    use crate::copy::{copy, CopyError, CopyRequest, CopySource, CopySpec};

    fn set_mtime(path: &Path, seconds: u64) {
        let at = UNIX_EPOCH + Duration::new(seconds, 123_456_789);
        fs::File::open(path).unwrap().file().set_times(FileTimes::new().set_accessed(at).set_modified(at)).unwrap();
    }

    /// Directories of more files than a batch holds, a nested one, and a
    /// pair of hard links (which the walk copies itself).
    fn source_tree(root: &Path) {
        for d in 0..3 {
            let dir = root.join(format!("d{d}"));
            fs::create_dir_all(dir.join("sub")).unwrap();
            for f in 0..super::BATCH + 44 {
                let path = dir.join(format!("f{f:04}"));
                fs::write(&path, format!("{d}/{f}").repeat(f % 7)).unwrap();
                fs::set_permissions(&path, Permissions::from_mode(if f % 2 == 0 { 0o640 } else { 0o755 })).unwrap();
                set_mtime(&path, 1_000_000 + f as u64);
            }
            fs::write(dir.join("sub/x"), "x").unwrap();
            set_mtime(&dir.join("sub/x"), 5);
            set_mtime(&dir.join("sub"), 6);
        }
        fs::hard_link(root.join("d1/f0003"), root.join("d2/linked")).unwrap();
        for d in 0..3 {
            set_mtime(&root.join(format!("d{d}")), 2_000_000 + d);
        }
    }

    fn copy_all(source: &Path, dest: &Path) -> Result<crate::copy::CopyReport, CopyError> {
        let op = CopySpec {
            sources: vec![CopySource::Path { path: "/".into() }],
            dest: "/out/".into(),
            chown: None,
            chmod: None,
            parents: false,
            exclude: Vec::new(),
            from_context: false,
            add: None,
        };
        let request = CopyRequest {
            op: &op,
            source,
            filter: None,
            dest_root: dest,
            user_db_root: dest,
            max_archive_size: None,
            expected: None,
            reuse: None,
            layers: None,
        };
        copy(&request)
    }

    fn walk(root: &Path, rel: &Path, out: &mut Vec<String>) {
        let mut names: Vec<_> = fs::read_dir(root.join(rel)).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        for name in names {
            let rel = rel.join(name);
            let meta = fs::symlink_metadata(root.join(&rel)).unwrap();
            let content = if meta.is_file() { fs::read_to_string(root.join(&rel)).unwrap() } else { String::new() };
            out.push(format!("{} {:o} {}.{} {}:{} {content:?}", rel.display(), meta.mode(), meta.mtime(), meta.mtime_nsec(), meta.uid(), meta.gid()));
            if meta.is_dir() {
                walk(root, &rel, out);
            }
        }
    }

    fn listing(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        walk(root, Path::new(""), &mut out);
        out
    }

    #[test]
    fn a_tree_written_by_the_threads_equals_its_source() {
        let (source, dest) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        source_tree(source.path());
        let report = copy_all(source.path(), dest.path()).unwrap();
        assert_eq!(listing(&dest.path().join("out")), listing(source.path()));
        assert_eq!(report.files, 3 * (super::BATCH as u64 + 44 + 1) + 1);
        let total: u64 = listing_sizes(source.path());
        assert_eq!(report.bytes, total);
        let (a, b) = (fs::metadata(dest.path().join("out/d1/f0003")).unwrap(), fs::metadata(dest.path().join("out/d2/linked")).unwrap());
        assert_eq!(a.ino(), b.ino(), "hard links stay hard links");
    }

    fn listing_sizes(root: &Path) -> u64 {
        let mut seen = std::collections::HashSet::new();
        let mut total = 0;
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(dir).unwrap() {
                let meta = entry.as_ref().unwrap().metadata().unwrap();
                if meta.is_dir() {
                    stack.push(entry.unwrap().path());
                } else if seen.insert(meta.ino()) {
                    total += meta.len();
                }
            }
        }
        total
    }

    #[test]
    fn files_replace_what_an_existing_directory_holds() {
        let (source, dest) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        source_tree(source.path());
        fs::create_dir_all(dest.path().join("out/d0")).unwrap();
        fs::write(dest.path().join("out/d0/f0100"), "old").unwrap();
        copy_all(source.path(), dest.path()).unwrap();
        assert_eq!(fs::read_to_string(dest.path().join("out/d0/f0100")).unwrap(), fs::read_to_string(source.path().join("d0/f0100")).unwrap());
    }

    #[test]
    fn a_directory_in_the_way_fails_the_copy() {
        let (source, dest) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        source_tree(source.path());
        fs::create_dir_all(dest.path().join("out/d2/f0290/inside")).unwrap();
        let error = copy_all(source.path(), dest.path()).unwrap_err();
        assert!(matches!(&error, CopyError::DirectoryInTheWay { path } if path.ends_with("out/d2/f0290")), "{error}");
    }
}
