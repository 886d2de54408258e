//! Images in the store: import a rootfs, commit an image from layers,
//! resolve names and IDs, list, tag, remove, and collect garbage.

use std::collections::BTreeSet;
use std::io::Read;

use redb::{ReadableTable, ReadableTableMetadata};

use super::meta::{decode, encode, ImageRecord, LayerRecord, IMAGES, LAYERS, TAGS};
use super::{snapshots, Store, StoreError};
use crate::digest::Digest;
use crate::image::{layer_media_type, now_rfc3339, ConfigChange, History, ImageConfig, Manifest, Reference};
use crate::layer::{self, Compression};

/// How `import` makes its image.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// How the layer blob is stored (whatever the tarball's own compression).
    pub compression: Compression,
    /// `--change` edits applied to the new image's config, in order.
    pub changes: Vec<ConfigChange>,
    /// `--message`: the history entry's comment.
    pub message: Option<String>,
    /// The tag to point at the new image; `None` leaves it untagged.
    pub tag: Option<Reference>,
    /// The tarball's name, for errors (`-` for standard input).
    pub source: String,
    /// At most this many bytes of tar stream (the free space of the store's
    /// filesystem bounds it anyway).
    pub max_size: Option<u64>,
    /// `--platform`: the platform the rootfs is for (default: this machine's).
    pub platform: Option<crate::image::Platform>,
}

/// An image with its documents, as stored.
#[derive(Debug, Clone)]
pub struct StoredImage {
    /// The image's manifest (its digest is the `images_v1` key).
    pub manifest: Manifest,
    /// The digest of the config blob: the image ID.
    pub config_digest: Digest,
    /// The config, parsed.
    pub config: ImageConfig,
    /// The `images_v1` row.
    pub record: ImageRecord,
    /// Every tag pointing at the manifest.
    pub tags: Vec<Reference>,
}

impl StoredImage {
    /// The image ID: the config digest, as in Docker.
    pub fn id(&self) -> Digest {
        self.config_digest
    }
}

/// One row of `strata images`.
#[derive(Debug, Clone)]
pub struct ImageEntry {
    /// The manifest digest (the `images_v1` key).
    pub manifest: Digest,
    /// The `images_v1` row.
    pub record: ImageRecord,
    /// Every tag pointing at the manifest; empty for an untagged image.
    /// An index's name counts for each of its platforms' images.
    pub tags: Vec<Reference>,
    /// The platform, for an image that is one of an index's.
    pub platform: Option<crate::image::Platform>,
}

/// What `remove` did.
#[derive(Debug, Clone, Default)]
pub struct Removal {
    /// The tags removed.
    pub untagged: Vec<Reference>,
    /// The image ID, when the image itself was deleted (its last tag went,
    /// or it was named by ID); its blobs go at the next garbage collection.
    pub deleted: Option<Digest>,
}

/// What garbage collection freed.
#[derive(Debug, Clone, Default)]
pub struct GcReport {
    /// Blobs deleted.
    pub blobs: usize,
    /// Snapshot directories deleted.
    pub snapshots: usize,
    /// Bytes of the deleted blobs (snapshots not counted).
    pub bytes: u64,
    /// True when another strata process was using the store, so nothing was freed now.
    pub deferred: bool,
}

impl Store {
    /// Turns a rootfs tarball (plain, gzip or zstd) into a one-layer image.
    pub fn import(&self, reader: impl Read, options: &ImportOptions) -> Result<StoredImage, StoreError> {
        let work = self.temp_dir("import")?;
        let result = self.import_in(&work, reader, options);
        snapshots::remove_tree(&work)?;
        result
    }

    fn import_in(&self, work: &std::path::Path, reader: impl Read, options: &ImportOptions) -> Result<StoredImage, StoreError> {
        let rootfs = work.join("rootfs");
        fs_err::create_dir(&rootfs).map_err(|e| StoreError::io("create", &rootfs, e))?;
        let blob = self.blobs.writer()?;
        let (info, blob) = layer::unpack_and_recompress(reader, &rootfs, blob, options.compression, options.max_size)
            .map_err(|source| StoreError::Import { name: options.source.clone(), source })?;
        self.hold_layer(&info.diff_id)?;
        let (digest, size) = blob.commit(Some(&info.digest))?;
        self.snapshots.adopt(&rootfs, &info.diff_id)?;
        let created = now_rfc3339();
        let mut config = ImageConfig::empty(&created);
        if let Some(platform) = &options.platform {
            config.os.clone_from(&platform.os);
            config.architecture.clone_from(&platform.architecture);
            config.variant.clone_from(&platform.variant);
        }
        for change in &options.changes {
            change.apply(&mut config.config);
        }
        let history = History { created: Some(created), created_by: Some("strata import".into()), comment: options.message.clone(), ..History::default() };
        config.push_layer(info.diff_id, history);
        let layer = LayerRecord { blob: digest, media_type: options.compression.media_type().to_owned(), size, uncompressed_size: info.uncompressed_size };
        self.commit_image(&config, &[(info.diff_id, layer)], options.tag.as_ref())
    }

