//! What the cache holds and what holds it: one [`CacheEntry`] per record,
//! cache mount and the context stat cache, with sizes, times, use counts
//! and holders; the basis of `strata cache du`, `ls`, `prune` and the GC.
//!
//! A record's size is its layer's: the stored blob plus the unpacked
//! snapshot (the bytes of its files). Records can share a layer with each
//! other and with images; totals count each layer once.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;

use super::records::{entries_in, CacheRecord};
use super::usage::Usage;
use super::CacheKey;
use crate::digest::Digest;
use crate::store::{LayerRecord, Store, StoreError};

/// The kinds of cache entries (`--filter type=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryKind {
    /// A step that added a layer.
    Layer,
    /// A step that changed nothing on the filesystem (no layer, no bytes).
    Empty,
    /// A `RUN --mount=type=cache` directory.
    CacheMount,
    /// The context stat cache (file metadata → content digest).
    StatCache,
}

impl EntryKind {
    /// Every kind (what `--filter type=` accepts).
    pub const ALL: [EntryKind; 4] = [EntryKind::Layer, EntryKind::Empty, EntryKind::CacheMount, EntryKind::StatCache];

    /// The kind's name in `--filter type=` and JSON output (`cache-mount`).
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::Layer => "layer",
            EntryKind::Empty => "empty",
            EntryKind::CacheMount => "cache-mount",
            EntryKind::StatCache => "stat-cache",
        }
    }
}

impl std::str::FromStr for EntryKind {
    type Err = String;

    fn from_str(text: &str) -> Result<EntryKind, String> {
        EntryKind::ALL
            .into_iter()
            .find(|kind| kind.name() == text)
            .ok_or_else(|| format!("unknown cache entry type {text:?} (expected layer, empty, cache-mount or stat-cache)"))
    }
}

/// One thing the cache holds.
#[derive(Debug, Clone, Serialize)]
pub struct CacheEntry {
    /// The key's hex digits for records, `mount-<hex>` for cache mounts,
    /// `stat-cache` for the stat cache.
    pub id: String,
    /// What sort of entry it is.
    #[serde(rename = "type")]
    pub kind: EntryKind,
    /// The record's cache key; `None` for cache mounts and the stat cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<CacheKey>,
    /// The diff_id of the layer the step added; `None` for empty steps,
    /// cache mounts and the stat cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<Digest>,
    /// Bytes of its data (layer blob + snapshot, or the directory/file).
    pub size: u64,
    /// True when an image or another record uses the same layer: removing
    /// this entry alone frees nothing.
    pub shared: bool,
    /// When it was made (RFC 3339); for files, the path's birth time
    /// (its modification time where the file system keeps none).
    pub created: String,
    /// When a build last used it (RFC 3339); for files, the path's
    /// modification time. Pruning removes the oldest first.
    pub last_used: String,
    /// How many builds used it (0 for cache mounts and the stat cache).
    pub uses: u64,
    /// What keeps it: `image` (a layer of a stored image or a working
    /// container's base), `build` (a
    /// running build's lease).
    pub held_by: Vec<String>,
    /// Other records that map to the same layer.
    pub shares_layer_with: usize,
    /// Records whose step follows this one (their parent key is this key).
    pub children: usize,
    /// The instruction, or what the entry is.
    pub description: String,
    /// The stage that made a record (its name, or `stage-N`); empty for
    /// other entries and for records written before stages were recorded.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stage: String,
}

impl CacheEntry {
    /// Held by an image or a running build: never pruned.
    pub fn in_use(&self) -> bool {
        !self.held_by.is_empty()
    }

    /// [`CacheEntry::last_used`] as a time; the Unix epoch when it does not
    /// parse (so a damaged entry is pruned first).
    pub fn last_used_time(&self) -> SystemTime {
        parse_time(&self.last_used).unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// Byte totals, each layer counted once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Bytes of every entry.
    pub total: u64,
    /// Bytes held by an image or a running build (pruning cannot free them).
    pub in_use: u64,
    /// Bytes a prune of everything could free: `total - in_use`.
    pub reclaimable: u64,
}

/// Everything the cache holds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Inventory {
    /// Every entry, most recently used first.
    pub entries: Vec<CacheEntry>,
    /// Byte totals over the entries, each layer counted once.
    pub totals: Totals,
    /// Blob of each entry's layer, for removal.
    #[serde(skip)]
    pub blobs: HashMap<Digest, Digest>,
}

