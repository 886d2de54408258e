//! Pull: a reference's manifest (an index or manifest list resolved to one
//! platform), its config, and its layers — downloaded in parallel, each
//! streamed into the store's blob writer and verified by digest while it
//! streams, as a blob copy does. Snapshots are made on first use, where the
//! diff_id is verified (`store/unpack.rs`). Layers the store holds
//! already are not fetched; an interrupted download resumes with a `Range`
//! request. The manifest is stored byte for byte, so the image's digest is
//! the registry's and a pull by digest finds it again.

use std::io::{self, BufReader, Read, Write};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::client::{read_document, Body, Client, ClientOptions};
use super::{media, RegistryError, Transfer, TransferProgress};
use crate::digest::{Digest, HashingReader};
use crate::image::{
    descriptor_digest as parse_digest, host_architecture, Descriptor, ImageConfig, ImageIndex, ImageManifest, Manifest, OciPlatform as Platform, Reference,
};
use crate::layer;
use crate::store::{BlobWriter, LayerRecord, Store, StoreError, StoredImage};

/// The platform an index is resolved to: `linux/amd64`, `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformChoice {
    /// GOOS name: `linux`.
    pub os: String,
    /// GOARCH name: `amd64`, `arm64`.
    pub architecture: String,
    /// CPU variant (`v7`, `v8`); `None` matches any.
    pub variant: Option<String>,
}

impl PlatformChoice {
    /// Linux on this machine's architecture.
    pub fn host() -> PlatformChoice {
        PlatformChoice { os: "linux".into(), architecture: host_architecture().into(), variant: None }
    }

    fn matches(&self, platform: &Platform) -> bool {
        platform.os().to_string() == self.os
            && platform.architecture().to_string() == self.architecture
            && self.variant.as_ref().is_none_or(|v| platform.variant().as_ref() == Some(v))
    }
}

impl Default for PlatformChoice {
    fn default() -> Self {
        PlatformChoice::host()
    }
}

impl FromStr for PlatformChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<PlatformChoice, String> {
        let parts: Vec<&str> = text.split('/').collect();
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(PlatformChoice { os: (*os).into(), architecture: (*arch).into(), variant: None }),
            [os, arch, variant] if !os.is_empty() && !arch.is_empty() && !variant.is_empty() => {
                Ok(PlatformChoice { os: (*os).into(), architecture: (*arch).into(), variant: Some((*variant).into()) })
            }
            _ => Err(format!("invalid platform {text:?}: expected OS/ARCH[/VARIANT], as linux/arm64/v8")),
        }
    }
}

impl std::fmt::Display for PlatformChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// How to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Insecure registries and credentials.
    pub client: ClientOptions,
    /// The platform to pick from an index (the host's unless `--platform`).
    pub platform: PlatformChoice,
    /// The platform when given explicitly: a single-platform image must
    /// then be of it (otherwise whatever the registry has is taken).
    pub platform_asked: Option<PlatformChoice>,
    /// Layers downloaded at once.
    pub jobs: usize,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions { client: ClientOptions::default(), platform: PlatformChoice::host(), platform_asked: None, jobs: super::DEFAULT_JOBS }
    }
}

/// What a pull stored.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The image as recorded in the store.
    pub image: StoredImage,
    /// Layers downloaded, and layers the store had already.
    pub downloaded: usize,
    /// Layers the store already had, so not downloaded.
    pub present: usize,
}

/// A manifest or index as fetched.
struct Document {
    bytes: Vec<u8>,
    media_type: String,
    digest: Digest,
}