    /// Stores `config` and a manifest over `layers` (whose blobs are already
    /// stored), records the image and points `tag` at it.
    pub fn commit_image(&self, config: &ImageConfig, layers: &[(Digest, LayerRecord)], tag: Option<&Reference>) -> Result<StoredImage, StoreError> {
        let tags = tag.map(std::slice::from_ref).unwrap_or_default();
        self.commit_image_bytes(&config.to_canonical_json(), config, layers, tags)
    }

    /// [`Store::commit_image`] with the config's bytes as given (`load`
    /// keeps them, so the image ID survives), pointing every tag at it.
    /// `config` must be the parsed form of `config_bytes`.
    pub fn commit_image_bytes(
        &self,
        config_bytes: &[u8],
        config: &ImageConfig,
        layers: &[(Digest, LayerRecord)],
        tags: &[Reference],
    ) -> Result<StoredImage, StoreError> {
        let config_digest = self.blobs.put(config_bytes)?;
        let descriptors: Vec<_> = layers.iter().map(|(_, l)| (l.blob, l.size, layer_media_type(compression_name(&l.media_type)))).collect();
        let manifest = Manifest::build((config_digest, config_bytes.len() as u64), &descriptors)?;
        self.record_image(manifest, config_digest, config, layers, tags)
    }

    /// Records an image whose manifest comes as it is (a pull): kept byte
    /// for byte, so the image's digest is the one the registry names.
    /// `config` must be the parsed form of `config_bytes`.
    pub fn commit_manifest(
        &self,
        manifest: Manifest,
        config_bytes: &[u8],
        config: &ImageConfig,
        layers: &[(Digest, LayerRecord)],
        tags: &[Reference],
    ) -> Result<StoredImage, StoreError> {
        let config_digest = self.blobs.put(config_bytes)?;
        self.record_image(manifest, config_digest, config, layers, tags)
    }

    fn record_image(
        &self,
        manifest: Manifest,
        config_digest: Digest,
        config: &ImageConfig,
        layers: &[(Digest, LayerRecord)],
        tags: &[Reference],
    ) -> Result<StoredImage, StoreError> {
        self.blobs.put(&manifest.bytes)?;
        let record = self.meta.write(|txn| {
            let mut layer_table = txn.open_table(LAYERS)?;
            let mut size = 0;
            for (diff_id, layer) in layers {
                let key = diff_id.to_string();
                // A size learnt at first unpack outlives records read before it.
                let known = match layer_table.get(key.as_str())? {
                    Some(row) if layer.uncompressed_size == 0 => decode::<LayerRecord>("layers_v1", &key, row.value())?,
                    _ => layer.clone(),
                };
                let layer = if known.blob == layer.blob { known } else { layer.clone() };
                // A pulled layer not unpacked yet counts with its blob's size.
                size += if layer.uncompressed_size > 0 { layer.uncompressed_size } else { layer.size };
                layer_table.insert(key.as_str(), encode(&layer).as_slice())?;
            }
            let record = ImageRecord { config: config_digest, created: config.created.clone().unwrap_or_default(), size };
            txn.open_table(IMAGES)?.insert(manifest.digest.to_string().as_str(), encode(&record).as_slice())?;
            let mut tag_table = txn.open_table(TAGS)?;
            for tag in tags {
                tag_table.insert(tag.to_string().as_str(), manifest.digest.to_string().as_str())?;
            }
            super::indexes::record_platform_tags(txn, tags, &super::indexes::config_platform(config), &manifest.digest)?;
            Ok(record)
        })?;
        Ok(StoredImage { manifest, config_digest, config: config.clone(), record, tags: tags.to_vec() })
    }

