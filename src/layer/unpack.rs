//! Unpacking a layer tarball onto a snapshot directory.
//!
//! Nothing may land outside the snapshot: paths with `..` or a leading `/`,
//! paths that pass through a symlink, and hard links to anything outside
//! are refused, and an existing symlink at an entry's own path is replaced,
//! never written through. Whiteouts become overlayfs's form (see the module
//! docs of [`crate::layer`]).

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::io::{self, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use nix::sys::stat::{makedev, mknod, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use tar::EntryType;

use super::compression::{decompress, Compression};
use super::limit::{too_large, SizeLimit};
use super::pipeline::EncoderThread;
use super::write::LayerInfo;
use super::{LayerError, OPAQUE_MARKER, PAX_XATTR_PREFIX, WHITEOUT_PREFIX};
use crate::digest::{Digest, HashingReader};

/// What an unpacked layer was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unpacked {
    /// Digest and size of the plain tar stream.
    pub diff_id: Digest,
    /// Size of the plain tar stream, in bytes.
    pub uncompressed_size: u64,
    /// Digest and size of the input as read (compressed or not).
    pub digest: Digest,
    /// Size of the input as read, in bytes.
    pub size: u64,
    /// The compression detected from the input's magic bytes.
    pub compression: Compression,
    /// How many tar entries were unpacked (whiteouts included).
    pub entries: u64,
}

/// Unpacks the layer tarball `reader` (plain, gzip or zstd) onto `dest`.
/// On error `dest` may hold part of the layer, but nothing outside it was
/// touched; callers unpack into a scratch directory.
/// It writes at most the free space of `dest`'s filesystem (see limit.rs).
pub fn unpack(reader: impl Read, dest: &Path) -> Result<Unpacked, LayerError> {
    unpack_limited(reader, dest, None)
}

/// [`unpack`], writing at most `cap` bytes (or the free space, if less).
pub fn unpack_limited(reader: impl Read, dest: &Path, cap: Option<u64>) -> Result<Unpacked, LayerError> {
    let limit = SizeLimit::for_dest(dest, cap)?;
    unpack_copying(reader, dest, &mut io::sink(), limit)
}

/// Unpacks `reader` onto `dest` and, in the same pass, writes the plain tar
/// stream recompressed into `out` (on another thread). The layer keeps the
/// input's entries exactly, as `docker import` does, so its diff_id is the
/// digest of the input's tar stream.
pub fn unpack_and_recompress<W: Write + Send + 'static>(
    reader: impl Read,
    dest: &Path,
    out: W,
    compression: Compression,
    cap: Option<u64>,
) -> Result<(LayerInfo, W), LayerError> {
    let limit = SizeLimit::for_dest(dest, cap)?;
    let mut encoder = EncoderThread::spawn(compression, out).map_err(LayerError::Write)?;
    let unpacked = unpack_copying(reader, dest, &mut encoder, limit)?;
    let (digest, size, out) = encoder.finish().map_err(LayerError::Write)?;
    let info = LayerInfo { diff_id: unpacked.diff_id, digest, size, uncompressed_size: unpacked.uncompressed_size, compression };
    Ok((info, out))
}

fn unpack_copying(reader: impl Read, dest: &Path, copy: &mut dyn Write, limit: SizeLimit) -> Result<Unpacked, LayerError> {
    let mut raw = HashingReader::new(reader);
    let (compression, plain) = decompress(BufReader::with_capacity(256 << 10, &mut raw))?;
    let mut plain = HashingReader::new(Tee { inner: limit.reader(plain), copy, compression });
    let mut archive = tar::Archive::new(&mut plain);
    let mut target = Target::new(dest);
    let mut entries = 0;
    let mut last: Option<String> = None;
    for entry in archive.entries().map_err(LayerError::Read)? {
        // An error here is the decompressor's, or the tar headers' own.
        let entry = entry.map_err(|e| {
            below_tar(e).unwrap_or_else(|_| match last.take() {
                None => LayerError::NotTar,
                Some(after) => LayerError::Damaged { after },
            })
        })?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        limit.check(&name, entry.raw_file_position(), entry.size())?;
        last = Some(name);
        target.entry(entry).map_err(|e| match e {
            LayerError::Read(e) => below_tar(e).unwrap_or_else(LayerError::Read),
            other => other,
        })?;
        entries += 1;
    }
    // Read past the end-of-archive blocks to the end of the stream, so a
    // compressed stream's trailer (length, checksum) is checked too.
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(|e| below_tar(e).unwrap_or_else(LayerError::Read))?;
    target.finish()?;
    let (diff_id, uncompressed_size) = plain.finish();
    let (digest, size) = raw.finish();
    if entries == 0 && uncompressed_size == 0 {
        return Err(LayerError::Empty);
    }
    Ok(Unpacked { diff_id, uncompressed_size, digest, size, compression, entries })
}