/// Pulls `reference` into `store` and tags it with `reference`.
pub fn pull(store: &Store, reference: &Reference, options: &PullOptions, progress: &dyn TransferProgress) -> Result<Pulled, RegistryError> {
    let client = Client::new(&reference.registry, &reference.repository, false, &options.client);
    let shown = reference.to_string();
    let target = reference.digest.map(|d| d.to_string()).or_else(|| reference.tag.clone()).unwrap_or_else(|| "latest".into());
    let mut document = fetch_manifest(&client, &shown, &target, reference.digest)?;
    let mut tags = vec![reference.clone()];
    if is_index(&document) {
        let chosen = choose_platform(&client, &shown, &document, &options.platform)?;
        document = fetch_manifest(&client, &shown, &chosen.to_string(), Some(chosen))?;
    } else if reference.digest.is_some() {
        // The manifest's own digest finds it; no tag needed.
        tags.clear();
    }
    if document.media_type != media::OCI_MANIFEST && document.media_type != media::DOCKER_MANIFEST {
        return Err(RegistryError::UnsupportedMediaType { reference: shown, media_type: document.media_type });
    }
    let manifest: ImageManifest = serde_json::from_slice(&document.bytes).map_err(|e| client.protocol(format!("the manifest of {shown} is invalid: {e}")))?;
    let config_digest = descriptor_digest(&client, manifest.config())?;
    let config_bytes = fetch_config(store, &client, &config_digest)?;
    let config: ImageConfig = serde_json::from_slice(&config_bytes).map_err(|e| RegistryError::BadConfig { digest: config_digest, reason: e.to_string() })?;
    if let Some(asked) = options.platform_asked.as_ref().filter(|p| p.os != config.os || p.architecture != config.architecture) {
        let found = format!("{}/{}", config.os, config.architecture);
        return Err(RegistryError::NoPlatform { reference: shown, platform: asked.to_string(), available: found });
    }
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != manifest.layers().len() {
        let reason = format!("it lists {} diff_ids, the manifest {} layers", diff_ids.len(), manifest.layers().len());
        return Err(RegistryError::BadConfig { digest: config_digest, reason });
    }
    let wanted = manifest
        .layers()
        .iter()
        .zip(diff_ids)
        .map(|(descriptor, diff_id)| {
            Ok(Wanted {
                digest: descriptor_digest(&client, descriptor)?,
                size: descriptor.size(),
                media_type: descriptor.media_type().to_string(),
                diff_id: *diff_id,
            })
        })
        .collect::<Result<Vec<_>, RegistryError>>()?;
    let fetcher = Fetcher { store, source: LayerSource::Registry(&client), progress, downloaded: AtomicUsize::new(0) };
    let layers = fetcher.all(&wanted, options.jobs)?;
    let downloaded = fetcher.downloaded.load(Ordering::Relaxed);
    let parsed = Manifest::parse(document.bytes).map_err(StoreError::from)?;
    let image = store.commit_manifest(parsed, &config_bytes, &config, &layers, &tags)?;
    let blobs: Vec<Digest> = std::iter::once(config_digest).chain(wanted.iter().map(|w| w.digest)).collect();
    store.add_blob_source(&blobs, &reference.name())?;
    Ok(Pulled { image, downloaded, present: wanted.len() - downloaded })
}

fn is_index(document: &Document) -> bool {
    document.media_type == media::OCI_INDEX || document.media_type == media::DOCKER_LIST
}

/// GETs a manifest or index by tag or digest, checking its digest against
/// the one asked for (or the one the registry names).
fn fetch_manifest(client: &Client, shown: &str, target: &str, expected: Option<Digest>) -> Result<Document, RegistryError> {
    let url = client.url(&format!("manifests/{target}"));
    let response = client.send("GET", &url, &[("Accept", media::ACCEPT)], &Body::Empty)?;
    match response.status().as_u16() {
        200 => {}
        404 => return Err(RegistryError::ManifestUnknown { reference: shown.to_owned() }),
        _ => return Err(client.status_error(&format!("a request for the manifest of {shown}"), response)),
    }
    let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let named = header("docker-content-digest").and_then(|d| d.parse::<Digest>().ok());
    let content_type = header("content-type").unwrap_or_default();
    let bytes = read_document(response).map_err(|reason| client.protocol(format!("cannot read the manifest of {shown}: {reason}")))?;
    let digest = Digest::of(&bytes);
    if let Some(expected) = expected.or(named).filter(|e| *e != digest) {
        return Err(RegistryError::DigestMismatch { blob: format!("manifest of {shown}"), expected, actual: digest });
    }
    let declared = serde_json::from_slice::<serde_json::Value>(&bytes).ok().and_then(|v| v.get("mediaType").and_then(|m| m.as_str()).map(str::to_owned));
    let media_type = declared.unwrap_or_else(|| content_type.split(';').next().unwrap_or_default().trim().to_owned());
    Ok(Document { bytes, media_type, digest })
}

