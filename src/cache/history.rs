//! The record of the last builds of each Dockerfile: every step with its
//! line, whether it came from the cache, why it missed, and the layer it
//! made. Build checks read it (`strata lint`: which step keeps busting the
//! cache, which bytes a later step deletes); builds append to it.
//!
//! One versioned table, Dockerfile identity → the last [`KEPT_BUILDS`]
//! builds (JSON, oldest first).

use std::collections::HashMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::store::{Store, StoreError};

const HISTORY: TableDefinition<&str, &[u8]> = TableDefinition::new("build_history_v1");

/// How many builds of one Dockerfile are kept.
pub const KEPT_BUILDS: usize = 10;

/// One build of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildRecord {
    /// When the build ended, RFC 3339 in UTC, to the second.
    pub time: String,
    /// Every filesystem step the build reached, in the order each stage ran them.
    pub steps: Vec<StepRecord>,
}

/// One step of a recorded build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The stage's index in the Dockerfile.
    pub stage: usize,
    /// The first line of the instruction.
    pub line: usize,
    /// The instruction as written.
    pub text: String,
    /// Taken from a cache (local or `--cache-from`).
    pub cached: bool,
    /// Why it missed (see [`super::explain_miss`]); empty for a hit.
    pub reasons: Vec<String>,
    /// The layer it made (its diff_id), if it made one.
    pub layer: Option<Digest>,
}

/// Appends `build` to the history of `dockerfile`, dropping the oldest
/// beyond [`KEPT_BUILDS`].
pub fn record_build(store: &Store, dockerfile: &str, build: BuildRecord) -> Result<(), StoreError> {
    store.meta.write(|txn| {
        let mut table = txn.open_table(HISTORY)?;
        let mut builds: Vec<BuildRecord> = match table.get(dockerfile)? {
            Some(value) => serde_json::from_slice(value.value()).unwrap_or_default(),
            None => Vec::new(),
        };
        builds.push(build);
        let excess = builds.len().saturating_sub(KEPT_BUILDS);
        builds.drain(..excess);
        let bytes = serde_json::to_vec(&builds).unwrap_or_default();
        table.insert(dockerfile, bytes.as_slice())?;
        Ok(())
    })
}

/// The recorded builds of `dockerfile`, oldest first (none when it was never
/// built, or its record is unreadable).
pub fn recent_builds(store: &Store, dockerfile: &str) -> Result<Vec<BuildRecord>, StoreError> {
    store.meta.read(|txn| {
        let table = match txn.open_table(HISTORY) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let Some(value) = table.get(dockerfile)? else { return Ok(Vec::new()) };
        Ok(serde_json::from_slice(value.value()).unwrap_or_default())
    })
}

/// The recorded builds of `dockerfile` (oldest first) and the changes of
/// every layer the last one made (layers no longer in the store are left out).
pub fn recent_builds_with_layers(store: &Store, dockerfile: &str) -> Result<(Vec<BuildRecord>, LayerChanges), StoreError> {
    let builds = recent_builds(store, dockerfile)?;
    let mut layers = LayerChanges::new();
    for diff_id in builds.last().into_iter().flat_map(|b| &b.steps).filter_map(|s| s.layer) {
        if let std::collections::hash_map::Entry::Vacant(entry) = layers.entry(diff_id) {
            entry.insert(layer_changes(store, &diff_id)?);
        }
    }
    Ok((builds, layers))
}

/// What each layer writes and deletes, by diff_id.
pub type LayerChanges = HashMap<Digest, Vec<PathChange>>;

/// A path a layer writes or deletes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathChange {
    /// Absolute, as seen in the image.
    pub path: String,
    /// Bytes of a regular file (0 for anything else).
    pub size: u64,
    /// A whiteout: the layer deletes this path.
    pub deleted: bool,
}

/// What the layer `diff_id` writes and deletes, read from its snapshot
/// (overlay form: a deletion is a character device 0/0). Empty when the
/// snapshot is gone.
pub fn layer_changes(store: &Store, diff_id: &Digest) -> Result<Vec<PathChange>, StoreError> {
    let root = store.snapshots.path(diff_id);
    let mut changes = Vec::new();
    if root.is_dir() {
        walk(&root, "", &mut changes)?;
    }
    Ok(changes)
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<PathChange>) -> Result<(), StoreError> {
    let entries = fs_err::read_dir(dir).map_err(|e| StoreError::io("read", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("read", dir, e))?;
        let path = format!("{prefix}/{}", entry.file_name().to_string_lossy());
        let meta = fs_err::symlink_metadata(entry.path()).map_err(|e| StoreError::io("stat", &entry.path(), e))?;
        let kind = meta.file_type();
        if kind.is_dir() {
            walk(&entry.path(), &path, out)?;
        } else if kind.is_char_device() && meta.rdev() == 0 {
            out.push(PathChange { path, size: 0, deleted: true });
        } else {
            out.push(PathChange { path, size: if kind.is_file() { meta.len() } else { 0 }, deleted: false });
        }
    }
    Ok(())
}
