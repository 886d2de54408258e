//! Layers as they leave the store. Builds keep their layers uncompressed
//! (quick to write, and unpacked beside the blob anyway); a registry wants
//! them compressed. The first push (or cache export) of such a layer
//! compresses it once, with gzip, and the compressed blob is remembered by
//! diff_id, so every later push reuses it. The store also remembers which
//! repositories a blob came from or went to, so a push to another
//! repository of the same registry can mount it instead of uploading it.

use std::io::BufReader;

use redb::{TableDefinition, TableHandle};

use super::meta::{decode, encode, LayerRecord};
use super::{Store, StoreError};
use crate::digest::Digest;
use crate::layer::{Compression, EncoderThread};

/// Layer diff_id → the [`LayerRecord`] of its compressed blob (JSON).
const DISTRIBUTABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("distributable_layers_v1");
/// Blob digest → the `registry/repository` names it is known in (JSON list).
const SOURCES: TableDefinition<&str, &[u8]> = TableDefinition::new("blob_sources_v1");

impl Store {
    /// The layer `diff_id` as a compressed blob: its stored blob when that
    /// is compressed, else a gzip copy made once and reused.
    pub fn distributable_layer(&self, diff_id: &Digest) -> Result<LayerRecord, StoreError> {
        let record = self.layer(diff_id)?.ok_or(StoreError::MissingBlob(*diff_id))?;
        if Compression::from_media_type(&record.media_type) != Some(Compression::None) {
            return Ok(record);
        }
        if let Some(known) = self.read_json::<LayerRecord>(DISTRIBUTABLE, &diff_id.to_string())? {
            if self.blobs.contains(&known.blob) {
                return Ok(known);
            }
        }
        let compressed = self.compress(&record)?;
        let bytes = encode(&compressed);
        self.meta.write(|txn| {
            txn.open_table(DISTRIBUTABLE)?.insert(diff_id.to_string().as_str(), bytes.as_slice())?;
            Ok(())
        })?;
        Ok(compressed)
    }

    fn compress(&self, record: &LayerRecord) -> Result<LayerRecord, StoreError> {
        let path = self.blobs.path(&record.blob);
        let mut plain = BufReader::with_capacity(1 << 20, self.blobs.open(&record.blob)?);
        let mut encoder = EncoderThread::spawn(Compression::Gzip, self.blobs.writer()?).map_err(|e| StoreError::io("compress", &path, e))?;
        std::io::copy(&mut plain, &mut encoder).map_err(|e| StoreError::io("compress", &path, e))?;
        let (digest, _, writer) = encoder.finish().map_err(|e| StoreError::io("compress", &path, e))?;
        let (blob, size) = writer.commit(Some(&digest))?;
        Ok(LayerRecord { blob, media_type: Compression::Gzip.media_type().to_owned(), size, uncompressed_size: record.uncompressed_size })
    }

    /// The compressed copies made for `layers`, so garbage collection keeps
    /// them while their layer lives (else the next push compresses again).
    pub(super) fn distributable_blobs(&self, layers: &std::collections::BTreeSet<Digest>) -> Result<Vec<Digest>, StoreError> {
        let mut blobs = Vec::new();
        for diff_id in layers {
            if let Some(record) = self.read_json::<LayerRecord>(DISTRIBUTABLE, &diff_id.to_string())? {
                blobs.push(record.blob);
            }
        }
        Ok(blobs)
    }

    /// Remembers that `blobs` are in the repository `name` (`registry/repo`).
    pub fn add_blob_source(&self, blobs: &[Digest], name: &str) -> Result<(), StoreError> {
        let known: Vec<(Digest, Vec<String>)> =
            blobs.iter().map(|d| Ok((*d, self.blob_sources(d)?))).collect::<Result<_, StoreError>>()?;
        self.meta.write(|txn| {
            let mut table = txn.open_table(SOURCES)?;
            for (digest, mut names) in known {
                if names.iter().any(|n| n == name) {
                    continue;
                }
                names.push(name.to_owned());
                table.insert(digest.to_string().as_str(), encode(&names).as_slice())?;
            }
            Ok(())
        })
    }

    /// The repositories (`registry/repo`) `blob` is known to be in.
    pub fn blob_sources(&self, blob: &Digest) -> Result<Vec<String>, StoreError> {
        Ok(self.read_json(SOURCES, &blob.to_string())?.unwrap_or_default())
    }

    fn read_json<T: for<'de> serde::Deserialize<'de>>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        self.meta.read(|txn| {
            let name = table.name().to_owned();
            let table = match txn.open_table(table) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            match table.get(key)? {
                Some(value) => Ok(Some(decode(&name, key, value.value())?)),
                None => Ok(None),
            }
        })
    }
}
