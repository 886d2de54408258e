//! `strata cache verify`: every blob's digest, every reference's target
//! (tags → images → manifests, configs, layer blobs; cache records →
//! layers → blobs and snapshots), every snapshot's completeness against
//! its layer's tar listing.
//!
//! Repair quarantines rather than deletes: broken blobs and snapshots move
//! to `quarantine/<time>-<pid>/`, with the cache records that needed them
//! written beside as JSON lines; the records are dropped, so the next
//! build recomputes those steps instead of failing. An image's missing or
//! incomplete snapshot is unpacked again from its (sound) blob.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::records::{Cache, CacheRecord};
use super::CacheKey;
use crate::digest::{Digest, HashingReader};
use crate::store::{Store, StoreError};

/// What to do besides reporting.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions {
    /// `--repair`: quarantine what is broken, drop the records that need
    /// it, unpack images' snapshots again.
    pub repair: bool,
}

/// Something broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum Problem {
    /// A blob whose content does not hash to its name.
    CorruptBlob {
        /// The blob's name.
        blob: Digest,
        /// What its content hashes to.
        actual: Digest,
    },
    /// A blob something refers to is not there.
    MissingBlob {
        /// The blob's digest.
        blob: Digest,
        /// Who refers to it: `image <short id>` or `cache record <short key>`.
        needed_by: String,
    },
    /// A layer's snapshot directory is not there.
    MissingSnapshot {
        /// The layer's diff_id.
        layer: Digest,
        /// Who needs it: `image <short id>` or `cache record <short key>`.
        needed_by: String,
    },
    /// A snapshot lacks an entry of its layer, or has it in another form.
    IncompleteSnapshot {
        /// The layer's diff_id.
        layer: Digest,
        /// The entry's path in the layer (`/` when the whole snapshot is off).
        path: String,
        /// How it differs.
        reason: String,
    },
    /// A tag names an image the store does not hold.
    DanglingTag {
        /// The tag, in full (`docker.io/library/busybox:latest`).
        tag: String,
        /// The manifest digest it points to.
        target: String,
    },
    /// A layer an image or cache record needs has no layer record.
    MissingLayer {
        /// The layer's diff_id.
        layer: Digest,
        /// Who needs it: `image <short id>` or `cache record <short key>`.
        needed_by: String,
    },
    /// An image whose manifest or config cannot be read.
    BrokenImage {
        /// The image's manifest digest.
        image: String,
        /// Why it cannot be read.
        reason: String,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::CorruptBlob { blob, actual } => write!(f, "blob {blob} is corrupt: its content hashes to {actual}"),
            Problem::MissingBlob { blob, needed_by } => write!(f, "blob {blob} is missing (needed by {needed_by})"),
            Problem::MissingSnapshot { layer, needed_by } => write!(f, "snapshot of layer {layer} is missing (needed by {needed_by})"),
            Problem::IncompleteSnapshot { layer, path, reason } => write!(f, "snapshot of layer {layer} is incomplete: {path}: {reason}"),
            Problem::DanglingTag { tag, target } => write!(f, "tag {tag} points to {target}, which is not in the store"),
            Problem::MissingLayer { layer, needed_by } => write!(f, "layer {layer} has no layer record (needed by {needed_by})"),
            Problem::BrokenImage { image, reason } => write!(f, "image {image} cannot be read: {reason}"),
        }
    }
}

/// A problem and what repair did about it.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// What is broken.
    #[serde(flatten)]
    pub problem: Problem,
    /// The problem as a sentence, for people.
    pub message: String,
    /// What `--repair` did; `None` when not repaired.
    pub repair: Option<String>,
}

/// The outcome of a verification.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Blobs hashed.
    pub blobs: usize,
    /// Snapshots checked (present ones of needed layers).
    pub snapshots: usize,
    /// Cache records read.
    pub records: usize,
    /// Images checked.
    pub images: usize,
    /// Every problem found, in the order found.
    pub findings: Vec<Finding>,
    /// Where repair put what it set aside.
    pub quarantine: Option<PathBuf>,
}

impl VerifyReport {
    /// Problems left unrepaired.
    pub fn unrepaired(&self) -> usize {
        self.findings.iter().filter(|f| f.repair.is_none()).count()
    }
}

