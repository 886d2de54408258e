//! The form an image leaves the store in. Built layers are kept
//! uncompressed (the snapshot is the layer; committing never waits for a
//! compressor); saving, exporting or pushing wants them compressed. Each
//! layer is compressed once per algorithm — in parallel across layers — and
//! the result is recorded (`compressed_v1`: `<diff_id>:<algorithm>` → blob),
//! so the next save or push reuses it, as Docker's and BuildKit's stores do.

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::meta::{decode, encode};
use super::{LayerRecord, Store, StoreError, StoredImage};
use crate::digest::Digest;
use crate::image::{layer_media_type, Manifest};
use crate::layer::{decompress, Compression, EncoderThread};

/// `<diff_id>:<gzip|zstd|none>` → [`CompressedBlob`] (JSON).
pub(super) const COMPRESSED: TableDefinition<&str, &[u8]> = TableDefinition::new("compressed_v1");

/// A layer blob in one compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompressedBlob {
    /// The blob's digest (what a manifest lists for the layer).
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
}

/// An image in its distributable form: the same config (same image ID),
/// a manifest over the layer blobs in the wanted compression.
#[derive(Debug, Clone)]
pub struct DistributableImage {
    /// The manifest over the compressed layers (stored as a blob too).
    pub manifest: Manifest,
    /// Per layer, bottom first: the blob and the plain tar's diff_id.
    pub layers: Vec<(CompressedBlob, Digest)>,
}

impl Store {
    /// `image` with every layer in `compression`: layers already stored
    /// that way are used as they are; others are compressed (or
    /// decompressed) once, up to `jobs` at a time, and remembered.
    pub fn distributable(&self, image: &StoredImage, compression: Compression, jobs: usize) -> Result<DistributableImage, StoreError> {
        let diff_ids = &image.config.rootfs.diff_ids;
        let records = self.image_layers(diff_ids)?;
        let blobs = crate::parallel::for_each(&records, jobs, |(diff_id, record)| self.layer_in(diff_id, record, compression))?;
        let media_type = layer_media_type(match compression {
            Compression::None => None,
            other => Some(other.name()),
        });
        let descriptors: Vec<_> = blobs.iter().map(|b| (b.digest, b.size, media_type.clone())).collect();
        let config_size = self.blobs.size(&image.config_digest)?;
        let manifest = Manifest::build((image.config_digest, config_size), &descriptors)?;
        self.blobs.put(&manifest.bytes)?;
        Ok(DistributableImage { manifest, layers: blobs.into_iter().zip(diff_ids.iter().copied()).collect() })
    }

    /// The layer `diff_id` as registries get it: as stored when that is
    /// compressed, else its gzip form (made once, then reused).
    pub fn distributable_layer(&self, diff_id: &Digest) -> Result<LayerRecord, StoreError> {
        let record = self.layer(diff_id)?.ok_or(StoreError::MissingBlob(*diff_id))?;
        if Compression::from_media_type(&record.media_type).is_some_and(|c| c != Compression::None) {
            return Ok(record);
        }
        let blob = self.layer_in(diff_id, &record, Compression::Gzip)?;
        Ok(LayerRecord {
            blob: blob.digest,
            media_type: Compression::Gzip.media_type().to_owned(),
            size: blob.size,
            uncompressed_size: record.uncompressed_size,
        })
    }

    /// One layer's blob in `compression`.
    fn layer_in(&self, diff_id: &Digest, record: &LayerRecord, compression: Compression) -> Result<CompressedBlob, StoreError> {
        if Compression::from_media_type(&record.media_type) == Some(compression) {
            return Ok(CompressedBlob { digest: record.blob, size: record.size });
        }
        let key = format!("{diff_id}:{}", compression.name());
        if let Some(known) = self.compressed(&key)? {
            if self.blobs.contains(&known.digest) {
                return Ok(known);
            }
        }
        let blob = self.transcode(record, diff_id, compression)?;
        self.meta.write(|txn| {
            txn.open_table(COMPRESSED)?.insert(key.as_str(), encode(&blob).as_slice())?;
            Ok(())
        })?;
        Ok(blob)
    }

    /// The compressed forms of `layers` (garbage collection keeps them);
    /// the records of other layers' forms are dropped.
    pub(super) fn compressed_forms_of(&self, layers: &std::collections::BTreeSet<Digest>) -> Result<Vec<Digest>, StoreError> {
        self.meta.write(|txn| {
            let mut table = txn.open_table(COMPRESSED)?;
            let (mut keep, mut stale) = (Vec::new(), Vec::new());
            for row in table.iter()? {
                let (key, value) = row?;
                let layer = key.value().split(':').take(2).collect::<Vec<_>>().join(":");
                match layer.parse::<Digest>() {
                    Ok(diff_id) if layers.contains(&diff_id) => keep.push(decode::<CompressedBlob>("compressed_v1", key.value(), value.value())?.digest),
                    _ => stale.push(key.value().to_owned()),
                }
            }
            for key in stale {
                table.remove(key.as_str())?;
            }
            Ok(keep)
        })
    }

    fn compressed(&self, key: &str) -> Result<Option<CompressedBlob>, StoreError> {
        self.meta.read(|txn| {
            let table = match txn.open_table(COMPRESSED) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let value = table.get(key)?;
            value.map(|v| decode("compressed_v1", key, v.value())).transpose()
        })
    }

    /// Streams the stored blob through the decompressor and a compressor
    /// on its own thread into a new blob; checks the plain tar's diff_id
    /// on the way, so a damaged layer never leaves the store.
    fn transcode(&self, record: &LayerRecord, diff_id: &Digest, compression: Compression) -> Result<CompressedBlob, StoreError> {
        let source = std::io::BufReader::with_capacity(256 << 10, self.open_blob(&record.blob)?);
        let (_, mut plain) = decompress(source)?;
        let mut encoder = EncoderThread::spawn(compression, self.blobs.writer()?).map_err(|e| StoreError::io("compress", &self.tmp, e))?;
        let mut hashing = crate::digest::HashingWriter::new(&mut encoder);
        std::io::copy(&mut plain, &mut hashing).map_err(|e| StoreError::io("compress", &self.tmp, e))?;
        let (actual, _, _) = hashing.finish();
        if actual != *diff_id {
            return Err(StoreError::Corrupt { digest: *diff_id, actual });
        }
        let (digest, size, writer) = encoder.finish().map_err(|e| StoreError::io("compress", &self.tmp, e))?;
        writer.commit(Some(&digest))?;
        Ok(CompressedBlob { digest, size })
    }
}
