//! The persistent stat cache: context file metadata → content digest, so a
//! rebuild reads only the files whose metadata changed.
//!
//! It lives in its own database, `<root>/statcache.redb` (table
//! `statcache_v1`), apart from `meta.redb`: it is only a cache (deleting it
//! costs one slow build), it is written on every build, and keeping it apart
//! keeps those writes out of the image metadata's lock. Access takes the
//! `locks/statcache` flock, like `meta.redb` takes `locks/meta`.
//!
//! Records are scoped by context: key = canonical context directory bytes,
//! a 0 byte, the path relative to the context. Opening the cache for a
//! context reads that context's records in one range scan; lookups are then
//! in memory. Writes are collected and committed in one transaction
//! ([`StoreStatCache::commit`], once per build). A record is overwritten
//! when its path is hashed again.
//!
//! Value (68 bytes, little-endian): size u64, mtime ns i64, ctime ns i64,
//! inode u64, mode u32, sha256 digest 32 bytes.

// `StoreError`'s size is the store's choice (every store module returns it).
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use redb::{Database, TableDefinition};

use super::lock::Lock;
use super::{Store, StoreError};
use crate::digest::Digest;

/// (context scope, 0, relative path) → record (see the module docs).
pub const STAT_CACHE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("statcache_v1");

const RECORD_LEN: usize = 68;

/// The stat cache of one context, loaded from the store.
pub struct StoreStatCache {
    db: PathBuf,
    lock: PathBuf,
    /// Canonical context directory, then a 0 byte.
    scope: Vec<u8>,
    records: HashMap<String, Record>,
    pending: Mutex<Vec<(String, FileStat, Digest)>>,
}

/// A file's metadata as the stat cache compares it: any change is a miss.
/// (The context module owns what a context file is; this is only what the
/// store keeps of one.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    /// `st_size` in bytes.
    pub size: u64,
    /// `st_mtime` in nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// `st_ctime` in nanoseconds since the epoch: catches a `touch -m` back to the old mtime.
    pub ctime_ns: i64,
    /// `st_ino`: a file replaced by a rename gets a new one.
    pub ino: u64,
    /// `st_mode`, file type bits included.
    pub mode: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Record {
    stat: FileStat,
    digest: Digest,
}

impl Record {
    fn encode(key: &FileStat, digest: &Digest) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        out[0..8].copy_from_slice(&key.size.to_le_bytes());
        out[8..16].copy_from_slice(&key.mtime_ns.to_le_bytes());
        out[16..24].copy_from_slice(&key.ctime_ns.to_le_bytes());
        out[24..32].copy_from_slice(&key.ino.to_le_bytes());
        out[32..36].copy_from_slice(&key.mode.to_le_bytes());
        out[36..68].copy_from_slice(digest.as_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<Record> {
        let bytes: &[u8; RECORD_LEN] = bytes.try_into().ok()?;
        let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap_or_default());
        let stat = FileStat {
            size: u64_at(0),
            mtime_ns: u64_at(8) as i64,
            ctime_ns: u64_at(16) as i64,
            ino: u64_at(24),
            mode: u32::from_le_bytes(bytes[32..36].try_into().unwrap_or_default()),
        };
        Some(Record { stat, digest: Digest::from_bytes(bytes[36..68].try_into().unwrap_or_default()) })
    }
}

impl StoreStatCache {
    /// Loads the records of the context at `context_dir`.
    pub fn open(store: &Store, context_dir: &Path) -> Result<StoreStatCache, StoreError> {
        let canonical = context_dir.canonicalize().map_err(|e| StoreError::io("resolve", context_dir, e))?;
        let mut scope = canonical.into_os_string().into_encoded_bytes();
        scope.push(0);
        let mut cache = StoreStatCache {
            db: store.root().join("statcache.redb"),
            lock: store.root().join("locks/statcache"),
            scope,
            records: HashMap::new(),
            pending: Mutex::new(Vec::new()),
        };
        cache.load()?;
        Ok(cache)
    }

