//! Image manifests (OCI `application/vnd.oci.image.manifest.v1+json`),
//! built and read through oci-spec, always written canonically.

use oci_spec::image::{Descriptor, ImageManifest, ImageManifestBuilder, MediaType};

use crate::digest::{Digest, InvalidDigest};

/// A manifest together with its canonical bytes and digest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub manifest: ImageManifest,
    pub bytes: Vec<u8>,
    pub digest: Digest,
}

/// What can be wrong with a manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("manifest has an invalid digest: {0}")]
    Digest(#[from] InvalidDigest),
    #[error("cannot build manifest: {0}")]
    Build(String),
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
