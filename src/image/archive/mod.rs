//! Image archives: the three forms an image travels in outside a registry,
//! written from and read into any store through two small traits.
//!
//! - **oci-dir**: an OCI image layout directory (`oci-layout`, `index.json`,
//!   `blobs/sha256/<hex>`), what `skopeo`, `umoci` and `oci-image-tool` read;
//! - **oci-archive**: the same layout as one tar stream, plus Docker's
//!   `manifest.json` beside it (as `docker save` has written since 25.0), so
//!   both Docker's classic and containerd image stores load it;
//! - **docker-archive**: the classic `docker save` layout: `<config>.json`,
//!   `<diff_id>/layer.tar` (uncompressed), `manifest.json`, `repositories`.
//!
//! Writers stream every layer from a [`BlobSource`] (nothing larger than a
//! config is held in memory) and check sizes and digests while they copy.
//! [`load`] reads either archive form into a [`LoadTarget`]. The store
//! implements both traits, so this module knows nothing of its layout.
//!
//! See: OCI image spec `image-layout.md`; moby `image/tarexport` (docker
//! save/load); containers/image `docker/internal/tarfile`.

mod docker;
mod extract;
mod load;
mod oci;
mod output;

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

pub use load::{load, LoadProgress, LoadTarget, LoadedImage, LoadedLayer};

use super::{ImageConfig, Manifest, ReferenceError};
use crate::digest::Digest;
use crate::layer::LayerError;

/// Where the blobs of the images being saved come from.
pub trait BlobSource {
    /// Opens a blob for streaming. Sizes come from the manifest, and every
    /// copy is checked against them and the digest.
    fn open_blob(&self, digest: &Digest) -> io::Result<Box<dyn Read + '_>>;
}

/// One image to save.
#[derive(Debug, Clone)]
pub struct SaveImage {
    /// The manifest, written byte for byte (its digest names it in the index).
    pub manifest: Manifest,
    pub config_digest: Digest,
    /// The parsed config (platform, diff_ids).
    pub config: ImageConfig,
    /// The layers, bottom first.
    pub layers: Vec<SaveLayer>,
    /// The names to record; empty for an image saved by ID.
    pub names: Vec<super::Reference>,
}

/// One layer of an image to save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveLayer {
    /// The blob as stored (compressed or not).
    pub digest: Digest,
    pub size: u64,
    /// The digest and size of the plain tar (docker-archive writes that).
    pub diff_id: Digest,
    /// `None` when unknown: the docker-archive writer then measures it first.
    pub uncompressed_size: Option<u64>,
}

/// The tar forms [`save_archive`] writes (the directory form is [`save_dir`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// Classic `docker save`: `manifest.json`, `<config>.json`, `<diff_id>/layer.tar`.
    Docker,
    /// An OCI image layout in a tar, with Docker's `manifest.json` beside it.
    Oci,
}

