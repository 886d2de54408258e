//! The OCI image layout: writing one (into a directory or a tar) and
//! reading the images out of an unpacked one.
//!
//! `index.json` has one entry per image name, annotated the way the tools
//! look images up: `org.opencontainers.image.ref.name` holds the tag (what
//! `skopeo inspect oci:DIR:TAG`, `umoci unpack --image DIR:TAG` and
//! `oci-image-tool validate --ref name=TAG` match), and
//! `io.containerd.image.name` the full name (what `docker load` and
//! `ctr import` name the image by).
//!
//! See: OCI image spec `image-layout.md`, `image-index.md`, `annotations.md`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::load::{parse_name, ArchivedImage, ArchivedLayer};
use super::output::{copy_checked, Expect, Out};
use super::{blob_path, docker, ArchiveError, BlobSource, SaveImage};
use crate::digest::Digest;
use crate::image::{
    canonical_json, descriptor_digest as parse_digest, host_architecture, image_index, index_entry, Descriptor, ImageIndex, ImageManifest, MediaType, Reference,
};

/// The annotation holding an image's tag (or, in some writers, its full name).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's annotation holding an image's full name.
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";

const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_LIST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_MANIFEST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Files written beside the layout.
#[derive(Debug, Clone, Copy)]
pub(super) struct Extras {
    /// Docker's `manifest.json`, so `docker load` on a classic image store reads the archive.
    pub docker_manifest: bool,
}

/// A blob to write: in memory (manifests) or from the source.
enum Blob<'a> {
    Bytes(&'a [u8]),
    Stored(u64),
}

/// Writes `images` as an OCI layout: `oci-layout`, the blobs sorted by
/// digest, then `index.json` (and `manifest.json` when asked).
pub(super) fn write(images: &[SaveImage], source: &dyn BlobSource, out: &mut dyn Out, extras: Extras) -> Result<(), ArchiveError> {
    let mut blobs: BTreeMap<Digest, Blob<'_>> = BTreeMap::new();
    for image in images {
        blobs.insert(image.manifest.digest, Blob::Bytes(&image.manifest.bytes));
        blobs.insert(image.config_digest, Blob::Stored(image.manifest.manifest.config().size()));
        for layer in &image.layers {
            blobs.insert(layer.digest, Blob::Stored(layer.size));
        }
    }
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    out.file("oci-layout", layout.len() as u64, &mut &layout[..])?;
    out.dir("blobs")?;
    out.dir("blobs/sha256")?;
    for (digest, blob) in &blobs {
        let name = blob_path(digest);
        let read_error = |source| ArchiveError::Blob { digest: *digest, source };
        let mismatch = |size| move |actual, actual_size| ArchiveError::BlobMismatch { digest: *digest, expected_size: size, actual, actual_size };
        match blob {
            Blob::Bytes(bytes) => {
                let expect = Expect { digest: *digest, size: bytes.len() as u64 };
                copy_checked(out, &name, *bytes, expect, read_error, mismatch(expect.size))?;
            }
            Blob::Stored(size) => {
                let content = source.open_blob(digest).map_err(read_error)?;
                let expect = Expect { digest: *digest, size: *size };
                copy_checked(out, &name, content, expect, read_error, mismatch(*size))?;
            }
        }
    }
    let index = canonical_json(&index(images)?);
    out.file("index.json", index.len() as u64, &mut &index[..])?;
    if extras.docker_manifest {
        let manifest = docker::manifest_json(images, |i| blob_path(&i.config_digest), |l| blob_path(&l.digest));
        out.file("manifest.json", manifest.len() as u64, &mut &manifest[..])?;
    }
    Ok(())
}

/// `index.json`: one entry per (image, name); an unnamed image gets one
/// entry without names.
fn index(images: &[SaveImage]) -> Result<ImageIndex, ArchiveError> {
    let mut manifests = Vec::new();
    for image in images {
        let media_type = image.manifest.manifest.media_type().clone().unwrap_or(MediaType::ImageManifest);
        let config = &image.config;
        let entry = |annotations| {
            let platform = (config.os.as_str(), config.architecture.as_str(), config.variant.as_deref());
            index_entry(media_type.clone(), (&image.manifest.digest, image.manifest.bytes.len() as u64), platform, annotations)
        };
        if image.names.is_empty() {
            manifests.push(entry(HashMap::new())?);
        }
        for name in &image.names {
            let mut annotations = HashMap::from([(CONTAINERD_NAME.to_owned(), name.to_string())]);
            if let Some(tag) = &name.tag {
                annotations.insert(REF_NAME.to_owned(), tag.clone());
            }
            manifests.push(entry(annotations)?);
        }
    }
    Ok(image_index(manifests)?)
}

