//! Loading an archive (oci-archive or docker-archive) into a store.
//!
//! The archive is unpacked into a scratch directory first (a tar has no
//! index to seek by, and `docker save` writes `manifest.json` last), then
//! each image is ingested: its config kept byte for byte (the image ID is
//! its digest), each layer stored as it is in the archive, unpacked and
//! checked against the config's `rootfs.diff_ids`. Layers the target already
//! has are reused, not unpacked again. The scratch directory is removed on
//! every path.

use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::extract::{extract, Extracted};
use super::{docker, oci, ArchiveError};
use crate::digest::Digest;
use crate::image::{ImageConfig, Reference};
use crate::layer;

/// What `load` writes into: a store, through the few operations it needs.
pub trait LoadTarget {
    /// The store's own error, carried inside [`ArchiveError::Store`](super::ArchiveError::Store).
    type Error: std::error::Error + Send + Sync + 'static;

    /// A fresh, empty scratch directory on the store's filesystem (so
    /// unpacked layers can be renamed into place).
    fn scratch_dir(&self, prefix: &str) -> Result<PathBuf, Self::Error>;
    /// The layer with this diff_id, when its blob and unpacked snapshot are
    /// both present already.
    fn existing_layer(&self, diff_id: &Digest) -> Result<Option<LoadedLayer>, Self::Error>;
    /// Stores a blob, checking its digest when one is expected.
    fn add_blob(&self, content: &mut dyn Read, expected: Option<&Digest>) -> Result<(Digest, u64), Self::Error>;
    /// Moves a completely unpacked layer into place as `diff_id`'s snapshot.
    fn add_snapshot(&self, unpacked: &Path, diff_id: &Digest) -> Result<(), Self::Error>;
    /// Records an image over stored layers and points `tags` at it; returns the image ID.
    fn add_image(&self, config_bytes: &[u8], config: &ImageConfig, layers: &[(Digest, LoadedLayer)], tags: &[Reference]) -> Result<Digest, Self::Error>;
}

/// A layer blob as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedLayer {
    /// The digest of the blob as stored (compressed as it came).
    pub digest: Digest,
    /// The OCI layer media type, from the compression detected.
    pub media_type: String,
    /// Size of the blob, in bytes.
    pub size: u64,
    /// Size of the plain tar, in bytes.
    pub uncompressed_size: u64,
}

/// An image `load` stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    /// The image ID (config digest).
    pub id: Digest,
    /// The names the archive gave it (`RepoTags`, `org.opencontainers.image.ref.name`), now tags in the store.
    pub tags: Vec<Reference>,
}

/// What `load` reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadProgress {
    /// A layer was stored and unpacked.
    Loaded {
        /// The layer's uncompressed digest.
        diff_id: Digest,
        /// Size of the blob as stored, in bytes.
        size: u64,
    },
    /// A layer was present already.
    Exists {
        /// The layer's uncompressed digest.
        diff_id: Digest,
    },
}

/// An image as an archive describes it: names of files inside the archive.
#[derive(Debug, Clone)]
pub(super) struct ArchivedImage {
    pub config: String,
    /// The config digest the archive claims, checked on read.
    pub config_digest: Option<Digest>,
    pub layers: Vec<ArchivedLayer>,
    pub tags: Vec<Reference>,
}

/// One layer file in an archive.
#[derive(Debug, Clone)]
pub(super) struct ArchivedLayer {
    pub name: String,
    pub digest: Option<Digest>,
}

/// Loads every image of the archive `reader` (plain, gzip or zstd tar of
/// either archive form) into `target`.
pub fn load<T: LoadTarget>(reader: impl Read, target: &T, progress: &mut dyn FnMut(LoadProgress)) -> Result<Vec<LoadedImage>, ArchiveError> {
    let scratch = target.scratch_dir("load").map_err(|e| store_error("a scratch directory", e))?;
    let result = load_in(reader, target, &scratch, progress);
    let removed = fs_err::remove_dir_all(&scratch).map_err(|e| ArchiveError::io("remove", &scratch, e));
    let images = result?;
    removed?;
    Ok(images)
}

