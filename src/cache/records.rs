//! Cache records in the store's database: what a key produced, and what
//! went into it (so a miss can be explained against the previous build of
//! the same step).

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::key::CacheKey;
use crate::digest::Digest;
use crate::store::{layer_in, LayerRecord, Store, StoreError};

/// Cache key → [`CacheRecord`] (JSON).
const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("cache_records_v1");
/// Step identity (Dockerfile, stage, step) → the key of its last build.
const LAST: TableDefinition<&str, &str> = TableDefinition::new("cache_last_v1");

/// One named input of a key, as it can be shown to a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    pub name: String,
    pub value: String,
}

impl Input {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Input {
        Input { name: name.into(), value: value.into() }
    }
}

/// What a cached step produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheRecord {
    pub key: CacheKey,
    /// The layer the step added (its diff_id), if it added one.
    pub layer: Option<Digest>,
    pub inputs: Vec<Input>,
    /// The step as written, for `strata cache` listings.
    pub step: String,
    pub created: String,
}

/// A cache hit: the record and its layer (diff_id and record), if any.
pub type CacheHit = (CacheRecord, Option<(Digest, LayerRecord)>);

/// The cache tables of a store.
pub struct Cache<'a> {
    store: &'a Store,
}

impl<'a> Cache<'a> {
    pub fn new(store: &'a Store) -> Cache<'a> {
        Cache { store }
    }

    /// The record for `key` and its layer's record, if the layer is still
    /// in the store (one database read: this is every step of a warm build).
    pub fn get(&self, key: &CacheKey) -> Result<Option<CacheHit>, StoreError> {
        let key = key.to_string();
        let found = self.store.meta.read(|txn| {
            let Some(record) = record_in(txn, &key)? else { return Ok(None) };
            let layer = match record.layer {
                Some(diff_id) => match layer_in(txn, &diff_id)? {
                    Some(layer) => Some((diff_id, layer)),
                    None => return Ok(None),
                },
                None => None,
            };
            Ok(Some((record, layer)))
        })?;
        Ok(found.filter(|(_, layer)| layer.as_ref().is_none_or(|(diff_id, _)| self.store.snapshots.contains(diff_id))))
    }

    /// The record of the last build of the step `identity`.
    pub fn last(&self, identity: &str) -> Result<Option<CacheRecord>, StoreError> {
        let key = self.store.meta.read(|txn| {
            let table = match txn.open_table(LAST) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            Ok(table.get(identity)?.map(|v| v.value().to_owned()))
        })?;
        match key {
            Some(key) => self.read_record(&key),
            None => Ok(None),
        }
    }

    fn read_record(&self, key: &str) -> Result<Option<CacheRecord>, StoreError> {
        self.store.meta.read(|txn| record_in(txn, key))
    }

    /// Stores `record` and remembers it as the last build of `identity`.
    pub fn put(&self, identity: &str, record: &CacheRecord) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(record).unwrap_or_default();
        let key = record.key.to_string();
        self.store.meta.write(|txn| {
            txn.open_table(RECORDS)?.insert(key.as_str(), bytes.as_slice())?;
            txn.open_table(LAST)?.insert(identity, key.as_str())?;
            Ok(())
        })
    }

    /// Remembers each `key` as the last build of its step (cache hits),
    /// in one transaction.
    pub fn touch_all(&self, hits: &[(String, CacheKey)]) -> Result<(), StoreError> {
        if hits.is_empty() {
            return Ok(());
        }
        self.store.meta.write(|txn| {
            let mut table = txn.open_table(LAST)?;
            for (identity, key) in hits {
                table.insert(identity.as_str(), key.to_string().as_str())?;
            }
            Ok(())
        })
    }

    /// Every record, for `strata cache` commands.
    pub fn records(&self) -> Result<Vec<CacheRecord>, StoreError> {
        self.store.meta.read(|txn| {
            let table = match txn.open_table(RECORDS) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(e.into()),
            };
            let mut records = Vec::new();
            for row in table.iter()? {
                let (_, value) = row?;
                if let Ok(record) = serde_json::from_slice(value.value()) {
                    records.push(record);
                }
            }
            Ok(records)
        })
    }
}

/// A record inside a read transaction; a damaged one reads as absent (the
/// step reruns and replaces it).
fn record_in(txn: &redb::ReadTransaction, key: &str) -> Result<Option<CacheRecord>, StoreError> {
    let table = match txn.open_table(RECORDS) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let Some(value) = table.get(key)? else { return Ok(None) };
    Ok(serde_json::from_slice(value.value()).ok())
}