/// The images an unpacked OCI layout holds: every entry of `index.json`
/// (a nested index contributes its linux/host-architecture manifest),
/// entries naming the same manifest merged.
pub(super) fn read(archive: &super::extract::Extracted) -> Result<Vec<ArchivedImage>, ArchiveError> {
    let index: ImageIndex = archive.json("index.json", None)?;
    let mut images: Vec<(Digest, ArchivedImage)> = Vec::new();
    for entry in index.manifests() {
        let (digest, manifest) = resolve(archive, entry, "index.json")?;
        let tags = names(entry.annotations().as_ref())?;
        if let Some((_, image)) = images.iter_mut().find(|(d, _)| *d == digest) {
            for tag in tags {
                if !image.tags.contains(&tag) {
                    image.tags.push(tag);
                }
            }
            continue;
        }
        let name = blob_path(&digest);
        let config_digest = descriptor_digest(manifest.config(), &name)?;
        let layers = manifest
            .layers()
            .iter()
            .map(|layer| {
                let digest = descriptor_digest(layer, &name)?;
                Ok(ArchivedLayer { name: blob_path(&digest), digest: Some(digest) })
            })
            .collect::<Result<Vec<_>, ArchiveError>>()?;
        images.push((digest, ArchivedImage { config: blob_path(&config_digest), config_digest: Some(config_digest), layers, tags }));
    }
    Ok(images.into_iter().map(|(_, image)| image).collect())
}

/// Follows a descriptor down to an image manifest.
fn resolve(archive: &super::extract::Extracted, entry: &Descriptor, parent: &str) -> Result<(Digest, ImageManifest), ArchiveError> {
    let mut entry_digest = descriptor_digest(entry, parent)?;
    let mut media_type = entry.media_type().to_string();
    let mut seen = BTreeSet::new();
    loop {
        let name = blob_path(&entry_digest);
        if !seen.insert(entry_digest) {
            return Err(ArchiveError::UnsafeEntry { name, reason: "its image index refers to itself" });
        }
        let bytes = archive.read(&name, Some(&entry_digest))?;
        let doc: Value = serde_json::from_slice(&bytes).map_err(|source| ArchiveError::Json { name: name.clone(), source })?;
        if media_type.is_empty() {
            media_type = doc.get("mediaType").and_then(Value::as_str).unwrap_or_default().to_owned();
        }
        let is_index = media_type == INDEX_MEDIA_TYPE || media_type == DOCKER_LIST_MEDIA_TYPE || (media_type.is_empty() && doc.get("manifests").is_some());
        let parse_error = |source| ArchiveError::Json { name: name.clone(), source };
        if is_index {
            let index: ImageIndex = serde_json::from_value(doc).map_err(parse_error)?;
            let chosen = host_manifest(&index).ok_or_else(|| ArchiveError::NoPlatform { name: name.clone(), arch: host_architecture().to_owned() })?;
            entry_digest = descriptor_digest(chosen, &name)?;
            media_type = chosen.media_type().to_string();
            continue;
        }
        let manifest: ImageManifest = serde_json::from_value(doc).map_err(parse_error)?;
        let kind = if media_type.is_empty() { manifest.media_type().as_ref().map(MediaType::to_string).unwrap_or_default() } else { media_type };
        if !(kind.is_empty() || kind == MANIFEST_MEDIA_TYPE || kind == DOCKER_MANIFEST_MEDIA_TYPE) {
            return Err(ArchiveError::UnsupportedMediaType { name, media_type: kind });
        }
        return Ok((entry_digest, manifest));
    }
}

/// The index entry for linux on this machine's architecture; entries
/// without a platform count as matching, for single-image indexes.
fn host_manifest(index: &ImageIndex) -> Option<&Descriptor> {
    let arch = host_architecture();
    let matches = |d: &&Descriptor| d.platform().as_ref().is_none_or(|p| p.os().to_string() == "linux" && p.architecture().to_string() == arch);
    index.manifests().iter().find(matches)
}

/// The image names an index entry's annotations give.
fn names(annotations: Option<&HashMap<String, String>>) -> Result<Vec<Reference>, ArchiveError> {
    let Some(annotations) = annotations else { return Ok(Vec::new()) };
    if let Some(full) = annotations.get(CONTAINERD_NAME) {
        return Ok(vec![parse_name(full)?]);
    }
    match annotations.get(REF_NAME) {
        // A bare tag (`1.35`) names no repository: the image stays unnamed.
        Some(name) if name.contains([':', '/', '@']) => Ok(vec![parse_name(name)?]),
        _ => Ok(Vec::new()),
    }
}

fn descriptor_digest(descriptor: &Descriptor, name: &str) -> Result<Digest, ArchiveError> {
    parse_digest(descriptor).map_err(|_| ArchiveError::BadDigest { name: name.into(), value: descriptor.digest().to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> Option<&'static HashMap<String, String>> {
        Some(Box::leak(Box::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())))
    }

    #[test]
    fn names_come_from_containerd_or_a_full_ref_name() {
        let full = names(annotations(&[(CONTAINERD_NAME, "docker.io/library/busybox:1.35"), (REF_NAME, "1.35")])).unwrap();
        assert_eq!(full.iter().map(Reference::familiar).collect::<Vec<_>>(), ["busybox:1.35"]);
        let skopeo = names(annotations(&[(REF_NAME, "example.com/bb:v2")])).unwrap();
        assert_eq!(skopeo[0].to_string(), "example.com/bb:v2");
        assert!(names(annotations(&[(REF_NAME, "1.35")])).unwrap().is_empty(), "a bare tag names no repository");
        assert!(names(annotations(&[(CONTAINERD_NAME, "Not A Name")])).is_err());
    }
}
