//! Manifest lists made by hand (`strata manifest create`): a name and the
//! single-platform images it joins into one OCI image index, kept as a
//! small JSON file under `manifest-lists/` (as `docker manifest` keeps its
//! lists beside, not among, its images). Pushing turns one into an index.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, StoredImage};
use crate::digest::Digest;
use crate::image::{Platform, Reference};

/// Media type of an OCI image index.
pub const OCI_INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// One image of a list, as stored when the list was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListEntry {
    /// The image ID (config digest): what a push resolves.
    pub image: Digest,
    /// The stored manifest's digest.
    pub manifest: Digest,
    /// The stored manifest's size in bytes.
    pub size: u64,
    /// The stored manifest's media type.
    pub media_type: String,
    /// The image's platform, from its config.
    pub platform: Platform,
}

/// A manifest list: its name and one image per platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestList {
    /// The list's name (a full reference, `docker.io/library/app:1`).
    pub name: String,
    /// The images, in the order given.
    pub entries: Vec<ListEntry>,
}

impl ManifestList {
    /// The OCI image index over `entries` with the given manifest digests,
    /// sizes and media types (the stored ones, or the ones a push wrote),
    /// as canonical JSON.
    pub fn index_json(descriptors: &[(Digest, u64, String, Platform)]) -> Vec<u8> {
        let manifests: Vec<serde_json::Value> = descriptors
            .iter()
            .map(|(digest, size, media_type, platform)| {
                let mut described = serde_json::json!({ "os": platform.os, "architecture": platform.architecture });
                if let Some(variant) = &platform.variant {
                    described["variant"] = serde_json::json!(variant);
                }
                serde_json::json!({ "mediaType": media_type, "digest": digest.to_string(), "size": size, "platform": described })
            })
            .collect();
        let index = serde_json::json!({ "schemaVersion": 2, "mediaType": OCI_INDEX_MEDIA_TYPE, "manifests": manifests });
        crate::image::canonical_json(&index)
    }

    /// The index over the stored manifests.
    pub fn stored_index(&self) -> Vec<u8> {
        let descriptors: Vec<_> = self.entries.iter().map(|e| (e.manifest, e.size, e.media_type.clone(), e.platform.clone())).collect();
        ManifestList::index_json(&descriptors)
    }
}

impl Store {
    fn manifest_list_path(&self, name: &Reference) -> PathBuf {
        let key = Digest::of(name.to_string().as_bytes());
        self.root().join("manifest-lists").join(format!("{}.json", key.hex()))
    }

    /// Makes (or replaces) the list `name` over `images` (names or IDs),
    /// one per platform.
    pub fn create_manifest_list(&self, name: &Reference, images: &[String]) -> Result<ManifestList, StoreError> {
        let list = ManifestList { name: name.to_string(), entries: self.list_of(images)?.entries };
        let path = self.manifest_list_path(name);
        let dir = path.parent().unwrap_or(self.root()).to_owned();
        fs_err::create_dir_all(&dir).map_err(|e| StoreError::io("create", &dir, e))?;
        let bytes = serde_json::to_vec_pretty(&list).unwrap_or_default();
        let tmp = path.with_extension("tmp");
        fs_err::write(&tmp, bytes).map_err(|e| StoreError::io("write", &tmp, e))?;
        fs_err::rename(&tmp, &path).map_err(|e| StoreError::io("rename", &path, e))?;
        Ok(list)
    }

    /// An unnamed, unstored list over `images` (names or IDs), one per platform.
    pub fn list_of(&self, images: &[String]) -> Result<ManifestList, StoreError> {
        let stored = images.iter().map(|image| self.resolve(image)).collect::<Result<Vec<_>, _>>()?;
        Ok(ManifestList { name: String::new(), entries: entries_of(&stored)? })
    }

    /// The list `name`, made by [`Store::create_manifest_list`].
    pub fn manifest_list(&self, name: &Reference) -> Result<ManifestList, StoreError> {
        let path = self.manifest_list_path(name);
        let bytes = match fs_err::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StoreError::NoSuchManifestList(name.to_string())),
            Err(e) => return Err(StoreError::io("read", &path, e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| StoreError::BadRecord { table: "manifest-lists".into(), key: name.to_string(), reason: e.to_string() })
    }
}

/// One entry per image, each for its config's platform; two images of one
/// platform are an error.
pub(super) fn entries_of(images: &[StoredImage]) -> Result<Vec<ListEntry>, StoreError> {
    let mut entries: Vec<ListEntry> = Vec::with_capacity(images.len());
    for image in images {
        let platform = super::indexes::config_platform(&image.config);
        if let Some(twin) = entries.iter().find(|e| e.platform == platform) {
            return Err(StoreError::DuplicatePlatform { platform: platform.to_string(), first: twin.image.short(), second: image.id().short() });
        }
        let media_type =
            image.manifest.manifest.media_type().as_ref().map_or_else(|| "application/vnd.oci.image.manifest.v1+json".to_owned(), ToString::to_string);
        entries.push(ListEntry { image: image.id(), manifest: image.manifest.digest, size: image.manifest.bytes.len() as u64, media_type, platform });
    }
    Ok(entries)
}
