//! Pushing a manifest list as an OCI image index: every image's blobs and
//! manifest (under its digest) first, then the index under the tag, so a
//! reader never sees an index naming a manifest the registry lacks.

use super::push::{push_as, put_document};
use super::{Client, PushOptions, Pushed, RegistryError, TransferProgress};
use crate::image::Reference;
use crate::store::{ManifestList, Store, OCI_INDEX_MEDIA_TYPE};

/// Pushes `list` as `target` (which names a tag); returns the index's digest
/// and the blob counts of all its images.
pub fn push_index(
    store: &Store,
    list: &ManifestList,
    target: &Reference,
    options: &PushOptions,
    progress: &dyn TransferProgress,
) -> Result<Pushed, RegistryError> {
    let tag = target.tag.clone().ok_or_else(|| RegistryError::NoTag(target.to_string()))?;
    let mut total = Pushed { digest: crate::digest::Digest::of(b""), uploaded: 0, existing: 0, mounted: 0 };
    let mut descriptors = Vec::with_capacity(list.entries.len());
    for entry in &list.entries {
        let image = store.resolve(&entry.image.to_string())?;
        let (pushed, manifest) = push_as(store, &image, target, None, options, progress)?;
        let media_type = manifest.manifest.media_type().as_ref().map_or_else(|| super::media::OCI_MANIFEST.to_owned(), ToString::to_string);
        descriptors.push((pushed.digest, manifest.bytes.len() as u64, media_type, entry.platform.clone()));
        total.uploaded += pushed.uploaded;
        total.existing += pushed.existing;
        total.mounted += pushed.mounted;
    }
    let index = ManifestList::index_json(&descriptors);
    let client = Client::new(&target.registry, &target.repository, true, &options.client);
    total.digest = put_document(&client, &tag, &index, OCI_INDEX_MEDIA_TYPE)?;
    Ok(total)
}