/// The index entry for the wanted platform.
fn choose_platform(client: &Client, shown: &str, index: &Document, want: &PlatformChoice) -> Result<Digest, RegistryError> {
    let doc: ImageIndex =
        serde_json::from_slice(&index.bytes).map_err(|e| client.protocol(format!("the index of {shown} ({}) is invalid: {e}", index.digest)))?;
    if let Some(found) = doc.manifests().iter().find(|d| d.platform().as_ref().is_some_and(|p| want.matches(p))) {
        return descriptor_digest(client, found);
    }
    let available: Vec<String> = doc
        .manifests()
        .iter()
        .filter_map(|d| d.platform().as_ref())
        .map(|p| format!("{}/{}{}", p.os(), p.architecture(), p.variant().as_ref().map(|v| format!("/{v}")).unwrap_or_default()))
        .collect();
    Err(RegistryError::NoPlatform { reference: shown.to_owned(), platform: want.to_string(), available: available.join(", ") })
}

fn descriptor_digest(client: &Client, descriptor: &Descriptor) -> Result<Digest, RegistryError> {
    parse_digest(descriptor).map_err(|_| client.protocol(format!("invalid digest {:?} in a manifest", descriptor.digest().to_string())))
}

/// The config blob: from the store when present, else fetched and stored.
fn fetch_config(store: &Store, client: &Client, digest: &Digest) -> Result<Vec<u8>, RegistryError> {
    if store.blobs.contains(digest) {
        return Ok(store.blobs.read(digest)?);
    }
    let response = client.send("GET", &client.url(&format!("blobs/{digest}")), &[], &Body::Empty)?;
    if response.status().as_u16() != 200 {
        return Err(client.status_error(&format!("a request for config blob {digest}"), response));
    }
    let bytes = read_document(response).map_err(|reason| client.protocol(format!("cannot read config blob {digest}: {reason}")))?;
    let actual = Digest::of(&bytes);
    if actual != *digest {
        return Err(RegistryError::DigestMismatch { blob: format!("{}@{digest}", client.repository), expected: *digest, actual });
    }
    store.blobs.put(&bytes)?;
    Ok(bytes)
}

/// A layer the manifest names.
#[derive(Debug, Clone)]
pub(super) struct Wanted {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    pub diff_id: Digest,
}

/// Where layer blobs come from: a registry, or an OCI layout directory
/// (a cache on a shared disk).
#[derive(Clone, Copy)]
pub(super) enum LayerSource<'a> {
    Registry(&'a Client),
    /// Any other place layer blobs stream from (a shared cache's).
    Reader(&'a dyn BlobReader),
}

/// A place layer blobs are read from as plain streams.
pub(super) trait BlobReader: Sync {
    /// The blob's content, checked by the reader against its digest.
    fn open_blob(&self, digest: &Digest) -> Result<Box<dyn Read + '_>, RegistryError>;
    /// How the blob is named in errors.
    fn describe(&self, digest: &Digest) -> String;
}

impl LayerSource<'_> {
    /// How a blob is named in errors: `registry/repo@digest` or the file.
    pub(super) fn describe(&self, digest: &Digest) -> String {
        match self {
            LayerSource::Registry(client) => format!("{}/{}@{digest}", client.endpoint.registry, client.repository),
            LayerSource::Reader(reader) => reader.describe(digest),
        }
    }
}

/// Fetches layers into the store, several at a time.
pub(super) struct Fetcher<'a> {
    pub store: &'a Store,
    pub source: LayerSource<'a>,
    pub progress: &'a dyn TransferProgress,
    pub downloaded: AtomicUsize,
}

