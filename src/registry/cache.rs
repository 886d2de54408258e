//! The build cache through a registry (`type=registry,ref=REG/REPO:TAG`) or
//! an OCI layout directory on a shared disk (`type=local,dest=DIR` /
//! `src=DIR`), so a fleet of CI runners builds as if each had built before.
//!
//! The cache is an OCI artifact: an image manifest whose `artifactType` is
//! `application/vnd.strata.cache.v1`, whose config blob is the index of
//! records ([`SharedIndex`]: key, parent key, step, created, layer) and whose
//! layers are the records' compressed layer blobs. Import reads the manifest
//! and the index only; a layer is fetched (and unpacked, verified) when a
//! step that hit needs its content, or the final image is committed.
//! Export uploads only what the target lacks (HEAD, or a file check), so
//! exporting to the ref imported from moves only new layers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;

use serde_json::{json, Value};

use super::client::{read_document, Body, Client, ClientOptions};
use super::pull::{Fetcher, LayerSource, Wanted};
use super::push::{has_blob, mount_source, put_document, Outgoing, Uploader};
use super::{media, RegistryError, TransferProgress};
use crate::cache::{
    select, shared_record, CacheKey, ExportMode, SharedCache, SharedCacheError, SharedIndex, SharedLayer, SharedRecord, UsedStep, ARTIFACT_TYPE,
    INDEX_MEDIA_TYPE,
};
use crate::digest::Digest;
use crate::image::Reference;
use crate::layer::Compression;
use crate::store::{LayerRecord, Store};

/// The name a layout directory's index gives the cache manifest.
const LAYOUT_REF: &str = "strata-cache";

/// Where a cache lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheLocation {
    Registry(Reference),
    Layout(PathBuf),
}

/// A `--cache-to` or `--cache-from` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSpec {
    pub location: CacheLocation,
    pub mode: ExportMode,
}

impl CacheSpec {
    /// `type=registry,ref=REF[,mode=min|max]` or `type=local,dest=DIR[,mode=…]`.
    pub fn parse_to(text: &str) -> Result<CacheSpec, String> {
        CacheSpec::parse(text, "dest")
    }

    /// `type=registry,ref=REF` or `type=local,src=DIR`.
    pub fn parse_from(text: &str) -> Result<CacheSpec, String> {
        CacheSpec::parse(text, "src")
    }

    fn parse(text: &str, dir_key: &str) -> Result<CacheSpec, String> {
        let mut fields = HashMap::new();
        for field in text.split(',') {
            let (key, value) = field.split_once('=').ok_or_else(|| format!("invalid cache option {field:?} in {text:?}: expected KEY=VALUE"))?;
            fields.insert(key.trim(), value.trim());
        }
        let mode = match fields.get("mode").copied() {
            None | Some("min") => ExportMode::Min,
            Some("max") => ExportMode::Max,
            Some(other) => return Err(format!("invalid cache mode {other:?}: expected min or max")),
        };
        let location = match fields.get("type").copied() {
            Some("registry") => {
                let reference = fields.get("ref").ok_or_else(|| format!("{text:?}: type=registry needs ref=REGISTRY/REPOSITORY:TAG"))?;
                CacheLocation::Registry(reference.parse().map_err(|e| format!("{text:?}: {e}"))?)
            }
            Some("local") => {
                let dir = fields.get(dir_key).ok_or_else(|| format!("{text:?}: type=local needs {dir_key}=DIR"))?;
                CacheLocation::Layout(PathBuf::from(dir))
            }
            Some(other) => return Err(format!("unsupported cache type {other:?} (expected registry or local)")),
            None => return Err(format!("{text:?}: give type=registry or type=local")),
        };
        Ok(CacheSpec { location, mode })
    }
}

impl std::fmt::Display for CacheLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheLocation::Registry(reference) => write!(f, "{reference}"),
            CacheLocation::Layout(dir) => write!(f, "{}", dir.display()),
        }
    }
}

/// A place a cache is read from or written to.
enum Place {
    Registry { client: Box<Client>, tag: String },
    Layout(PathBuf),
}

impl Place {
    fn open(location: &CacheLocation, push: bool, options: &ClientOptions) -> Place {
        match location {
            CacheLocation::Registry(reference) => Place::Registry {
                client: Box::new(Client::new(&reference.registry, &reference.repository, push, options)),
                tag: reference.tag.clone().unwrap_or_else(|| "latest".into()),
            },
            CacheLocation::Layout(dir) => Place::Layout(dir.clone()),
        }
    }

