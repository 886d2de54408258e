//! Image manifests and indexes (OCI `application/vnd.oci.image.manifest.v1+json`
//! and `…index.v1+json`, and Docker's equivalents, which share their shape):
//! the one set of document types strata reads and writes, oci-spec's,
//! always written canonically.

use std::collections::HashMap;

pub use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType, Platform};
use oci_spec::image::{DescriptorBuilder, ImageIndexBuilder, ImageManifestBuilder, PlatformBuilder};

use crate::digest::{Digest, InvalidDigest};

/// A manifest together with its canonical bytes and digest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The parsed manifest.
    pub manifest: ImageManifest,
    /// Its bytes exactly as stored or sent: what `digest` is the hash of.
    pub bytes: Vec<u8>,
    /// The manifest's digest (`sha256:` of `bytes`).
    pub digest: Digest,
}

/// What can be wrong with a manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The bytes are not a JSON manifest of the expected shape.
    #[error("manifest is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A digest in the manifest is not `algorithm:hex` of a known algorithm.
    #[error("manifest has an invalid digest: {0}")]
    Digest(#[from] InvalidDigest),
    /// The OCI types refused the values given to build a manifest or index (holds their message).
    #[error("cannot build manifest: {0}")]
    Build(String),
}

/// A descriptor's digest as strata's [`Digest`].
pub fn descriptor_digest(descriptor: &Descriptor) -> Result<Digest, InvalidDigest> {
    descriptor.digest().to_string().parse()
}

/// An index entry: the manifest `digest` (`size` bytes) for the platform
/// `os`/`architecture`[/`variant`], with `annotations` (none when empty).
pub fn index_entry(
    media_type: MediaType,
    (digest, size): (&Digest, u64),
    (os, architecture, variant): (&str, &str, Option<&str>),
    annotations: HashMap<String, String>,
) -> Result<Descriptor, ManifestError> {
    let mut platform = PlatformBuilder::default().os(os).architecture(architecture);
    if let Some(variant) = variant {
        platform = platform.variant(variant);
    }
    let platform = platform.build().map_err(|e| ManifestError::Build(e.to_string()))?;
    let mut entry = DescriptorBuilder::default().media_type(media_type).digest(oci_digest(digest)?).size(size).platform(platform);
    if !annotations.is_empty() {
        entry = entry.annotations(annotations);
    }
    entry.build().map_err(|e| ManifestError::Build(e.to_string()))
}

/// An OCI image index of `manifests`.
pub fn image_index(manifests: Vec<Descriptor>) -> Result<ImageIndex, ManifestError> {
    ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .map_err(|e| ManifestError::Build(e.to_string()))
}

/// The media type for a layer with the given compression name
/// (`gzip`, `zstd`, or none).
pub fn layer_media_type(compression: Option<&str>) -> MediaType {
    match compression {
        Some("gzip") => MediaType::ImageLayerGzip,
        Some("zstd") => MediaType::ImageLayerZstd,
        _ => MediaType::ImageLayer,
    }
}

fn oci_digest(digest: &Digest) -> Result<oci_spec::image::Digest, ManifestError> {
    digest.to_string().parse().map_err(|e: oci_spec::OciSpecError| ManifestError::Build(e.to_string()))
}

impl Manifest {
    /// A manifest for a config blob and layer blobs `(digest, size, media type)`.
    pub fn build(config: (Digest, u64), layers: &[(Digest, u64, MediaType)]) -> Result<Manifest, ManifestError> {
        let config = Descriptor::new(MediaType::ImageConfig, config.1, oci_digest(&config.0)?);
        let layers = layers
            .iter()
            .map(|(digest, size, media_type)| Ok(Descriptor::new(media_type.clone(), *size, oci_digest(digest)?)))
            .collect::<Result<Vec<_>, ManifestError>>()?;
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(config)
            .layers(layers)
            .build()
            .map_err(|e| ManifestError::Build(e.to_string()))?;
        Ok(Manifest::from_manifest(manifest))
    }

    /// Wraps a manifest, computing its canonical bytes and digest.
    pub fn from_manifest(manifest: ImageManifest) -> Manifest {
        let bytes = super::canonical_json(&manifest);
        Manifest { digest: Digest::of(&bytes), manifest, bytes }
    }

    /// Reads stored manifest bytes (kept as they are, so the digest holds).
    pub fn parse(bytes: Vec<u8>) -> Result<Manifest, ManifestError> {
        let manifest: ImageManifest = serde_json::from_slice(&bytes)?;
        Ok(Manifest { digest: Digest::of(&bytes), manifest, bytes })
    }

    /// The config blob's digest.
    pub fn config_digest(&self) -> Result<Digest, ManifestError> {
        Ok(self.manifest.config().digest().to_string().parse()?)
    }

    /// Each layer's blob digest, size and media type, bottom first.
    pub fn layers(&self) -> Result<Vec<(Digest, u64, MediaType)>, ManifestError> {
        self.manifest.layers().iter().map(|d| Ok((d.digest().to_string().parse()?, d.size(), d.media_type().clone()))).collect()
    }
}