impl Fetcher<'_> {
    /// Every layer, `jobs` at a time; the first failure stops the rest.
    pub fn all(&self, wanted: &[Wanted], jobs: usize) -> Result<Vec<(Digest, LayerRecord)>, RegistryError> {
        let records = crate::parallel::for_each(wanted, jobs, |layer| self.one(layer))?;
        Ok(wanted.iter().map(|w| w.diff_id).zip(records).collect())
    }

    /// One layer: present already, or downloaded into the store as its
    /// blob alone (its snapshot is made on first use, where its diff_id is
    /// checked: see `store/unpack.rs`).
    pub fn one(&self, layer: &Wanted) -> Result<LayerRecord, RegistryError> {
        let existing = self.store.layer(&layer.diff_id)?;
        if let Some(record) = existing.as_ref().filter(|r| r.blob == layer.digest && self.store.blobs.contains(&layer.digest)) {
            self.progress.event(Transfer::Exists { digest: layer.digest });
            return Ok(record.clone());
        }
        let size = match self.store.blobs.contains(&layer.digest) {
            true => self.store.blobs.size(&layer.digest)?,
            false => {
                self.progress.event(Transfer::Started { digest: layer.digest, size: layer.size });
                self.downloaded.fetch_add(1, Ordering::Relaxed);
                self.download(layer)?
            }
        };
        let mut record = LayerRecord { blob: layer.digest, media_type: layer.media_type.clone(), size, uncompressed_size: 0 };
        if let Some(other) = existing.filter(|other| other.blob != layer.digest) {
            record = self.settle_conflict(layer, record, other)?;
        }
        self.store.put_layer(&layer.diff_id, &record)?;
        self.progress.event(Transfer::Done { digest: layer.digest });
        Ok(record)
    }

    /// Two blobs claim one diff_id (the same content compressed twice, or
    /// one of them lying). The new one is checked now, by decompressing it
    /// without writing files: a blob that is not its diff_id fails the
    /// pull, and a record made earlier from an unchecked blob never makes
    /// a good image fail at first use. A layer whose snapshot exists keeps
    /// its record (its content is known).
    fn settle_conflict(&self, layer: &Wanted, ours: LayerRecord, other: LayerRecord) -> Result<LayerRecord, RegistryError> {
        let (diff_id, uncompressed_size) = self.plain_digest(&layer.digest)?;
        if diff_id != layer.diff_id {
            return Err(RegistryError::DiffIdMismatch { digest: layer.digest, expected: layer.diff_id, actual: diff_id });
        }
        if self.store.snapshots.contains(&layer.diff_id) && self.store.has_blob(&other.blob)? {
            return Ok(other);
        }
        Ok(LayerRecord { uncompressed_size, ..ours })
    }

    /// The digest and size of a stored blob's plain tar stream, read at
    /// most as far as the store's free space (the bomb guard's bound).
    fn plain_digest(&self, blob: &Digest) -> Result<(Digest, u64), RegistryError> {
        let layer_error = |source| RegistryError::Layer { digest: *blob, source };
        let (_, plain) = layer::decompress(BufReader::with_capacity(1 << 20, self.store.blobs.open(blob)?)).map_err(layer_error)?;
        let limit = layer::SizeLimit::for_dest(&self.store.root().join("tmp"), None).map_err(layer_error)?;
        let mut hashing = HashingReader::new(limit.reader(plain));
        io::copy(&mut hashing, &mut io::sink()).map_err(|e| layer_error(layer::LayerError::Read(e)))?;
        Ok(hashing.finish())
    }

    /// Streams the blob into the store, checking its digest; its size.
    fn download(&self, layer: &Wanted) -> Result<u64, RegistryError> {
        let mut writer = self.store.blobs.writer()?;
        let (copied, failure) = match self.source {
            LayerSource::Registry(client) => {
                let mut body = Download::new(client, layer.digest, layer.size, self.progress);
                let copied = copy_blob(&mut body, &mut writer);
                (copied, body.failure.take())
            }
            LayerSource::Reader(reader) => (copy_blob(reader.open_blob(&layer.digest)?, &mut writer), None),
        };
        if let Some(failure) = failure {
            return Err(failure);
        }
        let into = self.store.root().join("tmp");
        copied.map_err(|source| RegistryError::Io { action: "store a layer blob in", path: into, source })?;
        match writer.commit(Some(&layer.digest)) {
            Err(StoreError::DigestMismatch { expected, actual }) => {
                Err(RegistryError::DigestMismatch { blob: self.source.describe(&layer.digest), expected, actual })
            }
            Err(e) => Err(e.into()),
            Ok((_, size)) => Ok(size),
        }
    }
}