    /// Every image, newest first, with its tags.
    pub fn list_images(&self) -> Result<Vec<ImageEntry>, StoreError> {
        let mut entries = self.meta.read(|txn| {
            let mut tags = tag_pairs(txn)?;
            let mut platforms = std::collections::HashMap::new();
            for list in Store::indexes_in(txn)? {
                let Ok(name) = list.name.parse::<Reference>() else { continue };
                for entry in list.entries {
                    platforms.insert(entry.manifest, entry.platform);
                    if !tags.contains(&(name.clone(), entry.manifest)) {
                        tags.push((name.clone(), entry.manifest));
                    }
                }
            }
            let images = match txn.open_table(IMAGES) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(redb::Error::from(e).into()),
            };
            let mut entries = Vec::with_capacity(images.len().unwrap_or(0) as usize);
            for row in images.iter()? {
                let (key, value) = row?;
                let manifest: Digest = parse_digest(key.value())?;
                let record: ImageRecord = decode("images_v1", key.value(), value.value())?;
                let tags = tags.iter().filter(|(_, m)| *m == manifest).map(|(r, _)| r.clone()).collect();
                entries.push(ImageEntry { manifest, record, tags, platform: platforms.get(&manifest).cloned() });
            }
            Ok(entries)
        })?;
        entries.sort_by(|a, b| b.record.created.cmp(&a.record.created).then(a.manifest.cmp(&b.manifest)));
        Ok(entries)
    }

    /// Finds an image by tag (`busybox`, `busybox:1`), reference with digest,
    /// image ID or manifest digest (or an unambiguous prefix of either).
    pub fn resolve(&self, name: &str) -> Result<StoredImage, StoreError> {
        let entries = self.list_images()?;
        let by_tag = name.parse::<Reference>().ok().and_then(|reference| {
            let named: Vec<&ImageEntry> = entries
                .iter()
                .filter(|e| match reference.digest {
                    // A pinned index digest is kept as a tag of the platform's manifest.
                    Some(digest) => e.manifest == digest || e.tags.contains(&reference),
                    None => e.tags.contains(&reference),
                })
                .collect();
            // An index's name stands for this machine's platform first.
            named.iter().find(|e| e.platform.as_ref().is_some_and(crate::image::Platform::is_host)).or(named.first()).copied()
        });
        let entry = match by_tag {
            Some(entry) => entry,
            None => by_id(&entries, name)?,
        };
        self.load(entry)
    }

    fn load(&self, entry: &ImageEntry) -> Result<StoredImage, StoreError> {
        let manifest = Manifest::parse(self.blobs.read(&entry.manifest)?)?;
        let config_digest = manifest.config_digest()?;
        let config: ImageConfig =
            serde_json::from_slice(&self.blobs.read(&config_digest)?).map_err(|e| StoreError::BadConfig { digest: config_digest, reason: e.to_string() })?;
        Ok(StoredImage { manifest, config_digest, config, record: entry.record.clone(), tags: entry.tags.clone() })
    }

    /// Points `target` at the image `source` names.
    pub fn tag(&self, source: &str, target: &Reference) -> Result<StoredImage, StoreError> {
        let image = self.resolve(source)?;
        self.meta.write(|txn| {
            txn.open_table(TAGS)?.insert(target.to_string().as_str(), image.manifest.digest.to_string().as_str())?;
            Ok(())
        })?;
        Ok(image)
    }

    /// `rmi`: a tag name untags (and deletes the image with its last tag);
    /// an ID deletes the image, refusing when several tags use it unless `force`.
    pub fn remove(&self, name: &str, force: bool) -> Result<Removal, StoreError> {
        let image = self.resolve(name)?;
        let named_tag = name.parse::<Reference>().ok().filter(|r| image.tags.contains(r));
        let untag: Vec<Reference> = match named_tag {
            Some(tag) if !force => vec![tag],
            _ if image.tags.len() > 1 && !force => {
                let tags = image.tags.iter().map(Reference::familiar).collect::<Vec<_>>().join(", ");
                return Err(StoreError::ImageInUse { id: image.id().short(), tags });
            }
            _ => image.tags.clone(),
        };
        let delete = untag.len() == image.tags.len();
        self.meta.write(|txn| {
            let mut tags = txn.open_table(TAGS)?;
            for tag in &untag {
                tags.remove(tag.to_string().as_str())?;
                super::indexes::forget_tag(txn, tag)?;
            }
            if delete {
                txn.open_table(IMAGES)?.remove(image.manifest.digest.to_string().as_str())?;
            }
            Ok(())
        })?;
        Ok(Removal { untagged: untag, deleted: delete.then_some(image.id()) })
    }

    /// Removes blobs and snapshots no image uses and no layer in `keep`
    /// (the cache's layers) needs. Needs the store to itself: when another
    /// strata process holds it, nothing is removed now (`deferred`).
    pub fn collect_garbage(self, keep: BTreeSet<Digest>) -> Result<GcReport, StoreError> {
        self.sweep_if_alone(keep)
    }

    /// [`Store::collect_garbage`] without giving up the store: this
    /// process's shared `gc` lock is let go, the exclusive one tried, then
    /// the shared one taken again. Processes opening the store meanwhile
    /// wait for the sweep.
    pub fn sweep_if_alone(&self, keep: BTreeSet<Digest>) -> Result<GcReport, StoreError> {
        let mut held = self.gc.lock().unwrap_or_else(|p| p.into_inner());
        let gc_lock = self.root.join("locks/gc");
        *held = None;
        let result = match super::Lock::try_exclusive(&gc_lock) {
            Ok(Some(_exclusive)) => self.sweep(keep),
            Ok(None) => Ok(GcReport { deferred: true, ..GcReport::default() }),
            Err(e) => Err(e),
        };
        // The exclusive lock is gone (dropped in its match arm) before the shared one is asked for.
        *held = Some(super::Lock::shared(&gc_lock)?);
        result
    }

    fn sweep(&self, keep: BTreeSet<Digest>) -> Result<GcReport, StoreError> {
        let mut keep_layers = self.referenced_layers()?;
        keep_layers.extend(keep);
        let mut keep_blobs = BTreeSet::new();
        for entry in self.list_images()? {
            let image = self.load(&entry)?;
            keep_blobs.insert(entry.manifest);
            keep_blobs.insert(image.config_digest);
            keep_blobs.extend(image.manifest.layers()?.into_iter().map(|(d, _, _)| d));
        }
        let layer_records = self.all_layers()?;
        keep_blobs.extend(keep_layers.iter().filter_map(|layer| layer_records.get(layer)).map(|record| record.blob));
        keep_blobs.extend(self.compressed_forms_of(&keep_layers)?);
        // A container's base layers: needed to run it and to commit it.
        for container in self.containers()? {
            keep_blobs.extend(self.layers(&container.base.rootfs.diff_ids)?.into_iter().flatten().map(|l| l.blob));
        }
        let mut report = GcReport::default();
        for blob in self.blobs.list()? {
            if !keep_blobs.contains(&blob) {
                report.bytes += self.blobs.size(&blob).unwrap_or(0);
                self.blobs.remove(&blob)?;
                report.blobs += 1;
            }
        }
        for snapshot in self.snapshots.list()? {
            if !keep_layers.contains(&snapshot) {
                self.snapshots.remove(&snapshot, &self.tmp)?;
                report.snapshots += 1;
            }
        }
        self.forget_layers_except(&keep_layers)?;
        self.remove_unpack_locks()?;
        Ok(report)
    }

    /// Drops the `layers_v1` rows of every layer not in `keep`.
    fn forget_layers_except(&self, keep: &BTreeSet<Digest>) -> Result<(), StoreError> {
        self.meta.write(|txn| {
            let mut layers = txn.open_table(LAYERS)?;
            let stale: Vec<String> = layers
                .iter()?
                .filter_map(|row| row.ok())
                .filter(|(k, _)| parse_digest(k.value()).map_or(true, |d| !keep.contains(&d)))
                .map(|(k, _)| k.value().to_owned())
                .collect();
            for key in stale {
                layers.remove(key.as_str())?;
            }
            Ok(())
        })
    }

    /// The diff_ids every image's and container's config names.
    pub fn referenced_layers(&self) -> Result<BTreeSet<Digest>, StoreError> {
        let mut layers = BTreeSet::new();
        for entry in self.list_images()? {
            layers.extend(self.load(&entry)?.config.rootfs.diff_ids);
        }
        for container in self.containers()? {
            layers.extend(container.base.rootfs.diff_ids);
        }
        Ok(layers)
    }

    /// [`Store::referenced_layers`] read in `txn`, under the `meta` lock: a
    /// prune decides on an inventory taken earlier, and an image committed
    /// since (a build that has just ended its lease) must keep its layers.
    pub fn referenced_layers_in(&self, txn: &redb::WriteTransaction) -> Result<BTreeSet<Digest>, StoreError> {
        let mut configs = Vec::new();
        for row in txn.open_table(IMAGES)?.iter()? {
            let (key, value) = row?;
            let record: ImageRecord = decode("images_v1", key.value(), value.value())?;
            configs.push(record.config);
        }
        let mut layers = self.container_layers_in(txn)?;
        for digest in configs {
            let config: ImageConfig =
                serde_json::from_slice(&self.blobs.read(&digest)?).map_err(|e| StoreError::BadConfig { digest, reason: e.to_string() })?;
            layers.extend(config.rootfs.diff_ids);
        }
        Ok(layers)
    }

    /// Records a layer (its blob and snapshot are already stored), so
    /// later builds and images can use it.
    pub fn put_layer(&self, diff_id: &Digest, record: &LayerRecord) -> Result<(), StoreError> {
        self.meta.write(|txn| {
            txn.open_table(LAYERS)?.insert(diff_id.to_string().as_str(), encode(record).as_slice())?;
            Ok(())
        })
    }

    /// Records many layers in one transaction.
    pub fn put_layers(&self, layers: &[(Digest, LayerRecord)]) -> Result<(), StoreError> {
        self.meta.write(|txn| {
            let mut table = txn.open_table(LAYERS)?;
            for (diff_id, record) in layers {
                table.insert(diff_id.to_string().as_str(), encode(record).as_slice())?;
            }
            Ok(())
        })
    }

    /// Every layer record, by diff_id (one read for listings).
    pub fn all_layers(&self) -> Result<std::collections::HashMap<Digest, LayerRecord>, StoreError> {
        self.meta.read(Store::all_layers_in)
    }

    /// [`Store::all_layers`] inside a caller's transaction.
    pub fn all_layers_in(txn: &redb::ReadTransaction) -> Result<std::collections::HashMap<Digest, LayerRecord>, StoreError> {
        let table = match txn.open_table(LAYERS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Default::default()),
            Err(e) => return Err(redb::Error::from(e).into()),
        };
        let mut layers = std::collections::HashMap::with_capacity(table.len().unwrap_or(0) as usize);
        for row in table.iter()? {
            let (key, value) = row?;
            layers.insert(parse_digest(key.value())?, decode("layers_v1", key.value(), value.value())?);
        }
        Ok(layers)
    }

    /// Forgets layers (their `layers_v1` rows and remembered sizes) inside
    /// a caller's transaction; their files go with [`Store::remove_layer_files`].
    pub fn forget_layers_in(txn: &redb::WriteTransaction, layers: &BTreeSet<Digest>) -> Result<(), StoreError> {
        let mut table = txn.open_table(LAYERS)?;
        for layer in layers {
            table.remove(layer.to_string().as_str())?;
        }
        drop(table);
        Store::forget_snapshot_sizes(txn, layers)
    }

    /// Removes a layer's snapshot and blob.
    pub fn remove_layer_files(&self, diff_id: &Digest, blob: Option<&Digest>) -> Result<(), StoreError> {
        self.snapshots.remove(diff_id, &self.tmp)?;
        if let Some(blob) = blob {
            self.blobs.remove(blob)?;
        }
        Ok(())
    }

    /// Every tag with the manifest digest it points to, as stored.
    pub fn tag_targets(&self) -> Result<Vec<(String, Digest)>, StoreError> {
        self.meta.read(|txn| {
            let table = match txn.open_table(TAGS) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(redb::Error::from(e).into()),
            };
            let mut targets = Vec::new();
            for row in table.iter()? {
                let (key, value) = row?;
                targets.push((key.value().to_owned(), parse_digest(value.value())?));
            }
            Ok(targets)
        })
    }

    /// Removes a tag row as stored (even one that no longer parses).
    pub fn untag(&self, tag: &str) -> Result<(), StoreError> {
        self.meta.write(|txn| {
            txn.open_table(TAGS)?.remove(tag)?;
            Ok(())
        })
    }

    /// Unpacks a layer's snapshot again from its blob (which must unpack
    /// to the layer's diff_id).
    pub fn restore_snapshot(&self, diff_id: &Digest) -> Result<(), StoreError> {
        let record = self.layer(diff_id)?.ok_or(StoreError::MissingBlob(*diff_id))?;
        let work = self.temp_dir("restore")?;
        let unpacked = layer::unpack(std::io::BufReader::new(self.blobs.open(&record.blob)?), &work);
        let result = match unpacked {
            Ok(info) if info.diff_id == *diff_id => self.snapshots.adopt(&work, diff_id).map(|_| ()),
            Ok(info) => Err(StoreError::Corrupt { digest: *diff_id, actual: info.diff_id }),
            Err(e) => Err(e.into()),
        };
        snapshots::remove_tree(&work)?;
        result
    }

    /// The record of a layer by diff_id.
    pub fn layer(&self, diff_id: &Digest) -> Result<Option<LayerRecord>, StoreError> {
        Ok(self.layers(std::slice::from_ref(diff_id))?.pop().flatten())
    }

    /// The records of layers, in order, read in one transaction.
    pub fn layers(&self, diff_ids: &[Digest]) -> Result<Vec<Option<LayerRecord>>, StoreError> {
        self.meta.read(|txn| diff_ids.iter().map(|diff_id| layer_in(txn, diff_id)).collect())
    }

    /// The records of an image's layers; a missing one is an error.
    pub fn image_layers(&self, diff_ids: &[Digest]) -> Result<Vec<(Digest, LayerRecord)>, StoreError> {
        let records = self.layers(diff_ids)?;
        diff_ids.iter().zip(records).map(|(d, r)| r.map(|r| (*d, r)).ok_or(StoreError::MissingBlob(*d))).collect()
    }
}

