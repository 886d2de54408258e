//! Registries: pull, push, login and credentials over the OCI Distribution
//! API.
//!
//! A thin typed layer over `ureq` (blocking HTTP, already used for ADD
//! URLs): the solver runs on threads, not an async runtime, so a blocking
//! client with one thread per transfer fits, and the protocol surface
//! strata needs (manifests, blobs, uploads, token auth) is small enough to
//! keep in view. One concept per file: [`endpoint`] (registry name → URL),
//! [`auth`] (challenges), [`credentials`] (Docker's config file and
//! helpers), [`client`] (requests, auth, retries), [`pull`], [`push`].
//!
//! See: OCI distribution spec v1.1 `spec.md`.

pub mod auth;
mod cache;
pub mod client;
pub mod credentials;
pub mod endpoint;
#[cfg(test)]
mod fake;
mod images;
mod pull;
mod push;

use std::path::PathBuf;

pub use cache::{export as export_cache, CacheLocation, CacheSpec, CacheSpecError, ExportSummary, ImportSummary, ImportedCache};
pub use client::{Client, ClientOptions};
pub use credentials::{Credentials, CredentialsError, DockerConfig};
pub use endpoint::Endpoint;
pub use images::{RegistryAccess, RegistryImages};
pub use pull::{pull, PlatformChoice, PullOptions, Pulled};
pub use push::{push, PushOptions, Pushed};

use crate::digest::Digest;
use crate::store::StoreError;

/// Media types of manifests and indexes strata reads and writes.
pub mod media {
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    /// What a manifest request accepts.
    pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
}

/// Why talking to a registry failed, in terms a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{registry}: unauthorized{} ({detail}); {}", for_repository(repository), login_hint(registry, *logged_in))]
    Unauthorized { registry: String, repository: String, detail: String, logged_in: bool },
    #[error("manifest unknown: {reference} is not in the registry")]
    ManifestUnknown { reference: String },
    #[error("cannot connect to {host}: {cause}")]
    Connect { host: String, cause: String, retryable: bool },
    #[error("digest mismatch for blob {blob}: expected {expected}, got {actual}")]
    DigestMismatch { blob: String, expected: Digest, actual: Digest },
    #[error("{registry} answered {status} to {action}: {message}")]
    Status { registry: String, action: String, status: u16, message: String },
    #[error("{registry}: {reason}")]
    Protocol { registry: String, reason: String },
    #[error("{reference} has no image for {platform} (it has: {available})")]
    NoPlatform { reference: String, platform: String, available: String },
    #[error("{reference} is a {media_type}, not an image strata can pull")]
    UnsupportedMediaType { reference: String, media_type: String },
    #[error("layer {digest} unpacks to diff_id {actual}, but the image config says {expected}")]
    DiffIdMismatch { digest: Digest, expected: Digest, actual: Digest },
    #[error("image config {digest}: {reason}")]
    BadConfig { digest: Digest, reason: String },
    #[error("cannot unpack layer {digest}")]
    Layer {
        digest: Digest,
        #[source]
        source: crate::layer::LayerError,
    },
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} names no tag to push: add one (NAME:TAG)")]
    NoTag(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error("imported cache: {0}")]
    SharedCache(#[from] crate::cache::SharedCacheError),
}

fn for_repository(repository: &str) -> String {
    if repository.is_empty() {
        String::new()
    } else {
        format!(" for {repository}")
    }
}

fn login_hint(registry: &str, logged_in: bool) -> String {
    if logged_in {
        format!("the stored credentials were refused: log in again with `strata login {registry}`")
    } else {
        format!("log in with `strata login {registry}`")
    }
}

/// What a pull or push reports per blob, for progress bars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transfer {
    /// A blob transfer began; `size` is what the manifest says.
    Started { digest: Digest, size: u64 },
    /// `done` bytes of the blob have moved so far.
    Progress { digest: Digest, done: u64 },
    /// The blob was present already (in the store, or in the registry).
    Exists { digest: Digest },
    /// The registry mounted the blob from another repository.
    Mounted { digest: Digest, from: String },
    /// The transfer failed once and is tried again.
    Retrying { digest: Digest, reason: String },
    /// The blob is complete (and, for a pulled layer, unpacked).
    Done { digest: Digest },
}

/// Where transfer events go; called from transfer threads.
pub trait TransferProgress: Sync {
    fn event(&self, event: Transfer);
}

impl<T: TransferProgress + ?Sized> TransferProgress for &T {
    fn event(&self, event: Transfer) {
        (**self).event(event);
    }
}

/// Discards transfer events.
pub struct NoProgress;

impl TransferProgress for NoProgress {
    fn event(&self, _event: Transfer) {}
}

/// How many blobs move at once when not told otherwise.
pub const DEFAULT_JOBS: usize = 4;
