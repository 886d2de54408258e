//! Pruning: least recently used first, within filters, down to a size.
//!
//! Never removed: records whose layer a stored image uses (they cost
//! nothing: the image keeps the layer) or a running build holds (its
//! lease), and cache mounts a running step has mounted. Selection is made
//! on an [`Inventory`]; the removal then re-reads the leases and the
//! images' layers under the `meta` lock and skips what a build took or an
//! image came to use meanwhile (store/lease.rs explains why that is enough).

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::inventory::{CacheEntry, EntryKind, Inventory};
use super::records::Cache;
use super::CacheKey;
use crate::digest::Digest;
use crate::store::{Lock, Store, StoreError};

/// What to prune.
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// Entry types to consider; empty: layers and empty steps, plus cache
    /// mounts and the stat cache with `all`.
    pub kinds: Vec<EntryKind>,
    /// `--all`: with no `kinds`, also cache mounts and the stat cache.
    pub all: bool,
    /// Only entries unused for at least this long.
    pub until: Option<Duration>,
    /// Stop once the cache holds at most this many bytes.
    pub keep_storage: Option<u64>,
    /// Report what would go, remove nothing.
    pub dry_run: bool,
}

impl PruneOptions {
    fn selects(&self, kind: EntryKind) -> bool {
        match (self.kinds.is_empty(), kind) {
            (false, kind) => self.kinds.contains(&kind),
            (true, EntryKind::Layer | EntryKind::Empty) => true,
            (true, _) => self.all,
        }
    }
}

/// What a prune removed (or, dry, would remove).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    /// The entries removed (or that would be), oldest last use first.
    pub removed: Vec<CacheEntry>,
    /// Bytes freed on disk.
    pub freed: u64,
    /// Entries kept because an image or a running build holds them.
    pub kept_in_use: usize,
    /// Cache bytes left.
    pub remaining: u64,
    /// True when nothing was actually removed (`--dry-run`).
    pub dry_run: bool,
}

/// Prunes the cache of `store` as `options` say.
pub fn prune(store: &Store, options: &PruneOptions) -> Result<PruneReport, StoreError> {
    let inventory = Inventory::collect(store)?;
    let plan = select(&inventory, options, SystemTime::now());
    if options.dry_run {
        return Ok(plan.report(&inventory, true));
    }
    // On a full disk the commit that deletes records needs room first.
    store.reserve.release_if_short()?;
    let removed = remove(store, &inventory, plan)?;
    store.reserve.ensure()?;
    Ok(removed.report(&inventory, false))
}

/// The entries chosen, and the layers their removal frees.
#[derive(Debug, Default)]
struct Plan {
    entries: Vec<CacheEntry>,
    freed_layers: BTreeSet<Digest>,
    freed: u64,
    kept_in_use: usize,
}

impl Plan {
    fn report(self, inventory: &Inventory, dry_run: bool) -> PruneReport {
        PruneReport {
            remaining: inventory.totals.total.saturating_sub(self.freed),
            removed: self.entries,
            freed: self.freed,
            kept_in_use: self.kept_in_use,
            dry_run,
        }
    }
}

/// Oldest last use first, within the filters, until `keep_storage`.
fn select(inventory: &Inventory, options: &PruneOptions, now: SystemTime) -> Plan {
    let old_enough = |entry: &CacheEntry| match options.until {
        Some(until) => now.duration_since(entry.last_used_time()).unwrap_or(Duration::ZERO) >= until,
        None => true,
    };
    let selected: Vec<&CacheEntry> = inventory.entries.iter().filter(|e| options.selects(e.kind) && old_enough(e)).collect();
    let kept_in_use = selected.iter().filter(|e| e.in_use()).count();
    let mut candidates: Vec<&CacheEntry> = selected.into_iter().filter(|e| !e.in_use()).collect();
    candidates.sort_by_cached_key(|e| e.last_used_time());
    let mut users: HashMap<Digest, usize> = HashMap::new();
    for layer in inventory.entries.iter().filter_map(|e| e.layer) {
        *users.entry(layer).or_default() += 1;
    }
    let mut plan = Plan { kept_in_use, ..Plan::default() };
    let mut size = inventory.totals.total;
    for entry in candidates {
        if options.keep_storage.is_some_and(|keep| size <= keep) {
            break;
        }
        let frees = match entry.layer {
            Some(layer) => {
                let left = users.entry(layer).or_default();
                *left = left.saturating_sub(1);
                *left == 0 && plan.freed_layers.insert(layer)
            }
            None => true,
        };
        if frees {
            plan.freed += entry.size;
            size = size.saturating_sub(entry.size);
        }
        plan.entries.push(entry.clone());
    }
    plan
}