/// A layer record inside a read transaction (`None` when unknown).
pub fn layer_in(txn: &redb::ReadTransaction, diff_id: &Digest) -> Result<Option<LayerRecord>, StoreError> {
    let table = match txn.open_table(LAYERS) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(redb::Error::from(e).into()),
    };
    let key = diff_id.to_string();
    match table.get(key.as_str())? {
        Some(value) => Ok(Some(decode("layers_v1", &key, value.value())?)),
        None => Ok(None),
    }
}

/// Every (tag, manifest digest) pair.
fn tag_pairs(txn: &redb::ReadTransaction) -> Result<Vec<(Reference, Digest)>, StoreError> {
    let table = match txn.open_table(TAGS) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(redb::Error::from(e).into()),
    };
    let mut pairs = Vec::new();
    for row in table.iter()? {
        let (key, value) = row?;
        let reference =
            key.value().parse::<Reference>().map_err(|e| StoreError::BadRecord { table: "tags_v1".into(), key: key.value().into(), reason: e.to_string() })?;
        pairs.push((reference, parse_digest(value.value())?));
    }
    Ok(pairs)
}

fn parse_digest(text: &str) -> Result<Digest, StoreError> {
    text.parse().map_err(|e: crate::digest::InvalidDigest| StoreError::BadRecord { table: "images_v1".into(), key: text.into(), reason: e.to_string() })
}

