//! Turning a directory of changes (an overlay upper directory) into a
//! stored layer: an uncompressed blob addressed by its diff_id — local
//! layers are compressed only when saved or pushed — and a snapshot that
//! later containers stack as a lower directory.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{snapshots, LayerRecord, Store, StoreError};
use crate::digest::Digest;
use crate::layer::{unpack, write_layer, Compression, WriteOptions};

/// What happens to the directory once its layer is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpperAfterCommit {
    /// It becomes the snapshot (renamed; the caller is done with it).
    Adopt,
    /// It stays as it is (a working container keeps changing it); the
    /// snapshot is unpacked from the new blob instead.
    Keep,
}

impl Store {
    /// Stores `upper` (overlay form: whiteout devices, opaque directories)
    /// as a layer; returns its diff_id and record, or `None` when `upper`
    /// is empty (the step changed nothing: no layer, as in BuildKit).
    ///
    /// An adopted upper directory is the layer: only its tar stream's
    /// digest is computed, and the tar itself is made again from the
    /// snapshot when a save or push needs it ([`Store::open_blob`]) — the
    /// stream is deterministic, and checked against the diff_id. With
    /// `SOURCE_DATE_EPOCH` set, or a directory that stays in use, the tar
    /// is written as a blob now.
    pub fn commit_layer(&self, upper: &Path, after: UpperAfterCommit) -> Result<Option<(Digest, LayerRecord)>, StoreError> {
        let mut entries = fs_err::read_dir(upper).map_err(|e| StoreError::io("read", upper, e))?;
        if entries.next().is_none() {
            return Ok(None);
        }
        let epoch = super::source_date_epoch();
        let options = WriteOptions { compression: Compression::None, source_date_epoch: epoch };
        // Leased before it is visible, so a concurrent prune leaves it be.
        let info = match (after, epoch) {
            (UpperAfterCommit::Adopt, None) => {
                let info = write_layer(upper, std::io::sink(), &options)?.0;
                self.hold_layer(&info.diff_id)?;
                info
            }
            _ => {
                let (info, blob) = write_layer(upper, self.blobs.writer()?, &options)?;
                self.hold_layer(&info.diff_id)?;
                blob.commit(Some(&info.digest))?;
                info
            }
        };
        match after {
            UpperAfterCommit::Adopt => {
                self.snapshots.adopt(upper, &info.diff_id)?;
            }
            UpperAfterCommit::Keep if !self.snapshots.contains(&info.diff_id) => self.unpack_snapshot(&info.digest, &info.diff_id)?,
            UpperAfterCommit::Keep => {}
        }
        let record = LayerRecord {
            blob: info.digest,
            media_type: Compression::None.media_type().to_owned(),
            size: info.size,
            uncompressed_size: info.uncompressed_size,
        };
        self.put_layer(&info.diff_id, &record)?;
        Ok(Some((info.diff_id, record)))
    }

    /// Records the content digest of regular files of a snapshot a copy
    /// wrote (paths relative to the snapshot), for the step's next run.
    pub fn record_copy_contents(&self, diff_id: &Digest, files: &[(PathBuf, Digest)]) -> Result<(), StoreError> {
        self.snapshots.record_contents(diff_id, files, &self.tmp)
    }

    /// A blob's content: the stored file, or for a layer kept only as its
    /// snapshot, the layer's tar made again from it (on a thread, checked
    /// against the digest: a snapshot changed since is an error at the end
    /// of the stream, never silently different content).
    pub fn open_blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send>, StoreError> {
        match self.blobs.open(digest) {
            Ok(file) => Ok(Box::new(file)),
            Err(StoreError::MissingBlob(_)) if self.is_snapshot_only(digest)? => Ok(Box::new(SnapshotTar::spawn(self.snapshots.path(digest), *digest)?)),
            Err(e) => Err(e),
        }
    }

    /// Whether the store has `digest`'s content (as a file or a snapshot).
    pub fn has_blob(&self, digest: &Digest) -> Result<bool, StoreError> {
        Ok(self.blobs.contains(digest) || self.is_snapshot_only(digest)?)
    }

    /// An uncompressed layer committed by strata whose tar was not kept:
    /// its record names the diff_id itself as the blob.
    fn is_snapshot_only(&self, digest: &Digest) -> Result<bool, StoreError> {
        let record = self.layer(digest)?;
        Ok(record.is_some_and(|r| r.blob == *digest) && self.snapshots.contains(digest))
    }

    fn unpack_snapshot(&self, blob: &Digest, diff_id: &Digest) -> Result<(), StoreError> {
        let work = self.temp_dir("snapshot")?;
        let rootfs = work.join("rootfs");
        let unpacked = fs_err::create_dir(&rootfs)
            .map_err(|e| StoreError::io("create", &rootfs, e))
            .and_then(|()| Ok(unpack(std::io::BufReader::new(self.blobs.open(blob)?), &rootfs)?))
            .and_then(|_| self.snapshots.adopt(&rootfs, diff_id));
        snapshots::remove_tree(&work)?;
        unpacked.map(|_| ())
    }
}

/// The tar of a snapshot, written by a thread into a pipe.
struct SnapshotTar {
    pipe: std::io::PipeReader,
    writer: Option<std::thread::JoinHandle<Result<(), StoreError>>>,
}

impl SnapshotTar {
    fn spawn(snapshot: PathBuf, expected: Digest) -> Result<SnapshotTar, StoreError> {
        let (pipe, out) = std::io::pipe().map_err(|e| StoreError::io("stream", &snapshot, e))?;
        let writer = std::thread::Builder::new()
            .name("snapshot-tar".into())
            .spawn(move || {
                let options = WriteOptions { compression: Compression::None, source_date_epoch: None };
                let (info, _) = write_layer(&snapshot, out, &options)?;
                if info.diff_id != expected {
                    return Err(StoreError::Corrupt { digest: expected, actual: info.diff_id });
                }
                Ok(())
            })
            .map_err(|e| StoreError::io("stream", Path::new("snapshot"), e))?;
        Ok(SnapshotTar { pipe, writer: Some(writer) })
    }
}

impl Read for SnapshotTar {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.pipe.read(buf)?;
        if n == 0 && !buf.is_empty() {
            // The end: the stream counts only if the writer says it was whole.
            if let Some(writer) = self.writer.take() {
                match writer.join() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(std::io::Error::other(e)),
                    Err(_) => return Err(std::io::Error::other("snapshot tar writer panicked")),
                }
            }
        }
        Ok(n)
    }
}
