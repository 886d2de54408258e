//! Cache records in the store's database: what a key produced, and what
//! went into it (so a miss can be explained against the previous build of
//! the same step).

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::key::CacheKey;
use super::usage::{self, BuildUse, Usage};
use crate::digest::Digest;
use crate::store::{layer_in, LayerRecord, Store, StoreError};

/// Cache key → [`CacheRecord`] (JSON).
const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("cache_records_v1");
/// Step identity (Dockerfile, stage, step) → the key of its last build.
const LAST: TableDefinition<&str, &str> = TableDefinition::new("cache_last_v1");

/// One named input of a key, as it can be shown to a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    /// What the input is: `parent`, `instruction`, `op`, `from-stage`,
    /// `from-image`, `env:<NAME>`, `file:<path>`, `exclude`.
    pub name: String,
    /// Its value as text: a key or digest, the instruction as written, a
    /// variable's value.
    pub value: String,
}

impl Input {
    /// The input `name` with `value`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Input {
        Input { name: name.into(), value: value.into() }
    }
}

/// What a cached step produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheRecord {
    /// The step's key (the `cache_records_v1` key).
    pub key: CacheKey,
    /// The layer the step added (its diff_id), if it added one.
    pub layer: Option<Digest>,
    /// The inputs the key was computed from, in the order they were hashed.
    pub inputs: Vec<Input>,
    /// The step as written, for `strata cache` listings.
    pub step: String,
    /// When the step was built (RFC 3339).
    pub created: String,
    /// The stage that made it (its name, or `stage-N`); empty in records
    /// written before stages were recorded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stage: String,
}

/// A cache hit: the record and its layer (diff_id and record), if any.
pub type CacheHit = (CacheRecord, Option<(Digest, LayerRecord)>);

/// The cache tables of a store.
pub struct Cache<'a> {
    store: &'a Store,
}