/// An image ID or manifest digest, or a unique prefix (at least 4 digits) of one.
fn by_id<'a>(entries: &'a [ImageEntry], name: &str) -> Result<&'a ImageEntry, StoreError> {
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    let is_hex = hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    let matches: Vec<_> =
        if is_hex { entries.iter().filter(|e| e.record.config.hex().starts_with(hex) || e.manifest.hex().starts_with(hex)).collect() } else { Vec::new() };
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(StoreError::NoSuchImage(name.into())),
        many => Err(StoreError::Ambiguous { name: name.into(), count: many.len() }),
    }
}

/// `gzip` / `zstd` / `None` from a layer media type.
fn compression_name(media_type: &str) -> Option<&'static str> {
    if media_type.ends_with("+gzip") || media_type.ends_with(".gzip") {
        Some("gzip")
    } else if media_type.ends_with("+zstd") {
        Some("zstd")
    } else {
        None
    }
}

/// `SOURCE_DATE_EPOCH`, when set, clamps layer mtimes.
pub fn source_date_epoch() -> Option<i64> {
    std::env::var("SOURCE_DATE_EPOCH").ok()?.trim().parse().ok()
}

impl From<redb::TableError> for StoreError {
    fn from(e: redb::TableError) -> Self {
        redb::Error::from(e).into()
    }
}

impl From<redb::StorageError> for StoreError {
    fn from(e: redb::StorageError) -> Self {
        redb::Error::from(e).into()
    }
}
