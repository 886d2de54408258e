//! The garbage-collection policy run after every build, and its
//! configuration: `strata.toml` at the store root, then build flags.
//!
//! ```toml
//! [gc]
//! enabled = true          # collect after every build
//! keep-storage = "20GB"   # bytes (kB/MB/GB/TB, or KiB/MiB/GiB/TiB), or "10%" of the filesystem
//! keep-duration = "60d"   # entries unused for longer go first (humantime: 48h, 2weeks)
//! ```
//!
//! Defaults follow BuildKit's: keep 10% of the store's filesystem, at most
//! 20 GB; entries unused for 60 days are removed whatever the size.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::inventory::EntryKind;
use super::prune::{prune, PruneOptions, PruneReport};
use crate::store::{GcReport, Store, StoreError};

/// The default storage cap (BuildKit's: 10% of the disk, here at most 20 GB).
pub const DEFAULT_MAX_KEEP: u64 = 20_000_000_000;
/// The default storage cap as a share of the store's filesystem, in percent.
pub const DEFAULT_KEEP_PERCENT: f64 = 10.0;
/// Entries unused this long are collected whatever the size (60 days).
pub const DEFAULT_KEEP_DURATION: Duration = Duration::from_secs(60 * 86_400);

/// How much the cache may keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeepStorage {
    /// A fixed number of bytes.
    Bytes(u64),
    /// A share of the store's filesystem.
    Percent(f64),
    /// 10% of the filesystem, at most 20 GB.
    Default,
}

/// When and how much to collect after a build.
#[derive(Debug, Clone, PartialEq)]
pub struct GcPolicy {
    /// `enabled`: whether builds collect at all (default true).
    pub enabled: bool,
    /// `keep-storage`: the cache size collection prunes down to.
    pub keep_storage: KeepStorage,
    /// `keep-duration`: entries unused for longer are removed whatever the size.
    pub keep_duration: Duration,
}

impl Default for GcPolicy {
    fn default() -> GcPolicy {
        GcPolicy { enabled: true, keep_storage: KeepStorage::Default, keep_duration: DEFAULT_KEEP_DURATION }
    }
}

