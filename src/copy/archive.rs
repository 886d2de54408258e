//! ADD's local archives: a regular file that holds a tar stream (plain,
//! gzip, bzip2, xz or zstd, told by its content, never its name) is
//! extracted into the destination instead of copied.
//!
//! As BuildKit's `solver/llbsolver/file/unpack*.go`: the destination is
//! made as a directory; entry names are cleaned and must stay below it;
//! symlinks already there are followed inside the extraction root (an
//! absolute target from that root, a relative one that climbs out of it is
//! refused); parent directories the archive does not list are made 0755
//! 0:0; what is in an entry's way is removed; owners come from the archive
//! unless `--chown` says otherwise; directory times are set last. Every
//! change goes through [`Root`]/[`Dir`] handles, so nothing lands outside.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use tar::EntryType;

use super::error::CopyError;
use super::owner::Owner;
use super::root::{Escape, Kind, Root};
use super::tree::{mkdir_all, shown, Tally};
use crate::layer::{too_large, SizeLimit};

const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
const BZIP2_MAGIC: &[u8] = b"BZh";

/// The plain (decompressed) stream of `file`, `None` when it is empty.
fn plain(file: File) -> io::Result<Option<Box<dyn Read>>> {
    let mut reader = BufReader::with_capacity(256 << 10, file);
    let magic = reader.fill_buf()?;
    if magic.starts_with(BZIP2_MAGIC) {
        return Ok(Some(Box::new(bzip2::bufread::MultiBzDecoder::new(reader))));
    }
    if magic.starts_with(XZ_MAGIC) {
        return Ok(Some(Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(reader))));
    }
    match crate::layer::decompress(reader) {
        Ok((_, plain)) => Ok(Some(plain)),
        Err(crate::layer::LayerError::Empty) => Ok(None),
        Err(crate::layer::LayerError::Read(e)) => Err(e),
        Err(other) => Err(io::Error::other(other.to_string())),
    }
}

/// Whether the regular file `rel` of `root` is a tar archive: its (maybe
/// decompressed) first block is a tar header with a valid checksum, as Go's
/// `tar.Reader.Next` would accept.
pub(super) fn is_archive(root: &Root, rel: &Path) -> Result<bool, CopyError> {
    let file = root.open_file(rel).map_err(|e| CopyError::io("open", &shown(rel), e))?;
    let Ok(Some(mut stream)) = plain(file) else { return Ok(false) };
    let mut block = [0u8; 512];
    // A short or undecodable stream is no archive: it is copied as it is.
    if stream.read_exact(&mut block).is_err() || block.iter().all(|&b| b == 0) {
        return Ok(false);
    }
    Ok(checksum_ok(&block))
}

/// The header checksum (unsigned or signed sum, the field as spaces)
/// matches the stored one.
fn checksum_ok(block: &[u8; 512]) -> bool {
    let field = &block[148..156];
    let text: String = field.iter().map(|&b| b as char).collect();
    let Ok(stored) = i64::from_str_radix(text.trim_matches(|c| c == ' ' || c == '\0'), 8) else { return false };
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += i64::from(b);
        signed += i64::from(b as i8);
    }
    stored == unsigned || stored == signed
}

/// Extracts the archive `rel` of `src` into the directory `dest_rel` of
/// `dest` (made as needed, with `chown`'s owner).
#[allow(clippy::too_many_arguments)]
pub(super) fn extract(
    src: &Root,
    rel: &Path,
    dest: &Root,
    dest_rel: &Path,
    chown: Option<Owner>,
    cap: Option<u64>,
    tally: &mut Tally,
) -> Result<(), CopyError> {
    let archive_name = shown(rel).display().to_string();
    let failed = |reason: String| CopyError::Archive { archive: archive_name.clone(), reason };
    mkdir_all(dest, dest_rel, chown)?;
    let root = dest.sub_root(dest_rel).map_err(|e| CopyError::io("open", &shown(dest_rel), e))?;
    let limit = SizeLimit::for_fd(&root, cap).map_err(|e| failed(e.to_string()))?;
    let file = src.open_file(rel).map_err(|e| CopyError::io("open", &shown(rel), e))?;
    let stream = plain(file).map_err(|e| failed(e.to_string()))?.ok_or_else(|| failed("it is empty".into()))?;
    let mut extractor = Extractor { root, chown, dirs: Vec::new(), archive: archive_name.clone(), tally };
    let mut archive = tar::Archive::new(limit.reader(stream));
    // A read past the limit surfaces as an I/O error of the tar reader.
    let reason = |e: io::Error| too_large(e).map_or_else(|e| e.to_string(), |e| e.to_string());
    let entries = archive.entries().map_err(|e| failed(reason(e)))?;
    for entry in entries {
        let entry = entry.map_err(|e| failed(reason(e)))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        limit.check(&name, entry.raw_file_position(), entry.size()).map_err(|e| failed(e.to_string()))?;
        extractor.entry(entry)?;
    }
    // Directory times last, deepest first: writing children changes them.
    for (dir, mtime) in extractor.dirs.iter().rev() {
        let (parent, name) = (dir.parent().unwrap_or(Path::new("")), dir.file_name().unwrap_or_default());
        let handle = extractor.root.dir(parent).map_err(|e| CopyError::io("open", &shown(parent), e))?;
        handle.set_times(name, *mtime, *mtime).map_err(|e| CopyError::io("set the times of", &shown(dir), e))?;
    }
    tally.sources.insert(super::tree::rel_string(rel));
    Ok(())
}

