//! `strata system df`: disk use by images, containers, build cache and
//! cache mounts, as `docker system df` shows it. Layers shared by images
//! and cache records count in both rows (as Docker counts shared bytes).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::inventory::{EntryKind, Inventory};
use crate::digest::Digest;
use crate::store::{Store, StoreError};

/// One row of `system df`.
#[derive(Debug, Clone, Serialize)]
pub struct UsageRow {
    /// The row's title: `Images`, `Containers`, `Build Cache`, `Cache Mounts`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// How many images, containers or entries there are.
    pub total: usize,
    /// Images: tagged; cache: held by an image or a running build.
    pub active: usize,
    /// Bytes on disk, each layer counted once per row.
    pub size: u64,
    /// Bytes removing the inactive ones would free.
    pub reclaimable: u64,
}

/// The rows: images, containers, build cache, cache mounts.
pub fn system_usage(store: &Store) -> Result<Vec<UsageRow>, StoreError> {
    let inventory = Inventory::collect(store)?;
    let images = image_usage(store)?;
    let mut cache = UsageRow { kind: "Build Cache", total: 0, active: 0, size: 0, reclaimable: 0 };
    let mut mounts = UsageRow { kind: "Cache Mounts", total: 0, active: 0, size: 0, reclaimable: 0 };
    let mut counted = BTreeSet::new();
    for entry in &inventory.entries {
        let row = if entry.kind == EntryKind::CacheMount { &mut mounts } else { &mut cache };
        row.total += 1;
        row.active += usize::from(entry.in_use());
        if entry.layer.is_none_or(|l| counted.insert(l)) {
            row.size += entry.size;
            if !entry.in_use() {
                row.reclaimable += entry.size;
            }
        }
    }
    let containers = container_usage(store)?;
    Ok(vec![images, containers, cache, mounts])
}

fn image_usage(store: &Store) -> Result<UsageRow, StoreError> {
    let entries = store.list_images()?;
    let mut layers: BTreeMap<Digest, bool> = BTreeMap::new();
    let mut documents = 0;
    for entry in &entries {
        let image = store.resolve(&entry.manifest.to_string())?;
        documents += image.manifest.bytes.len() as u64 + store.blobs.size(&image.config_digest).unwrap_or(0);
        for diff_id in &image.config.rootfs.diff_ids {
            *layers.entry(*diff_id).or_default() |= !entry.tags.is_empty();
        }
    }
    let records = store.all_layers()?;
    let ids: BTreeSet<Digest> = layers.keys().copied().collect();
    let snapshots = store.snapshot_sizes(&ids)?;
    let bytes = |layer: &Digest| records.get(layer).map_or(0, |r| r.size) + snapshots.get(layer).copied().unwrap_or(0);
    Ok(UsageRow {
        kind: "Images",
        total: entries.len(),
        active: entries.iter().filter(|e| !e.tags.is_empty()).count(),
        size: documents + layers.keys().map(bytes).sum::<u64>(),
        reclaimable: layers.iter().filter(|(_, tagged)| !**tagged).map(|(l, _)| bytes(l)).sum(),
    })
}

/// Working containers (`strata from`): the bytes of their writable layers.
/// None is "active": a container runs only while a `strata run` uses it.
fn container_usage(store: &Store) -> Result<UsageRow, StoreError> {
    let records = store.containers()?;
    let mut size = 0;
    for record in &records {
        size += crate::store::tree_bytes(&store.root().join("containers").join(&record.id).join("upper"))?;
    }
    Ok(UsageRow { kind: "Containers", total: records.len(), active: 0, size, reclaimable: size })
}
