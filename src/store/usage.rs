//! Disk usage of snapshots. A snapshot never changes once in place, so its
//! size is measured once (a walk of its files) and remembered in
//! `snapshot_sizes_v1` (diff_id → bytes, u64); listings of thousands of
//! layers then cost one table read. A remembered size is trusted without
//! looking at the directory (a removed snapshot is `verify`'s business).

use std::collections::{BTreeSet, HashMap};

use redb::{ReadableTable, TableDefinition};

use super::snapshots::tree_bytes;
use super::{Store, StoreError};
use crate::digest::Digest;

const SNAPSHOT_SIZES: TableDefinition<&str, u64> = TableDefinition::new("snapshot_sizes_v1");

impl Store {
    /// The bytes of each present snapshot of `layers`. Sizes not yet known
    /// are measured and remembered.
    pub fn snapshot_sizes(&self, layers: &BTreeSet<Digest>) -> Result<HashMap<Digest, u64>, StoreError> {
        let known = self.meta.read(|txn| Store::known_snapshot_sizes(txn, layers))?;
        self.complete_snapshot_sizes(layers, known)
    }

    /// The remembered sizes among `layers`, inside a caller's transaction.
    pub fn known_snapshot_sizes(txn: &redb::ReadTransaction, layers: &BTreeSet<Digest>) -> Result<HashMap<Digest, u64>, StoreError> {
        let table = match txn.open_table(SNAPSHOT_SIZES) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(HashMap::new()),
            Err(e) => return Err(e.into()),
        };
        let mut sizes = HashMap::with_capacity(layers.len());
        for row in table.iter()? {
            let (key, value) = row?;
            if let Ok(digest) = key.value().parse::<Digest>() {
                if layers.contains(&digest) {
                    sizes.insert(digest, value.value());
                }
            }
        }
        Ok(sizes)
    }

    /// Measures (and remembers) the snapshots of `layers` missing from
    /// `known`; absent snapshots are left out.
    pub fn complete_snapshot_sizes(&self, layers: &BTreeSet<Digest>, mut known: HashMap<Digest, u64>) -> Result<HashMap<Digest, u64>, StoreError> {
        let mut measured = Vec::new();
        for layer in layers.iter().filter(|l| !known.contains_key(l)) {
            if self.snapshots.contains(layer) {
                measured.push((*layer, tree_bytes(&self.snapshots.path(layer))?));
            }
        }
        if !measured.is_empty() {
            self.meta.write(|txn| {
                let mut table = txn.open_table(SNAPSHOT_SIZES)?;
                for (layer, bytes) in &measured {
                    table.insert(layer.to_string().as_str(), *bytes)?;
                }
                Ok(())
            })?;
        }
        known.extend(measured);
        Ok(known)
    }

    /// Forgets the sizes of removed snapshots, inside a caller's transaction.
    pub fn forget_snapshot_sizes(txn: &redb::WriteTransaction, layers: &BTreeSet<Digest>) -> Result<(), StoreError> {
        let mut table = txn.open_table(SNAPSHOT_SIZES)?;
        for layer in layers {
            table.remove(layer.to_string().as_str())?;
        }
        Ok(())
    }
}