    fn source(&self) -> LayerSource<'_> {
        match self {
            Place::Registry { client, .. } => LayerSource::Registry(client),
            Place::Layout(dir) => LayerSource::Layout(dir),
        }
    }

    /// The cache manifest; `None` when there is no cache there yet.
    fn manifest(&self) -> Result<Option<Vec<u8>>, RegistryError> {
        match self {
            Place::Registry { client, tag } => {
                let url = client.url(&format!("manifests/{tag}"));
                let response = client.send("GET", &url, &[("Accept", media::OCI_MANIFEST)], &Body::Empty)?;
                match response.status().as_u16() {
                    200 => read_document(response).map(Some).map_err(|r| client.protocol(format!("cannot read the cache manifest: {r}"))),
                    404 => Ok(None),
                    _ => Err(client.status_error("a request for the cache manifest", response)),
                }
            }
            Place::Layout(dir) => {
                let index = match fs_err::read(dir.join("index.json")) {
                    Ok(bytes) => bytes,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(RegistryError::Io { action: "read", path: dir.join("index.json"), source: e }),
                };
                let index: Value = serde_json::from_slice(&index).map_err(|e| bad_cache(dir.display().to_string(), e.to_string()))?;
                let entry = index["manifests"].as_array().and_then(|m| m.iter().find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == LAYOUT_REF));
                let Some(digest) = entry.and_then(|e| e["digest"].as_str()).and_then(|d| d.parse::<Digest>().ok()) else { return Ok(None) };
                self.read_blob(&digest).map(Some)
            }
        }
    }

    /// A small blob, checked against its digest.
    fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, RegistryError> {
        let bytes = match self {
            Place::Registry { client, .. } => {
                let response = client.send("GET", &client.url(&format!("blobs/{digest}")), &[], &Body::Empty)?;
                if response.status().as_u16() != 200 {
                    return Err(client.status_error(&format!("a request for blob {digest}"), response));
                }
                read_document(response).map_err(|r| client.protocol(format!("cannot read blob {digest}: {r}")))?
            }
            Place::Layout(dir) => {
                let path = dir.join("blobs/sha256").join(digest.hex());
                fs_err::read(&path).map_err(|e| RegistryError::Io { action: "read", path, source: e })?
            }
        };
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(RegistryError::DigestMismatch { blob: self.source().describe(digest), expected: *digest, actual });
        }
        Ok(bytes)
    }

    fn has_blob(&self, digest: &Digest) -> Result<bool, RegistryError> {
        match self {
            Place::Registry { client, .. } => has_blob(client, digest),
            Place::Layout(dir) => Ok(dir.join("blobs/sha256").join(digest.hex()).is_file()),
        }
    }
}

fn bad_cache(place: String, reason: String) -> RegistryError {
    RegistryError::Protocol { registry: place, reason: format!("not a strata cache: {reason}") }
}

/// Caches imported with `--cache-from`: every record of every source,
/// layers fetched on demand from the source that listed them.
pub struct ImportedCache<'a> {
    store: &'a Store,
    places: Vec<Place>,
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
            let client_options = match location {
                CacheLocation::Registry(reference) => options(&reference.registry)?,
                CacheLocation::Layout(_) => ClientOptions::default(),
            };
            let place = Place::open(location, false, &client_options);
            let index = read_index(&place, &location.to_string())?;
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
            if let CacheLocation::Registry(reference) = location {
                // A later push to this registry can mount these blobs.
                store.add_blob_source(&blobs, &reference.name())?;
            }
            cache.places.push(place);
        }
        Ok((cache, summaries))
    }
}

/// The index a place holds; `None` when it holds no cache yet.
fn read_index(place: &Place, shown: &str) -> Result<Option<SharedIndex>, RegistryError> {
    let Some(manifest) = place.manifest()? else { return Ok(None) };
    let manifest: Value = serde_json::from_slice(&manifest).map_err(|e| bad_cache(shown.to_owned(), e.to_string()))?;
    if manifest["config"]["mediaType"] != INDEX_MEDIA_TYPE {
        return Err(bad_cache(shown.to_owned(), format!("its config is a {}", manifest["config"]["mediaType"])));
    }
    let digest = manifest["config"]["digest"].as_str().and_then(|d| d.parse::<Digest>().ok());
    let digest = digest.ok_or_else(|| bad_cache(shown.to_owned(), "the manifest names no index".into()))?;
    let index: SharedIndex = serde_json::from_slice(&place.read_blob(&digest)?).map_err(|e| bad_cache(shown.to_owned(), e.to_string()))?;
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

    /// Up to [`super::DEFAULT_JOBS`] layers at once; one batch at a time, so
    /// stages that need the same layer fetch it once (the second finds it
    /// present).
    fn fetch_layers(&self, layers: &[(Digest, LayerRecord)]) -> Result<(), SharedCacheError> {
        let _one_batch_at_a_time = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        crate::parallel::for_each(layers, super::DEFAULT_JOBS, |(diff_id, layer)| {
            let place = self.layers.get(&layer.blob).and_then(|slot| self.places.get(*slot));
            let Some(place) = place else { return Err(SharedCacheError::LayerNotImported { diff_id: *diff_id }) };
            let fetcher = Fetcher { store: self.store, source: place.source(), progress: self.progress, downloaded: AtomicUsize::new(0) };
            let wanted = Wanted { digest: layer.blob, size: layer.size, media_type: layer.media_type.clone(), diff_id: *diff_id };
            fetcher.one(&wanted).map(drop).map_err(|e| SharedCacheError::Fetch { diff_id: *diff_id, cause: Box::new(e) })
        })
        .map(drop)
    }
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    pub records: usize,
    pub layers: usize,
    /// Layer blobs the target lacked and received.
    pub uploaded: usize,
}