    fn load(&mut self) -> Result<(), StoreError> {
        let (_lock, db) = self.open_db()?;
        let txn = db.begin_read().map_err(redb::Error::from)?;
        let table = match txn.open_table(STAT_CACHE) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(redb::Error::from(e).into()),
        };
        let mut end = self.scope.clone();
        if let Some(last) = end.last_mut() {
            *last = 1;
        }
        for item in table.range::<&[u8]>(self.scope.as_slice()..end.as_slice()).map_err(redb::Error::from)? {
            let (key, value) = item.map_err(redb::Error::from)?;
            let Ok(path) = std::str::from_utf8(&key.value()[self.scope.len()..]) else { continue };
            // A damaged record is a miss, not an error: this is only a cache.
            if let Some(record) = Record::decode(value.value()) {
                self.records.insert(path.to_owned(), record);
            }
        }
        Ok(())
    }

    /// Writes the digests recorded since opening, in one transaction;
    /// returns how many.
    pub fn commit(&self) -> Result<usize, StoreError> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if pending.is_empty() {
            return Ok(0);
        }
        let (_lock, db) = self.open_db()?;
        let txn = db.begin_write().map_err(redb::Error::from)?;
        {
            let mut table = txn.open_table(STAT_CACHE).map_err(redb::Error::from)?;
            let mut key = Vec::new();
            for (path, stat, digest) in &pending {
                key.clear();
                key.extend_from_slice(&self.scope);
                key.extend_from_slice(path.as_bytes());
                table.insert(key.as_slice(), Record::encode(stat, digest).as_slice()).map_err(redb::Error::from)?;
            }
        }
        txn.commit().map_err(redb::Error::from)?;
        Ok(pending.len())
    }

    /// Records known for this context (loaded when opened).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// No records are known for this context (a first build, or a cleared cache).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn open_db(&self) -> Result<(Lock, Database), StoreError> {
        let lock = Lock::exclusive(&self.lock)?;
        let db = Database::create(&self.db).map_err(redb::Error::from)?;
        Ok((lock, db))
    }
}

impl StoreStatCache {
    /// The digest recorded for `path` (relative to the context) when its
    /// metadata was exactly `stat`.
    pub fn lookup(&self, path: &str, stat: &FileStat) -> Option<Digest> {
        self.records.get(path).filter(|r| r.stat == *stat).map(|r| r.digest)
    }

    /// Remembers a digest, written at the next [`StoreStatCache::commit`].
    pub fn record(&self, path: String, stat: FileStat, digest: Digest) {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).push((path, stat, digest));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(path: &str, size: u64) -> (String, FileStat) {
        (path.into(), FileStat { size, mtime_ns: -5, ctime_ns: 7, ino: 42, mode: 0o100644 })
    }

    fn get(cache: &StoreStatCache, (path, stat): &(String, FileStat)) -> Option<Digest> {
        cache.lookup(path, stat)
    }

    #[test]
    fn records_survive_reopening_and_stay_per_context() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let ctx_a = tempfile::tempdir().unwrap();
        let ctx_b = tempfile::tempdir().unwrap();
        let digest = Digest::of(b"x");

        let cache = StoreStatCache::open(&store, ctx_a.path()).unwrap();
        assert!(cache.is_empty());
        let (path, stat) = key("a.txt", 1);
        cache.record(path, stat, digest);
        assert_eq!(cache.commit().unwrap(), 1);
        assert_eq!(cache.commit().unwrap(), 0);

        let again = StoreStatCache::open(&store, ctx_a.path()).unwrap();
        assert_eq!(get(&again, &key("a.txt", 1)), Some(digest));
        assert_eq!(get(&again, &key("a.txt", 2)), None, "a size change is a miss");
        let other = StoreStatCache::open(&store, ctx_b.path()).unwrap();
        assert_eq!(get(&other, &key("a.txt", 1)), None);
    }
}
