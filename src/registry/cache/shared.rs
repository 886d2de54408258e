//! What a shared cache holds, the same for every kind of place.
//!
//! The cache is an OCI artifact: an image manifest whose `artifactType` is
//! `application/vnd.strata.cache.v1`, whose config blob is the index of
//! records ([`SharedIndex`]: key, parent key, step, created, layer) and whose
//! layers are the records' compressed layer blobs. Import reads the manifest
//! and the index only; a layer is fetched (and unpacked, verified) when a
//! step that hit needs its content, or the final image is committed.
//! Export uploads only what the target lacks (HEAD, or a file check), so
//! exporting to the place imported from moves only new layers.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;

use serde_json::{json, Value};

use super::{bad_cache, read_blob, CacheLocation, CachePlace, CacheSpec};
use crate::cache::{
    select, shared_record, CacheKey, SharedCache, SharedCacheError, SharedIndex, SharedLayer, SharedRecord, UsedStep, ARTIFACT_TYPE, INDEX_MEDIA_TYPE,
};
use crate::digest::Digest;
use crate::layer::Compression;
use crate::registry::client::ClientOptions;
use crate::registry::pull::{Fetcher, Wanted};
use crate::registry::push::Outgoing;
use crate::registry::{media, RegistryError, TransferProgress, DEFAULT_JOBS};
use crate::store::{LayerRecord, Store};

/// Caches imported with `--cache-from`: every record of every source,
/// layers fetched on demand from the source that listed them.
pub struct ImportedCache<'a> {
    store: &'a Store,
    places: Vec<Box<dyn CachePlace>>,
    records: HashMap<CacheKey, SharedRecord>,
    /// Layer blob → the place that has it.
    layers: HashMap<Digest, usize>,
    progress: &'a dyn TransferProgress,
    /// One fetch at a time: two stages needing one layer fetch it once.
    fetching: Mutex<()>,
}

/// What an import found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// The cache location as given (`type=registry,ref=…`).
    pub location: String,
    /// `None` when there was no cache there yet.
    pub records: Option<usize>,
}

impl<'a> ImportedCache<'a> {
    /// Reads the index of every location (a location without a cache yet
    /// contributes nothing); `options` gives the client options of a registry.
    pub fn import(
        store: &'a Store,
        locations: &[CacheLocation],
        options: &dyn Fn(&str) -> Result<ClientOptions, RegistryError>,
        progress: &'a dyn TransferProgress,
    ) -> Result<(ImportedCache<'a>, Vec<ImportSummary>), RegistryError> {
        let mut cache = ImportedCache { store, places: Vec::new(), records: HashMap::new(), layers: HashMap::new(), progress, fetching: Mutex::new(()) };
        let mut summaries = Vec::new();
        for location in locations {
            let backend = location.backend();
            let client_options = match backend.registry_host() {
                Some(host) => options(host)?,
                None => ClientOptions::default(),
            };
            let place = backend.open(false, &client_options);
            let index = read_index(place.as_ref(), &location.to_string())?;
            summaries.push(ImportSummary { location: location.to_string(), records: index.as_ref().map(|i| i.records.len()) });
            let Some(index) = index else { continue };
            let slot = cache.places.len();
            let mut blobs = Vec::new();
            for record in index.records {
                if let Some(layer) = &record.layer {
                    cache.layers.entry(layer.digest).or_insert(slot);
                    blobs.push(layer.digest);
                }
                cache.records.entry(record.key).or_insert(record);
            }
            place.imported(store, &blobs)?;
            cache.places.push(place);
        }
        Ok((cache, summaries))
    }
}

/// The index a place holds; `None` when it holds no cache yet.
fn read_index(place: &dyn CachePlace, shown: &str) -> Result<Option<SharedIndex>, RegistryError> {
    let Some(manifest) = place.manifest()? else { return Ok(None) };
    let manifest: Value = serde_json::from_slice(&manifest).map_err(|e| bad_cache(shown.to_owned(), e.to_string()))?;
    if manifest["config"]["mediaType"] != INDEX_MEDIA_TYPE {
        return Err(bad_cache(shown.to_owned(), format!("its config is a {}", manifest["config"]["mediaType"])));
    }
    let digest = manifest["config"]["digest"].as_str().and_then(|d| d.parse::<Digest>().ok());
    let digest = digest.ok_or_else(|| bad_cache(shown.to_owned(), "the manifest names no index".into()))?;
    let index: SharedIndex = serde_json::from_slice(&read_blob(place, &digest)?).map_err(|e| bad_cache(shown.to_owned(), e.to_string()))?;
    if index.version != 1 {
        return Err(bad_cache(shown.to_owned(), format!("index version {} (this strata reads version 1)", index.version)));
    }
    Ok(Some(index))
}