impl Inventory {
    /// Reads the store: records, usage, layers, images, leases, cache
    /// mounts and the stat cache. Entries are sorted most recently used
    /// first.
    pub fn collect(store: &Store) -> Result<Inventory, StoreError> {
        let holders = Holders::read(store)?;
        // One transaction for the big tables: each database open re-reads pages.
        let (records, layers, known_sizes, layer_records) = store.meta.read(|txn| {
            let records = entries_in(txn)?;
            let layers: BTreeSet<Digest> = records.iter().filter_map(|(r, _)| r.layer).collect();
            let sizes = Store::known_snapshot_sizes(txn, &layers)?;
            Ok((records, layers, sizes, Store::all_layers_in(txn)?))
        })?;
        let snapshot_sizes = store.complete_snapshot_sizes(&layers, known_sizes)?;
        // A blob counts only when its file is there: a layer can be kept as
        // its snapshot alone (its tar made again when saved). One directory
        // listing costs less than a lookup per layer.
        let present = store.blobs.list()?;
        let layer_size = |layer: &Digest| {
            let stored = |l: &&LayerRecord| present.binary_search(&l.blob).is_ok();
            let blob = layer_records.get(layer).filter(stored).map_or(0, |l| l.size);
            blob + snapshot_sizes.get(layer).copied().unwrap_or(0)
        };
        let mut sharing: HashMap<Digest, usize> = HashMap::new();
        let mut children: HashMap<String, usize> = HashMap::new();
        for (record, _) in &records {
            if let Some(layer) = record.layer {
                *sharing.entry(layer).or_default() += 1;
            }
            if let Some(parent) = record.inputs.iter().find(|i| i.name == "parent") {
                *children.entry(parent.value.clone()).or_default() += 1;
            }
        }
        let mut inventory = Inventory::default();
        let mut counted = BTreeSet::new();
        for (record, usage) in &records {
            let size = record.layer.as_ref().map_or(0, layer_size);
            let entry = record_entry(record, usage, size, &holders, &sharing, &children);
            if let Some(layer) = record.layer.filter(|l| counted.insert(*l)) {
                inventory.add_bytes(size, entry.in_use());
                if let Some(blob) = layer_records.get(&layer) {
                    inventory.blobs.insert(layer, blob.blob);
                }
            }
            inventory.entries.push(entry);
        }
        for entry in cache_mounts(store)?.into_iter().chain(stat_cache(store)?) {
            inventory.add_bytes(entry.size, false);
            inventory.entries.push(entry);
        }
        inventory.entries.sort_by_cached_key(|e| (std::cmp::Reverse(e.last_used_time()), e.id.clone()));
        Ok(inventory)
    }

    fn add_bytes(&mut self, size: u64, in_use: bool) {
        self.totals.total += size;
        if in_use {
            self.totals.in_use += size;
        } else {
            self.totals.reclaimable += size;
        }
    }

    /// The entry named by a full key, its hex digits, or a unique prefix
    /// (at least 4 digits) of them.
    pub fn find(&self, name: &str) -> Result<&CacheEntry, FindError> {
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if let Some(exact) = self.entries.iter().find(|e| e.id == hex) {
            return Ok(exact);
        }
        let matches: Vec<&CacheEntry> = if hex.len() >= 4 { self.entries.iter().filter(|e| e.id.starts_with(hex)).collect() } else { Vec::new() };
        match matches.as_slice() {
            [one] => Ok(one),
            [] => Err(FindError::NotFound(name.to_owned())),
            many => Err(FindError::Ambiguous { name: name.to_owned(), count: many.len() }),
        }
    }
}

/// A cache ID that names no entry, or several.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    /// No entry's ID is, or starts with, the name; holds the name as given.
    #[error("no cache entry {0}")]
    NotFound(String),
    /// The name is a prefix of several entries' IDs.
    #[error("{name} is ambiguous: it matches {count} cache entries")]
    Ambiguous {
        /// The name as given.
        name: String,
        /// How many entries it matches.
        count: usize,
    },
}

