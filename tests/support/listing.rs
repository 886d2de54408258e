//! Text listings of binary things, for golden files: a directory tree (in
//! the syntax of [`super::spec`], with every attribute spelled out) and the
//! entries of a tar stream (as the tar headers and PAX records say them).
//!
//! Bytes that are not printable ASCII are written `\xHH`, so a listing is
//! one line per entry whatever the names hold.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use sha2::{Digest as _, Sha256};

/// Escapes a name: printable ASCII stays, everything else (space included) is `\xHH`.
pub fn name(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        match b {
            b'\\' | b'"' => write!(out, "\\x{b:02x}").unwrap(),
            0x21..=0x7e => out.push(b as char),
            _ => write!(out, "\\x{b:02x}").unwrap(),
        }
    }
    out
}

/// Short content as `"…"` (spaces kept), longer or binary content as its size and hash.
pub fn content(bytes: &[u8]) -> String {
    if bytes.len() <= 48 && bytes.iter().all(|&b| (0x20..0x7f).contains(&b) || b == b'\n' || b == b'\t') {
        let mut out = String::from("\"");
        for &b in bytes {
            match b {
                b'\n' => out.push_str("\\n"),
                b'\t' => out.push_str("\\t"),
                b'"' | b'\\' => write!(out, "\\x{b:02x}").unwrap(),
                _ => out.push(b as char),
            }
        }
        out.push('"');
        return out;
    }
    format!("len={} sha256={}", bytes.len(), &hex::encode(Sha256::digest(bytes))[..16])
}

/// An xattr or PAX value: escaped text when printable, else `0x` and hex.
pub fn value(bytes: &[u8]) -> String {
    if bytes.iter().all(|&b| (0x20..0x7f).contains(&b)) && !bytes.starts_with(b"0x") {
        name(bytes)
    } else {
        format!("0x{}", hex::encode(bytes))
    }
}

/// Lists the tree under `root` (not `root` itself), sorted bytewise, parents
/// first: one spec line per path, its xattrs on `xattr` lines after it, and
/// a second name of a file as `hardlink NAME => FIRST`.
pub fn tree(root: &Path) -> std::io::Result<String> {
    let mut out = String::new();
    let mut inodes = HashMap::new();
    tree_into(root, &[], &mut inodes, &mut out)?;
    Ok(out)
}

fn tree_into(dir: &Path, prefix: &[u8], inodes: &mut HashMap<(u64, u64), Vec<u8>>, out: &mut String) -> std::io::Result<()> {
    let mut children: Vec<Vec<u8>> = fs_err::read_dir(dir)?.map(|e| e.map(|e| e.file_name().as_bytes().to_vec())).collect::<Result<_, _>>()?;
    children.sort();
    for child in children {
        let path = dir.join(std::ffi::OsStr::from_bytes(&child));
        let rel = if prefix.is_empty() { child.clone() } else { [prefix, b"/", &child].concat() };
        let meta = fs_err::symlink_metadata(&path)?;
        let kind = meta.file_type();
        let shown = name(&rel);
        if !kind.is_dir() && meta.nlink() > 1 {
            if let Some(first) = inodes.get(&(meta.dev(), meta.ino())) {
                writeln!(out, "hardlink {shown} => {}", name(first)).unwrap();
                continue;
            }
            inodes.insert((meta.dev(), meta.ino()), rel.clone());
        }
        let mode = format!("{:04o}", meta.mode() & 0o7777);
        let owner = format!("{}:{}", meta.uid(), meta.gid());
        let device = || format!("{}:{}", nix::sys::stat::major(meta.rdev()), nix::sys::stat::minor(meta.rdev()));
        let line = if kind.is_dir() {
            format!("dir {shown} {mode} {owner}")
        } else if kind.is_file() {
            format!("file {shown} {mode} {owner} {}", content(&fs_err::read(&path)?))
        } else if kind.is_symlink() {
            format!("symlink {shown} -> {} {owner}", name(fs_err::read_link(&path)?.as_os_str().as_bytes()))
        } else if kind.is_fifo() {
            format!("fifo {shown} {mode} {owner}")
        } else if kind.is_char_device() {
            format!("chardev {shown} {} {mode} {owner}", device())
        } else if kind.is_block_device() {
            format!("blockdev {shown} {} {mode} {owner}", device())
        } else {
            format!("socket {shown} {mode} {owner}")
        };
        writeln!(out, "{line} mtime={}", meta.mtime()).unwrap();
        let mut attributes: Vec<_> = xattr::list(&path)?.map(|n| n.as_bytes().to_vec()).collect();
        attributes.sort();
        for attribute in attributes {
            let data = xattr::get(&path, std::ffi::OsStr::from_bytes(&attribute))?.unwrap_or_default();
            writeln!(out, "xattr {shown} {}={}", name(&attribute), value(&data)).unwrap();
        }
        if kind.is_dir() {
            tree_into(&path, &rel, inodes, out)?;
        }
    }
    Ok(())
}

/// Lists the entries of a plain tar stream in archive order: type, path,
/// mode, owner, link target or device, mtime, content; then the entry's
/// PAX records indented below it. User and group names show when set.
pub fn layer(tar: &[u8]) -> std::io::Result<String> {
    let mut out = String::new();
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let header = entry.header().clone();
        let path = name(&entry.path_bytes());
        let link = entry.link_name_bytes().map(|l| name(&l));
        let mode = format!("{:04o}", header.mode()?);
        let owner = format!("{}:{}", header.uid()?, header.gid()?);
        let device = || format!("{}:{}", header.device_major().ok().flatten().unwrap_or(0), header.device_minor().ok().flatten().unwrap_or(0));
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        let kind = header.entry_type();
        let mut line = match kind {
            tar::EntryType::Regular => format!("file {path} {mode} {owner} {}", content(&data)),
            tar::EntryType::Directory => format!("dir {path} {mode} {owner}"),
            tar::EntryType::Symlink => format!("symlink {path} -> {} {mode} {owner}", link.unwrap_or_default()),
            tar::EntryType::Link => format!("hardlink {path} => {} {mode} {owner}", link.unwrap_or_default()),
            tar::EntryType::Char => format!("chardev {path} {} {mode} {owner}", device()),
            tar::EntryType::Block => format!("blockdev {path} {} {mode} {owner}", device()),
            tar::EntryType::Fifo => format!("fifo {path} {mode} {owner}"),
            other => format!("type={:?} {path} {mode} {owner} {}", other.as_byte() as char, content(&data)),
        };
        if !matches!(kind, tar::EntryType::Regular) && !data.is_empty() {
            write!(line, " data={}", content(&data)).unwrap();
        }
        write!(line, " mtime={}", header.mtime()?).unwrap();
        for (label, field) in [("uname", header.username_bytes()), ("gname", header.groupname_bytes())] {
            if let Some(field) = field.filter(|f| !f.is_empty()) {
                write!(line, " {label}={}", name(field)).unwrap();
            }
        }
        writeln!(out, "{line}").unwrap();
        if let Some(records) = entry.pax_extensions()? {
            for record in records {
                let record = record?;
                writeln!(out, "    pax {}={}", name(record.key_bytes()), value(record.value_bytes())).unwrap();
            }
        }
    }
    Ok(out)
}
