//! Store metadata in an embedded ACID database (redb): tags, images and the
//! layers they use. redb gives atomic, crash-safe commits; it allows one
//! open handle per file, so every access opens the database briefly under
//! an exclusive flock and closes it again — two strata processes take turns
//! instead of failing.
//!
//! Table names carry a version (`tags_v1`): a format change gets a new name,
//! so old data is never misread.

use std::path::PathBuf;

use redb::{Database, ReadTransaction, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::lock::Lock;
use super::StoreError;
use crate::digest::Digest;

/// Reference (`docker.io/library/busybox:latest`) → manifest digest.
pub const TAGS: TableDefinition<&str, &str> = TableDefinition::new("tags_v1");
/// Manifest digest → [`ImageRecord`] (JSON).
pub const IMAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("images_v1");
/// Layer diff_id → [`LayerRecord`] (JSON).
pub const LAYERS: TableDefinition<&str, &[u8]> = TableDefinition::new("layers_v1");

/// An image the store holds (tagged or not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The config blob's digest: the image ID.
    pub config: Digest,
    /// When the image was created (RFC 3339).
    pub created: String,
    /// Sum of the uncompressed layer sizes (what `strata images` shows).
    pub size: u64,
}

/// A layer: its stored blob and sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// The digest of the stored blob (equal to the diff_id when uncompressed).
    pub blob: Digest,
    /// The OCI layer media type, naming the blob's compression
    /// (`application/vnd.oci.image.layer.v1.tar+gzip`).
    pub media_type: String,
    /// The blob's size in bytes, as stored.
    pub size: u64,
    /// The size of the plain tar in bytes; 0 until known (a pulled layer
    /// is measured when first unpacked, see unpack.rs: a tar is never empty).
    pub uncompressed_size: u64,
}

/// Access to the metadata database.
#[derive(Debug, Clone)]
pub struct Meta {
    path: PathBuf,
    lock: PathBuf,
}

impl Meta {
    pub(super) fn new(path: PathBuf, lock: PathBuf) -> Meta {
        Meta { path, lock }
    }

    fn open(&self) -> Result<(Lock, Database), StoreError> {
        let lock = Lock::exclusive(&self.lock)?;
        let db = Database::create(&self.path).map_err(redb::Error::from)?;
        Ok((lock, db))
    }

    /// Runs `f` holding the database lock, without opening the database:
    /// for work that must not interleave with other processes' transactions.
    pub fn locked<T>(&self, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        let _lock = Lock::exclusive(&self.lock)?;
        f()
    }

    /// Runs `f` in a read transaction.
    pub fn read<T>(&self, f: impl FnOnce(&ReadTransaction) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let (_lock, db) = self.open()?;
        let txn = db.begin_read().map_err(redb::Error::from)?;
        f(&txn)
    }

    /// Like [`Meta::write`], then runs `after` with `f`'s result while still
    /// holding the lock (file removals that must not interleave with other
    /// processes' transactions).
    pub fn write_then<T, U>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
        after: impl FnOnce(T) -> Result<U, StoreError>,
    ) -> Result<U, StoreError> {
        let (_lock, db) = self.open()?;
        let txn = db.begin_write().map_err(redb::Error::from)?;
        let value = f(&txn)?;
        txn.commit().map_err(redb::Error::from)?;
        drop(db);
        after(value)
    }

    /// Runs `f` in a write transaction and commits it if `f` succeeds.
    pub fn write<T>(&self, f: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let (_lock, db) = self.open()?;
        let txn = db.begin_write().map_err(redb::Error::from)?;
        let value = f(&txn)?;
        txn.commit().map_err(redb::Error::from)?;
        Ok(value)
    }
}

/// Decodes a JSON record, naming the table and key when it is damaged.
pub fn decode<T: for<'de> Deserialize<'de>>(table: &str, key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::BadRecord { table: table.into(), key: key.into(), reason: e.to_string() })
}

/// Encodes a record as JSON.
pub fn encode(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}