/// Copies a blob's content into the store's writer in large reads (the
/// registry's socket and the page cache both prefer them).
fn copy_blob(mut content: impl Read, writer: &mut BlobWriter) -> io::Result<()> {
    let mut buffer = vec![0u8; 256 << 10];
    loop {
        match content.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => writer.write_all(&buffer[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// A blob's content, resumed with a `Range` request when the connection
/// fails midway; at most the manifest's size is read.
struct Download<'a> {
    client: &'a Client,
    digest: Digest,
    size: u64,
    done: u64,
    reported: u64,
    retries: u32,
    reader: Option<ureq::BodyReader<'static>>,
    progress: &'a dyn TransferProgress,
    /// The registry error behind an I/O error this reader returned.
    failure: Option<RegistryError>,
}

const RESUMES: u32 = 3;
const REPORT_EVERY: u64 = 1 << 20;

impl<'a> Download<'a> {
    fn new(client: &'a Client, digest: Digest, size: u64, progress: &'a dyn TransferProgress) -> Download<'a> {
        Download { client, digest, size, done: 0, reported: 0, retries: 0, reader: None, progress, failure: None }
    }

    fn open(&self) -> Result<ureq::BodyReader<'static>, RegistryError> {
        let url = self.client.url(&format!("blobs/{}", self.digest));
        let range = format!("bytes={}-", self.done);
        let headers: Vec<(&str, &str)> = if self.done > 0 { vec![("Range", range.as_str())] } else { Vec::new() };
        let response = self.client.send("GET", &url, &headers, &Body::Empty)?;
        let status = response.status().as_u16();
        if status == 206 && self.done > 0 {
            return Ok(response.into_body().into_reader());
        }
        if status != 200 {
            return Err(self.client.status_error(&format!("a request for blob {}", self.digest), response));
        }
        let mut reader = response.into_body().into_reader();
        // No range support: skip what was read before.
        io::copy(&mut (&mut reader).take(self.done), &mut io::sink()).map_err(|e| self.connect_error(&e))?;
        Ok(reader)
    }

    fn connect_error(&self, error: &io::Error) -> RegistryError {
        RegistryError::Connect { host: self.client.endpoint.host_port(), cause: format!("download of {} broke off: {error}", self.digest), retryable: true }
    }
}

impl Read for Download<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let remaining = self.size.saturating_sub(self.done);
        if self.size > 0 && remaining == 0 {
            return Ok(0);
        }
        let limit = if self.size > 0 { buf.len().min(usize::try_from(remaining).unwrap_or(usize::MAX)) } else { buf.len() };
        loop {
            if self.reader.is_none() {
                match self.open() {
                    Ok(reader) => self.reader = Some(reader),
                    Err(error) => {
                        let message = error.to_string();
                        self.failure = Some(error);
                        return Err(io::Error::other(message));
                    }
                }
            }
            let Some(reader) = self.reader.as_mut() else { continue };
            match reader.read(&mut buf[..limit]) {
                Ok(n) => {
                    self.done += n as u64;
                    if self.done - self.reported >= REPORT_EVERY || (n == 0 && self.done > self.reported) {
                        self.reported = self.done;
                        self.progress.event(Transfer::Progress { digest: self.digest, done: self.done });
                    }
                    return Ok(n);
                }
                Err(error) if self.retries < RESUMES => {
                    self.retries += 1;
                    self.reader = None;
                    self.progress.event(Transfer::Retrying { digest: self.digest, reason: error.to_string() });
                    std::thread::sleep(std::time::Duration::from_millis(250 << self.retries));
                }
                Err(error) => {
                    self.failure = Some(self.connect_error(&error));
                    return Err(error);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::fake::serve;
    use crate::registry::NoProgress;

    #[test]
    fn a_broken_download_resumes_with_a_range_request() {
        let content = "0123456789abcdefghij";
        let (port, seen) = serve(move |head, _| {
            let range = head.lines().map(str::trim_end).find(|l| l.to_ascii_lowercase().starts_with("range:")).map(str::to_owned);
            match range {
                // Promise the whole blob, send 8 bytes, hang up.
                None => format!("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{}", content.len(), &content[..8]),
                Some(range) => {
                    assert!(range.ends_with("bytes=8-"), "{range}");
                    format!("HTTP/1.1 206 Partial Content\r\nConnection: close\r\nContent-Length: 12\r\n\r\n{}", &content[8..])
                }
            }
        });
        let client = Client::new(&format!("127.0.0.1:{port}"), "app", false, &ClientOptions::default());
        let mut body = Download::new(&client, Digest::of(content.as_bytes()), content.len() as u64, &NoProgress);
        let mut read = String::new();
        body.read_to_string(&mut read).unwrap();
        assert_eq!(read, content);
        assert_eq!(seen.lock().unwrap().len(), 2, "one resumed request");
    }

    #[test]
    fn platforms_parse_and_match() {
        let arm: PlatformChoice = "linux/arm64/v8".parse().unwrap();
        assert_eq!(arm.to_string(), "linux/arm64/v8");
        let doc = |variant: Option<&str>| {
            let platform = oci_spec::image::PlatformBuilder::default().os("linux").architecture("arm64");
            match variant {
                Some(v) => platform.variant(v).build().unwrap(),
                None => platform.build().unwrap(),
            }
        };
        assert!(arm.matches(&doc(Some("v8"))));
        assert!(!arm.matches(&doc(None)));
        assert!("linux/arm64".parse::<PlatformChoice>().unwrap().matches(&doc(Some("v8"))), "no variant asked: any");
        assert!("linux".parse::<PlatformChoice>().is_err());
    }
}
