//! The classic `docker save` layout (Docker image spec v1.2 "combined
//! image JSON + filesystem changeset" format, as written before Docker 25):
//!
//! ```text
//! <config hex>.json            the config, byte for byte (its digest is the image ID)
//! <diff_id hex>/layer.tar      each layer, uncompressed
//! manifest.json                [{"Config", "RepoTags", "Layers"}]
//! repositories                 {"busybox": {"1.35": "<top layer dir>"}}
//! ```
//!
//! Layers are stored compressed, so writing decompresses each one while it
//! streams; the tar header needs the size first, which the layer record
//! knows (or one counting pass measures). Reading accepts what Docker,
//! containers/image and strata write, compressed layer files included.
//!
//! See: moby `image/tarexport/save.go`, `load.go`; containers/image
//! `docker/internal/tarfile/writer.go`.

use std::collections::BTreeMap;
use std::io::{self, BufReader, Read};

use serde::{Deserialize, Serialize};

use super::extract::Extracted;
use super::load::{digest_in_name, parse_name, ArchivedImage, ArchivedLayer};
use super::output::{copy_checked, Expect, Out};
use super::{ArchiveError, BlobSource, SaveImage, SaveLayer};
use crate::digest::HashingReader;
use crate::layer::decompress;

/// One entry of `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

fn config_name(image: &SaveImage) -> String {
    format!("{}.json", image.config_digest.hex())
}

fn layer_name(layer: &SaveLayer) -> String {
    format!("{}/layer.tar", layer.diff_id.hex())
}

/// Writes `images` in the classic layout: configs, then layer
/// directories (each layer once, by diff_id), then `manifest.json` and
/// `repositories`.
pub(super) fn write(images: &[SaveImage], source: &dyn BlobSource, out: &mut dyn Out) -> Result<(), ArchiveError> {
    let mut configs = BTreeMap::new();
    let mut layers = BTreeMap::new();
    for image in images {
        configs.insert(image.config_digest, image.manifest.manifest.config().size());
        for layer in &image.layers {
            layers.insert(layer.diff_id, layer);
        }
    }
    for (digest, size) in configs {
        let content = source.open_blob(&digest).map_err(|source| ArchiveError::Blob { digest, source })?;
        let expect = Expect { digest, size };
        copy_checked(
            out,
            &format!("{}.json", digest.hex()),
            content,
            expect,
            |source| ArchiveError::Blob { digest, source },
            |actual, actual_size| ArchiveError::BlobMismatch { digest, expected_size: size, actual, actual_size },
        )?;
    }
    for layer in layers.values() {
        out.dir(&layer.diff_id.hex())?;
        write_layer(layer, source, out)?;
    }
    let manifest = manifest_json(images, config_name, layer_name);
    out.file("manifest.json", manifest.len() as u64, &mut &manifest[..])?;
    if let Some(repositories) = repositories_json(images) {
        out.file("repositories", repositories.len() as u64, &mut &repositories[..])?;
    }
    Ok(())
}

/// Streams one layer, decompressed, checking its diff_id.
fn write_layer(layer: &SaveLayer, source: &dyn BlobSource, out: &mut dyn Out) -> Result<(), ArchiveError> {
    let size = match layer.uncompressed_size {
        Some(size) => size,
        None => measure(layer, source)?,
    };
    let plain = plain_layer(layer, source)?;
    let digest = layer.digest;
    copy_checked(
        out,
        &layer_name(layer),
        plain,
        Expect { digest: layer.diff_id, size },
        |source| ArchiveError::Blob { digest, source },
        |actual, actual_size| ArchiveError::LayerMismatch { diff_id: layer.diff_id, expected_size: size, actual, actual_size },
    )
}

/// The plain tar stream of a stored layer blob.
fn plain_layer<'a>(layer: &SaveLayer, source: &'a dyn BlobSource) -> Result<Box<dyn Read + 'a>, ArchiveError> {
    let blob = source.open_blob(&layer.digest).map_err(|source| ArchiveError::Blob { digest: layer.digest, source })?;
    let (_, plain) =
        decompress(BufReader::with_capacity(256 << 10, blob)).map_err(|source| ArchiveError::Decompress { name: format!("layer {}", layer.digest), source })?;
    Ok(plain)
}

/// The uncompressed size of a layer, by decompressing it once.
fn measure(layer: &SaveLayer, source: &dyn BlobSource) -> Result<u64, ArchiveError> {
    let mut plain = HashingReader::new(plain_layer(layer, source)?);
    io::copy(&mut plain, &mut io::sink()).map_err(|source| ArchiveError::Blob { digest: layer.digest, source })?;
    Ok(plain.finish().1)
}

/// Docker's `manifest.json` for `images`, with the given file names.
pub(super) fn manifest_json(images: &[SaveImage], config: impl Fn(&SaveImage) -> String, layer: impl Fn(&SaveLayer) -> String) -> Vec<u8> {
    let entries: Vec<Entry> = images
        .iter()
        .map(|image| Entry {
            config: config(image),
            repo_tags: Some(image.names.iter().map(|n| n.familiar()).collect()),
            layers: image.layers.iter().map(&layer).collect(),
        })
        .collect();
    serde_json::to_vec(&entries).unwrap_or_default()
}

/// `repositories`: familiar name → tag → top layer directory; `None` when
/// no named image has layers.
fn repositories_json(images: &[SaveImage]) -> Option<Vec<u8>> {
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for image in images {
        let Some(top) = image.layers.last() else { continue };
        for name in &image.names {
            if let Some(tag) = &name.tag {
                repositories.entry(name.familiar_name()).or_default().insert(tag.clone(), top.diff_id.hex());
            }
        }
    }
    (!repositories.is_empty()).then(|| serde_json::to_vec(&repositories).unwrap_or_default())
}

/// The images `manifest.json` of an unpacked archive lists.
pub(super) fn read(archive: &Extracted) -> Result<Vec<ArchivedImage>, ArchiveError> {
    let entries: Vec<Entry> = archive.json("manifest.json", None)?;
    let mut images = Vec::with_capacity(entries.len());
    for entry in entries {
        let tags = entry.repo_tags.unwrap_or_default().iter().map(|t| parse_name(t)).collect::<Result<Vec<_>, _>>()?;
        let layers =
            entry.layers.iter().map(|name| ArchivedLayer { name: name.clone(), digest: digest_in_name(name).filter(|_| name.contains("blobs/")) }).collect();
        images.push(ArchivedImage { config_digest: digest_in_name(&entry.config), config: entry.config, layers, tags });
    }
    Ok(images)
}
