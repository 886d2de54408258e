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
mod index;
mod pull;
mod push;

use std::path::PathBuf;

pub use cache::{export as export_cache, CacheLocation, CacheSpec, CacheSpecError, ExportSummary, ImportSummary, ImportedCache};
pub use client::{Client, ClientOptions};
pub use credentials::{Credentials, CredentialsError, DockerConfig};
pub use endpoint::Endpoint;
pub use images::{RegistryAccess, RegistryImages};
pub use index::push_index;
pub use pull::{pull, PlatformChoice, PullOptions, Pulled};
pub use push::{push, PushOptions, Pushed};

use crate::digest::Digest;
use crate::store::StoreError;

/// Media types of manifests and indexes strata reads and writes.
pub mod media {
    /// An OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// An OCI image index (one manifest per platform).
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// A Docker image manifest, schema 2.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// A Docker manifest list: Docker's form of an index.
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    /// What a manifest request accepts.
    pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
}

/// Why talking to a registry failed, in terms a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered 401 or 403, or its token service refused.
    #[error("{registry}: unauthorized{} ({detail}); {}", for_repository(repository), login_hint(registry, *logged_in))]
    Unauthorized {
        /// The registry host as named in the reference.
        registry: String,
        /// The repository path asked for.
        repository: String,
        /// The registry's own message, or what the status means.
        detail: String,
        /// Credentials were sent (the hint then says they were refused,
        /// not that a login is missing).
        logged_in: bool,
    },
    /// The tag or digest pulled is not in the repository (404).
    #[error("manifest unknown: {reference} is not in the registry")]
    ManifestUnknown {
        /// The reference as shown to the user.
        reference: String,
    },
    /// The connection could not be made or broke off.
    #[error("cannot connect to {host}: {cause}")]
    Connect {
        /// `host:port` connected to.
        host: String,
        /// What went wrong, in words (`connection refused`, `timed out`).
        cause: String,
        /// Worth trying again: refused, reset or timed out (not an unknown
        /// host or a TLS failure).
        retryable: bool,
    },
    /// A manifest or blob received hashes to another digest than asked for.
    #[error("digest mismatch for blob {blob}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was received, described for the message.
        blob: String,
        /// The digest asked for.
        expected: Digest,
        /// The digest of what came.
        actual: Digest,
    },
    /// The registry answered a status the request does not expect.
    #[error("{registry} answered {status} to {action}: {message}")]
    Status {
        /// The registry host.
        registry: String,
        /// The request, in words (`upload of blob ...`).
        action: String,
        /// The HTTP status code.
        status: u16,
        /// The registry's error codes and messages, or the status's meaning.
        message: String,
    },
    /// The registry (or its token service, or an imported cache) sent
    /// something the protocol does not allow.
    #[error("{registry}: {reason}")]
    Protocol {
        /// The registry host, or the cache's place.
        registry: String,
        /// What was wrong.
        reason: String,
    },
    /// Neither the index nor the single manifest is for the platform asked for.
    #[error("{reference} has no image for {platform} (it has: {available})")]
    NoPlatform {
        /// The reference as shown to the user.
        reference: String,
        /// The platform asked for (`linux/amd64`).
        platform: String,
        /// The platforms there are, comma-separated.
        available: String,
    },
    /// The reference names something other than an image manifest or index.
    #[error("{reference} is a {media_type}, not an image strata can pull")]
    UnsupportedMediaType {
        /// The reference as shown to the user.
        reference: String,
        /// The media type the registry gave.
        media_type: String,
    },
    /// A pulled layer unpacks to another diff_id than the config lists.
    #[error("layer {digest} unpacks to diff_id {actual}, but the image config says {expected}")]
    DiffIdMismatch {
        /// The layer blob's digest.
        digest: Digest,
        /// The diff_id in the config.
        expected: Digest,
        /// The digest of the plain tar unpacked.
        actual: Digest,
    },
    /// The image config does not parse, or does not match the manifest.
    #[error("image config {digest}: {reason}")]
    BadConfig {
        /// The config's digest.
        digest: Digest,
        /// What is wrong with it.
        reason: String,
    },
    /// A pulled layer could not be unpacked.
    #[error("cannot unpack layer {digest}")]
    Layer {
        /// The layer blob's digest.
        digest: Digest,
        /// Why unpacking failed.
        #[source]
        source: crate::layer::LayerError,
    },
    /// A local file (an imported or exported cache) could not be read or written.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done, as a verb ("read", "create").
        action: &'static str,
        /// The host path it was done to.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A push target has a digest but no tag; holds the reference.
    #[error("{0} names no tag to push: add one (NAME:TAG)")]
    NoTag(String),
    /// The local store failed while pulling into it or pushing from it.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The credentials for the registry could not be read.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// An imported build cache could not be read.
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
    Started {
        /// The blob's digest.
        digest: Digest,
        /// Its size in bytes.
        size: u64,
    },
    /// `done` bytes of the blob have moved so far.
    Progress {
        /// The blob's digest.
        digest: Digest,
        /// Bytes moved so far, in total.
        done: u64,
    },
    /// The blob was present already (in the store, or in the registry).
    Exists {
        /// The blob's digest.
        digest: Digest,
    },
    /// The registry mounted the blob from another repository.
    Mounted {
        /// The blob's digest.
        digest: Digest,
        /// The repository it was mounted from.
        from: String,
    },
    /// The transfer failed once and is tried again.
    Retrying {
        /// The blob's digest.
        digest: Digest,
        /// Why, for the progress display.
        reason: String,
    },
    /// The blob is complete (and, for a pulled layer, unpacked).
    Done {
        /// The blob's digest.
        digest: Digest,
    },
}

/// Where transfer events go; called from transfer threads.
pub trait TransferProgress: Sync {
    /// Takes one event; must be quick, as the transfer waits for it.
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
