//! Push: an image's blobs, then its manifest. A blob the registry has is
//! skipped (HEAD); one the store knows in another repository of the same
//! registry is mounted from there; the rest are uploaded — in one PUT when
//! small, else in PATCH chunks that resume from the registry's offset after
//! a failure. The manifest goes last, so a tag never names missing blobs.
//!
//! Locally built layers are stored uncompressed; they leave compressed,
//! through the store's compress-once path ([`Store::distributable_layer`]).
//! An image whose stored layers are already compressed (pulled, imported)
//! is pushed with its manifest byte for byte, so its digest stays.
//!
//! See: OCI distribution spec, "Pushing blobs", "Pushing blobs in chunks",
//! "Mounting a blob from another repository", "Pushing Manifests".

use std::path::PathBuf;

use super::client::{Body, Client, ClientOptions};
use super::{RegistryError, Transfer, TransferProgress};
use crate::digest::Digest;
use crate::image::{layer_media_type, Manifest, Reference};
use crate::layer::Compression;
use crate::store::{Store, StoreError, StoredImage};

/// Blobs larger than this go up in chunks of this size.
pub const DEFAULT_CHUNK_SIZE: u64 = 64 << 20;
/// Times an interrupted chunked upload resumes.
const RESUMES: u32 = 3;

/// How to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Insecure registries and credentials.
    pub client: ClientOptions,
    /// Blobs uploaded at once.
    pub jobs: usize,
    /// Blobs larger than this go in PATCH chunks of this many bytes;
    /// smaller ones in one PUT.
    pub chunk_size: u64,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions { client: ClientOptions::default(), jobs: super::DEFAULT_JOBS, chunk_size: DEFAULT_CHUNK_SIZE }
    }
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The digest of the manifest as the registry holds it.
    pub digest: Digest,
    /// Blobs uploaded.
    pub uploaded: usize,
    /// Blobs the registry had already (in this repository).
    pub existing: usize,
    /// Blobs mounted from another repository of the registry.
    pub mounted: usize,
}

/// A blob to push, as stored.
#[derive(Debug, Clone)]
pub(super) struct Outgoing {
    pub digest: Digest,
    pub size: u64,
    pub path: PathBuf,
    /// A repository of the same registry known to hold it.
    pub mount_from: Option<String>,
}

/// What happened to one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sent {
    Uploaded,
    Existing,
    Mounted,
}

/// Pushes the stored image `image` as `target` (which names a tag).
pub fn push(store: &Store, image: &StoredImage, target: &Reference, options: &PushOptions, progress: &dyn TransferProgress) -> Result<Pushed, RegistryError> {
    let tag = target.tag.clone().ok_or_else(|| RegistryError::NoTag(target.to_string()))?;
    push_as(store, image, target, Some(&tag), options, progress).map(|(pushed, _)| pushed)
}

/// Pushes the image's blobs and its manifest, under `tag` or else under
/// its own digest (a manifest an index will name); returns the manifest.
pub(super) fn push_as(
    store: &Store,
    image: &StoredImage,
    target: &Reference,
    tag: Option<&str>,
    options: &PushOptions,
    progress: &dyn TransferProgress,
) -> Result<(Pushed, Manifest), RegistryError> {
    let manifest = distributable_manifest(store, image)?;
    let mut outgoing = Vec::new();
    for (digest, size, _) in manifest.layers().map_err(StoreError::from)? {
        outgoing.push(Outgoing { digest, size, path: store.blobs.path(&digest), mount_from: None });
    }
    let mut client = Client::new(&target.registry, &target.repository, true, &options.client);
    for blob in &mut outgoing {
        blob.mount_from = mount_source(store, &blob.digest, target)?;
        if let Some(from) = &blob.mount_from {
            client.add_pull_scope(from);
        }
    }
    let config_size = store.blobs.size(&image.config_digest)?;
    outgoing.push(Outgoing { digest: image.config_digest, size: config_size, path: store.blobs.path(&image.config_digest), mount_from: None });
    let uploader = Uploader { client: &client, progress, chunk_size: options.chunk_size.max(1) };
    let sent = crate::parallel::for_each(&outgoing, options.jobs, |blob| uploader.blob(blob))?;
    let reference = tag.map_or_else(|| Digest::of(&manifest.bytes).to_string(), str::to_owned);
    let digest = put_manifest(&client, &reference, &manifest)?;
    let blobs: Vec<Digest> = outgoing.iter().map(|b| b.digest).collect();
    store.add_blob_source(&blobs, &target.name())?;
    let count = |kind| sent.iter().filter(|s| **s == kind).count();
    Ok((Pushed { digest, uploaded: count(Sent::Uploaded), existing: count(Sent::Existing), mounted: count(Sent::Mounted) }, manifest))
}

