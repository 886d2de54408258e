//! Unpacking an image archive into a scratch directory, safely.
//!
//! An archive is untrusted input. Only regular files and directories are
//! written, with private modes; names that are absolute or contain `..` are
//! refused. Symbolic and hard links are never created on disk: they are
//! remembered as aliases inside the archive (containers/image's
//! docker-archive writer links `<id>/layer.tar` to `<diff_id>.tar`), and a
//! link that would leave the archive is refused. Anything else (devices,
//! fifos) is an error. The input may be gzip or zstd compressed, as
//! `docker load` allows.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use tar::EntryType;

use super::ArchiveError;
use crate::digest::Digest;
use crate::layer::{self, decompress, SizeLimit};

/// How many links one name may pass through (loops end here).
const MAX_LINK_HOPS: usize = 16;

/// The files of an archive, unpacked under `root`.
#[derive(Debug)]
pub(super) struct Extracted {
    root: PathBuf,
    /// Link name → the normalised name it points at.
    links: BTreeMap<String, String>,
}

/// Unpacks the (possibly compressed) tar stream `reader` under `root`,
/// an existing empty directory.
pub(super) fn extract(reader: impl Read, root: &Path) -> Result<Extracted, ArchiveError> {
    let (_, plain) =
        decompress(BufReader::with_capacity(256 << 10, reader)).map_err(|source| ArchiveError::Decompress { name: "the archive".into(), source })?;
    let too_large = |source| ArchiveError::Unpack { name: "the archive".into(), source };
    let limit = SizeLimit::for_dest(root, None).map_err(too_large)?;
    let mut archive = tar::Archive::new(limit.reader(plain));
    let mut extracted = Extracted { root: root.to_path_buf(), links: BTreeMap::new() };
    let mut last: Option<String> = None;
    for entry in archive.entries().map_err(ArchiveError::Read)? {
        // A header that does not parse: not a tar at all, or a damaged one.
        let mut entry = entry.map_err(|e| match (layer::too_large(e), last.take()) {
            (Ok(source), _) => too_large(source),
            (Err(_), None) => ArchiveError::NotTar,
            (Err(_), Some(after)) => ArchiveError::Damaged { after },
        })?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        limit.check(&raw, entry.raw_file_position(), entry.size()).map_err(too_large)?;
        last = Some(raw.clone());
        let kind = entry.header().entry_type();
        match kind {
            EntryType::XGlobalHeader | EntryType::XHeader => continue,
            EntryType::Directory => {
                let name = normalise(&raw)?;
                if !name.is_empty() {
                    extracted.create_dir(&name)?;
                }
            }
            EntryType::Regular | EntryType::Continuous => {
                let name = normalise(&raw)?;
                extracted.create_file(&name, &raw, &mut entry)?;
            }
            EntryType::Symlink | EntryType::Link => {
                let name = normalise(&raw)?;
                let target = entry.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned()).unwrap_or_default();
                let target = if kind == EntryType::Link { normalise(&target)? } else { symlink_target(&name, &target, &raw)? };
                extracted.links.insert(name, target);
            }
            other => return Err(ArchiveError::UnsupportedEntry { name: raw, kind: format!("{other:?}").to_lowercase() }),
        }
    }
    // Read to the end, so a compressed stream's trailer is checked too.
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(|e| layer::too_large(e).map_or_else(ArchiveError::Read, too_large))?;
    Ok(extracted)
}

