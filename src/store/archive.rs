//! The store's side of [`crate::image::archive`]'s two traits: blob reads
//! for `save`, and layer and image commits for `load`.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::{LayerRecord, Store, StoreError};
use crate::digest::Digest;
use crate::image::archive::{BlobSource, LoadTarget, LoadedLayer};
use crate::image::{ImageConfig, Reference};

/// Blob reads for `save` (layers kept only as snapshots are streamed).
impl BlobSource for Store {
    fn open_blob(&self, digest: &Digest) -> io::Result<Box<dyn Read + '_>> {
        let reader = Store::open_blob(self, digest).map_err(into_io)?;
        Ok(reader)
    }
}

fn into_io(error: StoreError) -> io::Error {
    match error {
        StoreError::Io { source, .. } => source,
        StoreError::MissingBlob(_) => io::Error::new(io::ErrorKind::NotFound, error),
        other => io::Error::other(other),
    }
}

/// The store operations `load` needs.
impl LoadTarget for Store {
    type Error = StoreError;

    fn scratch_dir(&self, prefix: &str) -> Result<PathBuf, StoreError> {
        self.temp_dir(prefix)
    }

    fn existing_layer(&self, diff_id: &Digest) -> Result<Option<LoadedLayer>, StoreError> {
        // Leased before looking, so a concurrent prune cannot remove what we reuse or add.
        self.hold_layer(diff_id)?;
        let Some(record) = self.layer(diff_id)? else { return Ok(None) };
        if !self.has_blob(&record.blob)? || !self.snapshots.contains(diff_id) {
            return Ok(None);
        }
        Ok(Some(LoadedLayer { digest: record.blob, media_type: record.media_type, size: record.size, uncompressed_size: record.uncompressed_size }))
    }

    fn add_blob(&self, content: &mut dyn Read, expected: Option<&Digest>) -> Result<(Digest, u64), StoreError> {
        self.blobs.ingest(content, expected)
    }

    fn add_snapshot(&self, unpacked: &Path, diff_id: &Digest) -> Result<(), StoreError> {
        self.snapshots.adopt(unpacked, diff_id).map(drop)
    }

    fn add_image(&self, config_bytes: &[u8], config: &ImageConfig, layers: &[(Digest, LoadedLayer)], tags: &[Reference]) -> Result<Digest, StoreError> {
        let records: Vec<(Digest, LayerRecord)> = layers
            .iter()
            .map(|(diff_id, l)| {
                let record = LayerRecord { blob: l.digest, media_type: l.media_type.clone(), size: l.size, uncompressed_size: l.uncompressed_size };
                (*diff_id, record)
            })
            .collect();
        Ok(self.commit_image_bytes(config_bytes, config, &records, tags)?.id())
    }
}
