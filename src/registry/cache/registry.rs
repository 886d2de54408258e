//! `type=registry,ref=REG/REPO:TAG`: the cache as an OCI artifact pushed to
//! a registry tag. Export uploads only the blobs the repository lacks (HEAD,
//! or a cross-repository mount of a blob the store knows there).

use std::fmt;

use super::{CacheBackend, CacheLocation, CachePlace, CacheSpecError, Direction, Fields, Kind};
use crate::digest::Digest;
use crate::image::Reference;
use crate::registry::client::{read_document, Body, Client, ClientOptions};
use crate::registry::pull::LayerSource;
use crate::registry::push::{self, has_blob, mount_source, put_document, Outgoing, Uploader};
use crate::registry::{media, RegistryError, TransferProgress, DEFAULT_JOBS};
use crate::store::Store;

/// `type=registry`.
pub(super) const KIND: Kind = Kind { name: "registry", parse };

fn parse(fields: &Fields<'_>, _: Direction) -> Result<CacheLocation, CacheSpecError> {
    let reference = fields.require("registry", "ref", "ref=REGISTRY/REPOSITORY:TAG")?;
    let reference =
        reference.parse().map_err(|e: crate::image::ReferenceError| CacheSpecError::Invalid { text: fields.text.to_owned(), reason: e.to_string() })?;
    Ok(CacheLocation::registry(reference))
}

impl CacheLocation {
    /// A cache at a registry tag.
    pub fn registry(reference: Reference) -> CacheLocation {
        CacheLocation(std::sync::Arc::new(RegistryCache(reference)))
    }
}

/// The reference of the cache's tag.
#[derive(Debug)]
struct RegistryCache(Reference);

impl fmt::Display for RegistryCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl CacheBackend for RegistryCache {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn registry_host(&self) -> Option<&str> {
        Some(&self.0.registry)
    }

    fn open(&self, push: bool, options: &ClientOptions) -> Box<dyn CachePlace> {
        let client = Client::new(&self.0.registry, &self.0.repository, push, options);
        Box::new(RegistryPlace { client, tag: self.0.tag.clone().unwrap_or_else(|| "latest".into()), reference: self.0.clone() })
    }
}

/// A connection to the cache's repository.
struct RegistryPlace {
    client: Client,
    tag: String,
    /// As the user wrote it: imported blobs are remembered under its name.
    reference: Reference,
}

impl CachePlace for RegistryPlace {
    fn manifest(&self) -> Result<Option<Vec<u8>>, RegistryError> {
        let client = &self.client;
        let url = client.url(&format!("manifests/{}", self.tag));
        let response = client.send("GET", &url, &[("Accept", media::OCI_MANIFEST)], &Body::Empty)?;
        match response.status().as_u16() {
            200 => read_document(response).map(Some).map_err(|r| client.protocol(format!("cannot read the cache manifest: {r}"))),
            404 => Ok(None),
            _ => Err(client.status_error("a request for the cache manifest", response)),
        }
    }

    fn blob(&self, digest: &Digest) -> Result<Vec<u8>, RegistryError> {
        let client = &self.client;
        let response = client.send("GET", &client.url(&format!("blobs/{digest}")), &[], &Body::Empty)?;
        if response.status().as_u16() != 200 {
            return Err(client.status_error(&format!("a request for blob {digest}"), response));
        }
        read_document(response).map_err(|r| client.protocol(format!("cannot read blob {digest}: {r}")))
    }

    fn has_blob(&self, digest: &Digest) -> Result<bool, RegistryError> {
        has_blob(&self.client, digest)
    }

    fn layers(&self) -> LayerSource<'_> {
        LayerSource::Registry(&self.client)
    }

    fn imported(&self, store: &Store, blobs: &[Digest]) -> Result<(), RegistryError> {
        // A later push to this registry can mount these blobs.
        Ok(store.add_blob_source(blobs, &self.reference.name())?)
    }

    fn write(&self, store: &Store, blobs: &mut [Outgoing], index: &Digest, manifest: &[u8], progress: &dyn TransferProgress) -> Result<usize, RegistryError> {
        let target = self.target()?;
        for blob in blobs.iter_mut() {
            blob.mount_from = mount_source(store, &blob.digest, &target)?;
        }
        let uploader = Uploader { client: &self.client, progress, chunk_size: push::DEFAULT_CHUNK_SIZE };
        let sent = crate::parallel::for_each(blobs, DEFAULT_JOBS, |blob| uploader.blob(blob))?;
        let uploaded = blobs.iter().zip(&sent).filter(|(b, s)| b.digest != *index && **s == push::Sent::Uploaded).count();
        put_document(&self.client, &self.tag, manifest, media::OCI_MANIFEST)?;
        let digests: Vec<Digest> = blobs.iter().map(|b| b.digest).collect();
        store.add_blob_source(&digests, &target.name())?;
        Ok(uploaded)
    }
}

impl RegistryPlace {
    /// The tag as a reference, naming the repository blobs can mount from.
    fn target(&self) -> Result<Reference, RegistryError> {
        let text = format!("{}/{}:{}", self.client.endpoint.registry, self.client.repository, self.tag);
        Ok(text.parse().map_err(crate::store::StoreError::from)?)
    }
}