/// Who needs a layer: images (by ID) and cache records.
#[derive(Default)]
struct Needs {
    images: BTreeMap<Digest, String>,
    records: BTreeMap<Digest, Vec<CacheRecord>>,
}

impl Needs {
    fn describe(&self, layer: &Digest) -> String {
        match (self.images.get(layer), self.records.get(layer)) {
            (Some(image), _) => format!("image {image}"),
            (None, Some(records)) => match records.first() {
                Some(record) => format!("cache record {}", record.key.0.short()),
                None => "nothing".into(),
            },
            (None, None) => "nothing".into(),
        }
    }
}

/// Checks the store; with `repair`, quarantines what is broken.
pub fn verify(store: &Store, options: VerifyOptions) -> Result<VerifyReport, StoreError> {
    let mut report = VerifyReport::default();
    let mut problems = Vec::new();
    let corrupt = check_blobs(store, &mut report, &mut problems)?;
    let needs = check_images(store, &mut report, &mut problems)?;
    let records = Cache::new(store).records()?;
    report.records = records.len();
    let mut needs = needs;
    for record in records {
        if let Some(layer) = record.layer {
            needs.records.entry(layer).or_default().push(record);
        }
    }
    check_layers(store, &needs, &corrupt, &mut report, &mut problems)?;
    let mut repair = options.repair.then(|| Repair::new(store));
    for problem in problems {
        let done = match repair.as_mut() {
            Some(repair) => repair.fix(&problem, &needs)?,
            None => None,
        };
        report.findings.push(Finding { message: problem.to_string(), problem, repair: done });
    }
    if let Some(repair) = repair {
        report.quarantine = repair.finish()?;
    }
    Ok(report)
}

/// Hashes every blob; returns the corrupt ones.
fn check_blobs(store: &Store, report: &mut VerifyReport, problems: &mut Vec<Problem>) -> Result<BTreeSet<Digest>, StoreError> {
    let mut corrupt = BTreeSet::new();
    for blob in store.blobs.list()? {
        report.blobs += 1;
        let path = store.blobs.path(&blob);
        let mut reader = HashingReader::new(store.blobs.open(&blob)?);
        std::io::copy(&mut reader, &mut std::io::sink()).map_err(|e| StoreError::io("read", &path, e))?;
        let (actual, _) = reader.finish();
        if actual != blob {
            corrupt.insert(blob);
            problems.push(Problem::CorruptBlob { blob, actual });
        }
    }
    Ok(corrupt)
}

/// Tags, manifests, configs and layer blobs of every image; returns the
/// layers images need.
fn check_images(store: &Store, report: &mut VerifyReport, problems: &mut Vec<Problem>) -> Result<Needs, StoreError> {
    let mut needs = Needs::default();
    let entries = store.list_images()?;
    report.images = entries.len();
    for (tag, target) in store.tag_targets()? {
        if !entries.iter().any(|e| e.manifest == target) {
            problems.push(Problem::DanglingTag { tag, target: target.to_string() });
        }
    }
    for entry in entries {
        let image = match store.resolve(&entry.manifest.to_string()) {
            Ok(image) => image,
            Err(error) => {
                problems.push(Problem::BrokenImage { image: entry.manifest.to_string(), reason: error.to_string() });
                continue;
            }
        };
        let layers = image.manifest.layers().unwrap_or_default();
        for (blob, _, _) in &layers {
            if !store.has_blob(blob)? {
                problems.push(Problem::MissingBlob { blob: *blob, needed_by: format!("image {}", image.id().short()) });
            }
        }
        for diff_id in &image.config.rootfs.diff_ids {
            needs.images.entry(*diff_id).or_insert_with(|| image.id().short());
        }
    }
    Ok(needs)
}

