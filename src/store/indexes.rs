//! One name, several platforms. Every tagged image is also remembered per
//! platform (`platform_tags_v1`: name and platform → manifest), so a build
//! for arm64 finds `busybox`'s arm64 image after `busybox` was pulled or
//! imported for amd64 too. A multi-platform build stores its result as an
//! image index under each name (`image_indexes_v1`: name → one image per
//! platform): `images` shows the name on every platform's image, `save`
//! and `push` write the index, and the plain tag points at this machine's
//! platform (else the first), so `run` and `from` pick the host's image.

use redb::{ReadableTable, TableDefinition};

use super::meta::{decode, IMAGES, TAGS};
use super::{ManifestList, Store, StoreError, StoredImage};
use crate::digest::Digest;
use crate::image::{Platform, Reference};

/// `name` + `\n` + platform → manifest digest (neither part can hold a newline).
pub(super) const PLATFORM_TAGS: TableDefinition<&str, &str> = TableDefinition::new("platform_tags_v1");
/// Name → the [`ManifestList`] a multi-platform build stored under it (JSON).
pub(super) const INDEXES: TableDefinition<&str, &[u8]> = TableDefinition::new("image_indexes_v1");

fn platform_key(tag: &Reference, platform: &Platform) -> String {
    format!("{tag}\n{platform}")
}

/// The platform an image's config names.
pub fn config_platform(config: &crate::image::ImageConfig) -> Platform {
    Platform { os: config.os.clone(), architecture: config.architecture.clone(), variant: config.variant.clone() }
}

/// A table that may not exist yet: `None` then.
macro_rules! open_or_none {
    ($txn:expr, $table:expr) => {
        match $txn.open_table($table) {
            Ok(table) => Some(table),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(redb::Error::from(e).into()),
        }
    };
}

impl Store {
    /// The image `name` stands for on `platform`: the last image of that
    /// platform stored under the name, else whatever [`Store::resolve`]
    /// finds (an ID, a digest, or a name stored for one platform only).
    pub fn resolve_for(&self, name: &str, platform: &Platform) -> Result<StoredImage, StoreError> {
        if let Ok(reference) = name.parse::<Reference>() {
            let key = platform_key(&reference, platform);
            let found = self.meta.read(|txn| {
                let Some(table) = open_or_none!(txn, PLATFORM_TAGS) else { return Ok(None) };
                let Some(manifest) = table.get(key.as_str())?.map(|v| v.value().to_owned()) else { return Ok(None) };
                let Some(images) = open_or_none!(txn, IMAGES) else { return Ok(None) };
                // A platform tag outlives an image removed by ID: then it names nothing.
                Ok(images.get(manifest.as_str())?.is_some().then_some(manifest))
            })?;
            if let Some(manifest) = found {
                let mut image = self.resolve(&manifest)?;
                image.tags.push(reference);
                return Ok(image);
            }
        }
        self.resolve(name)
    }

    /// Whether `name` holds an image for `platform` (by platform tag, or
    /// as the one image it names).
    pub fn has_platform(&self, name: &str, platform: &Platform) -> bool {
        self.resolve_for(name, platform).is_ok_and(|image| image.config.os == platform.os && image.config.architecture == platform.architecture)
    }

    /// Stores `images` (one per platform) as an index under every tag:
    /// the tag itself points at this machine's platform's image, else the first.
    pub fn commit_index(&self, images: &[StoredImage], tags: &[Reference]) -> Result<ManifestList, StoreError> {
        let entries = super::manifest_lists::entries_of(images)?;
        let default = entries.iter().find(|e| e.platform.is_host()).or(entries.first()).map(|e| e.manifest.to_string());
        self.meta.write(|txn| {
            let (mut tag_table, mut platform_tags, mut indexes) = (txn.open_table(TAGS)?, txn.open_table(PLATFORM_TAGS)?, txn.open_table(INDEXES)?);
            for tag in tags {
                if let Some(default) = &default {
                    tag_table.insert(tag.to_string().as_str(), default.as_str())?;
                }
                for entry in &entries {
                    platform_tags.insert(platform_key(tag, &entry.platform).as_str(), entry.manifest.to_string().as_str())?;
                }
                let list = ManifestList { name: tag.to_string(), entries: entries.clone() };
                indexes.insert(tag.to_string().as_str(), serde_json::to_vec(&list).unwrap_or_default().as_slice())?;
            }
            Ok(())
        })?;
        Ok(ManifestList { name: tags.first().map(ToString::to_string).unwrap_or_default(), entries })
    }

    /// The index a multi-platform build stored under `name`, if any.
    pub fn index(&self, name: &str) -> Result<Option<ManifestList>, StoreError> {
        let Ok(reference) = name.parse::<Reference>() else { return Ok(None) };
        let key = reference.to_string();
        self.meta.read(|txn| {
            let Some(table) = open_or_none!(txn, INDEXES) else { return Ok(None) };
            let Some(bytes) = table.get(key.as_str())?.map(|v| v.value().to_vec()) else { return Ok(None) };
            decode("image_indexes_v1", &key, &bytes).map(Some)
        })
    }

    /// Every stored index (name → its images), for `images`.
    pub(super) fn indexes_in(txn: &redb::ReadTransaction) -> Result<Vec<ManifestList>, StoreError> {
        let Some(table) = open_or_none!(txn, INDEXES) else { return Ok(Vec::new()) };
        let mut lists = Vec::new();
        for row in table.iter()? {
            let (key, value) = row?;
            lists.push(decode("image_indexes_v1", key.value(), value.value())?);
        }
        Ok(lists)
    }
}

/// Inside a write: records `manifest` as `tags`' image for `platform`,
/// and drops an index those tags held (a single-platform commit replaces it).
pub(super) fn record_platform_tags(txn: &redb::WriteTransaction, tags: &[Reference], platform: &Platform, manifest: &Digest) -> Result<(), StoreError> {
    let (mut platform_tags, mut indexes) = (txn.open_table(PLATFORM_TAGS)?, txn.open_table(INDEXES)?);
    for tag in tags {
        platform_tags.insert(platform_key(tag, platform).as_str(), manifest.to_string().as_str())?;
        indexes.remove(tag.to_string().as_str())?;
    }
    Ok(())
}

/// Inside a write: forgets every platform's image and the index of `tag`.
pub(super) fn forget_tag(txn: &redb::WriteTransaction, tag: &Reference) -> Result<(), StoreError> {
    let mut platform_tags = txn.open_table(PLATFORM_TAGS)?;
    let prefix = format!("{tag}\n");
    let stale: Vec<String> =
        platform_tags.range(prefix.as_str()..)?.filter_map(Result::ok).map(|(k, _)| k.value().to_owned()).take_while(|k| k.starts_with(&prefix)).collect();
    for key in stale {
        platform_tags.remove(key.as_str())?;
    }
    txn.open_table(INDEXES)?.remove(tag.to_string().as_str())?;
    Ok(())
}
