//! How records are used: last use, use count and the last few builds that
//! used each one. Kept in its own table (`cache_usage_v1`, key → JSON
//! [`Usage`]) so records stay write-once and a warm build updates usage
//! for all its steps in one transaction. A record without a usage row
//! (written before this table existed) counts as used once, when created.

use std::collections::{BTreeSet, HashMap};

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::key::CacheKey;
use crate::store::StoreError;

const USAGE: TableDefinition<&str, &[u8]> = TableDefinition::new("cache_usage_v1");

/// How many recent builds a record remembers.
const RECENT_BUILDS: usize = 5;

/// The use of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// RFC 3339.
    pub last_used: String,
    /// How many builds used it (a build counts once however many times it
    /// reuses the record).
    pub uses: u64,
    /// Newest last.
    #[serde(default)]
    pub builds: Vec<BuildUse>,
}

impl Usage {
    /// The usage of a record known only by its creation.
    pub fn first(created: &str) -> Usage {
        Usage { last_used: created.to_owned(), uses: 1, builds: Vec::new() }
    }
}

/// A build that used records.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BuildUse {
    /// When it ran (RFC 3339).
    pub time: String,
    /// The Dockerfile's path.
    pub dockerfile: String,
    /// The names it gave its image.
    #[serde(default)]
    pub tags: Vec<String>,
}

pub(super) fn record_uses(txn: &redb::WriteTransaction, keys: BTreeSet<&CacheKey>, build: &BuildUse) -> Result<(), StoreError> {
    let mut table = txn.open_table(USAGE)?;
    for key in keys {
        let name = key.to_string();
        let old: Option<Usage> = table.get(name.as_str())?.and_then(|v| serde_json::from_slice(v.value()).ok());
        let mut usage = old.unwrap_or(Usage { last_used: String::new(), uses: 0, builds: Vec::new() });
        usage.last_used = build.time.clone();
        usage.uses += 1;
        usage.builds.push(build.clone());
        let excess = usage.builds.len().saturating_sub(RECENT_BUILDS);
        usage.builds.drain(..excess);
        table.insert(name.as_str(), serde_json::to_vec(&usage).unwrap_or_default().as_slice())?;
    }
    Ok(())
}

pub(super) fn all(txn: &redb::ReadTransaction) -> Result<HashMap<CacheKey, Usage>, StoreError> {
    let table = match txn.open_table(USAGE) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(HashMap::new()),
        Err(e) => return Err(e.into()),
    };
    let mut usages = HashMap::new();
    for row in table.iter()? {
        let (key, value) = row?;
        let (Ok(digest), Ok(usage)) = (key.value().parse(), serde_json::from_slice(value.value())) else { continue };
        usages.insert(CacheKey(digest), usage);
    }
    Ok(usages)
}

pub(super) fn get(txn: &redb::ReadTransaction, key: &CacheKey) -> Result<Option<Usage>, StoreError> {
    let table = match txn.open_table(USAGE) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let found = table.get(key.to_string().as_str())?;
    Ok(found.and_then(|v| serde_json::from_slice(v.value()).ok()))
}

pub(super) fn delete(txn: &redb::WriteTransaction, keys: &[CacheKey]) -> Result<(), StoreError> {
    let mut table = txn.open_table(USAGE)?;
    for key in keys {
        table.remove(key.to_string().as_str())?;
    }
    Ok(())
}