/// Every needed layer: its record, blob and snapshot (present and complete).
fn check_layers(store: &Store, needs: &Needs, corrupt: &BTreeSet<Digest>, report: &mut VerifyReport, problems: &mut Vec<Problem>) -> Result<(), StoreError> {
    let layer_records = store.all_layers()?;
    let layers: BTreeSet<Digest> = needs.images.keys().chain(needs.records.keys()).copied().collect();
    for layer in layers {
        let needed_by = needs.describe(&layer);
        let Some(record) = layer_records.get(&layer) else {
            problems.push(Problem::MissingLayer { layer, needed_by });
            continue;
        };
        if !store.snapshots.contains(&layer) {
            // An image's layer stored as its blob is unpacked on first use
            // (store/unpack.rs); a built layer's snapshot is made with it.
            let first_use = store.blobs.contains(&record.blob) && !needs.records.contains_key(&layer);
            if !first_use {
                problems.push(Problem::MissingSnapshot { layer, needed_by });
            }
            continue;
        }
        report.snapshots += 1;
        // A layer kept as its snapshot alone: its tar, made again, must
        // hash to the diff_id.
        if record.blob == layer && !store.blobs.contains(&record.blob) {
            if let Some(reason) = snapshot_matches_diff_id(store, &layer)? {
                problems.push(Problem::IncompleteSnapshot { layer, path: "/".into(), reason });
            }
            continue;
        }
        if !store.blobs.contains(&record.blob) {
            if !needs.images.contains_key(&layer) {
                // Images' missing blobs are reported by check_images.
                problems.push(Problem::MissingBlob { blob: record.blob, needed_by });
            }
            continue;
        }
        if !corrupt.contains(&record.blob) {
            if let Some((path, reason)) = compare_snapshot(store, &record.blob, &store.snapshots.path(&layer))? {
                problems.push(Problem::IncompleteSnapshot { layer, path, reason });
            }
        }
    }
    Ok(())
}

/// Why a snapshot-only layer's tar, made again from its snapshot, does
/// not hash to its diff_id (`None` when it does).
fn snapshot_matches_diff_id(store: &Store, layer: &Digest) -> Result<Option<String>, StoreError> {
    let mut tar = store.open_blob(layer)?;
    match std::io::copy(&mut tar, &mut std::io::sink()) {
        Ok(_) => Ok(None),
        Err(e) => Ok(Some(format!("its content no longer matches the layer ({e})"))),
    }
}

/// The first entry of the layer blob's tar listing the snapshot lacks or
/// holds in another form (whiteouts are checked as the 0/0 character
/// devices overlayfs reads; opaque markers are left to the xattr).
fn compare_snapshot(store: &Store, blob: &Digest, snapshot: &Path) -> Result<Option<(String, String)>, StoreError> {
    let path = store.blobs.path(blob);
    let file = store.blobs.open(blob)?;
    let (_, plain) = crate::layer::decompress(BufReader::new(file))?;
    let mut archive = tar::Archive::new(plain);
    let entries = archive.entries().map_err(|e| StoreError::io("read layer", &path, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("read layer", &path, e))?;
        let name = entry.path().map_err(|e| StoreError::io("read layer", &path, e))?.into_owned();
        if let Some(problem) = compare_entry(&entry, &name, snapshot) {
            return Ok(Some((name.display().to_string(), problem)));
        }
    }
    Ok(None)
}

fn compare_entry<R: Read>(entry: &tar::Entry<R>, name: &Path, snapshot: &Path) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let file_name = name.file_name()?.to_string_lossy().into_owned();
    if file_name == crate::layer::format::OPAQUE_MARKER {
        return None;
    }
    let (target, whiteout) = match file_name.strip_prefix(crate::layer::format::WHITEOUT_PREFIX) {
        Some(hidden) => (snapshot.join(name.with_file_name(hidden)), true),
        None => (snapshot.join(name), false),
    };
    let Ok(meta) = fs_err::symlink_metadata(&target) else { return Some("missing".into()) };
    let kind = entry.header().entry_type();
    let found = meta.file_type();
    let expected = if whiteout {
        found.is_char_device()
    } else if kind.is_dir() {
        found.is_dir()
    } else if kind.is_symlink() {
        found.is_symlink()
    } else if kind.is_file() {
        return (!found.is_file() || meta.len() != entry.size()).then(|| format!("expected a file of {} bytes", entry.size()));
    } else {
        true
    };
    (!expected).then(|| "has another type".into())
}

/// Moves broken things aside and drops what needed them.
struct Repair<'a> {
    store: &'a Store,
    dir: Option<PathBuf>,
    dropped: Vec<CacheRecord>,
}

