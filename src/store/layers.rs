//! Turning a directory of changes (an overlay upper directory) into a
//! stored layer: an uncompressed blob addressed by its diff_id — local
//! layers are compressed only when saved or pushed — and a snapshot that
//! later containers stack as a lower directory.

use std::path::Path;

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
    pub fn commit_layer(&self, upper: &Path, after: UpperAfterCommit) -> Result<Option<(Digest, LayerRecord)>, StoreError> {
        let mut entries = std::fs::read_dir(upper).map_err(|e| StoreError::io("read", upper, e))?;
        if entries.next().is_none() {
            return Ok(None);
        }
        let options = WriteOptions { compression: Compression::None, source_date_epoch: super::source_date_epoch() };
        let (info, blob) = write_layer(upper, self.blobs.writer()?, &options)?;
        let (digest, size) = blob.commit(Some(&info.digest))?;
        match after {
            UpperAfterCommit::Adopt => {
                self.snapshots.adopt(upper, &info.diff_id)?;
            }
            UpperAfterCommit::Keep if !self.snapshots.contains(&info.diff_id) => self.unpack_snapshot(&digest, &info.diff_id)?,
            UpperAfterCommit::Keep => {}
        }
        let record = LayerRecord {
            blob: digest,
            media_type: Compression::None.media_type().to_owned(),
            size,
            uncompressed_size: info.uncompressed_size,
        };
        self.put_layer(&info.diff_id, &record)?;
        Ok(Some((info.diff_id, record)))
    }

    fn unpack_snapshot(&self, blob: &Digest, diff_id: &Digest) -> Result<(), StoreError> {
        let work = self.temp_dir("snapshot")?;
        let rootfs = work.join("rootfs");
        let unpacked = std::fs::create_dir(&rootfs)
            .map_err(|e| StoreError::io("create", &rootfs, e))
            .and_then(|()| Ok(unpack(std::io::BufReader::new(self.blobs.open(blob)?), &rootfs)?))
            .and_then(|_| self.snapshots.adopt(&rootfs, diff_id));
        snapshots::remove_tree(&work)?;
        unpacked.map(|_| ())
    }
}