/// Why an archive could not be written or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write the archive")]
    Write(#[source] io::Error),
    #[error("cannot read the archive")]
    Read(#[source] io::Error),
    // The tar reader's own message quotes the bad header bytes: left out.
    #[error("the input is not an image archive (a tar: plain, gzip or zstd)")]
    NotTar,
    #[error("the archive is cut short or damaged after entry {after:?}")]
    Damaged { after: String },
    #[error("cannot read blob {digest}")]
    Blob {
        digest: Digest,
        #[source]
        source: io::Error,
    },
    #[error("blob {digest} is {actual_size} bytes with digest {actual}, expected {expected_size} bytes")]
    BlobMismatch { digest: Digest, expected_size: u64, actual: Digest, actual_size: u64 },
    #[error("layer {diff_id} decompresses to {actual_size} bytes with digest {actual}, expected {expected_size} bytes")]
    LayerMismatch { diff_id: Digest, expected_size: u64, actual: Digest, actual_size: u64 },
    #[error("{} is not empty: an OCI layout is written into a new or empty directory", .0.display())]
    NotEmpty(PathBuf),
    #[error("refusing archive entry {name:?}: {reason}")]
    UnsafeEntry { name: String, reason: &'static str },
    #[error("archive entry {name:?} is a {kind}: only files, directories and links are read")]
    UnsupportedEntry { name: String, kind: String },
    #[error("the archive has neither index.json (OCI) nor manifest.json (docker save)")]
    UnknownFormat,
    #[error("the archive has no file {0:?}")]
    Missing(String),
    #[error("{name} in the archive is not valid JSON")]
    Json {
        name: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{name} in the archive hashes to {actual}, not {expected}")]
    DigestMismatch { name: String, expected: Digest, actual: Digest },
    #[error("{name} in the archive names an invalid digest {value:?}")]
    BadDigest { name: String, value: String },
    #[error("{name} in the archive has media type {media_type}, which is not an image")]
    UnsupportedMediaType { name: String, media_type: String },
    #[error(transparent)]
    Document(#[from] crate::image::ManifestError),
    #[error("image index {name} has no manifest for linux/{arch}")]
    NoPlatform { name: String, arch: String },
    #[error("image {config}: the manifest lists {layers} layers but the config {diff_ids} diff_ids")]
    LayerCount { config: Digest, layers: usize, diff_ids: usize },
    #[error("layer {name} unpacks to diff_id {actual}, but the config says {expected}")]
    DiffIdMismatch { name: String, expected: Digest, actual: Digest },
    #[error("invalid image name {name:?} in the archive")]
    BadName {
        name: String,
        #[source]
        source: ReferenceError,
    },
    #[error("cannot decompress {name}")]
    Decompress {
        name: String,
        #[source]
        source: LayerError,
    },
    #[error("cannot unpack {name}")]
    Unpack {
        name: String,
        #[source]
        source: LayerError,
    },
    #[error("cannot unpack layer {name}")]
    Layer {
        name: String,
        #[source]
        source: LayerError,
    },
    #[error("cannot store {name} from the archive")]
    Store {
        name: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ArchiveError {
    fn io(action: &'static str, path: &Path, source: io::Error) -> ArchiveError {
        ArchiveError::Io { action, path: path.to_path_buf(), source }
    }
}

/// Writes `images` as a docker-archive or oci-archive tar stream into `out`.
/// Images that share a manifest are written once with all their names.
pub fn save_archive(images: &[SaveImage], format: ArchiveFormat, source: &dyn BlobSource, out: impl Write) -> Result<(), ArchiveError> {
    let images = merge(images);
    let mut tar = output::TarOut::new(out);
    match format {
        ArchiveFormat::Docker => docker::write(&images, source, &mut tar)?,
        ArchiveFormat::Oci => oci::write(&images, source, &mut tar, oci::Extras { docker_manifest: true })?,
    }
    tar.finish()
}

/// Writes `images` as an OCI image layout into `dir`, which must be empty
/// or not exist. Blobs land first and `index.json` last, so a reader never
/// sees an index naming a missing blob; on failure a directory this call
/// created is removed again.
pub fn save_dir(images: &[SaveImage], source: &dyn BlobSource, dir: &Path) -> Result<(), ArchiveError> {
    let images = merge(images);
    let mut out = output::DirOut::create(dir)?;
    let written = oci::write(&images, source, &mut out, oci::Extras { docker_manifest: false });
    match written {
        Ok(()) => Ok(()),
        Err(error) => {
            out.discard();
            Err(error)
        }
    }
}

/// One entry per manifest, names merged in first-seen order.
fn merge(images: &[SaveImage]) -> Vec<SaveImage> {
    let mut merged: Vec<SaveImage> = Vec::new();
    for image in images {
        match merged.iter_mut().find(|m| m.manifest.digest == image.manifest.digest) {
            Some(existing) => {
                for name in &image.names {
                    if !existing.names.contains(name) {
                        existing.names.push(name.clone());
                    }
                }
            }
            None => merged.push(image.clone()),
        }
    }
    merged
}

/// `blobs/sha256/<hex>`: where the OCI layout (and Docker since 25.0) keeps a blob.
fn blob_path(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}