impl<'a> Cache<'a> {
    /// The cache tables of `store`.
    pub fn new(store: &'a Store) -> Cache<'a> {
        Cache { store }
    }

    /// The record for `key` and its layer's record, if the layer is still
    /// in the store (one database read: this is every step of a warm
    /// build). The layer is leased for this process in the same critical
    /// section, so a prune running elsewhere either sees the lease or has
    /// already removed the record (see store/lease.rs).
    pub fn get(&self, key: &CacheKey) -> Result<Option<CacheHit>, StoreError> {
        let key = key.to_string();
        self.store.meta.read(|txn| {
            let Some(record) = record_in(txn, &key)? else { return Ok(None) };
            let layer = match record.layer {
                Some(diff_id) => match layer_in(txn, &diff_id)? {
                    Some(layer) if self.store.has_layer_content(&diff_id, &layer) => Some((diff_id, layer)),
                    _ => return Ok(None),
                },
                None => None,
            };
            if let Some((diff_id, _)) = &layer {
                self.store.hold_layer_locked(diff_id)?;
            }
            Ok(Some((record, layer)))
        })
    }

    /// Like [`Cache::get`] without leasing the layer: for looking only
    /// (`strata cache explain`).
    pub fn peek(&self, key: &CacheKey) -> Result<Option<CacheRecord>, StoreError> {
        let record = self.read_record(&key.to_string())?;
        Ok(record.filter(|r| r.layer.is_none_or(|l| self.store.snapshots.contains(&l))))
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

    /// Stores many records (each with its step identity) in one
    /// transaction: for imports of a cache and for benchmarks.
    pub fn put_many(&self, records: &[(String, CacheRecord)]) -> Result<(), StoreError> {
        self.store.meta.write(|txn| {
            let mut table = txn.open_table(RECORDS)?;
            let mut last = txn.open_table(LAST)?;
            for (identity, record) in records {
                let key = record.key.to_string();
                table.insert(key.as_str(), serde_json::to_vec(record).unwrap_or_default().as_slice())?;
                last.insert(identity.as_str(), key.as_str())?;
            }
            Ok(())
        })
    }

    /// Remembers each `key` as the last build of its step and counts the
    /// use by `build` (last used, use count, recent builds), in one
    /// transaction.
    pub fn touch_all(&self, used: &[(String, CacheKey)], build: &BuildUse) -> Result<(), StoreError> {
        if used.is_empty() {
            return Ok(());
        }
        self.store.meta.write(|txn| {
            let mut table = txn.open_table(LAST)?;
            for (identity, key) in used {
                table.insert(identity.as_str(), key.to_string().as_str())?;
            }
            let keys: std::collections::BTreeSet<&CacheKey> = used.iter().map(|(_, key)| key).collect();
            usage::record_uses(txn, keys, build)
        })
    }

    /// Every record, for `strata cache` commands.
    pub fn records(&self) -> Result<Vec<CacheRecord>, StoreError> {
        self.store.meta.read(records_in)
    }

    /// Every record with its usage, read in one transaction.
    pub fn entries(&self) -> Result<Vec<(CacheRecord, Usage)>, StoreError> {
        self.store.meta.read(entries_in)
    }

    /// The usage of one record.
    pub fn usage(&self, record: &CacheRecord) -> Result<Usage, StoreError> {
        let found = self.store.meta.read(|txn| usage::get(txn, &record.key))?;
        Ok(found.unwrap_or_else(|| Usage::first(&record.created)))
    }

    /// Deletes the records `keys` (and their usage) in one transaction,
    /// inside a caller's `meta` transaction.
    pub fn delete_in(txn: &redb::WriteTransaction, keys: &[CacheKey]) -> Result<(), StoreError> {
        let mut records = txn.open_table(RECORDS)?;
        for key in keys {
            records.remove(key.to_string().as_str())?;
        }
        drop(records);
        usage::delete(txn, keys)
    }

    /// The diff_ids every record maps to.
    pub fn layers(&self) -> Result<std::collections::BTreeSet<crate::digest::Digest>, StoreError> {
        Ok(self.records()?.into_iter().filter_map(|r| r.layer).collect())
    }
}

/// Every record with its usage, inside a caller's transaction.
pub(super) fn entries_in(txn: &redb::ReadTransaction) -> Result<Vec<(CacheRecord, Usage)>, StoreError> {
    let records = records_in(txn)?;
    let mut usages = usage::all(txn)?;
    Ok(records
        .into_iter()
        .map(|record| {
            let usage = usages.remove(&record.key).unwrap_or_else(|| Usage::first(&record.created));
            (record, usage)
        })
        .collect())
}

/// Every record of the table (damaged rows are skipped: the cache only
/// loses them, as if pruned).
pub(super) fn records_in(txn: &redb::ReadTransaction) -> Result<Vec<CacheRecord>, StoreError> {
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
}

fn record_in(txn: &redb::ReadTransaction, key: &str) -> Result<Option<CacheRecord>, StoreError> {
    let table = match txn.open_table(RECORDS) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let Some(value) = table.get(key)? else { return Ok(None) };
    Ok(serde_json::from_slice(value.value()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as written before `stage` and the usage table existed
    /// still reads, used once when created.
    #[test]
    fn records_written_before_usage_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = CacheKey(crate::digest::Digest::of(b"old"));
        let old = format!(r#"{{"key":"{key}","layer":null,"inputs":[],"step":"RUN true","created":"2025-01-01T00:00:00Z"}}"#);
        store
            .meta
            .write(|txn| {
                txn.open_table(RECORDS)?.insert(key.to_string().as_str(), old.as_bytes())?;
                Ok(())
            })
            .unwrap();
        let entries = Cache::new(&store).entries().unwrap();
        assert_eq!(entries.len(), 1);
        let (record, usage) = &entries[0];
        assert_eq!((record.step.as_str(), record.stage.as_str()), ("RUN true", ""));
        assert_eq!(usage, &Usage::first("2025-01-01T00:00:00Z"));
    }
}