/// Layers that images and running builds hold.
pub(super) struct Holders {
    /// Layers (diff_ids) of stored images and working containers' bases.
    pub images: BTreeSet<Digest>,
    /// Layers running builds have leased.
    pub leases: BTreeSet<Digest>,
}

impl Holders {
    /// The holders as the store records them now.
    pub fn read(store: &Store) -> Result<Holders, StoreError> {
        Ok(Holders { images: store.referenced_layers()?, leases: store.leased_layers()? })
    }

    /// What holds `layer`: `image` and/or `build`; empty when nothing does.
    pub fn of(&self, layer: &Digest) -> Vec<String> {
        let mut held_by = Vec::new();
        if self.images.contains(layer) {
            held_by.push("image".to_owned());
        }
        if self.leases.contains(layer) {
            held_by.push("build".to_owned());
        }
        held_by
    }
}

fn record_entry(
    record: &CacheRecord,
    usage: &Usage,
    size: u64,
    holders: &Holders,
    sharing: &HashMap<Digest, usize>,
    children: &HashMap<String, usize>,
) -> CacheEntry {
    let held_by = record.layer.as_ref().map(|l| holders.of(l)).unwrap_or_default();
    let shares_layer_with = record.layer.and_then(|l| sharing.get(&l)).map_or(0, |n| n - 1);
    CacheEntry {
        id: record.key.0.hex(),
        kind: if record.layer.is_some() { EntryKind::Layer } else { EntryKind::Empty },
        key: Some(record.key),
        layer: record.layer,
        size,
        shared: shares_layer_with > 0 || held_by.iter().any(|h| h == "image"),
        created: record.created.clone(),
        last_used: usage.last_used.clone(),
        uses: usage.uses,
        held_by,
        shares_layer_with,
        children: children.get(&record.key.to_string()).copied().unwrap_or(0),
        description: record.step.clone(),
        stage: record.stage.clone(),
    }
}

/// One entry per `RUN --mount=type=cache` directory (named by the hash of
/// its id); its modification time stands for its last use.
fn cache_mounts(store: &Store) -> Result<Vec<CacheEntry>, StoreError> {
    let dir = store.cache_mounts_dir();
    let entries = match fs_err::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io("list", &dir, e)),
    };
    let mut mounts = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| StoreError::io("list", &dir, e))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).filter(|n| Digest::from_hex(n).is_ok()) else { continue };
        if !path.is_dir() {
            continue;
        }
        let size = crate::store::tree_bytes(&path)?;
        let description = format!("RUN --mount=type=cache ({})", &name[..12]);
        mounts.push(file_entry(format!("mount-{name}"), EntryKind::CacheMount, &path, size, description));
    }
    Ok(mounts)
}

fn stat_cache(store: &Store) -> Result<Option<CacheEntry>, StoreError> {
    let path = store.root().join("statcache.redb");
    let size = match fs_err::metadata(&path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io("stat", &path, e)),
    };
    Ok(Some(file_entry("stat-cache".into(), EntryKind::StatCache, &path, size, "context file digests (stat cache)".into())))
}

/// An entry that is a file or directory of its own (no key, no layer):
/// its times are the path's.
fn file_entry(id: String, kind: EntryKind, path: &Path, size: u64, description: String) -> CacheEntry {
    let (created, last_used) = file_times(path);
    CacheEntry {
        id,
        kind,
        key: None,
        layer: None,
        size,
        shared: false,
        created,
        last_used,
        uses: 0,
        held_by: Vec::new(),
        shares_layer_with: 0,
        children: 0,
        description,
        stage: String::new(),
    }
}

/// (created, modified) of a path as RFC 3339; creation falls back to the
/// modification time where the filesystem does not keep it.
fn file_times(path: &Path) -> (String, String) {
    let meta = fs_err::metadata(path).ok();
    let modified = meta.as_ref().and_then(|m| m.modified().ok()).unwrap_or(SystemTime::UNIX_EPOCH);
    let created = meta.as_ref().and_then(|m| m.created().ok()).unwrap_or(modified);
    let format = |t: SystemTime| humantime::format_rfc3339_seconds(t).to_string();
    (format(created), format(modified))
}

/// An RFC 3339 time as written in records.
pub fn parse_time(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(text.trim_end_matches('Z')).ok()
}