/// The stored manifest when every layer blob is compressed; else a new
/// OCI manifest over compressed copies of the layers.
fn distributable_manifest(store: &Store, image: &StoredImage) -> Result<Manifest, RegistryError> {
    let layers = image.manifest.layers().map_err(StoreError::from)?;
    let compressed = layers.iter().all(|(_, _, media_type)| Compression::from_media_type(media_type.as_ref()).is_some_and(|c| c != Compression::None));
    if compressed {
        return Ok(image.manifest.clone());
    }
    let mut descriptors = Vec::with_capacity(layers.len());
    for diff_id in &image.config.rootfs.diff_ids {
        let record = store.distributable_layer(diff_id)?;
        let compression = Compression::from_media_type(&record.media_type).map(Compression::name);
        descriptors.push((record.blob, record.size, layer_media_type(compression)));
    }
    let config_size = store.blobs.size(&image.config_digest)?;
    Ok(Manifest::build((image.config_digest, config_size), &descriptors).map_err(StoreError::from)?)
}

/// Another repository of the target's registry the store saw `digest` in.
pub(super) fn mount_source(store: &Store, digest: &Digest, target: &Reference) -> Result<Option<String>, RegistryError> {
    let prefix = format!("{}/", target.registry);
    Ok(store
        .blob_sources(digest)?
        .into_iter()
        .filter_map(|name| name.strip_prefix(&prefix).map(str::to_owned))
        .find(|repository| *repository != target.repository))
}

/// PUTs the manifest under `tag`; returns its digest, checked against
/// the one the registry reports.
pub(super) fn put_manifest(client: &Client, tag: &str, manifest: &Manifest) -> Result<Digest, RegistryError> {
    let media_type = manifest.manifest.media_type().as_ref().map_or(super::media::OCI_MANIFEST.to_owned(), |m| m.to_string());
    put_document(client, tag, &manifest.bytes, &media_type)
}

/// PUTs manifest bytes of `media_type` under `tag`.
pub(super) fn put_document(client: &Client, tag: &str, bytes: &[u8], media_type: &str) -> Result<Digest, RegistryError> {
    let digest = Digest::of(bytes);
    let url = client.url(&format!("manifests/{tag}"));
    let response = client.send("PUT", &url, &[("Content-Type", media_type)], &Body::Bytes(bytes.to_vec()))?;
    if response.status().as_u16() != 201 {
        return Err(client.status_error(&format!("the manifest upload for tag {tag}"), response));
    }
    let named = response.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()).and_then(|d| d.parse::<Digest>().ok());
    match named {
        Some(named) if named != digest => Err(RegistryError::DigestMismatch { blob: format!("manifest {tag}"), expected: digest, actual: named }),
        _ => Ok(digest),
    }
}

/// Whether the repository has the blob (HEAD).
pub(super) fn has_blob(client: &Client, digest: &Digest) -> Result<bool, RegistryError> {
    let head = client.send("HEAD", &client.url(&format!("blobs/{digest}")), &[], &Body::Empty)?;
    match head.status().as_u16() {
        200 => Ok(true),
        404 => Ok(false),
        _ => Err(client.status_error(&format!("a check for blob {digest}"), head)),
    }
}

/// Uploads blobs for one push.
pub(super) struct Uploader<'a> {
    pub client: &'a Client,
    pub progress: &'a dyn TransferProgress,
    pub chunk_size: u64,
}