/// Writes the records `mode` selects (of the build steps `steps`, whose
/// final key is `last`) and their layers to `spec`'s location.
pub fn export(
    store: &Store,
    spec: &CacheSpec,
    steps: &[UsedStep],
    last: &CacheKey,
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
    let place = Place::open(&spec.location, true, options);
    let mut uploaded = 0;
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
    match &place {
        Place::Registry { client, tag } => {
            let target: Reference = format!("{}/{}:{tag}", client.endpoint.registry, client.repository).parse().map_err(crate::store::StoreError::from)?;
            for blob in &mut outgoing {
                blob.mount_from = mount_source(store, &blob.digest, &target)?;
            }
            let uploader = Uploader { client, progress, chunk_size: super::push::DEFAULT_CHUNK_SIZE };
            let sent = crate::parallel::for_each(&outgoing, super::DEFAULT_JOBS, |blob| uploader.blob(blob))?;
            uploaded = outgoing.iter().zip(&sent).filter(|(b, s)| b.digest != index_digest && **s == super::push::Sent::Uploaded).count();
            put_document(client, tag, &manifest, media::OCI_MANIFEST)?;
            let digests: Vec<Digest> = outgoing.iter().map(|b| b.digest).collect();
            store.add_blob_source(&digests, &target.name())?;
        }
        Place::Layout(dir) => {
            for blob in &outgoing {
                if copy_blob(store, dir, &blob.digest)? && blob.digest != index_digest {
                    uploaded += 1;
                }
            }
            write_layout_index(dir, &manifest)?;
        }
    }
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

/// Copies a store blob into the layout unless it is there; true when copied.
fn copy_blob(store: &Store, dir: &Path, digest: &Digest) -> Result<bool, RegistryError> {
    let blobs = dir.join("blobs/sha256");
    let target = blobs.join(digest.hex());
    if target.is_file() {
        return Ok(false);
    }
    fs_err::create_dir_all(&blobs).map_err(|e| RegistryError::Io { action: "create", path: blobs.clone(), source: e })?;
    let partial = blobs.join(format!(".{}.partial-{}", digest.hex(), std::process::id()));
    let copied = fs_err::copy(store.blobs.path(digest), &partial)
        .and_then(|_| std::fs::File::open(&partial)?.sync_all())
        .and_then(|()| fs_err::rename(&partial, &target));
    if let Err(e) = copied {
        let _ = fs_err::remove_file(&partial);
        return Err(RegistryError::Io { action: "write", path: target, source: e });
    }
    Ok(true)
}

/// Writes the manifest blob, `oci-layout` and `index.json` (renamed into
/// place last, so a reader sees the old cache or the new one).
fn write_layout_index(dir: &Path, manifest: &[u8]) -> Result<(), RegistryError> {
    let digest = Digest::of(manifest);
    write_atomic(&dir.join("blobs/sha256").join(digest.hex()), manifest)?;
    write_atomic(&dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": [{
            "mediaType": media::OCI_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "digest": digest.to_string(),
            "size": manifest.len(),
            "annotations": { "org.opencontainers.image.ref.name": LAYOUT_REF },
        }],
    });
    write_atomic(&dir.join("index.json"), &crate::image::canonical_json(&index))
}

/// Writes beside `path`, syncs, and renames into place.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let partial = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let written = std::fs::File::create(&partial)
        .and_then(|mut file| std::io::Write::write_all(&mut file, bytes).and_then(|()| file.sync_all()))
        .and_then(|()| fs_err::rename(&partial, path));
    if let Err(e) = written {
        let _ = fs_err::remove_file(&partial);
        return Err(RegistryError::Io { action: "write", path: path.to_path_buf(), source: e });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cache_options() {
        let to = CacheSpec::parse_to("type=registry,ref=127.0.0.1:5000/app/cache:main,mode=max").unwrap();
        assert_eq!(to.mode, ExportMode::Max);
        assert_eq!(to.location, CacheLocation::Registry("127.0.0.1:5000/app/cache:main".parse().unwrap()));
        assert_eq!(CacheSpec::parse_to("type=local,dest=/c").unwrap(), CacheSpec { location: CacheLocation::Layout("/c".into()), mode: ExportMode::Min });
        assert_eq!(CacheSpec::parse_from("type=local,src=/c").unwrap().location, CacheLocation::Layout("/c".into()));
        assert!(CacheSpec::parse_from("type=local,dest=/c").is_err(), "import reads src=");
        assert!(CacheSpec::parse_to("type=s3,bucket=x").is_err());
        assert!(CacheSpec::parse_to("type=registry,ref=x,mode=all").is_err());
    }
}