/// A bad `strata.toml` or flag value.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// `strata.toml` exists but cannot be read.
    #[error("cannot read {path}")]
    Read {
        /// The file's path.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// `strata.toml` is not valid TOML, or has an unknown section or key.
    #[error("{path}: {reason}")]
    Parse {
        /// The file's path.
        path: String,
        /// The TOML decoder's message.
        reason: String,
    },
    /// A `keep-storage` value is not a size or a percentage from 0 to 100.
    #[error(transparent)]
    Size(#[from] crate::size::SizeError),
    /// A `keep-duration` value is not a duration; holds the value as written.
    #[error("invalid duration {0:?}: expected e.g. 24h, 7d, 2weeks")]
    Duration(String),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    gc: Option<GcSection>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct GcSection {
    enabled: Option<bool>,
    keep_storage: Option<String>,
    keep_duration: Option<String>,
}

impl GcPolicy {
    /// The policy of the store at `root`: `strata.toml` if present, else the defaults.
    pub fn load(root: &Path) -> Result<GcPolicy, PolicyError> {
        let path = root.join("strata.toml");
        match fs_err::read_to_string(&path) {
            Ok(text) => GcPolicy::parse(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(GcPolicy::default()),
            Err(e) => Err(PolicyError::Read { path: path.display().to_string(), source: e }),
        }
    }

    /// Parses a `strata.toml`'s text (`name` names it in errors).
    pub fn parse(text: &str, name: &str) -> Result<GcPolicy, PolicyError> {
        let file: File = toml::from_str(text).map_err(|e| PolicyError::Parse { path: name.to_owned(), reason: e.to_string() })?;
        let mut policy = GcPolicy::default();
        let Some(gc) = file.gc else { return Ok(policy) };
        if let Some(enabled) = gc.enabled {
            policy.enabled = enabled;
        }
        if let Some(size) = gc.keep_storage {
            policy.keep_storage = parse_keep_storage(&size)?;
        }
        if let Some(duration) = gc.keep_duration {
            policy.keep_duration = parse_duration(&duration)?;
        }
        Ok(policy)
    }

    /// The byte limit for the store at `root`.
    pub fn keep_bytes(&self, root: &Path) -> u64 {
        let filesystem = || rustix::fs::statvfs(root).map_or(0, |s| s.f_blocks.saturating_mul(s.f_frsize));
        match self.keep_storage {
            KeepStorage::Bytes(bytes) => bytes,
            KeepStorage::Percent(percent) => (filesystem() as f64 * percent / 100.0) as u64,
            KeepStorage::Default => ((filesystem() as f64 * DEFAULT_KEEP_PERCENT / 100.0) as u64).min(DEFAULT_MAX_KEEP),
        }
    }
}

/// `5GB`, `512MiB`, `1000`, or `10%`.
pub fn parse_keep_storage(text: &str) -> Result<KeepStorage, PolicyError> {
    match text.trim().strip_suffix('%') {
        Some(number) => match number.trim().parse::<f64>() {
            Ok(p) if (0.0..=100.0).contains(&p) => Ok(KeepStorage::Percent(p)),
            _ => Err(crate::size::SizeError::Decimal(text.to_owned()).into()),
        },
        None => Ok(KeepStorage::Bytes(crate::size::decimal_bytes(text)?)),
    }
}

/// `24h`, `7d`, `2weeks` (humantime).
pub fn parse_duration(text: &str) -> Result<Duration, PolicyError> {
    humantime::parse_duration(text.trim()).map_err(|_| PolicyError::Duration(text.to_owned()))
}

/// What a GC run did: entries past `keep-duration`, then LRU to
/// `keep-storage`, then (when no other strata process runs) files nothing
/// refers to.
#[derive(Debug, Clone, Default)]
pub struct GcOutcome {
    /// The prune of entries unused for longer than `keep-duration`.
    pub expired: PruneReport,
    /// The least-recently-used prune down to `keep-storage`.
    pub over_limit: PruneReport,
    /// The sweep of blobs and snapshots nothing refers to (`deferred` when
    /// another strata process was running).
    pub unreferenced: GcReport,
}

impl GcOutcome {
    /// Bytes freed by all three parts.
    pub fn freed(&self) -> u64 {
        self.expired.freed + self.over_limit.freed + self.unreferenced.bytes
    }

    /// Cache entries removed by the two prunes (swept files not counted).
    pub fn removed(&self) -> usize {
        self.expired.removed.len() + self.over_limit.removed.len()
    }
}

/// Runs `policy` on the store. Safe while other processes build: the
/// prunes respect leases, and the sweep of unreferenced files runs only
/// when this process is alone.
pub fn collect(store: &Store, policy: &GcPolicy) -> Result<GcOutcome, StoreError> {
    let kinds = vec![EntryKind::Layer, EntryKind::Empty, EntryKind::CacheMount];
    let expired = prune(store, &PruneOptions { kinds: kinds.clone(), until: Some(policy.keep_duration), ..PruneOptions::default() })?;
    let keep = policy.keep_bytes(store.root());
    let over_limit = prune(store, &PruneOptions { kinds, keep_storage: Some(keep), ..PruneOptions::default() })?;
    let unreferenced = store.sweep_if_alone(kept_layers(store)?)?;
    Ok(GcOutcome { expired, over_limit, unreferenced })
}

/// How long after a GC the next one waits: builds that add layers grow the
/// store, so they collect sooner; builds that add nothing only let entries
/// age. Like BuildKit's periodic GC, the policy's limits may be overshot by
/// what builds add in between; an inventory of the whole cache after every
/// build would cost more than a small build itself.
const GC_INTERVAL_GROWING: std::time::Duration = std::time::Duration::from_secs(600);
const GC_INTERVAL_IDLE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Whether the GC after a build is due (see the intervals above). A store
/// that never collected starts its clock now: it has nothing old yet.
pub fn gc_due(store: &Store, added_layers: bool) -> bool {
    let interval = if added_layers { GC_INTERVAL_GROWING } else { GC_INTERVAL_IDLE };
    match fs_err::metadata(last_gc_marker(store)).and_then(|m| m.modified()) {
        Ok(last) => last.elapsed().map_or(true, |age| age >= interval),
        Err(_) => {
            mark_gc(store);
            false
        }
    }
}

/// Notes that a GC ran now.
pub fn mark_gc(store: &Store) {
    let marker = last_gc_marker(store);
    let _ = fs_err::write(&marker, b"");
}

fn last_gc_marker(store: &Store) -> std::path::PathBuf {
    store.root().join("locks/gc-last")
}

/// Removes blobs and snapshots that no image, cache record or running
/// build uses (left by interrupted work, or by `rmi`). Needs the store to
/// itself: deferred when another strata process has it open.
pub fn collect_garbage(store: Store) -> Result<GcReport, StoreError> {
    let keep = kept_layers(&store)?;
    store.collect_garbage(keep)
}

/// Layers a sweep must keep besides images': the cache's and leased ones.
fn kept_layers(store: &Store) -> Result<std::collections::BTreeSet<crate::digest::Digest>, StoreError> {
    let mut keep = super::Cache::new(store).layers()?;
    keep.extend(store.leased_layers()?);
    Ok(keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_strata_toml() {
        let policy = GcPolicy::parse("[gc]\nkeep-storage = \"5GB\"\nkeep-duration = \"48h\"\n", "strata.toml").unwrap();
        assert_eq!(policy.keep_storage, KeepStorage::Bytes(5_000_000_000));
        assert_eq!(policy.keep_duration, Duration::from_secs(48 * 3600));
        assert!(policy.enabled);
        assert_eq!(GcPolicy::parse("", "x").unwrap(), GcPolicy::default());
        assert_eq!(parse_keep_storage("10%").unwrap(), KeepStorage::Percent(10.0));
        assert_eq!(crate::size::decimal_bytes("512MiB").unwrap(), 512 << 20);
        assert!(GcPolicy::parse("[gc]\nkeep-storage = \"lots\"\n", "x").is_err());
        assert!(GcPolicy::parse("[gc]\nkeep = 1\n", "x").is_err(), "unknown keys are errors");
    }

    #[test]
    fn default_cap_is_ten_percent_at_most_20gb() {
        let keep = GcPolicy::default().keep_bytes(Path::new("/"));
        assert!(keep > 0 && keep <= DEFAULT_MAX_KEEP);
    }
}
