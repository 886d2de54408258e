//! `type=local,dest=DIR` / `src=DIR`: the cache as an OCI image layout on a
//! shared disk. Blobs are copied in when missing; `index.json` is renamed
//! into place last, so a reader sees the old cache or the new one.

use std::fmt;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::{bad_cache, read_blob, CacheBackend, CacheLocation, CachePlace, CacheSpecError, Direction, Fields, Kind};
use crate::cache::ARTIFACT_TYPE;
use crate::digest::Digest;
use crate::registry::client::ClientOptions;
use crate::registry::pull::{BlobReader, LayerSource};
use crate::registry::push::Outgoing;
use crate::registry::{media, RegistryError, TransferProgress};
use crate::store::Store;

/// `type=local`.
pub(super) const KIND: Kind = Kind { name: "local", parse };

/// The name a layout directory's index gives the cache manifest.
const LAYOUT_REF: &str = "strata-cache";

fn parse(fields: &Fields<'_>, direction: Direction) -> Result<CacheLocation, CacheSpecError> {
    let dir = match direction {
        Direction::Export => fields.require("local", "dest", "dest=DIR")?,
        Direction::Import => fields.require("local", "src", "src=DIR")?,
    };
    Ok(CacheLocation::local(PathBuf::from(dir)))
}

impl CacheLocation {
    /// A cache in an OCI layout directory.
    pub fn local(dir: PathBuf) -> CacheLocation {
        CacheLocation(std::sync::Arc::new(LocalCache(dir)))
    }
}

/// The layout directory; opening it needs no connection.
#[derive(Debug, Clone)]
struct LocalCache(PathBuf);

impl fmt::Display for LocalCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.display())
    }
}

impl CacheBackend for LocalCache {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn open(&self, _push: bool, _options: &ClientOptions) -> Box<dyn CachePlace> {
        Box::new(self.clone())
    }
}

impl LocalCache {
    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.0.join("blobs/sha256").join(digest.hex())
    }
}

impl CachePlace for LocalCache {
    fn manifest(&self) -> Result<Option<Vec<u8>>, RegistryError> {
        let dir = &self.0;
        let index = match fs_err::read(dir.join("index.json")) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(RegistryError::Io { action: "read", path: dir.join("index.json"), source: e }),
        };
        let index: Value = serde_json::from_slice(&index).map_err(|e| bad_cache(dir.display().to_string(), e.to_string()))?;
        let entry = index["manifests"].as_array().and_then(|m| m.iter().find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == LAYOUT_REF));
        let Some(digest) = entry.and_then(|e| e["digest"].as_str()).and_then(|d| d.parse::<Digest>().ok()) else { return Ok(None) };
        read_blob(self, &digest).map(Some)
    }

    fn blob(&self, digest: &Digest) -> Result<Vec<u8>, RegistryError> {
        let path = self.blob_path(digest);
        fs_err::read(&path).map_err(|e| RegistryError::Io { action: "read", path, source: e })
    }

    fn has_blob(&self, digest: &Digest) -> Result<bool, RegistryError> {
        Ok(self.blob_path(digest).is_file())
    }

    fn layers(&self) -> LayerSource<'_> {
        LayerSource::Reader(self)
    }

    fn write(&self, store: &Store, blobs: &mut [Outgoing], index: &Digest, manifest: &[u8], _: &dyn TransferProgress) -> Result<usize, RegistryError> {
        let mut uploaded = 0;
        for blob in blobs.iter() {
            if copy_blob(store, &self.0, &blob.digest)? && blob.digest != *index {
                uploaded += 1;
            }
        }
        write_layout_index(&self.0, manifest)?;
        Ok(uploaded)
    }
}

impl BlobReader for LocalCache {
    fn open_blob(&self, digest: &Digest) -> Result<Box<dyn Read + '_>, RegistryError> {
        let path = self.blob_path(digest);
        let file = std::fs::File::open(&path).map_err(|e| RegistryError::Io { action: "read", path: path.clone(), source: e })?;
        Ok(Box::new(BufReader::with_capacity(1 << 20, file)))
    }

    fn describe(&self, digest: &Digest) -> String {
        self.blob_path(digest).display().to_string()
    }
}

/// Copies a store blob into the layout unless it is there; true when copied.
fn copy_blob(store: &Store, dir: &Path, digest: &Digest) -> Result<bool, RegistryError> {
    let blobs = dir.join("blobs/sha256");
    let target = blobs.join(digest.hex());
    if target.is_file() {
        return Ok(false);
    }
    fs_err::create_dir_all(&blobs).map_err(|e| RegistryError::Io { action: "create", path: blobs.clone(), source: e })?;
    let partial = blobs.join(format!(".{}.partial-{}", digest.hex(), std::process::id()));
    let copied = fs_err::copy(store.blobs.path(digest), &partial)
        .and_then(|_| std::fs::File::open(&partial)?.sync_all())
        .and_then(|()| fs_err::rename(&partial, &target));
    if let Err(e) = copied {
        let _ = fs_err::remove_file(&partial);
        return Err(RegistryError::Io { action: "write", path: target, source: e });
    }
    Ok(true)
}

/// Writes the manifest blob, `oci-layout` and `index.json` (renamed into
/// place last, so a reader sees the old cache or the new one).
fn write_layout_index(dir: &Path, manifest: &[u8]) -> Result<(), RegistryError> {
    let digest = Digest::of(manifest);
    write_atomic(&dir.join("blobs/sha256").join(digest.hex()), manifest)?;
    write_atomic(&dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": [{
            "mediaType": media::OCI_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "digest": digest.to_string(),
            "size": manifest.len(),
            "annotations": { "org.opencontainers.image.ref.name": LAYOUT_REF },
        }],
    });
    write_atomic(&dir.join("index.json"), &crate::image::canonical_json(&index))
}

/// Writes beside `path`, syncs, and renames into place.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let partial = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let written = std::fs::File::create(&partial)
        .and_then(|mut file| std::io::Write::write_all(&mut file, bytes).and_then(|()| file.sync_all()))
        .and_then(|()| fs_err::rename(&partial, path));
    if let Err(e) = written {
        let _ = fs_err::remove_file(&partial);
        return Err(RegistryError::Io { action: "write", path: path.to_path_buf(), source: e });
    }
    Ok(())
}
