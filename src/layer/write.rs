//! Writing a snapshot directory as a layer tarball.
//!
//! Output is deterministic: entries in depth-first order with names sorted
//! bytewise, parents before children, no atime/ctime, no user or group
//! names, and mtimes clamped to `SOURCE_DATE_EPOCH` when it is set. Headers
//! are ustar; PAX records carry what ustar cannot (long names, xattrs).

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use super::compression::Compression;
use super::pipeline::EncoderThread;
use super::{LayerError, OPAQUE_MARKER, PAX_XATTR_PREFIX, WHITEOUT_PREFIX};
use crate::digest::{Digest, HashingWriter};

/// How to write a layer.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// How the blob is compressed (`--compression`).
    pub compression: Compression,
    /// Clamp every mtime to at most this time (seconds since the epoch).
    pub source_date_epoch: Option<i64>,
}

/// What a written layer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerInfo {
    /// Digest of the uncompressed tar (the image config's `rootfs.diff_ids`).
    pub diff_id: Digest,
    /// Digest and size of the blob as written (the manifest's descriptor).
    pub digest: Digest,
    /// Size of the blob as written, in bytes.
    pub size: u64,
    /// Size of the plain tar, in bytes.
    pub uncompressed_size: u64,
    /// How the blob is compressed (decides its media type).
    pub compression: Compression,
}

/// Writes the snapshot at `dir` as a layer tarball into `out` and returns
/// `out`. The tar is hashed as it is written and compressed (and hashed
/// again) on another thread; uncompressed, the blob is the tar itself and
/// is hashed once, on another thread, so that reading the tree and hashing
/// its tar take both cores.
pub fn write_layer<W: Write + Send + 'static>(dir: &Path, out: W, options: &WriteOptions) -> Result<(LayerInfo, W), LayerError> {
    if options.compression == Compression::None {
        let hasher = EncoderThread::spawn(Compression::None, out).map_err(LayerError::Write)?;
        let hasher = write_plain(dir, hasher, options)?;
        let (diff_id, size, out) = hasher.finish().map_err(LayerError::Write)?;
        return Ok((LayerInfo { diff_id, digest: diff_id, size, uncompressed_size: size, compression: Compression::None }, out));
    }
    let encoder = EncoderThread::spawn(options.compression, out).map_err(LayerError::Write)?;
    let (diff_id, uncompressed_size, encoder) = write_tar(dir, encoder, options)?;
    let (digest, size, out) = encoder.finish().map_err(LayerError::Write)?;
    Ok((LayerInfo { diff_id, digest, size, uncompressed_size, compression: options.compression }, out))
}

/// The plain tar of `dir` into `out`: its digest and size, and `out`.
fn write_tar<T: Write>(dir: &Path, out: T, options: &WriteOptions) -> Result<(Digest, u64, T), LayerError> {
    let tar = BufWriter::with_capacity(256 << 10, HashingWriter::new(out));
    let tar = write_plain(dir, tar, options)?;
    Ok(tar.into_inner().map_err(|e| LayerError::Write(e.into_error()))?.finish())
}

/// The plain tar of `dir` into `out`, which it returns.
fn write_plain<T: Write>(dir: &Path, out: T, options: &WriteOptions) -> Result<T, LayerError> {
    let mut walk = Walk { out: tar::Builder::new(out), hard_links: HashMap::new(), options: *options };
    walk.directory(dir, Path::new(""))?;
    walk.out.into_inner().map_err(LayerError::Write)
}

struct Walk<T: Write> {
    out: tar::Builder<T>,
    /// (device, inode) of files with several links → the first path written.
    hard_links: HashMap<(u64, u64), PathBuf>,
    options: WriteOptions,
}

impl<T: Write> Walk<T> {
    /// Writes the children of `path` (archived as `name`), sorted by name.
    fn directory(&mut self, path: &Path, name: &Path) -> Result<(), LayerError> {
        let listing = fs_err::read_dir(path).map_err(|e| LayerError::io("list", path, e))?;
        let mut children = Vec::new();
        for child in listing {
            children.push(child.map_err(|e| LayerError::io("list", path, e))?.file_name());
        }
        children.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for child in children {
            self.entry(&path.join(&child), &name.join(&child))?;
        }
        Ok(())
    }

    fn entry(&mut self, path: &Path, name: &Path) -> Result<(), LayerError> {
        let meta = fs_err::symlink_metadata(path).map_err(|e| LayerError::io("stat", path, e))?;
        let kind = meta.file_type();
        let mut header = self.header(&meta);
        let mut pax = xattrs(path)?;
        let opaque = take_opaque(&mut pax);
        if kind.is_char_device() && meta.rdev() == 0 {
            return self.whiteout(name, &meta);
        }
        if kind.is_dir() {
            header.set_entry_type(EntryType::Directory);
            self.append(&mut header, &dir_name(name), None, &pax, std::io::empty())?;
            if opaque {
                let mut marker = self.header(&meta);
                marker.set_mode(0o644);
                self.append(&mut marker, &name.join(OPAQUE_MARKER), None, &[], std::io::empty())?;
            }
            return self.directory(path, name);
        }
        if kind.is_file() {
            if meta.nlink() > 1 {
                if let Some(first) = self.hard_links.get(&(meta.dev(), meta.ino())).cloned() {
                    header.set_entry_type(EntryType::Link);
                    return self.append(&mut header, name, Some(&first), &pax, std::io::empty());
                }
                self.hard_links.insert((meta.dev(), meta.ino()), name.to_path_buf());
            }
            header.set_size(meta.len());
            let file = File::open(path).map_err(|e| LayerError::io("open", path, e))?;
            return self.append(&mut header, name, None, &pax, Exact { inner: file.take(meta.len()), left: meta.len() });
        }
        if kind.is_symlink() {
            header.set_entry_type(EntryType::Symlink);
            let target = fs_err::read_link(path).map_err(|e| LayerError::io("read link", path, e))?;
            return self.append(&mut header, name, Some(&target), &pax, std::io::empty());
        }
        let entry_type = if kind.is_char_device() {
            EntryType::Char
        } else if kind.is_block_device() {
            EntryType::Block
        } else if kind.is_fifo() {
            EntryType::Fifo
        } else {
            // Sockets have no tar form; like Docker, leave them out.
            return Ok(());
        };
        header.set_entry_type(entry_type);
        let rdev = meta.rdev();
        let (major, minor) = (nix::sys::stat::major(rdev) as u32, nix::sys::stat::minor(rdev) as u32);
        header.set_device_major(major).and_then(|()| header.set_device_minor(minor)).map_err(LayerError::Write)?;
        self.append(&mut header, name, None, &pax, std::io::empty())
    }