impl SharedCache for ImportedCache<'_> {
    fn record(&self, key: &CacheKey) -> Option<SharedRecord> {
        self.records.get(key).cloned()
    }

    fn fetch_layer(&self, diff_id: &Digest, layer: &LayerRecord) -> Result<(), SharedCacheError> {
        self.fetch_layers(&[(*diff_id, layer.clone())])
    }

    /// Up to [`DEFAULT_JOBS`] layers at once; one batch at a time, so
    /// stages that need the same layer fetch it once (the second finds it
    /// present).
    fn fetch_layers(&self, layers: &[(Digest, LayerRecord)]) -> Result<(), SharedCacheError> {
        let _one_batch_at_a_time = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        crate::parallel::for_each(layers, DEFAULT_JOBS, |(diff_id, layer)| {
            let place = self.layers.get(&layer.blob).and_then(|slot| self.places.get(*slot));
            let Some(place) = place else { return Err(SharedCacheError::LayerNotImported { diff_id: *diff_id }) };
            let fetcher = Fetcher { store: self.store, source: place.layers(), progress: self.progress, downloaded: AtomicUsize::new(0) };
            let wanted = Wanted { digest: layer.blob, size: layer.size, media_type: layer.media_type.clone(), diff_id: *diff_id };
            // Unpacked at once: a cache record's layer has its snapshot (a
            // pulled image's layers wait for their first use instead).
            let fetched = fetcher.one(&wanted).and_then(|_| Ok(self.store.ensure_snapshot(diff_id)?));
            fetched.map(drop).map_err(|e| SharedCacheError::Fetch { diff_id: *diff_id, cause: Box::new(e) })
        })
        .map(drop)
    }
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// Cache records written (one per step kept).
    pub records: usize,
    /// Layers the records refer to.
    pub layers: usize,
    /// Layer blobs the target lacked and received.
    pub uploaded: usize,
}

/// Writes the records `mode` selects (of the build steps `steps`, whose
/// final keys are `last`, one per platform) and their layers to `spec`'s location.
pub fn export(
    store: &Store,
    spec: &CacheSpec,
    steps: &[UsedStep],
    last: &[CacheKey],
    imported: Option<&dyn SharedCache>,
    options: &ClientOptions,
    progress: &dyn TransferProgress,
) -> Result<ExportSummary, RegistryError> {
    let chosen = select(steps, last, spec.mode);
    let mut records = Vec::with_capacity(chosen.len());
    let mut layers: Vec<SharedLayer> = Vec::new();
    for step in &chosen {
        let layer = match &step.layer {
            Some((diff_id, record)) => Some(SharedLayer::from_record(*diff_id, &distributable(store, diff_id, record)?)),
            None => None,
        };
        if let Some(layer) = &layer {
            if !layers.iter().any(|l| l.digest == layer.digest) {
                layers.push(layer.clone());
            }
        }
        records.push(shared_record(step, layer));
    }
    let index = serde_json::to_vec(&SharedIndex { version: 1, records }).unwrap_or_default();
    let index_digest = store.blobs.put(&index)?;
    let manifest = cache_manifest(&index_digest, index.len() as u64, &layers);
    let place = spec.location.backend().open(true, options);
    let mut outgoing = Vec::new();
    for layer in &layers {
        if !store.blobs.contains(&layer.digest) {
            // Imported lazily and never needed here: fetch only when the target lacks it.
            if place.has_blob(&layer.digest)? {
                continue;
            }
            let Some(imported) = imported else { return Err(RegistryError::Store(crate::store::StoreError::MissingBlob(layer.digest))) };
            imported.fetch_layer(&layer.diff_id, &layer.record())?;
        }
        outgoing.push(Outgoing { digest: layer.digest, size: layer.size, path: store.blobs.path(&layer.digest), mount_from: None });
    }
    outgoing.push(Outgoing { digest: index_digest, size: index.len() as u64, path: store.blobs.path(&index_digest), mount_from: None });
    let uploaded = place.write(store, &mut outgoing, &index_digest, &manifest, progress)?;
    Ok(ExportSummary { records: chosen.len(), layers: layers.len(), uploaded })
}

/// A layer as a compressed blob: as stored when compressed, else through
/// the store's compress-once path.
fn distributable(store: &Store, diff_id: &Digest, record: &LayerRecord) -> Result<LayerRecord, RegistryError> {
    if Compression::from_media_type(&record.media_type).is_some_and(|c| c != Compression::None) {
        return Ok(record.clone());
    }
    Ok(store.distributable_layer(diff_id)?)
}

/// The artifact manifest: the index as config, the layers as layers.
fn cache_manifest(index: &Digest, index_size: u64, layers: &[SharedLayer]) -> Vec<u8> {
    let layers: Vec<Value> = layers.iter().map(|l| json!({ "mediaType": l.media_type, "digest": l.digest.to_string(), "size": l.size })).collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": { "mediaType": INDEX_MEDIA_TYPE, "digest": index.to_string(), "size": index_size },
        "layers": layers,
    });
    crate::image::canonical_json(&manifest)
}
