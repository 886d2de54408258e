//! Where the files of a saved image go: one tar stream or a directory,
//! behind one small trait, and the checked copy that streams a blob into
//! either while verifying its size and digest.
//!
//! Tar headers are deterministic (ustar, mode 0644/0755, owner 0:0,
//! mtime 0), so saving the same images twice gives the same bytes.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::ArchiveError;
use crate::digest::{Digest, HashingReader};

/// A destination for the files of an image layout.
pub(super) trait Out {
    /// Adds a directory (`blobs/`); a tar lists it, a directory creates it.
    fn dir(&mut self, name: &str) -> Result<(), ArchiveError>;
    /// Adds a file of exactly `size` bytes read from `content`.
    fn file(&mut self, name: &str, size: u64, content: &mut dyn Read) -> Result<(), ArchiveError>;
}

/// A tar stream.
pub(super) struct TarOut<W: Write> {
    builder: tar::Builder<W>,
}

impl<W: Write> TarOut<W> {
    pub(super) fn new(out: W) -> TarOut<W> {
        TarOut { builder: tar::Builder::new(out) }
    }

    /// Writes the end-of-archive blocks and flushes.
    pub(super) fn finish(self) -> Result<(), ArchiveError> {
        let mut out = self.builder.into_inner().map_err(ArchiveError::Write)?;
        out.flush().map_err(ArchiveError::Write)
    }
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header
}

impl<W: Write> Out for TarOut<W> {
    fn dir(&mut self, name: &str) -> Result<(), ArchiveError> {
        let mut header = header(tar::EntryType::Directory, 0o755, 0);
        let name = format!("{}/", name.trim_end_matches('/'));
        self.builder.append_data(&mut header, name, io::empty()).map_err(ArchiveError::Write)
    }

    fn file(&mut self, name: &str, size: u64, content: &mut dyn Read) -> Result<(), ArchiveError> {
        let mut header = header(tar::EntryType::Regular, 0o644, size);
        self.builder.append_data(&mut header, name, content).map_err(ArchiveError::Write)
    }
}

/// A directory; each file is written under a temporary name and renamed,
/// so a file that is present is complete.
pub(super) struct DirOut {
    root: PathBuf,
    created: bool,
}

impl DirOut {
    /// Opens `root` for writing: it must be an empty directory or not exist.
    pub(super) fn create(root: &Path) -> Result<DirOut, ArchiveError> {
        match fs_err::read_dir(root) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(ArchiveError::NotEmpty(root.to_path_buf()));
                }
                Ok(DirOut { root: root.to_path_buf(), created: false })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs_err::create_dir_all(root).map_err(|e| ArchiveError::io("create", root, e))?;
                Ok(DirOut { root: root.to_path_buf(), created: true })
            }
            Err(e) => Err(ArchiveError::io("open", root, e)),
        }
    }

    /// Removes what was written (and the directory, if this created it).
    pub(super) fn discard(self) {
        // Best effort: the error that made us discard is the one to report.
        if self.created {
            let _ = fs_err::remove_dir_all(&self.root);
        } else if let Ok(entries) = fs_err::read_dir(&self.root) {
            for entry in entries.flatten() {
                let path = entry.path();
                let _ = if path.is_dir() { fs_err::remove_dir_all(&path) } else { fs_err::remove_file(&path) };
            }
        }
    }
}

impl Out for DirOut {
    fn dir(&mut self, name: &str) -> Result<(), ArchiveError> {
        let path = self.root.join(name);
        fs_err::create_dir_all(&path).map_err(|e| ArchiveError::io("create", &path, e))
    }

    fn file(&mut self, name: &str, _size: u64, content: &mut dyn Read) -> Result<(), ArchiveError> {
        let path = self.root.join(name);
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let partial = path.with_file_name(format!(".{file_name}.partial"));
        let file = File::create(&partial).map_err(|e| ArchiveError::io("create", &partial, e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let copied = io::copy(content, &mut out).and_then(|_| out.flush());
        if let Err(e) = copied {
            let _ = fs_err::remove_file(&partial);
            return Err(ArchiveError::io("write", &partial, e));
        }
        drop(out);
        fs_err::rename(&partial, &path).map_err(|e| ArchiveError::io("rename", &path, e))
    }
}

/// What a streamed file must be.
#[derive(Debug, Clone, Copy)]
pub(super) struct Expect {
    pub digest: Digest,
    pub size: u64,
}

/// Streams `content` into `out` as `name`, checking it is exactly
/// `expect.size` bytes hashing to `expect.digest`. A failure of `content`
/// itself is reported through `read_error`, a wrong size or digest through
/// `mismatch` (with the digest and size actually seen).
pub(super) fn copy_checked(
    out: &mut dyn Out,
    name: &str,
    content: impl Read,
    expect: Expect,
    read_error: impl FnOnce(io::Error) -> ArchiveError,
    mismatch: impl FnOnce(Digest, u64) -> ArchiveError,
) -> Result<(), ArchiveError> {
    let mut checked = Checked { inner: HashingReader::new(content), seen: 0, expected: expect.size, state: State::Reading };
    let result = out.file(name, expect.size, &mut checked);
    let (actual, seen) = checked.inner.finish();
    match (checked.state, result) {
        (State::WrongSize, _) => Err(mismatch(actual, seen)),
        (State::ReadFailed(kind), Err(error)) => Err(read_error(into_io(error, kind))),
        (_, Err(error)) => Err(error),
        (_, Ok(())) if actual != expect.digest => Err(mismatch(actual, seen)),
        (_, Ok(())) => Ok(()),
    }
}

/// The `io::Error` inside a write failure (the reader's own error).
fn into_io(error: ArchiveError, kind: io::ErrorKind) -> io::Error {
    match error {
        ArchiveError::Write(e) | ArchiveError::Io { source: e, .. } => e,
        other => io::Error::new(kind, other.to_string()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    WrongSize,
    ReadFailed(io::ErrorKind),
}

/// A reader that hashes, counts, and fails once the content turns out
/// longer or shorter than declared (a tar header already promised the size).
struct Checked<R> {
    inner: HashingReader<R>,
    seen: u64,
    expected: u64,
    state: State,
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                self.state = State::ReadFailed(e.kind());
                return Err(e);
            }
        };
        self.seen += n as u64;
        if self.seen > self.expected || (n == 0 && self.seen != self.expected) {
            self.state = State::WrongSize;
            return Err(io::Error::new(io::ErrorKind::InvalidData, "content size differs from the declared size"));
        }
        Ok(n)
    }
}