fn load_in<T: LoadTarget>(reader: impl Read, target: &T, scratch: &Path, progress: &mut dyn FnMut(LoadProgress)) -> Result<Vec<LoadedImage>, ArchiveError> {
    let files = scratch.join("archive");
    fs_err::create_dir(&files).map_err(|e| ArchiveError::io("create", &files, e))?;
    let archive = extract(reader, &files)?;
    let images = if archive.contains("index.json") {
        oci::read(&archive)?
    } else if archive.contains("manifest.json") {
        docker::read(&archive)?
    } else {
        return Err(ArchiveError::UnknownFormat);
    };
    let mut ingest = Ingest { archive: &archive, target, scratch, unpacked: HashMap::new(), progress };
    images.iter().map(|image| ingest.image(image)).collect()
}

struct Ingest<'a, T> {
    archive: &'a Extracted,
    target: &'a T,
    scratch: &'a Path,
    /// Layers stored by this load (their records land with the image).
    unpacked: HashMap<Digest, LoadedLayer>,
    progress: &'a mut dyn FnMut(LoadProgress),
}

impl<T: LoadTarget> Ingest<'_, T> {
    fn image(&mut self, image: &ArchivedImage) -> Result<LoadedImage, ArchiveError> {
        let config_bytes = self.archive.read(&image.config, image.config_digest.as_ref())?;
        let config: ImageConfig = serde_json::from_slice(&config_bytes).map_err(|source| ArchiveError::Json { name: image.config.clone(), source })?;
        let id = Digest::of(&config_bytes);
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != image.layers.len() {
            return Err(ArchiveError::LayerCount { config: id, layers: image.layers.len(), diff_ids: diff_ids.len() });
        }
        let mut layers = Vec::with_capacity(diff_ids.len());
        for (layer, diff_id) in image.layers.iter().zip(diff_ids) {
            layers.push((*diff_id, self.layer(layer, diff_id)?));
        }
        let id = self.target.add_image(&config_bytes, &config, &layers, &image.tags).map_err(|e| store_error(&image.config, e))?;
        Ok(LoadedImage { id, tags: image.tags.clone() })
    }

    fn layer(&mut self, layer: &ArchivedLayer, diff_id: &Digest) -> Result<LoadedLayer, ArchiveError> {
        if let Some(known) = self.unpacked.get(diff_id) {
            return Ok(known.clone());
        }
        if let Some(existing) = self.target.existing_layer(diff_id).map_err(|e| store_error(&layer.name, e))? {
            (self.progress)(LoadProgress::Exists { diff_id: *diff_id });
            return Ok(existing);
        }
        let mut file = BufReader::with_capacity(1 << 20, self.archive.open(&layer.name)?);
        let (digest, size) = self.target.add_blob(&mut file, layer.digest.as_ref()).map_err(|e| store_error(&layer.name, e))?;
        let dir = self.scratch.join(format!("layer-{}", diff_id.hex()));
        fs_err::create_dir(&dir).map_err(|e| ArchiveError::io("create", &dir, e))?;
        let unpacked = layer::unpack(self.archive.open(&layer.name)?, &dir).map_err(|source| ArchiveError::Layer { name: layer.name.clone(), source })?;
        if unpacked.diff_id != *diff_id {
            return Err(ArchiveError::DiffIdMismatch { name: layer.name.clone(), expected: *diff_id, actual: unpacked.diff_id });
        }
        self.target.add_snapshot(&dir, diff_id).map_err(|e| store_error(&layer.name, e))?;
        let loaded = LoadedLayer { digest, media_type: unpacked.compression.media_type().to_owned(), size, uncompressed_size: unpacked.uncompressed_size };
        (self.progress)(LoadProgress::Loaded { diff_id: *diff_id, size });
        self.unpacked.insert(*diff_id, loaded.clone());
        Ok(loaded)
    }
}

fn store_error(name: &str, error: impl std::error::Error + Send + Sync + 'static) -> ArchiveError {
    ArchiveError::Store { name: name.into(), source: Box::new(error) }
}

/// Parses an image name found in an archive.
pub(super) fn parse_name(name: &str) -> Result<Reference, ArchiveError> {
    name.parse().map_err(|source| ArchiveError::BadName { name: name.into(), source })
}

/// The digest a name like `blobs/sha256/<hex>` or `<hex>.json` carries.
pub(super) fn digest_in_name(name: &str) -> Option<Digest> {
    let file = name.trim_start_matches("./");
    let hex = file.strip_prefix("blobs/sha256/").or_else(|| file.strip_suffix(".json"))?;
    Digest::from_hex(hex).ok()
}
