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
    /// The config's digest: the image ID and the config blob's name.
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
    /// Size of the blob as stored, in bytes.
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
    /// A filesystem operation on the output or the extraction directory failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done, as a verb ("create", "rename").
        action: &'static str,
        /// The host path it was done to.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// Writing the tar stream of a `save` failed.
    #[error("cannot write the archive")]
    Write(#[source] io::Error),
    /// Reading the input of a `load` failed.
    #[error("cannot read the archive")]
    Read(#[source] io::Error),
    /// The first header of the (decompressed) input is not tar.
    // The tar reader's own message quotes the bad header bytes: left out.
    #[error("the input is not an image archive (a tar: plain, gzip or zstd)")]
    NotTar,
    /// A header after the first could not be read.
    #[error("the archive is cut short or damaged after entry {after:?}")]
    Damaged {
        /// The name of the last entry read whole.
        after: String,
    },
    /// A blob to save could not be opened or read from the store.
    #[error("cannot read blob {digest}")]
    Blob {
        /// The blob's digest.
        digest: Digest,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// A stored blob no longer matches its digest or size while being saved.
    #[error("blob {digest} is {actual_size} bytes with digest {actual}, expected {expected_size} bytes")]
    BlobMismatch {
        /// The digest the blob is stored under.
        digest: Digest,
        /// The size the manifest gives, in bytes.
        expected_size: u64,
        /// The digest of what was read.
        actual: Digest,
        /// The bytes read.
        actual_size: u64,
    },
    /// A layer decompressed for a docker-archive does not hash to its diff_id.
    #[error("layer {diff_id} decompresses to {actual_size} bytes with digest {actual}, expected {expected_size} bytes")]
    LayerMismatch {
        /// The diff_id the config gives.
        diff_id: Digest,
        /// The plain tar size expected, in bytes.
        expected_size: u64,
        /// The digest of the plain tar read.
        actual: Digest,
        /// The plain tar bytes read.
        actual_size: u64,
    },
    /// `save_dir` was pointed at a directory with something in it.
    #[error("{} is not empty: an OCI layout is written into a new or empty directory", .0.display())]
    NotEmpty(PathBuf),
    /// An entry name or link would escape the extraction directory
    /// (absolute, `..`, a link loop).
    #[error("refusing archive entry {name:?}: {reason}")]
    UnsafeEntry {
        /// The entry's name as written in the archive.
        name: String,
        /// Why it was refused, for the message.
        reason: &'static str,
    },
    /// An entry is a device, FIFO or other type an image archive has no use for.
    #[error("archive entry {name:?} is a {kind}: only files, directories and links are read")]
    UnsupportedEntry {
        /// The entry's name as written in the archive.
        name: String,
        /// The tar entry type, lower-cased (`char`, `fifo`...).
        kind: String,
    },
    /// The input is a tar but neither an OCI layout nor a `docker save`.
    #[error("the archive has neither index.json (OCI) nor manifest.json (docker save)")]
    UnknownFormat,
    /// A file a manifest or index names is not in the archive; holds its name.
    #[error("the archive has no file {0:?}")]
    Missing(String),
    /// A JSON file of the archive (index, manifest, config) does not parse.
    #[error("{name} in the archive is not valid JSON")]
    Json {
        /// The file's name in the archive.
        name: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A blob's content does not hash to the digest it is named by.
    #[error("{name} in the archive hashes to {actual}, not {expected}")]
    DigestMismatch {
        /// The file's name in the archive.
        name: String,
        /// The digest its name or descriptor gives.
        expected: Digest,
        /// The digest of its content.
        actual: Digest,
    },
    /// A descriptor's digest is not `algorithm:hex`.
    #[error("{name} in the archive names an invalid digest {value:?}")]
    BadDigest {
        /// The file holding the descriptor.
        name: String,
        /// The digest as written.
        value: String,
    },
    /// A descriptor points at something other than an image manifest or index.
    #[error("{name} in the archive has media type {media_type}, which is not an image")]
    UnsupportedMediaType {
        /// The file holding the descriptor.
        name: String,
        /// The media type as written.
        media_type: String,
    },
    /// A manifest or index in the archive is malformed.
    #[error(transparent)]
    Document(#[from] crate::image::ManifestError),
    /// An image index in the archive lists no manifest for the host's architecture.
    #[error("image index {name} has no manifest for linux/{arch}")]
    NoPlatform {
        /// The index's name in the archive.
        name: String,
        /// The host's architecture (GOARCH name).
        arch: String,
    },
    /// A manifest's layer list and its config's `rootfs.diff_ids` differ in length.
    #[error("image {config}: the manifest lists {layers} layers but the config {diff_ids} diff_ids")]
    LayerCount {
        /// The config digest (the image ID).
        config: Digest,
        /// How many layers the manifest lists.
        layers: usize,
        /// How many diff_ids the config lists.
        diff_ids: usize,
    },
    /// A loaded layer unpacks to another diff_id than its config says.
    #[error("layer {name} unpacks to diff_id {actual}, but the config says {expected}")]
    DiffIdMismatch {
        /// The layer's name in the archive.
        name: String,
        /// The diff_id in the config.
        expected: Digest,
        /// The digest of the plain tar unpacked.
        actual: Digest,
    },
    /// An image name in `manifest.json` or the index is not a valid reference.
    #[error("invalid image name {name:?} in the archive")]
    BadName {
        /// The name as written.
        name: String,
        /// Why it is not a reference.
        #[source]
        source: ReferenceError,
    },
    /// The archive, or a layer being saved, is not plain, gzip or zstd, or its stream is damaged.
    #[error("cannot decompress {name}")]
    Decompress {
        /// What was being decompressed (`the archive`, `layer sha256:...`).
        name: String,
        /// The decompression error.
        #[source]
        source: LayerError,
    },
    /// Extracting the archive would overrun the free space (a decompression
    /// bomb), or the free space could not be measured.
    #[error("cannot unpack {name}")]
    Unpack {
        /// What was being unpacked (`the archive`).
        name: String,
        /// The size limit error.
        #[source]
        source: LayerError,
    },
    /// A layer in the archive could not be unpacked into a snapshot.
    #[error("cannot unpack layer {name}")]
    Layer {
        /// The layer's name in the archive.
        name: String,
        /// Why unpacking failed.
        #[source]
        source: LayerError,
    },
    /// The load target (the store) refused a blob, snapshot or image.
    #[error("cannot store {name} from the archive")]
    Store {
        /// The archive file being stored.
        name: String,
        /// The store's error.
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