/// A reader that copies what it reads into a writer. Its errors are tagged
/// [`Below`], so the tar reader's own errors can be told from them.
struct Tee<'a, R> {
    inner: R,
    copy: &'a mut dyn Write,
    compression: Compression,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let compression = self.compression;
        let n = self.inner.read(buf).map_err(|e| match too_large(e) {
            Ok(limit) => io::Error::other(Below::Limit(limit)),
            Err(e) => io::Error::new(e.kind(), Below::Input(compression, e)),
        })?;
        self.copy.write_all(&buf[..n]).map_err(|e| io::Error::new(e.kind(), Below::Copy(e)))?;
        Ok(n)
    }
}

/// An I/O error under the tar reader: of the (decompressed) input, or of
/// the copy being written.
#[derive(Debug, thiserror::Error)]
enum Below {
    #[error("{1}")]
    Input(Compression, #[source] io::Error),
    #[error("{0}")]
    Copy(#[source] io::Error),
    #[error("{0}")]
    Limit(LayerError),
}

/// The error a [`Below`]-tagged I/O error stands for; any other error (the
/// tar reader's own) comes back unchanged.
fn below_tar(error: io::Error) -> Result<LayerError, io::Error> {
    if !error.get_ref().is_some_and(|e| e.is::<Below>()) {
        return Err(error);
    }
    let below = error.into_inner().and_then(|e| e.downcast::<Below>().ok());
    Ok(match below.map(|b| *b) {
        Some(Below::Limit(e)) => e,
        Some(Below::Input(Compression::None, e)) => LayerError::Read(e),
        Some(Below::Input(compression, e)) => LayerError::Compressed { compression: compression.name(), reason: e.to_string() },
        Some(Below::Copy(e)) => LayerError::Write(e),
        // Not reached: the error was checked to hold a `Below`.
        None => LayerError::Read(io::ErrorKind::Other.into()),
    })
}

/// The snapshot being written.
struct Target {
    root: PathBuf,
    /// Relative directories known to be real directories (no symlinks).
    verified: HashSet<PathBuf>,
    /// Directory times are set last: writing children would change them.
    dir_times: Vec<(PathBuf, SystemTime)>,
}

impl Target {
    fn new(root: &Path) -> Target {
        Target { root: root.to_path_buf(), verified: HashSet::new(), dir_times: Vec::new() }
    }

    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<(), LayerError> {
        if entry.header().entry_type() == EntryType::XGlobalHeader {
            // Archive-wide PAX records (`git archive` writes a comment); no file.
            return Ok(());
        }
        let raw_path = entry.path_bytes().into_owned();
        let display = String::from_utf8_lossy(&raw_path).into_owned();
        let rel = safe_relative(&raw_path, &display)?;
        let name = rel.file_name().map(OsStr::as_bytes).unwrap_or_default();
        if name == OPAQUE_MARKER.as_bytes() {
            let dir = rel.parent().unwrap_or(Path::new(""));
            self.ensure_dir(dir, &display)?;
            let path = self.root.join(dir);
            return xattr::set(&path, super::opaque_xattr(), b"y").map_err(|e| LayerError::io("mark opaque", &path, e));
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            // Other `.wh..wh.` names are AUFS bookkeeping, not content.
            if hidden.starts_with(WHITEOUT_PREFIX.as_bytes()) || hidden.is_empty() {
                return Ok(());
            }
            // `.wh..` and `.wh...` would replace the directory or its parent.
            if hidden == b"." || hidden == b".." {
                return Err(LayerError::Unsafe { path: display, reason: "it whites out `.` or `..`" });
            }
            let rel = rel.with_file_name(OsStr::from_bytes(hidden));
            let path = self.prepare(&rel, &display, false)?;
            let made = mknod(&path, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0));
            made.map_err(|e| LayerError::io("create whiteout", &path, e.into()))?;
            // Owner and mtime as the entry has them, so the snapshot is
            // written back as the same layer.
            let header = entry.header();
            let (uid, gid) = (header.uid().map_err(LayerError::Read)? as u32, header.gid().map_err(LayerError::Read)? as u32);
            std::os::unix::fs::lchown(&path, Some(uid), Some(gid)).map_err(|e| LayerError::io("chown", &path, e))?;
            return set_mtime(&path, SystemTime::UNIX_EPOCH + Duration::from_secs(header.mtime().unwrap_or(0)));
        }
        let header = entry.header().clone();
        let kind = header.entry_type();
        let is_dir = kind == EntryType::Directory;
        if rel.as_os_str().is_empty() {
            // `./`: the snapshot root itself; only its metadata applies.
            return if is_dir { self.finish_entry(&mut entry, &self.root.clone(), true) } else { Ok(()) };
        }
        let is_file = matches!(kind, EntryType::Regular | EntryType::Continuous);
        let path = if is_file {
            // Most entries are new files: create first, clear the way only
            // when something is already there (saves a stat per file).
            self.ensure_dir(rel.parent().unwrap_or(Path::new("")), &display)?;
            self.root.join(&rel)
        } else {
            self.prepare(&rel, &display, is_dir)?
        };
        match kind {
            EntryType::Directory => {
                if !path.is_dir() {
                    fs_err::create_dir(&path).map_err(|e| LayerError::io("create", &path, e))?;
                }
                self.verified.insert(rel.clone());
            }
            EntryType::Regular | EntryType::Continuous => {
                let declared = entry.size();
                let create = |path: &Path| OpenOptions::new().write(true).create_new(true).mode(0o600).open(path);
                let created = match create(&path) {
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        self.prepare(&rel, &display, false)?;
                        create(&path)
                    }
                    other => other,
                };
                let mut file = created.map_err(|e| LayerError::io("create", &path, e))?;
                let actual = io::copy(&mut entry, &mut file).map_err(LayerError::Read)?;
                if actual != declared {
                    return Err(LayerError::Truncated { path: display, declared, actual });
                }
            }
            EntryType::Symlink => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &path).map_err(|e| LayerError::io("create symlink", &path, e))?;
            }
            EntryType::Link => return self.hard_link(&entry, &path, &display),
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let flag = match kind {
                    EntryType::Char => SFlag::S_IFCHR,
                    EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                mknod(&path, flag, Mode::empty(), makedev(major.into(), minor.into())).map_err(|e| LayerError::io("create device", &path, e.into()))?;
            }
            // PAX and GNU long-name records are consumed by the tar reader;
            // anything else (sparse, volume labels) has no place in a layer.
            _ => return Err(LayerError::Unsafe { path: display, reason: "unsupported entry type" }),
        }
        self.finish_entry(&mut entry, &path, is_dir)
    }

    /// Applies owner, mode, xattrs and mtime (directories: later).
    fn finish_entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, path: &Path, is_dir: bool) -> Result<(), LayerError> {
        let header = entry.header();
        let is_symlink = header.entry_type() == EntryType::Symlink;
        let uid = header.uid().map_err(LayerError::Read)? as u32;
        let gid = header.gid().map_err(LayerError::Read)? as u32;
        let mode = header.mode().map_err(LayerError::Read)? & 0o7777;
        let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(header.mtime().unwrap_or(0));
        std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(|e| LayerError::io("chown", path, e))?;
        if !is_symlink {
            // After chown, which clears set-id bits.
            let perms = std::os::unix::fs::PermissionsExt::from_mode(mode);
            fs_err::set_permissions(path, perms).map_err(|e| LayerError::io("chmod", path, e))?;
        }
        if let Some(records) = entry.pax_extensions().map_err(LayerError::Read)? {
            for record in records {
                let record = record.map_err(LayerError::Read)?;
                let Some(name) = record.key_bytes().strip_prefix(PAX_XATTR_PREFIX.as_bytes()) else { continue };
                xattr::set(path, OsStr::from_bytes(name), record.value_bytes()).map_err(|e| LayerError::io("set xattr on", path, e))?;
            }
        }
        if is_dir {
            self.dir_times.push((path.to_path_buf(), mtime));
            return Ok(());
        }
        set_mtime(path, mtime)
    }

    fn hard_link<R: Read>(&mut self, entry: &tar::Entry<'_, R>, path: &Path, display: &str) -> Result<(), LayerError> {
        let target = entry.link_name_bytes().unwrap_or_default().into_owned();
        let target_display = String::from_utf8_lossy(&target).into_owned();
        let outside = || LayerError::Unsafe { path: display.to_owned(), reason: "hard link to a path outside the layer" };
        let target_rel = safe_relative(&target, &target_display).map_err(|_| outside())?;
        if target_rel.as_os_str().is_empty() {
            return Err(outside());
        }
        self.check_dir(target_rel.parent().unwrap_or(Path::new("")), display)?;
        let source = self.root.join(&target_rel);
        match fs_err::symlink_metadata(&source) {
            Ok(meta) if !meta.is_dir() => {}
            _ => return Err(LayerError::Unsafe { path: display.to_owned(), reason: "hard link to a file not in the layer" }),
        }
        // linkat without AT_SYMLINK_FOLLOW: a link to a symlink links the symlink.
        fs_err::hard_link(&source, path).map_err(|e| LayerError::io("create hard link", path, e))
    }

    /// Makes the parents of `rel` real directories and clears its own path
    /// (keeping an existing directory when a directory goes there).
    fn prepare(&mut self, rel: &Path, display: &str, keep_dir: bool) -> Result<PathBuf, LayerError> {
        self.ensure_dir(rel.parent().unwrap_or(Path::new("")), display)?;
        let path = self.root.join(rel);
        match fs_err::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(LayerError::io("stat", &path, e)),
            Ok(meta) if meta.is_dir() && keep_dir => {}
            Ok(meta) if meta.is_dir() => {
                fs_err::remove_dir_all(&path).map_err(|e| LayerError::io("replace", &path, e))?;
                self.verified.retain(|known| !known.starts_with(rel));
            }
            Ok(_) => fs_err::remove_file(&path).map_err(|e| LayerError::io("replace", &path, e))?,
        }
        Ok(path)
    }

    /// Creates `rel` and its parents as directories; fails on a symlink.
    fn ensure_dir(&mut self, rel: &Path, display: &str) -> Result<(), LayerError> {
        self.walk_dirs(rel, display, true)
    }

    /// Checks that `rel` is made of real directories only.
    fn check_dir(&mut self, rel: &Path, display: &str) -> Result<(), LayerError> {
        self.walk_dirs(rel, display, false)
    }

    fn walk_dirs(&mut self, rel: &Path, display: &str, create: bool) -> Result<(), LayerError> {
        let mut prefix = PathBuf::new();
        for part in rel.components() {
            prefix.push(part);
            if self.verified.contains(&prefix) {
                continue;
            }
            let path = self.root.join(&prefix);
            let unsafe_entry = |reason| LayerError::Unsafe { path: display.to_owned(), reason };
            match fs_err::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => return Err(unsafe_entry("its path goes through a symlink")),
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => return Err(unsafe_entry("a parent of it is not a directory")),
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    fs_err::create_dir(&path).map_err(|e| LayerError::io("create", &path, e))?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(unsafe_entry("a parent of it is missing")),
                Err(e) => return Err(LayerError::io("stat", &path, e)),
            }
            self.verified.insert(prefix.clone());
        }
        Ok(())
    }

    /// Sets directory mtimes, deepest first.
    fn finish(mut self) -> Result<(), LayerError> {
        self.dir_times.sort_by(|a, b| b.0.cmp(&a.0));
        for (path, mtime) in &self.dir_times {
            set_mtime(path, *mtime)?;
        }
        Ok(())
    }
}

/// The path of an entry relative to the snapshot root, refusing absolute
/// paths and `..`. `./` and `.` components are dropped.
fn safe_relative(raw: &[u8], display: &str) -> Result<PathBuf, LayerError> {
    let unsafe_entry = |reason| LayerError::Unsafe { path: display.to_owned(), reason };
    if raw.contains(&0) {
        return Err(unsafe_entry("its name contains a NUL byte"));
    }
    let mut rel = PathBuf::new();
    for part in Path::new(OsStr::from_bytes(raw)).components() {
        match part {
            Component::Normal(name) => rel.push(name),
            Component::CurDir => {}
            Component::ParentDir => return Err(unsafe_entry("its path contains `..`")),
            Component::RootDir | Component::Prefix(_) => return Err(unsafe_entry("its path is absolute")),
        }
    }
    Ok(rel)
}

/// Sets atime and mtime of `path` itself (a symlink's own times, too).
fn set_mtime(path: &Path, mtime: SystemTime) -> Result<(), LayerError> {
    let time = TimeSpec::from(mtime.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default());
    utimensat(None, path, &time, &time, UtimensatFlags::NoFollowSymlink).map_err(|e| LayerError::io("set times of", path, e.into()))
}