struct Extractor<'a> {
    root: Root,
    chown: Option<Owner>,
    dirs: Vec<(PathBuf, (i64, i64))>,
    archive: String,
    tally: &'a mut Tally,
}

impl Extractor<'_> {
    fn refuse(&self, entry: &str, reason: impl Into<String>) -> CopyError {
        CopyError::ArchiveEntry { archive: self.archive.clone(), entry: entry.to_owned(), reason: reason.into() }
    }

    /// An entry whose path could not be resolved in the extraction root.
    fn unplaceable(&self, entry: &str, error: &io::Error) -> CopyError {
        if error.kind() == io::ErrorKind::PermissionDenied {
            self.refuse(entry, "passes through a symlink that points outside the extraction root")
        } else {
            self.refuse(entry, format!("cannot be placed: {error}"))
        }
    }

    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<(), CopyError> {
        let header = entry.header().clone();
        let kind = header.entry_type();
        if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader) {
            return Ok(());
        }
        let raw = entry.path_bytes().into_owned();
        let display = String::from_utf8_lossy(&raw).into_owned();
        let Some(name) = clean(&raw).map_err(|()| self.refuse(&display, "is outside the extraction root"))? else { return Ok(()) };
        let uid = header.uid().map_err(|e| self.refuse(&display, e.to_string()))? as u32;
        let gid = header.gid().map_err(|e| self.refuse(&display, e.to_string()))? as u32;
        let owner = self.chown.unwrap_or(Owner { uid, gid });
        let mode = header.mode().map_err(|e| self.refuse(&display, e.to_string()))? & 0o7777;
        let mtime = header.mtime().ok().and_then(|t| i64::try_from(t).ok()).unwrap_or(0);
        let times = (mtime, 0);
        let is_dir = kind == EntryType::Directory;
        let at = self.root.resolve(&name, is_dir, Escape::Refuse).map_err(|e| self.unplaceable(&display, &e))?;
        let (parent, leaf) = (at.parent().unwrap_or(Path::new("")).to_path_buf(), at.file_name().unwrap_or_default().to_os_string());
        if leaf.is_empty() {
            return Ok(()); // The extraction root itself.
        }
        self.parents(&parent, &display)?;
        let dir = self.root.dir(&parent).map_err(|e| CopyError::io("open", &shown(&parent), e))?;
        let err = |action: &'static str| {
            let path = shown(&at);
            move |e: io::Error| CopyError::io(action, &path, e)
        };
        if let Some(existing) = dir.lstat(&leaf).map_err(err("stat"))? {
            if !existing.is_dir() || !is_dir {
                dir.remove_all(&leaf).map_err(err("replace"))?;
            }
        }
        match kind {
            EntryType::Directory => {
                match dir.mkdir(&leaf, 0o700) {
                    Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(err("create the directory")(e)),
                    _ => {}
                }
                dir.set_owner(&leaf, owner.uid, owner.gid).map_err(err("chown"))?;
                dir.set_mode(&leaf, mode).map_err(err("chmod"))?;
                self.dirs.push((at.clone(), times));
            }
            EntryType::Regular | EntryType::Continuous => {
                let mut file = dir.create_file(&leaf, 0o600).map_err(err("create"))?;
                let written = io::copy(&mut entry, &mut file).map_err(err("write"))?;
                super::root::set_fd_meta(&file, owner.uid, owner.gid, mode, times, times).map_err(err("set the metadata of"))?;
                self.tally.files += 1;
                self.tally.bytes += written;
            }
            EntryType::Symlink => {
                let target = entry.link_name_bytes().map(|l| l.into_owned()).unwrap_or_default();
                dir.symlink(OsStr::from_bytes(&target), &leaf).map_err(err("create the symlink"))?;
                dir.set_owner(&leaf, owner.uid, owner.gid).map_err(err("chown"))?;
                dir.set_times(&leaf, times, times).map_err(err("set the times of"))?;
                self.tally.files += 1;
            }
            EntryType::Link => {
                let target = entry.link_name_bytes().map(|l| l.into_owned()).unwrap_or_default();
                let target = match clean(&target) {
                    Ok(Some(target)) => target,
                    Ok(None) => return Err(self.refuse(&display, "is a hard link to the extraction root")),
                    Err(()) => return Err(self.refuse(&display, "is a hard link to outside the extraction root")),
                };
                let target = self.root.resolve(&target, false, Escape::Refuse).map_err(|e| self.unplaceable(&display, &e))?;
                let (target_parent, target_name) = (target.parent().unwrap_or(Path::new("")), target.file_name().unwrap_or_default());
                let from = self.root.dir(target_parent).map_err(|e| CopyError::io("open", &shown(target_parent), e))?;
                dir.hard_link(&from, target_name, &leaf).map_err(err("create the hard link"))?;
                dir.set_owner(&leaf, owner.uid, owner.gid).map_err(err("chown"))?;
                if dir.lstat(&leaf).map_err(err("stat"))?.is_some_and(|m| m.kind != Kind::Symlink) {
                    dir.set_mode(&leaf, mode).map_err(err("chmod"))?;
                    dir.set_times(&leaf, times, times).map_err(err("set the times of"))?;
                }
                self.tally.files += 1;
            }
            EntryType::Fifo | EntryType::Char | EntryType::Block => {
                let node = match kind {
                    EntryType::Fifo => Kind::Fifo,
                    EntryType::Char => Kind::Char,
                    _ => Kind::Block,
                };
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                dir.mknod(&leaf, node, 0o600, rustix::fs::makedev(major, minor)).map_err(err("create the node"))?;
                dir.set_owner(&leaf, owner.uid, owner.gid).map_err(err("chown"))?;
                dir.set_mode(&leaf, mode).map_err(err("chmod"))?;
                dir.set_times(&leaf, times, times).map_err(err("set the times of"))?;
                self.tally.files += 1;
            }
            other => return Err(self.refuse(&display, format!("has an unsupported type ({:?})", other.as_byte() as char))),
        }
        Ok(())
    }

    /// Makes the missing directories of `parent` (resolved): 0755, 0:0.
    fn parents(&self, parent: &Path, display: &str) -> Result<(), CopyError> {
        let mut current = PathBuf::new();
        for part in parent.iter() {
            let above = current.clone();
            current.push(part);
            match self.root.try_lstat(&current).map_err(|e| CopyError::io("stat", &shown(&current), e))? {
                Some(meta) if meta.is_dir() => continue,
                Some(_) => return Err(self.refuse(display, format!("needs {} to be a directory", shown(&current).display()))),
                None => {}
            }
            let dir = self.root.dir(&above).map_err(|e| CopyError::io("open", &shown(&above), e))?;
            dir.mkdir(part, 0o755).map_err(|e| CopyError::io("create the directory", &shown(&current), e))?;
            dir.set_owner(part, 0, 0).map_err(|e| CopyError::io("chown", &shown(&current), e))?;
            dir.set_mode(part, 0o755).map_err(|e| CopyError::io("chmod", &shown(&current), e))?;
        }
        Ok(())
    }
}

/// An entry name made relative and clean; `None` for the root itself,
/// `Err` when it climbs out (BuildKit's `cleanRootTarPath`).
fn clean(raw: &[u8]) -> Result<Option<PathBuf>, ()> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() {
                    return Err(());
                }
            }
            name => parts.push(name),
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    Ok(Some(parts.iter().map(|p| OsStr::from_bytes(p)).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean(b"/a/./b//c/"), Ok(Some(PathBuf::from("a/b/c"))));
        assert_eq!(clean(b"a/../b"), Ok(Some(PathBuf::from("b"))));
        assert_eq!(clean(b"./"), Ok(None));
        assert_eq!(clean(b"../x"), Err(()));
        assert_eq!(clean(b"a/../../x"), Err(()));
    }

    #[test]
    fn header_checksum() {
        let mut header = tar::Header::new_gnu();
        header.set_path("x").expect("short path");
        header.set_size(0);
        header.set_cksum();
        let mut block = [0u8; 512];
        block.copy_from_slice(header.as_bytes());
        assert!(checksum_ok(&block));
        block[0] ^= 1;
        assert!(!checksum_ok(&block));
    }
}