    /// A character device 0/0 is overlayfs's deletion mark: `.wh.<name>`.
    fn whiteout(&mut self, name: &Path, meta: &Metadata) -> Result<(), LayerError> {
        let mut header = self.header(meta);
        header.set_mode(0);
        let (parent, file) = (name.parent().unwrap_or(Path::new("")), name.file_name().unwrap_or_default());
        let mut marked = std::ffi::OsString::from(WHITEOUT_PREFIX);
        marked.push(file);
        self.append(&mut header, &parent.join(marked), None, &[], std::io::empty())
    }

    /// A header with the owner, mode and (clamped) mtime of `meta`.
    fn header(&self, meta: &Metadata) -> Header {
        let mut header = Header::new_ustar();
        header.set_entry_type(EntryType::Regular);
        header.set_mode(meta.mode() & 0o7777);
        header.set_uid(u64::from(meta.uid()));
        header.set_gid(u64::from(meta.gid()));
        let mtime = match self.options.source_date_epoch {
            Some(epoch) => meta.mtime().min(epoch),
            None => meta.mtime(),
        };
        header.set_mtime(mtime.max(0) as u64);
        header.set_size(0);
        header
    }

    /// Appends one entry, moving names ustar cannot hold into PAX records.
    fn append(&mut self, header: &mut Header, name: &Path, link: Option<&Path>, records: &[(String, Vec<u8>)], data: impl Read) -> Result<(), LayerError> {
        let mut pax: Vec<(&str, &[u8])> = records.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
        let name_bytes = name.as_os_str().as_bytes();
        if header.set_path(name).is_err() {
            pax.push(("path", name_bytes));
            if let Some(ustar) = header.as_ustar_mut() {
                ustar.prefix.fill(0);
            }
            header.as_old_mut().name.fill(0);
            let cut = name_bytes.len().min(99);
            header.as_old_mut().name[..cut].copy_from_slice(&name_bytes[..cut]);
        }
        if let Some(link) = link {
            let link_bytes = link.as_os_str().as_bytes();
            if header.set_link_name(link).is_err() {
                pax.push(("linkpath", link_bytes));
                header.as_old_mut().linkname.fill(0);
                let cut = link_bytes.len().min(99);
                header.as_old_mut().linkname[..cut].copy_from_slice(&link_bytes[..cut]);
            }
        }
        if !pax.is_empty() {
            pax.sort();
            self.out.append_pax_extensions(pax).map_err(LayerError::Write)?;
        }
        header.set_cksum();
        self.out.append(header, data).map_err(LayerError::Write)
    }
}

/// Directories are archived with a trailing slash, as Go and GNU tar do.
fn dir_name(name: &Path) -> PathBuf {
    let mut bytes = name.as_os_str().as_bytes().to_vec();
    bytes.push(b'/');
    PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(bytes))
}

/// The extended attributes of `path` (not following symlinks) as sorted PAX
/// records. Overlay's own attributes are not layer content.
fn xattrs(path: &Path) -> Result<Vec<(String, Vec<u8>)>, LayerError> {
    let names = match xattr::list(path) {
        Ok(names) => names,
        // Filesystems without xattr support simply have none.
        Err(e) if e.raw_os_error() == Some(nix::libc::ENOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(LayerError::io("list xattrs of", path, e)),
    };
    let mut records = Vec::new();
    for name in names {
        let Some(text) = name.to_str() else { continue };
        if super::is_overlay_xattr(text.as_bytes()) && text != super::opaque_xattr() {
            continue;
        }
        if let Some(value) = xattr::get(path, &name).map_err(|e| LayerError::io("read xattr of", path, e))? {
            records.push((format!("{PAX_XATTR_PREFIX}{text}"), value));
        }
    }
    records.sort();
    Ok(records)
}

/// Removes the overlay opaque mark from `records`, saying whether it was set.
fn take_opaque(records: &mut Vec<(String, Vec<u8>)>) -> bool {
    let key = format!("{PAX_XATTR_PREFIX}{}", super::opaque_xattr());
    let before = records.len();
    let mut opaque = false;
    records.retain(|(k, v)| {
        let is_mark = *k == key;
        opaque |= is_mark && v.as_slice() == b"y";
        !is_mark
    });
    opaque && before > records.len()
}

/// A file's data, exactly as long as its header says: a file that shrinks
/// while being archived is an error, not a corrupt tarball.
struct Exact<R> {
    inner: io::Take<R>,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while being archived"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}
