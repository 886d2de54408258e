//! Content-addressed blobs under `blobs/sha256/<hex>`, OCI layout style.
//! Every write streams into `tmp/`, is hashed while written, fsynced, checked
//! against the expected digest and renamed into place: a reader never sees a
//! partial blob, and a blob's name always matches its content.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::StoreError;
use crate::digest::{Digest, HashingWriter};

/// The blob area of a store.
#[derive(Debug, Clone)]
pub struct Blobs {
    dir: PathBuf,
    tmp: PathBuf,
}

impl Blobs {
    pub(super) fn new(dir: PathBuf, tmp: PathBuf) -> Blobs {
        Blobs { dir, tmp }
    }

    /// Where the blob `digest` is (or would be) stored.
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(digest.hex())
    }

    /// Whether the blob is present (its content is not checked).
    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// A writer for a new blob; `commit` makes it visible.
    pub fn writer(&self) -> Result<BlobWriter, StoreError> {
        let (file, path) = temp_file(&self.tmp, "blob")?;
        let out = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
        Ok(BlobWriter { out: Some(out), tmp: path, dir: self.dir.clone() })
    }

    /// Streams `reader` into a new blob, checking `expected` when given.
    pub fn ingest(&self, mut reader: impl Read, expected: Option<&Digest>) -> Result<(Digest, u64), StoreError> {
        let mut writer = self.writer()?;
        std::io::copy(&mut reader, &mut writer).map_err(|e| StoreError::io("write blob", &writer.tmp, e))?;
        writer.commit(expected)
    }

    /// Stores a small document (config, manifest) and returns its digest.
    pub fn put(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of(bytes);
        if !self.contains(&digest) {
            self.ingest(bytes, Some(&digest))?;
        }
        Ok(digest)
    }

    /// Reads a small blob whole, verifying its digest.
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.path(digest);
        let bytes = fs_err::read(&path).map_err(|e| StoreError::missing_or_io(*digest, &path, e))?;
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(StoreError::Corrupt { digest: *digest, actual });
        }
        Ok(bytes)
    }

    /// Opens a blob for streaming.
    pub fn open(&self, digest: &Digest) -> Result<File, StoreError> {
        let path = self.path(digest);
        File::open(&path).map_err(|e| StoreError::missing_or_io(*digest, &path, e))
    }

    /// The blob's size in bytes; [`StoreError::MissingBlob`] when absent.
    pub fn size(&self, digest: &Digest) -> Result<u64, StoreError> {
        let path = self.path(digest);
        Ok(fs_err::metadata(&path).map_err(|e| StoreError::missing_or_io(*digest, &path, e))?.len())
    }

    /// Every blob present (files with a valid digest name).
    pub fn list(&self) -> Result<Vec<Digest>, StoreError> {
        let entries = fs_err::read_dir(&self.dir).map_err(|e| StoreError::io("list", &self.dir, e))?;
        let mut digests = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io("list", &self.dir, e))?;
            if let Ok(digest) = Digest::from_hex(&entry.file_name().to_string_lossy()) {
                digests.push(digest);
            }
        }
        digests.sort();
        Ok(digests)
    }

    /// Deletes the blob; an absent blob is not an error.
    pub fn remove(&self, digest: &Digest) -> Result<(), StoreError> {
        let path = self.path(digest);
        match fs_err::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::io("remove", &path, e)),
            _ => Ok(()),
        }
    }
}

/// A blob being written; dropped without `commit`, it leaves nothing behind.
pub struct BlobWriter {
    out: Option<HashingWriter<BufWriter<File>>>,
    tmp: PathBuf,
    dir: PathBuf,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.as_mut().map_or(Ok(0), |out| out.write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.as_mut().map_or(Ok(()), |out| out.flush())
    }
}

impl BlobWriter {
    /// Syncs the data, checks the digest and moves the blob into place
    /// (and syncs the directory, so the rename survives a crash).
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<(Digest, u64), StoreError> {
        let Some(out) = self.out.take() else { return Err(StoreError::io("commit", &self.tmp, std::io::ErrorKind::Other.into())) };
        let (digest, size, buffered) = out.finish();
        let file = buffered.into_inner().map_err(|e| StoreError::io("write blob", &self.tmp, e.into_error()))?;
        file.sync_all().map_err(|e| StoreError::io("sync blob", &self.tmp, e))?;
        drop(file);
        if let Some(expected) = expected.filter(|e| **e != digest) {
            return Err(StoreError::DigestMismatch { expected: *expected, actual: digest });
        }
        let target = self.dir.join(digest.hex());
        fs_err::rename(&self.tmp, &target).map_err(|e| StoreError::io("rename blob", &target, e))?;
        sync_dir(&self.dir)?;
        Ok((digest, size))
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // After a successful commit the temp file has been renamed away.
        let _ = fs_err::remove_file(&self.tmp);
    }
}

/// Makes a rename inside `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io("sync", dir, e))
}

/// Creates a uniquely named file in `dir`.
pub(super) fn temp_file(dir: &Path, prefix: &str) -> Result<(File, PathBuf), StoreError> {
    for attempt in 0..100u32 {
        let path = dir.join(unique_name(prefix, attempt));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((file, path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(StoreError::io("create", &path, e)),
        }
    }
    Err(StoreError::io("create", dir, std::io::ErrorKind::AlreadyExists.into()))
}

/// `prefix-<pid>-<nanos>-<attempt>`: unique across processes and calls.
pub(super) fn unique_name(prefix: &str, attempt: u32) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{prefix}-{}-{nanos}-{attempt}", std::process::id())
}