impl<'a> Repair<'a> {
    fn new(store: &'a Store) -> Repair<'a> {
        Repair { store, dir: None, dropped: Vec::new() }
    }

    /// The quarantine directory of this run, made on first use.
    fn dir(&mut self, sub: &str) -> Result<PathBuf, StoreError> {
        let dir = match &self.dir {
            Some(dir) => dir.clone(),
            None => {
                let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                let dir = self.store.quarantine_dir().join(format!("{secs}-{}", std::process::id()));
                self.dir = Some(dir.clone());
                dir
            }
        };
        let path = dir.join(sub);
        fs_err::create_dir_all(&path).map_err(|e| StoreError::io("create", &path, e))?;
        Ok(path)
    }

    fn fix(&mut self, problem: &Problem, needs: &Needs) -> Result<Option<String>, StoreError> {
        match problem {
            Problem::CorruptBlob { blob, .. } => {
                self.quarantine(&self.store.blobs.path(blob), "blobs", &blob.hex())?;
                let layer = self.layer_of_blob(blob)?;
                let dropped = match layer {
                    Some(layer) if !needs.images.contains_key(&layer) => self.drop_layer(&layer, needs)?,
                    _ => 0,
                };
                Ok(Some(format!("blob quarantined; {dropped} cache record(s) dropped")))
            }
            Problem::MissingBlob { blob, .. } => match self.layer_of_blob(blob)? {
                Some(layer) if !needs.images.contains_key(&layer) => Ok(Some(format!("{} cache record(s) dropped", self.drop_layer(&layer, needs)?))),
                _ => Ok(None),
            },
            Problem::MissingSnapshot { layer, .. } | Problem::IncompleteSnapshot { layer, .. } => {
                if needs.images.contains_key(layer) {
                    return self.restore_snapshot(layer);
                }
                Ok(Some(format!("{} cache record(s) dropped", self.drop_layer(layer, needs)?)))
            }
            Problem::MissingLayer { layer, .. } if !needs.images.contains_key(layer) => {
                Ok(Some(format!("{} cache record(s) dropped", self.drop_layer(layer, needs)?)))
            }
            Problem::DanglingTag { tag, .. } => {
                self.store.untag(tag)?;
                Ok(Some("tag removed".into()))
            }
            Problem::MissingLayer { .. } | Problem::BrokenImage { .. } => Ok(None),
        }
    }

    fn layer_of_blob(&self, blob: &Digest) -> Result<Option<Digest>, StoreError> {
        Ok(self.store.all_layers()?.into_iter().find(|(_, record)| record.blob == *blob).map(|(layer, _)| layer))
    }

    /// Quarantines a cache layer's snapshot and drops its records and
    /// layer record; returns how many records.
    fn drop_layer(&mut self, layer: &Digest, needs: &Needs) -> Result<usize, StoreError> {
        let snapshot = self.store.snapshots.path(layer);
        if snapshot.exists() {
            self.quarantine(&snapshot, "snapshots", &layer.hex())?;
        }
        let records = needs.records.get(layer).cloned().unwrap_or_default();
        let keys: Vec<CacheKey> = records.iter().map(|r| r.key).collect();
        let layers = BTreeSet::from([*layer]);
        self.store.meta.write(|txn| {
            Cache::delete_in(txn, &keys)?;
            Store::forget_layers_in(txn, &layers)
        })?;
        self.dropped.extend(records);
        Ok(keys.len())
    }

    fn restore_snapshot(&mut self, layer: &Digest) -> Result<Option<String>, StoreError> {
        let snapshot = self.store.snapshots.path(layer);
        if snapshot.exists() {
            self.quarantine(&snapshot, "snapshots", &layer.hex())?;
        }
        match self.store.restore_snapshot(layer) {
            Ok(()) => Ok(Some("snapshot unpacked again from its blob".into())),
            Err(StoreError::MissingBlob(_) | StoreError::Corrupt { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn quarantine(&mut self, path: &Path, sub: &str, name: &str) -> Result<(), StoreError> {
        let target = self.dir(sub)?.join(name);
        fs_err::rename(path, &target).map_err(|e| StoreError::io("quarantine", path, e))
    }

    /// Writes the dropped records beside what was quarantined.
    fn finish(mut self) -> Result<Option<PathBuf>, StoreError> {
        if !self.dropped.is_empty() {
            let path = self.dir("")?.join("records.jsonl");
            let lines: String = self.dropped.iter().map(|r| serde_json::to_string(r).unwrap_or_default() + "\n").collect();
            fs_err::write(&path, lines).map_err(|e| StoreError::io("write", &path, e))?;
        }
        Ok(self.dir)
    }
}