impl Uploader<'_> {
    /// One blob: skipped, mounted or uploaded.
    pub fn blob(&self, blob: &Outgoing) -> Result<Sent, RegistryError> {
        let client = self.client;
        if has_blob(client, &blob.digest)? {
            self.progress.event(Transfer::Exists { digest: blob.digest });
            return Ok(Sent::Existing);
        }
        let location = match &blob.mount_from {
            Some(from) => match self.mount(blob, from)? {
                None => {
                    self.progress.event(Transfer::Mounted { digest: blob.digest, from: from.clone() });
                    return Ok(Sent::Mounted);
                }
                Some(location) => location,
            },
            None => self.start(&client.url("blobs/uploads/"))?,
        };
        self.progress.event(Transfer::Started { digest: blob.digest, size: blob.size });
        if blob.size <= self.chunk_size {
            self.finish(&location, blob, Body::File { path: blob.path.clone(), offset: 0, len: blob.size })?;
        } else {
            let location = self.chunks(location, blob)?;
            self.finish(&location, blob, Body::Bytes(Vec::new()))?;
        }
        self.progress.event(Transfer::Done { digest: blob.digest });
        Ok(Sent::Uploaded)
    }

    /// Asks for a mount; `None` when done, else the upload it started instead.
    fn mount(&self, blob: &Outgoing, from: &str) -> Result<Option<String>, RegistryError> {
        let url = self.client.url(&format!("blobs/uploads/?mount={}&from={from}", blob.digest));
        let response = self.client.send("POST", &url, &[], &Body::Bytes(Vec::new()))?;
        match response.status().as_u16() {
            201 => Ok(None),
            202 => self.location(&response).map(Some),
            _ => Err(self.client.status_error(&format!("a mount of blob {} from {from}", blob.digest), response)),
        }
    }

    /// Opens an upload session; returns its location.
    fn start(&self, url: &str) -> Result<String, RegistryError> {
        let response = self.client.send("POST", url, &[], &Body::Bytes(Vec::new()))?;
        if response.status().as_u16() != 202 {
            return Err(self.client.status_error("the start of a blob upload", response));
        }
        self.location(&response)
    }

    fn location(&self, response: &ureq::http::Response<ureq::Body>) -> Result<String, RegistryError> {
        let location = response.headers().get("location").and_then(|v| v.to_str().ok());
        location.map(|l| self.client.endpoint.absolute(l)).ok_or_else(|| self.client.protocol("an upload answer has no Location".into()))
    }

    /// PATCHes the blob chunk by chunk; after a failure, asks the registry
    /// how much it has and goes on from there.
    fn chunks(&self, mut location: String, blob: &Outgoing) -> Result<String, RegistryError> {
        let mut offset = 0;
        let mut resumes = 0;
        while offset < blob.size {
            let len = self.chunk_size.min(blob.size - offset);
            let range = format!("{offset}-{}", offset + len - 1);
            let headers = [("Content-Type", "application/octet-stream"), ("Content-Range", range.as_str())];
            let body = Body::File { path: blob.path.clone(), offset, len };
            let sent = self.client.send("PATCH", &location, &headers, &body);
            match sent {
                Ok(response) if response.status().as_u16() == 202 => {
                    location = self.location(&response)?;
                    offset += len;
                    self.progress.event(Transfer::Progress { digest: blob.digest, done: offset });
                }
                Ok(response) if response.status().as_u16() != 416 || resumes >= RESUMES => {
                    return Err(self.client.status_error(&format!("a chunk upload of blob {}", blob.digest), response));
                }
                Err(error) if resumes >= RESUMES => return Err(error),
                _ => {
                    resumes += 1;
                    self.progress
                        .event(Transfer::Retrying { digest: blob.digest, reason: format!("resuming at the registry's offset (after {offset} bytes)") });
                    (location, offset) = self.status(&location)?;
                }
            }
        }
        Ok(location)
    }

    /// The upload's location and the offset the registry has reached.
    fn status(&self, location: &str) -> Result<(String, u64), RegistryError> {
        let response = self.client.send("GET", location, &[], &Body::Empty)?;
        if response.status().as_u16() != 204 {
            return Err(self.client.status_error("a blob upload status request", response));
        }
        let range = response.headers().get("range").and_then(|v| v.to_str().ok()).unwrap_or("0-0");
        let end = range.rsplit('-').next().and_then(|e| e.parse::<u64>().ok());
        let offset = match end {
            // `0-0` means nothing yet, or one byte: the registry counts from an empty upload.
            Some(end) if range != "0-0" => end + 1,
            _ => 0,
        };
        Ok((self.location(&response)?, offset))
    }

    /// Completes the upload with `PUT ?digest=`, sending `body` along.
    fn finish(&self, location: &str, blob: &Outgoing, body: Body) -> Result<(), RegistryError> {
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={}", blob.digest);
        let response = self.client.send("PUT", &url, &[("Content-Type", "application/octet-stream")], &body)?;
        match response.status().as_u16() {
            201 => Ok(()),
            400 => Err(RegistryError::Status {
                registry: self.client.endpoint.registry.clone(),
                action: format!("the upload of blob {}", blob.digest),
                status: 400,
                message: "the registry rejected the content (digest invalid?)".into(),
            }),
            _ => Err(self.client.status_error(&format!("the upload of blob {}", blob.digest), response)),
        }
    }
}