impl Extracted {
    fn create_dir(&self, name: &str) -> Result<(), ArchiveError> {
        let path = self.root.join(name);
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&path).map_err(|e| ArchiveError::io("create", &path, e))
    }

    fn create_file(&self, name: &str, raw: &str, content: &mut impl Read) -> Result<(), ArchiveError> {
        if name.is_empty() {
            return Err(ArchiveError::UnsafeEntry { name: raw.into(), reason: "a file needs a name" });
        }
        if let Some((parent, _)) = name.rsplit_once('/') {
            self.create_dir(parent)?;
        }
        let path = self.root.join(name);
        // A later entry of the same name replaces an earlier one, as in tar.
        let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&path).map_err(|e| ArchiveError::io("create", &path, e))?;
        io::copy(content, &mut file).map_err(ArchiveError::Read)?;
        Ok(())
    }

    /// Whether the archive has a file `name` (following links).
    pub(super) fn contains(&self, name: &str) -> bool {
        self.path(name).is_ok_and(|p| p.is_file())
    }

    /// The unpacked path of file `name`, following links within the archive.
    pub(super) fn path(&self, name: &str) -> Result<PathBuf, ArchiveError> {
        let mut current = normalise(name)?;
        for _ in 0..MAX_LINK_HOPS {
            match self.resolve_once(&current) {
                Some(next) => current = next,
                None => {
                    let path = self.root.join(&current);
                    return if path.is_file() { Ok(path) } else { Err(ArchiveError::Missing(name.into())) };
                }
            }
        }
        Err(ArchiveError::UnsafeEntry { name: name.into(), reason: "too many levels of links" })
    }

    /// Replaces the longest linked prefix of `name` by the link's target.
    fn resolve_once(&self, name: &str) -> Option<String> {
        let mut prefix_end = name.len();
        loop {
            let prefix = &name[..prefix_end];
            if let Some(target) = self.links.get(prefix) {
                return Some(join(target, &name[prefix_end..]));
            }
            prefix_end = prefix.rfind('/')?;
        }
    }

    /// Opens file `name` for streaming.
    pub(super) fn open(&self, name: &str) -> Result<File, ArchiveError> {
        let path = self.path(name)?;
        File::open(&path).map_err(|e| ArchiveError::io("open", &path, e))
    }

    /// Reads a small document whole, checking its digest when one is expected.
    pub(super) fn read(&self, name: &str, expected: Option<&Digest>) -> Result<Vec<u8>, ArchiveError> {
        let path = self.path(name)?;
        let bytes = fs_err::read(&path).map_err(|e| ArchiveError::io("read", &path, e))?;
        let actual = Digest::of(&bytes);
        match expected {
            Some(expected) if *expected != actual => Err(ArchiveError::DigestMismatch { name: name.into(), expected: *expected, actual }),
            _ => Ok(bytes),
        }
    }

    /// Reads and parses a JSON document.
    pub(super) fn json<T: serde::de::DeserializeOwned>(&self, name: &str, expected: Option<&Digest>) -> Result<T, ArchiveError> {
        let bytes = self.read(name, expected)?;
        serde_json::from_slice(&bytes).map_err(|source| ArchiveError::Json { name: name.into(), source })
    }
}

fn join(base: &str, rest: &str) -> String {
    match (base.is_empty(), rest.strip_prefix('/')) {
        (true, Some(rest)) => rest.to_owned(),
        _ => format!("{base}{rest}"),
    }
}

/// `./a//b/` → `a/b`; refuses absolute names and `..`.
fn normalise(raw: &str) -> Result<String, ArchiveError> {
    let unsafe_entry = |reason| ArchiveError::UnsafeEntry { name: raw.into(), reason };
    if raw.starts_with('/') {
        return Err(unsafe_entry("its name is absolute"));
    }
    if raw.contains('\0') {
        return Err(unsafe_entry("its name contains a NUL byte"));
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(unsafe_entry("its name contains `..`")),
            part => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

/// A symlink's target as a name inside the archive: relative to the link's
/// directory, `..` allowed as long as it stays inside.
fn symlink_target(link: &str, target: &str, raw: &str) -> Result<String, ArchiveError> {
    if target.starts_with('/') {
        return Err(ArchiveError::UnsafeEntry { name: raw.into(), reason: "it links to an absolute path" });
    }
    let mut parts: Vec<&str> = link.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(ArchiveError::UnsafeEntry { name: raw.into(), reason: "it links outside the archive" });
                }
            }
            part => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_or_refused() {
        assert_eq!(normalise("./blobs//sha256/").unwrap(), "blobs/sha256");
        assert!(normalise("/etc/passwd").is_err());
        assert!(normalise("a/../../b").is_err());
        assert_eq!(symlink_target("abc/layer.tar", "../def.tar", "x").unwrap(), "def.tar");
        assert!(symlink_target("abc/layer.tar", "../../etc", "x").is_err());
        assert!(symlink_target("a", "/etc/passwd", "x").is_err());
    }

    #[test]
    fn links_resolve_within_the_archive() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_ustar();
        header.set_size(2);
        header.set_mode(0o644);
        tar.append_data(&mut header, "d.tar", &b"hi"[..]).unwrap();
        let mut link = tar::Header::new_ustar();
        link.set_entry_type(EntryType::Symlink);
        link.set_size(0);
        tar.append_link(&mut link, "abc/layer.tar", "../d.tar").unwrap();
        let bytes = tar.into_inner().unwrap();
        let extracted = extract(&bytes[..], dir).unwrap();
        assert_eq!(extracted.read("abc/layer.tar", None).unwrap(), b"hi");
        assert!(!dir.join("abc/layer.tar").exists());
    }
}