/// Removes what `plan` chose, except what became held meanwhile.
fn remove(store: &Store, inventory: &Inventory, plan: Plan) -> Result<Plan, StoreError> {
    let Plan { entries, freed_layers, kept_in_use, .. } = plan;
    let (records, others): (Vec<CacheEntry>, Vec<CacheEntry>) = entries.into_iter().partition(|e| e.key.is_some());
    // Files without records first: they free space without a commit.
    let mut removed = Plan { kept_in_use, ..Plan::default() };
    for entry in others {
        let gone = match entry.kind {
            EntryKind::CacheMount => remove_cache_mount(store, &entry.id)?,
            _ => remove_stat_cache(store)?,
        };
        if gone {
            removed.freed += entry.size;
            removed.entries.push(entry);
        } else {
            removed.kept_in_use += 1;
        }
    }
    let (records, freed_layers) = store.meta.write_then(
        |txn| {
            // Held now: leased by a build, or used by an image committed
            // since the inventory (its build may have ended its lease).
            let mut held = store.leased_layers()?;
            held.extend(store.referenced_layers_in(txn)?);
            let records: Vec<CacheEntry> = records.into_iter().filter(|e| e.layer.is_none_or(|l| !held.contains(&l))).collect();
            let keys: Vec<CacheKey> = records.iter().filter_map(|e| e.key).collect();
            Cache::delete_in(txn, &keys)?;
            let freed: BTreeSet<Digest> = freed_layers.difference(&held).copied().collect();
            Store::forget_layers_in(txn, &freed)?;
            Ok((records, freed))
        },
        |(records, freed)| {
            for layer in &freed {
                store.remove_layer_files(layer, inventory.blobs.get(layer))?;
            }
            Ok((records, freed))
        },
    )?;
    removed.freed_layers = freed_layers;
    let mut counted = BTreeSet::new();
    for entry in records {
        if entry.layer.is_some_and(|l| removed.freed_layers.contains(&l) && counted.insert(l)) {
            removed.freed += entry.size;
        }
        removed.entries.push(entry);
    }
    Ok(removed)
}

/// Removes a cache mount unless a running step uses it (holds its `.use`
/// lock, see solve/run.rs); returns whether it went.
fn remove_cache_mount(store: &Store, id: &str) -> Result<bool, StoreError> {
    let name = id.trim_start_matches("mount-");
    let dir = store.cache_mounts_dir();
    let Some(_unused) = Lock::try_exclusive(&dir.join(format!("{name}.use")))? else { return Ok(false) };
    let path = dir.join(name);
    // Renamed away first: a crash midway leaves no half-empty cache under its name.
    let doomed = store.temp_dir("doomed-mount")?;
    let target = doomed.join("mount");
    fs_err::rename(&path, &target).map_err(|e| StoreError::io("remove", &path, e))?;
    crate::store::remove_tree(&doomed)?;
    Ok(true)
}

/// Removes the stat cache (only a cache: the next build hashes its
/// context files again). Taken under its lock, so no build is mid-write.
fn remove_stat_cache(store: &Store) -> Result<bool, StoreError> {
    let _lock = Lock::exclusive(&store.root().join("locks/statcache"))?;
    let path = store.root().join("statcache.redb");
    match fs_err::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::io("remove", &path, e)),
        _ => Ok(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, layer: Option<u8>, size: u64, days_ago: u64, held: bool) -> CacheEntry {
        let used = SystemTime::UNIX_EPOCH + Duration::from_secs(100 * 86_400 - days_ago * 86_400);
        CacheEntry {
            id: id.into(),
            kind: if layer.is_some() { EntryKind::Layer } else { EntryKind::Empty },
            key: Some(CacheKey(Digest::of(id.as_bytes()))),
            layer: layer.map(|n| Digest::of(&[n])),
            size,
            shared: false,
            created: String::new(),
            last_used: humantime::format_rfc3339_seconds(used).to_string(),
            uses: 1,
            held_by: if held { vec!["image".into()] } else { Vec::new() },
            shares_layer_with: 0,
            children: 0,
            description: String::new(),
            stage: String::new(),
        }
    }

    fn inventory(entries: Vec<CacheEntry>) -> Inventory {
        let mut seen = BTreeSet::new();
        let total = entries.iter().filter(|e| e.layer.is_some_and(|l| seen.insert(l))).map(|e| e.size).sum();
        Inventory { entries, totals: super::super::inventory::Totals { total, in_use: 0, reclaimable: total }, blobs: HashMap::new() }
    }

    fn ids(plan: &Plan) -> Vec<&str> {
        plan.entries.iter().map(|e| e.id.as_str()).collect()
    }

    const NOW: u64 = 100 * 86_400;

    #[test]
    fn oldest_first_down_to_keep_storage_never_what_is_held() {
        let inv = inventory(vec![
            entry("new", Some(1), 100, 1, false),
            entry("old", Some(2), 100, 9, false),
            entry("held", Some(3), 100, 20, true),
            entry("mid", Some(4), 100, 5, false),
        ]);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW);
        let plan = select(&inv, &PruneOptions { keep_storage: Some(250), ..Default::default() }, now);
        assert_eq!(ids(&plan), ["old", "mid"]);
        assert_eq!((plan.freed, plan.kept_in_use), (200, 1));
        let all = select(&inv, &PruneOptions::default(), now);
        assert_eq!(ids(&all), ["old", "mid", "new"]);
    }

    #[test]
    fn until_filter_and_shared_layers() {
        let inv = inventory(vec![entry("a", Some(1), 100, 10, false), entry("b", Some(1), 100, 3, false)]);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW);
        let week = PruneOptions { until: Some(Duration::from_secs(7 * 86_400)), ..Default::default() };
        let plan = select(&inv, &week, now);
        assert_eq!((ids(&plan), plan.freed), (vec!["a"], 0), "b still uses the layer");
        let plan = select(&inv, &PruneOptions::default(), now);
        assert_eq!(plan.freed, 100);
    }
}
